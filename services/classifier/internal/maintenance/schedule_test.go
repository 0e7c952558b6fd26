package maintenance

import (
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func zone(tb testing.TB, name string) *time.Location {
	tb.Helper()
	loc, err := time.LoadLocation(name)
	require.NoError(tb, err)
	return loc
}

// at parses an RFC 3339 time.
func at(tb testing.TB, s string) time.Time {
	tb.Helper()
	t, err := time.Parse(time.RFC3339Nano, s)
	require.NoError(tb, err)
	return t
}

// window returns a compiled window of tenant acme with schedule once or r.
func window(tb testing.TB, o *Once, r *Recurring) *Window {
	tb.Helper()
	w := &Window{ID: "mw-1", Tenant: "acme", Name: "test", Match: "true", Once: o, Recurring: r}
	require.NoError(tb, w.Compile(nil))
	return w
}

func recurring(tb testing.TB, rule, cronExpr string, d time.Duration, tz string) *Window {
	tb.Helper()
	return window(tb, nil, &Recurring{RRule: rule, Cron: cronExpr, Duration: d, TimeZone: tz})
}

// probe is what a window is expected to say at one instant.
type probe struct {
	at     string // RFC 3339
	active bool
	end    string // NextEnd when active
}

func checkProbes(t *testing.T, w *Window, probes []probe) {
	t.Helper()
	for _, p := range probes {
		now := at(t, p.at)
		require.Equal(t, p.active, w.Active(now), "active at %s", p.at)
		end, ok := w.NextEnd(now)
		require.Equal(t, p.active, ok, "NextEnd ok at %s", p.at)
		if p.active {
			require.True(t, end.Equal(at(t, p.end)), "NextEnd at %s: got %s, want %s", p.at, end.UTC(), p.end)
		} else {
			require.True(t, end.IsZero())
		}
	}
}

func TestResolve(t *testing.T) {
	for _, tc := range []struct {
		name, zone, wall, want string
	}{
		{"plain", "Asia/Tokyo", "2026-06-10T02:00:00", "2026-06-09T17:00:00Z"},
		{"new york skipped hour start", "America/New_York", "2026-03-08T02:00:00", "2026-03-08T07:00:00Z"},  // 03:00 EDT
		{"new york skipped hour middle", "America/New_York", "2026-03-08T02:30:00", "2026-03-08T07:30:00Z"}, // 03:30 EDT
		{"new york after the gap", "America/New_York", "2026-03-08T03:00:00", "2026-03-08T07:00:00Z"},
		{"new york before the gap", "America/New_York", "2026-03-08T01:59:00", "2026-03-08T06:59:00Z"},
		{"new york repeated hour is the first", "America/New_York", "2026-11-01T01:30:00", "2026-11-01T05:30:00Z"}, // EDT
		{"new york after the repeat", "America/New_York", "2026-11-01T02:00:00", "2026-11-01T07:00:00Z"},
		{"london skipped hour", "Europe/London", "2026-03-29T01:30:00", "2026-03-29T01:30:00Z"}, // 02:30 BST
		{"london 02:00 on the spring day exists", "Europe/London", "2026-03-29T02:00:00", "2026-03-29T01:00:00Z"},
		{"london repeated hour is the first", "Europe/London", "2026-10-25T01:30:00", "2026-10-25T00:30:00Z"}, // BST
		{"lord howe half-hour gap", "Australia/Lord_Howe", "2026-10-04T02:15:00", "2026-10-03T15:45:00Z"},
		// Samoa skipped 30 December 2011 entirely, moving from -10 to +14.
		{"samoa skipped day", "Pacific/Apia", "2011-12-30T12:00:00", "2011-12-30T22:00:00Z"},
		{"utc", "UTC", "2026-03-08T02:30:00", "2026-03-08T02:30:00Z"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w, ok := parseWall(tc.wall)
			require.True(t, ok)
			got := resolve(w, zone(t, tc.zone))
			require.True(t, got.Equal(at(t, tc.want)), "got %s (%s)", got.UTC(), got)
		})
	}
}

