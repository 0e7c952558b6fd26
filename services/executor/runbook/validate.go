package runbook

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"cel.dev/cel-go/cel"
)

var (
	namePattern      = regexp.MustCompile(`^[a-z][a-z0-9-]{0,62}$`)
	paramNamePattern = regexp.MustCompile(`^[a-z][a-z0-9_]{0,31}$`)
	// wholePlaceholder is a value that is exactly one placeholder.
	wholePlaceholder = regexp.MustCompile(`^\{\{\s*([a-z][a-z0-9_]{0,31})\s*\}\}$`)
	// anyPlaceholder finds placeholders in procedure text.
	anyPlaceholder  = regexp.MustCompile(`\{\{\s*([^{}]*?)\s*\}\}`)
	ssmDocument     = regexp.MustCompile(`^[A-Za-z0-9_.-]{3,128}$`)
	fixedKey        = regexp.MustCompile(`^[A-Za-z0-9_.:-]{1,255}$`)
	cloudwatchStat  = regexp.MustCompile(`^(Average|Sum|Minimum|Maximum|SampleCount|p(\d{1,2}(\.\d{1,2})?|100))$`)
	cloudwatchField = regexp.MustCompile(`^[^{}\x00-\x1f]{1,255}$`)
)

// spliceMessage is the one sentence every splicing error carries.
const spliceMessage = "a parameter must be a whole value; it is never spliced into text"

type validator struct {
	rb       *Runbook
	source   string
	lines    lines
	problems []Problem
}

func (v *validator) add(line int, where, format string, a ...any) {
	v.problems = append(v.problems, Problem{Source: v.source, Line: line, Where: where, Message: fmt.Sprintf(format, a...)})
}

func (v *validator) validate() {
	rb := v.rb
	switch {
	case rb.Name == "":
		v.add(v.lines.at(), "name", "missing; give the runbook a name such as disk-cleanup (classifier rules select it by this name)")
	case !namePattern.MatchString(rb.Name):
		v.add(v.lines.at("name"), "name", "%q is not a valid runbook name; use lowercase letters, digits and '-', starting with a letter, at most 63 characters", rb.Name)
	}
	if strings.TrimSpace(rb.Description) == "" {
		v.add(v.lines.at("description"), "description", "missing; say in one line what the runbook is for")
	}
	for _, name := range rb.ParameterNames() {
		v.parameter(name, rb.Params[name])
	}
	if strings.TrimSpace(rb.AppliesTo) != "" {
		if env, err := paramEnv(); err != nil {
			v.add(v.lines.at("applies_to"), "applies_to", "build the CEL environment: %v", err)
		} else if _, prg, err := compile(env, rb.AppliesTo, cel.BoolType, "applies_to"); err != nil {
			v.add(v.lines.at("applies_to"), "applies_to", "%v (a bool over alert and incident, e.g. alert.labels.?os.orValue(\"linux\") == \"linux\")", err)
		} else {
			rb.appliesTo = prg
		}
	}
	if len(rb.Steps) == 0 {
		v.add(v.lines.at("steps"), "steps", "a runbook needs at least one step")
	}
	seen := map[string]int{}
	for i, s := range rb.Steps {
		v.step(i, s, seen)
	}
	for _, m := range anyPlaceholder.FindAllStringSubmatch(rb.Procedure, -1) {
		if _, ok := rb.Params[m[1]]; !ok {
			v.add(v.lines.at("procedure"), "procedure", "%s names no parameter; declare %q under parameters: or fix the name", m[0], m[1])
		}
	}
}

