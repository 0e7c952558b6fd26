package rules

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

func mustLoad(tb testing.TB, doc string, opts ...Option) *Set {
	tb.Helper()
	set, err := Load([]byte(doc), "t.yaml", opts...)
	require.NoError(tb, err)
	return set
}

// diskFull is a typical Alertmanager alert as ingest normalises it.
func diskFull() *amsv1.Alert {
	return &amsv1.Alert{
		Id:          "a-1",
		Tenant:      "demo",
		Integration: "demo-alertmanager",
		Source:      "alertmanager",
		Fingerprint: "f-1",
		Status:      amsv1.AlertStatus_ALERT_STATUS_FIRING,
		Severity:    amsv1.Severity_SEVERITY_CRITICAL,
		Summary:     "Disk /var is 97% full on db-01",
		Labels: map[string]string{
			"alertname": "DiskFull", "instance": "db-01:9100", "mountpoint": "/var", "env": "prod", "job": "node",
		},
		Annotations: map[string]string{"runbook_url": "https://wiki.example.com/disk"},
		Resource:    &amsv1.Resource{Host: "db-01", InstanceId: "i-0abc", Account: "123456789012", Region: "ap-northeast-1"},
		Links:       []*amsv1.Link{{Url: "https://grafana.example.com/d/disk", Title: "graph"}},
		StartsAt:    timestamppb.New(time.Date(2026, 11, 21, 17, 20, 0, 0, time.UTC)),
		ReceivedAt:  timestamppb.New(time.Date(2026, 11, 21, 17, 20, 1, 0, time.UTC)),
	}
}

// 17:30 UTC is 02:30 in Tokyo.
var at = time.Date(2026, 11, 21, 17, 30, 0, 0, time.UTC)

func outcomes(t Trace) []string {
	var out []string
	for _, r := range t.Rules {
		out = append(out, r.Name+":"+string(r.Outcome))
	}
	return out
}

func TestEvaluate(t *testing.T) {
	cases := []struct {
		name     string
		doc      string
		want     Decision
		outcomes []string
	}{{
		name: "later matches override, labels merge",
		doc: `rules:
  - name: base
    when: "true"
    set: {priority: P3, category: disk, labels: {a: "1", b: "1"}, runbook: r1, escalation_policy: e1}
  - name: not-me
    when: "false"
    set: {priority: P5, category: never}
  - name: db
    when: alert.resource.host.startsWith("db-")
    set: {priority: P1, labels: {b: "2", c: "2"}, escalation_policy: e2}
`,
		want: Decision{
			Priority: amsv1.Priority_PRIORITY_P1, Category: "disk", Runbook: "r1", EscalationPolicy: "e2",
			Labels:       map[string]string{"a": "1", "b": "2", "c": "2"},
			MatchedRules: []string{"base", "db"},
		},
		outcomes: []string{"base:matched", "not-me:not matched", "db:matched"},
	}, {
		name: "stop ends the evaluation, only when it matches",
		doc: `rules:
  - {name: no-stop, when: "false", set: {priority: P5}, stop: true}
  - {name: first, when: "true", set: {priority: P2, category: a}, stop: true}
  - {name: second, when: "true", set: {priority: P1, category: b}}
  - {name: third, when: "true", suppress: never}
`,
		want:     Decision{Priority: amsv1.Priority_PRIORITY_P2, Category: "a", MatchedRules: []string{"first"}},
		outcomes: []string{"no-stop:not matched", "first:matched", "second:skipped", "third:skipped"},
	}, {
		name: "suppress, the latest reason wins",
		doc: `rules:
  - {name: info, when: alert.severity <= SEVERITY_INFO, suppress: informational}
  - {name: noisy, when: "true", suppress: "known noise"}
  - {name: urgent, when: "true", set: {priority: P1}}
`,
		want: Decision{Priority: amsv1.Priority_PRIORITY_P1, Suppressed: true, SuppressReason: "known noise",
			MatchedRules: []string{"noisy", "urgent"}},
		outcomes: []string{"info:not matched", "noisy:matched", "urgent:matched"},
	}, {
		name: "delay, overridden and cleared",
		doc: `rules:
  - {name: wait, when: "true", delay: 10m}
  - {name: wait-less, when: "true", delay: 2m}
`,
		want:     Decision{Delay: 2 * time.Minute, MatchedRules: []string{"wait", "wait-less"}},
		outcomes: []string{"wait:matched", "wait-less:matched"},
	}, {
		name: "a zero delay clears an earlier one",
		doc: `rules:
  - {name: wait, when: "true", delay: 10m}
  - {name: act-now, when: alert.severity == SEVERITY_CRITICAL, delay: 0s}
`,
		want:     Decision{MatchedRules: []string{"wait", "act-now"}},
		outcomes: []string{"wait:matched", "act-now:matched"},
	}, {
		name: "a stop-only rule exempts from later rules",
		doc: `rules:
  - {name: vip, when: 'alert.labels.?env.orValue("") == "prod"', stop: true}
  - {name: quiet, when: "true", suppress: quiet}
`,
		want:     Decision{MatchedRules: []string{"vip"}},
		outcomes: []string{"vip:matched", "quiet:skipped"},
	}, {
		name: "nothing matches",
		doc: `rules:
  - {name: a, when: "false", set: {priority: P1}}
`,
		outcomes: []string{"a:not matched"},
	}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d, tr := mustLoad(t, tc.doc).Evaluate(t.Context(), Input{Alert: diskFull(), Now: at})
			require.Equal(t, tc.want, d)
			require.Equal(t, tc.outcomes, outcomes(tr))
			require.NoError(t, tr.Err())
		})
	}
}

