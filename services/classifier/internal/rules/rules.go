// Package rules is the classifier's per-tenant rules engine. A tenant's rules
// are an ordered list in a YAML file; each has a CEL condition over the alert,
// the incident, the tenant and the time, and says what to set (priority,
// category, labels, runbook, escalation policy), whether to suppress, how long
// to wait before acting, and whether to stop there.
//
// Every expression is parsed and type-checked against the ams.v1 protos when
// the file is loaded, so a misspelt field or a condition that is not boolean
// is a load error naming the file, the rule and the position, never a surprise
// at 3 a.m. Evaluation is pure: it reads its Input, returns a Decision and a
// Trace (what `amsctl rules explain` prints), and changes nothing. Each rule's
// evaluation is bounded by a CEL cost limit and by the caller's context, so a
// pathological rule cannot stall the classifier.
//
// docs/rules.md is the user-facing description of the format.
package rules

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"regexp"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"go.yaml.in/yaml/v3"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// File is the YAML document of one tenant's rules.
type File struct {
	// Rules are evaluated in this order.
	Rules []Rule `yaml:"rules"`
}

// Rule is one rule as written in the file. Compile checks and compiles it.
type Rule struct {
	// Name is unique within the tenant's rules; traces and metrics use it.
	Name string `yaml:"name"`
	// When is a CEL expression of type bool; the rule applies when it is true.
	When string `yaml:"when"`
	// Set is what the rule sets on the incident when it matches.
	Set Actions `yaml:"set"`
	// Suppress, when not empty, suppresses the incident with this reason.
	Suppress string `yaml:"suppress"`
	// Delay, when set, is a Go duration ("2m", "1h30m"): act only if the
	// alert is still firing after this long. "0s" clears an earlier rule's delay.
	Delay string `yaml:"delay"`
	// Stop ends the evaluation after this rule when it matches.
	Stop bool `yaml:"stop"`
}

// Actions are the incident fields a matching rule sets. Empty fields are left
// as earlier rules set them.
type Actions struct {
	// Priority is one of P1 (most urgent) to P5.
	Priority string `yaml:"priority"`
	// Category groups incidents for reports, e.g. "storage".
	Category string `yaml:"category"`
	// Labels are merged into the incident's labels.
	Labels map[string]string `yaml:"labels"`
	// Runbook names the runbook the executor runs.
	Runbook string `yaml:"runbook"`
	// EscalationPolicy names who is paged when automation does not resolve it.
	EscalationPolicy string `yaml:"escalation_policy"`
}

// Set is one tenant's compiled rules. It is immutable and safe for
// concurrent use. A nil *Set has no rules: it evaluates to an empty Decision.
type Set struct {
	source string
	rules  []compiled
	limit  uint64
}

// Source is where the rules came from (a file name), as given to Load or Compile.
func (s *Set) Source() string {
	if s == nil {
		return ""
	}
	return s.source
}

// Rules returns the rules as written, in evaluation order, so a caller can
// check the runbooks and escalation policies they name.
func (s *Set) Rules() []Rule {
	if s == nil {
		return nil
	}
	out := make([]Rule, len(s.rules))
	for i, r := range s.rules {
		out[i] = r.src
		out[i].Set.Labels = maps.Clone(r.src.Set.Labels)
	}
	return out
}

// Len is the number of rules.
func (s *Set) Len() int {
	if s == nil {
		return 0
	}
	return len(s.rules)
}

// DefaultCostLimit bounds the CEL cost of evaluating one rule's condition.
// A typical condition costs under 50; walking a few dozen labels a few hundred.
// At this limit a runaway comprehension is cut off within about a millisecond.
const DefaultCostLimit = 100_000

// Option changes how rules are compiled.
type Option func(*options)

type options struct{ costLimit uint64 }

// WithCostLimit sets the CEL cost limit per rule evaluation (DefaultCostLimit
// when unset). A rule that exceeds it is reported as an error and does not match.
func WithCostLimit(limit uint64) Option {
	return func(o *options) { o.costLimit = limit }
}