func (v *validator) parameter(name string, p *Parameter) {
	where := fmt.Sprintf("parameter %q", name)
	line := v.lines.key("parameters", name)
	if !paramNamePattern.MatchString(name) {
		v.add(line, where, "not a valid parameter name; use lowercase letters, digits and '_', starting with a letter, at most 32 characters")
	}
	if p == nil {
		v.add(line, where, "empty; a parameter needs from: (a CEL expression) and pattern: (an RE2 pattern)")
		return
	}
	p.name = name
	if strings.TrimSpace(p.From) == "" {
		v.add(line, where+": from", "missing; say where the value comes from, e.g. from: alert.resource.host")
	} else if env, err := paramEnv(); err != nil {
		v.add(line, where+": from", "build the CEL environment: %v", err)
	} else if _, prg, err := compile(env, p.From, cel.StringType, "from"); err != nil {
		v.add(v.lines.at("parameters", name, "from"), where+": from", "%v (a string from alert and incident, e.g. alert.resource.host or alert.labels.?mountpoint.orValue(\"/\"))", err)
	} else {
		p.program = prg
	}

	if p.Pattern == "" {
		v.add(line, where+": pattern", "missing; every parameter needs the RE2 pattern its whole value must match, e.g. '^[a-z0-9][a-z0-9.-]{0,62}$' for a host name")
		return
	}
	pline := v.lines.at("parameters", name, "pattern")
	re, err := regexp.Compile(`^(?:` + p.Pattern + `)$`)
	if err != nil {
		v.add(pline, where+": pattern", "not a valid RE2 pattern: %v", err)
		return
	}
	p.re = re
	if !p.AllowUnsafe {
		if why := unsafePattern(re, p.Pattern); why != "" {
			v.add(pline, where+": pattern", "%s; narrow the pattern to the characters the value really needs (e.g. [a-z0-9.-]), or set allow_unsafe: true if it truly must (the value is still passed whole, never spliced)", why)
		}
	}
}

// placeholder checks a value that may be a parameter: either a fixed value
// without any {{ }}, or exactly one {{name}} of a declared parameter.
// It reports whether the value is a placeholder.
func (v *validator) placeholder(line int, where, value string) bool {
	if m := wholePlaceholder.FindStringSubmatch(value); m != nil {
		if _, ok := v.rb.Params[m[1]]; !ok {
			v.add(line, where, "%s names no parameter; declare %q under parameters: or fix the name", value, m[1])
		}
		return true
	}
	if strings.Contains(value, "{{") || strings.Contains(value, "}}") {
		v.add(line, where, "%q: %s; make the whole value one placeholder such as \"{{host}}\" and keep fixed text in a separate argument or in the SSM document", value, spliceMessage)
	}
	return false
}

// fixed checks a value that must not come from a parameter.
func (v *validator) fixed(line int, where, value, what string) {
	if strings.Contains(value, "{{") || strings.Contains(value, "}}") {
		v.add(line, where, "%q: %s must be written in the runbook, not taken from a parameter", value, what)
	}
}

