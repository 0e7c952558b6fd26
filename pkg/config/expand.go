package config

import (
	"fmt"
	"strings"
)

// expandEnv replaces ${NAME} and ${NAME:-default} in text with values from
// lookup. A bare $ is left alone so secrets and regular expressions that
// contain dollars survive; $${ writes a literal ${. A ${NAME} whose variable is
// unset, without a default, is an error naming the variable and the line, since
// a silently empty token or password is worse than not starting.
func expandEnv(text string, lookup func(string) (string, bool)) (string, error) {
	var b strings.Builder
	line := 1
	for i := 0; i < len(text); i++ {
		c := text[i]
		if c == '\n' {
			line++
		}
		if c != '$' {
			b.WriteByte(c)
			continue
		}
		if strings.HasPrefix(text[i:], "$${") {
			b.WriteString("${")
			i += 2
			continue
		}
		if !strings.HasPrefix(text[i:], "${") {
			b.WriteByte(c)
			continue
		}
		end := strings.IndexByte(text[i:], '}')
		if end < 0 {
			return "", fmt.Errorf("line %d: unterminated ${ (close it with } or write $${ for a literal)", line)
		}
		expr := text[i+2 : i+end]
		name, def, hasDef := strings.Cut(expr, ":-")
		if !validEnvName(name) {
			return "", fmt.Errorf("line %d: ${%s} is not a valid variable reference (use ${NAME} or ${NAME:-default})", line, expr)
		}
		val, ok := lookup(name)
		switch {
		case ok && (val != "" || !hasDef):
			b.WriteString(val)
		case hasDef:
			b.WriteString(def)
		default:
			return "", fmt.Errorf("line %d: environment variable %s is not set (export it, or write ${%s:-default})", line, name, name)
		}
		i += end
	}
	return b.String(), nil
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_', r >= 'A' && r <= 'Z', r >= 'a' && r <= 'z':
		case r >= '0' && r <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}