func TestEvaluateTraceChanges(t *testing.T) {
	set := mustLoad(t, `rules:
  - {name: base, when: "true", set: {priority: P3, labels: {team: ops}}, delay: 5m}
  - name: db
    when: "true"
    set: {priority: P1, category: storage, labels: {team: dba}, runbook: disk-cleanup, escalation_policy: dba}
    suppress: "backup window"
    delay: 1m
    stop: true
  - {name: after, when: "true", set: {priority: P5}}
`)
	_, tr := set.Evaluate(t.Context(), Input{Alert: diskFull(), Now: at})
	require.Equal(t, "t.yaml", tr.Source)
	require.Equal(t, "db", tr.StoppedBy)
	require.Equal(t, []Change{
		{Field: "priority", Value: "P3"},
		{Field: "labels.team", Value: "ops"},
		{Field: "delay", Value: "5m0s"},
	}, tr.Rules[0].Changes)
	require.Equal(t, []Change{
		{Field: "priority", Value: "P1", Previous: "P3"},
		{Field: "category", Value: "storage"},
		{Field: "labels.team", Value: "dba", Previous: "ops"},
		{Field: "runbook", Value: "disk-cleanup"},
		{Field: "escalation_policy", Value: "dba"},
		{Field: "suppress", Value: "backup window"},
		{Field: "delay", Value: "1m0s", Previous: "5m0s"},
		{Field: "stop", Value: "true"},
	}, tr.Rules[1].Changes)
	require.Equal(t, RuleTrace{Index: 2, Name: "after", Outcome: Skipped}, tr.Rules[2])
}

