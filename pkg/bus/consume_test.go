package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"
	"google.golang.org/protobuf/types/known/wrapperspb"

	"github.com/amsproject/ams/pkg/config"
)

func TestConsumerAcksOnSuccess(t *testing.T) {
	h := newHarness(t)
	h.stream(t, testStream, "ams.test.>")
	var got calls
	c := h.consumer(t, spec("test-ack"), func(ctx context.Context, msg jetstream.Msg) error {
		var v wrapperspb.StringValue
		if err := Decode(msg, &v); err != nil {
			return err
		}
		if v.GetValue() != "payload" {
			return Permanent(fmt.Errorf("unexpected %q", v.GetValue()))
		}
		got.record(ctx, msg)
		return nil
	})
	require.Error(t, c.Ready(), "not ready before Run")
	start(t, c)

	_, err := h.publisher().Publish(context.Background(), testSubject, "evt-1", wrapperspb.String("payload"))
	require.NoError(t, err)

	ci := h.waitSettled(t, testStream, "test-ack", 1)
	require.Equal(t, 0, ci.NumRedelivered)
	require.Equal(t, uint64(1), ci.Delivered.Stream)
	require.Equal(t, []uint64{1}, got.deliveries())
	require.NoError(t, c.Ready())

	// The server-side consumer is the one the spec declares.
	require.Equal(t, jetstream.AckExplicitPolicy, ci.Config.AckPolicy)
	require.Equal(t, 10*time.Second, ci.Config.AckWait)
	require.Equal(t, 5+1, ci.Config.MaxDeliver, "the server allows one delivery beyond ours, so a failed dead-letter copy is retried")
	require.Equal(t, 8, ci.Config.MaxAckPending)
	require.Empty(t, ci.Config.BackOff)
}

func TestConsumerRetriesThenAcks(t *testing.T) {
	h := newHarness(t)
	h.stream(t, testStream, "ams.test.>")
	var got calls
	c := h.consumer(t, spec("test-retry"), func(ctx context.Context, msg jetstream.Msg) error {
		if got.record(ctx, msg) == 1 {
			return errors.New("database briefly unavailable")
		}
		return nil
	})
	start(t, c)

	_, err := h.publisher().Publish(context.Background(), testSubject, "evt-1", wrapperspb.String("x"))
	require.NoError(t, err)

	ci := h.waitSettled(t, testStream, "test-retry", 1)
	require.Equal(t, []uint64{1, 2}, got.deliveries(), "redelivered once, then acked")
	require.Equal(t, uint64(2), ci.Delivered.Consumer)
}