func TestResolveRoundTripsEveryRealTime(t *testing.T) {
	// Every instant that is the first reading of its wall-clock time comes
	// back from resolve(wall(t)) unchanged, across a year of DST changes.
	for _, name := range []string{"America/New_York", "Europe/London", "Asia/Tokyo", "Australia/Lord_Howe", "America/Santiago"} {
		loc := zone(t, name)
		for ts := at(t, "2026-01-01T00:00:00Z"); ts.Year() < 2027; ts = ts.Add(15 * time.Minute) {
			got := resolve(wall(ts, loc), loc)
			if !got.Equal(ts) {
				// Only the second reading of a repeated time may differ,
				// and then resolve gives the first, earlier one.
				require.True(t, got.Before(ts), "%s %s: got %s", name, ts, got)
				require.True(t, wall(got, loc).Equal(wall(ts, loc)))
			}
		}
	}
}

func TestOnce(t *testing.T) {
	w := window(t, &Once{Start: at(t, "2026-12-01T22:00:00+09:00"), End: at(t, "2026-12-02T04:00:00+09:00")}, nil)
	checkProbes(t, w, []probe{
		{at: "2026-12-01T12:59:59.999999999Z", active: false},
		{at: "2026-12-01T13:00:00Z", active: true, end: "2026-12-01T19:00:00Z"}, // start is inside
		{at: "2026-12-01T22:00:00+09:00", active: true, end: "2026-12-02T04:00:00+09:00"},
		{at: "2026-12-02T03:59:59+09:00", active: true, end: "2026-12-02T04:00:00+09:00"},
		{at: "2026-12-02T04:00:00+09:00", active: false}, // end is not
		{at: "2027-01-01T00:00:00Z", active: false},
	})

	start, ok := w.NextStart(at(t, "2026-11-01T00:00:00Z"))
	require.True(t, ok)
	require.True(t, start.Equal(at(t, "2026-12-01T13:00:00Z")))
	_, ok = w.NextStart(at(t, "2026-12-01T13:00:00Z"))
	require.False(t, ok, "the start is not after itself")
	_, ok = w.NextStart(at(t, "2026-12-03T00:00:00Z"))
	require.False(t, ok)
}

func TestRecurringDailyTokyoAcrossTheUTCDateBoundary(t *testing.T) {
	// 02:00–03:00 in Tokyo is 17:00–18:00 UTC on the previous day.
	for _, w := range []*Window{
		recurring(t, "FREQ=DAILY;BYHOUR=2;BYMINUTE=0", "", time.Hour, "Asia/Tokyo"),
		recurring(t, "", "0 2 * * *", time.Hour, "Asia/Tokyo"),
	} {
		t.Run(w.Recurring.RRule+w.Recurring.Cron, func(t *testing.T) {
			checkProbes(t, w, []probe{
				{at: "2026-06-09T16:59:59Z", active: false},
				{at: "2026-06-09T17:00:00Z", active: true, end: "2026-06-09T18:00:00Z"},
				{at: "2026-06-10T02:30:00+09:00", active: true, end: "2026-06-10T03:00:00+09:00"},
				{at: "2026-06-09T18:00:00Z", active: false},
				{at: "2026-06-10T02:00:00Z", active: false}, // 02:00 UTC is 11:00 in Tokyo
				{at: "2031-02-28T17:15:00Z", active: true, end: "2031-02-28T18:00:00Z"},
			})
			next, ok := w.NextStart(at(t, "2026-06-09T17:30:00Z"))
			require.True(t, ok)
			require.True(t, next.Equal(at(t, "2026-06-11T02:00:00+09:00")), "got %s", next)
			require.Equal(t, "Asia/Tokyo", next.Location().String(), "times come back in the window's zone")
		})
	}
}

