package sshstep

import (
	"errors"
	"fmt"
	"strings"
)

// command turns argv into the one string an SSH exec request carries.
//
// SSH has no argv: the exec request (RFC 4254 6.5) holds a single string,
// and OpenSSH's sshd runs it as `$SHELL -c string` with the login user's
// shell. Joining argv with spaces would let any value with a space, quote,
// `;`, `$(...)`, newline or glob become shell code on the customer's host —
// the alert text would be running commands. So each element is wrapped in
// single quotes, inside which a POSIX shell gives every byte its literal
// meaning (no expansion, no escapes, newlines kept); the only byte that
// cannot appear inside is the single quote itself, which is written as
// close-quote, backslash-quote, open-quote. Each element then reaches the
// program as exactly one argument, byte for byte, the empty string included:
//
//	["echo", "it's; $(rm -rf /)", ""]
//	'echo' 'it'\''s; $(rm -rf /)' ''
//
// NUL is refused: a C string ends at NUL, so the shell would see a shorter
// argument than the runbook gave — a silent change of what runs. An empty
// argv is refused because there is no program to run.
//
// This relies on the user's login shell being a POSIX shell (sh, dash,
// bash, ksh, zsh), which is what the tenant's SSH user must have; csh and
// fish parse quotes differently.
func command(argv []string) (string, error) {
	if len(argv) == 0 {
		return "", errors.New("argv is empty: an SSH step needs a program to run")
	}
	var b strings.Builder
	for i, a := range argv {
		if strings.IndexByte(a, 0) >= 0 {
			return "", fmt.Errorf("argv[%d] contains a NUL byte, which cannot be passed as an argument; nothing was sent", i)
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(a, "'", `'\''`))
		b.WriteByte('\'')
	}
	return b.String(), nil
}
