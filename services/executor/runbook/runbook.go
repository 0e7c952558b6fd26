// Package runbook is the runbook file format: what an MSP's operators write
// to automate the first response to an incident, how it is read, and the
// checks that make a runbook safe to load. It does not run anything; the
// executor runs the steps of a loaded runbook.
//
// A runbook declares typed parameters taken from the alert and the incident
// (a CEL expression each), every one with an RE2 pattern its whole value must
// match, and ordered steps (SSM Run Command, EC2, CloudWatch, SSH, HTTP, TCP,
// DNS, wait, verify) that use those parameters as {{name}} placeholders.
//
// # Why values are never spliced
//
// Alert text comes from outside: from monitoring tools, from hosts, from
// whoever can make a log line or a label say something. If a value from an
// alert were pasted into command text, a label such as
// `mountpoint="/; rm -rf /"` would become code. So a placeholder may only
// stand for a whole value — a whole argv element, a whole SSM parameter
// value, a whole host or URL — and is handed to the step as that one value,
// never pasted into a string that something later parses (a shell line, a
// `--flag=` argument, a URL assembled from parts). Load rejects a runbook
// that tries ("a parameter must be a whole value; it is never spliced into
// text"). On top of that every value must match its parameter's pattern in
// full, and a pattern that would admit shell metacharacters or a leading
// "-" (which a program would read as an option) is refused at load unless
// the parameter says allow_unsafe: true. allow_unsafe only relaxes the
// pattern check; the value is still passed whole and never spliced.
//
// The procedure (the human check procedure appended to the ticket) may use
// placeholders anywhere: it is text for people, rendered later, never run.
package runbook

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
	"go.yaml.in/yaml/v3"
)

// Kind is what a step does.
type Kind string

// The step kinds. Each has a configuration block of the same name.
const (
	KindSSM        Kind = "ssm"        // AWS SSM Run Command with one of the MSP's own documents
	KindEC2        Kind = "ec2"        // EC2 reboot, start or status
	KindCloudWatch Kind = "cloudwatch" // a CloudWatch metric query
	KindSSH        Kind = "ssh"        // a command over SSH, as argv (never a shell line)
	KindHTTP       Kind = "http"       // an HTTP probe
	KindTCP        Kind = "tcp"        // a TCP connect probe
	KindDNS        Kind = "dns"        // a DNS lookup
	KindWait       Kind = "wait"       // a pause
	KindVerify     Kind = "verify"     // re-run an earlier check until healthy or out of time
)

// Kinds lists every step kind, in the order the documentation gives them.
var Kinds = []Kind{KindSSM, KindEC2, KindCloudWatch, KindSSH, KindHTTP, KindTCP, KindDNS, KindWait, KindVerify}

// Limits and defaults of steps.
const (
	DefaultTimeout = 60 * time.Second
	MaxTimeout     = 30 * time.Minute
	MaxRetries     = 5
	// MaxValueBytes bounds a parameter value whatever its pattern says.
	MaxValueBytes = 4096
)

// Runbook is one runbook file, checked and compiled. It is immutable and
// safe for concurrent use once loaded.
type Runbook struct {
	// Name is unique among the loaded runbooks; a classifier rule selects
	// the runbook by it (incident.runbook).
	Name        string `yaml:"name"`
	Description string `yaml:"description"`
	// AppliesTo is an optional CEL condition over `alert` and `incident`:
	// a rule that selects this runbook for an incident it does not fit
	// (say, a Windows host for a Linux runbook) gets "does not apply" and
	// nothing runs.
	AppliesTo string `yaml:"applies_to"`
	// DryRun runs the checks but only reports the recovery steps, whatever
	// the tenant says: for a new runbook on probation.
	DryRun bool `yaml:"dry_run"`
	// Params are the parameters (the parameters: key) by name. Each is evaluated from the alert and incident
	// and checked against its pattern before any step runs.
	Params map[string]*Parameter `yaml:"parameters"`
	// Steps run in order.
	Steps []*Step `yaml:"steps"`
	// Procedure is the human check procedure (確認手順) appended to the
	// ticket. It may use {{name}} anywhere; it is rendered, never run.
	Procedure string `yaml:"procedure"`

	// Source is the file the runbook was read from.
	Source string `yaml:"-"`
	// Text is the YAML it was loaded from. A run keeps it, so that a run
	// taken over by another replica, or resumed after an approval, goes on
	// with the runbook it started with even if the file changed meanwhile.
	Text []byte `yaml:"-"`

	appliesTo cel.Program
}