func (v *validator) step(i int, s *Step, seen map[string]int) {
	line := v.lines.at("steps", i)
	where := fmt.Sprintf("steps[%d]", i)
	if s == nil {
		v.add(line, where, "empty step; a step needs name and kind")
		return
	}
	at := func(path ...any) int { return v.lines.at(append([]any{"steps", i}, path...)...) }
	switch {
	case s.Name == "":
		v.add(line, where, "missing name; give every step a name such as check-disk")
	case !namePattern.MatchString(s.Name):
		v.add(at("name"), where, "step name %q is not valid; use lowercase letters, digits and '-', starting with a letter, at most 63 characters", s.Name)
		where = fmt.Sprintf("step %q", s.Name)
	default:
		where = fmt.Sprintf("step %q", s.Name)
		if prev, dup := seen[s.Name]; dup {
			v.add(at("name"), where, "the name is already used by steps[%d]; step names must be unique", prev)
		}
	}
	earlier := make(map[string]bool, len(seen))
	for n := range seen {
		earlier[n] = true
	}
	if s.Name != "" {
		if _, dup := seen[s.Name]; !dup {
			seen[s.Name] = i
		}
	}

	// Exactly its own block.
	blocks := map[Kind]bool{
		KindSSM: s.SSM != nil, KindEC2: s.EC2 != nil, KindCloudWatch: s.CloudWatch != nil,
		KindSSH: s.SSH != nil, KindHTTP: s.HTTP != nil, KindTCP: s.TCP != nil,
		KindDNS: s.DNS != nil, KindWait: s.Wait != nil, KindVerify: s.Verify != nil,
	}
	known := slices.Contains(Kinds, s.Kind)
	switch {
	case s.Kind == "":
		v.add(at(), where, "missing kind; use one of %s", kindList())
	case !known:
		v.add(at("kind"), where, "unknown kind %q; use one of %s", s.Kind, kindList())
	case !blocks[s.Kind]:
		v.add(at(), where, "kind %s needs a %s: block with its settings", s.Kind, s.Kind)
	}
	for _, k := range Kinds {
		if blocks[k] && k != s.Kind {
			v.add(at(string(k)), where, "has a %s: block but kind is %q; a step has exactly the block of its kind, remove it or change kind", k, s.Kind)
		}
	}

	switch {
	case s.Timeout < 0:
		v.add(at("timeout"), where+": timeout", "must not be negative")
	case s.Timeout > MaxTimeout:
		v.add(at("timeout"), where+": timeout", "%s is longer than the maximum %s; split the work or use a verify step", s.Timeout, MaxTimeout)
	case s.Timeout == 0:
		s.Timeout = DefaultTimeout
	}
	if s.Retries < 0 || s.Retries > MaxRetries {
		v.add(at("retries"), where+": retries", "%d is out of range; use 0 to %d", s.Retries, MaxRetries)
	}
	if s.Recovery {
		recoverable := s.Kind == KindSSH || s.Kind == KindSSM ||
			(s.Kind == KindEC2 && s.EC2 != nil && (s.EC2.Action == EC2Reboot || s.EC2.Action == EC2Start))
		if !recoverable {
			v.add(at("recovery"), where+": recovery", "only ssh, ssm and ec2 reboot|start steps can be recovery steps; remove recovery: true")
		}
		if s.Retries > 0 {
			v.add(at("retries"), where+": retries", "a recovery step is never retried blindly (an unknown outcome is verified or escalated); set retries: 0 and add a verify step")
		}
	} else if s.Kind == KindEC2 && s.EC2 != nil && (s.EC2.Action == EC2Reboot || s.EC2.Action == EC2Start) {
		v.add(at("ec2", "action"), where+": recovery", "ec2 %s changes the instance; mark the step recovery: true so rate limits and approval apply", s.EC2.Action)
	}
	if s.Approval && !s.Recovery {
		v.add(at("approval"), where+": approval", "only a recovery step can ask for approval; set recovery: true or remove approval")
	}
	if strings.TrimSpace(s.When) != "" {
		if prg, ok := v.condition(at("when"), where+": when", s.When, earlier); ok {
			s.when = prg
		}
	}

	if !known || !blocks[s.Kind] {
		return
	}
	switch s.Kind {
	case KindSSH:
		v.ssh(at, where, s.SSH)
	case KindSSM:
		v.ssm(at, where, s.SSM)
	case KindEC2:
		v.ec2(at, where, s.EC2)
	case KindCloudWatch:
		v.cloudwatch(at, where, s.CloudWatch)
	case KindHTTP:
		v.http(at, where, s.HTTP)
	case KindTCP:
		v.tcp(at, where, s.TCP)
	case KindDNS:
		v.dns(at, where, s.DNS)
	case KindWait:
		switch d := s.Wait.Duration; {
		case d <= 0:
			v.add(at("wait"), where+": wait.duration", "missing or not positive; say how long to wait, e.g. duration: 30s")
		case d > MaxTimeout:
			v.add(at("wait", "duration"), where+": wait.duration", "%s is longer than the maximum %s", d, MaxTimeout)
		}
	case KindVerify:
		v.verify(at, where, s.Verify, earlier)
	}
}

