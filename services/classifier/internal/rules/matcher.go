package rules

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/types"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// matcherVariables are the variables a lone matcher may use. A maintenance
// window matches alerts before there is an incident, and knows its tenant
// already, so incident and tenant would only ever read as empty.
var matcherVariables = []string{"alert", "now"}

// Matcher is a compiled boolean CEL expression over one alert, such as a
// maintenance window's match. It is checked against the same environment as
// rules (the ams.v1 types, enum names, string extensions, time zones) and
// bounded by the same cost limit. It is immutable and safe for concurrent use.
type Matcher struct {
	expr string
	prog cel.Program
}

// CompileMatcher parses and type-checks expr, a boolean CEL expression that
// may use alert and now (the time of the evaluation). Problems are reported
// as rules report them, "line:column: message; hint" with the expression line
// and a caret, all joined in one error.
func CompileMatcher(expr string) (*Matcher, error) {
	if strings.TrimSpace(expr) == "" {
		return nil, errors.New(`missing; write a CEL condition over alert, or "true" to match every alert`)
	}
	env, err := environment()
	if err != nil {
		return nil, fmt.Errorf("rules environment: %w", err)
	}
	prog, problems := compileWhen(env, expr, DefaultCostLimit)
	if len(problems) == 0 {
		// Compiled again for the references: compileWhen keeps only the
		// program, and matchers are compiled when a window is added, not
		// per alert.
		problems = unavailableVariables(env, expr)
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "\n"))
	}
	return &Matcher{expr: expr, prog: prog}, nil
}

// unavailableVariables reports every use of a rules variable that a matcher
// does not have (incident, tenant), where it is. A comprehension variable of
// the same name (alert.labels.exists(tenant, ...)) is the expression's own.
func unavailableVariables(env *cel.Env, expr string) []string {
	expr = strings.TrimRight(expr, " \t\r\n") // as compileWhen does, for the same positions
	checked, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		return []string{iss.Err().Error()} // compileWhen accepted it; cannot happen
	}
	native := checked.NativeRep()
	type use struct {
		id   int64
		name string
	}
	var uses []use
	var walk func(e celast.Expr, locals []string)
	walk = func(e celast.Expr, locals []string) {
		switch e.Kind() {
		case celast.IdentKind:
			name := e.AsIdent()
			if slices.Contains(variables, name) && !slices.Contains(matcherVariables, name) && !slices.Contains(locals, name) {
				uses = append(uses, use{e.ID(), name})
			}
		case celast.SelectKind:
			walk(e.AsSelect().Operand(), locals)
		case celast.CallKind:
			c := e.AsCall()
			if c.IsMemberFunction() {
				walk(c.Target(), locals)
			}
			for _, a := range c.Args() {
				walk(a, locals)
			}
		case celast.ListKind:
			for _, el := range e.AsList().Elements() {
				walk(el, locals)
			}
		case celast.MapKind:
			for _, en := range e.AsMap().Entries() {
				walk(en.AsMapEntry().Key(), locals)
				walk(en.AsMapEntry().Value(), locals)
			}
		case celast.StructKind:
			for _, f := range e.AsStruct().Fields() {
				walk(f.AsStructField().Value(), locals)
			}
		case celast.ComprehensionKind:
			c := e.AsComprehension()
			walk(c.IterRange(), locals)
			walk(c.AccuInit(), locals)
			inner := append(slices.Clone(locals), c.IterVar(), c.AccuVar())
			if c.HasIterVar2() {
				inner = append(inner, c.IterVar2())
			}
			walk(c.LoopCondition(), inner)
			walk(c.LoopStep(), inner)
			walk(c.Result(), inner)
		}
	}
	walk(native.Expr(), nil)

	info := native.SourceInfo()
	src := strings.Split(expr, "\n")
	problems := make([]string, 0, len(uses))
	for _, u := range uses {
		loc := info.GetStartLocation(u.id)
		line, col := loc.Line(), loc.Column()
		msg := fmt.Sprintf("%d:%d: %s is not available here: a match sees only alert and now (the time of the evaluation)", line, col+1, u.name)
		if line >= 1 && line <= len(src) && col >= 0 {
			msg += "\n    | " + src[line-1] + "\n    | " + strings.Repeat(".", col) + "^"
		}
		problems = append(problems, msg)
	}
	return problems
}

// String returns the expression as written.
func (m *Matcher) String() string { return m.expr }

// Match evaluates the expression against alert a, with now the current time.
// A nil alert reads as an empty one. A run-time error (a missing map key, the
// cost limit) is returned, and the alert does not match.
func (m *Matcher) Match(a *amsv1.Alert) (bool, error) {
	return m.MatchAt(a, time.Now())
}

// MatchAt is Match with now given, for replays and tests.
func (m *Matcher) MatchAt(a *amsv1.Alert, now time.Time) (bool, error) {
	env, err := environment()
	if err != nil {
		return false, err
	}
	if a == nil {
		a = emptyAlert
	}
	alert := env.CELTypeAdapter().NativeToValue(a)
	if types.IsError(alert) {
		return false, fmt.Errorf("convert alert: %v", alert)
	}
	// incident and tenant stay unset: CompileMatcher refused every use of them.
	out, _, err := m.prog.Eval(&activation{alert: alert, now: types.Timestamp{Time: now}})
	if err != nil {
		// describe words it as the rules' trace does; it reads only the limit.
		return false, errors.New((&Set{limit: DefaultCostLimit}).describe(err))
	}
	return out == types.True, nil
}