// Parameter is a typed value taken from the alert or the incident.
type Parameter struct {
	// From is a CEL expression over `alert` and `incident` (ams.v1.Alert,
	// ams.v1.Incident) giving a string.
	From string `yaml:"from"`
	// Pattern is an RE2 expression the whole value must match; it is
	// anchored at both ends whether or not it says ^ and $.
	Pattern string `yaml:"pattern"`
	// AllowUnsafe lets Pattern admit shell metacharacters or a leading
	// "-". It does not allow splicing: the value is still passed whole.
	AllowUnsafe bool `yaml:"allow_unsafe"`

	name    string
	program cel.Program
	re      *regexp.Regexp
}

// Name is the parameter's name as used in {{name}}.
func (p *Parameter) Name() string { return p.name }

// Step is one step of a runbook. Exactly the block named by Kind is set.
type Step struct {
	Name string `yaml:"name"`
	Kind Kind   `yaml:"kind"`
	// Timeout bounds one attempt; zero in the file means DefaultTimeout.
	Timeout time.Duration `yaml:"timeout"`
	// Retries is how many more attempts a failed check gets (0–5).
	// Recovery steps are never retried blindly.
	Retries int `yaml:"retries"`
	// Recovery marks a step that changes the target (restart, reboot,
	// clean-up): it counts against rate limits and may need approval.
	Recovery bool `yaml:"recovery"`
	// Approval asks a human to approve the step before it runs.
	Approval bool `yaml:"approval"`
	// When is an optional CEL condition over earlier steps' results
	// (steps.<name>.ok, .exit_code, .output); the step is skipped when false.
	When string `yaml:"when"`

	SSM        *SSM        `yaml:"ssm"`
	EC2        *EC2        `yaml:"ec2"`
	CloudWatch *CloudWatch `yaml:"cloudwatch"`
	SSH        *SSH        `yaml:"ssh"`
	HTTP       *HTTP       `yaml:"http"`
	TCP        *TCP        `yaml:"tcp"`
	DNS        *DNS        `yaml:"dns"`
	Wait       *Wait       `yaml:"wait"`
	Verify     *Verify     `yaml:"verify"`

	when cel.Program
}

// SSM runs one of the MSP's own SSM documents. Parameter values are passed
// as document parameters; the document should take them as environment
// (interpolationType: ENV_VAR) and restrict them with allowedPattern.
type SSM struct {
	Document string `yaml:"document"`
	// Instance is the managed instance to run on, a parameter such as
	// "{{instance}}", checked to be the tenant's before anything is sent.
	Instance   string            `yaml:"instance"`
	Parameters map[string]string `yaml:"parameters"`
}

// EC2 actions.
const (
	EC2Reboot = "reboot"
	EC2Start  = "start"
	EC2Status = "status"
)

// EC2 acts on one instance.
type EC2 struct {
	Action string `yaml:"action"`
	// Instance is a placeholder ({{instance}}) for the instance id.
	Instance string `yaml:"instance"`
}

// CloudWatch queries one metric statistic.
type CloudWatch struct {
	Namespace  string            `yaml:"namespace"`
	Metric     string            `yaml:"metric"`
	Dimensions map[string]string `yaml:"dimensions"`
	Stat       string            `yaml:"stat"`
	Period     time.Duration     `yaml:"period"`
}

// SSH runs a program on a host as an argument vector. There is no shell
// line: argv[0] is a fixed program and each other element is one argument.
type SSH struct {
	Host string   `yaml:"host"`
	Argv []string `yaml:"argv"`
}

// HTTP probes a URL and expects a status code.
type HTTP struct {
	URL          string `yaml:"url"`
	Method       string `yaml:"method"` // GET (default) or HEAD
	ExpectStatus int    `yaml:"expect_status"`
}

// TCP connects to an address.
type TCP struct {
	// Address is host:port, or a host (a placeholder) with Port set.
	Address string `yaml:"address"`
	Port    int    `yaml:"port"`
}

