package decide

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

var (
	t0  = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	now = t0.Add(5 * time.Minute)
)

func newState() *State { return &State{Tenant: "acme", IncidentID: "inc-1"} }

func openIncident() *amsv1.Incident {
	return &amsv1.Incident{Id: "inc-1", Tenant: "acme", Title: "disk full", State: amsv1.IncidentState_INCIDENT_STATE_OPEN}
}

func resolvedIncident() *amsv1.Incident {
	inc := openIncident()
	inc.State = amsv1.IncidentState_INCIDENT_STATE_RESOLVED
	inc.ResolvedAt = timestamppb.New(t0.Add(time.Hour))
	return inc
}

func result(outcome amsv1.ActionOutcome) *amsv1.ActionResult {
	return &amsv1.ActionResult{Id: "act-1", Tenant: "acme", IncidentId: "inc-1", Outcome: outcome, Reason: "nginx still down"}
}

func TestOnAction(t *testing.T) {
	tests := []struct {
		name         string
		resolved     bool
		outcome      amsv1.ActionOutcome
		wantEscalate bool
	}{
		{"unresolved outcome on open incident", false, amsv1.ActionOutcome_ACTION_OUTCOME_UNRESOLVED, true},
		{"failed automation", false, amsv1.ActionOutcome_ACTION_OUTCOME_FAILED, true},
		{"no runbook", false, amsv1.ActionOutcome_ACTION_OUTCOME_NO_RUNBOOK, true},
		{"skipped", false, amsv1.ActionOutcome_ACTION_OUTCOME_SKIPPED, true},
		{"awaiting approval", false, amsv1.ActionOutcome_ACTION_OUTCOME_AWAITING_APPROVAL, true},
		{"unspecified outcome", false, amsv1.ActionOutcome_ACTION_OUTCOME_UNSPECIFIED, true},
		{"automation resolved it", false, amsv1.ActionOutcome_ACTION_OUTCOME_RESOLVED, false},
		{"incident already resolved", true, amsv1.ActionOutcome_ACTION_OUTCOME_UNRESOLVED, false},
		{"incident already resolved and automation failed", true, amsv1.ActionOutcome_ACTION_OUTCOME_FAILED, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newState()
			if tt.resolved {
				require.True(t, s.OnIncident(resolvedIncident()))
			}
			require.True(t, s.OnAction(result(tt.outcome), now), "the first result changes the state")
			require.Equal(t, tt.outcome.String(), s.Outcome)
			require.Equal(t, "nginx still down", s.OutcomeReason)
			require.Equal(t, tt.wantEscalate, s.Escalated)
			if tt.wantEscalate {
				require.True(t, s.EscalatedAt.Equal(now))
			} else {
				require.True(t, s.EscalatedAt.IsZero())
			}

			// A second result (a redelivery, or a retry's result) decides nothing new.
			before := *s
			require.False(t, s.OnAction(result(amsv1.ActionOutcome_ACTION_OUTCOME_RESOLVED), now.Add(time.Minute)))
			require.Equal(t, before, *s)
		})
	}
}

func TestOnIncident(t *testing.T) {
	s := newState()
	require.True(t, s.OnIncident(openIncident()), "first snapshot sets the title")
	require.Equal(t, "disk full", s.Title)
	require.False(t, s.Resolved)
	require.False(t, s.OnIncident(openIncident()), "nothing new")

	renamed := openIncident()
	renamed.Title = "something else"
	require.False(t, s.OnIncident(renamed), "the first title is kept")
	require.Equal(t, "disk full", s.Title)

	require.True(t, s.OnIncident(resolvedIncident()))
	require.True(t, s.Resolved)
	require.True(t, s.ResolvedAt.Equal(t0.Add(time.Hour)))

	later := resolvedIncident()
	later.ResolvedAt = timestamppb.New(t0.Add(2 * time.Hour))
	require.False(t, s.OnIncident(later), "resolved is recorded once")
	require.True(t, s.ResolvedAt.Equal(t0.Add(time.Hour)))
	require.False(t, s.OnIncident(openIncident()), "an older open snapshot does not reopen")
	require.True(t, s.Resolved)

	noTime := newState()
	undated := resolvedIncident()
	undated.ResolvedAt = nil
	require.True(t, noTime.OnIncident(undated))
	require.True(t, noTime.Resolved)
	require.True(t, noTime.ResolvedAt.IsZero(), "no resolved_at stays unset, not the Unix epoch")
}

