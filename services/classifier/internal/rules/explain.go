package rules

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// WriteExplain prints an evaluation for people: every rule in order with its
// outcome and what it changed, then the decision and which rule decided each
// part. It is what `amsctl rules explain` shows.
func WriteExplain(w io.Writer, d Decision, t Trace) error {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "rules: %s\n\n", orNone(t.Source))
	fmt.Fprintln(tw, "#\tRULE\tRESULT\tDETAIL")
	for _, r := range t.Rules {
		detail := r.Error
		switch r.Outcome {
		case Matched:
			parts := make([]string, 0, len(r.Changes))
			for _, c := range r.Changes {
				s := c.Field + "=" + quoteIfSpace(c.Value)
				if c.Previous != "" && c.Previous != c.Value {
					s += " (was " + quoteIfSpace(c.Previous) + ")"
				}
				parts = append(parts, s)
			}
			detail = strings.Join(parts, " ")
		case Skipped:
			detail = "after stop in " + t.StoppedBy
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\n", r.Index, r.Name, r.Outcome, detail)
	}
	if len(t.Rules) == 0 {
		fmt.Fprintln(tw, "-\t(no rules)\t\t")
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	by := func(field string) string {
		for _, r := range slices.Backward(t.Rules) {
			for _, c := range r.Changes {
				if c.Field == field || strings.HasPrefix(c.Field, field+".") {
					return "set by " + r.Name
				}
			}
		}
		return ""
	}
	labels := make([]string, 0, len(d.Labels))
	for _, k := range sortedKeys(d.Labels) {
		labels = append(labels, k+"="+d.Labels[k])
	}
	suppressed := "no"
	if d.Suppressed {
		suppressed = "yes: " + d.SuppressReason
	}
	delay := "none (act now)"
	if d.Delay > 0 {
		delay = d.Delay.String() + " (act only if still firing then)"
	}
	tw = tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "\ndecision:")
	rows := [][3]string{
		{"priority", orNone(PriorityName(d.Priority)), by("priority")},
		{"category", orNone(d.Category), by("category")},
		{"labels", orNone(strings.Join(labels, " ")), by("labels")},
		{"runbook", orNone(d.Runbook), by("runbook")},
		{"escalation_policy", orNone(d.EscalationPolicy), by("escalation_policy")},
		{"suppressed", suppressed, by("suppress")},
		{"delay", delay, by("delay")},
		{"matched", orNone(strings.Join(d.MatchedRules, ", ")), ""},
	}
	if t.StoppedBy != "" {
		rows = append(rows, [3]string{"stopped", "by " + t.StoppedBy, ""})
	}
	for _, r := range rows {
		fmt.Fprintf(tw, "  %s\t%s\t%s\n", r[0], r[1], r[2])
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if n := countErrors(t); n > 0 {
		fmt.Fprintf(&buf, "\n%d rule(s) failed at run time and counted as not matched; see RESULT error above\n", n)
	}
	// tabwriter pads empty last cells; drop the trailing blanks.
	for line := range strings.Lines(buf.String()) {
		if _, err := io.WriteString(w, strings.TrimRight(line, " \n")+"\n"); err != nil {
			return err
		}
	}
	return nil
}

func countErrors(t Trace) int {
	n := 0
	for _, r := range t.Rules {
		if r.Outcome == Errored {
			n++
		}
	}
	return n
}

func orNone(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func quoteIfSpace(s string) string {
	if strings.ContainsAny(s, " \t\"") {
		return fmt.Sprintf("%q", s)
	}
	return s
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