func TestConsumerDeadLetters(t *testing.T) {
	tests := []struct {
		name       string
		maxDeliver int
		handler    func(delivery int) error
		wantReason string
		deliveries []uint64
	}{
		{
			name:       "permanent error on first delivery",
			maxDeliver: 5,
			handler:    func(int) error { return fmt.Errorf("wrapped: %w", Permanent(errors.New("tenant zzz is unknown"))) },
			wantReason: "wrapped: tenant zzz is unknown",
			deliveries: []uint64{1},
		},
		{
			name:       "transient error until max deliver",
			maxDeliver: 2,
			handler:    func(n int) error { return fmt.Errorf("attempt %d: downstream timeout", n) },
			wantReason: "attempt 2: downstream timeout",
			deliveries: []uint64{1, 2},
		},
		{
			name:       "permanent after a transient error",
			maxDeliver: 5,
			handler: func(n int) error {
				if n == 1 {
					return errors.New("flaky")
				}
				return Permanent(errors.New("now poison"))
			},
			wantReason: "now poison",
			deliveries: []uint64{1, 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			h := newHarness(t)
			h.stream(t, testStream, "ams.test.>")
			ctx := context.Background()
			require.NoError(t, EnsureDeadLetter(ctx, h.js, 1))

			const durable = "test-poison"
			sp := spec(durable)
			sp.MaxDeliver = tt.maxDeliver
			sp.AckWait = 2 * time.Second
			sp.FilterSubjects = []string{"ams.test.created.>"}
			var got calls
			c := h.consumer(t, sp, func(ctx context.Context, msg jetstream.Msg) error {
				return tt.handler(got.record(ctx, msg))
			})
			start(t, c)

			// A message the consumer does not see comes first, so the poison
			// message's stream sequence (2) differs from its consumer sequence.
			_, err := h.js.Publish(ctx, "ams.test.other.acme", []byte("not for this consumer"))
			require.NoError(t, err)
			ack, err := h.publisher().Publish(ctx, testSubject, "evt-poison", wrapperspb.String("poison"))
			require.NoError(t, err)
			require.Equal(t, uint64(2), ack.Sequence)

			dl := h.deadLetter(t, durable)
			require.Equal(t, "ams.deadletter."+durable, dl.Subject)
			want := map[string]string{
				"ams-deadletter-reason":     tt.wantReason,
				"ams-deadletter-stream":     testStream,
				"ams-deadletter-consumer":   durable,
				"ams-deadletter-subject":    testSubject,
				"ams-deadletter-sequence":   "2",
				"ams-deadletter-deliveries": fmt.Sprint(len(tt.deliveries)),
				// The original headers travel with the copy.
				"ce-id":   "evt-poison",
				"ce-type": "google.protobuf.StringValue",
				// Its own id, so a second dead-lettering of the same message is a duplicate.
				jetstream.MsgIDHeader: "dl:TEST:test-poison:2",
			}
			for k, v := range want {
				require.Equal(t, []string{v}, dl.Header[k], "header %s", k)
			}
			var body wrapperspb.StringValue
			require.NoError(t, proto.Unmarshal(dl.Data, &body))
			require.Equal(t, "poison", body.GetValue())

			// Terminated: the server counts it as done, nothing is pending or
			// waiting for redelivery, and the handler saw only the expected deliveries.
			ci := h.waitSettled(t, testStream, durable, 2)
			require.Equal(t, tt.deliveries, got.deliveries())
			require.Equal(t, uint64(len(tt.deliveries)), ci.Delivered.Consumer)

			dls, err := h.js.Stream(ctx, DeadLetterStream)
			require.NoError(t, err)
			info, err := dls.Info(ctx)
			require.NoError(t, err)
			require.Equal(t, uint64(1), info.State.Msgs)
		})
	}
}

func TestConsumerDeadLetterWithoutStreamIsRetried(t *testing.T) {
	// With no DEADLETTER stream the copy cannot be stored, so the message
	// must not be terminated: it is nak'ed and comes back.
	h := newHarness(t)
	h.stream(t, testStream, "ams.test.>")
	var got calls
	sp := spec("test-nodl")
	c := h.consumer(t, sp, func(ctx context.Context, msg jetstream.Msg) error {
		if got.record(ctx, msg) == 1 {
			return Permanent(errors.New("poison"))
		}
		return nil
	})
	start(t, c)

	_, err := h.publisher().Publish(context.Background(), testSubject, "evt-1", wrapperspb.String("x"))
	require.NoError(t, err)
	h.waitSettled(t, testStream, "test-nodl", 1)
	require.Equal(t, []uint64{1, 2}, got.deliveries())
}

