package bus

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
)

func TestEnsureStreamUsesFileStorageAndUpdates(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	cfg := jetstream.StreamConfig{Name: "S", Subjects: []string{"ams.s.>"}, Storage: jetstream.MemoryStorage}
	s, err := EnsureStream(ctx, h.js, cfg)
	require.NoError(t, err)
	require.Equal(t, jetstream.FileStorage, s.CachedInfo().Config.Storage, "storage is always file")

	cfg.MaxAge = time.Hour
	s, err = EnsureStream(ctx, h.js, cfg)
	require.NoError(t, err, "ensuring again updates rather than fails")
	require.Equal(t, time.Hour, s.CachedInfo().Config.MaxAge)

	_, err = EnsureStream(ctx, h.js, jetstream.StreamConfig{Name: "bad.name"})
	require.ErrorContains(t, err, "ensure stream bad.name")
}

func TestEnsureKV(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	kv, err := EnsureKV(ctx, h.js, jetstream.KeyValueConfig{Bucket: "things", History: 3, Storage: jetstream.MemoryStorage})
	require.NoError(t, err)
	st, err := kv.Status(ctx)
	require.NoError(t, err)
	require.Equal(t, int64(3), st.History())
	require.Equal(t, jetstream.FileStorage, st.(*jetstream.KeyValueBucketStatus).StreamInfo().Config.Storage)

	_, err = EnsureKV(ctx, h.js, jetstream.KeyValueConfig{Bucket: "things", History: 5})
	require.NoError(t, err, "ensuring again updates rather than fails")

	_, err = EnsureKV(ctx, h.js, jetstream.KeyValueConfig{Bucket: "bad bucket"})
	require.ErrorContains(t, err, "ensure kv bucket bad bucket")
}

func TestEnsureDeadLetter(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	require.NoError(t, EnsureDeadLetter(ctx, h.js, 1))
	require.NoError(t, EnsureDeadLetter(ctx, h.js, 1), "idempotent")
	s, err := h.js.Stream(ctx, DeadLetterStream)
	require.NoError(t, err)
	cfg := s.CachedInfo().Config
	require.Equal(t, []string{"ams.deadletter.>"}, cfg.Subjects)
	require.Equal(t, 30*24*time.Hour, cfg.MaxAge)
	require.Equal(t, jetstream.FileStorage, cfg.Storage)
}
