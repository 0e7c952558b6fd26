package bus

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/wrapperspb"
)

func TestPublishHeaders(t *testing.T) {
	h := newHarness(t)
	s := h.stream(t, testStream, "ams.test.>")
	pub := h.publisher()
	before := time.Now().UTC()

	ctx, parent := h.tp.Tracer("test").Start(context.Background(), "parent")
	ack, err := pub.Publish(ctx, testSubject, "evt-1", wrapperspb.String("hello"))
	parent.End()
	require.NoError(t, err)
	require.Equal(t, testStream, ack.Stream)
	require.False(t, ack.Duplicate)

	raw, err := s.GetMsg(context.Background(), ack.Sequence)
	require.NoError(t, err)
	require.Equal(t, testSubject, raw.Subject)

	// NATS headers are case-sensitive: look the exact keys up in the map,
	// not through Get, so a canonicalised "Traceparent" would fail.
	exact := func(key string) string {
		t.Helper()
		v, ok := raw.Header[key]
		require.True(t, ok, "header %q missing; have %v", key, raw.Header)
		require.Len(t, v, 1, key)
		return v[0]
	}
	require.Equal(t, "evt-1", exact(jetstream.MsgIDHeader))
	require.Equal(t, "evt-1", exact("ce-id"))
	require.Equal(t, "1.0", exact("ce-specversion"))
	require.Equal(t, "google.protobuf.StringValue", exact("ce-type"))
	require.Equal(t, "bus-test", exact("ce-source"))
	require.Equal(t, "application/protobuf", exact("content-type"))
	ceTime, err := time.Parse(time.RFC3339Nano, exact("ce-time"))
	require.NoError(t, err)
	require.WithinRange(t, ceTime, before.Add(-time.Second), time.Now().Add(time.Second))
	for _, k := range []string{"Traceparent", "Ce-Id", "Content-Type"} {
		require.NotContains(t, raw.Header, k, "canonicalised header key")
	}

	tp := exact("traceparent")
	sc := trace.SpanContextFromContext(propagation.TraceContext{}.Extract(context.Background(),
		propagation.MapCarrier{"traceparent": tp}))
	require.True(t, sc.IsValid(), "traceparent %q", tp)
	require.Equal(t, parent.SpanContext().TraceID(), sc.TraceID(), "publish continues the caller's trace")

	// The traceparent names the publish span, a child of the caller's span.
	var publishSpan bool
	for _, sp := range h.rec.Ended() {
		if sp.Name() == "publish "+testSubject {
			publishSpan = true
			require.Equal(t, trace.SpanKindProducer, sp.SpanKind())
			require.Equal(t, parent.SpanContext().SpanID(), sp.Parent().SpanID())
			require.Equal(t, sp.SpanContext().SpanID(), sc.SpanID())
		}
	}
	require.True(t, publishSpan, "no publish span recorded")

	var got wrapperspb.StringValue
	require.NoError(t, proto.Unmarshal(raw.Data, &got))
	require.Equal(t, "hello", got.GetValue())
}

func TestPublishWithoutSpanHasNoTraceparent(t *testing.T) {
	h := newHarness(t)
	s := h.stream(t, testStream, "ams.test.>")
	pub := NewPublisher(h.js, "bus-test", noop.NewTracerProvider())

	ack, err := pub.Publish(context.Background(), testSubject, "evt-1", wrapperspb.String("x"))
	require.NoError(t, err)
	raw, err := s.GetMsg(context.Background(), ack.Sequence)
	require.NoError(t, err)
	require.NotContains(t, raw.Header, "traceparent")
	require.Equal(t, "evt-1", raw.Header.Get("ce-id"))
}

func TestPublishDeduplicatesByMsgID(t *testing.T) {
	h := newHarness(t)
	s := h.stream(t, testStream, "ams.test.>")
	pub := h.publisher()
	ctx := context.Background()

	first, err := pub.Publish(ctx, testSubject, "same-id", wrapperspb.String("one"))
	require.NoError(t, err)
	require.False(t, first.Duplicate)

	second, err := pub.Publish(ctx, testSubject, "same-id", wrapperspb.String("two"))
	require.NoError(t, err)
	require.True(t, second.Duplicate, "second publish of the same id is a duplicate")
	require.Equal(t, first.Sequence, second.Sequence)

	info, err := s.Info(ctx)
	require.NoError(t, err)
	require.Equal(t, uint64(1), info.State.Msgs)

	raw, err := s.GetMsg(ctx, first.Sequence)
	require.NoError(t, err)
	var got wrapperspb.StringValue
	require.NoError(t, proto.Unmarshal(raw.Data, &got))
	require.Equal(t, "one", got.GetValue(), "the first publish is the one kept")

	third, err := pub.Publish(ctx, testSubject, "other-id", wrapperspb.String("three"))
	require.NoError(t, err)
	require.False(t, third.Duplicate)
	require.Equal(t, first.Sequence+1, third.Sequence)
}

func TestPublishErrors(t *testing.T) {
	h := newHarness(t)
	h.stream(t, testStream, "ams.test.>")
	pub := h.publisher()

	tests := []struct {
		name    string
		subject string
		msgID   string
		want    string
	}{
		{"empty message id", testSubject, "", "empty message id"},
		{"no stream for subject", "ams.nowhere.x.acme", "id-1", "publish id-1 to ams.nowhere.x.acme"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
			defer cancel()
			ack, err := pub.Publish(ctx, tt.subject, tt.msgID, wrapperspb.String("x"))
			require.ErrorContains(t, err, tt.want)
			require.Nil(t, ack)
		})
	}
}
