package app_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

func labels(alertname, host string) map[string]string {
	return map[string]string{"alertname": alertname, "host": host}
}

// TestGroupingDedupAndPriority: grouped by host, re-sent notifications are
// counted but announce nothing, and the rules set priority and runbook.
func TestGroupingDedupAndPriority(t *testing.T) {
	h := newHarness(t, `
incidents:
  group_by: [host]
rules:
  - name: disk-full
    when: 'alert.labels.?alertname.orValue("") == "DiskFull"'
    set: {priority: P1, category: storage, runbook: disk-cleanup, escalation_policy: msp-oncall}
`, 1)
	now := time.Now()
	h.send(t, alert("a1", "fp-disk-web1", firing, now, labels("DiskFull", "web-1")))
	web1 := h.waitIncident(t, func(i *amsv1.Incident) bool { return i.GetResource().GetHost() == "web-1" })
	h.waitEvents(t, web1.GetId(), 5*time.Second, opened)

	h.send(t, alert("a2", "fp-load-web1", firing, now.Add(time.Second), labels("HighLoad", "web-1")))
	h.send(t, alert("a1-again", "fp-disk-web1", firing, now.Add(2*time.Second), labels("DiskFull", "web-1")))
	h.send(t, alert("a3", "fp-disk-web2", firing, now.Add(3*time.Second), labels("DiskFull", "web-2")))
	web2 := h.waitIncident(t, func(i *amsv1.Incident) bool { return i.GetResource().GetHost() == "web-2" })
	h.waitEvents(t, web2.GetId(), 5*time.Second, opened)
	events := h.waitEvents(t, web1.GetId(), 5*time.Second, opened, updated)

	web1 = h.waitIncident(t, func(i *amsv1.Incident) bool { return i.GetId() == web1.GetId() && i.GetAlertCount() == 3 })
	require.Len(t, web1.GetAlerts(), 2, "one incident for both alerts of web-1")
	require.Equal(t, amsv1.Priority_PRIORITY_P1, web1.GetPriority(), "HighLoad joining does not lower the DiskFull priority")
	require.Equal(t, "disk-cleanup", web1.GetRunbook())
	require.Equal(t, "msp-oncall", web1.GetEscalationPolicy())
	require.Equal(t, []string{"disk-full"}, web1.GetMatchedRules())
	require.Equal(t, "updated", events[1].GetReason())
	require.Len(t, h.incidents(t), 2)
	require.Equal(t, 2.0, metric(t, h.reg, "ams_classifier_incidents_opened_total", map[string]string{"tenant": "acme", "priority": "P1"}))
}

// TestDelayActsOnlyIfStillFiring: a rule's delay holds the incident without
// an event; still firing when it ends, it opens; resolved before, nothing
// is ever announced.
func TestDelayActsOnlyIfStillFiring(t *testing.T) {
	h := newHarness(t, `
rules:
  - name: host-down
    when: 'alert.labels.?alertname.orValue("") == "HostDown"'
    set: {priority: P1}
    delay: 2s
`, 1)
	now := time.Now()
	h.send(t, alert("d1", "fp-down-a", firing, now, labels("HostDown", "a")))
	h.send(t, alert("d2", "fp-down-b", firing, now, labels("HostDown", "b")))
	a := h.waitIncident(t, func(i *amsv1.Incident) bool { return i.GetResource().GetHost() == "a" })
	require.Nil(t, a.GetActivatedAt())
	require.True(t, a.GetActAfter().AsTime().Equal(now.Add(2*time.Second).UTC()))
	// b resolves within the delay.
	h.send(t, alert("d2r", "fp-down-b", resolved, now.Add(500*time.Millisecond), labels("HostDown", "b")))
	b := h.waitIncident(t, func(i *amsv1.Incident) bool {
		return i.GetResource().GetHost() == "b" && i.GetState() == amsv1.IncidentState_INCIDENT_STATE_RESOLVED
	})
	require.Empty(t, h.eventsOf(a.GetId()), "nothing announced during the delay")

	events := h.waitEvents(t, a.GetId(), 10*time.Second, opened)
	require.Equal(t, "opened: still firing after the rules' delay", events[0].GetReason())
	require.False(t, events[0].GetIncident().GetActivatedAt().AsTime().Before(now.Add(2*time.Second)), "not before the delay")
	require.Empty(t, h.eventsOf(b.GetId()), "resolved within the delay: never announced")
	require.Nil(t, b.GetActivatedAt())
}

