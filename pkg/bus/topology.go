package bus

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// DeadLetterStream holds copies of messages no consumer could handle, under
// ams.deadletter.<consumer>. It keeps them for 30 days so someone sees them;
// the ams_bus_deadlettered_total metric counts them.
const DeadLetterStream = "DEADLETTER"

// EnsureStream creates the stream or updates it to cfg. Storage is always
// file: an event log that does not survive a restart would lose accepted alerts.
func EnsureStream(ctx context.Context, js jetstream.JetStream, cfg jetstream.StreamConfig) (jetstream.Stream, error) {
	cfg.Storage = jetstream.FileStorage
	s, err := js.CreateOrUpdateStream(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("ensure stream %s: %w", cfg.Name, err)
	}
	return s, nil
}

// EnsureKV creates the key-value bucket or updates it to cfg, on file storage.
func EnsureKV(ctx context.Context, js jetstream.JetStream, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	cfg.Storage = jetstream.FileStorage
	kv, err := js.CreateOrUpdateKeyValue(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("ensure kv bucket %s: %w", cfg.Bucket, err)
	}
	return kv, nil
}

// EnsureDeadLetter creates the shared dead-letter stream.
func EnsureDeadLetter(ctx context.Context, js jetstream.JetStream, replicas int) error {
	_, err := EnsureStream(ctx, js, jetstream.StreamConfig{
		Name:        DeadLetterStream,
		Description: "Messages a consumer gave up on, with the reason in headers.",
		Subjects:    []string{"ams.deadletter.>"},
		MaxAge:      30 * 24 * time.Hour,
		Replicas:    replicas,
		Duplicates:  time.Hour,
	})
	return err
}
