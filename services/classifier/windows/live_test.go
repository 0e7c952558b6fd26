package windows

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// syncBuffer is a log destination safe to read while the watch writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

const (
	waitFor = 2 * time.Second
	tick    = 5 * time.Millisecond
)

func TestLive(t *testing.T) {
	kv := newBucket(t)
	st := NewKVStore(kv)
	// Stored before the view starts: it must be there when NewLive returns.
	require.NoError(t, st.Put(t.Context(), nightlyBackup()))

	var logs syncBuffer
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	live, err := NewLive(ctx, kv, slog.New(slog.NewTextHandler(&logs, nil)))
	require.NoError(t, err)
	require.Equal(t, []string{"acme/rt-backup0001"}, ids(live.Windows("acme")), "initial values are loaded")

	// The windows are compiled: schedule and matcher work.
	w := live.Windows("acme")[0]
	tokyo2am := at(t, "2026-11-21T02:30:00+09:00")
	require.True(t, w.Active(tokyo2am))
	ok, err := w.Matches(&amsv1.Alert{Resource: &amsv1.Resource{Host: "db-01"}})
	require.NoError(t, err)
	require.True(t, ok)

	t.Run("sees a put", func(t *testing.T) {
		require.NoError(t, st.Put(t.Context(), dcMove(t)))
		require.NoError(t, st.Put(t.Context(), weeklyPatch("globex")))
		require.Eventually(t, func() bool {
			return len(live.Windows("acme")) == 2 && len(live.Windows("globex")) == 1
		}, waitFor, tick)
		require.Equal(t, []string{"acme/rt-backup0001", "acme/rt-dcmove0001", "globex/rt-patch00001"}, ids(live.Windows("")))
	})

	t.Run("sees a replacement", func(t *testing.T) {
		changed := dcMove(t)
		changed.Match = `alert.resource.host == "web-1"`
		require.NoError(t, st.Put(t.Context(), changed))
		require.Eventually(t, func() bool {
			ws := live.Windows("acme")
			return len(ws) == 2 && ws[1].Match == changed.Match
		}, waitFor, tick)
	})

	t.Run("sees a delete", func(t *testing.T) {
		require.NoError(t, st.Delete(t.Context(), "acme", "rt-dcmove0001"))
		require.Eventually(t, func() bool { return len(live.Windows("acme")) == 1 }, waitFor, tick)
		require.Equal(t, "rt-backup0001", live.Windows("acme")[0].ID)
	})

	t.Run("leaves out a window that does not compile", func(t *testing.T) {
		// Written past the store, as an older or newer version might.
		_, err := kv.Put(t.Context(), "globex.rt-patch00001",
			[]byte(`{"id":"rt-patch00001","tenant":"globex","name":"weekly-patch","match":"alert.nope","recurring":{"cron":"0 3 * * SUN","duration":"2h","time_zone":"Europe/London"}}`))
		require.NoError(t, err)
		require.Eventually(t, func() bool { return len(live.Windows("globex")) == 0 }, waitFor, tick,
			"the bad version replaces the good one, and is left out")
		require.Eventually(t, func() bool { return strings.Contains(logs.String(), "maintenance window left out") }, waitFor, tick)
		require.Contains(t, logs.String(), "undefined field 'nope'")
	})

	t.Run("Windows hands out copies", func(t *testing.T) {
		ws := live.Windows("acme")
		ws[0] = nil
		require.NotNil(t, live.Windows("acme")[0])
	})

	cancel()
	select {
	case <-live.Done():
	case <-time.After(waitFor):
		t.Fatal("the watch did not end with its context")
	}
}

func TestLiveStartsOnAnEmptyBucket(t *testing.T) {
	kv := newBucket(t)
	live, err := NewLive(t.Context(), kv, nil)
	require.NoError(t, err)
	require.Empty(t, live.Windows(""))

	require.NoError(t, NewKVStore(kv).Put(t.Context(), weeklyPatch("globex")))
	require.Eventually(t, func() bool { return len(live.Windows("globex")) == 1 }, waitFor, tick)
}

func TestLiveLoadsDeletedWindowsAsGone(t *testing.T) {
	kv := newBucket(t)
	st := NewKVStore(kv)
	require.NoError(t, st.Put(t.Context(), dcMove(t)))
	require.NoError(t, st.Put(t.Context(), nightlyBackup()))
	require.NoError(t, st.Delete(t.Context(), "acme", "rt-dcmove0001"))

	live, err := NewLive(t.Context(), kv, nil)
	require.NoError(t, err)
	require.Equal(t, []string{"acme/rt-backup0001"}, ids(live.Windows("acme")))
}

func TestNewLiveWithAnEndedContext(t *testing.T) {
	kv := newBucket(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	_, err := NewLive(ctx, kv, nil)
	require.Error(t, err)
}
