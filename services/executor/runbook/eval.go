package runbook

import (
	"context"
	"fmt"
	"slices"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// Applies evaluates applies_to for the alert and incident; a runbook
// without one applies to every incident a rule selects it for.
func (r *Runbook) Applies(ctx context.Context, alert *amsv1.Alert, incident *amsv1.Incident) (bool, error) {
	if r.appliesTo == nil {
		return true, nil
	}
	if alert == nil {
		alert = &amsv1.Alert{}
	}
	if incident == nil {
		incident = &amsv1.Incident{}
	}
	ok, err := evalBool(ctx, r.appliesTo, map[string]any{"alert": alert, "incident": incident})
	if err != nil {
		return false, fmt.Errorf("runbook %s: applies_to: %w", r.Name, err)
	}
	return ok, nil
}

// Runs evaluates the step's when condition over the earlier steps'
// results; a step without one always runs.
func (s *Step) Runs(ctx context.Context, results map[string]StepResult) (bool, error) {
	if s.when == nil {
		return true, nil
	}
	ok, err := evalSteps(ctx, s.when, results)
	if err != nil {
		return false, fmt.Errorf("step %s: when: %w", s.Name, err)
	}
	return ok, nil
}

// Healthy evaluates the verify step's until condition.
func (v *Verify) Healthy(ctx context.Context, results map[string]StepResult) (bool, error) {
	if v.until == nil {
		return false, fmt.Errorf("verify of %s is not compiled; load runbooks with Load", v.Step)
	}
	ok, err := evalSteps(ctx, v.until, results)
	if err != nil {
		return false, fmt.Errorf("verify until: %w", err)
	}
	return ok, nil
}

func evalSteps(ctx context.Context, prg cel.Program, results map[string]StepResult) (bool, error) {
	if results == nil {
		results = map[string]StepResult{}
	}
	return evalBool(ctx, prg, map[string]any{"steps": results})
}

// evalBool evaluates a condition compiled to give a bool.
func evalBool(ctx context.Context, prg cel.Program, vars map[string]any) (bool, error) {
	val, _, err := prg.ContextEval(ctx, vars)
	if err != nil {
		return false, err
	}
	b, ok := val.(types.Bool)
	if !ok {
		return false, fmt.Errorf("gave a %s, not a bool", val.Type())
	}
	return bool(b), nil
}

// Step returns the step named name, or nil.
func (r *Runbook) Step(name string) *Step {
	for _, s := range r.Steps {
		if s.Name == name {
			return s
		}
	}
	return nil
}

// Resolve returns a copy of the step with every placeholder replaced by its
// parameter's value. A placeholder is always a whole value (Load made sure),
// so each value lands as exactly one argument, parameter, host or URL and is
// never parsed as part of anything larger.
func (s *Step) Resolve(params map[string]string) (*Step, error) {
	var missing []string
	sub := func(v string) string {
		m := wholePlaceholder.FindStringSubmatch(v)
		if m == nil {
			return v
		}
		val, ok := params[m[1]]
		if !ok {
			missing = append(missing, m[1])
		}
		return val
	}
	out := *s
	switch {
	case s.SSM != nil:
		c := *s.SSM
		c.Instance = sub(c.Instance)
		c.Parameters = subAll(s.SSM.Parameters, sub)
		out.SSM = &c
	case s.EC2 != nil:
		c := *s.EC2
		c.Instance = sub(c.Instance)
		out.EC2 = &c
	case s.CloudWatch != nil:
		c := *s.CloudWatch
		c.Dimensions = subAll(s.CloudWatch.Dimensions, sub)
		out.CloudWatch = &c
	case s.SSH != nil:
		c := *s.SSH
		c.Host = sub(c.Host)
		c.Argv = make([]string, len(s.SSH.Argv))
		for i, a := range s.SSH.Argv {
			c.Argv[i] = sub(a)
		}
		out.SSH = &c
	case s.HTTP != nil:
		c := *s.HTTP
		c.URL = sub(c.URL)
		out.HTTP = &c
	case s.TCP != nil:
		c := *s.TCP
		c.Address = sub(c.Address)
		out.TCP = &c
	case s.DNS != nil:
		c := *s.DNS
		c.Name = sub(c.Name)
		out.DNS = &c
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return nil, fmt.Errorf("step %s: no value for %v", s.Name, slices.Compact(missing))
	}
	return &out, nil
}

// subAll is m with sub applied to every value, in a new map.
func subAll(m map[string]string, sub func(string) string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = sub(v)
	}
	return out
}

// RenderProcedure returns the procedure with {{name}} replaced by the
// values: text for people on the ticket, never run.
func (r *Runbook) RenderProcedure(params map[string]string) string {
	return anyPlaceholder.ReplaceAllStringFunc(r.Procedure, func(m string) string {
		name := anyPlaceholder.FindStringSubmatch(m)[1]
		if v, ok := params[name]; ok {
			return v
		}
		return m
	})
}
