package policy

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/types/known/durationpb"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/classifier/internal/rules"
)

// Explain renders a verdict as the admin API answers `amsctl rules explain`:
// every rule's outcome, the decision, the covering maintenance windows, and
// the same as text for people.
func (v Verdict) Explain() (*amsv1.ExplainAlertResponse, error) {
	d := v.Decision
	out := &amsv1.ExplainAlertResponse{
		Priority:         d.Priority,
		Category:         d.Category,
		Labels:           d.Labels,
		Runbook:          d.Runbook,
		EscalationPolicy: d.EscalationPolicy,
		Suppressed:       v.Suppression() != "",
		SuppressReason:   v.Suppression(),
		Delay:            durationpb.New(d.Delay),
	}
	for _, r := range v.Trace.Rules {
		ev := &amsv1.RuleEvaluation{Index: int32(r.Index), Name: r.Name, Outcome: string(r.Outcome), Error: r.Error} //nolint:gosec // a rule index fits
		for _, c := range r.Changes {
			ev.Changes = append(ev.Changes, c.Field+"="+c.Value)
		}
		out.Rules = append(out.Rules, ev)
	}
	var b strings.Builder
	if err := rules.WriteExplain(&b, d, v.Trace); err != nil {
		return nil, err
	}
	b.WriteString("\nmaintenance:\n")
	if len(v.Windows) == 0 {
		b.WriteString("  no window covers the alert at this time\n")
	}
	for _, w := range v.Windows {
		out.MaintenanceWindows = append(out.MaintenanceWindows, w.ID)
		fmt.Fprintf(&b, "  %s (%s) covers it", w.ID, w.Name)
		if !v.WindowsEnd.IsZero() {
			fmt.Fprintf(&b, " until %s", v.WindowsEnd.Format("2006-01-02 15:04 MST"))
		}
		b.WriteString("\n")
	}
	if v.WindowErr != nil {
		fmt.Fprintf(&b, "  left out, their match failed: %v\n", v.WindowErr)
	}
	b.WriteString("\noutcome: ")
	switch {
	case out.GetSuppressed():
		b.WriteString("suppressed (" + out.GetSuppressReason() + "): kept and visible, neither automated nor paged\n")
	case d.Delay > 0:
		fmt.Fprintf(&b, "held %s; opened then if still firing\n", d.Delay)
	default:
		b.WriteString("opened at once")
		if d.Runbook != "" {
			b.WriteString(", runbook " + d.Runbook)
		}
		b.WriteString("\n")
	}
	out.Text = b.String()
	return out, nil
}
