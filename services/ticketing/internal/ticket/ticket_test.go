package ticket

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

var (
	t0  = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	now = t0.Add(time.Second)
)

// snapshot is incident inc-abc at version v; resolved snapshots resolved at t0+1h.
func snapshot(v int64, resolved bool) *amsv1.Incident {
	inc := &amsv1.Incident{
		Id:              "inc-abc",
		Tenant:          "acme",
		Title:           "disk full on web-1",
		State:           amsv1.IncidentState_INCIDENT_STATE_OPEN,
		Priority:        amsv1.Priority_PRIORITY_P2,
		Severity:        amsv1.Severity_SEVERITY_ERROR,
		Resource:        &amsv1.Resource{Host: "web-1", Region: "eu-west-1"},
		AlertCount:      v,
		Version:         v,
		FirstReceivedAt: timestamppb.New(t0),
		ActivatedAt:     timestamppb.New(t0),
		Alerts: []*amsv1.GroupedAlert{{
			Fingerprint: "fp-1", Summary: "disk full", Status: amsv1.AlertStatus_ALERT_STATUS_FIRING,
		}},
	}
	if resolved {
		inc.State = amsv1.IncidentState_INCIDENT_STATE_RESOLVED
		inc.ResolvedAt = timestamppb.New(t0.Add(time.Hour))
		inc.Alerts[0].Status = amsv1.AlertStatus_ALERT_STATUS_RESOLVED
	}
	return inc
}

func entryTexts(t *amsv1.Ticket) []string {
	var out []string
	for _, e := range t.GetEntries() {
		out = append(out, e.GetKind()+": "+e.GetText())
	}
	return out
}

func closings(t *amsv1.Ticket) int {
	n := 0
	for _, e := range t.GetEntries() {
		if strings.Contains(e.GetText(), "Ticket closed.") {
			n++
		}
	}
	return n
}

func TestID(t *testing.T) {
	tests := []struct{ incident, want string }{
		{"inc-0123abcd", "tkt-0123abcd"},
		{"inc-", "tkt-"},
		{"legacy-7", "tkt-legacy-7"},
		{"inc-inc-1", "tkt-inc-1"},
	}
	for _, tt := range tests {
		t.Run(tt.incident, func(t *testing.T) {
			require.Equal(t, tt.want, ID(tt.incident))
		})
	}
}

func TestFromIncidentCreates(t *testing.T) {
	tk := FromIncident(nil, snapshot(1, false), now)
	require.NotNil(t, tk)
	require.Equal(t, "tkt-abc", tk.GetId())
	require.Equal(t, "acme", tk.GetTenant())
	require.Equal(t, "inc-abc", tk.GetIncidentId())
	require.Equal(t, "disk full on web-1", tk.GetTitle())
	require.Equal(t, amsv1.TicketStatus_TICKET_STATUS_OPEN, tk.GetStatus())
	require.Equal(t, amsv1.Priority_PRIORITY_P2, tk.GetPriority())
	require.Equal(t, int64(1), tk.GetIncidentVersion())
	require.True(t, tk.GetCreatedAt().AsTime().Equal(now))
	require.True(t, tk.GetUpdatedAt().AsTime().Equal(now))
	require.Nil(t, tk.GetClosedAt())
	require.Equal(t, []string{
		"incident: Incident inc-abc opened: disk full on web-1.\nPriority P2, severity error.\nhost: web-1\nregion: eu-west-1\nFirst alert received 2024-05-01T12:00:00Z.",
	}, entryTexts(tk))
	require.True(t, tk.GetEntries()[0].GetTime().AsTime().Equal(now))
	require.Equal(t, amsv1.TicketEventType_TICKET_EVENT_TYPE_CREATED, EventType(tk, true))
}

