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
	inc := Open(a, "inc-x")

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
	require.Equal(t, amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_OPENED, EventType(inc))
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
			name:  "resolve closes the incident",
			alert: alert("a-2", resolved, warning, time.Hour),
			want:  Resolved,
			check: func(t *testing.T, next *amsv1.Incident) {
				require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_RESOLVED, next.GetState())
				require.Equal(t, int64(2), next.GetVersion())
				require.Equal(t, int64(2), next.GetAlertCount())
				require.True(t, next.GetResolvedAt().AsTime().Equal(t0.Add(time.Hour)))
				require.Equal(t, resolved, next.GetAlerts()[0].GetStatus())
				require.Equal(t, "a-2", next.GetAlerts()[0].GetLastAlertId())
				require.Equal(t, amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_RESOLVED, EventType(next))
			},
		},
		{
			name:  "resolve with a higher severity does not escalate",
			alert: alert("a-2", resolved, amsv1.Severity_SEVERITY_CRITICAL, time.Hour),
			want:  Resolved,
			check: func(t *testing.T, next *amsv1.Incident) {
				require.Equal(t, warning, next.GetSeverity())
				require.Equal(t, amsv1.Priority_PRIORITY_P3, next.GetPriority())
			},
		},
		{
			name:  "severity escalation raises priority",
			alert: alert("a-2", firing, amsv1.Severity_SEVERITY_CRITICAL, time.Minute),
			want:  Updated,
			check: func(t *testing.T, next *amsv1.Incident) {
				require.Equal(t, amsv1.Severity_SEVERITY_CRITICAL, next.GetSeverity())
				require.Equal(t, amsv1.Priority_PRIORITY_P1, next.GetPriority())
				require.Equal(t, int64(2), next.GetVersion())
				require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_OPEN, next.GetState())
				require.Equal(t, amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_UPDATED, EventType(next))
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
				require.Equal(t, int64(2), next.GetVersion())
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inc := Open(alert("a-1", firing, warning, 0), "inc-x")
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
	inc := Open(alert("a-1", firing, warning, 0), "inc-x")
	inc, change := Apply(inc, alert("a-2", resolved, warning, time.Minute))
	require.Equal(t, Resolved, change)

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

func TestApplyResolvesOnlyWhenEveryAlertResolved(t *testing.T) {
	inc := Open(alert("a-1", firing, warning, 0), "inc-x")
	other := alert("b-1", firing, warning, time.Second)
	other.Fingerprint = "fp-2"
	inc, change := Apply(inc, other)
	require.Equal(t, Updated, change)

	inc, change = Apply(inc, alert("a-2", resolved, warning, 2*time.Second))
	require.Equal(t, Updated, change, "one of two alerts resolved")
	require.Equal(t, amsv1.IncidentState_INCIDENT_STATE_OPEN, inc.GetState())
	require.Equal(t, int64(3), inc.GetVersion())

	otherResolved := alert("b-2", resolved, warning, 3*time.Second)
	otherResolved.Fingerprint = "fp-2"
	inc, change = Apply(inc, otherResolved)
	require.Equal(t, Resolved, change)
	require.Equal(t, int64(4), inc.GetVersion())
	require.Equal(t, int64(4), inc.GetAlertCount())
	require.True(t, inc.GetResolvedAt().AsTime().Equal(t0.Add(3*time.Second)))
}

func TestApplyFiringAgainAfterPartialResolve(t *testing.T) {
	inc := Open(alert("a-1", firing, warning, 0), "inc-x")
	other := alert("b-1", firing, warning, time.Second)
	other.Fingerprint = "fp-2"
	inc, _ = Apply(inc, other)
	inc, _ = Apply(inc, alert("a-2", resolved, warning, 2*time.Second))

	inc, change := Apply(inc, alert("a-3", firing, warning, 3*time.Second))
	require.Equal(t, Updated, change, "status flip back to firing is an update")
	require.Equal(t, firing, inc.GetAlerts()[0].GetStatus())
}

func TestEventType(t *testing.T) {
	tests := []struct {
		name    string
		state   amsv1.IncidentState
		version int64
		want    amsv1.IncidentEventType
		event   string
	}{
		{"first version", amsv1.IncidentState_INCIDENT_STATE_OPEN, 1, amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_OPENED, "opened"},
		{"no version", amsv1.IncidentState_INCIDENT_STATE_OPEN, 0, amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_OPENED, "opened"},
		{"later version", amsv1.IncidentState_INCIDENT_STATE_OPEN, 2, amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_UPDATED, "updated"},
		{"resolved", amsv1.IncidentState_INCIDENT_STATE_RESOLVED, 3, amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_RESOLVED, "resolved"},
		{"resolved at first version", amsv1.IncidentState_INCIDENT_STATE_RESOLVED, 1, amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_RESOLVED, "resolved"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := EventType(&amsv1.Incident{State: tt.state, Version: tt.version})
			require.Equal(t, tt.want, got)
			require.Equal(t, tt.event, EventName(got))
		})
	}
	require.Equal(t, "updated", EventName(amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_UNSPECIFIED))
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
	id := ID(base)
	require.Regexp(t, `^inc-[0-9a-f]{16}$`, id)
	require.Equal(t, id, ID(proto.Clone(base).(*amsv1.Alert)), "deterministic")
	require.Equal(t, "fp-1", GroupKey(base))

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
			require.Equal(t, id, ID(a))
		})
	}
	differ := []struct {
		name   string
		mutate func(a *amsv1.Alert)
	}{
		{"tenant", func(a *amsv1.Alert) { a.Tenant = "beta" }},
		{"fingerprint", func(a *amsv1.Alert) { a.Fingerprint = "fp-2" }},
		{"alert id", func(a *amsv1.Alert) { a.Id = "a-2" }},
	}
	for _, tt := range differ {
		t.Run("differs: "+tt.name, func(t *testing.T) {
			a := proto.Clone(base).(*amsv1.Alert)
			tt.mutate(a)
			require.NotEqual(t, id, ID(a))
		})
	}
}
