// Package decide holds escalation's decisions for one incident as a small
// state that events from INCIDENTS and ACTIONS update in any order: page a
// human when automation did not resolve an open incident, and record the
// resolution when the incident resolves. Pure functions, no I/O.
package decide

import (
	"slices"
	"time"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// State is what escalation knows and has decided about one incident.
type State struct {
	Tenant     string    `json:"tenant"`
	IncidentID string    `json:"incident_id"`
	Title      string    `json:"title,omitempty"`
	Resolved   bool      `json:"resolved,omitempty"`
	ResolvedAt time.Time `json:"resolved_at,omitzero"`
	// Outcome of automation, once known (an amsv1.ActionOutcome name).
	Outcome       string    `json:"outcome,omitempty"`
	OutcomeReason string    `json:"outcome_reason,omitempty"`
	Escalated     bool      `json:"escalated,omitempty"`
	EscalatedAt   time.Time `json:"escalated_at,omitzero"`
	// StormID is set when the executor skipped automation for a storm of
	// the tenant's incidents: the page is the storm's, one for all of them.
	StormID string `json:"storm_id,omitempty"`
	// ApprovalStep is a recovery step waiting for a person's approval; a
	// human is asked once per step.
	ApprovalStep   string    `json:"approval_step,omitempty"`
	ApprovalReason string    `json:"approval_reason,omitempty"`
	ApprovalAt     time.Time `json:"approval_at,omitzero"`
	// Announced are the ids of the events already stored on the bus. The
	// bus drops a repeated id only within its duplicate window; this keeps
	// an incident updated an hour later from announcing its page again.
	Announced []string `json:"announced,omitempty"`
}

// Pending are the events s implies that have not been announced yet.
func (s *State) Pending() []*amsv1.EscalationEvent {
	var out []*amsv1.EscalationEvent
	for _, ev := range s.Events() {
		if !slices.Contains(s.Announced, ev.GetId()) {
			out = append(out, ev)
		}
	}
	return out
}

// MarkAnnounced records that the events with ids are stored, and reports
// whether s changed.
func (s *State) MarkAnnounced(ids ...string) bool {
	changed := false
	for _, id := range ids {
		if !slices.Contains(s.Announced, id) {
			s.Announced, changed = append(s.Announced, id), true
		}
	}
	return changed
}

// OnIncident folds an incident snapshot into s and reports whether s changed.
func (s *State) OnIncident(inc *amsv1.Incident) bool {
	changed := false
	if s.Title == "" && inc.GetTitle() != "" {
		s.Title, changed = inc.GetTitle(), true
	}
	if inc.GetState() == amsv1.IncidentState_INCIDENT_STATE_RESOLVED && !s.Resolved {
		s.Resolved, changed = true, true
		// An incident resolved without a time (an older snapshot) keeps
		// ResolvedAt unset rather than claiming 1970.
		if inc.GetResolvedAt() != nil {
			s.ResolvedAt = inc.GetResolvedAt().AsTime()
		}
	}
	return changed
}

// OnAction folds an action result into s and decides whether to escalate:
// automation that did not resolve an incident still open needs a human.
func (s *State) OnAction(res *amsv1.ActionResult, now time.Time) bool {
	switch res.GetEvent() {
	case amsv1.ActionEvent_ACTION_EVENT_APPROVAL:
		if s.ApprovalStep == res.GetApprovalStep() || s.Outcome != "" || s.Resolved {
			return false
		}
		s.ApprovalStep, s.ApprovalReason, s.ApprovalAt = res.GetApprovalStep(), res.GetReason(), now
		return true
	case amsv1.ActionEvent_ACTION_EVENT_STARTED, amsv1.ActionEvent_ACTION_EVENT_STEP:
		return false // progress, not an outcome
	}
	if s.Outcome != "" {
		return false
	}
	s.StormID = res.GetStormId()
	s.Outcome = res.GetOutcome().String()
	s.OutcomeReason = res.GetReason()
	if !s.Resolved && res.GetOutcome() != amsv1.ActionOutcome_ACTION_OUTCOME_RESOLVED {
		s.Escalated, s.EscalatedAt = true, now
	}
	return true
}

// Events are the escalation events s implies. Each has a fixed id per
// incident and decision, so announcing them again stores nothing new.
func (s *State) Events() []*amsv1.EscalationEvent {
	var out []*amsv1.EscalationEvent
	if s.ApprovalStep != "" {
		out = append(out, &amsv1.EscalationEvent{
			Id:         "esc-" + s.IncidentID + "-approval-" + s.ApprovalStep,
			Tenant:     s.Tenant,
			IncidentId: s.IncidentID,
			Decision:   amsv1.EscalationDecision_ESCALATION_DECISION_ESCALATE,
			Reason:     "approval needed: " + s.ApprovalReason,
			Level:      1,
			Target:     "on-call",
		})
	}
	if s.Escalated {
		id := "esc-" + s.IncidentID + "-escalate"
		if s.StormID != "" {
			// Every incident of a storm carries the same id, so the bus
			// stores one page for the storm.
			id = "esc-" + s.StormID
		}
		out = append(out, &amsv1.EscalationEvent{
			Id:         id,
			Tenant:     s.Tenant,
			IncidentId: s.IncidentID,
			Decision:   amsv1.EscalationDecision_ESCALATION_DECISION_ESCALATE,
			Reason:     "automation did not resolve the incident (" + s.Outcome + ": " + s.OutcomeReason + ")",
			Level:      1,
			Target:     "on-call",
		})
	}
	if s.Resolved {
		reason := "incident resolved before anyone was paged"
		if s.Escalated {
			reason = "incident resolved; the page is resolved too"
		}
		out = append(out, &amsv1.EscalationEvent{
			Id:         "esc-" + s.IncidentID + "-resolved",
			Tenant:     s.Tenant,
			IncidentId: s.IncidentID,
			Decision:   amsv1.EscalationDecision_ESCALATION_DECISION_RESOLVED,
			Reason:     reason,
		})
	}
	return out
}

// EventName is the <event> token of the escalation subject.
func EventName(d amsv1.EscalationDecision) string {
	if d == amsv1.EscalationDecision_ESCALATION_DECISION_RESOLVED {
		return "resolved"
	}
	return "escalated"
}
