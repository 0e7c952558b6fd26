// Package ticket is the built-in ticket store's domain logic: one ticket per
// incident, written from incident snapshots and action results that may
// arrive in any order and more than once. Every function is pure.
package ticket

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// ID is the ticket id of an incident: derived, so there is exactly one.
func ID(incidentID string) string {
	return "tkt-" + strings.TrimPrefix(incidentID, "inc-")
}

// FromIncident applies an incident snapshot to the ticket t (nil when there is
// none yet). It returns the new ticket, or nil when the snapshot is not newer
// than what the ticket already shows, or when the incident was never
// activated: one kept suppressed, or held by a delay, gets no ticket.
func FromIncident(t *amsv1.Ticket, inc *amsv1.Incident, now time.Time) *amsv1.Ticket {
	ts := timestamppb.New(now)
	if t == nil && inc.GetActivatedAt() == nil {
		return nil
	}
	if t == nil {
		t = &amsv1.Ticket{
			Id:         ID(inc.GetId()),
			Tenant:     inc.GetTenant(),
			IncidentId: inc.GetId(),
			Status:     amsv1.TicketStatus_TICKET_STATUS_OPEN,
			CreatedAt:  ts,
		}
		t.Entries = append(t.Entries, entry(ts, "incident", openedText(inc)))
	} else {
		if inc.GetVersion() <= t.GetIncidentVersion() {
			return nil
		}
		t = proto.Clone(t).(*amsv1.Ticket)
		if inc.GetState() != amsv1.IncidentState_INCIDENT_STATE_RESOLVED {
			t.Entries = append(t.Entries, entry(ts, "incident", updatedText(inc)))
			if t.GetStatus() == amsv1.TicketStatus_TICKET_STATUS_CLOSED {
				// The incident reopened: so does its ticket.
				t.Status = amsv1.TicketStatus_TICKET_STATUS_OPEN
				t.ClosedAt = nil
				t.Entries = append(t.Entries, entry(ts, "incident", fmt.Sprintf("Incident reopened (%d times so far): an alert fired again soon after it resolved. Ticket reopened.", inc.GetReopenCount())))
			}
		}
	}
	t.Title = inc.GetTitle()
	t.Priority = inc.GetPriority()
	t.IncidentVersion = inc.GetVersion()
	t.UpdatedAt = ts
	if inc.GetState() == amsv1.IncidentState_INCIDENT_STATE_RESOLVED && t.GetStatus() != amsv1.TicketStatus_TICKET_STATUS_CLOSED {
		t.Entries = append(t.Entries, entry(ts, "incident", fmt.Sprintf("Incident resolved at %s: every alert cleared. Ticket closed.", stamp(inc.GetResolvedAt()))))
		t.Status = amsv1.TicketStatus_TICKET_STATUS_CLOSED
		t.ClosedAt = ts
	}
	return t
}

// AddAction writes an action result into t. It returns nil when the result is
// already in the ticket.
func AddAction(t *amsv1.Ticket, res *amsv1.ActionResult, now time.Time) *amsv1.Ticket {
	if slices.Contains(t.GetActionIds(), res.GetId()) {
		return nil
	}
	t = proto.Clone(t).(*amsv1.Ticket)
	ts := timestamppb.New(now)
	t.ActionIds = append(t.ActionIds, res.GetId())
	t.Entries = append(t.Entries, entry(ts, "action", actionText(res)))
	t.UpdatedAt = ts
	return t
}

// EventType is the event that announces t's current state; created says
// whether this write created it.
func EventType(t *amsv1.Ticket, created bool) amsv1.TicketEventType {
	switch {
	case created:
		return amsv1.TicketEventType_TICKET_EVENT_TYPE_CREATED
	case t.GetStatus() == amsv1.TicketStatus_TICKET_STATUS_CLOSED:
		return amsv1.TicketEventType_TICKET_EVENT_TYPE_CLOSED
	default:
		return amsv1.TicketEventType_TICKET_EVENT_TYPE_UPDATED
	}
}

// EventName is the <event> token of the ticket subject.
func EventName(t amsv1.TicketEventType) string {
	switch t {
	case amsv1.TicketEventType_TICKET_EVENT_TYPE_CREATED:
		return "created"
	case amsv1.TicketEventType_TICKET_EVENT_TYPE_CLOSED:
		return "closed"
	default:
		return "updated"
	}
}

func entry(ts *timestamppb.Timestamp, kind, text string) *amsv1.TicketEntry {
	return &amsv1.TicketEntry{Time: ts, Kind: kind, Text: text}
}