func TestRecurringWeeklyTokyo(t *testing.T) {
	// Every Sunday 02:00 in Tokyo for 3h: Saturday 17:00–20:00 UTC.
	for _, w := range []*Window{
		recurring(t, "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0", "", 3*time.Hour, "Asia/Tokyo"),
		recurring(t, "", "0 2 * * SUN", 3*time.Hour, "Asia/Tokyo"),
	} {
		t.Run(w.Recurring.RRule+w.Recurring.Cron, func(t *testing.T) {
			checkProbes(t, w, []probe{
				{at: "2026-06-13T18:00:00Z", active: true, end: "2026-06-13T20:00:00Z"}, // a Saturday in UTC
				{at: "2026-06-14T18:00:00Z", active: false},                             // Sunday in UTC, Monday in Tokyo
				{at: "2026-06-14T04:59:00+09:00", active: true, end: "2026-06-14T05:00:00+09:00"},
				{at: "2026-06-14T05:00:00+09:00", active: false},
				{at: "2026-06-21T01:59:59+09:00", active: false},
			})
			next, ok := w.NextStart(at(t, "2026-06-14T05:00:00+09:00"))
			require.True(t, ok)
			require.True(t, next.Equal(at(t, "2026-06-21T02:00:00+09:00")))
		})
	}
}

func TestRecurringAcrossLocalMidnight(t *testing.T) {
	w := recurring(t, "FREQ=WEEKLY;BYDAY=SA;BYHOUR=23;BYMINUTE=0", "", 3*time.Hour, "Asia/Tokyo")
	checkProbes(t, w, []probe{
		{at: "2026-06-14T01:30:00+09:00", active: true, end: "2026-06-14T02:00:00+09:00"}, // Sunday morning, from Saturday's start
		{at: "2026-06-15T01:30:00+09:00", active: false},
	})
}

func TestDSTEuropeLondon(t *testing.T) {
	// The clocks go forward at 01:00 GMT on 29 March 2026 (01:00–02:00 local
	// does not exist) and back at 02:00 BST on 25 October (01:00–02:00 local
	// happens twice).
	t.Run("a window in the skipped hour starts as late after the gap as it was after its start", func(t *testing.T) {
		w := recurring(t, "FREQ=DAILY;BYHOUR=1;BYMINUTE=30", "", time.Hour, "Europe/London")
		checkProbes(t, w, []probe{
			{at: "2026-03-28T01:30:00Z", active: true, end: "2026-03-28T02:30:00Z"}, // GMT the day before
			{at: "2026-03-29T01:00:00Z", active: false},                             // 02:00 BST
			{at: "2026-03-29T01:30:00Z", active: true, end: "2026-03-29T02:30:00Z"}, // 02:30 BST
			{at: "2026-03-29T02:30:00Z", active: false},
			{at: "2026-03-30T00:30:00Z", active: true, end: "2026-03-30T01:30:00Z"}, // 01:30 BST
		})
	})
	t.Run("02:00 exists on the spring day", func(t *testing.T) {
		w := recurring(t, "", "0 2 * * *", time.Hour, "Europe/London")
		checkProbes(t, w, []probe{
			{at: "2026-03-28T02:00:00Z", active: true, end: "2026-03-28T03:00:00Z"},
			{at: "2026-03-29T01:00:00Z", active: true, end: "2026-03-29T02:00:00Z"},
			{at: "2026-03-29T02:00:00Z", active: false},
		})
	})
	t.Run("a window in the repeated hour is the first one, and lasts its elapsed duration", func(t *testing.T) {
		w := recurring(t, "", "30 1 * * *", time.Hour, "Europe/London")
		checkProbes(t, w, []probe{
			{at: "2026-10-25T00:30:00Z", active: true, end: "2026-10-25T01:30:00Z"}, // 01:30 BST to 01:30 GMT
			{at: "2026-10-25T01:30:00Z", active: false},                             // the second 01:30
			{at: "2026-10-26T01:30:00Z", active: true, end: "2026-10-26T02:30:00Z"}, // 01:30 GMT
		})
	})
}

