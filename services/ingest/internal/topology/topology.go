// Package topology is ingest's whole JetStream topology, in one reviewed
// place: the subject it publishes alerts on and the ALERTS stream it owns.
//
// Ingest owns ALERTS because it is the only producer: the producer decides
// how long events are kept and how duplicates are recognised. Consumers
// (classifier, ...) own their durable consumers on it and wait for it to exist.
package topology

import (
	"context"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/amsproject/ams/pkg/bus"
)

// Stream is the event log of every alert AMS has accepted.
const Stream = "ALERTS"

// Retention is how long ALERTS keeps alerts: long enough for monthly
// reports and to replay a month of alerts against changed rules.
const Retention = 30 * 24 * time.Hour

// Subject is where an accepted alert for tenant is published:
// ams.alert.received.<tenant>.
func Subject(tenant string) string { return bus.Subject("alert", "received", tenant) }

// StreamConfig is ALERTS:
//   - subjects ams.alert.> : every alert event, so later events on the same
//     aggregate (ams.alert.<event>.<tenant>) land in the same log;
//   - MaxAge Retention, and DiscardOld so a full stream drops the oldest
//     alerts rather than refusing new ones (refusing would page nobody);
//   - Duplicates duplicateWindow: a notification re-sent within it carries
//     the same Nats-Msg-Id and is stored once.
func StreamConfig(duplicateWindow time.Duration, replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        Stream,
		Description: "Alerts accepted by ingest, normalised (ams.v1.Alert), per tenant.",
		Subjects:    []string{"ams.alert.>"},
		Retention:   jetstream.LimitsPolicy,
		MaxAge:      Retention,
		Discard:     jetstream.DiscardOld,
		Duplicates:  duplicateWindow,
		// A request's alerts are stored as one atomic batch: all or none.
		AllowAtomicPublish: true,
		Replicas:           replicas,
	}
}

// Ensure creates ALERTS or updates it to the configuration.
func Ensure(ctx context.Context, js jetstream.JetStream, duplicateWindow time.Duration, replicas int) error {
	_, err := bus.EnsureStream(ctx, js, StreamConfig(duplicateWindow, replicas))
	return err
}
