package replay_test

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/amsproject/ams/pkg/config"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/classifier/policy"
	"github.com/amsproject/ams/services/classifier/replay"
	"github.com/amsproject/ams/services/classifier/windows"
)

var (
	acme = config.Tenant{ID: "acme", Name: "Acme"}
	t0   = time.Date(2026, 11, 20, 9, 0, 0, 0, time.UTC)
)

const (
	firing   = amsv1.AlertStatus_ALERT_STATUS_FIRING
	resolved = amsv1.AlertStatus_ALERT_STATUS_RESOLVED
)

func parse(tb testing.TB, doc string) *policy.Tenant {
	tb.Helper()
	p, err := policy.Parse([]byte(doc), "acme.yaml", acme)
	require.NoError(tb, err)
	return p
}

// ep is one alert's episode: it fires at start and, unless length is 0,
// resolves length later.
type ep struct {
	fp, host, name string
	sev            amsv1.Severity
	start, length  time.Duration
}

func (e ep) alert(status amsv1.AlertStatus, at time.Duration) *amsv1.Alert {
	sev := e.sev
	if sev == amsv1.Severity_SEVERITY_UNSPECIFIED {
		sev = amsv1.Severity_SEVERITY_WARNING
	}
	return &amsv1.Alert{
		Id:          fmt.Sprintf("%s@%s-%s", e.fp, at, status),
		Tenant:      "acme",
		Fingerprint: e.fp,
		Status:      status,
		Severity:    sev,
		Summary:     e.name + " on " + e.host,
		Labels:      map[string]string{"alertname": e.name, "host": e.host},
		Resource:    &amsv1.Resource{Host: e.host},
		ReceivedAt:  timestamppb.New(t0.Add(at)),
	}
}

// stream is the notifications of the episodes in the order ingest
// received them.
func stream(eps ...ep) []*amsv1.Alert {
	var out []*amsv1.Alert
	for _, e := range eps {
		out = append(out, e.alert(firing, e.start))
		if e.length > 0 {
			out = append(out, e.alert(resolved, e.start+e.length))
		}
	}
	slices.SortStableFunc(out, func(a, b *amsv1.Alert) int {
		return a.GetReceivedAt().AsTime().Compare(b.GetReceivedAt().AsTime())
	})
	return out
}

const base = `
rules:
  - name: disk-full
    when: 'alert.labels.?alertname.orValue("") == "DiskFull"'
    set: {priority: P2, runbook: disk-cleanup, escalation_policy: msp-oncall}
`

func requireProtoEqual(tb testing.TB, want, got proto.Message) {
	tb.Helper()
	require.True(tb, proto.Equal(want, got), "want %v\ngot  %v", want, got)
}

// diffs is the differences as "title: current | candidate", for short asserts.
func diffs(sum *amsv1.ReplaySummary) []string {
	var out []string
	for _, d := range sum.GetDifferences() {
		out = append(out, d.GetTitle()+": "+d.GetCurrent()+" | "+d.GetCandidate())
	}
	return out
}