func TestDSTAmericaNewYork(t *testing.T) {
	// The clocks go forward at 02:00 EST on 8 March 2026 (02:00–03:00 local
	// does not exist) and back at 02:00 EDT on 1 November.
	w := recurring(t, "FREQ=DAILY;BYHOUR=2;BYMINUTE=0", "", time.Hour, "America/New_York")
	checkProbes(t, w, []probe{
		{at: "2026-03-07T07:00:00Z", active: true, end: "2026-03-07T08:00:00Z"}, // 02:00 EST
		// Spring forward: 02:00 does not exist; the window opens at 03:00 EDT
		// for its full hour rather than being skipped.
		{at: "2026-03-08T06:59:00Z", active: false},
		{at: "2026-03-08T07:00:00Z", active: true, end: "2026-03-08T08:00:00Z"},
		{at: "2026-03-08T08:00:00Z", active: false},
		{at: "2026-03-09T06:00:00Z", active: true, end: "2026-03-09T07:00:00Z"}, // 02:00 EDT
		// Fall back: 02:00 happens once (EST), right after the repeated hour.
		{at: "2026-10-31T06:00:00Z", active: true, end: "2026-10-31T07:00:00Z"},
		{at: "2026-11-01T06:30:00Z", active: false}, // 01:30 EST, the second 01:30
		{at: "2026-11-01T07:00:00Z", active: true, end: "2026-11-01T08:00:00Z"},
	})

	t.Run("duration is elapsed time across the change", func(t *testing.T) {
		w := recurring(t, "", "30 0 * * *", 2*time.Hour, "America/New_York")
		// 00:30 EDT + 2h = 01:30 EST (wall clock shows 01:30, not 02:30).
		checkProbes(t, w, []probe{
			{at: "2026-11-01T04:30:00Z", active: true, end: "2026-11-01T06:30:00Z"},
			{at: "2026-11-01T06:30:00Z", active: false},
		})
	})
}

func TestCronAndRRuleGiveTheSameInstants(t *testing.T) {
	for _, tc := range []struct{ rule, cron string }{
		{"FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0", "0 2 * * SUN"},
		{"FREQ=DAILY;BYHOUR=1,2;BYMINUTE=30", "30 1,2 * * *"},
		{"FREQ=MONTHLY;BYMONTHDAY=1;BYHOUR=0;BYMINUTE=0", "0 0 1 * *"},
		{"FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=22;BYMINUTE=15", "15 22 * * MON-FRI"},
		{"FREQ=HOURLY;INTERVAL=6;BYMINUTE=0", "0 */6 * * *"},
	} {
		for _, tz := range []string{"Asia/Tokyo", "Europe/London", "America/New_York", "Australia/Lord_Howe"} {
			t.Run(tc.cron+" "+tz, func(t *testing.T) {
				byRule := recurring(t, tc.rule, "", time.Hour, tz).compiled.sched.tl
				byCron := recurring(t, "", tc.cron, time.Hour, tz).compiled.sched.tl
				from, to := at(t, "2026-01-01T00:00:00Z"), at(t, "2027-01-01T00:00:00Z")
				r, c := byRule.starts(from, to), byCron.starts(from, to)
				require.NotEmpty(t, r)
				require.Equal(t, len(r), len(c))
				for i := range r {
					require.True(t, r[i].Equal(c[i]), "%d: rrule %s, cron %s", i, r[i], c[i])
				}
			})
		}
	}
}

