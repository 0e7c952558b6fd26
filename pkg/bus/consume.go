package bus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
)

// Handler handles one delivery. Return nil only once the side effect is
// durable; return an error to have the message redelivered later, or a
// Permanent error to dead-letter it.
type Handler func(ctx context.Context, msg jetstream.Msg) error

// ConsumerSpec declares a durable pull consumer and how it is run.
type ConsumerSpec struct {
	// Stream the consumer reads.
	Stream string
	// Durable name, <service>-<purpose>; replicas sharing it share the work.
	Durable        string
	Description    string
	FilterSubjects []string
	// AckWait is how long a delivery may go unacknowledged before the server
	// redelivers it; long handlers call InProgress to extend it.
	AckWait time.Duration
	// MaxDeliver bounds deliveries; the last failed one is dead-lettered.
	MaxDeliver int
	// Workers is how many messages are handled at once.
	Workers int
	// HandleTimeout bounds one handler call; zero means AckWait.
	HandleTimeout time.Duration
	// ShutdownGrace bounds how long handlers in flight may go on once Run's
	// context has ended; then their context is cancelled, so a long handler
	// (a runbook step) stops and leaves its work to be taken over instead
	// of holding up the shutdown. Zero: they finish, each within
	// HandleTimeout.
	ShutdownGrace time.Duration
	// Optional keeps the consumer out of readiness: it follows another
	// service's stream, which in distributed mode may not exist yet, for
	// work that is not the service's main job. It still waits for the
	// stream and runs once it exists.
	Optional bool
}

// config turns the spec into the server-side consumer configuration.
// BackOff is left empty on purpose: it would override AckWait for
// redeliveries after an ack timeout, and our failures nak with their own delay.
func (s ConsumerSpec) config() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:        s.Durable,
		Description:    s.Description,
		FilterSubjects: s.FilterSubjects,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        s.AckWait,
		// One more than ours: our own count decides when to dead-letter, and if
		// the dead-letter copy cannot be stored on the last delivery, the nak
		// still gets a redelivery instead of the server dropping the message.
		MaxDeliver:    s.MaxDeliver + 1,
		MaxAckPending: s.Workers * 4,
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
}

func (s ConsumerSpec) validate() error {
	switch {
	case s.Stream == "" || s.Durable == "":
		return errors.New("consumer needs a stream and a durable name")
	case strings.ContainsAny(s.Durable, ".*> \t"):
		// The durable name becomes a subject token of the consumer API and
		// of its dead-letter subject, where these characters split or match.
		return fmt.Errorf("consumer durable %q: use letters, digits, - and _ only (no '.', '*', '>' or spaces)", s.Durable)
	case s.AckWait < time.Second:
		return fmt.Errorf("consumer %s: ack wait %s is under 1s", s.Durable, s.AckWait)
	case s.MaxDeliver < 2:
		return fmt.Errorf("consumer %s: max deliver %d leaves no retry", s.Durable, s.MaxDeliver)
	case s.Workers < 1:
		return fmt.Errorf("consumer %s: workers must be at least 1", s.Durable)
	}
	return nil
}

// Consumer runs one ConsumerSpec.
type Consumer struct {
	js      jetstream.JetStream
	spec    ConsumerSpec
	handler Handler
	log     *slog.Logger
	metrics *Metrics
	tracer  trace.Tracer
	prop    propagation.TextMapPropagator
	running atomic.Bool
}

// NewConsumer validates spec. Nothing starts until Run.
func NewConsumer(js jetstream.JetStream, spec ConsumerSpec, h Handler, log *slog.Logger, m *Metrics, tp trace.TracerProvider) (*Consumer, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	if spec.HandleTimeout == 0 {
		spec.HandleTimeout = spec.AckWait
	}
	return &Consumer{
		js: js, spec: spec, handler: h, metrics: m,
		log:    log.With("consumer", spec.Durable),
		tracer: tp.Tracer("github.com/amsproject/ams/pkg/bus"),
		prop:   propagation.TraceContext{},
	}, nil
}

// Ready reports whether the consumer is fetching messages.
func (c *Consumer) Ready() error {
	if !c.running.Load() && !c.spec.Optional {
		return fmt.Errorf("consumer %s not running", c.spec.Durable)
	}
	return nil
}

