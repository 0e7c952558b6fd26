package amsctl

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
)

// runbookExamples is the executor's example runbooks.
var runbookExamples = filepath.Join("..", "..", "..", "executor", "runbook", "testdata")

func writeRunbook(t testing.TB, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	require.NoError(t, os.WriteFile(p, []byte(content), 0o600))
	return p
}

const validRunbook = `name: ping-web
description: Probe a web site.
steps:
  - name: probe
    kind: http
    http: {url: "https://www.example.com/", expect_status: 200}
`

func TestRunbooksValidate(t *testing.T) {
	dir := t.TempDir()
	good := writeRunbook(t, dir, "good.yaml", validRunbook)
	spliced := writeRunbook(t, dir, "spliced.yml", `name: spliced
description: Splices a value.
parameters:
  mount:
    from: alert.labels.mountpoint
    pattern: '^/[a-z]+$'
steps:
  - name: clean
    kind: ssh
    ssh: {host: db1, argv: [rm, "--path={{mount}}"]}
`)
	dupDir := t.TempDir()
	dup1 := writeRunbook(t, dupDir, "a.yaml", validRunbook)
	dup2 := writeRunbook(t, dupDir, "b.yaml", validRunbook)
	empty := t.TempDir()
	writeRunbook(t, empty, "README.md", "no runbooks here")

	tests := []struct {
		name       string
		args       []string
		code       int
		wantStdout []string
		wantStderr []string
	}{
		{
			name: "the examples",
			args: []string{"runbooks", "validate", runbookExamples},
			code: exitOK,
			wantStdout: []string{
				"ok  " + filepath.Join(runbookExamples, "disk-full.yaml") + "                disk-full                4 steps (1 recovery)",
				"ok  " + filepath.Join(runbookExamples, "ec2-status-check-failed.yaml") + "  ec2-status-check-failed  4 steps (1 recovery)",
				"ok  " + filepath.Join(runbookExamples, "high-cpu.yaml") + "                 high-cpu                 3 steps (0 recovery)",
				"ok  " + filepath.Join(runbookExamples, "web-service-down.yaml") + "         web-service-down         5 steps (1 recovery)",
			},
		},
		{
			name:       "one file",
			args:       []string{"runbooks", "validate", good},
			code:       exitOK,
			wantStdout: []string{"ok  " + good + "  ping-web  1 steps (0 recovery)"},
		},
		{
			name:       "a failing file among good ones",
			args:       []string{"runbooks", "validate", dir},
			code:       exitError,
			wantStdout: []string{"ok  " + good + "  ping-web  1 steps (0 recovery)"},
			wantStderr: []string{
				spliced + `:10: step "clean": ssh.argv[1]: "--path={{mount}}": a parameter must be a whole value; it is never spliced into text`,
				"amsctl: 1 of 2 runbook files failed validation\n",
			},
		},
		{
			name:       "duplicate names",
			args:       []string{"runbooks", "validate", dup1, dup2},
			code:       exitError,
			wantStdout: []string{"ok  " + dup1 + "  ping-web  1 steps (0 recovery)"},
			wantStderr: []string{dup2 + `:1: name: runbook "ping-web" is also defined in ` + dup1, "amsctl: 1 of 2 runbook files failed validation"},
		},
		{
			name:       "no arguments",
			args:       []string{"runbooks", "validate"},
			code:       exitUsage,
			wantStderr: []string{"amsctl: amsctl runbooks validate takes at least one runbook file or directory", "Run 'amsctl runbooks validate --help' for usage."},
		},
		{
			name:       "missing file",
			args:       []string{"runbooks", "validate", filepath.Join(dir, "nope.yaml")},
			code:       exitUsage,
			wantStderr: []string{"amsctl: " + filepath.Join(dir, "nope.yaml") + ": no such file or directory"},
		},
		{
			name:       "directory without runbooks",
			args:       []string{"runbooks", "validate", empty},
			code:       exitUsage,
			wantStderr: []string{"holds no runbook files (*.yaml, *.yml)"},
		},
		{
			name:       "unknown subcommand",
			args:       []string{"runbooks", "check"},
			code:       exitUsage,
			wantStderr: []string{`unknown command "check" for "amsctl runbooks"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// No --server: validation never talks to AMS.
			res := runCLI(t, nil, tt.args...)
			require.Equal(t, tt.code, res.code, "stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
			if tt.wantStdout != nil {
				require.Equal(t, tt.wantStdout, lines(res.stdout))
			} else {
				require.Empty(t, res.stdout)
			}
			for _, w := range tt.wantStderr {
				require.Contains(t, res.stderr, w)
			}
			if tt.code == exitOK {
				require.Empty(t, res.stderr)
			}
		})
	}
}
