package maintenance

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// fakeCompile stands in for the rules engine: "true" and "false" are
// constants, "host=X" matches alerts on host X, "fail" compiles into a
// matcher that fails, and anything else does not compile.
func fakeCompile(expr string) (Matcher, error) {
	switch {
	case expr == "true" || expr == "false":
		return MatcherFunc(func(*amsv1.Alert) (bool, error) { return expr == "true", nil }), nil
	case strings.HasPrefix(expr, "host="):
		host := strings.TrimPrefix(expr, "host=")
		return MatcherFunc(func(a *amsv1.Alert) (bool, error) { return a.GetResource().GetHost() == host, nil }), nil
	case expr == "fail":
		return MatcherFunc(func(*amsv1.Alert) (bool, error) { return false, errors.New("no such field: alert.nope") }), nil
	}
	return nil, errors.New("1:1: syntax error")
}

const exampleConfig = `
maintenance:
  - name: nightly-db-backup
    reason: nightly backup of the database hosts
    match: 'host=db-1'
    recurring: {rrule: "FREQ=DAILY;BYHOUR=2;BYMINUTE=0", duration: 1h, time_zone: Asia/Tokyo}
  - name: dc-move
    match: 'true'
    once: {start: 2026-12-01T22:00:00+09:00, end: 2026-12-02T04:00:00+09:00}
  - name: weekly-patch
    match: 'host=web-1'
    recurring: {cron: "0 3 * * SUN", duration: 2h, time_zone: Europe/London}
  - name: local-once
    match: 'true'
    once: {start: "2026-03-08T02:30", end: "2026-03-08T05:00", time_zone: America/New_York}
  - name: fortnightly
    match: 'true'
    recurring: {rrule: "FREQ=WEEKLY;INTERVAL=2;BYDAY=SA", dtstart: "2026-01-03T23:00:00", duration: 90m, time_zone: UTC}
`

func TestConfigExample(t *testing.T) {
	c, err := ParseConfig([]byte(exampleConfig))
	require.NoError(t, err)
	ws, err := c.Windows("acme", fakeCompile)
	require.NoError(t, err)
	require.Len(t, ws, 5)

	byName := map[string]*Window{}
	for _, w := range ws {
		byName[w.Name] = w
		require.Equal(t, "acme", w.Tenant)
		require.Equal(t, "config/"+w.Name, w.ID)
	}
	db := byName["nightly-db-backup"]
	require.Equal(t, "nightly backup of the database hosts", db.Reason)
	require.Equal(t, &Recurring{RRule: "FREQ=DAILY;BYHOUR=2;BYMINUTE=0", Duration: time.Hour, TimeZone: "Asia/Tokyo"}, db.Recurring)
	require.True(t, db.Active(at(t, "2026-06-09T17:30:00Z")))

	move := byName["dc-move"]
	require.True(t, move.Once.Start.Equal(at(t, "2026-12-01T13:00:00Z")))
	require.True(t, move.Once.End.Equal(at(t, "2026-12-01T19:00:00Z")))

	// Local times resolve in the zone: 02:30 does not exist that day in New
	// York, so the window opens at 03:30 EDT.
	local := byName["local-once"]
	require.True(t, local.Once.Start.Equal(at(t, "2026-03-08T07:30:00Z")), "got %s", local.Once.Start)
	require.True(t, local.Once.End.Equal(at(t, "2026-03-08T09:00:00Z")))

	require.True(t, byName["fortnightly"].Active(at(t, "2026-01-03T23:30:00Z")))
	require.False(t, byName["fortnightly"].Active(at(t, "2026-01-10T23:30:00Z")))
	require.True(t, byName["weekly-patch"].Active(at(t, "2026-06-14T03:00:00+01:00")))
}

func TestConfigEmpty(t *testing.T) {
	for _, doc := range []string{"", "maintenance: []\n", "maintenance:\n"} {
		c, err := ParseConfig([]byte(doc))
		require.NoError(t, err)
		ws, err := c.Windows("acme", fakeCompile)
		require.NoError(t, err)
		require.Empty(t, ws)
	}
}