func TestRRuleDetails(t *testing.T) {
	t.Run("INTERVAL keeps its phase from dtstart, years later", func(t *testing.T) {
		w := window(t, nil, &Recurring{RRule: "FREQ=WEEKLY;INTERVAL=2;BYDAY=SU;BYHOUR=2", DTStart: "2026-01-04T00:00:00", Duration: time.Hour, TimeZone: "Asia/Tokyo"})
		require.True(t, w.Active(at(t, "2026-01-04T02:30:00+09:00")))
		require.False(t, w.Active(at(t, "2026-01-11T02:30:00+09:00")))
		require.True(t, w.Active(at(t, "2026-01-18T02:30:00+09:00")))
		// 2029-12-30 is 208 weeks after 2026-01-04; 2030-01-06 is 209.
		require.True(t, w.Active(at(t, "2029-12-30T02:30:00+09:00")))
		require.False(t, w.Active(at(t, "2030-01-06T02:30:00+09:00")))
		require.False(t, w.Active(at(t, "2025-12-21T02:30:00+09:00")), "nothing before dtstart")
	})
	t.Run("UNTIL in UTC is an instant", func(t *testing.T) {
		// 2026-01-05T00:00Z is 09:00 on the 5th in Tokyo: the 5th's 02:00 is in, the 6th's is not.
		w := recurring(t, "FREQ=DAILY;BYHOUR=2;BYMINUTE=0;UNTIL=20260105T000000Z", "", time.Hour, "Asia/Tokyo")
		require.True(t, w.Active(at(t, "2026-01-05T02:30:00+09:00")))
		require.False(t, w.Active(at(t, "2026-01-06T02:30:00+09:00")))
		_, ok := w.NextStart(at(t, "2026-01-05T03:00:00+09:00"))
		require.False(t, ok)
	})
	t.Run("UNTIL without Z is local time", func(t *testing.T) {
		w := recurring(t, "FREQ=DAILY;BYHOUR=2;BYMINUTE=0;UNTIL=20260105T013000", "", time.Hour, "Asia/Tokyo")
		require.True(t, w.Active(at(t, "2026-01-04T02:30:00+09:00")))
		require.False(t, w.Active(at(t, "2026-01-05T02:30:00+09:00")))
	})
	t.Run("COUNT counts from dtstart", func(t *testing.T) {
		w := window(t, nil, &Recurring{RRule: "RRULE:FREQ=DAILY;COUNT=2", DTStart: "2026-01-04T02:00", Duration: time.Hour, TimeZone: "UTC"})
		require.True(t, w.Active(at(t, "2026-01-04T02:00:00Z")))
		require.True(t, w.Active(at(t, "2026-01-05T02:00:00Z")))
		require.False(t, w.Active(at(t, "2026-01-06T02:00:00Z")))
	})
	t.Run("default dtstart is midnight", func(t *testing.T) {
		w := recurring(t, "FREQ=DAILY", "", time.Hour, "Asia/Tokyo")
		require.True(t, w.Active(at(t, "2026-06-10T00:30:00+09:00")))
		require.False(t, w.Active(at(t, "2026-06-10T01:30:00+09:00")))
	})
}

func TestNextEndFollowsOverlapsAndGaps(t *testing.T) {
	t.Run("overlapping occurrences chain", func(t *testing.T) {
		// 01:00 and 02:00 for 90 minutes each: covered 01:00–03:30.
		w := recurring(t, "FREQ=DAILY;BYHOUR=1,2;BYMINUTE=0", "", 90*time.Minute, "UTC")
		checkProbes(t, w, []probe{
			{at: "2026-06-10T01:15:00Z", active: true, end: "2026-06-10T03:30:00Z"},
			{at: "2026-06-10T02:45:00Z", active: true, end: "2026-06-10T03:30:00Z"},
			{at: "2026-06-10T03:30:00Z", active: false},
		})
	})
	t.Run("back to back occurrences chain", func(t *testing.T) {
		w := recurring(t, "", "0 1,2 * * *", time.Hour, "UTC")
		checkProbes(t, w, []probe{{at: "2026-06-10T01:15:00Z", active: true, end: "2026-06-10T03:00:00Z"}})
	})
	t.Run("endless coverage reports the horizon", func(t *testing.T) {
		w := recurring(t, "FREQ=DAILY", "", 24*time.Hour, "UTC")
		now := at(t, "2026-06-10T12:00:00Z")
		end, ok := w.NextEnd(now)
		require.True(t, ok)
		require.False(t, end.Before(now.Add(endHorizon)))
		require.True(t, w.Active(end), "still covered at the reported end; asking again goes further")
		later, ok := w.NextEnd(end)
		require.True(t, ok)
		require.True(t, later.After(end))
	})
	t.Run("NextStart while active is the next occurrence", func(t *testing.T) {
		w := recurring(t, "", "0 1,2 * * *", time.Hour, "UTC")
		next, ok := w.NextStart(at(t, "2026-06-10T01:15:00Z"))
		require.True(t, ok)
		require.True(t, next.Equal(at(t, "2026-06-10T02:00:00Z")))
	})
	t.Run("a rule that has ended has no next start", func(t *testing.T) {
		w := recurring(t, "FREQ=YEARLY;UNTIL=20200101T000000Z", "", time.Hour, "UTC")
		_, ok := w.NextStart(at(t, "2026-06-10T01:15:00Z"))
		require.False(t, ok)
		require.False(t, w.Active(at(t, "2026-06-10T01:15:00Z")))
	})
	t.Run("a sparse rule is found years ahead", func(t *testing.T) {
		w := recurring(t, "", "0 0 29 2 *", time.Hour, "UTC")
		next, ok := w.NextStart(at(t, "2028-03-01T00:00:00Z"))
		require.True(t, ok)
		require.True(t, next.Equal(at(t, "2032-02-29T00:00:00Z")))
	})
}