func TestFromIncidentIgnoresSnapshotsNotNewer(t *testing.T) {
	tk := FromIncident(nil, snapshot(1, false), now)
	tk = FromIncident(tk, snapshot(3, false), now)
	require.NotNil(t, tk)

	tests := []struct {
		name string
		inc  *amsv1.Incident
	}{
		{"same version", snapshot(3, false)},
		{"older version", snapshot(2, false)},
		{"the opening version", snapshot(1, false)},
		{"an older resolved snapshot", snapshot(2, true)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := proto.Clone(tk)
			require.Nil(t, FromIncident(tk, tt.inc, now.Add(time.Minute)))
			require.True(t, proto.Equal(before, tk), "the ticket is not touched")
		})
	}
}

func TestFromIncidentUpdates(t *testing.T) {
	tk := FromIncident(nil, snapshot(1, false), now)
	before := proto.Clone(tk)
	inc := snapshot(2, false)
	inc.Priority = amsv1.Priority_PRIORITY_P1
	inc.Title = "disk full on web-1 and web-2"
	later := now.Add(time.Minute)

	next := FromIncident(tk, inc, later)
	require.NotNil(t, next)
	require.True(t, proto.Equal(before, tk), "FromIncident must not modify its input")
	require.Equal(t, amsv1.TicketStatus_TICKET_STATUS_OPEN, next.GetStatus())
	require.Equal(t, amsv1.Priority_PRIORITY_P1, next.GetPriority())
	require.Equal(t, "disk full on web-1 and web-2", next.GetTitle())
	require.Equal(t, int64(2), next.GetIncidentVersion())
	require.True(t, next.GetCreatedAt().AsTime().Equal(now), "created time stays")
	require.True(t, next.GetUpdatedAt().AsTime().Equal(later))
	require.Len(t, next.GetEntries(), 2)
	require.Equal(t, "incident: Incident updated (2 notifications so far): disk full is firing.", entryTexts(next)[1])
	require.Equal(t, amsv1.TicketEventType_TICKET_EVENT_TYPE_UPDATED, EventType(next, false))
}

func TestFromIncidentClosesOnceOnResolve(t *testing.T) {
	tk := FromIncident(nil, snapshot(1, false), now)
	closedAt := now.Add(time.Hour)

	closed := FromIncident(tk, snapshot(2, true), closedAt)
	require.NotNil(t, closed)
	require.Equal(t, amsv1.TicketStatus_TICKET_STATUS_CLOSED, closed.GetStatus())
	require.True(t, closed.GetClosedAt().AsTime().Equal(closedAt))
	require.Equal(t, int64(2), closed.GetIncidentVersion())
	require.Len(t, closed.GetEntries(), 2, "a resolve adds the closing entry only, no update entry")
	require.Equal(t, "incident: Incident resolved at 2024-05-01T13:00:00Z: every alert cleared. Ticket closed.", entryTexts(closed)[1])
	require.Equal(t, amsv1.TicketEventType_TICKET_EVENT_TYPE_CLOSED, EventType(closed, false))

	// The same resolved snapshot again (a redelivery) changes nothing.
	require.Nil(t, FromIncident(closed, snapshot(2, true), closedAt.Add(time.Minute)))

	// Even a newer resolved snapshot does not close it a second time.
	again := FromIncident(closed, snapshot(3, true), closedAt.Add(time.Minute))
	require.NotNil(t, again)
	require.Equal(t, 1, closings(again))
	require.Len(t, again.GetEntries(), 2)
	require.True(t, again.GetClosedAt().AsTime().Equal(closedAt), "closed time stays")
	require.Equal(t, amsv1.TicketStatus_TICKET_STATUS_CLOSED, again.GetStatus())
}

func TestFromIncidentCreatesClosedFromResolvedSnapshot(t *testing.T) {
	// The resolved snapshot arrives before the opened one.
	tk := FromIncident(nil, snapshot(2, true), now)
	require.NotNil(t, tk)
	require.Equal(t, amsv1.TicketStatus_TICKET_STATUS_CLOSED, tk.GetStatus())
	require.True(t, tk.GetClosedAt().AsTime().Equal(now))
	require.True(t, tk.GetCreatedAt().AsTime().Equal(now))
	require.Equal(t, int64(2), tk.GetIncidentVersion())
	texts := entryTexts(tk)
	require.Len(t, texts, 2)
	require.True(t, strings.HasPrefix(texts[0], "incident: Incident inc-abc opened: "))
	require.True(t, strings.HasSuffix(texts[1], "Ticket closed."))
	require.Equal(t, 1, closings(tk))
	require.Equal(t, amsv1.TicketEventType_TICKET_EVENT_TYPE_CREATED, EventType(tk, true), "creation wins")

	// The late opened snapshot is older: ignored.
	require.Nil(t, FromIncident(tk, snapshot(1, false), now.Add(time.Minute)))
}

