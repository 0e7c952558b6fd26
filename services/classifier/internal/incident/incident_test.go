package incident

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

var t0 = time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)

const (
	firing   = amsv1.AlertStatus_ALERT_STATUS_FIRING
	resolved = amsv1.AlertStatus_ALERT_STATUS_RESOLVED
)

// alert is a notification for fingerprint fp-1 of tenant acme, received at t0+at.
func alert(id string, status amsv1.AlertStatus, sev amsv1.Severity, at time.Duration) *amsv1.Alert {
	return &amsv1.Alert{
		Id:          id,
		Tenant:      "acme",
		Integration: "acme-am",
		Fingerprint: "fp-1",
		Status:      status,
		Severity:    sev,
		Summary:     "disk full on web-1",
		Labels:      map[string]string{"alertname": "DiskFull", "host": "web-1"},
		Resource:    &amsv1.Resource{Host: "web-1"},
		ReceivedAt:  timestamppb.New(t0.Add(at)),
	}
}

const warning = amsv1.Severity_SEVERITY_WARNING

func TestOpen(t *testing.T) {
	a := alert("a-1", firing, amsv1.Severity_SEVERITY_ERROR, 0)
	inc := Open(a, "fp-1", "inc-x")

	require.Equal(t, "inc-x", inc.GetId())
	require.Equal(t, "acme", inc.GetTenant())
	require.Equal(t, "fp-1", inc.GetGroupKey())
	require.Equal(t, "disk full on web-1", inc.GetTitle())
	require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_OPEN, inc.GetState())
	require.Equal(t, amsv1.Priority_PRIORITY_P2, inc.GetPriority())
	require.Equal(t, amsv1.Severity_SEVERITY_ERROR, inc.GetSeverity())
	require.Equal(t, a.GetLabels(), inc.GetLabels())
	require.Equal(t, "web-1", inc.GetResource().GetHost())
	require.Equal(t, int64(1), inc.GetAlertCount())
	require.Equal(t, int64(1), inc.GetVersion())
	require.Nil(t, inc.GetResolvedAt())
	for _, ts := range []*timestamppb.Timestamp{inc.GetFirstSeen(), inc.GetLastSeen(), inc.GetOpenedAt(), inc.GetFirstReceivedAt()} {
		require.True(t, ts.AsTime().Equal(t0))
	}
	require.Len(t, inc.GetAlerts(), 1)
	ga := inc.GetAlerts()[0]
	require.Equal(t, "fp-1", ga.GetFingerprint())
	require.Equal(t, firing, ga.GetStatus())
	require.Equal(t, "a-1", ga.GetLastAlertId())
	require.Equal(t, "disk full on web-1", ga.GetSummary())
	require.True(t, ga.GetLastSeen().AsTime().Equal(t0))
	require.Equal(t, a, inc.GetAlert(), "the opening alert is kept for reviews")
}