// LoadFile reads and compiles a rules file.
func LoadFile(path string, opts ...Option) (*Set, error) {
	data, err := os.ReadFile(path) //nolint:gosec // the operator names the rules file
	if err != nil {
		return nil, fmt.Errorf("read rules: %w", err)
	}
	return Load(data, path, opts...)
}

// Load decodes a rules file strictly (an unknown key is an error) and compiles
// every rule. source names the file in errors. All problems are reported at
// once, joined, each as "<source>:<line>: rules[<i>] "<name>": <what and how to fix>".
func Load(data []byte, source string, opts ...Option) (*Set, error) {
	var f File
	var errs []error
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	switch err := dec.Decode(&f); {
	case err == nil, errors.Is(err, io.EOF):
	default:
		var te *yaml.TypeError
		if !errors.As(err, &te) {
			// A syntax error: nothing else can be trusted.
			return nil, yamlError(source, err.Error())
		}
		// Type errors leave the rest decoded: report them with the rules' own errors.
		for _, msg := range te.Errors {
			errs = append(errs, yamlError(source, msg))
		}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		errs = append(errs, fmt.Errorf("%s: more than one YAML document; put every rule in the one list under the rules key", source))
	}
	var root yaml.Node
	_ = yaml.Unmarshal(data, &root) // decoded above; only used for line numbers
	set, err := compile(f.Rules, source, lines{&root}, opts)
	if err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return set, nil
}

// Compile checks and compiles rules; source names them in errors. Every
// problem is reported, joined into one error.
func Compile(rules []Rule, source string, opts ...Option) (*Set, error) {
	return compile(rules, source, lines{}, opts)
}

// CompileDocument is Compile for rules decoded from data by a caller that
// reads a larger document (the tenant's classifier file): errors carry the
// line numbers of the rules under the document's top-level rules: key.
func CompileDocument(rules []Rule, data []byte, source string, opts ...Option) (*Set, error) {
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return compile(rules, source, lines{}, opts)
	}
	return compile(rules, source, lines{&root}, opts)
}

// compiled is a checked rule ready to evaluate.
type compiled struct {
	src      Rule
	prog     cel.Program
	priority amsv1.Priority
	delay    *time.Duration
}

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

