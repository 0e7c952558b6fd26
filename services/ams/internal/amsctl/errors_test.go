package amsctl

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

func TestServerErrors(t *testing.T) {
	addr := startServer(t, newFakeAdmin())
	closed := closedAddr(t)

	tests := []struct {
		name       string
		args       []string
		wantStderr []string // each must appear in stderr
		notStderr  string
	}{
		{
			name:       "incident not found",
			args:       []string{"--server", addr, "incidents", "get", "inc-404"},
			wantStderr: []string{"amsctl: incident inc-404 not found\n"},
		},
		{
			name:       "ticket not found",
			args:       []string{"--server", addr, "tickets", "get", "tkt-404"},
			wantStderr: []string{"amsctl: ticket tkt-404 not found\n"},
		},
		{
			name: "server error shows the status message, not the gRPC wrapping",
			args: []string{"--server", addr, "incidents", "list", "--tenant", tenantBroken},
			wantStderr: []string{
				"amsctl: list incidents: decode incident inc-9: proto: cannot parse invalid wire-format data\n",
			},
		},
		{
			name: "Unavailable from a running server is not called unreachable",
			args: []string{"--server", addr, "tickets", "list", "--tenant", tenantNoKV},
			wantStderr: []string{
				"amsctl: list tickets: read incidents bucket: nats: timeout\n",
			},
			notStderr: "is ams running",
		},
		{
			name: "unreachable server names the address",
			args: []string{"--server", closed, "tickets", "list"},
			wantStderr: []string{
				"amsctl: list tickets: cannot reach AMS at " + closed + ": ",
				"is ams running? (make run)",
				"--server",
			},
		},
		{
			name: "unreachable on get",
			args: []string{"--server", closed, "incidents", "get", "inc-1"},
			wantStderr: []string{
				"amsctl: get incident inc-1: cannot reach AMS at " + closed + ": ",
				"is ams running? (make run)",
			},
		},
		{
			name: "slow server hits --timeout",
			args: []string{"--server", addr, "--timeout", "50ms", "incidents", "list", "--tenant", tenantSlow},
			wantStderr: []string{
				"amsctl: list incidents: no answer from AMS at " + addr + " within 50ms: ",
				"--timeout",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCLI(t, nil, tt.args...)
			require.Equal(t, exitError, res.code, res.stderr)
			require.Empty(t, res.stdout)
			for _, want := range tt.wantStderr {
				require.Contains(t, res.stderr, want)
			}
			require.NotContains(t, res.stderr, "rpc error:")
			if tt.notStderr != "" {
				require.NotContains(t, res.stderr, tt.notStderr)
			}
		})
	}
}

