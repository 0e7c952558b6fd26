package windows

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"

	"github.com/amsproject/ams/pkg/bus"
	"github.com/amsproject/ams/pkg/natstest"
)

// newBucket starts an embedded JetStream server and creates the bucket.
func newBucket(tb testing.TB) jetstream.KeyValue {
	tb.Helper()
	_, js := natstest.Connect(tb, natstest.RunServer(tb))
	kv, err := bus.EnsureKV(context.Background(), js, BucketConfig(1))
	require.NoError(tb, err)
	return kv
}

func at(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.Parse(time.RFC3339, s)
	require.NoError(tb, err)
	return t
}

// dcMove is a one-off window as amsctl creates it.
func dcMove(tb testing.TB) *Window {
	return &Window{
		ID: "rt-dcmove0001", Tenant: "acme", Name: "dc-move", Reason: "moving racks", Match: "true",
		Once:      &Once{Start: at(tb, "2026-12-01T22:00:00+09:00"), End: at(tb, "2026-12-02T04:00:00+09:00"), TimeZone: "Asia/Tokyo"},
		CreatedBy: "alice", CreatedAt: at(tb, "2026-11-20T10:00:00Z"),
	}
}

// nightlyBackup is a recurring window by RRULE.
func nightlyBackup() *Window {
	return &Window{
		ID: "rt-backup0001", Tenant: "acme", Name: "nightly-db-backup", Match: `alert.resource.host.startsWith("db-")`,
		Recurring: &Recurring{RRule: "FREQ=DAILY;BYHOUR=2;BYMINUTE=0", Duration: time.Hour, TimeZone: "Asia/Tokyo"},
	}
}

// weeklyPatch is a recurring window by cron.
func weeklyPatch(tenant string) *Window {
	return &Window{
		ID: "rt-patch00001", Tenant: tenant, Name: "weekly-patch", Match: "true",
		Recurring: &Recurring{Cron: "0 3 * * SUN", Duration: 2 * time.Hour, TimeZone: "Europe/London"},
	}
}

// plain drops what Compile added, to compare windows by their fields.
func plain(tb testing.TB, w *Window) *Window {
	tb.Helper()
	c := *w
	if w.Once != nil {
		o := *w.Once
		c.Once = &o
	}
	if w.Recurring != nil {
		r := *w.Recurring
		c.Recurring = &r
	}
	return &Window{
		ID: c.ID, Tenant: c.Tenant, Name: c.Name, Reason: c.Reason, Match: c.Match,
		Once: c.Once, Recurring: c.Recurring, CreatedBy: c.CreatedBy, CreatedAt: c.CreatedAt,
	}
}

// requireSameWindow compares windows field by field, times as instants.
func requireSameWindow(tb testing.TB, want, got *Window) {
	tb.Helper()
	w, g := plain(tb, want), plain(tb, got)
	require.True(tb, w.CreatedAt.Equal(g.CreatedAt), "created_at %s, want %s", g.CreatedAt, w.CreatedAt)
	g.CreatedAt = w.CreatedAt
	if w.Once != nil && g.Once != nil {
		require.True(tb, w.Once.Start.Equal(g.Once.Start), "start %s, want %s", g.Once.Start, w.Once.Start)
		require.True(tb, w.Once.End.Equal(g.Once.End), "end %s, want %s", g.Once.End, w.Once.End)
		g.Once.Start, g.Once.End = w.Once.Start, w.Once.End
	}
	require.Equal(tb, w, g)
}

func ids(ws []*Window) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.Tenant + "/" + w.ID
	}
	return out
}

func TestKVStoreRoundTrip(t *testing.T) {
	ctx := t.Context()
	st := NewKVStore(newBucket(t))

	all, err := st.List(ctx, "")
	require.NoError(t, err)
	require.Empty(t, all, "an empty bucket lists nothing")

	for _, w := range []*Window{weeklyPatch("globex"), nightlyBackup(), dcMove(t), weeklyPatch("acme-eu")} {
		require.NoError(t, st.Put(ctx, w))
	}

	all, err = st.List(ctx, "")
	require.NoError(t, err)
	require.Equal(t, []string{"acme/rt-backup0001", "acme/rt-dcmove0001", "acme-eu/rt-patch00001", "globex/rt-patch00001"}, ids(all))

	acme, err := st.List(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, []string{"acme/rt-backup0001", "acme/rt-dcmove0001"}, ids(acme), "a tenant's listing leaves out acme-eu")
	requireSameWindow(t, nightlyBackup(), acme[0])
	requireSameWindow(t, dcMove(t), acme[1])

	got, err := st.Get(ctx, "acme", "rt-dcmove0001")
	require.NoError(t, err)
	requireSameWindow(t, dcMove(t), got)
	require.Equal(t, "2026-12-01T22:00:00+09:00", got.Once.Start.Format(time.RFC3339), "times keep their offset")
	require.NoError(t, Compile(got), "what comes back compiles")

	// Replacing keeps one window under the id.
	changed := dcMove(t)
	changed.Reason = "moving racks, take two"
	require.NoError(t, st.Put(ctx, changed))
	got, err = st.Get(ctx, "acme", "rt-dcmove0001")
	require.NoError(t, err)
	require.Equal(t, "moving racks, take two", got.Reason)

	require.NoError(t, st.Delete(ctx, "acme", "rt-dcmove0001"))
	_, err = st.Get(ctx, "acme", "rt-dcmove0001")
	require.ErrorIs(t, err, ErrNotFound)
	require.ErrorIs(t, st.Delete(ctx, "acme", "rt-dcmove0001"), ErrNotFound, "deleting twice")
	require.ErrorIs(t, st.Delete(ctx, "globex", "rt-backup0001"), ErrNotFound, "another tenant's window")
	require.ErrorIs(t, st.Delete(ctx, "acme", "config/nightly"), ErrNotFound, "not a runtime id")

	acme, err = st.List(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, []string{"acme/rt-backup0001"}, ids(acme))
}

