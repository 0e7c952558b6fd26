package rules

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"
	"time"

	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
	"cel.dev/cel-go/interpreter"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// Input is what rules are evaluated against.
type Input struct {
	// Alert is the notification being classified; nil reads as an empty alert.
	Alert *amsv1.Alert
	// Incident is the incident the alert is grouped into; nil (a new
	// incident) reads as an empty one, so incident.id == "" tests for it.
	Incident *amsv1.Incident
	// Tenant is the tenant that owns the alert.
	Tenant Tenant
	// Now is the evaluation time, the `now` of conditions. The zero time
	// means time.Now(); replay passes the alert's received time.
	Now time.Time
}

// Tenant is what conditions see as `tenant`: tenant.id and tenant.name.
type Tenant struct {
	ID   string
	Name string
}

// Decision is the combined effect of every matching rule.
type Decision struct {
	// Priority is PRIORITY_UNSPECIFIED when no matching rule set it.
	Priority         amsv1.Priority    `json:"priority"`
	Category         string            `json:"category,omitempty"`
	Labels           map[string]string `json:"labels,omitempty"`
	Runbook          string            `json:"runbook,omitempty"`
	EscalationPolicy string            `json:"escalation_policy,omitempty"`
	Suppressed       bool              `json:"suppressed"`
	SuppressReason   string            `json:"suppress_reason,omitempty"`
	// Delay is how long the alert must still be firing before anything is
	// done about it; zero means act now.
	Delay time.Duration `json:"delay"`
	// MatchedRules are the names of the rules that matched, in order.
	MatchedRules []string `json:"matched_rules,omitempty"`
}

// Outcome is what happened to one rule during an evaluation.
type Outcome string

const (
	// Matched means the condition was true and the rule's effects applied.
	Matched Outcome = "matched"
	// NotMatched means the condition was false.
	NotMatched Outcome = "not matched"
	// Skipped means an earlier matching rule had stop: true.
	Skipped Outcome = "skipped"
	// Errored means the condition failed at run time (a missing map key, the
	// cost limit, a cancelled context). It counts as not matched.
	Errored Outcome = "error"
)

// Trace says what every rule did in one evaluation, in rule order.
type Trace struct {
	// Source is the rules file the Set was loaded from.
	Source string      `json:"source,omitempty"`
	Rules  []RuleTrace `json:"rules"`
	// StoppedBy names the matching rule with stop: true that ended the evaluation.
	StoppedBy string `json:"stopped_by,omitempty"`
	// Elapsed is the wall time of the evaluation.
	Elapsed time.Duration `json:"elapsed"`
}

// RuleTrace is one rule's part in an evaluation.
type RuleTrace struct {
	// Index is the rule's position in the file, from 0.
	Index   int     `json:"index"`
	Name    string  `json:"name"`
	Outcome Outcome `json:"outcome"`
	// Error is the run-time error when Outcome is Errored.
	Error string `json:"error,omitempty"`
	// Changes are what a matching rule set, in a fixed order.
	Changes []Change `json:"changes,omitempty"`
	// Cost is the CEL cost of evaluating the condition.
	Cost uint64 `json:"cost,omitempty"`
}

// Change is one field a matching rule set.
type Change struct {
	// Field is priority, category, labels.<name>, runbook, escalation_policy,
	// suppress, delay or stop.
	Field string `json:"field"`
	// Value is the new value, as written in the rule file (P1, 2m0s, ...).
	Value string `json:"value"`
	// Previous is the value an earlier matching rule had set, if any.
	Previous string `json:"previous,omitempty"`
}

// Err joins the run-time errors of the evaluation, nil when there were none.
// Errors never stop an evaluation; the caller decides whether to log them.
func (t Trace) Err() error {
	var errs []error
	for _, r := range t.Rules {
		if r.Outcome == Errored {
			errs = append(errs, fmt.Errorf("%s: %s%s", t.Source, ruleRef(r.Index, r.Name), r.Error))
		}
	}
	return errors.Join(errs...)
}

var (
	emptyAlert    = &amsv1.Alert{}
	emptyIncident = &amsv1.Incident{}
)