func TestEvents(t *testing.T) {
	tests := []struct {
		name  string
		steps func(s *State)
		want  []*amsv1.EscalationEvent
	}{
		{
			name:  "nothing decided",
			steps: func(s *State) { s.OnIncident(openIncident()) },
		},
		{
			name:  "automation resolved it, incident still open",
			steps: func(s *State) { s.OnAction(result(amsv1.ActionOutcome_ACTION_OUTCOME_RESOLVED), now) },
		},
		{
			name:  "paged",
			steps: func(s *State) { s.OnAction(result(amsv1.ActionOutcome_ACTION_OUTCOME_UNRESOLVED), now) },
			want: []*amsv1.EscalationEvent{{
				Id: "esc-inc-1-escalate", Tenant: "acme", IncidentId: "inc-1",
				Decision: amsv1.EscalationDecision_ESCALATION_DECISION_ESCALATE,
				Reason:   "automation did not resolve the incident (ACTION_OUTCOME_UNRESOLVED: nginx still down)",
				Level:    1, Target: "on-call",
			}},
		},
		{
			name: "resolved after the page",
			steps: func(s *State) {
				s.OnAction(result(amsv1.ActionOutcome_ACTION_OUTCOME_FAILED), now)
				s.OnIncident(resolvedIncident())
			},
			want: []*amsv1.EscalationEvent{
				{
					Id: "esc-inc-1-escalate", Tenant: "acme", IncidentId: "inc-1",
					Decision: amsv1.EscalationDecision_ESCALATION_DECISION_ESCALATE,
					Reason:   "automation did not resolve the incident (ACTION_OUTCOME_FAILED: nginx still down)",
					Level:    1, Target: "on-call",
				},
				{
					Id: "esc-inc-1-resolved", Tenant: "acme", IncidentId: "inc-1",
					Decision: amsv1.EscalationDecision_ESCALATION_DECISION_RESOLVED,
					Reason:   "incident resolved; the page is resolved too",
				},
			},
		},
		{
			name: "resolved before any page",
			steps: func(s *State) {
				s.OnIncident(resolvedIncident())
				s.OnAction(result(amsv1.ActionOutcome_ACTION_OUTCOME_UNRESOLVED), now)
			},
			want: []*amsv1.EscalationEvent{{
				Id: "esc-inc-1-resolved", Tenant: "acme", IncidentId: "inc-1",
				Decision: amsv1.EscalationDecision_ESCALATION_DECISION_RESOLVED,
				Reason:   "incident resolved before anyone was paged",
			}},
		},
		{
			name:  "resolved with no automation result",
			steps: func(s *State) { s.OnIncident(resolvedIncident()) },
			want: []*amsv1.EscalationEvent{{
				Id: "esc-inc-1-resolved", Tenant: "acme", IncidentId: "inc-1",
				Decision: amsv1.EscalationDecision_ESCALATION_DECISION_RESOLVED,
				Reason:   "incident resolved before anyone was paged",
			}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newState()
			tt.steps(s)
			got := s.Events()
			require.Len(t, got, len(tt.want))
			for i := range tt.want {
				require.True(t, proto.Equal(tt.want[i], got[i]), "event %d:\nwant %v\ngot  %v", i, tt.want[i], got[i])
			}
			// Announcing again yields the same ids: the stream stores nothing new.
			again := s.Events()
			require.Len(t, again, len(got))
			for i := range got {
				require.Equal(t, got[i].GetId(), again[i].GetId())
			}
		})
	}
}

func TestEventIDsDifferPerIncident(t *testing.T) {
	a := &State{Tenant: "acme", IncidentID: "inc-1"}
	b := &State{Tenant: "acme", IncidentID: "inc-2"}
	for _, s := range []*State{a, b} {
		s.OnAction(result(amsv1.ActionOutcome_ACTION_OUTCOME_UNRESOLVED), now)
		s.OnIncident(resolvedIncident())
	}
	ea, eb := a.Events(), b.Events()
	require.Len(t, ea, 2)
	require.Len(t, eb, 2)
	require.NotEqual(t, ea[0].GetId(), ea[1].GetId(), "decisions have distinct ids")
	require.NotEqual(t, ea[0].GetId(), eb[0].GetId())
	require.NotEqual(t, ea[1].GetId(), eb[1].GetId())
}

