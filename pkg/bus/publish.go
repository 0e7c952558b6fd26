package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"google.golang.org/protobuf/proto"
)

// Publisher publishes protobuf events to JetStream on behalf of one service.
type Publisher struct {
	js     jetstream.JetStream
	source string
	tracer trace.Tracer
	prop   propagation.TextMapPropagator
	now    func() time.Time
}

// NewPublisher returns a Publisher that stamps ce-source with source (the service name).
func NewPublisher(js jetstream.JetStream, source string, tp trace.TracerProvider) *Publisher {
	return &Publisher{
		js:     js,
		source: source,
		tracer: tp.Tracer("github.com/amsproject/ams/pkg/bus"),
		prop:   propagation.TraceContext{},
		now:    time.Now,
	}
}

// Publish stores m on subject and returns once the stream acknowledged it.
// msgID is the idempotency key: publishing the same msgID again within the
// stream's duplicate window stores nothing new (the PubAck says Duplicate).
func (p *Publisher) Publish(ctx context.Context, subject, msgID string, m proto.Message) (*jetstream.PubAck, error) {
	if msgID == "" {
		return nil, fmt.Errorf("publish to %s: empty message id", subject)
	}
	ctx, span := p.tracer.Start(ctx, "publish "+subject, trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(
			attribute.String("messaging.system", "nats"),
			attribute.String("messaging.destination.name", subject),
			attribute.String("messaging.message.id", msgID),
		))
	defer span.End()

	msg, err := p.message(ctx, subject, msgID, m)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		return nil, err
	}
	ack, err := p.js.PublishMsg(ctx, msg)
	if err != nil {
		span.SetStatus(codes.Error, err.Error())
		return nil, fmt.Errorf("publish %s to %s: %w", msgID, subject, err)
	}
	span.SetAttributes(attribute.Bool("messaging.nats.duplicate", ack.Duplicate),
		attribute.Int64("messaging.nats.sequence", int64(ack.Sequence))) //nolint:gosec // a stream sequence stays far below 2^63
	return ack, nil
}

// message builds the NATS message for m: protobuf body, the idempotency
// key, the CloudEvents headers and the trace context of ctx.
func (p *Publisher) message(ctx context.Context, subject, msgID string, m proto.Message) (*nats.Msg, error) {
	data, err := proto.Marshal(m)
	if err != nil {
		return nil, fmt.Errorf("marshal %s: %w", m.ProtoReflect().Descriptor().FullName(), err)
	}
	msg := &nats.Msg{Subject: subject, Data: data, Header: nats.Header{}}
	if msgID != "" {
		msg.Header.Set(jetstream.MsgIDHeader, msgID)
	}
	msg.Header.Set(HeaderSpecVersion, "1.0")
	msg.Header.Set(HeaderID, msgID)
	msg.Header.Set(HeaderType, string(m.ProtoReflect().Descriptor().FullName()))
	msg.Header.Set(HeaderSource, p.source)
	msg.Header.Set(HeaderTime, p.now().UTC().Format(time.RFC3339Nano))
	msg.Header.Set(HeaderContentType, contentTypeProtobuf)
	p.prop.Inject(ctx, headerCarrier(msg.Header))
	return msg, nil
}