// forget clears what w's schedule remembers, so its next answer is computed.
func forget(w *Window) {
	s := w.compiled.sched
	s.mu.Lock()
	s.memo = memo{}
	s.mu.Unlock()
}

// TestRememberedAnswersMatchFreshOnes asks windows (which remember their last
// answer) and copies made to forget it the same questions at random
// instants, in random order.
func TestRememberedAnswersMatchFreshOnes(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	base := at(t, "2026-01-01T00:00:00Z")
	for _, w := range []*Window{
		recurring(t, "FREQ=DAILY;BYHOUR=2;BYMINUTE=0", "", time.Hour, "America/New_York"),
		recurring(t, "", "30 1 * * SUN", 150*time.Minute, "Europe/London"),
		recurring(t, "FREQ=DAILY;BYHOUR=1,2;BYMINUTE=0", "", 90*time.Minute, "Asia/Tokyo"),
		recurring(t, "FREQ=HOURLY;INTERVAL=5", "", 20*time.Minute, "Australia/Lord_Howe"),
		window(t, &Once{Start: at(t, "2026-03-08T06:00:00Z"), End: at(t, "2026-03-09T06:00:00Z")}, nil),
	} {
		fresh := &Window{ID: "fresh", Tenant: "acme", Name: "fresh", Match: "true", Once: w.Once, Recurring: w.Recurring}
		require.NoError(t, fresh.Compile(nil))
		now := base
		for range 1000 {
			if rng.IntN(10) == 0 {
				now = base.Add(time.Duration(rng.Int64N(int64(365 * 24 * time.Hour)))) // jump anywhere
			} else {
				now = now.Add(time.Duration(rng.Int64N(int64(3 * time.Hour)))) // walk forward
			}
			forget(fresh)
			require.Equal(t, fresh.Active(now), w.Active(now), "%s at %s", w.Recurring, now)
			forget(fresh)
			fe, fok := fresh.NextEnd(now)
			we, wok := w.NextEnd(now)
			require.Equal(t, fok, wok)
			require.True(t, fe.Equal(we), "NextEnd at %s: %s vs %s", now, fe, we)
			forget(fresh)
			fs, fok := fresh.NextStart(now)
			ws, wok := w.NextStart(now)
			require.Equal(t, fok, wok, "NextStart at %s: %s vs %s (%+v %+v)", now, fs, ws, w.Recurring, w.Once)
			require.True(t, fs.Equal(ws), "NextStart at %s: %s vs %s", now, fs, ws)
			if wok {
				require.True(t, ws.After(now))
			}
		}
	}
}

