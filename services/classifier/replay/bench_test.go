package replay_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/types/known/timestamppb"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/classifier/replay"
)

// benchRules is a classifier file of 20 rules in the style of the demo
// tenant's; extra is appended to it (the candidate's change).
func benchRules(extra string) string {
	var b strings.Builder
	b.WriteString("incidents:\n  group_by: [host]\n  resolve_delay: 1m\n  reopen_window: 30m\nrules:\n")
	b.WriteString(`  - name: heartbeat
    when: 'alert.labels.?alertname.orValue("") == "Watchdog"'
    suppress: heartbeat
    stop: true
  - name: info
    when: alert.severity == SEVERITY_INFO
    set: {priority: P5}
    suppress: informational
    stop: true
  - name: backup-noise
    when: 'cel.bind(h, now.getHours("Asia/Tokyo"), h >= 2 && h < 4) && alert.resource.host.startsWith("db-")'
    suppress: nightly backup
    stop: true
`)
	for i := range 15 {
		fmt.Fprintf(&b, `  - name: team-%d
    when: 'alert.labels.?alertname.orValue("") == "Alert%d" && alert.severity >= SEVERITY_WARNING'
    set: {priority: P%d, category: c%d, runbook: rb-%d, escalation_policy: team-%d, labels: {team: t%d}}
`, i, i, 1+i%4, i, i, i%3, i)
	}
	b.WriteString(`  - name: staging
    when: 'alert.resource.host.startsWith("stg-")'
    set: {priority: P4, escalation_policy: business-hours}
  - name: busy
    when: incident.alert_count >= 10
    set: {priority: P2}
`)
	b.WriteString(extra)
	return b.String()
}

// benchAlerts is n notifications of 500 alerts on 50 hosts over about a day.
func benchAlerts(n int) []*amsv1.Alert {
	rnd := rand.New(rand.NewPCG(1, 2))
	hosts := []string{"web", "db", "stg", "app", "lb"}
	status := map[string]amsv1.AlertStatus{}
	at := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC)
	out := make([]*amsv1.Alert, 0, n)
	for i := range n {
		at = at.Add(time.Duration(rnd.IntN(17_000)) * time.Millisecond)
		host := fmt.Sprintf("%s-%d", hosts[rnd.IntN(len(hosts))], rnd.IntN(10))
		name := fmt.Sprint("Alert", rnd.IntN(20))
		if rnd.IntN(50) == 0 {
			name = "Watchdog"
		}
		fp := host + "/" + name
		st := amsv1.AlertStatus_ALERT_STATUS_FIRING
		if status[fp] == st && rnd.IntN(2) == 0 {
			st = amsv1.AlertStatus_ALERT_STATUS_RESOLVED
		}
		status[fp] = st
		out = append(out, &amsv1.Alert{
			Id: fmt.Sprint("n-", i), Tenant: "acme", Fingerprint: fp, Status: st,
			Severity: amsv1.Severity(1 + rnd.IntN(4)), Summary: name + " on " + host,
			Labels:   map[string]string{"alertname": name, "host": host, "env": "prod"},
			Resource: &amsv1.Resource{Host: host}, ReceivedAt: timestamppb.New(at),
		})
	}
	return out
}

func BenchmarkCompare(b *testing.B) {
	current := parse(b, benchRules(""))
	candidate := parse(b, benchRules(`  - name: staging-quiet
    when: 'alert.resource.host.startsWith("stg-")'
    suppress: staging
  - name: app-waits
    when: 'alert.resource.host.startsWith("app-")'
    delay: 5m
`))
	alerts := benchAlerts(10_000)
	until := alerts[len(alerts)-1].GetReceivedAt().AsTime().Add(time.Hour)
	var sum *amsv1.ReplaySummary
	for b.Loop() {
		var err error
		sum, err = replay.Compare(b.Context(), replay.Alerts(alerts), current, candidate, replay.Options{Until: until})
		require.NoError(b, err)
	}
	require.NotZero(b, sum.GetDifferingIncidents())
	b.ReportMetric(float64(b.N*len(alerts))/b.Elapsed().Seconds(), "alerts/s")
}