func TestUsageErrors(t *testing.T) {
	fake := newFakeAdmin()
	addr := startServer(t, fake)

	tests := []struct {
		name       string
		args       []string
		wantStderr []string
	}{
		{
			name: "bad state lists the allowed values",
			args: []string{"incidents", "list", "--state", "opne"},
			wantStderr: []string{
				`invalid argument "opne" for "--state" flag: must be one of open, suppressed, automating, escalated, resolved`,
				"Run 'amsctl incidents list --help' for usage.",
			},
		},
		{
			name:       "bad status lists the allowed values",
			args:       []string{"tickets", "list", "--status", "pending"},
			wantStderr: []string{`invalid argument "pending" for "--status" flag: must be one of open, closed`},
		},
		{
			name:       "bad output format",
			args:       []string{"-o", "yaml", "incidents", "list"},
			wantStderr: []string{`must be one of table, json`},
		},
		{
			name:       "negative limit",
			args:       []string{"tickets", "list", "--limit", "-1"},
			wantStderr: []string{"--limit must not be negative, got -1"},
		},
		{
			name:       "limit not a number",
			args:       []string{"incidents", "list", "--limit", "ten"},
			wantStderr: []string{`invalid argument "ten" for "--limit" flag`},
		},
		{
			name:       "zero timeout",
			args:       []string{"--timeout", "0s", "incidents", "list"},
			wantStderr: []string{"--timeout must be positive"},
		},
		{
			name:       "unknown flag",
			args:       []string{"incidents", "list", "--tenat", "acme"},
			wantStderr: []string{"unknown flag: --tenat"},
		},
		{
			name:       "get without an id",
			args:       []string{"incidents", "get"},
			wantStderr: []string{"amsctl incidents get takes 1 argument(s) (ID), got 0"},
		},
		{
			name:       "get with two ids",
			args:       []string{"tickets", "get", "tkt-1", "tkt-2"},
			wantStderr: []string{"amsctl tickets get takes 1 argument(s) (ID), got 2"},
		},
		{
			name:       "get with an empty id",
			args:       []string{"tickets", "get", ""},
			wantStderr: []string{"ticket ID must not be empty"},
		},
		{
			name:       "list with an argument",
			args:       []string{"incidents", "list", "acme"},
			wantStderr: []string{"amsctl incidents list takes 0 argument(s)"},
		},
		{
			name:       "unknown subcommand",
			args:       []string{"incidents", "lst"},
			wantStderr: []string{`unknown command "lst" for "amsctl incidents"`},
		},
		{
			name:       "unknown command",
			args:       []string{"incident-list"},
			wantStderr: []string{`unknown command "incident-list" for "amsctl"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := fake.callCount()
			res := runCLI(t, nil, append([]string{"--server", addr}, tt.args...)...)
			require.Equal(t, exitUsage, res.code, res.stderr)
			require.Empty(t, res.stdout)
			require.Contains(t, res.stderr, "amsctl: ")
			for _, want := range tt.wantStderr {
				require.Contains(t, res.stderr, want)
			}
			require.Equal(t, before, fake.callCount(), "a usage error must not reach the server")
		})
	}
}

func TestServerAddress(t *testing.T) {
	fake := newFakeAdmin()
	addr := startServer(t, fake)
	closed := closedAddr(t)

	tests := []struct {
		name     string
		environ  map[string]string
		args     []string
		wantCode int
	}{
		{
			name:     "AMS_SERVER sets the default",
			environ:  map[string]string{serverEnv: addr},
			args:     []string{"incidents", "list"},
			wantCode: exitOK,
		},
		{
			name:     "--server beats AMS_SERVER",
			environ:  map[string]string{serverEnv: closed},
			args:     []string{"--server", addr, "incidents", "list"},
			wantCode: exitOK,
		},
		{
			name:     "flag after the subcommand",
			args:     []string{"incidents", "list", "--server", addr},
			wantCode: exitOK,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCLI(t, tt.environ, tt.args...)
			require.Equal(t, tt.wantCode, res.code, res.stderr)
			require.Contains(t, res.stdout, "inc-1")
		})
	}
}

func TestHelp(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want []string
	}{
		{name: "root", args: []string{"--help"}, want: []string{"incidents", "tickets", "--server", "AMS_SERVER", "--output", "--timeout"}},
		{name: "no arguments", args: nil, want: []string{"incidents", "tickets"}},
		{name: "group", args: []string{"incidents"}, want: []string{"list", "get"}},
		{name: "list", args: []string{"incidents", "list", "--help"}, want: []string{"--state", "open, suppressed, automating, escalated, resolved", "--limit"}},
		{name: "default server", args: []string{"tickets", "list", "--help"}, want: []string{defaultServer, "--status"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCLI(t, nil, tt.args...)
			require.Equal(t, exitOK, res.code, res.stderr)
			require.Empty(t, res.stderr)
			for _, want := range tt.want {
				require.Contains(t, res.stdout, want)
			}
		})
	}
}

// TestMainEntryPoint goes through the exported entry point that cmd/amsctl
// calls, with the real clock and environment.
func TestMainEntryPoint(t *testing.T) {
	closed := closedAddr(t)
	var stdout, stderr bytes.Buffer
	code := Main([]string{"--server", closed, "incidents", "list"}, &stdout, &stderr)
	require.Equal(t, exitError, code)
	require.Empty(t, stdout.String())
	require.Contains(t, stderr.String(), closed)
	require.Contains(t, stderr.String(), "is ams running? (make run)")

	addr := startServer(t, newFakeAdmin())
	stdout.Reset()
	stderr.Reset()
	code = Main([]string{"--server", addr, "tickets", "get", "tkt-1"}, &stdout, &stderr)
	require.Equal(t, exitOK, code, stderr.String())
	require.Contains(t, stdout.String(), "Incident:          inc-1")
}

func TestAge(t *testing.T) {
	now := testNow()
	tests := []struct {
		name string
		d    time.Duration
		want string
	}{
		{name: "now", d: 0, want: "just now"},
		{name: "seconds", d: 42 * time.Second, want: "42s ago"},
		{name: "minutes round down", d: 3*time.Minute + 59*time.Second, want: "3m ago"},
		{name: "hours", d: 5 * time.Hour, want: "5h ago"},
		{name: "hours up to two days", d: 47 * time.Hour, want: "47h ago"},
		{name: "days", d: 50 * time.Hour, want: "2d ago"},
		{name: "server clock ahead", d: -90 * time.Second, want: "in 1m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, age(now, now.Add(-tt.d)))
		})
	}
}

func TestLabels(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{name: "state", got: enumLabel(amsv1.IncidentState_INCIDENT_STATE_AUTOMATING, incidentStatePrefix), want: "automating"},
		{name: "unset state", got: enumLabel(amsv1.IncidentState_INCIDENT_STATE_UNSPECIFIED, incidentStatePrefix), want: "-"},
		{name: "state from a newer server", got: enumLabel(amsv1.IncidentState(42), incidentStatePrefix), want: "42"},
		{name: "priority", got: priorityLabel(amsv1.Priority_PRIORITY_P1), want: "P1"},
		{name: "unset priority", got: priorityLabel(amsv1.Priority_PRIORITY_UNSPECIFIED), want: "-"},
		{name: "one line", got: oneLine(" disk\tfull\non\x1b[2Jweb-1 "), want: "disk full on [2Jweb-1"},
		{name: "empty cell", got: oneLine(""), want: "-"},
		{name: "truncate", got: truncate("abcdefgh", 5), want: "abcd…"},
		{name: "short enough", got: truncate("abcde", 5), want: "abcde"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.got)
		})
	}
}
