// Package incident is the classifier's domain logic: how an alert opens an
// incident, how later notifications change it, and what event that is. It is
// pure (no bus, no clock), so every rule is unit-tested directly.
package incident

import (
	"crypto/sha256"
	"encoding/hex"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// GroupKey is the key alerts are grouped by: for now the fingerprint, which
// ingest already scopes to the integration.
func GroupKey(a *amsv1.Alert) string { return a.GetFingerprint() }

// ID derives the incident id from the alert that opens it, so handling the same
// alert twice (redelivery after a crash) names the same incident.
func ID(a *amsv1.Alert) string {
	sum := sha256.Sum256([]byte(a.GetTenant() + "|" + GroupKey(a) + "|" + a.GetId()))
	return "inc-" + hex.EncodeToString(sum[:8])
}

// PriorityFor maps the alert severity to the incident priority.
func PriorityFor(s amsv1.Severity) amsv1.Priority {
	switch s {
	case amsv1.Severity_SEVERITY_CRITICAL:
		return amsv1.Priority_PRIORITY_P1
	case amsv1.Severity_SEVERITY_ERROR:
		return amsv1.Priority_PRIORITY_P2
	case amsv1.Severity_SEVERITY_INFO:
		return amsv1.Priority_PRIORITY_P4
	default:
		return amsv1.Priority_PRIORITY_P3
	}
}

// Open returns a new incident for a firing alert.
func Open(a *amsv1.Alert, id string) *amsv1.Incident {
	recv := a.GetReceivedAt()
	return &amsv1.Incident{
		Id:              id,
		Tenant:          a.GetTenant(),
		GroupKey:        GroupKey(a),
		Title:           a.GetSummary(),
		State:           amsv1.IncidentState_INCIDENT_STATE_OPEN,
		Priority:        PriorityFor(a.GetSeverity()),
		Severity:        a.GetSeverity(),
		Labels:          a.GetLabels(),
		Resource:        a.GetResource(),
		AlertCount:      1,
		Alerts:          []*amsv1.GroupedAlert{grouped(a)},
		FirstSeen:       recv,
		LastSeen:        recv,
		OpenedAt:        recv,
		Version:         1,
		FirstReceivedAt: recv,
	}
}

func grouped(a *amsv1.Alert) *amsv1.GroupedAlert {
	return &amsv1.GroupedAlert{
		Fingerprint: a.GetFingerprint(),
		Status:      a.GetStatus(),
		LastAlertId: a.GetId(),
		Summary:     a.GetSummary(),
		LastSeen:    a.GetReceivedAt(),
	}
}

// Change is what applying one alert did to an incident.
type Change int

const (
	// Unchanged means there is nothing to write.
	Unchanged Change = iota
	// AlreadyApplied means this very notification was applied before (a
	// redelivery); the caller re-publishes the current event.
	AlreadyApplied
	// Stale means an older notification than one already applied; ignored.
	Stale
	// Touched means counts and times changed, nothing worth an event.
	Touched
	// Updated means the incident changed in a way consumers must see.
	Updated
	// Resolved means every grouped alert is resolved; the incident is closed.
	Resolved
)

// Apply applies alert a to a copy of inc and returns the copy and the change.
// Notifications for one fingerprint are applied in the order ingest received
// them; an older one arriving late (parallel workers, redelivery) is Stale.
func Apply(inc *amsv1.Incident, a *amsv1.Alert) (*amsv1.Incident, Change) {
	next := proto.Clone(inc).(*amsv1.Incident)
	var ga *amsv1.GroupedAlert
	for _, g := range next.Alerts {
		if g.GetFingerprint() == a.GetFingerprint() {
			ga = g
		}
	}
	if ga != nil && ga.GetLastAlertId() == a.GetId() {
		return inc, AlreadyApplied
	}
	if next.GetState() == amsv1.IncidentState_INCIDENT_STATE_RESOLVED {
		return inc, Stale
	}
	if ga != nil && a.GetReceivedAt().AsTime().Before(ga.GetLastSeen().AsTime()) {
		return inc, Stale
	}

	next.AlertCount++
	if a.GetReceivedAt().AsTime().After(next.GetLastSeen().AsTime()) {
		next.LastSeen = a.GetReceivedAt()
	}
	change := Touched
	switch {
	case ga == nil:
		next.Alerts = append(next.Alerts, grouped(a))
		change = Updated
	case ga.GetStatus() != a.GetStatus():
		ga.Status = a.GetStatus()
		change = Updated
	}
	if ga != nil {
		ga.LastAlertId, ga.LastSeen = a.GetId(), a.GetReceivedAt()
		if a.GetSummary() != "" {
			ga.Summary = a.GetSummary()
		}
	}
	if a.GetStatus() == amsv1.AlertStatus_ALERT_STATUS_FIRING && a.GetSeverity() > next.GetSeverity() {
		next.Severity = a.GetSeverity()
		next.Priority = PriorityFor(a.GetSeverity())
		change = Updated
	}
	if change == Updated && allResolved(next) {
		next.State = amsv1.IncidentState_INCIDENT_STATE_RESOLVED
		next.ResolvedAt = a.GetReceivedAt()
		if next.ResolvedAt == nil {
			next.ResolvedAt = timestamppb.Now()
		}
		change = Resolved
	}
	if change >= Updated {
		next.Version++
	}
	return next, change
}

func allResolved(inc *amsv1.Incident) bool {
	for _, g := range inc.GetAlerts() {
		if g.GetStatus() != amsv1.AlertStatus_ALERT_STATUS_RESOLVED {
			return false
		}
	}
	return true
}

// EventType is the event that publishes inc's current version.
func EventType(inc *amsv1.Incident) amsv1.IncidentEventType {
	switch {
	case inc.GetState() == amsv1.IncidentState_INCIDENT_STATE_RESOLVED:
		return amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_RESOLVED
	case inc.GetVersion() <= 1:
		return amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_OPENED
	default:
		return amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_UPDATED
	}
}

// EventName is the <event> token of the incident subject.
func EventName(t amsv1.IncidentEventType) string {
	switch t {
	case amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_OPENED:
		return "opened"
	case amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_RESOLVED:
		return "resolved"
	default:
		return "updated"
	}
}
