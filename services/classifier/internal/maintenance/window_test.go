package maintenance

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

func alertOn(host string) *amsv1.Alert {
	return &amsv1.Alert{Id: "a-1", Tenant: "acme", Fingerprint: "fp-1", Resource: &amsv1.Resource{Host: host}}
}

// runtimeWindows are windows as amsctl would create them.
func runtimeWindows(tb testing.TB) []*Window {
	tb.Helper()
	return []*Window{
		{
			ID: "mw-once", Tenant: "acme", Name: "dc-move", Reason: "moving racks", Match: "true",
			Once:      &Once{Start: at(tb, "2026-12-01T22:00:00+09:00"), End: at(tb, "2026-12-02T04:00:00+09:00"), TimeZone: "Asia/Tokyo"},
			CreatedBy: "alice", CreatedAt: at(tb, "2026-11-20T10:00:00Z"),
		},
		{
			ID: "mw-rrule", Tenant: "acme", Name: "nightly-db-backup", Match: "host=db-1",
			Recurring: &Recurring{RRule: "FREQ=DAILY;BYHOUR=2;BYMINUTE=0", DTStart: "2026-01-01T00:00:00", Duration: 90 * time.Minute, TimeZone: "Asia/Tokyo"},
		},
		{
			ID: "mw-cron", Tenant: "globex", Name: "weekly-patch", Match: "host=web-1",
			Recurring: &Recurring{Cron: "0 3 * * SUN", Duration: 2 * time.Hour, TimeZone: "Europe/London"},
		},
	}
}

func TestJSONRoundTrip(t *testing.T) {
	for _, w := range runtimeWindows(t) {
		t.Run(w.ID, func(t *testing.T) {
			b, err := Marshal(w)
			require.NoError(t, err)
			got, err := Unmarshal(b)
			require.NoError(t, err)
			// Times come back as the same instants with the same offsets.
			if w.Once != nil {
				require.True(t, got.Once.Start.Equal(w.Once.Start))
				require.True(t, got.Once.End.Equal(w.Once.End))
				require.Equal(t, w.Once.Start.Format(time.RFC3339), got.Once.Start.Format(time.RFC3339))
				got.Once.Start, got.Once.End = w.Once.Start, w.Once.End
			}
			require.True(t, got.CreatedAt.Equal(w.CreatedAt))
			got.CreatedAt = w.CreatedAt
			require.Equal(t, w, got)
			again, err := Marshal(got)
			require.NoError(t, err)
			require.JSONEq(t, string(b), string(again))

			// And they behave the same.
			require.NoError(t, w.Compile(fakeCompile))
			require.NoError(t, got.Compile(fakeCompile))
			for now := at(t, "2026-11-30T00:00:00Z"); now.Before(at(t, "2026-12-03T00:00:00Z")); now = now.Add(17 * time.Minute) {
				require.Equal(t, w.Active(now), got.Active(now))
			}
		})
	}
}

func TestJSONFormat(t *testing.T) {
	ws := runtimeWindows(t)
	b, err := Marshal(ws[0])
	require.NoError(t, err)
	require.JSONEq(t, `{
		"id": "mw-once", "tenant": "acme", "name": "dc-move", "reason": "moving racks", "match": "true",
		"once": {"start": "2026-12-01T22:00:00+09:00", "end": "2026-12-02T04:00:00+09:00", "time_zone": "Asia/Tokyo"},
		"created_by": "alice", "created_at": "2026-11-20T10:00:00Z"
	}`, string(b))
	b, err = Marshal(ws[1])
	require.NoError(t, err)
	require.JSONEq(t, `{
		"id": "mw-rrule", "tenant": "acme", "name": "nightly-db-backup", "match": "host=db-1",
		"recurring": {"rrule": "FREQ=DAILY;BYHOUR=2;BYMINUTE=0", "dtstart": "2026-01-01T00:00:00", "duration": "1h30m0s", "time_zone": "Asia/Tokyo"}
	}`, string(b))
}