func TestConsumerPropagatesTrace(t *testing.T) {
	h := newHarness(t)
	h.stream(t, testStream, "ams.test.>")
	var got calls
	c := h.consumer(t, spec("test-trace"), func(ctx context.Context, msg jetstream.Msg) error {
		got.record(ctx, msg)
		return nil
	})
	start(t, c)

	ctx, parent := h.tp.Tracer("test").Start(context.Background(), "ingest request")
	_, err := h.publisher().Publish(ctx, testSubject, "evt-1", wrapperspb.String("x"))
	parent.End()
	require.NoError(t, err)
	h.waitSettled(t, testStream, "test-trace", 1)

	sc := trace.SpanContextFromContext(got.context(0))
	require.True(t, sc.IsValid())
	require.Equal(t, parent.SpanContext().TraceID(), sc.TraceID(), "handler runs in the publisher's trace")
	require.NotEqual(t, parent.SpanContext().SpanID(), sc.SpanID(), "handler has its own span")

	var publishID trace.SpanID
	for _, sp := range h.rec.Ended() {
		if sp.Name() == "publish "+testSubject {
			publishID = sp.SpanContext().SpanID()
		}
	}
	require.True(t, publishID.IsValid())
	require.Eventually(t, func() bool {
		for _, sp := range h.rec.Ended() {
			if sp.Name() == "process test-trace" {
				return sp.SpanKind() == trace.SpanKindConsumer && sp.Parent().SpanID() == publishID &&
					sp.SpanContext().SpanID() == sc.SpanID()
			}
		}
		return false
	}, waitFor, pollEvery, "no process span that is a child of the publish span")
}

func TestConsumerHandleTimeout(t *testing.T) {
	h := newHarness(t)
	h.stream(t, testStream, "ams.test.>")
	sp := spec("test-timeout")
	sp.HandleTimeout = 3 * time.Second
	deadlines := make(chan time.Duration, 1)
	c := h.consumer(t, sp, func(ctx context.Context, msg jetstream.Msg) error {
		d, ok := ctx.Deadline()
		if !ok {
			return Permanent(errors.New("no deadline"))
		}
		deadlines <- time.Until(d)
		return nil
	})
	start(t, c)
	_, err := h.publisher().Publish(context.Background(), testSubject, "evt-1", wrapperspb.String("x"))
	require.NoError(t, err)
	select {
	case d := <-deadlines:
		require.Greater(t, d, 2*time.Second)
		require.LessOrEqual(t, d, 3*time.Second)
	case <-time.After(waitFor):
		t.Fatal("handler not called")
	}
	h.waitSettled(t, testStream, "test-timeout", 1)
}

// fakeMsg is a jetstream.Msg with only what Decode reads.
type fakeMsg struct {
	jetstream.Msg
	header nats.Header
	data   []byte
}

func (m fakeMsg) Headers() nats.Header { return m.header }
func (m fakeMsg) Data() []byte         { return m.data }
func (m fakeMsg) Subject() string      { return testSubject }

func TestDecode(t *testing.T) {
	good, err := proto.Marshal(wrapperspb.String("hello"))
	require.NoError(t, err)
	tests := []struct {
		name    string
		ceType  string
		data    []byte
		wantErr string
	}{
		{name: "matching type", ceType: "google.protobuf.StringValue", data: good},
		{name: "wrong type", ceType: "google.protobuf.Timestamp", data: good,
			wantErr: `has type "google.protobuf.Timestamp", want "google.protobuf.StringValue"`},
		{name: "missing type", ceType: "", data: good, wantErr: `has type ""`},
		{name: "type in other case", ceType: "Google.Protobuf.StringValue", data: good, wantErr: "has type"},
		{name: "undecodable body", ceType: "google.protobuf.StringValue", data: []byte{0xff, 0xff, 0xff},
			wantErr: "decode google.protobuf.StringValue from " + testSubject},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			hdr := nats.Header{}
			if tt.ceType != "" {
				hdr.Set(HeaderType, tt.ceType)
			}
			var v wrapperspb.StringValue
			err := Decode(fakeMsg{header: hdr, data: tt.data}, &v)
			if tt.wantErr == "" {
				require.NoError(t, err)
				require.Equal(t, "hello", v.GetValue())
				return
			}
			require.ErrorContains(t, err, tt.wantErr)
			require.True(t, IsPermanent(err), "a decode failure is permanent: %v", err)
		})
	}
}