func TestEventName(t *testing.T) {
	tests := []struct {
		decision amsv1.EscalationDecision
		want     string
	}{
		{amsv1.EscalationDecision_ESCALATION_DECISION_ESCALATE, "escalated"},
		{amsv1.EscalationDecision_ESCALATION_DECISION_RESOLVED, "resolved"},
		{amsv1.EscalationDecision_ESCALATION_DECISION_UNSPECIFIED, "escalated"},
	}
	for _, tt := range tests {
		t.Run(tt.decision.String(), func(t *testing.T) {
			require.Equal(t, tt.want, EventName(tt.decision))
		})
	}
}

func TestStateJSONRoundTrip(t *testing.T) {
	s := newState()
	s.OnIncident(openIncident())
	s.OnAction(result(amsv1.ActionOutcome_ACTION_OUTCOME_UNRESOLVED), now)
	s.OnIncident(resolvedIncident())

	data, err := json.Marshal(s)
	require.NoError(t, err)
	var back State
	require.NoError(t, json.Unmarshal(data, &back))
	require.True(t, back.EscalatedAt.Equal(s.EscalatedAt))
	require.True(t, back.ResolvedAt.Equal(s.ResolvedAt))
	back.EscalatedAt, back.ResolvedAt = s.EscalatedAt, s.ResolvedAt
	require.Equal(t, *s, back)

	fresh, err := json.Marshal(newState())
	require.NoError(t, err)
	require.JSONEq(t, `{"tenant":"acme","incident_id":"inc-1"}`, string(fresh), "zero times and flags are omitted")
}

func TestProgressApprovalAndStorm(t *testing.T) {
	now := time.Date(2026, 12, 6, 10, 0, 0, 0, time.UTC)
	s := &State{Tenant: "acme", IncidentID: "inc-1"}
	started := &amsv1.ActionResult{Event: amsv1.ActionEvent_ACTION_EVENT_STARTED}
	require.False(t, s.OnAction(started, now), "a run starting is not an outcome")
	require.False(t, s.OnAction(&amsv1.ActionResult{Event: amsv1.ActionEvent_ACTION_EVENT_STEP}, now))
	require.Empty(t, s.Events())

	approval := &amsv1.ActionResult{Event: amsv1.ActionEvent_ACTION_EVENT_APPROVAL, Outcome: amsv1.ActionOutcome_ACTION_OUTCOME_AWAITING_APPROVAL, ApprovalStep: "reboot", Reason: "recovery step reboot waits"}
	require.True(t, s.OnAction(approval, now))
	require.False(t, s.OnAction(approval, now), "asked once per step")
	evs := s.Events()
	require.Len(t, evs, 1)
	require.Equal(t, "esc-inc-1-approval-reboot", evs[0].GetId())
	require.Contains(t, evs[0].GetReason(), "approval needed: recovery step reboot waits")

	// The run then ends resolved: no escalation beyond the approval request.
	done := &amsv1.ActionResult{Event: amsv1.ActionEvent_ACTION_EVENT_COMPLETED, Outcome: amsv1.ActionOutcome_ACTION_OUTCOME_RESOLVED}
	require.True(t, s.OnAction(done, now))
	require.False(t, s.Escalated)

	// Two incidents of one storm page with one id.
	var ids []string
	for _, id := range []string{"inc-2", "inc-3"} {
		st := &State{Tenant: "acme", IncidentID: id}
		require.True(t, st.OnAction(&amsv1.ActionResult{Event: amsv1.ActionEvent_ACTION_EVENT_COMPLETED, Outcome: amsv1.ActionOutcome_ACTION_OUTCOME_SKIPPED, StormId: "storm-acme-1"}, now))
		ids = append(ids, st.Events()[0].GetId())
	}
	require.Equal(t, []string{"esc-storm-acme-1", "esc-storm-acme-1"}, ids)
}

func TestPendingAnnouncesOnce(t *testing.T) {
	s := newState()
	s.OnIncident(openIncident())
	s.OnAction(result(amsv1.ActionOutcome_ACTION_OUTCOME_UNRESOLVED), now)
	pending := s.Pending()
	require.Len(t, pending, 1)
	require.True(t, s.MarkAnnounced(pending[0].GetId()))
	require.False(t, s.MarkAnnounced(pending[0].GetId()), "marking again changes nothing")
	require.Empty(t, s.Pending(), "the page is not announced again")

	s.OnIncident(resolvedIncident())
	pending = s.Pending()
	require.Len(t, pending, 1, "only what is new: the resolution")
	require.Equal(t, amsv1.EscalationDecision_ESCALATION_DECISION_RESOLVED, pending[0].GetDecision())
	require.Len(t, s.Events(), 2, "Events still says everything the state implies")
}