func compile(rules []Rule, source string, ln lines, opts []Option) (*Set, error) {
	o := options{costLimit: DefaultCostLimit}
	for _, opt := range opts {
		opt(&o)
	}
	env, err := environment()
	if err != nil {
		return nil, fmt.Errorf("rules environment: %w", err)
	}
	set := &Set{source: source, rules: make([]compiled, 0, len(rules)), limit: o.costLimit}
	var errs []error
	seen := make(map[string]int, len(rules))
	for i, r := range rules {
		fail := func(field, format string, args ...any) {
			errs = append(errs, fmt.Errorf("%s: %s%s", ln.at(source, i, field), ruleRef(i, r.Name), fmt.Sprintf(format, args...)))
		}
		// The set keeps its own copy of the labels: the caller's map may change.
		r.Set.Labels = maps.Clone(r.Set.Labels)
		c := compiled{src: r}
		switch j, dup := seen[r.Name]; {
		case r.Name == "":
			fail("", "name: missing; give every rule a unique name, e.g. db-disk-full")
		case dup:
			fail("name", "name: %q is already used by rules[%d]; rule names must be unique", r.Name, j)
		case !namePattern.MatchString(r.Name):
			fail("name", "name: %q must start with a letter or digit and contain only letters, digits, '.', '_' and '-' (at most 128)", r.Name)
		}
		if _, dup := seen[r.Name]; !dup {
			seen[r.Name] = i
		}
		if strings.TrimSpace(r.When) == "" {
			fail("", `when: missing; write a CEL condition, or "true" to match every alert`)
		} else if prog, problems := compileWhen(env, r.When, o.costLimit); len(problems) > 0 {
			for _, p := range problems {
				fail("when", "when: %s", p)
			}
		} else {
			c.prog = prog
		}
		if p := r.Set.Priority; p != "" {
			v, ok := amsv1.Priority_value["PRIORITY_"+p]
			if !ok || v == 0 {
				fail("set.priority", "set.priority: %q is not a priority; use one of P1 (most urgent), P2, P3, P4, P5", p)
			}
			c.priority = amsv1.Priority(v)
		}
		for k := range r.Set.Labels {
			if strings.TrimSpace(k) == "" {
				fail("set.labels", "set.labels: a label name is empty")
			}
		}
		if r.Delay != "" {
			d, err := time.ParseDuration(r.Delay)
			switch {
			case err != nil:
				fail("delay", "delay: %q is not a duration; write it like 90s, 10m or 1h30m", r.Delay)
			case d < 0:
				fail("delay", "delay: %q is negative; use 0s to clear an earlier delay", r.Delay)
			default:
				c.delay = &d
			}
		}
		if !r.Stop && r.Suppress == "" && r.Delay == "" && r.Set.empty() {
			fail("", "the rule does nothing; give it set, suppress, delay or stop: true")
		}
		set.rules = append(set.rules, c)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return set, nil
}

func (a Actions) empty() bool {
	return a.Priority == "" && a.Category == "" && len(a.Labels) == 0 && a.Runbook == "" && a.EscalationPolicy == ""
}

func ruleRef(i int, name string) string {
	if name == "" {
		return fmt.Sprintf("rules[%d]: ", i)
	}
	return fmt.Sprintf("rules[%d] %q: ", i, name)
}

// lines finds where rules and their fields are in the YAML source, for errors.
// The zero value (rules given as Go values) knows no lines.
type lines struct{ root *yaml.Node }

// at is "source:line" for rules[i].field ("" for the rule itself), or just source.
func (l lines) at(source string, i int, field string) string {
	n := l.rule(i)
	if n == nil {
		return source
	}
	line := n.Line
	for f := range strings.SplitSeq(field, ".") {
		if f == "" {
			break
		}
		v := mapValue(n, f)
		if v == nil {
			break
		}
		n, line = v, v.Line
	}
	return fmt.Sprintf("%s:%d", source, line)
}

func (l lines) rule(i int) *yaml.Node {
	if l.root == nil || len(l.root.Content) == 0 {
		return nil
	}
	seq := mapValue(l.root.Content[0], "rules")
	if seq == nil || seq.Kind != yaml.SequenceNode || i >= len(seq.Content) {
		return nil
	}
	return seq.Content[i]
}

func mapValue(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

var (
	yamlLine       = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	yamlUnknownKey = regexp.MustCompile(`^field (\S+) not found in type rules\.(\w+)$`)
)

// yamlWants says in the file's terms what a Go type stands for.
var yamlWants = map[string]string{
	"rules.File":        "a mapping with the key rules",
	"[]rules.Rule":      "a list of rules",
	"rules.Rule":        "a rule: a mapping with name, when, ...",
	"rules.Actions":     "a mapping of priority, category, labels, runbook, escalation_policy",
	"map[string]string": "a mapping of label names to values",
	"string":            "a string",
	"bool":              "true or false",
}

// yamlError rewrites a go-yaml message as "source:line: what is wrong",
// naming the allowed keys when a key is unknown.
func yamlError(source, msg string) error {
	m := yamlLine.FindStringSubmatch(msg)
	if m == nil {
		return fmt.Errorf("%s: %s", source, strings.TrimPrefix(msg, "yaml: "))
	}
	where, what := source+":"+m[1], m[2]
	if k := yamlUnknownKey.FindStringSubmatch(what); k != nil {
		switch k[2] {
		case "File":
			return fmt.Errorf("%s: unknown key %q at the top level; the only key is rules", where, k[1])
		case "Rule":
			return fmt.Errorf("%s: unknown key %q in a rule; allowed keys: name, when, set, suppress, delay, stop", where, k[1])
		case "Actions":
			return fmt.Errorf("%s: unknown key %q in set; allowed keys: priority, category, labels, runbook, escalation_policy", where, k[1])
		}
	}
	if before, goType, ok := strings.Cut(what, " into "); ok && strings.HasPrefix(what, "cannot unmarshal ") {
		if want, ok := yamlWants[goType]; ok {
			what = before + "; want " + want
		}
	}
	if strings.HasPrefix(what, "mapping values are not allowed") {
		what += `; quote a condition that contains ": "`
	}
	return fmt.Errorf("%s: %s", where, what)
}