// Every way of reaching alert, incident, tenant and now that docs/rules.md
// shows, each of which must be true for diskFull at 02:30 JST.
func TestConditions(t *testing.T) {
	inc := &amsv1.Incident{Id: "inc-1", State: amsv1.IncidentState_INCIDENT_STATE_OPEN,
		Priority: amsv1.Priority_PRIORITY_P2, AlertCount: 3, Labels: map[string]string{"team": "ops"}}
	for _, when := range []string{
		// enums, in every accepted spelling
		`alert.severity >= SEVERITY_ERROR`,
		`alert.severity >= Severity.SEVERITY_ERROR`,
		`alert.severity >= ams.v1.Severity.SEVERITY_ERROR`,
		`alert.severity > SEVERITY_WARNING && alert.severity <= SEVERITY_CRITICAL`,
		`alert.severity == 4`,
		`alert.status == ALERT_STATUS_FIRING`,
		`incident.state == INCIDENT_STATE_OPEN`,
		`incident.priority == PRIORITY_P2`,
		`incident.alert_count >= 3 && incident.id != ""`,
		// labels and annotations
		`alert.labels["alertname"] == "DiskFull"`,
		`alert.labels.alertname == "DiskFull"`,
		`has(alert.labels.alertname) && !has(alert.labels.team)`,
		`"mountpoint" in alert.labels && !("team" in alert.labels)`,
		`alert.labels.?team.orValue("none") == "none"`,
		`alert.labels.exists(k, v, k == "mountpoint" && v.startsWith("/var"))`,
		`alert.annotations.runbook_url.startsWith("https://")`,
		`alert.labels.env in ["prod", "production"]`,
		// resource and other fields
		`alert.resource.host.startsWith("db-") && alert.resource.region == "ap-northeast-1"`,
		`alert.resource.host.matches("^db-[0-9]+$")`,
		`alert.source == "alertmanager" && alert.integration == "demo-alertmanager"`,
		`alert.links.exists(l, l.url.contains("grafana"))`,
		// strings extension and bindings
		`alert.summary.lowerAscii().contains("full")`,
		`alert.labels.instance.split(":")[0] == alert.resource.host`,
		`cel.bind(h, alert.resource.host, h.substring(0, 3) == "db-")`,
		// tenant and time
		`tenant.id == "demo" && tenant.name == "Demo Customer"`,
		`now - alert.starts_at == duration("10m")`,
		`now.getHours("Asia/Tokyo") == 2 && now.getHours() == 17`,
		`now.getDayOfWeek("Asia/Tokyo") == 0`, // Sunday in Tokyo
		`now.getDayOfWeek() == 6`,             // Saturday in UTC
		`now.getHours("+09:00") == 2 && now.getMinutes("-05:30") == 0 && now.getHours("-05:30") == 12`,
		`now.getFullYear("Asia/Tokyo") == 2026 && now.getMonth("Asia/Tokyo") == 10 && now.getDate("Asia/Tokyo") == 22`,
		`now.getDayOfMonth("Asia/Tokyo") == 21 && now.getDayOfYear("UTC") == 324`,
		`now.getSeconds("Asia/Tokyo") == 0 && now.getMilliseconds("Asia/Tokyo") == 0`,
		`!has(alert.ends_at) && has(alert.starts_at)`,
		`incident.labels.team == "ops"`,
	} {
		t.Run(when, func(t *testing.T) {
			set, err := Compile([]Rule{{Name: "r", When: when, Stop: true}}, "t")
			require.NoError(t, err)
			_, tr := set.Evaluate(t.Context(), Input{
				Alert: diskFull(), Incident: inc, Tenant: Tenant{ID: "demo", Name: "Demo Customer"}, Now: at,
			})
			require.Equal(t, Matched, tr.Rules[0].Outcome, tr.Rules[0].Error)
		})
	}
}

// Rules see an empty incident for a new one, and an empty alert for none.
func TestEmptyInputs(t *testing.T) {
	for _, when := range []string{
		`incident.id == "" && incident.priority == PRIORITY_UNSPECIFIED && size(incident.labels) == 0`,
		`alert.resource.host == "" && alert.severity == SEVERITY_UNSPECIFIED && size(alert.labels) == 0`,
		`tenant.id == ""`,
	} {
		set, err := Compile([]Rule{{Name: "r", When: when, Stop: true}}, "t")
		require.NoError(t, err)
		_, tr := set.Evaluate(t.Context(), Input{})
		require.Equal(t, Matched, tr.Rules[0].Outcome, "%s: %s", when, tr.Rules[0].Error)
	}
}

