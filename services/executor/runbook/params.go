package runbook

import (
	"context"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode/utf8"

	"cel.dev/cel-go/common/types"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// shellMeta are the characters a pattern must not admit without
// allow_unsafe: they end, chain, redirect, substitute, quote, split or glob
// in a shell, and a value that holds none of them cannot change the meaning
// of a command line even if some step later misused it.
const shellMeta = ";|&$`\n<>()'\"* ?\t\r\\"

// unsafeProbes are values a safe pattern must refuse: one per shell
// metacharacter in the positions a real attack would use, and option-like
// values with a leading "-".
var unsafeProbes = func() []string {
	var probes []string
	for _, c := range shellMeta {
		s := string(c)
		probes = append(probes, s, "a"+s, s+"a", "a"+s+"b", "1"+s+"1", "/"+s, "/tmp"+s+"x", "a.b"+s+"c", "host-1"+s+"id")
	}
	for _, s := range []string{"'", "\""} {
		probes = append(probes, s+"a"+s)
	}
	probes = append(probes, "$(id)", "`id`", "a;id", "a|id", "a&&id", "a\nid", "a b", "*", "?", "\x00", "a\x00b")
	probes = append(probes, "-", "--", "-a", "-1", "-rf", "--help", "-x.y", "-/", "--a=b", "-0", "-A", "-_")
	return probes
}()

// unsafePattern says why the anchored pattern re is unsafe, or "" when it
// is not. It tries the probes, then looks at the pattern's syntax for any
// metacharacter a probe might miss (e.g. `^host-[0-9]+;.*$`).
func unsafePattern(re *regexp.Regexp, pattern string) string {
	for _, p := range unsafeProbes {
		if re.MatchString(p) {
			if strings.HasPrefix(p, "-") {
				return fmt.Sprintf("the pattern accepts %q, a value starting with '-' that a program would read as an option", p)
			}
			return fmt.Sprintf("the pattern accepts %q, which holds a shell metacharacter or a control character", p)
		}
	}
	parsed, err := syntax.Parse(`^(?:`+pattern+`)$`, syntax.Perl)
	if err != nil {
		return "" // re compiled, so this does not happen
	}
	parsed = parsed.Simplify()
	for _, c := range shellMeta + "\x00" {
		if admits(parsed, c) {
			return fmt.Sprintf("the pattern can accept %q, a shell metacharacter or a control character", string(c))
		}
	}
	if firstAdmits(parsed, '-') {
		return "the pattern can accept a value starting with '-', which a program would read as an option"
	}
	return ""
}

// admits reports whether re can match a string holding the rune c anywhere.
// It over-approximates: any literal or class containing c counts.
func admits(re *syntax.Regexp, c rune) bool {
	switch re.Op {
	case syntax.OpLiteral:
		for _, r := range re.Rune {
			if literalIs(re, r, c) {
				return true
			}
		}
		return false
	case syntax.OpCharClass:
		return inClass(re.Rune, c)
	case syntax.OpAnyChar:
		return true
	case syntax.OpAnyCharNotNL:
		return c != '\n'
	}
	for _, sub := range re.Sub {
		if admits(sub, c) {
			return true
		}
	}
	return false
}

// literalIs reports whether the literal rune r of re matches c, folding
// case when re does.
func literalIs(re *syntax.Regexp, r, c rune) bool {
	return r == c || (re.Flags&syntax.FoldCase != 0 && strings.EqualFold(string(r), string(c)))
}

func inClass(ranges []rune, c rune) bool {
	for i := 0; i+1 < len(ranges); i += 2 {
		if ranges[i] <= c && c <= ranges[i+1] {
			return true
		}
	}
	return false
}

// firstAdmits reports whether re can match a string whose first rune is c.
func firstAdmits(re *syntax.Regexp, c rune) bool {
	switch re.Op {
	case syntax.OpLiteral:
		if len(re.Rune) == 0 {
			return false
		}
		return literalIs(re, re.Rune[0], c)
	case syntax.OpCharClass:
		return inClass(re.Rune, c)
	case syntax.OpAnyChar:
		return true
	case syntax.OpAnyCharNotNL:
		return c != '\n'
	case syntax.OpCapture, syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpRepeat:
		return firstAdmits(re.Sub[0], c)
	case syntax.OpAlternate:
		for _, sub := range re.Sub {
			if firstAdmits(sub, c) {
				return true
			}
		}
		return false
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if firstAdmits(sub, c) {
				return true
			}
			if !nullable(sub) {
				return false
			}
		}
		return false
	}
	return false
}