// Run creates or updates the durable consumer and handles messages until ctx
// ends. Then it stops fetching, lets in-flight and already-buffered messages
// finish (each bounded by HandleTimeout), and returns nil.
//
// The stream belongs to another service, which in distributed mode may start
// later: Run waits for it rather than failing the process.
func (c *Consumer) Run(ctx context.Context) error {
	cons, err := c.ensure(ctx)
	if err != nil {
		if ctx.Err() != nil {
			return nil // stopped while waiting: a normal shutdown
		}
		return err
	}
	it, err := cons.Messages(jetstream.PullMaxMessages(c.spec.Workers * 2))
	if err != nil {
		return fmt.Errorf("consume %s: %w", c.spec.Durable, err)
	}
	c.running.Store(true)
	defer c.running.Store(false)
	stopped := make(chan struct{})
	defer close(stopped)
	go func() {
		select {
		case <-ctx.Done():
			it.Drain()
		case <-stopped:
			it.Stop()
		}
	}()

	// Handlers run on a context that shutdown does not cancel, so work in
	// flight finishes and is acked rather than half-done and redelivered;
	// with ShutdownGrace it is cancelled once the grace has passed.
	workCtx, cancelWork := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelWork() // runs after wg.Wait below: handlers are done by then
	if grace := c.spec.ShutdownGrace; grace > 0 {
		go func() {
			select {
			case <-ctx.Done():
			case <-stopped:
				return
			}
			t := time.NewTimer(grace)
			defer t.Stop()
			select {
			case <-t.C:
				c.log.Warn("shutdown grace over; cancelling handlers in flight", "grace", grace)
				cancelWork()
			case <-stopped:
			}
		}()
	}
	sem := make(chan struct{}, c.spec.Workers)
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		msg, err := it.Next()
		if errors.Is(err, jetstream.ErrMsgIteratorClosed) {
			return nil
		}
		if err != nil {
			// Missed heartbeats and similar are reported here and recovered
			// by the iterator itself.
			c.log.Warn("consumer fetch", "err", err)
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			c.handle(workCtx, msg)
		}()
	}
}

// ensure creates the durable consumer, waiting for its stream to exist. It
// returns ctx's error when ctx ends first.
func (c *Consumer) ensure(ctx context.Context) (jetstream.Consumer, error) {
	wait := 200 * time.Millisecond
	for {
		cons, err := c.js.CreateOrUpdateConsumer(ctx, c.spec.Stream, c.spec.config())
		if err == nil {
			return cons, nil
		}
		if !errors.Is(err, jetstream.ErrStreamNotFound) {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, fmt.Errorf("ensure consumer %s on %s: %w", c.spec.Durable, c.spec.Stream, err)
		}
		c.log.Info("waiting for stream", "stream", c.spec.Stream)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, 5*time.Second)
	}
}

func (c *Consumer) handle(ctx context.Context, msg jetstream.Msg) {
	start := time.Now()
	ctx = c.prop.Extract(ctx, headerCarrier(msg.Headers()))
	ctx, span := c.tracer.Start(ctx, "process "+c.spec.Durable, trace.WithSpanKind(trace.SpanKindConsumer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", msg.Subject()),
			attribute.String("messaging.consumer.group.name", c.spec.Durable),
			attribute.String("messaging.message.id", msg.Headers().Get(HeaderID)),
		))
	defer span.End()

	hctx, cancel := context.WithTimeout(ctx, c.spec.HandleTimeout)
	err := c.call(hctx, msg)
	cancel()
	// Settle (ack, nak, dead-letter) on a fresh deadline: a handler that ran
	// out its own time must still be able to dead-letter.
	ctx, cancelSettle := context.WithTimeout(ctx, 10*time.Second)
	defer cancelSettle()
	c.metrics.duration.WithLabelValues(c.spec.Durable).Observe(time.Since(start).Seconds())

	if err == nil {
		if aerr := msg.DoubleAck(ctx); aerr != nil {
			// The side effect is done and idempotent; redelivery will find it so.
			c.log.Warn("ack", "subject", msg.Subject(), "err", aerr)
		}
		c.metrics.handled.WithLabelValues(c.spec.Durable, "ack").Inc()
		return
	}
	span.SetStatus(codes.Error, err.Error())

	delivered := uint64(1)
	if md, merr := msg.Metadata(); merr == nil {
		delivered = md.NumDelivered
	}
	if IsPermanent(err) || delivered >= uint64(c.spec.MaxDeliver) { //nolint:gosec // validate keeps MaxDeliver >= 2
		c.deadLetter(ctx, msg, delivered, err)
		return
	}
	delay := retryDelay(delivered)
	c.log.Warn("handle failed, will retry", "subject", msg.Subject(), "delivery", delivered, "retry_in", delay, "err", err)
	if nerr := msg.NakWithDelay(delay); nerr != nil {
		c.log.Warn("nak", "subject", msg.Subject(), "err", nerr)
	}
	c.metrics.handled.WithLabelValues(c.spec.Durable, "nak").Inc()
}