func TestDecodeRejectsWrongTypeEndToEnd(t *testing.T) {
	// A message published as one type and consumed as another is
	// dead-lettered at once instead of retried.
	h := newHarness(t)
	h.stream(t, testStream, "ams.test.>")
	require.NoError(t, EnsureDeadLetter(context.Background(), h.js, 1))
	var got calls
	c := h.consumer(t, spec("test-type"), func(ctx context.Context, msg jetstream.Msg) error {
		got.record(ctx, msg)
		return Decode(msg, &wrapperspb.StringValue{})
	})
	start(t, c)
	_, err := h.publisher().Publish(context.Background(), testSubject, "evt-1", timestamppb.Now())
	require.NoError(t, err)

	dl := h.deadLetter(t, "test-type")
	require.Contains(t, dl.Header.Get(HeaderDeadReason), `has type "google.protobuf.Timestamp"`)
	h.waitSettled(t, testStream, "test-type", 1)
	require.Equal(t, []uint64{1}, got.deliveries())
}

func TestPermanent(t *testing.T) {
	base := errors.New("bad payload")
	require.NoError(t, Permanent(nil))
	require.False(t, IsPermanent(nil))
	require.False(t, IsPermanent(base))
	p := Permanent(base)
	require.True(t, IsPermanent(p))
	require.ErrorIs(t, p, base)
	require.Equal(t, "bad payload", p.Error())
	require.True(t, IsPermanent(fmt.Errorf("handle: %w", p)))
	require.True(t, IsPermanent(errors.Join(errors.New("other"), p)))
}

func TestConsumerWaitsForStream(t *testing.T) {
	h := newHarness(t)
	var got calls
	c := h.consumer(t, spec("test-late"), func(ctx context.Context, msg jetstream.Msg) error {
		got.record(ctx, msg)
		return nil
	})
	run := start(t, c)

	// The stream's owner has not started: Run keeps waiting, not failing.
	require.Never(t, func() bool {
		select {
		case err := <-run.done:
			t.Logf("Run returned early: %v", err)
			return true
		default:
			return c.Ready() == nil
		}
	}, 500*time.Millisecond, pollEvery, "Run ended or became ready without a stream")

	h.stream(t, testStream, "ams.test.>")
	_, err := h.publisher().Publish(context.Background(), testSubject, "evt-1", wrapperspb.String("x"))
	require.NoError(t, err)
	h.waitSettled(t, testStream, "test-late", 1)
	require.Equal(t, []uint64{1}, got.deliveries())
	require.NoError(t, c.Ready())

	require.NoError(t, run.stop(t))
	require.Error(t, c.Ready(), "not ready after Run returned")
}

func TestConsumerRunReturnsWhenCancelledWhileWaiting(t *testing.T) {
	h := newHarness(t)
	c := h.consumer(t, spec("test-never"), func(context.Context, jetstream.Msg) error { return nil })
	run := start(t, c)
	require.NoError(t, run.stop(t))
}

func TestConsumerShutdownFinishesInFlight(t *testing.T) {
	h := newHarness(t)
	h.stream(t, testStream, "ams.test.>")
	entered := make(chan struct{})
	release := make(chan struct{})
	var handlerCtxErr atomic.Value
	c := h.consumer(t, spec("test-drain"), func(ctx context.Context, msg jetstream.Msg) error {
		close(entered)
		<-release
		handlerCtxErr.Store(fmt.Sprint(ctx.Err()))
		return nil
	})
	run := start(t, c)

	_, err := h.publisher().Publish(context.Background(), testSubject, "evt-1", wrapperspb.String("x"))
	require.NoError(t, err)
	select {
	case <-entered:
	case <-time.After(waitFor):
		t.Fatal("handler not called")
	}

	run.cancel()
	select {
	case err := <-run.done:
		t.Fatalf("Run returned (%v) while a handler was still running", err)
	default:
	}
	close(release)
	require.NoError(t, run.stop(t))

	require.Equal(t, "<nil>", handlerCtxErr.Load(), "shutdown does not cancel the handler's context")
	ci := h.consumerInfo(t, testStream, "test-drain")
	require.NotNil(t, ci)
	require.Equal(t, uint64(1), ci.AckFloor.Stream, "in-flight message acked during shutdown")
	require.Equal(t, 0, ci.NumAckPending)
}