func TestCompare(t *testing.T) {
	day := []ep{
		{fp: "a", host: "web-1", name: "DiskFull", sev: amsv1.Severity_SEVERITY_ERROR, start: 0, length: 30 * time.Minute},
		{fp: "b", host: "web-2", name: "HighLoad", start: time.Minute, length: 40 * time.Minute},
		{fp: "c", host: "stg-1", name: "HighLoad", start: 2 * time.Minute, length: 10 * time.Minute},
		{fp: "d", host: "stg-2", name: "HostDown", start: 3 * time.Minute, length: 90 * time.Second},
		{fp: "e", host: "web-3", name: "HostDown", start: 4 * time.Minute, length: time.Minute},
		{fp: "f", host: "web-4", name: "HostDown", start: 5 * time.Minute, length: 20 * time.Minute},
		{fp: "g", host: "db-1", name: "HighIOWait", start: 2 * time.Hour, length: 10 * time.Minute},
		{fp: "h", host: "db-2", name: "HighIOWait", start: 150 * time.Minute},
		{fp: "i", host: "web-5", name: "HighLoad", start: 150 * time.Minute, length: 5 * time.Minute},
		{fp: "j", host: "db-3", name: "HighIOWait", start: 5 * time.Hour, length: 5 * time.Minute},
	}
	until := t0.Add(6 * time.Hour)

	tests := []struct {
		name      string
		candidate string
		check     func(t *testing.T, sum *amsv1.ReplaySummary)
	}{{
		name:      "identical policies differ nowhere",
		candidate: base,
		check: func(t *testing.T, sum *amsv1.ReplaySummary) {
			require.Zero(t, sum.GetDifferingIncidents())
			require.Empty(t, sum.GetDifferences())
			requireProtoEqual(t, sum.GetCurrent(), sum.GetCandidate())
			requireProtoEqual(t, &amsv1.ReplayCounts{
				Incidents: 10, Activated: 10, AutomationRuns: 1, Pages: 9,
				ByPriority: map[string]int64{"P2": 1, "P3": 9},
			}, sum.GetCurrent())
		},
	}, {
		name: "a suppress rule moves pages to suppressed",
		candidate: base + `
  - name: staging-is-quiet
    when: 'alert.resource.host.startsWith("stg-")'
    suppress: staging never pages
`,
		check: func(t *testing.T, sum *amsv1.ReplaySummary) {
			c := sum.GetCandidate()
			require.EqualValues(t, 8, c.GetActivated())
			require.EqualValues(t, 7, c.GetPages())
			require.EqualValues(t, 2, c.GetSuppressed())
			require.Equal(t, map[string]int64{"staging never pages": 2}, c.GetSuppressedByReason())
			require.EqualValues(t, 2, sum.GetDifferingIncidents())
			require.Equal(t, []string{
				"HighLoad on stg-1: P3 runbook=none policy=none | suppressed: staging never pages",
				"HostDown on stg-2: P3 runbook=none policy=none | suppressed: staging never pages",
			}, diffs(sum))
		},
	}, {
		name: "a delay turns blips into held_then_resolved",
		candidate: base + `
  - name: host-down-waits
    when: 'alert.labels.?alertname.orValue("") == "HostDown"'
    delay: 5m
`,
		check: func(t *testing.T, sum *amsv1.ReplaySummary) {
			c := sum.GetCandidate()
			require.EqualValues(t, 2, c.GetHeldThenResolved(), "the 90s and 1m blips")
			require.EqualValues(t, 8, c.GetActivated(), "the 20m outage still activates, 5 minutes later")
			require.Zero(t, sum.GetCurrent().GetHeldThenResolved())
			require.Equal(t, []string{
				"HostDown on stg-2: P3 runbook=none policy=none | held, resolved before acting",
				"HostDown on web-3: P3 runbook=none policy=none | held, resolved before acting",
			}, diffs(sum))
		},
	}, {
		name: "a maintenance window suppresses its time range only",
		candidate: base + `
maintenance:
  - name: db-upgrade
    reason: upgrading the databases
    match: 'alert.resource.host.startsWith("db-")'
    once: {start: "2026-11-20T11:15:00Z", end: "2026-11-20T12:00:00Z"}
`,
		check: func(t *testing.T, sum *amsv1.ReplaySummary) {
			// db-1 (11:00-11:10) is over before the window opens; db-3
			// (14:00) comes long after it; web-5 (11:30) is not a db host.
			// db-2 fires inside (11:30) and is still firing when it ends.
			c := sum.GetCandidate()
			require.Equal(t, map[string]int64{"maintenance db-upgrade: upgrading the databases": 1}, c.GetSuppressedByReason())
			require.EqualValues(t, 10, c.GetActivated(), "db-2 is activated when the window ends")
			require.Equal(t, []string{
				"HighIOWait on db-2: P3 runbook=none policy=none | suppressed: maintenance db-upgrade: upgrading the databases, then P3 runbook=none policy=none",
			}, diffs(sum))
		},
	}, {
		name: "a priority change shows both sides",
		candidate: `
rules:
  - name: disk-full
    when: 'alert.labels.?alertname.orValue("") == "DiskFull"'
    set: {priority: P1, runbook: disk-cleanup, escalation_policy: dba-oncall}
`,
		check: func(t *testing.T, sum *amsv1.ReplaySummary) {
			require.Equal(t, map[string]int64{"P2": 1, "P3": 9}, sum.GetCurrent().GetByPriority())
			require.Equal(t, map[string]int64{"P1": 1, "P3": 9}, sum.GetCandidate().GetByPriority())
			require.Len(t, sum.GetDifferences(), 1)
			d := sum.GetDifferences()[0]
			require.Equal(t, "a", d.GetGroupKey())
			require.True(t, d.GetFirstSeen().AsTime().Equal(t0))
			require.Equal(t, "P2 runbook=disk-cleanup policy=msp-oncall", d.GetCurrent())
			require.Equal(t, "P1 runbook=disk-cleanup policy=dba-oncall", d.GetCandidate())
		},
	}, {
		name: "grouping by host differently shows incidents only one side has",
		candidate: base + `
incidents:
  group_by: [alertname]
`,
		check: func(t *testing.T, sum *amsv1.ReplaySummary) {
			require.EqualValues(t, 10, sum.GetCurrent().GetIncidents())
			require.Less(t, sum.GetCandidate().GetIncidents(), int64(10))
			require.Contains(t, diffs(sum), "HighLoad on web-2: P3 runbook=none policy=none | not an incident")
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alerts := stream(day...)
			sum, err := replay.Compare(t.Context(), replay.Alerts(alerts), parse(t, base), parse(t, tt.candidate), replay.Options{Until: until})
			require.NoError(t, err)
			require.EqualValues(t, len(alerts), sum.GetAlerts())
			require.True(t, sum.GetFrom().AsTime().Equal(t0))
			require.True(t, sum.GetTo().AsTime().Equal(t0.Add(5*time.Hour+5*time.Minute)))
			tt.check(t, sum)
		})
	}
}

