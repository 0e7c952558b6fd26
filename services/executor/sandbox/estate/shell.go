package estate

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"time"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/syntax"

	"github.com/amsproject/ams/services/executor/sandbox/sshd"
)

// Exec is the shell of host for the sandbox's sshd: it reads the command
// line as /bin/sh would and answers the commands the estate knows.
func (e *Estate) Exec(host string) sshd.ExecFunc {
	return func(_ context.Context, _ string, line string) ([]byte, []byte, int) {
		argv, err := Argv(line)
		if err != nil {
			return nil, []byte("sh: " + err.Error() + "\n"), 2
		}
		if len(argv) == 0 {
			return nil, nil, 0
		}
		e.mu.Lock()
		defer e.mu.Unlock()
		h, ok := e.hosts[host]
		if !ok {
			return nil, []byte("sh: no such host in the sandbox: " + host + "\n"), 255
		}
		out, errOut, code := e.command(h, argv)
		return []byte(out), []byte(errOut), code
	}
}

// Argv reads a command line as a POSIX shell would and returns its words,
// refusing a line that is anything but one simple command of literal
// words: a second command, a pipe, a redirection, an assignment, or an
// expansion ($var, $(...), backticks, arithmetic, globs) would have made a
// real shell do more than run that one command with those arguments.
func Argv(line string) ([]string, error) {
	f, err := syntax.NewParser(syntax.Variant(syntax.LangPOSIX)).Parse(strings.NewReader(line), "")
	if err != nil {
		return nil, fmt.Errorf("syntax error: %w", err)
	}
	switch {
	case len(f.Stmts) == 0:
		return nil, nil
	case len(f.Stmts) > 1:
		return nil, fmt.Errorf("the line holds %d commands; the sandbox runs one simple command", len(f.Stmts))
	}
	st := f.Stmts[0]
	call, ok := st.Cmd.(*syntax.CallExpr)
	switch {
	case !ok:
		return nil, fmt.Errorf("the line is a compound command or pipeline (%s); the sandbox runs one simple command", nodeName(st.Cmd))
	case st.Background || st.Negated || st.Coprocess:
		return nil, fmt.Errorf("the command is run in the background or negated; the sandbox runs one simple command")
	case len(st.Redirs) > 0:
		return nil, fmt.Errorf("the command has a redirection; the sandbox runs one simple command")
	case len(call.Assigns) > 0:
		return nil, fmt.Errorf("the command sets a variable; the sandbox runs one simple command")
	}
	argv := make([]string, 0, len(call.Args))
	for _, w := range call.Args {
		if what := expansion(w); what != "" {
			return nil, fmt.Errorf("word %d asks the shell to expand %s; the sandbox takes literal words only", len(argv)+1, what)
		}
		// Fields does the shell's quote removal; with no expansions left
		// and no ReadDir to glob with, a word is exactly one field. A
		// fresh Config each time: with nil, expand (v3.14.1) prepares a
		// shared package-level Config in place, a data race between
		// concurrent sessions.
		fields, err := expand.Fields(&expand.Config{}, w)
		switch {
		case err != nil:
			return nil, fmt.Errorf("word %d is not one literal word (%d fields, %w)", len(argv)+1, len(fields), err)
		case len(fields) != 1:
			return nil, fmt.Errorf("word %d is not one literal word (%d fields)", len(argv)+1, len(fields))
		}
		argv = append(argv, fields[0])
	}
	return argv, nil
}

// expansion names what in w a shell would expand, or "" for a word of
// plain and quoted text.
func expansion(w *syntax.Word) string {
	what := ""
	syntax.Walk(w, func(n syntax.Node) bool {
		if what != "" {
			return false
		}
		switch n := n.(type) {
		case *syntax.ParamExp:
			what = "a parameter ($" + n.Param.Value + ")"
		case *syntax.CmdSubst:
			what = "a command substitution"
		case *syntax.ArithmExp:
			what = "an arithmetic expression"
		case *syntax.ProcSubst:
			what = "a process substitution"
		case *syntax.ExtGlob, *syntax.BraceExp:
			what = "a pattern"
		case *syntax.SglQuoted:
			if n.Dollar {
				what = "a $'...' string"
			}
		case *syntax.Lit:
			// An unquoted glob character would match file names.
			if strings.ContainsAny(n.Value, "*?[") && !quotedLit(w, n) {
				what = "a glob (" + n.Value + ")"
			}
		}
		return true
	})
	return what
}