func TestApply(t *testing.T) {
	tests := []struct {
		name  string
		alert *amsv1.Alert
		want  Change
		check func(t *testing.T, next *amsv1.Incident)
	}{
		{
			name:  "same alert again is already applied",
			alert: alert("a-1", firing, warning, 0),
			want:  AlreadyApplied,
		},
		{
			name:  "same alert id even with a later time is already applied",
			alert: alert("a-1", firing, warning, time.Minute),
			want:  AlreadyApplied,
		},
		{
			name:  "re-sent firing notification touches",
			alert: alert("a-2", firing, warning, time.Minute),
			want:  Touched,
			check: func(t *testing.T, next *amsv1.Incident) {
				require.Equal(t, int64(2), next.GetAlertCount())
				require.Equal(t, int64(1), next.GetVersion(), "touching is not a new version")
				require.True(t, next.GetLastSeen().AsTime().Equal(t0.Add(time.Minute)))
				require.True(t, next.GetFirstSeen().AsTime().Equal(t0))
				require.Equal(t, "a-2", next.GetAlerts()[0].GetLastAlertId())
				require.True(t, next.GetAlerts()[0].GetLastSeen().AsTime().Equal(t0.Add(time.Minute)))
				require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_OPEN, next.GetState())
			},
		},
		{
			name:  "re-sent notification received at the same instant touches",
			alert: alert("a-2", firing, warning, 0),
			want:  Touched,
			check: func(t *testing.T, next *amsv1.Incident) {
				require.Equal(t, int64(2), next.GetAlertCount())
				require.True(t, next.GetLastSeen().AsTime().Equal(t0))
			},
		},
		{
			name:  "older notification is stale",
			alert: alert("a-0", firing, warning, -time.Second),
			want:  Stale,
		},
		{
			name:  "older resolve is stale",
			alert: alert("a-0", resolved, warning, -time.Second),
			want:  Stale,
		},
		{
			name:  "resolve marks the alert resolved; Settle resolves the incident",
			alert: alert("a-2", resolved, warning, time.Hour),
			want:  Updated,
			check: func(t *testing.T, next *amsv1.Incident) {
				require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_OPEN, next.GetState())
				require.Equal(t, int64(2), next.GetAlertCount())
				require.Equal(t, resolved, next.GetAlerts()[0].GetStatus())
				require.Equal(t, "a-2", next.GetAlerts()[0].GetLastAlertId())
				require.Equal(t, "a-1", next.GetAlert().GetId(), "the latest firing alert stays")
			},
		},
		{
			name:  "resolve with a higher severity does not escalate",
			alert: alert("a-2", resolved, amsv1.Severity_SEVERITY_CRITICAL, time.Hour),
			want:  Updated,
			check: func(t *testing.T, next *amsv1.Incident) {
				require.Equal(t, warning, next.GetSeverity())
			},
		},
		{
			name:  "severity escalation raises severity",
			alert: alert("a-2", firing, amsv1.Severity_SEVERITY_CRITICAL, time.Minute),
			want:  Updated,
			check: func(t *testing.T, next *amsv1.Incident) {
				require.Equal(t, amsv1.Severity_SEVERITY_CRITICAL, next.GetSeverity())
				require.Equal(t, "a-2", next.GetAlert().GetId())
			},
		},
		{
			name:  "lower severity does not lower priority",
			alert: alert("a-2", firing, amsv1.Severity_SEVERITY_INFO, time.Minute),
			want:  Touched,
			check: func(t *testing.T, next *amsv1.Incident) {
				require.Equal(t, warning, next.GetSeverity())
				require.Equal(t, amsv1.Priority_PRIORITY_P3, next.GetPriority())
			},
		},
		{
			name: "another fingerprint joins the incident",
			alert: func() *amsv1.Alert {
				a := alert("b-1", firing, warning, time.Minute)
				a.Fingerprint, a.Summary = "fp-2", "disk full on web-2"
				return a
			}(),
			want: Updated,
			check: func(t *testing.T, next *amsv1.Incident) {
				require.Len(t, next.GetAlerts(), 2)
				require.Equal(t, "fp-2", next.GetAlerts()[1].GetFingerprint())
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inc := Open(alert("a-1", firing, warning, 0), "fp-1", "inc-x")
			before := proto.Clone(inc)

			next, change := Apply(inc, tt.alert)
			require.Equal(t, tt.want, change)
			require.True(t, proto.Equal(before, inc), "Apply must not modify its input")
			switch tt.want {
			case AlreadyApplied, Stale, Unchanged:
				require.True(t, proto.Equal(inc, next), "nothing changes")
			default:
				require.False(t, proto.Equal(inc, next))
			}
			if tt.check != nil {
				tt.check(t, next)
			}
		})
	}
}

func TestApplyAfterResolve(t *testing.T) {
	inc := Open(alert("a-1", firing, warning, 0), "fp-1", "inc-x")
	inc, change := Apply(inc, alert("a-2", resolved, warning, time.Minute))
	require.Equal(t, Updated, change)
	inc, _ = Settle(inc, Assessment{Now: t0.Add(time.Minute)})
	require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_RESOLVED, inc.GetState())

	tests := []struct {
		name  string
		alert *amsv1.Alert
		want  Change
	}{
		{"the resolving notification again", alert("a-2", resolved, warning, time.Minute), AlreadyApplied},
		{"a later firing", alert("a-3", firing, warning, time.Hour), Stale},
		{"a later resolve", alert("a-3", resolved, warning, time.Hour), Stale},
		{"a later escalation", alert("a-3", firing, amsv1.Severity_SEVERITY_CRITICAL, time.Hour), Stale},
		{"an older firing", alert("a-0", firing, warning, -time.Hour), Stale},
		{"the opening notification", alert("a-1", firing, warning, 0), Stale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, got := Apply(inc, tt.alert)
			require.Equal(t, tt.want, got)
			require.True(t, proto.Equal(inc, next))
		})
	}
}

