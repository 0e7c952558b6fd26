package bus

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/amsproject/ams/pkg/natstest"
)

const (
	testStream  = "TEST"
	testSubject = "ams.test.created.acme"
	waitFor     = 15 * time.Second
	pollEvery   = 20 * time.Millisecond
)

// harness is one embedded JetStream server, a connection to it, and a
// tracer provider whose spans are recorded.
type harness struct {
	js  jetstream.JetStream
	tp  *sdktrace.TracerProvider
	rec *tracetest.SpanRecorder
}

func newHarness(tb testing.TB) *harness {
	tb.Helper()
	srv := natstest.RunServer(tb)
	_, js := natstest.Connect(tb, srv)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	tb.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return &harness{js: js, tp: tp, rec: rec}
}

func (h *harness) stream(tb testing.TB, name string, subjects ...string) jetstream.Stream {
	tb.Helper()
	s, err := EnsureStream(context.Background(), h.js, jetstream.StreamConfig{
		Name: name, Subjects: subjects, Duplicates: time.Minute,
	})
	require.NoError(tb, err)
	return s
}

func (h *harness) publisher() *Publisher { return NewPublisher(h.js, "bus-test", h.tp) }

func (h *harness) consumer(tb testing.TB, spec ConsumerSpec, fn Handler) *Consumer {
	tb.Helper()
	c, err := NewConsumer(h.js, spec, fn, slog.New(slog.DiscardHandler), NewMetrics(prometheus.NewRegistry()), h.tp)
	require.NoError(tb, err)
	return c
}

// spec is a consumer on testStream with generous timing; cases override fields.
func spec(durable string) ConsumerSpec {
	return ConsumerSpec{
		Stream:     testStream,
		Durable:    durable,
		AckWait:    10 * time.Second,
		MaxDeliver: 5,
		Workers:    2,
	}
}

// running is a Run in progress.
type running struct {
	cancel context.CancelFunc
	done   chan error
}

// start runs r (a Consumer or Group) until the test ends or stop is called.
func start(tb testing.TB, r interface{ Run(context.Context) error }) *running {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	run := &running{cancel: cancel, done: make(chan error, 1)}
	go func() { run.done <- r.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		select {
		case err := <-run.done:
			if err != nil {
				tb.Errorf("Run returned %v after cancel, want nil", err)
			}
		case <-time.After(waitFor):
			tb.Errorf("Run did not return after cancel")
		}
	})
	return run
}

// stop cancels the run and returns what Run returned.
func (r *running) stop(tb testing.TB) error {
	tb.Helper()
	r.cancel()
	select {
	case err := <-r.done:
		r.done <- err // for the cleanup
		return err
	case <-time.After(waitFor):
		tb.Fatal("Run did not return after cancel")
		return nil
	}
}

// consumerInfo returns the durable's info, or nil while it does not exist.
func (h *harness) consumerInfo(tb testing.TB, stream, durable string) *jetstream.ConsumerInfo {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := h.js.Consumer(ctx, stream, durable)
	if err != nil {
		return nil
	}
	ci, err := c.Info(ctx)
	if err != nil {
		return nil
	}
	return ci
}

// waitSettled waits until the durable has had n messages delivered and all
// of them acknowledged (acked or terminated), and returns its info.
func (h *harness) waitSettled(tb testing.TB, stream, durable string, n uint64) *jetstream.ConsumerInfo {
	tb.Helper()
	var ci *jetstream.ConsumerInfo
	require.Eventually(tb, func() bool {
		ci = h.consumerInfo(tb, stream, durable)
		return ci != nil && ci.AckFloor.Stream == n && ci.NumAckPending == 0 && ci.NumPending == 0
	}, waitFor, pollEvery, "consumer %s never settled at %d", durable, n)
	return ci
}

// deadLetter waits for the dead-letter copy from durable.
func (h *harness) deadLetter(tb testing.TB, durable string) *jetstream.RawStreamMsg {
	tb.Helper()
	s, err := h.js.Stream(context.Background(), DeadLetterStream)
	require.NoError(tb, err)
	var m *jetstream.RawStreamMsg
	require.Eventually(tb, func() bool {
		m, err = s.GetLastMsgForSubject(context.Background(), "ams.deadletter."+durable)
		return err == nil
	}, waitFor, pollEvery, "nothing dead-lettered from %s", durable)
	return m
}

// calls records handler invocations safely across workers.
type calls struct {
	mu        sync.Mutex
	delivered []uint64
	ctxs      []context.Context
}

func (c *calls) record(ctx context.Context, msg jetstream.Msg) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var n uint64
	if md, err := msg.Metadata(); err == nil {
		n = md.NumDelivered
	}
	c.delivered = append(c.delivered, n)
	c.ctxs = append(c.ctxs, ctx)
	return len(c.delivered)
}

func (c *calls) deliveries() []uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]uint64(nil), c.delivered...)
}

func (c *calls) context(i int) context.Context {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ctxs[i]
}