func TestNilSet(t *testing.T) {
	var set *Set
	d, tr := set.Evaluate(t.Context(), Input{Alert: diskFull()})
	require.Equal(t, Decision{}, d)
	require.Empty(t, tr.Rules)
	require.Zero(t, set.Len())
	require.Nil(t, set.Rules())
}

func TestRuntimeErrors(t *testing.T) {
	set := mustLoad(t, `rules:
  - {name: missing-key, when: 'alert.labels["team"] == "dba"', set: {priority: P1}}
  - {name: absorbed, when: 'alert.labels["team"] == "dba" || alert.severity == SEVERITY_CRITICAL', set: {category: storage}}
  - {name: bad-index, when: 'alert.links[5].url != ""', set: {runbook: r}}
  - {name: safe, when: 'alert.labels.?team.orValue("") != "dba"', set: {priority: P3}}
`)
	d, tr := set.Evaluate(t.Context(), Input{Alert: diskFull(), Now: at})
	require.Equal(t, Decision{Priority: amsv1.Priority_PRIORITY_P3, Category: "storage",
		MatchedRules: []string{"absorbed", "safe"}}, d)
	require.Equal(t, []string{"missing-key:error", "absorbed:matched", "bad-index:error", "safe:matched"}, outcomes(tr))
	require.Equal(t, `no such key: team (use alert.labels.?name.orValue("") or "name" in alert.labels when a key may be absent)`, tr.Rules[0].Error)
	require.Contains(t, tr.Rules[2].Error, "index out of bounds: 5")
	err := tr.Err()
	require.ErrorContains(t, err, `t.yaml: rules[0] "missing-key": no such key: team`)
	require.ErrorContains(t, err, `t.yaml: rules[2] "bad-index": index out of bounds: 5`)

	_, tr = mustLoad(t, `rules: [{name: mars, when: 'now.getHours("Mars/Olympus") == 1', stop: true},
    {name: offset, when: 'now.getHours("+25:00") == 1', stop: true}]`).Evaluate(t.Context(), Input{Now: at})
	require.Equal(t, "unknown time zone Mars/Olympus", tr.Rules[0].Error)
	require.Equal(t, `time zone offset "+25:00": want an IANA name like Asia/Tokyo or an offset like +09:00`, tr.Rules[1].Error)
}

// nested builds a comprehension that walks a 10-element list depth times
// inside itself: 10^depth iterations.
func nested(depth int) string {
	list := "[0, 1, 2, 3, 4, 5, 6, 7, 8, 9]"
	expr := "true"
	for i := depth; i > 0; i-- {
		expr = fmt.Sprintf("%s.all(x%d, x%d >= 0 && %s)", list, i, i, expr)
	}
	return expr
}

func TestCostLimit(t *testing.T) {
	set := mustLoad(t, `rules:
  - {name: runaway, when: '`+nested(8)+`', set: {priority: P1}}
  - {name: next, when: "true", set: {priority: P4}}
`)
	d, tr := set.Evaluate(t.Context(), Input{Alert: diskFull(), Now: at})
	require.Equal(t, amsv1.Priority_PRIORITY_P4, d.Priority, "the rule after the runaway one still runs")
	require.Equal(t, Errored, tr.Rules[0].Outcome)
	require.Equal(t, "cost limit 100000 exceeded: the condition does too much work (a comprehension over a large or nested list?)", tr.Rules[0].Error)
	require.LessOrEqual(t, tr.Rules[0].Cost, uint64(DefaultCostLimit+1000), "cut off near the limit")

	// The limit is configurable; an ordinary rule fits well under the default.
	low := mustLoad(t, `rules: [{name: labels, when: 'alert.labels.exists(k, v, v == "x")', stop: true}]`, WithCostLimit(5))
	_, tr = low.Evaluate(t.Context(), Input{Alert: diskFull()})
	require.Equal(t, "cost limit 5 exceeded: the condition does too much work (a comprehension over a large or nested list?)", tr.Rules[0].Error)
	_, tr = mustLoad(t, `rules: [{name: labels, when: 'alert.labels.exists(k, v, v == "x")', stop: true}]`).Evaluate(t.Context(), Input{Alert: diskFull()})
	require.Equal(t, NotMatched, tr.Rules[0].Outcome)
	require.NotZero(t, tr.Rules[0].Cost)
	require.Less(t, tr.Rules[0].Cost, uint64(100))
}