func TestConfigStrictDecode(t *testing.T) {
	_, err := ParseConfig([]byte("maintenance:\n  - name: x\n    match: 'true'\n    recurrence: {cron: '0 3 * * *'}\n"))
	require.ErrorContains(t, err, "decode maintenance")
	require.ErrorContains(t, err, "field recurrence not found")

	_, err = ParseConfig([]byte("maintenance:\n  - name: x\n    once: {start: a, end: b, zone: UTC}\n"))
	require.ErrorContains(t, err, "field zone not found")

	_, err = ParseConfig([]byte("maintenance: {name: x}\n"))
	require.ErrorContains(t, err, "decode maintenance")
}

// TestConfigErrors checks that every problem is reported at once, each
// naming the window and the key.
func TestConfigErrors(t *testing.T) {
	doc := `
maintenance:
  - name: bad-zone
    match: 'true'
    recurring: {rrule: "FREQ=DAILY;BYHOUR=2", duration: 1h, time_zone: Asia/Tokio}
  - name: backwards
    match: 'true'
    once: {start: 2026-12-02T04:00:00+09:00, end: 2026-12-01T22:00:00+09:00}
  - name: both
    match: 'true'
    recurring: {rrule: "FREQ=DAILY", cron: "0 2 * * *", duration: 1h, time_zone: UTC}
  - name: zero
    match: 'true'
    recurring: {cron: "0 2 * * *", duration: 0s, time_zone: UTC}
  - name: bad-rule
    match: 'true'
    recurring: {rrule: "FREQ=DAYLY", duration: 1h, time_zone: UTC}
  - name: bad-cron
    match: 'true'
    recurring: {cron: "0 25 * * *", duration: 1h, time_zone: UTC}
  - match: 'true'
    once: {start: 2026-12-01T22:00:00+09:00, end: 2026-12-02T04:00:00+09:00}
  - name: bad-zone
    match: 'true'
    once: {start: 2026-12-01T22:00:00+09:00, end: 2026-12-02T04:00:00+09:00}
  - name: no-match
    once: {start: 2026-12-01T22:00:00+09:00, end: 2026-12-02T04:00:00+09:00}
  - name: bad-match
    match: 'alert.labels['
    once: {start: "2026-12-01T22:00", end: 2026-12-02T04:00:00+09:00}
  - name: no-schedule
    match: 'true'
  - name: two-schedules
    match: 'true'
    once: {start: 2026-12-01T22:00:00+09:00, end: 2026-12-02T04:00:00+09:00}
    recurring: {cron: "0 2 * * *", duration: 1h, time_zone: UTC}
  - name: no-zone
    match: 'true'
    recurring: {cron: "0 2 * * *", duration: 1 hour}
  - name: odd
    match: 'true'
    recurring: {rrule: "DTSTART:20260101T000000Z\nRRULE:FREQ=DAILY;COUNT=3", dtstart: "2026-01-01T00:00:00+09:00", duration: 800h, time_zone: Local}
  - name: never
    match: 'true'
    recurring: {rrule: "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30", duration: 1h, time_zone: UTC}
  - name: never-cron
    match: 'true'
    recurring: {cron: "0 0 30 2 *", dtstart: "2026-01-01", duration: 1h, time_zone: UTC}
  - name: relative
    match: 'true'
    recurring: {cron: "@every 1h", duration: 1m, time_zone: UTC}
  - name: zoned-cron
    match: 'true'
    recurring: {cron: "CRON_TZ=Asia/Tokyo 0 2 * * *", duration: 1h, time_zone: UTC}
  - name: count
    match: 'true'
    recurring: {rrule: "FREQ=SECONDLY;COUNT=3", duration: 1h, time_zone: UTC}
`
	c, err := ParseConfig([]byte(doc))
	require.NoError(t, err)
	ws, err := c.Windows("acme", fakeCompile)
	require.Nil(t, ws)
	require.Error(t, err)
	want := []string{
		`maintenance[0] (bad-zone): recurring.time_zone: "Asia/Tokio" is not an IANA time zone (e.g. Asia/Tokyo, Europe/London, UTC)`,
		`maintenance[1] (backwards): once.end: 2026-12-01T22:00:00+09:00 is not after once.start 2026-12-02T04:00:00+09:00: the window would never be open`,
		`maintenance[2] (both): recurring: set either rrule or cron, not both`,
		`maintenance[3] (zero): recurring.duration: must be positive, e.g. 2h`,
		`maintenance[4] (bad-rule): recurring.rrule: "FREQ=DAYLY" is not an RFC 5545 RRULE: undefined frequency: DAYLY`,
		`maintenance[5] (bad-cron): recurring.cron: "0 25 * * *" is not a cron expression (minute hour day-of-month month day-of-week, e.g. 0 3 * * SUN): end of range (25) above maximum (23): 25`,
		`maintenance[6]: name: missing`,
		`maintenance[7] (bad-zone): name: maintenance[0] has the same name: names are unique within a tenant`,
		`maintenance[8] (no-match): match: missing: write 'true' to cover every alert of the tenant`,
		`maintenance[9] (bad-match): once.start: "2026-12-01T22:00" has no offset: add one (2026-12-01T22:00:00+09:00) or set time_zone`,
		`maintenance[9] (bad-match): match: 1:1: syntax error`,
		`maintenance[10] (no-schedule): once: missing: set once (start, end) or recurring (rrule or cron, duration, time_zone)`,
		`maintenance[11] (two-schedules): once: set either once or recurring, not both`,
		`maintenance[12] (no-zone): recurring.duration: "1 hour" is not a duration such as 2h or 90m`,
		`maintenance[12] (no-zone): recurring.time_zone: missing: name an IANA time zone such as Asia/Tokyo, Europe/London or UTC`,
		`maintenance[13] (odd): recurring.time_zone: "Local" depends on the machine: name an IANA time zone such as Asia/Tokyo`,
		`maintenance[13] (odd): recurring.duration: 800h0m0s is longer than 31 days: use a one-off window (once) for long maintenance`,
		`maintenance[13] (odd): recurring.rrule: holds DTSTART: put the first start in recurring.dtstart (local time, no offset)`,
		`maintenance[13] (odd): recurring.dtstart: "2026-01-01T00:00:00+09:00" is not a local time like 2026-01-04T02:00:00 (no offset: time_zone says where)`,
		`maintenance[14] (never): recurring.rrule: "FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30" never occurs on or after dtstart 2000-01-03T00:00:00 (UNTIL before dtstart, or only dates that do not exist such as BYMONTH=2;BYMONTHDAY=30)`,
		`maintenance[15] (never-cron): recurring.dtstart: applies to rrule only; remove it or write the schedule as an rrule`,
		`maintenance[15] (never-cron): recurring.cron: "0 0 30 2 *" never matches a date (e.g. 30 February)`,
		`maintenance[16] (relative): recurring.cron: @every counts from whenever it is read, it is not a calendar schedule: write minute hour day-of-month month day-of-week, e.g. 0 3 * * SUN`,
		`maintenance[17] (zoned-cron): recurring.cron: holds a time zone: set it in recurring.time_zone instead`,
		`maintenance[18] (count): recurring.rrule: FREQ=SECONDLY is not a maintenance schedule: use MINUTELY or coarser`,
		`maintenance[18] (count): recurring.dtstart: missing: COUNT counts occurrences from dtstart, so set it (local time like 2026-01-04T02:00:00)`,
	}
	require.Equal(t, want, strings.Split(err.Error(), "\n"))
}

// rrule-go panics on a monthly rule asking for a weekday a month cannot
// have five-plus times (found by FuzzConfig): refused with the reason.
func TestConfigRefusesImpossibleMonthlyWeekday(t *testing.T) {
	c, err := ParseConfig([]byte("maintenance:\n  - name: x\n    match: 'true'\n    recurring: {rrule: \"FREQ=MONTHLY;BYDAY=10SA;BYSETPOS=1\", duration: 1h, time_zone: Australia/Lord_Howe}\n"))
	require.NoError(t, err)
	_, err = c.Windows("acme", nil)
	require.ErrorContains(t, err, "BYDAY=+10SA asks for the 10th of a month, which has at most 5")
}