func TestConcurrentUse(t *testing.T) {
	w := recurring(t, "FREQ=DAILY;BYHOUR=2;BYMINUTE=0", "", time.Hour, "Asia/Tokyo")
	base := at(t, "2026-06-09T16:00:00Z")
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 200 {
				now := base.Add(time.Duration(g*200+i) * time.Minute)
				want := now.In(zone(t, "Asia/Tokyo")).Hour() == 2
				if w.Active(now) != want {
					t.Errorf("active at %s: got %v", now, !want)
					return
				}
			}
		})
	}
	wg.Wait()
}

func BenchmarkActive(b *testing.B) {
	for _, tc := range []struct {
		name     string
		remember bool
	}{{"remembered", true}, {"computed", false}} {
		b.Run(tc.name, func(b *testing.B) {
			w := recurring(b, "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0", "", 3*time.Hour, "Asia/Tokyo")
			now := at(b, "2026-06-10T00:00:00Z")
			b.ResetTimer()
			for i := range b.N {
				if !tc.remember {
					forget(w)
				}
				_ = w.Active(now.Add(time.Duration(i%3600) * time.Second))
			}
		})
	}
}

func ExampleWindow_NextEnd() {
	w := &Window{ID: "mw-1", Tenant: "acme", Name: "weekly-patch", Match: "true", Recurring: &Recurring{
		Cron: "0 2 * * SUN", Duration: 3 * time.Hour, TimeZone: "Asia/Tokyo",
	}}
	if err := w.Compile(nil); err != nil {
		panic(err)
	}
	now := time.Date(2026, 6, 13, 18, 0, 0, 0, time.UTC) // Saturday in UTC, Sunday 03:00 in Tokyo
	end, _ := w.NextEnd(now)
	next, _ := w.NextStart(now)
	fmt.Println(w.Active(now), end, next)
	// Output: true 2026-06-14 05:00:00 +0900 JST 2026-06-21 02:00:00 +0900 JST
}

func TestCronListingMatchesRobfigNext(t *testing.T) {
	for _, expr := range []string{"0 2 * * SUN", "*/15 9-17 * * MON-FRI", "0 0 1,15 * *", "30 4 1 * MON", "0 0 29 2 *", "@hourly", "@monthly", "5 4 * JAN,JUL *"} {
		t.Run(expr, func(t *testing.T) {
			tl, err := newCron(expr)
			require.NoError(t, err)
			from, to := at(t, "2026-01-01T00:00:00Z"), at(t, "2029-01-01T00:00:00Z")
			var want []time.Time
			for s := tl.spec.Next(from.Add(-time.Second)); !s.After(to); s = tl.spec.Next(s) {
				want = append(want, s)
			}
			got := tl.between(from, to)
			require.NotEmpty(t, got)
			require.Equal(t, len(want), len(got))
			for i := range want {
				require.True(t, want[i].Equal(got[i]), "%d: robfig %s, listed %s", i, want[i], got[i])
			}
		})
	}
}

func TestOffsetSpread(t *testing.T) {
	for _, tc := range []struct {
		zone, from, to string
		want           time.Duration
	}{
		{"Asia/Tokyo", "2026-01-01T00:00:00Z", "2026-12-31T00:00:00Z", 0},
		{"America/New_York", "2026-03-07T00:00:00Z", "2026-03-09T00:00:00Z", time.Hour},
		{"America/New_York", "2026-04-01T00:00:00Z", "2026-10-01T00:00:00Z", 0},
		{"Australia/Lord_Howe", "2026-10-03T00:00:00Z", "2026-10-05T00:00:00Z", 30 * time.Minute},
		{"Pacific/Apia", "2011-12-29T00:00:00Z", "2011-12-31T00:00:00Z", 24 * time.Hour},
	} {
		require.Equal(t, tc.want, offsetSpread(zone(t, tc.zone), at(t, tc.from), at(t, tc.to)), "%s %s", tc.zone, tc.from)
	}
}