// TestConsumerShutdownGraceCancelsInFlight: with ShutdownGrace, a handler
// still running when the grace is over has its context cancelled, and its
// message is not acked (it is left for redelivery, to whoever takes over).
func TestConsumerShutdownGraceCancelsInFlight(t *testing.T) {
	h := newHarness(t)
	h.stream(t, testStream, "ams.test.>")
	entered := make(chan struct{})
	sp := spec("test-grace")
	sp.ShutdownGrace = 100 * time.Millisecond
	c := h.consumer(t, sp, func(ctx context.Context, msg jetstream.Msg) error {
		close(entered)
		<-ctx.Done() // a step that would run far longer than the grace
		return ctx.Err()
	})
	run := start(t, c)
	_, err := h.publisher().Publish(context.Background(), testSubject, "evt-1", wrapperspb.String("x"))
	require.NoError(t, err)
	select {
	case <-entered:
	case <-time.After(waitFor):
		t.Fatal("handler not called")
	}
	run.cancel()
	require.NoError(t, run.stop(t), "Run returns once the grace has cancelled the handler")
	ci := h.consumerInfo(t, testStream, "test-grace")
	require.NotNil(t, ci)
	require.Zero(t, ci.AckFloor.Stream, "the cut-short message is not acked")
}

func TestNewConsumerValidates(t *testing.T) {
	h := newHarness(t)
	tests := []struct {
		name   string
		mutate func(s *ConsumerSpec)
		want   string
	}{
		{"no stream", func(s *ConsumerSpec) { s.Stream = "" }, "needs a stream and a durable name"},
		{"no durable", func(s *ConsumerSpec) { s.Durable = "" }, "needs a stream and a durable name"},
		{"short ack wait", func(s *ConsumerSpec) { s.AckWait = 999 * time.Millisecond }, "ack wait 999ms is under 1s"},
		{"max deliver 1", func(s *ConsumerSpec) { s.MaxDeliver = 1 }, "max deliver 1 leaves no retry"},
		{"unlimited max deliver", func(s *ConsumerSpec) { s.MaxDeliver = -1 }, "leaves no retry"},
		{"no workers", func(s *ConsumerSpec) { s.Workers = 0 }, "workers must be at least 1"},
		{"dot in durable", func(s *ConsumerSpec) { s.Durable = "ticketing.incidents" }, `durable "ticketing.incidents": use letters, digits, - and _ only`},
		{"wildcard in durable", func(s *ConsumerSpec) { s.Durable = "a*" }, "use letters, digits"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sp := spec("test-validate")
			tt.mutate(&sp)
			_, err := NewConsumer(h.js, sp, nil, nil, nil, h.tp)
			require.ErrorContains(t, err, tt.want)
		})
	}

	c := h.consumer(t, spec("test-validate"), nil)
	require.Equal(t, 10*time.Second, c.spec.HandleTimeout, "handle timeout defaults to ack wait")
}

func TestTune(t *testing.T) {
	sp := ConsumerSpec{Stream: "S", Durable: "d", Workers: 1, AckWait: time.Second, MaxDeliver: 2, FilterSubjects: []string{"a.>"}}
	got := sp.Tune(config.Consumer{Workers: 16, AckWait: time.Minute, MaxDeliver: 7})
	require.Equal(t, ConsumerSpec{Stream: "S", Durable: "d", Workers: 16, AckWait: time.Minute, MaxDeliver: 7, FilterSubjects: []string{"a.>"}}, got)
	require.Equal(t, 1, sp.Workers, "Tune returns a copy")
}

func TestRetryDelay(t *testing.T) {
	tests := []struct {
		delivered uint64
		want      time.Duration
	}{
		{0, time.Second},
		{1, time.Second},
		{2, 2 * time.Second},
		{3, 4 * time.Second},
		{6, 32 * time.Second},
		{7, time.Minute},
		{1000, time.Minute},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.delivered), func(t *testing.T) {
			require.Equal(t, tt.want, retryDelay(tt.delivered))
		})
	}
}