func kindList() string {
	names := make([]string, len(Kinds))
	for i, k := range Kinds {
		names[i] = string(k)
	}
	return strings.Join(names, ", ")
}

// condition compiles a CEL bool over earlier steps' results.
func (v *validator) condition(line int, where, expr string, earlier map[string]bool) (cel.Program, bool) {
	env, err := stepsEnv()
	if err != nil {
		v.add(line, where, "build the CEL environment: %v", err)
		return nil, false
	}
	ast, prg, err := compile(env, expr, cel.BoolType, "condition")
	if err != nil {
		v.add(line, where, "%v (a bool over earlier steps, e.g. steps.usage.ok or steps[\"check-web\"].exit_code == 0)", err)
		return nil, false
	}
	names, bad := stepRefs(ast)
	ok := true
	for _, b := range bad {
		v.add(line, where, "%s: name one earlier step at a time, as steps.<name> or steps[\"<name>\"]", b)
		ok = false
	}
	for _, n := range names {
		if !earlier[n] {
			v.add(line, where, "steps.%s is not an earlier step; a condition can only read steps that ran before it", n)
			ok = false
		}
	}
	return prg, ok
}

type lineAt func(path ...any) int

func (v *validator) ssh(at lineAt, where string, c *SSH) {
	if c.Host == "" {
		v.add(at("ssh"), where+": ssh.host", "missing; give the host, usually a parameter such as \"{{host}}\"")
	} else {
		v.placeholder(at("ssh", "host"), where+": ssh.host", c.Host)
	}
	if len(c.Argv) == 0 {
		v.add(at("ssh"), where+": ssh.argv", "missing; give the command as a list of arguments, e.g. [\"df\", \"-h\", \"{{mount}}\"] (there is no shell)")
		return
	}
	for j, arg := range c.Argv {
		w := fmt.Sprintf("%s: ssh.argv[%d]", where, j)
		line := at("ssh", "argv", j)
		isParam := v.placeholder(line, w, arg)
		if j == 0 {
			switch {
			case isParam:
				v.add(line, w, "the program to run must be written in the runbook, not taken from a parameter")
			case arg == "":
				v.add(line, w, "the program to run is empty")
			}
		}
	}
}

func (v *validator) ssm(at lineAt, where string, c *SSM) {
	switch {
	case c.Document == "":
		v.add(at("ssm"), where+": ssm.document", "missing; name the SSM document to run, e.g. MSP-CleanTempFiles")
	case strings.Contains(c.Document, "{{"):
		v.fixed(at("ssm", "document"), where+": ssm.document", c.Document, "the document")
	case !ssmDocument.MatchString(c.Document):
		v.add(at("ssm", "document"), where+": ssm.document", "%q is not an SSM document name (letters, digits, '_', '.', '-'; 3 to 128)", c.Document)
	}
	switch {
	case c.Instance == "":
		v.add(at("ssm"), where+": ssm.instance", "missing; give the managed instance as a parameter, e.g. instance: \"{{instance}}\"")
	case !v.placeholder(at("ssm", "instance"), where+": ssm.instance", c.Instance):
		if !strings.Contains(c.Instance, "{{") {
			v.add(at("ssm", "instance"), where+": ssm.instance", "%q must be a parameter such as \"{{instance}}\" taken from the alert, so the executor can check the instance belongs to the incident's tenant", c.Instance)
		}
	}
	for _, k := range sortedKeys(c.Parameters) {
		w := where + ": ssm.parameters." + k
		if !fixedKey.MatchString(k) {
			v.add(at("ssm", "parameters"), w, "%q is not a document parameter name", k)
		}
		v.placeholder(at("ssm", "parameters", k), w, c.Parameters[k])
	}
}