// TestRulesRRuleGoCannotFinish are rejected when compiled: rrule-go would
// step through the first ones forever (the test would hang) and through the
// others until year 9999 on every question.
func TestRulesRRuleGoCannotFinish(t *testing.T) {
	for _, tc := range []struct{ rule, want string }{
		{"FREQ=HOURLY;INTERVAL=2;BYHOUR=3", "never reaches BYHOUR: stepping INTERVAL=2 hours from the hour of dtstart (00) only visits hours 2 apart"},
		{"FREQ=MINUTELY;INTERVAL=2;BYMINUTE=1", "never reaches BYHOUR/BYMINUTE: stepping INTERVAL=2 minutes from the time of dtstart (00:00) only visits times 2 minutes apart"},
		{"FREQ=MINUTELY;INTERVAL=120;BYHOUR=1", "never reaches BYHOUR/BYMINUTE"},
		{"FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=30", "never occurs on or after dtstart"},
		{"FREQ=WEEKLY;BYMONTH=4;BYMONTHDAY=31", "never occurs on or after dtstart"},
		{"FREQ=DAILY;INTERVAL=7;BYDAY=TU", "never occurs on or after dtstart"}, // dtstart is a Monday
		{"FREQ=MONTHLY;BYSETPOS=5;BYDAY=MO;BYMONTHDAY=1,2,3,4,5,6,7", "never occurs on or after dtstart"},
		{"FREQ=DAILY;COUNT=1001", "COUNT=1001 is more than 1000: use UNTIL to end a long series"},
	} {
		t.Run(tc.rule, func(t *testing.T) {
			w := &Window{ID: "x", Tenant: "acme", Name: "x", Match: "true", Recurring: &Recurring{RRule: tc.rule, DTStart: "2000-01-03", Duration: time.Hour, TimeZone: "UTC"}}
			require.ErrorContains(t, w.Compile(nil), tc.want)
		})
	}
	for _, rule := range []string{
		"FREQ=HOURLY;INTERVAL=2;BYHOUR=4",
		"FREQ=MINUTELY;INTERVAL=90;BYHOUR=1;BYMINUTE=30",
		"FREQ=MONTHLY;BYDAY=5MO",
		"FREQ=MINUTELY;BYMONTH=2;BYMONTHDAY=29;BYDAY=MO",
		"FREQ=DAILY;INTERVAL=1000000",
		"FREQ=MINUTELY;INTERVAL=1000000000",
	} {
		t.Run(rule, func(t *testing.T) {
			w := &Window{ID: "x", Tenant: "acme", Name: "x", Match: "true", Recurring: &Recurring{RRule: rule, Duration: time.Hour, TimeZone: "UTC"}}
			require.NoError(t, w.Compile(nil))
			now := at(t, "2026-06-10T00:00:00Z")
			_ = w.Active(now)
			_, _ = w.NextStart(now)
		})
	}
}

func TestVeryLongOneOff(t *testing.T) {
	w := window(t, &Once{Start: at(t, "2026-01-01T00:00:00Z"), End: at(t, "2126-01-01T00:00:00Z")}, nil)
	now := at(t, "2026-06-10T00:00:00Z")
	require.True(t, w.Active(now))
	end, ok := w.NextEnd(now)
	require.True(t, ok)
	require.True(t, end.Equal(w.Once.End))

	w.Once.End = w.Once.End.Add(time.Second)
	require.ErrorContains(t, w.Compile(nil), "once.end: 2126-01-01T00:00:01Z is more than 100 years after once.start: to silence alerts for good, change the rules")
}

func TestTimesComeBackInTheZone(t *testing.T) {
	// Also for a start placed after a gap.
	w := recurring(t, "FREQ=DAILY;BYHOUR=2;BYMINUTE=30", "", time.Hour, "America/New_York")
	next, ok := w.NextStart(at(t, "2026-03-08T00:00:00Z"))
	require.True(t, ok)
	require.Equal(t, "2026-03-08T03:30:00-04:00", next.Format(time.RFC3339))
}