// TestMaintenanceOneOffEndsAndReevaluates: an alert in a one-off window is a
// suppressed incident; when the window ends it is still firing, so it opens.
func TestMaintenanceOneOffEndsAndReevaluates(t *testing.T) {
	now := time.Now().UTC()
	h := newHarness(t, fmt.Sprintf(`
maintenance:
  - name: patching
    reason: monthly patching
    match: 'alert.resource.host.startsWith("db-")'
    once: {start: %s, end: %s}
`, now.Add(-time.Minute).Format(time.RFC3339), now.Add(3*time.Second).Format(time.RFC3339)), 1)
	h.send(t, alert("m1", "fp-db", firing, now, labels("HighLoad", "db-1")))
	h.send(t, alert("m2", "fp-web", firing, now, labels("HighLoad", "web-1")))
	db := h.waitIncident(t, func(i *amsv1.Incident) bool { return i.GetResource().GetHost() == "db-1" })
	web := h.waitIncident(t, func(i *amsv1.Incident) bool { return i.GetResource().GetHost() == "web-1" })
	h.waitEvents(t, web.GetId(), 5*time.Second, opened)

	events := h.waitEvents(t, db.GetId(), 5*time.Second, suppressed)
	require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_SUPPRESSED, events[0].GetIncident().GetState())
	require.Equal(t, "maintenance patching: monthly patching", events[0].GetIncident().GetSuppressReason())

	events = h.waitEvents(t, db.GetId(), 15*time.Second, suppressed, opened)
	require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_OPEN, events[1].GetIncident().GetState())
	require.True(t, strings.HasPrefix(events[1].GetReason(), "opened: no longer suppressed"), events[1].GetReason())
	require.Equal(t, 1.0, metric(t, h.reg, "ams_classifier_incidents_suppressed_total", map[string]string{"tenant": "acme", "reason": "maintenance patching: monthly patching"}))
}

// TestMaintenanceRecurringAcrossDST: a weekly window at 01:30 New York time
// for two hours on the night clocks spring forward (2026-03-08) ends at
// 08:30 UTC, not 07:30 or 09:30: an alert at 08:00 UTC is suppressed, one at
// 08:45 UTC is not. (The suppressed one is reviewed at once, since its
// window ended long ago, and opens.)
func TestMaintenanceRecurringAcrossDST(t *testing.T) {
	h := newHarness(t, `
maintenance:
  - name: weekly-db
    match: 'true'
    recurring: {rrule: "FREQ=WEEKLY;BYDAY=SU;BYHOUR=1;BYMINUTE=30", duration: 2h, time_zone: America/New_York}
`, 1)
	in := time.Date(2026, 3, 8, 8, 0, 0, 0, time.UTC)
	out := time.Date(2026, 3, 8, 8, 45, 0, 0, time.UTC)
	before := time.Date(2026, 3, 8, 6, 15, 0, 0, time.UTC) // 01:15 EST, before the window
	h.send(t, alert("r-in", "fp-in", firing, in, labels("HighLoad", "in")))
	h.send(t, alert("r-out", "fp-out", firing, out, labels("HighLoad", "out")))
	h.send(t, alert("r-before", "fp-before", firing, before, labels("HighLoad", "before")))

	inInc := h.waitIncident(t, func(i *amsv1.Incident) bool { return i.GetResource().GetHost() == "in" })
	outInc := h.waitIncident(t, func(i *amsv1.Incident) bool { return i.GetResource().GetHost() == "out" })
	beforeInc := h.waitIncident(t, func(i *amsv1.Incident) bool { return i.GetResource().GetHost() == "before" })
	events := h.waitEvents(t, inInc.GetId(), 10*time.Second, suppressed, opened)
	require.Equal(t, "maintenance weekly-db", events[0].GetIncident().GetSuppressReason())
	require.True(t, events[0].GetIncident().GetReviewAt().AsTime().Equal(time.Date(2026, 3, 8, 8, 30, 0, 0, time.UTC)),
		"the window ends two elapsed hours after 01:30 EST: %s", events[0].GetIncident().GetReviewAt().AsTime())
	h.waitEvents(t, outInc.GetId(), 5*time.Second, opened)
	h.waitEvents(t, beforeInc.GetId(), 5*time.Second, opened)
}