func openedText(inc *amsv1.Incident) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Incident %s opened: %s.\nPriority %s, severity %s.", inc.GetId(), inc.GetTitle(),
		short(inc.GetPriority().String(), "PRIORITY_"), strings.ToLower(short(inc.GetSeverity().String(), "SEVERITY_")))
	if r := inc.GetResource(); r != nil {
		for _, kv := range [][2]string{{"host", r.GetHost()}, {"instance", r.GetInstanceId()}, {"account", r.GetAccount()}, {"region", r.GetRegion()}, {"service", r.GetService()}} {
			if kv[1] != "" {
				fmt.Fprintf(&b, "\n%s: %s", kv[0], kv[1])
			}
		}
	}
	fmt.Fprintf(&b, "\nFirst alert received %s.", stamp(inc.GetFirstReceivedAt()))
	return b.String()
}

func updatedText(inc *amsv1.Incident) string {
	var parts []string
	for _, a := range inc.GetAlerts() {
		parts = append(parts, fmt.Sprintf("%s is %s", a.GetSummary(), strings.ToLower(short(a.GetStatus().String(), "ALERT_STATUS_"))))
	}
	text := fmt.Sprintf("Incident updated (%d notifications so far): %s.", inc.GetAlertCount(), strings.Join(parts, "; "))
	if inc.GetFlapping() {
		text += " The alert is flapping: automation is held and further changes are recorded without notice until it settles."
	}
	return text
}

func actionText(res *amsv1.ActionResult) string {
	var b strings.Builder
	switch res.GetEvent() {
	case amsv1.ActionEvent_ACTION_EVENT_STARTED:
		fmt.Fprintf(&b, "Automation started: runbook %s.", res.GetRunbook())
		if len(res.GetParameters()) > 0 {
			b.WriteString("\nParameters (checked against the runbook's patterns):")
			for _, k := range slices.Sorted(maps.Keys(res.GetParameters())) {
				fmt.Fprintf(&b, "\n  %s = %s", k, res.GetParameters()[k])
			}
		}
		if res.GetDryRun() {
			b.WriteString("\nDry run: checks run, recovery steps are only reported.")
		}
		if p := strings.TrimSpace(res.GetProcedure()); p != "" {
			fmt.Fprintf(&b, "\n\nCheck procedure (確認手順):\n%s", p)
		}
		return b.String()
	case amsv1.ActionEvent_ACTION_EVENT_STEP:
		for _, s := range res.GetSteps() {
			writeStep(&b, s, true)
		}
		return strings.TrimPrefix(b.String(), "\n")
	case amsv1.ActionEvent_ACTION_EVENT_APPROVAL:
		fmt.Fprintf(&b, "Automation waits for approval: %s.", res.GetReason())
		return b.String()
	}
	outcome := strings.ToLower(strings.ReplaceAll(short(res.GetOutcome().String(), "ACTION_OUTCOME_"), "_", " "))
	fmt.Fprintf(&b, "Automation: %s", outcome)
	if res.GetRunbook() != "" {
		fmt.Fprintf(&b, " (runbook %s)", res.GetRunbook())
	}
	if res.GetReason() != "" {
		fmt.Fprintf(&b, ": %s", res.GetReason())
	}
	b.WriteString(".")
	if res.GetRail() != "" {
		fmt.Fprintf(&b, "\nStopped by the %s rail.", res.GetRail())
	}
	// A completed run lists its steps; their outputs were written with
	// each step as it finished (a result without an event is from before
	// step events and keeps its outputs here).
	withOutput := res.GetEvent() == amsv1.ActionEvent_ACTION_EVENT_UNSPECIFIED
	for _, s := range res.GetSteps() {
		writeStep(&b, s, withOutput)
	}
	return b.String()
}

func writeStep(b *strings.Builder, s *amsv1.StepResult, output bool) {
	fmt.Fprintf(b, "\n- %s [%s] %s", s.GetName(), s.GetKind(), s.GetStatus())
	if s.GetTarget() != "" {
		fmt.Fprintf(b, " on %s", s.GetTarget())
	}
	if s.GetDuration() != nil && s.GetDuration().AsDuration() > 0 {
		fmt.Fprintf(b, " in %s", s.GetDuration().AsDuration().Round(time.Millisecond))
	}
	if s.GetKind() == "ssh" || s.GetKind() == "ssm" {
		fmt.Fprintf(b, " (exit %d)", s.GetExitCode())
	}
	if s.GetReason() != "" {
		fmt.Fprintf(b, ": %s", s.GetReason())
	}
	if output && s.GetOutput() != "" {
		fmt.Fprintf(b, "\n%s", s.GetOutput())
	}
}

func short(s, prefix string) string { return strings.TrimPrefix(s, prefix) }

func stamp(ts *timestamppb.Timestamp) string {
	if ts == nil {
		return "at an unknown time"
	}
	return ts.AsTime().UTC().Format(time.RFC3339)
}