func TestApplyFiringAgainAfterPartialResolve(t *testing.T) {
	inc := Open(alert("a-1", firing, warning, 0), "fp-1", "inc-x")
	other := alert("b-1", firing, warning, time.Second)
	other.Fingerprint = "fp-2"
	inc, _ = Apply(inc, other)
	inc, _ = Apply(inc, alert("a-2", resolved, warning, 2*time.Second))

	inc, change := Apply(inc, alert("a-3", firing, warning, 3*time.Second))
	require.Equal(t, Updated, change, "status flip back to firing is an update")
	require.Equal(t, firing, inc.GetAlerts()[0].GetStatus())
}

func TestPriorityFor(t *testing.T) {
	tests := []struct {
		severity amsv1.Severity
		want     amsv1.Priority
	}{
		{amsv1.Severity_SEVERITY_CRITICAL, amsv1.Priority_PRIORITY_P1},
		{amsv1.Severity_SEVERITY_ERROR, amsv1.Priority_PRIORITY_P2},
		{amsv1.Severity_SEVERITY_WARNING, amsv1.Priority_PRIORITY_P3},
		{amsv1.Severity_SEVERITY_INFO, amsv1.Priority_PRIORITY_P4},
		{amsv1.Severity_SEVERITY_UNSPECIFIED, amsv1.Priority_PRIORITY_P3},
	}
	for _, tt := range tests {
		t.Run(tt.severity.String(), func(t *testing.T) {
			require.Equal(t, tt.want, PriorityFor(tt.severity))
		})
	}
}

func TestID(t *testing.T) {
	base := alert("a-1", firing, warning, 0)
	id := ID("fp-1", base)
	require.Regexp(t, `^inc-[0-9a-f]{16}$`, id)
	require.Equal(t, id, ID("fp-1", proto.Clone(base).(*amsv1.Alert)), "deterministic")
	require.NotEqual(t, id, ID("by|host=web-1", base), "the group key is part of it")

	same := []struct {
		name   string
		mutate func(a *amsv1.Alert)
	}{
		{"other status", func(a *amsv1.Alert) { a.Status = resolved }},
		{"other time", func(a *amsv1.Alert) { a.ReceivedAt = timestamppb.Now() }},
		{"other summary", func(a *amsv1.Alert) { a.Summary = "x" }},
		{"other severity", func(a *amsv1.Alert) { a.Severity = amsv1.Severity_SEVERITY_CRITICAL }},
	}
	for _, tt := range same {
		t.Run("same: "+tt.name, func(t *testing.T) {
			a := proto.Clone(base).(*amsv1.Alert)
			tt.mutate(a)
			require.Equal(t, id, ID("fp-1", a))
		})
	}
	differ := []struct {
		name   string
		mutate func(a *amsv1.Alert)
	}{
		{"tenant", func(a *amsv1.Alert) { a.Tenant = "beta" }},
		{"alert id", func(a *amsv1.Alert) { a.Id = "a-2" }},
	}
	for _, tt := range differ {
		t.Run("differs: "+tt.name, func(t *testing.T) {
			a := proto.Clone(base).(*amsv1.Alert)
			tt.mutate(a)
			require.NotEqual(t, id, ID("fp-1", a))
		})
	}
}