func TestContextEndsEvaluation(t *testing.T) {
	set := mustLoad(t, `rules:
  - {name: slow, when: '`+nested(12)+`', set: {priority: P1}}
  - {name: next, when: "true", set: {priority: P4}}
`, WithCostLimit(1<<62))
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	d, tr := set.Evaluate(ctx, Input{Alert: diskFull()})
	require.Equal(t, Decision{}, d)
	require.Equal(t, []string{"slow:error", "next:error"}, outcomes(tr))
	require.Contains(t, tr.Rules[0].Error, "context deadline exceeded")
	require.Equal(t, "not evaluated: context deadline exceeded", tr.Rules[1].Error)

	cancelled, cancel := context.WithCancel(t.Context())
	cancel()
	_, tr = set.Evaluate(cancelled, Input{})
	require.Equal(t, "not evaluated: context canceled", tr.Rules[0].Error)
}

func TestWriteExplain(t *testing.T) {
	set := mustLoad(t, `rules:
  - {name: info-is-informational, when: alert.severity == SEVERITY_INFO, set: {priority: P5}, suppress: informational, stop: true}
  - {name: disk-full, when: 'alert.labels.?alertname.orValue("") == "DiskFull"', set: {priority: P2, category: storage, runbook: disk-cleanup, escalation_policy: msp-oncall}}
  - {name: team-label, when: 'alert.labels["team"] == "dba"', set: {labels: {team: dba}}}
  - name: db-disk-full
    when: alert.resource.host.startsWith("db-") && alert.severity >= SEVERITY_ERROR
    set: {priority: P1, labels: {team: dba}, escalation_policy: dba-oncall}
    delay: 2m
    stop: true
  - {name: non-production, when: 'alert.labels.env != "prod"', set: {priority: P4}}
`)
	d, tr := set.Evaluate(t.Context(), Input{Alert: diskFull(), Now: at})
	var b strings.Builder
	require.NoError(t, WriteExplain(&b, d, tr))
	require.Equal(t, `rules: t.yaml

#  RULE                   RESULT       DETAIL
0  info-is-informational  not matched
1  disk-full              matched      priority=P2 category=storage runbook=disk-cleanup escalation_policy=msp-oncall
2  team-label             error        no such key: team (use alert.labels.?name.orValue("") or "name" in alert.labels when a key may be absent)
3  db-disk-full           matched      priority=P1 (was P2) labels.team=dba escalation_policy=dba-oncall (was msp-oncall) delay=2m0s stop=true
4  non-production         skipped      after stop in db-disk-full

decision:
  priority           P1                                    set by db-disk-full
  category           storage                               set by disk-full
  labels             team=dba                              set by db-disk-full
  runbook            disk-cleanup                          set by disk-full
  escalation_policy  dba-oncall                            set by db-disk-full
  suppressed         no
  delay              2m0s (act only if still firing then)  set by db-disk-full
  matched            disk-full, db-disk-full
  stopped            by db-disk-full

1 rule(s) failed at run time and counted as not matched; see RESULT error above
`, b.String())
}