// A maintenance window created at runtime applies to both sides, in its
// time range only.
func TestRuntimeWindow(t *testing.T) {
	w := &windows.Window{ID: "rt-upgrade", Tenant: "acme", Name: "upgrade", Match: "true",
		Once: &windows.Once{Start: t0.Add(time.Hour), End: t0.Add(2 * time.Hour)}}
	require.NoError(t, windows.Compile(w))
	alerts := stream(
		ep{fp: "a", host: "web-1", name: "HighLoad", start: 30 * time.Minute, length: 10 * time.Minute},
		ep{fp: "b", host: "web-2", name: "HighLoad", start: 70 * time.Minute, length: 10 * time.Minute},
		ep{fp: "c", host: "web-3", name: "HighLoad", start: 3 * time.Hour, length: 10 * time.Minute},
	)
	sum, err := replay.Compare(t.Context(), replay.Alerts(alerts), parse(t, base), parse(t, base), replay.Options{
		Windows: func(string) []*windows.Window { return []*windows.Window{w} },
	})
	require.NoError(t, err)
	require.Equal(t, map[string]int64{"maintenance upgrade": 1}, sum.GetCurrent().GetSuppressedByReason())
	require.EqualValues(t, 2, sum.GetCurrent().GetActivated())
	require.Zero(t, sum.GetDifferingIncidents())
}