func (v *validator) ec2(at lineAt, where string, c *EC2) {
	switch c.Action {
	case EC2Reboot, EC2Start, EC2Status:
	case "":
		v.add(at("ec2"), where+": ec2.action", "missing; use reboot, start or status")
	default:
		v.add(at("ec2", "action"), where+": ec2.action", "unknown action %q; use reboot, start or status", c.Action)
	}
	switch {
	case c.Instance == "":
		v.add(at("ec2"), where+": ec2.instance", "missing; give the instance as a parameter, e.g. instance: \"{{instance}}\"")
	case !v.placeholder(at("ec2", "instance"), where+": ec2.instance", c.Instance):
		if !strings.Contains(c.Instance, "{{") {
			v.add(at("ec2", "instance"), where+": ec2.instance", "%q must be a parameter such as \"{{instance}}\" taken from the alert, so the executor can check the instance belongs to the incident's tenant", c.Instance)
		}
	}
}

func (v *validator) cloudwatch(at lineAt, where string, c *CloudWatch) {
	w := where + ": cloudwatch."
	for _, f := range []struct{ key, val, example string }{
		{"namespace", c.Namespace, "AWS/EC2"},
		{"metric", c.Metric, "CPUUtilization"},
	} {
		switch {
		case f.val == "":
			v.add(at("cloudwatch"), w+f.key, "missing; e.g. %s: %s", f.key, f.example)
		case strings.Contains(f.val, "{{"):
			v.fixed(at("cloudwatch", f.key), w+f.key, f.val, "the "+f.key)
		case !cloudwatchField.MatchString(f.val):
			v.add(at("cloudwatch", f.key), w+f.key, "%q is not a valid %s", f.val, f.key)
		}
	}
	switch {
	case c.Stat == "":
		v.add(at("cloudwatch"), w+"stat", "missing; use Average, Sum, Minimum, Maximum, SampleCount or a percentile such as p99")
	case !cloudwatchStat.MatchString(c.Stat):
		v.add(at("cloudwatch", "stat"), w+"stat", "%q is not a statistic; use Average, Sum, Minimum, Maximum, SampleCount or a percentile such as p99", c.Stat)
	}
	switch p := c.Period; {
	case p <= 0:
		v.add(at("cloudwatch"), w+"period", "missing or not positive; e.g. period: 5m")
	case p%time.Second != 0 || (p < time.Minute && !slices.Contains([]time.Duration{time.Second, 5 * time.Second, 10 * time.Second, 30 * time.Second}, p)) || (p >= time.Minute && p%time.Minute != 0):
		v.add(at("cloudwatch", "period"), w+"period", "%s is not a CloudWatch period; use 1s, 5s, 10s, 30s or a multiple of 1m", p)
	}
	for _, k := range sortedKeys(c.Dimensions) {
		if !fixedKey.MatchString(k) {
			v.add(at("cloudwatch", "dimensions"), w+"dimensions."+k, "%q is not a dimension name", k)
		}
		v.placeholder(at("cloudwatch", "dimensions", k), w+"dimensions."+k, c.Dimensions[k])
	}
}

func (v *validator) http(at lineAt, where string, c *HTTP) {
	w := where + ": http."
	if c.URL == "" {
		v.add(at("http"), w+"url", "missing; give the URL to probe, e.g. https://example.com/healthz, or a parameter \"{{url}}\"")
	} else if !v.placeholder(at("http", "url"), w+"url", c.URL) && !strings.Contains(c.URL, "{{") {
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			v.add(at("http", "url"), w+"url", "%q is not an http:// or https:// URL with a host", c.URL)
		}
	}
	switch c.Method {
	case "", http.MethodGet, http.MethodHead:
	default:
		v.add(at("http", "method"), w+"method", "%q is not allowed; a probe uses GET or HEAD", c.Method)
	}
	switch {
	case c.ExpectStatus == 0:
		v.add(at("http"), w+"expect_status", "missing; say which status means healthy, e.g. expect_status: 200")
	case c.ExpectStatus < 100 || c.ExpectStatus > 599:
		v.add(at("http", "expect_status"), w+"expect_status", "%d is not an HTTP status code (100–599)", c.ExpectStatus)
	}
}