// call runs the handler. A panic is a bug that the same message would
// trigger again on every redelivery (and, in the all-in-one, take every
// service down with it): it becomes a permanent error, so the message is
// dead-lettered with the panic and its stack, and the process goes on.
func (c *Consumer) call(ctx context.Context, msg jetstream.Msg) (err error) {
	defer func() {
		if r := recover(); r != nil {
			stack := debug.Stack()
			c.log.Error("handler panicked; dead-lettering the message", "subject", msg.Subject(), "panic", r, "stack", string(stack))
			err = Permanent(fmt.Errorf("handler panicked: %v\n%s", r, stack))
		}
	}()
	return c.handler(ctx, msg)
}

// deadLetter copies msg to the dead-letter stream with the reason, then
// terminates it. If the copy cannot be stored the message is nak'ed instead,
// so it is never dropped unseen.
func (c *Consumer) deadLetter(ctx context.Context, msg jetstream.Msg, delivered uint64, cause error) {
	md, _ := msg.Metadata()
	var streamSeq uint64
	stream := c.spec.Stream
	if md != nil {
		streamSeq = md.Sequence.Stream
		stream = md.Stream
	}
	dl := &nats.Msg{Subject: "ams.deadletter." + c.spec.Durable, Data: msg.Data(), Header: nats.Header{}}
	for k, v := range msg.Headers() {
		if k == jetstream.MsgIDHeader {
			continue
		}
		dl.Header[k] = v
	}
	reason := cause.Error()
	if len(reason) > 1024 {
		reason = reason[:1024]
	}
	dl.Header.Set(HeaderDeadReason, reason)
	dl.Header.Set(HeaderDeadStream, stream)
	dl.Header.Set(HeaderDeadConsumer, c.spec.Durable)
	dl.Header.Set(HeaderDeadSubject, msg.Subject())
	dl.Header.Set(HeaderDeadSequence, strconv.FormatUint(streamSeq, 10))
	dl.Header.Set(HeaderDeadDeliveries, strconv.FormatUint(delivered, 10))
	dl.Header.Set(jetstream.MsgIDHeader, fmt.Sprintf("dl:%s:%s:%d", stream, c.spec.Durable, streamSeq))
	if _, err := c.js.PublishMsg(ctx, dl); err != nil {
		c.log.Error("dead-letter publish failed; message will be redelivered", "subject", msg.Subject(), "err", err)
		_ = msg.NakWithDelay(retryDelay(delivered))
		c.metrics.handled.WithLabelValues(c.spec.Durable, "nak").Inc()
		return
	}
	c.log.Error("message dead-lettered", "subject", msg.Subject(), "stream_seq", streamSeq, "deliveries", delivered, "reason", reason)
	if err := msg.TermWithReason(reason); err != nil {
		c.log.Warn("term", "subject", msg.Subject(), "err", err)
	}
	c.metrics.handled.WithLabelValues(c.spec.Durable, "term").Inc()
	c.metrics.deadLettered.WithLabelValues(c.spec.Durable).Inc()
}

// retryDelay grows with each delivery: 1s, 2s, 4s ... capped at one minute.
func retryDelay(delivered uint64) time.Duration {
	delivered = max(1, min(delivered, 7))
	d := time.Second << (delivered - 1)
	return min(d, time.Minute)
}

// Decode unmarshals msg into m after checking that its ce-type names m's
// type. A mismatch or a body that does not decode is Permanent: no retry can fix it.
func Decode(msg jetstream.Msg, m proto.Message) error {
	want := string(m.ProtoReflect().Descriptor().FullName())
	if got := msg.Headers().Get(HeaderType); got != want {
		return Permanent(fmt.Errorf("message on %s has type %q, want %q", msg.Subject(), got, want))
	}
	if err := proto.Unmarshal(msg.Data(), m); err != nil {
		return Permanent(fmt.Errorf("decode %s from %s: %w", want, msg.Subject(), err))
	}
	return nil
}