func TestJSONDecodeErrors(t *testing.T) {
	for _, tc := range []struct{ name, doc, want string }{
		{"unknown field", `{"id":"x","tenant":"t","name":"n","match":"true","exclude":"y"}`, `unknown field "exclude"`},
		{"unknown recurring field", `{"id":"x","recurring":{"cron":"0 1 * * *","duration":"1h","time_zone":"UTC","jitter":"5m"}}`, `unknown field "jitter"`},
		{"bad duration", `{"id":"x","recurring":{"cron":"0 1 * * *","duration":"an hour","time_zone":"UTC"}}`, `recurring.duration: "an hour" is not a duration`},
		{"numeric duration", `{"id":"x","recurring":{"cron":"0 1 * * *","duration":3600,"time_zone":"UTC"}}`, `recurring:`},
		{"bad time", `{"id":"x","once":{"start":"tomorrow","end":"2026-12-02T04:00:00Z"}}`, `decode maintenance window`},
		{"trailing data", `{"id":"x"} {"id":"y"}`, `data after the JSON object`},
		{"not json", `nope`, `decode maintenance window`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Unmarshal([]byte(tc.doc))
			require.ErrorContains(t, err, tc.want)
		})
	}
}

func TestValidateRuntimeWindow(t *testing.T) {
	require.NoError(t, runtimeWindows(t)[0].Validate())

	w := &Window{Recurring: &Recurring{RRule: "FREQ=DAILY", Duration: time.Hour, TimeZone: "Mars/Olympus"}}
	err := w.Validate()
	require.Equal(t, []string{
		"maintenance window /: id: missing",
		"maintenance window /: tenant: missing",
		"maintenance window /: name: missing",
		"maintenance window /: match: missing: write 'true' to cover every alert of the tenant",
		`maintenance window /: recurring.time_zone: "Mars/Olympus" is not an IANA time zone (e.g. Asia/Tokyo, Europe/London, UTC)`,
	}, strings.Split(err.Error(), "\n"))

	w = &Window{ID: "mw-9", Tenant: "acme", Name: "late night", Match: "nope", Once: &Once{Start: at(t, "2026-01-01T00:00:00Z"), End: at(t, "2026-01-01T00:00:00Z")}}
	err = w.Compile(fakeCompile)
	require.Equal(t, []string{
		"maintenance window acme/mw-9 (late night): once.end: 2026-01-01T00:00:00Z is not after once.start 2026-01-01T00:00:00Z: the window would never be open",
		"maintenance window acme/mw-9 (late night): match: 1:1: syntax error",
	}, strings.Split(err.Error(), "\n"))
	require.False(t, w.Active(at(t, "2026-01-01T00:00:00Z")), "an invalid window is never active")
	_, ok := w.NextStart(at(t, "2025-01-01T00:00:00Z"))
	require.False(t, ok)
}

func TestUncompiledWindow(t *testing.T) {
	w := runtimeWindows(t)[1]
	now := at(t, "2026-06-10T02:30:00+09:00")
	require.False(t, w.Active(now), "never active before Compile")
	_, ok := w.NextStart(now)
	require.False(t, ok)
	_, err := w.Matches(alertOn("db-1"))
	require.ErrorContains(t, err, `maintenance window acme/mw-rrule: match "host=db-1" is not compiled`)

	require.NoError(t, w.Compile(nil))
	require.True(t, w.Active(now))
	_, err = w.Matches(alertOn("db-1"))
	require.ErrorContains(t, err, "is not compiled", "compiled without a CompileFunc: the schedule works, the match does not")
}

func TestSet(t *testing.T) {
	ws := runtimeWindows(t)
	broken := &Window{ID: "mw-broken", Tenant: "acme", Name: "broken", Match: "fail",
		Recurring: &Recurring{Cron: "0 2 * * *", Duration: time.Hour, TimeZone: "Asia/Tokyo"}}
	ws = append(ws, broken)
	for _, w := range ws {
		require.NoError(t, w.Compile(fakeCompile))
	}
	set := NewSet(ws...)
	require.Len(t, set.Windows(), 4)

	nightly := at(t, "2026-06-10T02:30:00+09:00")
	require.Equal(t, []*Window{ws[1], broken}, set.Active(nightly))

	got, err := set.ActiveAt("acme", alertOn("db-1"), nightly)
	require.Equal(t, []*Window{ws[1]}, got, "the window matching the alert comes back with the error of the other")
	require.EqualError(t, err, `maintenance window acme/mw-broken: match "fail": no such field: alert.nope`)

	got, err = set.ActiveAt("acme", alertOn("web-1"), nightly)
	require.Empty(t, got)
	require.Error(t, err)

	got, err = set.ActiveAt("globex", alertOn("db-1"), nightly)
	require.NoError(t, err)
	require.Empty(t, got, "another tenant's windows never apply")

	// Sunday 03:30 in London: only globex's window is active, and only for web-1.
	patch := at(t, "2026-06-14T03:30:00+01:00")
	got, err = set.ActiveAt("globex", alertOn("web-1"), patch)
	require.NoError(t, err)
	require.Equal(t, []*Window{ws[2]}, got)
	got, err = set.ActiveAt("globex", alertOn("web-2"), patch)
	require.NoError(t, err)
	require.Empty(t, got)

	end, ok := set.NextEnd(nightly)
	require.True(t, ok)
	require.True(t, end.Equal(at(t, "2026-06-10T03:00:00+09:00")), "the broken window ends first, got %s", end)
	_, ok = set.NextEnd(at(t, "2026-06-10T12:00:00+09:00"))
	require.False(t, ok)

	start, ok := set.NextStart(at(t, "2026-06-10T12:00:00+09:00"))
	require.True(t, ok)
	require.True(t, start.Equal(at(t, "2026-06-11T02:00:00+09:00")))

	var none *Set
	require.Empty(t, none.Active(nightly))
	got, err = none.ActiveAt("acme", alertOn("db-1"), nightly)
	require.NoError(t, err)
	require.Empty(t, got)
	_, ok = none.NextEnd(nightly)
	require.False(t, ok)
	_, ok = none.NextStart(nightly)
	require.False(t, ok)
}