func TestMaxDifferences(t *testing.T) {
	var eps []ep
	for i := range 5 {
		eps = append(eps, ep{fp: fmt.Sprint("fp-", i), host: "stg-1", name: "HighLoad", start: time.Duration(i) * time.Minute})
	}
	quiet := base + "\n  - name: q\n    when: 'true'\n    suppress: quiet\n"
	for _, tc := range []struct {
		max, want int
	}{{0, 5}, {2, 2}, {-1, 0}} {
		t.Run(fmt.Sprint(tc.max), func(t *testing.T) {
			sum, err := replay.Compare(t.Context(), replay.Alerts(stream(eps...)), parse(t, base), parse(t, quiet), replay.Options{MaxDifferences: tc.max})
			require.NoError(t, err)
			require.EqualValues(t, 5, sum.GetDifferingIncidents())
			require.Len(t, sum.GetDifferences(), tc.want)
			if tc.want > 0 {
				require.Equal(t, "fp-0", sum.GetDifferences()[0].GetGroupKey(), "earliest first")
			}
		})
	}
}

func TestProgress(t *testing.T) {
	for _, tc := range []struct {
		alerts int
		want   []int
	}{
		{0, []int{0}},
		{999, []int{999}},
		{2000, []int{1000, 2000}},
		{2500, []int{1000, 2000, 2500}},
	} {
		t.Run(fmt.Sprint(tc.alerts), func(t *testing.T) {
			var eps []ep
			for i := range tc.alerts {
				eps = append(eps, ep{fp: fmt.Sprint("fp-", i), host: "web-1", name: "HighLoad", start: time.Duration(i) * time.Second})
			}
			var got []int
			_, err := replay.Compare(t.Context(), replay.Alerts(stream(eps...)), parse(t, base), parse(t, base), replay.Options{
				Progress: func(done int) { got = append(got, done) },
			})
			require.NoError(t, err)
			require.Equal(t, tc.want, got)
		})
	}
}

func TestCompareStops(t *testing.T) {
	alerts := stream(ep{fp: "a", host: "web-1", name: "HighLoad"})
	t.Run("on a read error", func(t *testing.T) {
		failing := func(yield func(*amsv1.Alert, error) bool) {
			if yield(alerts[0], nil) {
				yield(nil, fmt.Errorf("stream gone"))
			}
		}
		_, err := replay.Compare(t.Context(), failing, parse(t, base), parse(t, base), replay.Options{})
		require.ErrorContains(t, err, "read alert 2: stream gone")
	})
	t.Run("when the context ends", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := replay.Compare(ctx, replay.Alerts(alerts), parse(t, base), parse(t, base), replay.Options{})
		require.ErrorIs(t, err, context.Canceled)
	})
	t.Run("for another tenant's candidate", func(t *testing.T) {
		other, err := policy.Parse([]byte(base), "beta.yaml", config.Tenant{ID: "beta"})
		require.NoError(t, err)
		_, err = replay.Compare(t.Context(), replay.Alerts(alerts), parse(t, base), other, replay.Options{})
		require.ErrorContains(t, err, `parse the candidate for the same tenant`)
	})
}

// Alerts the classifier would refuse, or of another tenant, change nothing.
func TestRunIgnores(t *testing.T) {
	r := replay.New(parse(t, base), nil)
	good := ep{fp: "a", host: "web-1", name: "HighLoad"}.alert(firing, 0)
	other := proto.Clone(good).(*amsv1.Alert)
	other.Tenant = "beta"
	noFP := proto.Clone(good).(*amsv1.Alert)
	noFP.Fingerprint = ""
	for _, a := range []*amsv1.Alert{good, other, noFP} {
		require.NoError(t, r.Add(t.Context(), a))
	}
	require.NoError(t, r.Finish(t.Context(), t0.Add(time.Hour)))
	require.Equal(t, 2, r.Ignored())
	require.EqualValues(t, 1, r.Counts().GetIncidents())
	out := r.Outcomes()
	require.Equal(t, replay.Outcome{Title: "HighLoad on web-1", FirstSeen: t0, Activated: true, Priority: amsv1.Priority_PRIORITY_P3},
		out[replay.Key{GroupKey: "a", FirstAlertID: good.GetId()}])
}