// quotedLit reports whether lit sits inside double quotes in w.
func quotedLit(w *syntax.Word, lit *syntax.Lit) bool {
	for _, p := range w.Parts {
		if dq, ok := p.(*syntax.DblQuoted); ok && slices.ContainsFunc(dq.Parts, func(q syntax.WordPart) bool { return q == lit }) {
			return true
		}
	}
	return false
}

func nodeName(n syntax.Node) string {
	return strings.TrimPrefix(fmt.Sprintf("%T", n), "*syntax.")
}

// command answers argv on h; the caller holds e.mu.
func (e *Estate) command(h *Host, argv []string) (string, string, int) {
	args := argv[1:]
	switch argv[0] {
	case "systemctl":
		return systemctl(e, h, args)
	case "df":
		return df(h, args)
	case "du":
		return du(h, args)
	case "ps":
		return ps(h), "", 0
	case "uptime":
		return fmt.Sprintf(" %s up 41 days,  3:12,  1 user,  load average: %.2f, %.2f, %.2f\n",
			time.Now().UTC().Format("15:04:05"), h.Load[0], h.Load[1], h.Load[2]), "", 0
	case "hostname":
		return h.Name + "\n", "", 0
	case "echo":
		return strings.Join(args, " ") + "\n", "", 0
	case "true":
		return "", "", 0
	}
	return "", fmt.Sprintf("sh: 1: %s: not found\n", argv[0]), 127
}

// operands drops options (and a "--" that ends them) from args.
func operands(args []string) (opts, ops []string) {
	for i, a := range args {
		if a == "--" {
			return opts, append(ops, args[i+1:]...)
		}
		if strings.HasPrefix(a, "-") && a != "-" {
			opts = append(opts, a)
		} else {
			ops = append(ops, a)
		}
	}
	return opts, ops
}

func systemctl(e *Estate, h *Host, args []string) (string, string, int) {
	_, ops := operands(args)
	if len(ops) < 1 {
		return "", "systemctl: a verb is needed (is-active, status, restart)\n", 1
	}
	verb, units := ops[0], ops[1:]
	if len(units) == 0 {
		return "", "Too few arguments.\n", 1
	}
	switch verb {
	case "is-active":
		var out strings.Builder
		code := 0
		for _, name := range units {
			u, ok := h.Units[name]
			state := "inactive"
			switch {
			case ok && u.Active:
				state = "active"
			case ok && u.RestartFails != "":
				state = "failed"
			}
			if state != "active" {
				code = 3
			}
			out.WriteString(state + "\n")
		}
		return out.String(), "", code
	case "status":
		name := units[0]
		u, ok := h.Units[name]
		if !ok {
			return "", fmt.Sprintf("Unit %s could not be found.\n", name), 4
		}
		state, code := "active (running)", 0
		if !u.Active {
			state, code = "failed (Result: exit-code)", 3
		}
		return fmt.Sprintf("● %s\n     Loaded: loaded (/lib/systemd/system/%s; enabled)\n     Active: %s\n", name, name, state), "", code
	case "restart":
		var out, errOut strings.Builder
		code := 0
		for _, name := range units {
			o, eo, c := e.restart(h, name)
			out.WriteString(o)
			errOut.WriteString(eo)
			code = max(code, c)
		}
		return out.String(), errOut.String(), code
	}
	return "", fmt.Sprintf("Unknown command verb %s.\n", verb), 1
}