// BenchmarkEvaluate evaluates 20 rules of the usual kinds against a typical alert.
func BenchmarkEvaluate(b *testing.B) {
	var doc strings.Builder
	doc.WriteString("rules:\n")
	kinds := []string{
		`alert.labels.?alertname.orValue("") in ["Watchdog", "DeadMansSwitch"]`,
		`alert.severity == SEVERITY_INFO`,
		`alert.labels.?alertname.orValue("") == "DiskFull" && alert.resource.host.startsWith("db-")`,
		`alert.labels.?alertname.orValue("") in ["HostDown", "InstanceDown"] && alert.severity >= SEVERITY_ERROR`,
		`now.getHours("Asia/Tokyo") >= 2 && now.getHours("Asia/Tokyo") < 4 && alert.labels.?job.orValue("") == "backup"`,
		`alert.labels.?env.orValue("prod") in ["staging", "dev"]`,
		`alert.summary.lowerAscii().contains("certificate")`,
		`alert.labels.exists(k, v, k.startsWith("team") && v == "dba")`,
		`alert.source == "cloudwatch" && alert.labels.?metric_name.orValue("").startsWith("StatusCheckFailed")`,
		`tenant.id == "demo" && incident.alert_count > 10`,
	}
	for i := range 20 {
		fmt.Fprintf(&doc, "  - name: rule-%d\n    when: '%s'\n    set: {priority: P%d, category: c%d, labels: {k%d: v}}\n",
			i, kinds[i%len(kinds)], i%5+1, i, i)
	}
	set := mustLoad(b, doc.String())
	in := Input{Alert: diskFull(), Incident: &amsv1.Incident{Id: "inc-1", AlertCount: 2}, Tenant: Tenant{ID: "demo", Name: "Demo"}, Now: at}
	ctx := context.Background()
	d, tr := set.Evaluate(ctx, in)
	require.NoError(b, tr.Err())
	require.NotEmpty(b, d.MatchedRules)
	b.ReportAllocs()
	for b.Loop() {
		set.Evaluate(ctx, in)
	}
}

// The conditions and functions docs/rules.md shows all type-check and run.
func TestDocExamples(t *testing.T) {
	for _, when := range []string{
		`cel.bind(h, now.getHours("Asia/Tokyo"), cel.bind(d, now.getDayOfWeek("Asia/Tokyo"),
    d >= 1 && d <= 5 && h >= 9 && h < 18))`,
		`alert.resource.host.matches("^db-[0-9]+\\.prod\\.") && alert.labels.?env.orValue("") == "prod"`,
		`incident.alert_count >= 10 && incident.state == INCIDENT_STATE_OPEN`,
		`alert.source == "cloudwatch" && alert.labels.?metric_name.orValue("").startsWith("StatusCheckFailed")`,
		`has(alert.starts_at) && alert.received_at - alert.starts_at > duration("30m")`,
		`alert.labels[?"team"].orValue("") == "dba"`,
		`alert.summary.upperAscii().split(" ").join("-").replace("A", "a").substring(0, 1).trim().indexOf("d") >= -1`,
		`alert.summary.lastIndexOf("x") < 100 && alert.summary.charAt(0) != "" && "%s".format([alert.summary]) != "" && strings.quote(alert.summary) != ""`,
		`alert.labels.all(k, v, k != "") && size(alert.labels.transformMap(k, v, v + "!")) == size(alert.labels)`,
		`alert.links.map(l, l.url).exists_one(u, u.endsWith("disk")) && alert.links.filter(l, l.title == "graph").size() == 1`,
		`now.getFullYear() > 2000 && now.getMonth() < 12 && now.getDate() > 0 && now.getDayOfMonth() < 31 && now.getDayOfYear() < 366`,
		`int(alert.severity) > 0 && string(alert.severity) == "4" && alert.ends_at == timestamp(0)`,
	} {
		t.Run(when, func(t *testing.T) {
			set, err := Compile([]Rule{{Name: "r", When: when, Stop: true}}, "t")
			require.NoError(t, err)
			_, tr := set.Evaluate(t.Context(), Input{Alert: diskFull(), Now: at})
			require.NoError(t, tr.Err())
		})
	}
}