// TestFlappingHoldsAndNotifiesOnce: an alert that keeps resolving and
// firing is reopened twice, then marked flapping with one notice; its
// further changes announce nothing; once quiet it resolves.
func TestFlappingHoldsAndNotifiesOnce(t *testing.T) {
	h := newHarness(t, `
incidents:
  reopen_window: 10m
  flapping: {threshold: 3, window: 10m, quiet: 2s}
`, 1)
	now := time.Now()
	var flips []*amsv1.Alert
	for i := range 10 {
		status := firing
		if i%2 == 1 {
			status = resolved
		}
		flips = append(flips, alert(fmt.Sprintf("f%d", i), "fp-flap", status, now.Add(time.Duration(i)*100*time.Millisecond), labels("Ping", "web-1")))
	}
	h.sendInOrder(t, flips...)
	id := h.waitIncident(t, func(*amsv1.Incident) bool { return true }).GetId()
	// f0 opens, f1 resolves, f2 reopens, f3 resolves, f4 (the 4th change)
	// reopens it flapping; f5..f9 change nothing visible.
	h.waitIncident(t, func(i *amsv1.Incident) bool { return i.GetAlertCount() == 10 })
	events := h.waitEvents(t, id, 5*time.Second, opened, closed, updated, closed, updated)
	require.True(t, events[4].GetIncident().GetFlapping())
	require.Contains(t, events[4].GetReason(), "flapping")
	require.Len(t, h.incidents(t), 1, "reopened, never a second incident")

	// Quiet for 2s with the alert resolved (f9): it resolves.
	events = h.waitEvents(t, id, 15*time.Second, opened, closed, updated, closed, updated, closed)
	last := events[5].GetIncident()
	require.False(t, last.GetFlapping())
	require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_RESOLVED, last.GetState())
	require.Equal(t, int32(2), last.GetReopenCount())
	require.Equal(t, 1.0, metric(t, h.reg, "ams_classifier_incidents_flapping_total", map[string]string{"tenant": "acme"}))
}

// TestResolveDelay: all alerts resolved, the incident stays open for the
// resolve delay, then resolves without any new notification.
func TestResolveDelay(t *testing.T) {
	h := newHarness(t, `
incidents:
  resolve_delay: 2s
`, 1)
	now := time.Now()
	h.send(t, alert("x1", "fp-x", firing, now, labels("Ping", "web-1")))
	inc := h.waitIncident(t, func(*amsv1.Incident) bool { return true })
	h.waitEvents(t, inc.GetId(), 5*time.Second, opened)
	h.send(t, alert("x2", "fp-x", resolved, now.Add(100*time.Millisecond), labels("Ping", "web-1")))
	pending := h.waitIncident(t, func(i *amsv1.Incident) bool { return i.GetResolveAfter() != nil })
	require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_OPEN, pending.GetState())
	// The alert's status change is announced; the incident resolves later.
	events := h.waitEvents(t, inc.GetId(), 10*time.Second, opened, updated, closed)
	require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_OPEN, events[1].GetIncident().GetState())
	require.True(t, events[2].GetIncident().GetResolvedAt().AsTime().Equal(now.Add(2100*time.Millisecond).UTC()))
}