func (v *validator) tcp(at lineAt, where string, c *TCP) {
	w := where + ": tcp."
	if c.Port < 0 || c.Port > 65535 {
		v.add(at("tcp", "port"), w+"port", "%d is not a port (1–65535)", c.Port)
	}
	if c.Address == "" {
		v.add(at("tcp"), w+"address", "missing; give host:port, or a parameter \"{{host}}\" with port:")
		return
	}
	if v.placeholder(at("tcp", "address"), w+"address", c.Address) {
		if c.Port == 0 {
			v.add(at("tcp"), w+"port", "missing; with a parameter as the address, say the port, e.g. port: 443")
		}
		return
	}
	if strings.Contains(c.Address, "{{") {
		return
	}
	if _, port, err := net.SplitHostPort(c.Address); err == nil {
		if c.Port != 0 {
			v.add(at("tcp", "port"), w+"port", "the address %q already has a port; remove port:", c.Address)
		}
		if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
			v.add(at("tcp", "address"), w+"address", "%q has no valid port", c.Address)
		}
	} else if c.Port == 0 {
		v.add(at("tcp", "address"), w+"address", "%q has no port; write host:port or add port:", c.Address)
	}
}

func (v *validator) dns(at lineAt, where string, c *DNS) {
	w := where + ": dns."
	if c.Name == "" {
		v.add(at("dns"), w+"name", "missing; give the name to look up, or a parameter \"{{host}}\"")
	} else {
		v.placeholder(at("dns", "name"), w+"name", c.Name)
	}
	switch c.Type {
	case "", "A", "AAAA", "CNAME", "MX", "NS", "TXT":
	default:
		v.add(at("dns", "type"), w+"type", "%q is not supported; use A, AAAA, CNAME, MX, NS or TXT", c.Type)
	}
}

func (v *validator) verify(at lineAt, where string, c *Verify, earlier map[string]bool) {
	w := where + ": verify."
	switch {
	case c.Step == "":
		v.add(at("verify"), w+"step", "missing; name the earlier check step to re-run")
	case !earlier[c.Step]:
		v.add(at("verify", "step"), w+"step", "%q is not an earlier step; verify re-runs a check that comes before it", c.Step)
	default:
		for _, s := range v.rb.Steps {
			if s == nil || s.Name != c.Step {
				continue
			}
			switch {
			case s.Recovery:
				v.add(at("verify", "step"), w+"step", "%q is a recovery step; verify re-runs a check, never a recovery", c.Step)
			case s.Kind == KindVerify || s.Kind == KindWait:
				v.add(at("verify", "step"), w+"step", "%q is a %s step; verify re-runs a check (ssh, http, tcp, dns, cloudwatch, ec2 status, ssm)", c.Step, s.Kind)
			}
			break
		}
	}
	if strings.TrimSpace(c.Until) == "" {
		v.add(at("verify"), w+"until", "missing; give the CEL condition that means healthy, e.g. until: steps.usage.ok")
	} else if prg, ok := v.condition(at("verify", "until"), w+"until", c.Until, earlier); ok {
		c.until = prg
	}
	if c.Every <= 0 {
		v.add(at("verify"), w+"every", "missing or not positive; say how often to re-check, e.g. every: 10s")
	}
	switch {
	case c.For <= 0:
		v.add(at("verify"), w+"for", "missing or not positive; say how long to keep trying, e.g. for: 2m")
	case c.For > MaxTimeout:
		v.add(at("verify", "for"), w+"for", "%s is longer than the maximum %s", c.For, MaxTimeout)
	case c.Every > c.For:
		v.add(at("verify", "every"), w+"every", "%s is longer than for: %s; it would never re-check", c.Every, c.For)
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