// nullable reports whether re can match without consuming a rune.
func nullable(re *syntax.Regexp) bool {
	switch re.Op {
	case syntax.OpEmptyMatch, syntax.OpBeginLine, syntax.OpEndLine, syntax.OpBeginText, syntax.OpEndText,
		syntax.OpWordBoundary, syntax.OpNoWordBoundary, syntax.OpStar, syntax.OpQuest:
		return true
	case syntax.OpLiteral:
		return len(re.Rune) == 0
	case syntax.OpCapture, syntax.OpPlus:
		return nullable(re.Sub[0])
	case syntax.OpRepeat:
		return re.Min == 0 || nullable(re.Sub[0])
	case syntax.OpConcat:
		for _, sub := range re.Sub {
			if !nullable(sub) {
				return false
			}
		}
		return true
	case syntax.OpAlternate:
		for _, sub := range re.Sub {
			if nullable(sub) {
				return true
			}
		}
		return false
	}
	return false
}

// maxEcho bounds how much of a refused value an error repeats: the value
// came from outside and may be long or hostile.
const maxEcho = 64

func echo(s string) string {
	if len(s) <= maxEcho {
		return fmt.Sprintf("%q", s)
	}
	cut := maxEcho
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%q… (%d bytes)", s[:cut], len(s))
}

// Parameters evaluates every parameter's from expression against the alert
// and the incident and checks the value against its pattern. Any empty,
// failing or non-matching value is an error naming the parameter: the run
// stops there and no step runs.
func (r *Runbook) Parameters(ctx context.Context, alert *amsv1.Alert, incident *amsv1.Incident) (map[string]string, error) {
	if alert == nil {
		alert = &amsv1.Alert{}
	}
	if incident == nil {
		incident = &amsv1.Incident{}
	}
	vars := map[string]any{"alert": alert, "incident": incident}
	out := make(map[string]string, len(r.Params))
	for _, name := range r.ParameterNames() {
		p := r.Params[name]
		if p.program == nil || p.re == nil {
			return nil, fmt.Errorf("runbook %s: parameter %s is not compiled; load runbooks with Load", r.Name, name)
		}
		val, _, err := p.program.ContextEval(ctx, vars)
		if err != nil {
			return nil, fmt.Errorf("runbook %s: parameter %s: evaluate %s: %w; the run stops", r.Name, name, p.From, err)
		}
		s, ok := val.(types.String)
		if !ok {
			return nil, fmt.Errorf("runbook %s: parameter %s: %s gave a %s, not a string; the run stops", r.Name, name, p.From, val.Type())
		}
		v := string(s)
		switch {
		case v == "":
			return nil, fmt.Errorf("runbook %s: parameter %s: %s is empty for this alert; the run stops", r.Name, name, p.From)
		case len(v) > MaxValueBytes:
			return nil, fmt.Errorf("runbook %s: parameter %s: value %s is longer than %d bytes; the run stops", r.Name, name, echo(v), MaxValueBytes)
		case !utf8.ValidString(v) || strings.ContainsRune(v, 0):
			return nil, fmt.Errorf("runbook %s: parameter %s: value %s is not clean UTF-8 text; the run stops", r.Name, name, echo(v))
		case !p.re.MatchString(v):
			return nil, fmt.Errorf("runbook %s: parameter %s: value %s does not match the pattern %s; the run stops", r.Name, name, echo(v), p.Pattern)
		}
		out[name] = v
	}
	return out, nil
}