// TestReplicasShareOneStorm: three classifier replicas on the same durable
// consumers, one storm of 300 notifications over 10 alerts of one host
// grouped into one incident: every notification is counted exactly once.
func TestReplicasShareOneStorm(t *testing.T) {
	h := newHarness(t, `
incidents:
  group_by: [host]
`, 3)
	now := time.Now()
	var wg sync.WaitGroup
	for w := range 10 {
		wg.Go(func() {
			for i := range 30 {
				// One receive time: a notification older than one applied
				// would rightly be stale, and this test counts every one.
				h.send(t, alert(fmt.Sprintf("s-%d-%d", w, i), fmt.Sprintf("fp-%d", w), firing, now, labels("Storm", "web-1")))
			}
		})
	}
	wg.Wait()
	inc := h.waitIncident(t, func(i *amsv1.Incident) bool { return i.GetAlertCount() == 300 })
	require.Len(t, inc.GetAlerts(), 10)
	require.Len(t, h.incidents(t), 1)
	opens := 0
	for _, ev := range h.eventsOf(inc.GetId()) {
		if ev.GetType() == opened {
			opens++
		}
	}
	require.Equal(t, 1, opens, "opened once")
}

// TestAutomatingAndEscalated: automation working on an incident shows it
// automating, a page escalated; a late event never moves it back, and its
// alert resolving still resolves it.
func TestAutomatingAndEscalated(t *testing.T) {
	h := newHarness(t, "", 1)
	now := time.Now()
	h.send(t, alert("p1", "fp-p", firing, now, labels("DiskFull", "web-1")))
	inc := h.waitIncident(t, func(*amsv1.Incident) bool { return true })
	h.waitEvents(t, inc.GetId(), 5*time.Second, opened)
	state := func(want amsv1.IncidentState) {
		t.Helper()
		h.waitIncident(t, func(i *amsv1.Incident) bool { return i.GetState() == want })
	}
	publish := func(subject, id string, m proto.Message) {
		t.Helper()
		_, err := h.pub.Publish(context.Background(), subject, id, m)
		require.NoError(t, err)
	}

	// A completed result is not followed (the page or the resolve is).
	publish("ams.action.completed.acme", "act-none", &amsv1.ActionResult{Id: "act-none", Tenant: "acme", IncidentId: inc.GetId(), Outcome: amsv1.ActionOutcome_ACTION_OUTCOME_NO_RUNBOOK})
	publish("ams.action.started.acme", "act-1", &amsv1.ActionResult{Id: "act-1", Tenant: "acme", IncidentId: inc.GetId()})
	state(amsv1.IncidentState_INCIDENT_STATE_AUTOMATING)
	publish("ams.escalation.escalated.acme", "esc-1", &amsv1.EscalationEvent{Id: "esc-1", Tenant: "acme", IncidentId: inc.GetId(), Decision: amsv1.EscalationDecision_ESCALATION_DECISION_ESCALATE})
	state(amsv1.IncidentState_INCIDENT_STATE_ESCALATED)
	publish("ams.action.started.acme", "act-2", &amsv1.ActionResult{Id: "act-2", Tenant: "acme", IncidentId: inc.GetId()})
	// An event for an incident this classifier never saw changes nothing.
	publish("ams.escalation.escalated.acme", "esc-x", &amsv1.EscalationEvent{Id: "esc-x", Tenant: "acme", IncidentId: "inc-unknown", Decision: amsv1.EscalationDecision_ESCALATION_DECISION_ESCALATE})

	h.send(t, alert("p2", "fp-p", resolved, now.Add(time.Second), labels("DiskFull", "web-1")))
	events := h.waitEvents(t, inc.GetId(), 5*time.Second, opened, closed)
	require.Equal(t, int64(2), events[1].GetIncident().GetVersion(), "progress is kept without a version of its own")
	require.Len(t, h.incidents(t), 1)
}