func TestGroup(t *testing.T) {
	t.Run("empty group is not ready", func(t *testing.T) {
		require.ErrorContains(t, Group{}.Ready(), "no consumers")
	})

	t.Run("ready when every consumer runs", func(t *testing.T) {
		h := newHarness(t)
		h.stream(t, testStream, "ams.test.>")
		noop := func(context.Context, jetstream.Msg) error { return nil }
		a := h.consumer(t, spec("test-group-a"), noop)
		b := h.consumer(t, spec("test-group-b"), noop)
		g := Group{a, b}
		require.ErrorContains(t, g.Ready(), "test-group-a not running")

		run := start(t, g)
		require.Eventually(t, func() bool { return g.Ready() == nil }, waitFor, pollEvery)
		require.NoError(t, run.stop(t))
		require.Error(t, g.Ready())
	})

	t.Run("one failing consumer stops the group", func(t *testing.T) {
		h := newHarness(t)
		h.stream(t, testStream, "ams.test.>")
		ok := h.consumer(t, spec("test-group-ok"), func(context.Context, jetstream.Msg) error { return nil })
		badSpec := spec("test-group-bad")
		badSpec.FilterSubjects = []string{"ams.test.>", "ams.test.x"} // overlapping: the server refuses it
		bad := h.consumer(t, badSpec, func(context.Context, jetstream.Msg) error { return nil })

		run := start(t, Group{ok, bad})
		select {
		case err := <-run.done:
			require.ErrorContains(t, err, "ensure consumer test-group-bad on TEST")
			run.done <- nil // the error is checked here; the cleanup needs a value to read
		case <-time.After(waitFor):
			t.Fatal("group kept running with a failed consumer")
		}
		require.Error(t, ok.Ready(), "the healthy consumer was stopped too")
	})
}

func TestSubject(t *testing.T) {
	tests := []struct {
		aggregate, event, tenant string
		want                     string
	}{
		{"alert", "received", "acme", "ams.alert.received.acme"},
		{"incident", "opened", "beta-2", "ams.incident.opened.beta-2"},
		{"ticket", "closed", "t", "ams.ticket.closed.t"},
	}
	for _, tt := range tests {
		t.Run(tt.want, func(t *testing.T) {
			got := Subject(tt.aggregate, tt.event, tt.tenant)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.tenant, SubjectTenant(got))
		})
	}
}

func TestSubjectTenant(t *testing.T) {
	tests := []struct {
		name, subject, want string
	}{
		{"full subject", "ams.alert.received.acme", "acme"},
		{"dashed tenant", "ams.incident.resolved.my-tenant", "my-tenant"},
		{"no dots", "acme", ""},
		{"trailing dot", "ams.alert.received.", ""},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, SubjectTenant(tt.subject))
		})
	}
	require.False(t, strings.Contains(SubjectTenant("ams.a.b.c"), "."))
}

// TestConsumerDeadLettersAfterHandleTimeout: a handler that runs out its
// time on the last delivery is still dead-lettered.
func TestConsumerDeadLettersAfterHandleTimeout(t *testing.T) {
	h := newHarness(t)
	h.stream(t, testStream, "ams.test.>")
	require.NoError(t, EnsureDeadLetter(context.Background(), h.js, 1))
	sp := spec("test-slow")
	sp.MaxDeliver = 2
	sp.AckWait = 2 * time.Second
	sp.HandleTimeout = 200 * time.Millisecond
	var got calls
	c := h.consumer(t, sp, func(ctx context.Context, msg jetstream.Msg) error {
		got.record(ctx, msg)
		<-ctx.Done() // a stuck downstream call
		return ctx.Err()
	})
	start(t, c)
	_, err := h.publisher().Publish(context.Background(), testSubject, "evt-1", wrapperspb.String("x"))
	require.NoError(t, err)

	dl := h.deadLetter(t, "test-slow")
	require.Equal(t, "context deadline exceeded", dl.Header.Get(HeaderDeadReason))
	require.Equal(t, []uint64{1, 2}, got.deliveries())
}

