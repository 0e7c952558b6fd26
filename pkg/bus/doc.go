// Package bus is AMS's discipline over NATS JetStream, in one place:
//
//   - Publish sends one protobuf message per subject, binary on the wire, with
//     Nats-Msg-Id (the caller's idempotency key, so a re-publish is stored
//     once), CloudEvents binary-mode headers (ce-id, ce-type, ce-source,
//     ce-time) and W3C trace context (traceparent, tracestate), and returns only
//     when the stream has stored it.
//   - Consume runs a durable pull consumer: a handler that returns nil is acked
//     (double ack: the server confirms) after its side effect is durable; an
//     error naks with a growing delay; an error marked Permanent, or any error on
//     the last allowed delivery, copies the message to the DEADLETTER stream with
//     the reason and terminates it, so nothing is dropped unseen.
//
// Each service owns its streams and consumers and declares them with
// EnsureStream, EnsureKV and ConsumerSpec; this package holds no topology of its own
// except the dead-letter stream every consumer shares.
package bus