func TestMemStoreAndLoad(t *testing.T) {
	ctx := context.Background()
	ws := runtimeWindows(t)
	bad := &Window{ID: "mw-bad", Tenant: "acme", Name: "bad", Match: "true",
		Recurring: &Recurring{RRule: "FREQ=DAILY", Duration: time.Hour, TimeZone: "Asia/Tokio"}}
	st, err := NewMemStore(append(ws, bad)...)
	require.NoError(t, err)

	all, err := st.List(ctx, "")
	require.NoError(t, err)
	require.Equal(t, []string{"mw-bad", "mw-once", "mw-rrule", "mw-cron"}, ids(all))

	loaded, rejected, err := Load(ctx, st, "acme", fakeCompile)
	require.NoError(t, err)
	require.Equal(t, []string{"mw-once", "mw-rrule"}, ids(loaded))
	require.ErrorContains(t, rejected, `maintenance window acme/mw-bad (bad): recurring.time_zone: "Asia/Tokio" is not an IANA time zone`)
	got, err := NewSet(loaded...).ActiveAt("acme", alertOn("db-1"), at(t, "2026-06-10T02:30:00+09:00"))
	require.NoError(t, err)
	require.Equal(t, []string{"mw-rrule"}, ids(got))

	require.NoError(t, st.Delete(ctx, "acme", "mw-bad"))
	require.ErrorIs(t, st.Delete(ctx, "acme", "mw-bad"), ErrNotFound)
	_, rejected, err = Load(ctx, st, "acme", fakeCompile)
	require.NoError(t, err)
	require.NoError(t, rejected)

	// What is stored is a copy: changing the original changes nothing.
	ws[0].Name = "changed"
	listed, err := st.List(ctx, "acme")
	require.NoError(t, err)
	require.Equal(t, "dc-move", listed[0].Name)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	_, _, err = Load(cancelled, st, "acme", fakeCompile)
	require.ErrorIs(t, err, context.Canceled)
}

func ids(ws []*Window) []string {
	out := make([]string, len(ws))
	for i, w := range ws {
		out[i] = w.ID
	}
	return out
}

func TestParseTime(t *testing.T) {
	for _, tc := range []struct{ value, zone, want, err string }{
		{"2026-12-01T22:00:00+09:00", "", "2026-12-01T13:00:00Z", ""},
		{"2026-12-01T22:00:00+09:00", "Europe/London", "2026-12-01T13:00:00Z", ""}, // an offset wins
		{"2026-12-01T22:00", "Asia/Tokyo", "2026-12-01T13:00:00Z", ""},
		{"2026-12-01", "Asia/Tokyo", "2026-11-30T15:00:00Z", ""},
		{"2026-03-08T02:30:00", "America/New_York", "2026-03-08T07:30:00Z", ""},
		{"2026-12-01T22:00", "", "", "has no offset"},
		{"2026-12-01T22:00", "Nowhere/City", "", "time_zone: \"Nowhere/City\" is not an IANA time zone"},
		{"22:00", "Asia/Tokyo", "", "is not a time like"},
	} {
		got, err := ParseTime(tc.value, tc.zone)
		if tc.err != "" {
			require.ErrorContains(t, err, tc.err, tc.value)
			continue
		}
		require.NoError(t, err)
		require.True(t, got.Equal(at(t, tc.want)), "%s in %s: got %s", tc.value, tc.zone, got)
	}
}