func TestOpenedTextWithoutResourceOrTime(t *testing.T) {
	inc := snapshot(1, false)
	inc.Resource, inc.FirstReceivedAt = nil, nil
	tk := FromIncident(nil, inc, now)
	require.Equal(t, "Incident inc-abc opened: disk full on web-1.\nPriority P2, severity error.\nFirst alert received at an unknown time.",
		tk.GetEntries()[0].GetText())
}

func TestFromIncidentNoTicketUntilActivated(t *testing.T) {
	held := snapshot(1, false)
	held.ActivatedAt = nil
	require.Nil(t, FromIncident(nil, held, now), "an incident held by a delay gets no ticket")

	suppressed := snapshot(2, false)
	suppressed.ActivatedAt, suppressed.State, suppressed.SuppressReason = nil, amsv1.IncidentState_INCIDENT_STATE_SUPPRESSED, "maintenance nightly"
	require.Nil(t, FromIncident(nil, suppressed, now), "a suppressed incident gets no ticket")

	gone := snapshot(3, true)
	gone.ActivatedAt = nil
	require.Nil(t, FromIncident(nil, gone, now), "resolved while held: no ticket to open and close")

	require.NotNil(t, FromIncident(nil, snapshot(4, false), now), "once activated, the ticket opens")
}

func TestFromIncidentReopens(t *testing.T) {
	closed := FromIncident(FromIncident(nil, snapshot(1, false), now), snapshot(2, true), now)
	require.Equal(t, amsv1.TicketStatus_TICKET_STATUS_CLOSED, closed.GetStatus())

	again := snapshot(3, false)
	again.ReopenCount = 1
	reopened := FromIncident(closed, again, now)
	require.Equal(t, amsv1.TicketStatus_TICKET_STATUS_OPEN, reopened.GetStatus())
	require.Nil(t, reopened.GetClosedAt())
	require.Contains(t, entryTexts(reopened)[len(reopened.GetEntries())-1], "Incident reopened (1 times so far)")

	reclosed := FromIncident(reopened, snapshot(4, true), now)
	require.Equal(t, amsv1.TicketStatus_TICKET_STATUS_CLOSED, reclosed.GetStatus())
}

func action(id string, outcome amsv1.ActionOutcome) *amsv1.ActionResult {
	return &amsv1.ActionResult{
		Id: id, Tenant: "acme", IncidentId: "inc-abc",
		Runbook: "restart-web", Outcome: outcome, Reason: "service still down",
		Steps: []*amsv1.StepResult{
			{Name: "restart", Kind: "shell", Status: "ok", Output: "restarted nginx"},
			{Name: "check", Kind: "http", Status: "failed"},
		},
	}
}

func TestAddAction(t *testing.T) {
	tk := FromIncident(nil, snapshot(1, false), now)
	before := proto.Clone(tk)
	later := now.Add(time.Minute)

	next := AddAction(tk, action("act-1", amsv1.ActionOutcome_ACTION_OUTCOME_UNRESOLVED), later)
	require.NotNil(t, next)
	require.True(t, proto.Equal(before, tk), "AddAction must not modify its input")
	require.Equal(t, []string{"act-1"}, next.GetActionIds())
	require.Len(t, next.GetEntries(), 2)
	require.Equal(t, "action: Automation: unresolved (runbook restart-web): service still down.\n- restart [shell] ok\nrestarted nginx\n- check [http] failed",
		entryTexts(next)[1])
	require.True(t, next.GetUpdatedAt().AsTime().Equal(later))
	require.Equal(t, tk.GetStatus(), next.GetStatus())

	// The same action result again (a redelivery) is ignored.
	require.Nil(t, AddAction(next, action("act-1", amsv1.ActionOutcome_ACTION_OUTCOME_UNRESOLVED), later.Add(time.Minute)))

	// Another action is added.
	other := &amsv1.ActionResult{Id: "act-2", Outcome: amsv1.ActionOutcome_ACTION_OUTCOME_AWAITING_APPROVAL}
	third := AddAction(next, other, later.Add(time.Minute))
	require.NotNil(t, third)
	require.Equal(t, []string{"act-1", "act-2"}, third.GetActionIds())
	require.Equal(t, "action: Automation: awaiting approval.", entryTexts(third)[2])
}