// DNS looks a name up.
type DNS struct {
	Name string `yaml:"name"`
	Type string `yaml:"type"` // A (default), AAAA, CNAME, MX, NS or TXT
}

// Wait pauses.
type Wait struct {
	Duration time.Duration `yaml:"duration"`
}

// Verify re-runs an earlier check step every Every until Until holds or
// For has passed.
type Verify struct {
	Step  string        `yaml:"step"`
	Until string        `yaml:"until"`
	Every time.Duration `yaml:"every"`
	For   time.Duration `yaml:"for"`

	until cel.Program
}

// StepResult is what a condition (when, until) sees of an earlier step as
// steps.<name>.
type StepResult struct {
	OK       bool    `cel:"ok"`
	ExitCode int64   `cel:"exit_code"`
	Output   string  `cel:"output"`
	Value    float64 `cel:"value"`
}

// RecoverySteps counts the steps marked recovery.
func (r *Runbook) RecoverySteps() int {
	n := 0
	for _, s := range r.Steps {
		if s.Recovery {
			n++
		}
	}
	return n
}

// ParameterNames returns the parameter names, sorted.
func (r *Runbook) ParameterNames() []string {
	names := make([]string, 0, len(r.Params))
	for n := range r.Params {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Problem is one thing wrong with a runbook file.
type Problem struct {
	Source string
	// Line is the line in the file, 0 when unknown.
	Line int
	// Where names the parameter or step and the key, e.g.
	// `step "cleanup": ssm.parameters.Path`.
	Where string
	// Message says what is wrong and how to fix it.
	Message string
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.Source)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Where != "" {
		b.WriteString(p.Where)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	return b.String()
}

// LoadError holds every problem found in one or more runbook files.
type LoadError struct {
	Problems []Problem
}

func (e *LoadError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String()
	}
	return strings.Join(lines, "\n")
}

// Load reads one runbook from data strictly (an unknown key is an error,
// one YAML document only), checks it and compiles its expressions. source
// names the file in errors. Every problem is reported at once, as a
// *LoadError.
func Load(data []byte, source string) (*Runbook, error) {
	var rb Runbook
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&rb); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &LoadError{Problems: []Problem{{Source: source, Message: "the file is empty; a runbook needs name, description and steps"}}}
		}
		return nil, &LoadError{Problems: yamlProblems(source, err)}
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); !errors.Is(err, io.EOF) {
		return nil, &LoadError{Problems: []Problem{{Source: source, Message: "more than one YAML document (---); keep one runbook per file"}}}
	}
	var root yaml.Node
	if err := yaml.Unmarshal(data, &root); err != nil {
		return nil, &LoadError{Problems: yamlProblems(source, err)}
	}
	rb.Source, rb.Text = source, bytes.Clone(data)
	v := &validator{rb: &rb, source: source, lines: lines{root: &root}}
	v.validate()
	if len(v.problems) > 0 {
		return nil, &LoadError{Problems: v.problems}
	}
	return &rb, nil
}

// LoadFile loads the runbook in the file at path.
func LoadFile(path string) (*Runbook, error) {
	data, err := os.ReadFile(path) //nolint:gosec // operators name their runbook files
	if err != nil {
		return nil, fmt.Errorf("read runbook: %w", err)
	}
	return Load(data, path)
}

// IsRunbookFile reports whether name looks like a runbook file (*.yaml, *.yml).
func IsRunbookFile(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	return ext == ".yaml" || ext == ".yml"
}

// LoadDir loads every *.yaml and *.yml file directly in dir, keyed by
// runbook name. Two files with the same runbook name are an error. Problems
// of every file are reported together; then no runbook is returned.
func LoadDir(dir string) (map[string]*Runbook, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read runbook directory: %w", err)
	}
	var paths []string
	for _, e := range entries {
		if e.Type().IsRegular() || e.Type()&fs.ModeSymlink != 0 {
			if IsRunbookFile(e.Name()) {
				paths = append(paths, filepath.Join(dir, e.Name()))
			}
		}
	}
	return loadAll(paths)
}

