package bus

import (
	"github.com/nats-io/nats.go"
	"go.opentelemetry.io/otel/propagation"
)

// Header names. CloudEvents' NATS binding puts attributes in ce-* headers;
// NATS headers are case-sensitive, so these exact spellings are the contract.
const (
	HeaderSpecVersion = "ce-specversion"
	HeaderID          = "ce-id"
	HeaderType        = "ce-type"
	HeaderSource      = "ce-source"
	HeaderTime        = "ce-time"
	HeaderContentType = "content-type"

	// Dead-letter headers added to a copy of a poison message.
	HeaderDeadReason     = "ams-deadletter-reason"
	HeaderDeadStream     = "ams-deadletter-stream"
	HeaderDeadConsumer   = "ams-deadletter-consumer"
	HeaderDeadSubject    = "ams-deadletter-subject"
	HeaderDeadSequence   = "ams-deadletter-sequence"
	HeaderDeadDeliveries = "ams-deadletter-deliveries"

	contentTypeProtobuf = "application/protobuf"
)

// headerCarrier adapts nats.Header to OpenTelemetry's TextMapCarrier without
// changing key case (propagation.HeaderCarrier would canonicalise
// "traceparent" to "Traceparent", which a case-sensitive reader misses).
type headerCarrier nats.Header

var _ propagation.TextMapCarrier = headerCarrier(nil)

func (c headerCarrier) Get(key string) string { return nats.Header(c).Get(key) }

func (c headerCarrier) Set(key, value string) { nats.Header(c).Set(key, value) }

func (c headerCarrier) Keys() []string {
	keys := make([]string, 0, len(c))
	for k := range c {
		keys = append(keys, k)
	}
	return keys
}