func TestSettle(t *testing.T) {
	open := func() *amsv1.Incident { return Open(alert("a-1", firing, warning, 0), "fp-1", "inc-x") }
	resolvedAt := func(inc *amsv1.Incident, at time.Duration) *amsv1.Incident {
		next, change := Apply(inc, alert("a-r", resolved, warning, at))
		require.Equal(t, Updated, change)
		return next
	}

	t.Run("activates at once without a delay, priority from severity", func(t *testing.T) {
		inc, changed := Settle(open(), Assessment{Now: t0})
		require.True(t, changed)
		require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_OPEN, inc.GetState())
		require.True(t, inc.GetActivatedAt().AsTime().Equal(t0))
		require.Equal(t, amsv1.Priority_PRIORITY_P3, inc.GetPriority())
		require.Nil(t, inc.GetReviewAt())
	})

	t.Run("rules set the classification", func(t *testing.T) {
		inc, _ := Settle(open(), Assessment{Now: t0, Priority: amsv1.Priority_PRIORITY_P1, Category: "storage", Runbook: "disk-cleanup",
			EscalationPolicy: "dba", Labels: map[string]string{"team": "dba"}, MatchedRules: []string{"disk-full"}})
		require.Equal(t, amsv1.Priority_PRIORITY_P1, inc.GetPriority())
		require.Equal(t, "storage", inc.GetCategory())
		require.Equal(t, "disk-cleanup", inc.GetRunbook())
		require.Equal(t, "dba", inc.GetEscalationPolicy())
		require.Equal(t, "dba", inc.GetLabels()["team"])
		require.Equal(t, "web-1", inc.GetLabels()["host"], "the alert's labels stay")
		require.Equal(t, []string{"disk-full"}, inc.GetMatchedRules())
	})

	t.Run("a delay holds activation until it passes", func(t *testing.T) {
		inc, _ := Settle(open(), Assessment{Now: t0, Delay: 2 * time.Minute})
		require.Nil(t, inc.GetActivatedAt())
		require.True(t, inc.GetActAfter().AsTime().Equal(t0.Add(2*time.Minute)))
		require.True(t, inc.GetReviewAt().AsTime().Equal(t0.Add(2*time.Minute)))

		early, changed := Settle(inc, Assessment{Now: t0.Add(time.Minute), Delay: 2 * time.Minute})
		require.False(t, changed)
		require.Nil(t, early.GetActivatedAt())

		due, changed := Settle(inc, Assessment{Now: t0.Add(2 * time.Minute), Delay: 2 * time.Minute})
		require.True(t, changed)
		require.True(t, due.GetActivatedAt().AsTime().Equal(t0.Add(2*time.Minute)))
		require.Nil(t, due.GetReviewAt())
	})

	t.Run("suppressed until the window ends, then activated", func(t *testing.T) {
		end := t0.Add(time.Hour)
		inc, _ := Settle(open(), Assessment{Now: t0, Suppress: "maintenance nightly", SuppressUntil: end})
		require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_SUPPRESSED, inc.GetState())
		require.Equal(t, "maintenance nightly", inc.GetSuppressReason())
		require.Nil(t, inc.GetActivatedAt())
		require.True(t, inc.GetReviewAt().AsTime().Equal(end))

		after, _ := Settle(inc, Assessment{Now: end})
		require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_OPEN, after.GetState())
		require.Empty(t, after.GetSuppressReason())
		require.True(t, after.GetActivatedAt().AsTime().Equal(end))
	})

	t.Run("a delay that ends inside a window: reviewed at the window's end", func(t *testing.T) {
		end := t0.Add(time.Hour)
		inc, _ := Settle(open(), Assessment{Now: t0, Delay: 5 * time.Minute, Suppress: "maintenance m", SuppressUntil: end})
		require.True(t, inc.GetReviewAt().AsTime().Equal(t0.Add(5*time.Minute)), "the first review is the delay's end")
		inc, _ = Settle(inc, Assessment{Now: t0.Add(5 * time.Minute), Delay: 5 * time.Minute, Suppress: "maintenance m", SuppressUntil: end})
		require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_SUPPRESSED, inc.GetState())
		require.True(t, inc.GetReviewAt().AsTime().Equal(end), "then the window's end, not the past delay")
		inc, _ = Settle(inc, Assessment{Now: end, Delay: 5 * time.Minute})
		require.NotNil(t, inc.GetActivatedAt())
	})

	t.Run("resolves when every alert resolved", func(t *testing.T) {
		inc, _ := Settle(open(), Assessment{Now: t0})
		inc, _ = Settle(resolvedAt(inc, time.Minute), Assessment{Now: t0.Add(time.Minute)})
		require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_RESOLVED, inc.GetState())
		require.True(t, inc.GetResolvedAt().AsTime().Equal(t0.Add(time.Minute)))

		again, changed := Settle(inc, Assessment{Now: t0.Add(time.Hour)})
		require.False(t, changed, "resolved is final until reopened")
		require.Same(t, inc, again)
	})

	t.Run("not while another alert of it fires", func(t *testing.T) {
		inc := open()
		other := alert("b-1", firing, warning, time.Second)
		other.Fingerprint = "fp-2"
		inc, _ = Apply(inc, other)
		inc, _ = Settle(resolvedAt(inc, time.Minute), Assessment{Now: t0.Add(time.Minute)})
		require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_OPEN, inc.GetState())
	})

	t.Run("the resolve delay keeps it open; firing again cancels", func(t *testing.T) {
		inc, _ := Settle(open(), Assessment{Now: t0, ResolveDelay: 5 * time.Minute})
		inc, _ = Settle(resolvedAt(inc, time.Minute), Assessment{Now: t0.Add(time.Minute), ResolveDelay: 5 * time.Minute})
		require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_OPEN, inc.GetState())
		require.True(t, inc.GetResolveAfter().AsTime().Equal(t0.Add(6*time.Minute)))
		require.True(t, inc.GetReviewAt().AsTime().Equal(t0.Add(6*time.Minute)))

		refired, _ := Apply(inc, alert("a-f", firing, warning, 3*time.Minute))
		refired, _ = Settle(refired, Assessment{Now: t0.Add(3 * time.Minute), ResolveDelay: 5 * time.Minute})
		require.Nil(t, refired.GetResolveAfter())
		require.Nil(t, refired.GetReviewAt())

		done, _ := Settle(inc, Assessment{Now: t0.Add(6 * time.Minute), ResolveDelay: 5 * time.Minute})
		require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_RESOLVED, done.GetState())
		require.True(t, done.GetResolvedAt().AsTime().Equal(t0.Add(6*time.Minute)))
	})

	t.Run("flapping holds activation and resolution until quiet", func(t *testing.T) {
		quiet := t0.Add(30 * time.Minute)
		inc, _ := Settle(open(), Assessment{Now: t0, Flapping: true, FlappingQuietAt: quiet})
		require.True(t, inc.GetFlapping())
		require.Nil(t, inc.GetActivatedAt())
		require.True(t, inc.GetReviewAt().AsTime().Equal(quiet))

		inc, _ = Settle(resolvedAt(inc, time.Minute), Assessment{Now: t0.Add(time.Minute), Flapping: true, FlappingQuietAt: quiet})
		require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_OPEN, inc.GetState(), "a flapping alert does not resolve its incident")

		inc, _ = Settle(inc, Assessment{Now: quiet})
		require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_RESOLVED, inc.GetState(), "quiet and resolved: it resolves")
	})
}