// TestConsumerLastDeliveryWithoutDeadLetterStreamIsNotDropped: when the
// dead-letter copy cannot be stored on the last delivery, the message is
// redelivered and dead-lettered once the stream exists.
func TestConsumerLastDeliveryWithoutDeadLetterStreamIsNotDropped(t *testing.T) {
	h := newHarness(t)
	h.stream(t, testStream, "ams.test.>")
	sp := spec("test-lost")
	sp.MaxDeliver = 2
	sp.AckWait = 2 * time.Second
	m := NewMetrics(prometheus.NewRegistry())
	var got calls
	c, err := NewConsumer(h.js, sp, func(ctx context.Context, msg jetstream.Msg) error {
		got.record(ctx, msg)
		return errors.New("always failing")
	}, slog.New(slog.DiscardHandler), m, h.tp)
	require.NoError(t, err)
	start(t, c)
	_, err = h.publisher().Publish(context.Background(), testSubject, "evt-1", wrapperspb.String("x"))
	require.NoError(t, err)
	// One nak for the first failure, one for the dead-letter copy that could not be stored.
	require.Eventually(t, func() bool {
		return testutil.ToFloat64(m.handled.WithLabelValues("test-lost", "nak")) == 2
	}, waitFor, pollEvery)

	require.NoError(t, EnsureDeadLetter(context.Background(), h.js, 1))
	h.deadLetter(t, "test-lost")
}

func TestOptionalConsumerDoesNotHoldReadiness(t *testing.T) {
	h := newHarness(t)
	var got calls
	s := spec("test-optional")
	s.Optional = true
	c := h.consumer(t, s, func(ctx context.Context, msg jetstream.Msg) error {
		got.record(ctx, msg)
		return nil
	})
	require.NoError(t, c.Ready(), "an optional consumer is never what a service waits for")
	run := start(t, c)

	// It still waits for the stream and handles what comes once it exists.
	h.stream(t, testStream, "ams.test.>")
	_, err := h.publisher().Publish(context.Background(), testSubject, "evt-1", wrapperspb.String("x"))
	require.NoError(t, err)
	h.waitSettled(t, testStream, "test-optional", 1)
	require.Equal(t, []uint64{1}, got.deliveries())
	require.NoError(t, run.stop(t))
}

// TestConsumerPanicDeadLettersAndGoesOn: a handler that panics on a message
// dead-letters it with the panic (it would panic on every redelivery) and
// the consumer, and the process, go on with the next message.
func TestConsumerPanicDeadLettersAndGoesOn(t *testing.T) {
	h := newHarness(t)
	h.stream(t, testStream, "ams.test.>")
	ctx := context.Background()
	require.NoError(t, EnsureDeadLetter(ctx, h.js, 1))
	const durable = "test-panic"
	handled := make(chan string, 4)
	c := h.consumer(t, spec(durable), func(ctx context.Context, msg jetstream.Msg) error {
		var v wrapperspb.StringValue
		if err := Decode(msg, &v); err != nil {
			return err
		}
		if v.GetValue() == "poison" {
			panic("boom: a bug this message triggers")
		}
		handled <- v.GetValue()
		return nil
	})
	start(t, c)
	_, err := h.publisher().Publish(ctx, testSubject, "evt-poison", wrapperspb.String("poison"))
	require.NoError(t, err)
	_, err = h.publisher().Publish(ctx, testSubject, "evt-fine", wrapperspb.String("fine"))
	require.NoError(t, err)

	select {
	case v := <-handled:
		require.Equal(t, "fine", v)
	case <-time.After(waitFor):
		t.Fatal("the consumer stopped after the panic")
	}
	dl := h.deadLetter(t, durable)
	reason := dl.Header.Get("ams-deadletter-reason")
	require.True(t, strings.HasPrefix(reason, "handler panicked: boom: a bug this message triggers"), reason)
	require.Contains(t, reason, "goroutine", "the stack is kept for whoever fixes it")
	require.Equal(t, "1", dl.Header.Get("ams-deadletter-deliveries"), "not redelivered: it would panic again")
}
