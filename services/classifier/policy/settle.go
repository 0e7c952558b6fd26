package policy

import (
	"context"
	"time"

	"google.golang.org/protobuf/proto"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/classifier/internal/flapping"
	"github.com/amsproject/ams/services/classifier/internal/incident"
	"github.com/amsproject/ams/services/classifier/internal/maintenance"
)

// Settled is the outcome of Settle: the incident to store and what, if
// anything, announces it.
type Settled struct {
	// Incident is next settled, or prev itself when nothing changed.
	Incident *amsv1.Incident
	// Announcement is set when Announced.
	Announcement incident.Announcement
	Announced    bool
	Verdict      Verdict
}

// Settle is the one step the classifier and a replay share: classify next
// (prev with an alert applied, or prev itself on a review; prev is nil for
// a new incident) at now, settle its state with the flapping states of its
// alerts (flapOf) and the runtime windows, and, when anything changed,
// raise the version and decide the announcement (recorded in the incident
// as announced_version and announced_event).
func (t *Tenant) Settle(ctx context.Context, prev, next *amsv1.Incident, flapOf func(fp string) flapping.State, runtime []*maintenance.Window, now time.Time) Settled {
	subject := next.GetAlert()
	if subject == nil {
		subject = alertOf(next)
	}
	v := t.Classify(ctx, subject, next, runtime, now)
	as := incident.Assessment{
		Now:              now,
		Priority:         v.Decision.Priority,
		Category:         v.Decision.Category,
		Runbook:          v.Decision.Runbook,
		EscalationPolicy: v.Decision.EscalationPolicy,
		Labels:           v.Decision.Labels,
		MatchedRules:     v.Decision.MatchedRules,
		Suppress:         v.Suppression(),
		Delay:            v.Decision.Delay,
		ResolveDelay:     t.Incidents.ResolveDelay,
	}
	if !v.Decision.Suppressed {
		as.SuppressUntil = v.WindowsEnd
	}
	for _, ga := range next.GetAlerts() {
		if quiet, ok := t.Flapping.QuietAt(flapOf(ga.GetFingerprint())); ok {
			as.Flapping = true
			if as.FlappingQuietAt.IsZero() || quiet.Before(as.FlappingQuietAt) {
				as.FlappingQuietAt = quiet
			}
		}
	}
	settled, changed := incident.Settle(next, as)
	if prev != nil && !changed && proto.Equal(prev, next) {
		return Settled{Incident: prev, Verdict: v}
	}
	if prev != nil {
		settled.Version = prev.GetVersion() + 1
	}
	out := Settled{Incident: settled, Verdict: v}
	if ann, ok := incident.Announce(prev, settled); ok {
		settled.AnnouncedVersion = settled.GetVersion()
		settled.AnnouncedEvent = ann.Type
		out.Announcement, out.Announced = ann, true
	}
	return out
}

// alertOf stands in for the alert of an incident that has none stored (an
// incident written before incidents kept their latest alert).
func alertOf(inc *amsv1.Incident) *amsv1.Alert {
	a := &amsv1.Alert{Tenant: inc.GetTenant(), Summary: inc.GetTitle(), Severity: inc.GetSeverity(), Labels: inc.GetLabels(), Resource: inc.GetResource(), Status: amsv1.AlertStatus_ALERT_STATUS_FIRING}
	if len(inc.GetAlerts()) > 0 {
		a.Fingerprint = inc.GetAlerts()[0].GetFingerprint()
	}
	return a
}