func TestKVStorePutRefusesBadWindows(t *testing.T) {
	st := NewKVStore(newBucket(t))
	cases := []struct {
		name   string
		change func(w *Window)
		want   []string
	}{
		{
			name:   "configuration id",
			change: func(w *Window) { w.ID = "config/dc-move" },
			want:   []string{`id: "config/dc-move" is not a runtime window id (rt- followed by`, "changed in that file"},
		},
		{
			name:   "id with a dot",
			change: func(w *Window) { w.ID = "rt-a.b" },
			want:   []string{`id: "rt-a.b" is not a runtime window id`},
		},
		{
			name:   "tenant with a wildcard",
			change: func(w *Window) { w.Tenant = "acme.*" },
			want:   []string{`tenant: "acme.*" is not a tenant id`},
		},
		{
			name:   "misspelt field in the match",
			change: func(w *Window) { w.Match = `alert.resource.hostname == "db-1"` },
			want:   []string{"maintenance window acme/rt-dcmove0001 (dc-move): match: 1:15: undefined field 'hostname'; did you mean 'host'?"},
		},
		{
			name:   "match is not a boolean",
			change: func(w *Window) { w.Match = "alert.summary" },
			want:   []string{"match: must be a boolean condition but is of type string"},
		},
		{
			name:   "end before start",
			change: func(w *Window) { w.Once.End = w.Once.Start.Add(-time.Hour) },
			want:   []string{"once.end: 2026-12-01T21:00:00+09:00 is not after once.start 2026-12-01T22:00:00+09:00"},
		},
		{
			name: "every problem at once",
			change: func(w *Window) {
				w.Name = ""
				w.Once = nil
				w.Recurring = &Recurring{RRule: "FREQ=DAILY", TimeZone: "Asia/Tokio"}
			},
			want: []string{"name: missing", "recurring.duration: must be positive", `recurring.time_zone: "Asia/Tokio" is not an IANA time zone`},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			w := dcMove(t)
			tc.change(w)
			err := st.Put(t.Context(), w)
			require.Error(t, err)
			for _, want := range tc.want {
				require.Contains(t, err.Error(), want)
			}
			all, err := st.List(t.Context(), "")
			require.NoError(t, err)
			require.Empty(t, all, "nothing is stored")
		})
	}
}

func TestKVStoreListNamesAnUnreadableValue(t *testing.T) {
	kv := newBucket(t)
	st := NewKVStore(kv)
	require.NoError(t, st.Put(t.Context(), nightlyBackup()))
	_, err := kv.Put(t.Context(), "acme.rt-broken", []byte(`{"id":"rt-broken","tenant":"acme","exclude":"db-1"}`))
	require.NoError(t, err)
	_, err = st.List(t.Context(), "acme")
	require.ErrorContains(t, err, "key acme.rt-broken: decode maintenance window")
	require.ErrorContains(t, err, `unknown field "exclude"`)

	_, err = kv.Put(t.Context(), "acme.rt-other", []byte(`{"id":"rt-elsewhere","tenant":"acme","match":"true"}`))
	require.NoError(t, err)
	_, err = st.Get(t.Context(), "acme", "rt-other")
	require.ErrorContains(t, err, "key acme.rt-other holds window acme/rt-elsewhere")
}

func TestNewID(t *testing.T) {
	seen := map[string]bool{}
	for range 100 {
		id := NewID()
		require.Regexp(t, regexp.MustCompile(`^rt-[a-z2-7]{10}$`), id)
		require.True(t, IsRuntimeID(id))
		require.False(t, seen[id], "id %s twice", id)
		seen[id] = true
	}
	for _, id := range []string{"", "rt-", "config/x", "RT-abc", "rt-ABC", "rt-a.b", "rt-a*"} {
		require.False(t, IsRuntimeID(id), id)
	}
}
