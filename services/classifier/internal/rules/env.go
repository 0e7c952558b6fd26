package rules

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/ext"
	"google.golang.org/protobuf/reflect/protoreflect"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"

	// Rules ask for local time (now.getHours("Asia/Tokyo")); embed the zone
	// database so that works in images without /usr/share/zoneinfo.
	_ "time/tzdata"
)

// Variables are the names a condition can use, in the order docs/rules.md lists them.
var variables = []string{"alert", "incident", "tenant", "now"}

// enums are the ams.v1 enums whose values a condition can name directly
// (SEVERITY_ERROR) as well as qualified (Severity.SEVERITY_ERROR,
// ams.v1.Severity.SEVERITY_ERROR). Proto enum value names are unique within
// the package, so the short names cannot clash.
var enums = []protoreflect.EnumDescriptor{
	amsv1.Severity(0).Descriptor(),
	amsv1.Priority(0).Descriptor(),
	amsv1.AlertStatus(0).Descriptor(),
	amsv1.IncidentState(0).Descriptor(),
}

// environment is the one CEL environment every rule is checked against. It
// is built once: building it costs milliseconds and a reload may compile the
// rules of thousands of tenants. A cel.Env is immutable and safe for
// concurrent use once built.
var environment = sync.OnceValues(func() (*cel.Env, error) {
	opts := []cel.EnvOption{
		cel.Types(&amsv1.Alert{}, &amsv1.Incident{}),
		// Lets Severity.SEVERITY_ERROR stand for ams.v1.Severity.SEVERITY_ERROR.
		cel.Container("ams.v1"),
		cel.Variable("alert", cel.ObjectType("ams.v1.Alert")),
		cel.Variable("incident", cel.ObjectType("ams.v1.Incident")),
		cel.Variable("tenant", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("now", cel.TimestampType),
		cel.OptionalTypes(),
		ext.Strings(),
		ext.Bindings(),
		ext.TwoVarComprehensions(),
	}
	opts = append(opts, zoneAccessors()...)
	for _, e := range enums {
		values := e.Values()
		for i := range values.Len() {
			v := values.Get(i)
			opts = append(opts, cel.Constant(string(v.Name()), cel.IntType, types.Int(v.Number())))
		}
	}
	return cel.NewEnv(opts...)
})

// compileWhen parses and checks a condition and plans its program. Problems
// are "line:column: message; hint", with the expression line and a caret.
func compileWhen(env *cel.Env, when string, costLimit uint64) (cel.Program, []string) {
	// Trailing blank lines (a YAML block scalar keeps one) would put an
	// "unexpected end" error on an empty line instead of after the last token.
	when = strings.TrimRight(when, " \t\r\n")
	ast, iss := env.Compile(when)
	if iss != nil && iss.Err() != nil {
		var problems []string
		src := strings.Split(when, "\n")
		for _, e := range iss.Errors() {
			line, col := e.Location.Line(), e.Location.Column()
			msg := fmt.Sprintf("%d:%d: %s%s", line, col+1, e.Message, hint(e.Message))
			if line >= 1 && line <= len(src) && col >= 0 {
				msg += "\n    | " + src[line-1] + "\n    | " + strings.Repeat(".", col) + "^"
			}
			problems = append(problems, msg)
		}
		return nil, problems
	}
	if t := ast.OutputType(); !t.IsExactType(types.BoolType) {
		return nil, []string{fmt.Sprintf(`must be a boolean condition but is of type %s; compare it, e.g. alert.labels["env"] == "prod"`, t)}
	}
	prog, err := env.Program(ast,
		cel.CostLimit(costLimit),
		// Check the context every 100 comprehension iterations, so a
		// cancelled or timed-out evaluation stops promptly.
		cel.InterruptCheckFrequency(100),
	)
	if err != nil {
		return nil, []string{err.Error()}
	}
	return prog, nil
}

var (
	undefinedField = regexp.MustCompile(`^undefined field '([^']+)'`)
	undeclaredRef  = regexp.MustCompile(`^undeclared reference to '([^']+)'`)
)

// hint says how to fix a checker error when it can guess.
func hint(msg string) string {
	if m := undefinedField.FindStringSubmatch(msg); m != nil {
		if s := closest(m[1], fieldNames()); s != "" {
			return fmt.Sprintf("; did you mean '%s'?", s)
		}
		return "; the fields are those of ams.v1.Alert and ams.v1.Incident in proto/ams/v1 (snake_case)"
	}
	if strings.Contains(msg, "did you mean") {
		return "" // cel-go has made its own suggestion
	}
	if m := undeclaredRef.FindStringSubmatch(msg); m != nil {
		if s := closest(m[1], identNames()); s != "" {
			return fmt.Sprintf("; did you mean '%s'?", s)
		}
		return "; the variables are alert, incident, tenant and now, and enum values are written like SEVERITY_ERROR"
	}
	if strings.HasPrefix(msg, "found no matching overload") {
		return "; the operand types do not fit (enums are ints: compare with SEVERITY_ERROR, not a string)"
	}
	return ""
}

// fieldNames are the field names of every ams.v1 message a condition can reach.
var fieldNames = sync.OnceValue(func() []string {
	var names []string
	seen := map[protoreflect.FullName]bool{}
	var walk func(md protoreflect.MessageDescriptor)
	walk = func(md protoreflect.MessageDescriptor) {
		if seen[md.FullName()] || md.ParentFile().Package() != "ams.v1" {
			return
		}
		seen[md.FullName()] = true
		fields := md.Fields()
		for i := range fields.Len() {
			f := fields.Get(i)
			names = append(names, string(f.Name()))
			if f.Message() != nil && !f.IsMap() {
				walk(f.Message())
			}
		}
	}
	walk((&amsv1.Alert{}).ProtoReflect().Descriptor())
	walk((&amsv1.Incident{}).ProtoReflect().Descriptor())
	slices.Sort(names)
	return slices.Compact(names)
})

func identNames() []string {
	names := slices.Clone(variables)
	for _, e := range enums {
		values := e.Values()
		for i := range values.Len() {
			names = append(names, string(values.Get(i).Name()))
		}
	}
	return names
}

// closest is the candidate nearest to s by edit distance, if it is near enough
// to be a typo.
func closest(s string, candidates []string) string {
	best, bestD := "", 3
	if len(s) <= 4 {
		bestD = 2
	}
	for _, c := range candidates {
		if d := distance(strings.ToLower(s), strings.ToLower(c)); d < bestD {
			best, bestD = c, d
		}
	}
	if best == "" {
		// hostname → host, severity_level → severity.
		for _, c := range candidates {
			if len(c) >= 3 && strings.HasPrefix(strings.ToLower(s), strings.ToLower(c)) && len(c) > len(best) {
				best = c
			}
		}
	}
	return best
}

// distance is the Levenshtein distance, counting an adjacent transposition
// ("lables") as one edit.
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}
