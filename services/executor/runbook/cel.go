package runbook

import (
	"fmt"
	"reflect"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	celast "cel.dev/cel-go/common/ast"
	"cel.dev/cel-go/common/operators"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// costLimit bounds the work one expression may do when evaluated, so a
// parameter expression over a huge alert cannot stall the executor.
const costLimit = 1_000_000

// paramEnv is the environment of parameter expressions (`from`): the alert
// and the incident. Built once; a cel.Env is safe for concurrent use.
var paramEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		cel.Types(&amsv1.Alert{}, &amsv1.Incident{}),
		cel.Variable("alert", cel.ObjectType("ams.v1.Alert")),
		cel.Variable("incident", cel.ObjectType("ams.v1.Incident")),
		cel.OptionalTypes(),
		ext.Strings(),
	)
})

// stepResultType is the CEL name of StepResult (package alias + type name).
const stepResultType = "runbook.StepResult"

// stepsEnv is the environment of step conditions (when, until): `steps`, a
// map from step name to its StepResult.
var stepsEnv = sync.OnceValues(func() (*cel.Env, error) {
	return cel.NewEnv(
		ext.NativeTypes(reflect.TypeFor[StepResult](), ext.ParseStructTags(true)),
		cel.Variable("steps", cel.MapType(cel.StringType, cel.ObjectType(stepResultType))),
		cel.OptionalTypes(),
		ext.Strings(),
	)
})

// compile checks expr in env, requires the output type want, and plans a
// program. The error is the CEL message with <input> replaced by field.
func compile(env *cel.Env, expr string, want *cel.Type, field string) (*cel.Ast, cel.Program, error) {
	ast, iss := env.Compile(expr)
	if iss != nil && iss.Err() != nil {
		msg := strings.ReplaceAll(iss.Err().Error(), "<input>", field)
		return nil, nil, fmt.Errorf("does not compile as CEL:\n%s", indent(msg))
	}
	if !ast.OutputType().IsExactType(want) {
		return nil, nil, fmt.Errorf("must give a %s, but gives %s", want, ast.OutputType())
	}
	prg, err := env.Program(ast, cel.CostLimit(costLimit), cel.InterruptCheckFrequency(100))
	if err != nil {
		return nil, nil, fmt.Errorf("cannot be planned: %w", err)
	}
	return ast, prg, nil
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

// stepRefs returns the step names a condition refers to. Each use of
// `steps` must name one step with a constant (steps.usage,
// steps["verify-space"], steps.?usage): a condition that ranges over all
// steps or computes a name could read a step that has not run yet.
func stepRefs(ast *cel.Ast) (names []string, bad []string) {
	root := celast.NavigateAST(ast.NativeRep())
	idents := celast.MatchDescendants(root, func(e celast.NavigableExpr) bool {
		return e.Kind() == celast.IdentKind && e.AsIdent() == "steps"
	})
	for _, id := range idents {
		parent, ok := id.Parent()
		if !ok {
			bad = append(bad, "steps on its own")
			continue
		}
		switch parent.Kind() {
		case celast.SelectKind:
			names = append(names, parent.AsSelect().FieldName())
			continue
		case celast.CallKind:
			call := parent.AsCall()
			fn := call.FunctionName()
			args := call.Args()
			if (fn == operators.Index || fn == operators.OptIndex || fn == operators.OptSelect) &&
				len(args) == 2 && args[0].ID() == id.ID() && args[1].Kind() == celast.LiteralKind {
				if s, ok := args[1].AsLiteral().(types.String); ok {
					names = append(names, string(s))
					continue
				}
			}
			bad = append(bad, "steps used in "+strings.Trim(fn, "_@"))
		default:
			bad = append(bad, "steps used as a whole")
		}
	}
	return names, bad
}