// df answers df [-h] [-P] [--output=FIELDS] [--] [PATH...].
func df(h *Host, args []string) (string, string, int) {
	opts, paths := operands(args)
	human, fields := false, []string{"source", "size", "used", "avail", "pcent", "target"}
	for _, o := range opts {
		switch {
		case o == "-h" || o == "--human-readable":
			human = true
		case o == "-P" || o == "--portability" || o == "-k":
		case strings.HasPrefix(o, "--output="):
			fields = strings.Split(strings.TrimPrefix(o, "--output="), ",")
		default:
			return "", fmt.Sprintf("df: invalid option -- '%s'\n", strings.TrimLeft(o, "-")), 1
		}
	}
	mounts := paths
	if len(mounts) == 0 {
		for m := range h.Disks {
			mounts = append(mounts, m)
		}
		slices.Sort(mounts)
	}
	heads := map[string]string{"source": "Filesystem", "size": "Size", "used": "Used", "avail": "Avail", "pcent": "Use%", "target": "Mounted on"}
	if !human {
		heads["size"], heads["avail"] = "1K-blocks", "Available"
	}
	var rows [][]string
	head := make([]string, 0, len(fields))
	for _, f := range fields {
		name, ok := heads[f]
		if !ok {
			return "", fmt.Sprintf("df: '%s': not a valid field for --output\n", f), 1
		}
		head = append(head, name)
	}
	rows = append(rows, head)
	size := func(gib float64) string {
		if human {
			return fmt.Sprintf("%.0fG", gib)
		}
		return fmt.Sprintf("%.0f", gib*1024*1024) // 1K blocks
	}
	var errOut strings.Builder
	code := 0
	for _, p := range mounts {
		m, ok := mountOf(h, p)
		if !ok {
			fmt.Fprintf(&errOut, "df: %s: No such file or directory\n", p)
			code = 1
			continue
		}
		d := h.Disks[m]
		vals := map[string]string{
			"source": d.Device, "size": size(d.SizeGiB), "used": size(d.UsedGiB),
			"avail": size(d.SizeGiB - d.UsedGiB), "pcent": fmt.Sprintf("%d%%", percent(d)), "target": m,
		}
		row := make([]string, 0, len(fields))
		for _, f := range fields {
			row = append(row, vals[f])
		}
		rows = append(rows, row)
	}
	return table(rows), errOut.String(), code
}

// percent is df's Use%: used over size, rounded up.
func percent(d Disk) int {
	if d.SizeGiB <= 0 {
		return 0
	}
	return int(math.Ceil(d.UsedGiB / d.SizeGiB * 100))
}

// du answers du [-x] [-s] [-h] [--] PATH: the mount's usage.
func du(h *Host, args []string) (string, string, int) {
	_, paths := operands(args)
	if len(paths) == 0 {
		paths = []string{"."}
	}
	var out, errOut strings.Builder
	code := 0
	for _, p := range paths {
		m, ok := mountOf(h, p)
		if !ok {
			fmt.Fprintf(&errOut, "du: cannot access '%s': No such file or directory\n", p)
			code = 1
			continue
		}
		d := h.Disks[m]
		fmt.Fprintf(&out, "%.0fG\t%s\n", d.UsedGiB, p)
		if d.TempGiB >= 1 {
			fmt.Fprintf(&out, "%.0fG\t%s/tmp (temporary files)\n", d.TempGiB, strings.TrimSuffix(m, "/"))
		}
	}
	return out.String(), errOut.String(), code
}

// ps lists the processes, busiest first, whatever the options.
func ps(h *Host) string {
	procs := slices.Clone(h.Processes)
	sort.SliceStable(procs, func(i, j int) bool { return procs[i].CPU > procs[j].CPU })
	rows := [][]string{{"PID", "USER", "%CPU", "%MEM", "ELAPSED", "COMMAND"}}
	for _, p := range procs {
		rows = append(rows, []string{fmt.Sprint(p.PID), p.User, fmt.Sprintf("%.1f", p.CPU), fmt.Sprintf("%.1f", p.Mem), p.Elapsed, p.Command})
	}
	return table(rows)
}

// table aligns rows in columns separated by two spaces.
func table(rows [][]string) string {
	var widths []int
	for _, r := range rows {
		for i, c := range r {
			if i >= len(widths) {
				widths = append(widths, 0)
			}
			widths[i] = max(widths[i], len(c))
		}
	}
	var b strings.Builder
	for _, r := range rows {
		for i, c := range r {
			if i == len(r)-1 {
				b.WriteString(c)
				break
			}
			b.WriteString(c + strings.Repeat(" ", widths[i]-len(c)+2))
		}
		b.WriteByte('\n')
	}
	return b.String()
}
