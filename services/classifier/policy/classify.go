package policy

import (
	"context"
	"strings"
	"time"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/classifier/internal/maintenance"
	"github.com/amsproject/ams/services/classifier/internal/rules"
)

// Verdict is what a tenant's policy says about an alert at a time.
type Verdict struct {
	Decision rules.Decision
	Trace    rules.Trace
	// Windows are the maintenance windows covering the alert, the file's
	// and the runtime ones.
	Windows []*maintenance.Window
	// WindowsEnd is when the first of them stops covering; zero when none does.
	WindowsEnd time.Time
	// WindowErr names windows whose matcher failed on this alert; they are
	// left out rather than suppressing what nobody meant to hide.
	WindowErr error
	// Elapsed is how long the rules took, for the evaluation-time metric.
	Elapsed time.Duration
}

// Suppression is the reason the verdict suppresses the incident: a rule's
// reason first, then the first covering window's; "" when it does not.
func (v Verdict) Suppression() string {
	if v.Decision.Suppressed {
		return v.Decision.SuppressReason
	}
	if len(v.Windows) > 0 {
		w := v.Windows[0]
		if w.Reason != "" {
			return "maintenance " + w.Name + ": " + w.Reason
		}
		return "maintenance " + w.Name
	}
	return ""
}

// Classify evaluates the rules and the maintenance windows (the file's and
// runtime, which the caller keeps) for alert a grouped into inc (nil for a
// new incident) at now. It has no side effects.
func (t *Tenant) Classify(ctx context.Context, a *amsv1.Alert, inc *amsv1.Incident, runtime []*maintenance.Window, now time.Time) Verdict {
	start := time.Now()
	d, trace := t.Rules.Evaluate(ctx, rules.Input{Alert: a, Incident: inc, Tenant: rules.Tenant{ID: t.ID, Name: t.Name}, Now: now})
	v := Verdict{Decision: d, Trace: trace, Elapsed: time.Since(start)}
	set := maintenance.NewSet(append(append([]*maintenance.Window(nil), t.Windows...), runtime...)...)
	v.Windows, v.WindowErr = set.ActiveAt(t.ID, a, now)
	for _, w := range v.Windows {
		if end, ok := w.NextEnd(now); ok && (v.WindowsEnd.IsZero() || end.Before(v.WindowsEnd)) {
			v.WindowsEnd = end
		}
	}
	return v
}

// GroupKey is the key alerts are grouped by: the values of the group_by
// labels, or the fingerprint when the policy groups by none or the alert
// has none of them (grouping unrelated alerts on an empty value would merge
// what has nothing in common).
func (t *Tenant) GroupKey(a *amsv1.Alert) string {
	if t == nil || len(t.Incidents.GroupBy) == 0 {
		return a.GetFingerprint()
	}
	var b strings.Builder
	found := false
	b.WriteString("by")
	for _, name := range t.Incidents.GroupBy {
		v := groupValue(a, name)
		found = found || v != ""
		b.WriteString("|" + name + "=" + v)
	}
	if !found {
		return a.GetFingerprint()
	}
	return b.String()
}

func groupValue(a *amsv1.Alert, name string) string {
	r := a.GetResource()
	switch name {
	case "resource.host":
		return r.GetHost()
	case "resource.instance_id":
		return r.GetInstanceId()
	case "resource.account":
		return r.GetAccount()
	case "resource.region":
		return r.GetRegion()
	case "resource.service":
		return r.GetService()
	}
	return a.GetLabels()[name]
}