func TestReopen(t *testing.T) {
	inc, _ := Settle(Open(alert("a-1", firing, warning, 0), "fp-1", "inc-x"), Assessment{Now: t0})
	inc, _ = Apply(inc, alert("a-2", resolved, warning, time.Minute))
	inc, _ = Settle(inc, Assessment{Now: t0.Add(time.Minute)})
	require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_RESOLVED, inc.GetState())

	re := Reopen(inc, alert("a-3", firing, warning, 2*time.Minute))
	require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_OPEN, re.GetState())
	require.Nil(t, re.GetResolvedAt())
	require.Equal(t, int32(1), re.GetReopenCount())
	require.Equal(t, firing, re.GetAlerts()[0].GetStatus())
	require.NotNil(t, re.GetActivatedAt(), "it stays activated: no second opening")
}

func TestAnnounce(t *testing.T) {
	held, _ := Settle(Open(alert("a-1", firing, warning, 0), "fp-1", "inc-x"), Assessment{Now: t0, Delay: time.Minute})
	active, _ := Settle(held, Assessment{Now: t0.Add(time.Minute)})
	suppressed, _ := Settle(held, Assessment{Now: t0, Suppress: "informational"})
	announced := func(inc *amsv1.Incident) *amsv1.Incident {
		c := proto.Clone(inc).(*amsv1.Incident)
		c.AnnouncedVersion = c.GetVersion()
		return c
	}
	resolve := func(inc *amsv1.Incident) *amsv1.Incident {
		c := proto.Clone(inc).(*amsv1.Incident)
		c.State = amsv1.IncidentState_INCIDENT_STATE_RESOLVED
		return c
	}
	flapping := func(inc *amsv1.Incident) *amsv1.Incident {
		c := proto.Clone(inc).(*amsv1.Incident)
		c.Flapping = true
		return c
	}
	tests := []struct {
		name       string
		prev, next *amsv1.Incident
		want       amsv1.IncidentEventType // unspecified: no event
	}{
		{"new and active", nil, active, amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_OPENED},
		{"new and held", nil, held, amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_UNSPECIFIED},
		{"new and suppressed", nil, suppressed, amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_SUPPRESSED},
		{"delay passed", held, active, amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_OPENED},
		{"changed while active", announced(active), active, amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_UPDATED},
		{"resolved after being announced", announced(active), resolve(active), amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_RESOLVED},
		{"resolved while held, never announced", held, resolve(held), amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_UNSPECIFIED},
		{"starts flapping", announced(active), flapping(active), amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_UPDATED},
		{"changes while flapping are quiet", announced(flapping(active)), flapping(active), amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_UNSPECIFIED},
		{"stops flapping", announced(flapping(active)), active, amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_UPDATED},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := Announce(tt.prev, tt.next)
			require.Equal(t, tt.want != amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_UNSPECIFIED, ok)
			require.Equal(t, tt.want, got.Type)
			if ok {
				require.NotEmpty(t, got.Reason)
			}
		})
	}
	require.Equal(t, "suppressed", EventName(amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_SUPPRESSED))
	require.Equal(t, "opened", EventName(amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_OPENED))
	require.Equal(t, "resolved", EventName(amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_RESOLVED))
	require.Equal(t, "updated", EventName(amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_UPDATED))
}