func loadAll(paths []string) (map[string]*Runbook, error) {
	out := make(map[string]*Runbook, len(paths))
	var problems []Problem
	var errs []error
	for _, p := range paths {
		rb, err := LoadFile(p)
		if le, ok := errors.AsType[*LoadError](err); ok {
			problems = append(problems, le.Problems...)
			continue
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if prev, dup := out[rb.Name]; dup {
			problems = append(problems, Problem{
				Source: p, Line: 1, Where: "name",
				Message: fmt.Sprintf("runbook %q is also defined in %s; runbook names must be unique, rename one", rb.Name, prev.Source),
			})
			continue
		}
		out[rb.Name] = rb
	}
	if len(problems) > 0 {
		errs = append(errs, &LoadError{Problems: problems})
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return out, nil
}

// DuplicateNames checks that the runbooks, loaded separately, have distinct
// names, and returns a problem for each clash.
func DuplicateNames(rbs []*Runbook) []Problem {
	seen := map[string]*Runbook{}
	var problems []Problem
	for _, rb := range rbs {
		if prev, dup := seen[rb.Name]; dup {
			problems = append(problems, Problem{
				Source: rb.Source, Line: 1, Where: "name",
				Message: fmt.Sprintf("runbook %q is also defined in %s; runbook names must be unique, rename one", rb.Name, prev.Source),
			})
			continue
		}
		seen[rb.Name] = rb
	}
	return problems
}

var (
	yamlLine     = regexp.MustCompile(`^(?:yaml: )?line (\d+): (.*)$`)
	unknownField = regexp.MustCompile(`^field (\S+) not found in type runbook\.(\w+)$`)
)

// yamlProblems turns a YAML decoding error into problems with lines, and
// unknown keys into a message that says what to do.
func yamlProblems(source string, err error) []Problem {
	var msgs []string
	if te, ok := errors.AsType[*yaml.TypeError](err); ok {
		msgs = te.Errors
	} else {
		msgs = []string{err.Error()}
	}
	problems := make([]Problem, 0, len(msgs))
	for _, msg := range msgs {
		p := Problem{Source: source}
		if m := yamlLine.FindStringSubmatch(msg); m != nil {
			fmt.Sscan(m[1], &p.Line) //nolint:errcheck // the pattern matched digits
			msg = m[2]
		}
		if m := unknownField.FindStringSubmatch(msg); m != nil {
			msg = fmt.Sprintf("unknown key %q in %s; check its spelling and where it is indented (see the runbook format)", m[1], blockName(m[2]))
		} else if !strings.HasPrefix(msg, "yaml:") {
			msg = "yaml: " + msg
		}
		p.Message = msg
		problems = append(problems, p)
	}
	return problems
}

func blockName(goType string) string {
	switch goType {
	case "Runbook":
		return "the runbook"
	case "Parameter":
		return "a parameter"
	case "Step":
		return "a step"
	default:
		return "a " + strings.ToLower(goType) + " block"
	}
}

// lines finds the line of a key in the parsed YAML tree, for messages.
type lines struct{ root *yaml.Node }

// at follows path (string: mapping key, int: sequence index) and returns the
// line of the deepest node it reaches.
func (l lines) at(path ...any) int {
	_, line := l.walk(path)
	return line
}

// key returns the line of the last key of path itself (where a mapping
// entry such as a parameter name is written), or what at gives.
func (l lines) key(path ...any) int {
	keyLine, line := l.walk(path)
	if keyLine > 0 {
		return keyLine
	}
	return line
}

// walk follows path and returns the line of the last key reached when the
// whole path was found (0 otherwise) and the line of the deepest node.
func (l lines) walk(path []any) (keyLine, line int) {
	n := l.root
	if n == nil {
		return 0, 0
	}
	if n.Kind == yaml.DocumentNode && len(n.Content) > 0 {
		n = n.Content[0]
	}
	line = n.Line
	for _, p := range path {
		var next *yaml.Node
		keyLine = 0
		switch k := p.(type) {
		case string:
			if n.Kind == yaml.MappingNode {
				for i := 0; i+1 < len(n.Content); i += 2 {
					if n.Content[i].Value == k {
						next, keyLine = n.Content[i+1], n.Content[i].Line
						break
					}
				}
			}
		case int:
			if n.Kind == yaml.SequenceNode && k >= 0 && k < len(n.Content) {
				next = n.Content[k]
			}
		}
		if next == nil {
			return 0, line
		}
		n, line = next, next.Line
	}
	return keyLine, line
}
