// Package incident is the classifier's domain logic: how an alert opens an
// incident, how later notifications change it, and what event that is. It is
// pure (no bus, no clock), so every rule is unit-tested directly.
package incident

import (
	"crypto/sha256"
	"encoding/hex"
	"maps"
	"slices"
	"time"

	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// ID derives the incident id from the group key and the alert that opens it,
// so handling the same alert twice (redelivery after a crash) names the same incident.
func ID(groupKey string, a *amsv1.Alert) string {
	sum := sha256.Sum256([]byte(a.GetTenant() + "|" + groupKey + "|" + a.GetId()))
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

// Open returns a new incident of group groupKey for a firing alert; Settle
// then decides its state.
func Open(a *amsv1.Alert, groupKey, id string) *amsv1.Incident {
	recv := a.GetReceivedAt()
	return &amsv1.Incident{
		Id:              id,
		Tenant:          a.GetTenant(),
		GroupKey:        groupKey,
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
		Alert:           a,
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
	// redelivery); the caller announces the current version again.
	AlreadyApplied
	// Stale means an older notification than one already applied; ignored.
	Stale
	// Touched means counts and times changed, nothing worth an event.
	Touched
	// Updated means the incident changed in a way consumers must see.
	Updated
)

// Apply applies alert a to a copy of inc and returns the copy and the change.
// Notifications for one fingerprint are applied in the order ingest received
// them; an older one arriving late (parallel workers, redelivery) is Stale.
// Whether the incident resolves is Settle's decision, not Apply's.
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
	if isFiring(a) {
		next.Alert = a
		if a.GetSeverity() > next.GetSeverity() {
			next.Severity = a.GetSeverity()
			change = Updated
		}
	}
	return next, change
}

// Reopen turns a resolved incident back into an open one for a firing alert
// of its group (within the tenant's reopen window), and applies the alert.
func Reopen(inc *amsv1.Incident, a *amsv1.Alert) *amsv1.Incident {
	next := proto.Clone(inc).(*amsv1.Incident)
	next.State = amsv1.IncidentState_INCIDENT_STATE_OPEN
	next.ResolvedAt = nil
	next.ResolveAfter = nil
	next.ReopenCount++
	next, _ = Apply(next, a)
	return next
}

func isFiring(a *amsv1.Alert) bool {
	return a.GetStatus() == amsv1.AlertStatus_ALERT_STATUS_FIRING || a.GetStatus() == amsv1.AlertStatus_ALERT_STATUS_ACKNOWLEDGED
}

// Assessment is everything besides its alerts that decides an incident's
// state at a time: what the rules and maintenance windows say, whether an
// alert of it flaps, and the tenant's resolve delay.
type Assessment struct {
	// Now is the time of the assessment: the alert's receive time when an
	// alert is applied (so a redelivery decides the same), the clock on a review.
	Now time.Time
	// Priority is the rules' priority; unspecified keeps the severity's.
	Priority         amsv1.Priority
	Category         string
	Runbook          string
	EscalationPolicy string
	Labels           map[string]string
	MatchedRules     []string
	// Suppress is the suppression reason; "" for none.
	Suppress string
	// SuppressUntil is when the maintenance windows suppressing the incident
	// stop covering it (zero when suppressed by a rule or not at all).
	SuppressUntil time.Time
	// Delay: act only if still firing this long after the incident opened.
	Delay time.Duration
	// Flapping and FlappingQuietAt: an alert of the incident flaps, until then.
	Flapping        bool
	FlappingQuietAt time.Time
	ResolveDelay    time.Duration
}

// Settle brings inc to the state the assessment implies and reports whether
// anything changed. A resolved incident stays resolved (Reopen reopens it).
//
//   - Every alert resolved: the incident resolves, after the resolve delay;
//     never while flapping, since a flapping alert would resolve and reopen
//     it over and over.
//   - Suppressed: kept, neither automated nor paged, until the reason goes.
//   - Activated (announced as opened, so automation and paging start) once
//     it is neither suppressed nor flapping and any delay has passed.
func Settle(inc *amsv1.Incident, as Assessment) (*amsv1.Incident, bool) {
	if inc.GetState() == amsv1.IncidentState_INCIDENT_STATE_RESOLVED {
		return inc, false
	}
	next := proto.Clone(inc).(*amsv1.Incident)
	now := timestamppb.New(as.Now)

	priority := as.Priority
	if priority == amsv1.Priority_PRIORITY_UNSPECIFIED {
		priority = PriorityFor(next.GetSeverity())
	}
	grouped := len(next.GetAlerts()) > 1
	// An incident grouping several alerts keeps the classification of its
	// most urgent one: a less urgent alert joining it (the rules see the
	// latest alert) does not lower the priority or replace the runbook.
	if !grouped || inc.GetPriority() == amsv1.Priority_PRIORITY_UNSPECIFIED || priority <= inc.GetPriority() {
		next.Priority = priority
		next.Category, next.Runbook, next.EscalationPolicy = as.Category, as.Runbook, as.EscalationPolicy
		next.MatchedRules = slices.Clone(as.MatchedRules)
	}
	if len(as.Labels) > 0 {
		labels := maps.Clone(next.GetLabels())
		if labels == nil {
			labels = map[string]string{}
		}
		maps.Copy(labels, as.Labels)
		next.Labels = labels
	}
	if next.ActivatedAt == nil {
		next.ActAfter = nil
		if as.Delay > 0 {
			next.ActAfter = timestamppb.New(next.GetFirstSeen().AsTime().Add(as.Delay))
		}
	}
	next.Flapping = as.Flapping

	if allResolved(next) && !next.Flapping {
		if next.ResolveAfter == nil {
			next.ResolveAfter = timestamppb.New(as.Now.Add(as.ResolveDelay))
		}
		if !as.Now.Before(next.ResolveAfter.AsTime()) {
			next.State = amsv1.IncidentState_INCIDENT_STATE_RESOLVED
			next.ResolvedAt = next.ResolveAfter
			next.ResolveAfter = nil
			next.ReviewAt = nil
			return next, !proto.Equal(inc, next)
		}
	} else {
		next.ResolveAfter = nil
	}

	switch {
	case as.Suppress != "" && grouped && next.ActivatedAt != nil:
		// A later alert of an incident already being handled does not
		// suppress it: the alerts that activated it still need attention.
	case as.Suppress != "":
		next.State = amsv1.IncidentState_INCIDENT_STATE_SUPPRESSED
		next.SuppressReason = as.Suppress
	case next.State == amsv1.IncidentState_INCIDENT_STATE_SUPPRESSED || next.State == amsv1.IncidentState_INCIDENT_STATE_UNSPECIFIED:
		next.State = amsv1.IncidentState_INCIDENT_STATE_OPEN
		next.SuppressReason = ""
	default:
		next.SuppressReason = ""
	}
	if next.ActivatedAt == nil && next.State == amsv1.IncidentState_INCIDENT_STATE_OPEN && !next.Flapping &&
		(next.ActAfter == nil || !as.Now.Before(next.ActAfter.AsTime())) {
		next.ActivatedAt = now
	}

	var review time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (review.IsZero() || t.Before(review)) {
			review = t
		}
	}
	if next.ActivatedAt == nil && next.ActAfter != nil && as.Now.Before(next.ActAfter.AsTime()) {
		// Only while the delay runs: once it has passed, what holds the
		// incident (a window, flapping) says when to look again.
		earliest(next.ActAfter.AsTime())
	}
	if next.ResolveAfter != nil {
		earliest(next.ResolveAfter.AsTime())
	}
	if next.State == amsv1.IncidentState_INCIDENT_STATE_SUPPRESSED {
		earliest(as.SuppressUntil)
	}
	if next.Flapping {
		earliest(as.FlappingQuietAt)
	}
	next.ReviewAt = nil
	if !review.IsZero() {
		next.ReviewAt = timestamppb.New(review)
	}
	return next, !proto.Equal(inc, next)
}

// Announcement is the event a change of an incident publishes.
type Announcement struct {
	Type   amsv1.IncidentEventType
	Reason string
}

// Announce decides which event, if any, announces next after prev (nil when
// next is new). Downstream services see an incident once it is activated
// (opened, then updated and resolved) or while it is suppressed; an incident
// held by a delay or flapping from its start is announced when that ends,
// and one that resolves while held is never announced at all. While an
// alert flaps, changes are kept quiet: one event says it started flapping.
func Announce(prev, next *amsv1.Incident) (Announcement, bool) {
	if prev == nil {
		prev = &amsv1.Incident{}
	}
	announced := prev.GetAnnouncedVersion() > 0
	switch {
	case next.GetState() == amsv1.IncidentState_INCIDENT_STATE_RESOLVED:
		if !announced || prev.GetState() == amsv1.IncidentState_INCIDENT_STATE_RESOLVED {
			return Announcement{}, false
		}
		return Announcement{amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_RESOLVED, "every alert resolved"}, true
	case next.GetActivatedAt() != nil && prev.GetActivatedAt() == nil:
		reason := "opened"
		switch {
		case prev.GetFlapping():
			reason = "opened: the alert stopped flapping and is still firing"
		case prev.GetState() == amsv1.IncidentState_INCIDENT_STATE_SUPPRESSED:
			reason = "opened: no longer suppressed (" + prev.GetSuppressReason() + ") and still firing"
		case prev.GetActAfter() != nil:
			reason = "opened: still firing after the rules' delay"
		}
		return Announcement{amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_OPENED, reason}, true
	case next.GetFlapping() && !prev.GetFlapping():
		if next.GetActivatedAt() == nil && !announced {
			return Announcement{}, false
		}
		return Announcement{amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_UPDATED, "flapping: automation held, changes kept quiet until the alert settles"}, true
	case next.GetFlapping():
		return Announcement{}, false
	case next.GetActivatedAt() != nil:
		reason := "updated"
		if prev.GetReopenCount() < next.GetReopenCount() {
			reason = "reopened: an alert fired again within the reopen window"
		} else if prev.GetFlapping() {
			reason = "the alert stopped flapping"
		}
		return Announcement{amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_UPDATED, reason}, true
	case next.GetState() == amsv1.IncidentState_INCIDENT_STATE_SUPPRESSED:
		return Announcement{amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_SUPPRESSED, "suppressed: " + next.GetSuppressReason()}, true
	}
	return Announcement{}, false
}

func allResolved(inc *amsv1.Incident) bool {
	for _, g := range inc.GetAlerts() {
		if g.GetStatus() != amsv1.AlertStatus_ALERT_STATUS_RESOLVED {
			return false
		}
	}
	return true
}

// EventName is the <event> token of the incident subject.
func EventName(t amsv1.IncidentEventType) string {
	switch t {
	case amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_OPENED:
		return "opened"
	case amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_RESOLVED:
		return "resolved"
	case amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_SUPPRESSED:
		return "suppressed"
	default:
		return "updated"
	}
}