// Evaluate runs the rules in order against in. Every matching rule applies its
// set (later rules override the fields earlier ones set; labels merge key by
// key), its suppress and its delay, until a matching rule has stop: true; the
// rules after it are Skipped. A rule whose condition fails at run time counts
// as not matched and is reported in the Trace. When ctx ends, the rules not
// yet evaluated are reported as errors: check ctx.Err() before acting on the
// Decision. Evaluate has no side effects.
func (s *Set) Evaluate(ctx context.Context, in Input) (Decision, Trace) {
	start := time.Now()
	if ctx == nil {
		ctx = context.Background()
	}
	var d Decision
	t := Trace{Source: s.Source(), Rules: make([]RuleTrace, 0, s.Len())}
	if s == nil {
		return d, t
	}
	act, err := s.activation(in)
	if err != nil {
		// Only a broken proto registration gets here; say so on every rule.
		for i, r := range s.rules {
			t.Rules = append(t.Rules, RuleTrace{Index: i, Name: r.src.Name, Outcome: Errored, Error: err.Error()})
		}
		return d, t
	}
	for i, r := range s.rules {
		rt := RuleTrace{Index: i, Name: r.src.Name}
		switch {
		case t.StoppedBy != "":
			rt.Outcome = Skipped
		case ctx.Err() != nil:
			rt.Outcome, rt.Error = Errored, fmt.Sprintf("not evaluated: %v", context.Cause(ctx))
		default:
			out, det, err := r.prog.ContextEval(ctx, act)
			if det != nil && det.ActualCost() != nil {
				rt.Cost = *det.ActualCost()
			}
			switch {
			case err != nil:
				rt.Outcome, rt.Error = Errored, s.describe(err)
			case out == types.True:
				rt.Outcome = Matched
				rt.Changes = d.apply(r)
				d.MatchedRules = append(d.MatchedRules, r.src.Name)
				if r.src.Stop {
					t.StoppedBy = r.src.Name
				}
			default:
				rt.Outcome = NotMatched
			}
		}
		t.Rules = append(t.Rules, rt)
	}
	t.Elapsed = time.Since(start)
	return d, t
}

// describe words a run-time error for the trace.
func (s *Set) describe(err error) string {
	var ce interpreter.EvalCancelledError
	if errors.As(err, &ce) && ce.Cause == interpreter.CostLimitExceeded {
		return fmt.Sprintf("cost limit %d exceeded: the condition does too much work (a comprehension over a large or nested list?)", s.limit)
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "no such key: ") {
		msg += ` (use alert.labels.?name.orValue("") or "name" in alert.labels when a key may be absent)`
	}
	return msg
}

// apply merges a matching rule's effects into d and lists them.
func (d *Decision) apply(r compiled) []Change {
	var ch []Change
	set := func(field string, dst *string, v string) {
		if v == "" {
			return
		}
		ch = append(ch, Change{Field: field, Value: v, Previous: *dst})
		*dst = v
	}
	a := r.src.Set
	if r.priority != amsv1.Priority_PRIORITY_UNSPECIFIED {
		ch = append(ch, Change{Field: "priority", Value: PriorityName(r.priority), Previous: PriorityName(d.Priority)})
		d.Priority = r.priority
	}
	set("category", &d.Category, a.Category)
	if len(a.Labels) > 0 {
		if d.Labels == nil {
			d.Labels = make(map[string]string, len(a.Labels))
		}
		for _, k := range sortedKeys(a.Labels) {
			ch = append(ch, Change{Field: "labels." + k, Value: a.Labels[k], Previous: d.Labels[k]})
		}
		maps.Copy(d.Labels, a.Labels)
	}
	set("runbook", &d.Runbook, a.Runbook)
	set("escalation_policy", &d.EscalationPolicy, a.EscalationPolicy)
	if r.src.Suppress != "" {
		d.Suppressed = true
		set("suppress", &d.SuppressReason, r.src.Suppress)
	}
	if r.delay != nil {
		prev := ""
		if d.Delay != 0 {
			prev = d.Delay.String()
		}
		ch = append(ch, Change{Field: "delay", Value: r.delay.String(), Previous: prev})
		d.Delay = *r.delay
	}
	if r.src.Stop {
		ch = append(ch, Change{Field: "stop", Value: "true"})
	}
	return ch
}

// PriorityName is P1..P5 for a priority, "" when unspecified.
func PriorityName(p amsv1.Priority) string {
	if p == amsv1.Priority_PRIORITY_UNSPECIFIED {
		return ""
	}
	return strings.TrimPrefix(p.String(), "PRIORITY_")
}

// activation holds one evaluation's variables, converted to CEL values once
// and shared by every rule.
type activation struct {
	alert, incident, tenant, now ref.Val
}

func (s *Set) activation(in Input) (*activation, error) {
	env, err := environment()
	if err != nil {
		return nil, err
	}
	adapter := env.CELTypeAdapter()
	alert, incident := in.Alert, in.Incident
	if alert == nil {
		alert = emptyAlert
	}
	if incident == nil {
		incident = emptyIncident
	}
	now := in.Now
	if now.IsZero() {
		now = time.Now()
	}
	a := &activation{
		alert:    adapter.NativeToValue(alert),
		incident: adapter.NativeToValue(incident),
		tenant:   adapter.NativeToValue(map[string]string{"id": in.Tenant.ID, "name": in.Tenant.Name}),
		now:      types.Timestamp{Time: now},
	}
	for _, v := range []ref.Val{a.alert, a.incident, a.tenant} {
		if types.IsError(v) {
			return nil, fmt.Errorf("convert input: %v", v)
		}
	}
	return a, nil
}

// ResolveName implements interpreter.Activation.
func (a *activation) ResolveName(name string) (any, bool) {
	switch name {
	case "alert":
		return a.alert, true
	case "incident":
		return a.incident, true
	case "tenant":
		return a.tenant, true
	case "now":
		return a.now, true
	}
	return nil, false
}

// Parent implements interpreter.Activation.
func (a *activation) Parent() interpreter.Activation { return nil }