func TestEventType(t *testing.T) {
	open := &amsv1.Ticket{Status: amsv1.TicketStatus_TICKET_STATUS_OPEN}
	closed := &amsv1.Ticket{Status: amsv1.TicketStatus_TICKET_STATUS_CLOSED}
	tests := []struct {
		name    string
		ticket  *amsv1.Ticket
		created bool
		want    amsv1.TicketEventType
		event   string
	}{
		{"created open", open, true, amsv1.TicketEventType_TICKET_EVENT_TYPE_CREATED, "created"},
		{"created closed", closed, true, amsv1.TicketEventType_TICKET_EVENT_TYPE_CREATED, "created"},
		{"updated", open, false, amsv1.TicketEventType_TICKET_EVENT_TYPE_UPDATED, "updated"},
		{"closed", closed, false, amsv1.TicketEventType_TICKET_EVENT_TYPE_CLOSED, "closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := EventType(tt.ticket, tt.created)
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.event, EventName(got))
		})
	}
	require.Equal(t, "updated", EventName(amsv1.TicketEventType_TICKET_EVENT_TYPE_UNSPECIFIED))
}

func TestActionEventsOnTheTicket(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	tk := &amsv1.Ticket{Id: "tk-1"}
	started := &amsv1.ActionResult{Id: "act-inc-1-started", Event: amsv1.ActionEvent_ACTION_EVENT_STARTED, Runbook: "disk-full",
		Parameters: map[string]string{"host": "web-1", "mount": "/var"}, Procedure: "1. Log in to web-1 and run df -h /var."}
	step := &amsv1.ActionResult{Id: "act-inc-1-step-1", Event: amsv1.ActionEvent_ACTION_EVENT_STEP, Steps: []*amsv1.StepResult{
		{Name: "usage", Kind: "ssh", Status: "ok", Target: "web-1", ExitCode: 0, Output: "/dev/xvda1  20G  19G  1G  95% /var", Duration: durationpb.New(1500 * time.Millisecond)},
	}}
	done := &amsv1.ActionResult{Id: "act-inc-1", Event: amsv1.ActionEvent_ACTION_EVENT_COMPLETED, Runbook: "disk-full", Outcome: amsv1.ActionOutcome_ACTION_OUTCOME_RESOLVED,
		Reason: "verify-space: healthy", Steps: step.GetSteps()}
	for _, res := range []*amsv1.ActionResult{started, step, done} {
		next := AddAction(tk, res, now)
		require.NotNil(t, next)
		tk = next
	}
	require.Nil(t, AddAction(tk, step, now), "a step announced again is written once")
	require.Len(t, tk.GetEntries(), 3)
	require.Equal(t, "Automation started: runbook disk-full.\nParameters (checked against the runbook's patterns):\n  host = web-1\n  mount = /var\n\nCheck procedure (確認手順):\n1. Log in to web-1 and run df -h /var.", tk.Entries[0].GetText())
	require.Equal(t, "- usage [ssh] ok on web-1 in 1.5s (exit 0)\n/dev/xvda1  20G  19G  1G  95% /var", tk.Entries[1].GetText())
	require.Equal(t, "Automation: resolved (runbook disk-full): verify-space: healthy.\n- usage [ssh] ok on web-1 in 1.5s (exit 0)", tk.Entries[2].GetText(), "outputs are not repeated at the end")
}
