package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Schedule asks JetStream to publish data on target at time at: a durable
// delay that survives restarts and needs no process to wait (JetStream
// message schedules). The stream holding subject must allow message
// schedules and keep one message per subject, so a later schedule on the
// same subject replaces the earlier one: one pending wake-up per subject.
// The server fires with one-second precision, so at is rounded up; a time
// in the past fires at once.
func Schedule(ctx context.Context, js jetstream.JetStream, subject, target string, at time.Time, data []byte) error {
	m := nats.NewMsg(subject)
	m.Data = data
	when := at.UTC().Truncate(time.Second)
	if when.Before(at) {
		when = when.Add(time.Second)
	}
	m.Header.Set("Nats-Schedule", "@at "+when.Format(time.RFC3339))
	m.Header.Set("Nats-Schedule-Target", target)
	if _, err := js.PublishMsg(ctx, m); err != nil {
		return fmt.Errorf("schedule %s at %s: %w", target, when.Format(time.RFC3339), err)
	}
	return nil
}
