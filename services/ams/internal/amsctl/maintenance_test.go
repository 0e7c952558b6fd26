package amsctl

import (
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/amsproject/ams/pkg/natstest"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ams/internal/admin"
	"github.com/amsproject/ams/services/classifier/windows"
)

// startMaintenanceAdmin serves the real admin API over an embedded JetStream
// server, with testNow as its clock, tenants acme and globex, and two
// windows in their configuration; it returns the address.
func startMaintenanceAdmin(t testing.TB) string {
	t.Helper()
	cfg := []*windows.Window{
		{
			// 02:00-03:00 Tokyo is 17:00-18:00 UTC the day before.
			ID: "config/nightly-db-backup", Tenant: "acme", Name: "nightly-db-backup", Match: `alert.resource.host.startsWith("db-")`,
			Recurring: &windows.Recurring{RRule: "FREQ=DAILY;BYHOUR=2;BYMINUTE=0", Duration: time.Hour, TimeZone: "Asia/Tokyo"},
		},
		{
			// testNow is a Friday, 12:00 UTC: on.
			ID: "config/friday-deploy", Tenant: "globex", Name: "friday-deploy", Match: "true",
			Recurring: &windows.Recurring{Cron: "30 11 * * FRI", Duration: 90 * time.Minute, TimeZone: "UTC"},
		},
	}
	for _, w := range cfg {
		require.NoError(t, windows.Compile(w))
	}
	_, js := natstest.Connect(t, natstest.RunServer(t))
	srv := admin.New(js).
		WithClock(testNow).
		WithTenants(func(id string) bool { return id == "acme" || id == "globex" }).
		WithConfigWindows(func(tenant string) []*windows.Window {
			return slices.DeleteFunc(slices.Clone(cfg), func(w *windows.Window) bool { return tenant != "" && w.Tenant != tenant })
		})
	return startServer(t, srv)
}

var runtimeID = regexp.MustCompile(`rt-[a-z2-7]{10}`)

// addWindow runs maintenance add and returns the new window's id.
func addWindow(t testing.TB, addr string, args ...string) string {
	t.Helper()
	res := runCLI(t, map[string]string{"USER": "alice"}, append([]string{"--server", addr, "maintenance", "add"}, args...)...)
	require.Equal(t, 0, res.code, res.stderr)
	id := runtimeID.FindString(res.stdout)
	require.NotEmpty(t, id, res.stdout)
	return id
}

func TestMaintenanceAddListDelete(t *testing.T) {
	addr := startMaintenanceAdmin(t)

	res := runCLI(t, nil, "--server", addr, "maintenance", "list")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, []string{
		"ID                        TENANT  NAME               SCHEDULE                                                  MATCH                                  ACTIVE                           ORIGIN",
		"config/nightly-db-backup  acme    nightly-db-backup  rrule FREQ=DAILY;BYHOUR=2;BYMINUTE=0 for 1h (Asia/Tokyo)  alert.resource.host.startsWith(\"db-\")  no, next 2026-05-01 17:00 UTC    config",
		"config/friday-deploy      globex  friday-deploy      cron 30 11 * * FRI for 1h30m (UTC)                        true                                   yes, until 2026-05-01 13:00 UTC  config",
	}, lines(res.stdout))

	// A one-off window in local Tokyo time; add prints it.
	res = runCLI(t, map[string]string{"USER": "alice"}, "--server", addr, "maintenance", "add",
		"--tenant", "acme", "--name", "dc-move", "--reason", "moving racks",
		"--start", "2026-12-01T22:00", "--end", "2026-12-02T04:00", "--time-zone", "Asia/Tokyo")
	require.Equal(t, 0, res.code, res.stderr)
	require.Empty(t, res.stderr)
	once := runtimeID.FindString(res.stdout)
	require.NotEmpty(t, once)
	require.Equal(t, []string{
		"ID             TENANT  NAME     SCHEDULE                               MATCH  ACTIVE                         ORIGIN",
		once + "  acme    dc-move  2026-12-01 22:00 → 12-02 04:00 +09:00  true   no, next 2026-12-01 13:00 UTC  runtime",
	}, lines(res.stdout))

	cron := addWindow(t, addr, "--tenant", "globex", "--name", "db-patch", "--match", `alert.resource.host == "db-1"`,
		"--cron", "0 3 * * SUN", "--duration", "2h", "--time-zone", "Europe/London")
	rrule := addWindow(t, addr, "--tenant", "acme", "--name", "batch",
		"--rrule", "FREQ=WEEKLY;BYDAY=FR;BYHOUR=21", "--dtstart", "2026-04-03T21:00:00", "--duration", "15h", "--time-zone", "Asia/Tokyo")
	// An offset given, no zone: shown in the operator's zone (UTC here).
	utc := addWindow(t, addr, "--tenant", "acme", "--name", "cutover",
		"--start", "2026-05-01T11:00:00Z", "--end", "2026-05-03T01:00:00+02:00")

	res = runCLI(t, nil, "--server", addr, "maintenance", "list")
	require.Equal(t, 0, res.code, res.stderr)
	want := []string{
		"ID                        TENANT  NAME               SCHEDULE                                                                            MATCH                                  ACTIVE                           ORIGIN",
		rrule + "             acme    batch              rrule FREQ=WEEKLY;BYDAY=FR;BYHOUR=21 from 2026-04-03T21:00:00 for 15h (Asia/Tokyo)  true                                   yes, until 2026-05-02 03:00 UTC  runtime",
		utc + "             acme    cutover            2026-05-01 11:00 → 05-02 23:00 +00:00                                               true                                   yes, until 2026-05-02 23:00 UTC  runtime",
		once + "             acme    dc-move            2026-12-01 22:00 → 12-02 04:00 +09:00                                               true                                   no, next 2026-12-01 13:00 UTC    runtime",
		"config/nightly-db-backup  acme    nightly-db-backup  rrule FREQ=DAILY;BYHOUR=2;BYMINUTE=0 for 1h (Asia/Tokyo)                            alert.resource.host.startsWith(\"db-\")  no, next 2026-05-01 17:00 UTC    config",
		cron + "             globex  db-patch           cron 0 3 * * SUN for 2h (Europe/London)                                             alert.resource.host == \"db-1\"          no, next 2026-05-03 02:00 UTC    runtime",
		"config/friday-deploy      globex  friday-deploy      cron 30 11 * * FRI for 1h30m (UTC)                                                  true                                   yes, until 2026-05-01 13:00 UTC  config",
	}
	require.Equal(t, want, lines(res.stdout))

	res = runCLI(t, nil, "--server", addr, "maintenance", "list", "--tenant", "globex")
	require.Equal(t, 0, res.code, res.stderr)
	require.Len(t, lines(res.stdout), 3)
	require.Contains(t, res.stdout, cron)

	res = runCLI(t, nil, "--server", addr, "maintenance", "delete", "--tenant", "acme", once)
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "Deleted maintenance window "+once+" of tenant acme.\n", res.stdout)

	res = runCLI(t, nil, "--server", addr, "maintenance", "list", "--tenant", "acme")
	require.Equal(t, 0, res.code, res.stderr)
	require.NotContains(t, res.stdout, once)
	require.Len(t, lines(res.stdout), 4)

	res = runCLI(t, nil, "--server", addr, "maintenance", "list", "--tenant", "initech")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "No maintenance windows found.\n", res.stdout)
}

func TestMaintenanceJSON(t *testing.T) {
	addr := startMaintenanceAdmin(t)

	t.Run("add prints the window itself", func(t *testing.T) {
		res := runCLI(t, map[string]string{"USER": "alice"}, "--server", addr, "-o", "json", "maintenance", "add",
			"--tenant", "acme", "--name", "dc-move", "--start", "2026-12-01T22:00:00+09:00", "--end", "2026-12-02T04:00:00+09:00")
		require.Equal(t, 0, res.code, res.stderr)
		require.Contains(t, res.stdout, `"created_by"`, "proto field names")
		require.NotContains(t, res.stdout, `"window"`, "not wrapped in the response")
		var got amsv1.MaintenanceWindow
		require.NoError(t, protojson.Unmarshal([]byte(res.stdout), &got))
		require.True(t, windows.IsRuntimeID(got.GetId()))
		require.Equal(t, "alice", got.GetCreatedBy(), "created by $USER")
		require.Equal(t, "true", got.GetMatch(), "--match defaults to every alert")
		require.Equal(t, "runtime", got.GetOrigin())
		require.True(t, got.GetCreatedAt().AsTime().Equal(testNow()))
		require.Equal(t, "2026-12-01T13:00:00Z", got.GetStart().AsTime().Format(time.RFC3339))
	})

	t.Run("--created-by", func(t *testing.T) {
		res := runCLI(t, map[string]string{"USER": "alice"}, "--server", addr, "-o", "json", "maintenance", "add", "--created-by", "change-1234",
			"--tenant", "globex", "--name", "weekly", "--cron", "0 3 * * SUN", "--duration", "2h", "--time-zone", "Europe/London")
		require.Equal(t, 0, res.code, res.stderr)
		var got amsv1.MaintenanceWindow
		require.NoError(t, protojson.Unmarshal([]byte(res.stdout), &got))
		require.Equal(t, "change-1234", got.GetCreatedBy())
		require.Equal(t, 2*time.Hour, got.GetDuration().AsDuration())
		require.Equal(t, "0 3 * * SUN", got.GetCron())
	})

	t.Run("list prints the response", func(t *testing.T) {
		res := runCLI(t, nil, "--server", addr, "-o", "json", "maintenance", "list", "--tenant", "globex")
		require.Equal(t, 0, res.code, res.stderr)
		require.Contains(t, res.stdout, `"active_until"`)
		require.Contains(t, res.stdout, `"time_zone"`)
		var got amsv1.ListMaintenanceWindowsResponse
		require.NoError(t, protojson.Unmarshal([]byte(res.stdout), &got))
		require.Len(t, got.GetWindows(), 2)
		require.Equal(t, "friday-deploy", got.GetWindows()[0].GetName())
		require.True(t, got.GetWindows()[0].GetActive())
		require.Equal(t, "weekly", got.GetWindows()[1].GetName())
	})

	t.Run("delete prints an empty object", func(t *testing.T) {
		id := addWindow(t, addr, "--tenant", "acme", "--name", "x", "--start", "2026-12-01T22:00:00Z", "--end", "2026-12-01T23:00:00Z")
		res := runCLI(t, nil, "--server", addr, "-o", "json", "maintenance", "delete", "--tenant", "acme", id)
		require.Equal(t, 0, res.code, res.stderr)
		require.JSONEq(t, `{}`, res.stdout)
	})
}

func TestMaintenanceServerErrors(t *testing.T) {
	addr := startMaintenanceAdmin(t)
	closed := closedAddr(t)

	tests := []struct {
		name       string
		args       []string
		wantStderr []string
	}{
		{
			name:       "delete a configuration window",
			args:       []string{"--server", addr, "maintenance", "delete", "--tenant", "acme", "config/nightly-db-backup"},
			wantStderr: []string{"amsctl: delete maintenance window config/nightly-db-backup: window config/nightly-db-backup comes from the configuration file; remove it there\n"},
		},
		{
			name:       "delete an unknown window",
			args:       []string{"--server", addr, "maintenance", "delete", "--tenant", "acme", "rt-nothere00"},
			wantStderr: []string{"amsctl: maintenance window rt-nothere00 of tenant acme not found\n"},
		},
		{
			name: "add with a misspelt field in the match",
			args: []string{"--server", addr, "maintenance", "add", "--tenant", "acme", "--name", "x", "--match", `alert.resource.hostname == "db-1"`,
				"--start", "2026-12-01T22:00:00Z", "--end", "2026-12-01T23:00:00Z"},
			wantStderr: []string{
				"amsctl: add maintenance window: maintenance window acme/rt-",
				"match: 1:15: undefined field 'hostname'; did you mean 'host'?",
				"    | alert.resource.hostname == \"db-1\"\n    | ..............^",
			},
		},
		{
			name:       "add for an unknown tenant",
			args:       []string{"--server", addr, "maintenance", "add", "--tenant", "initech", "--name", "x", "--cron", "0 3 * * *", "--duration", "1h", "--time-zone", "UTC"},
			wantStderr: []string{`amsctl: add maintenance window: tenant "initech" is not in the configuration`},
		},
		{
			name:       "add with a bad rrule",
			args:       []string{"--server", addr, "maintenance", "add", "--tenant", "acme", "--name", "x", "--rrule", "FREQ=FORTNIGHTLY", "--duration", "1h", "--time-zone", "UTC"},
			wantStderr: []string{`recurring.rrule: "FREQ=FORTNIGHTLY" is not an RFC 5545 RRULE`},
		},
		{
			name:       "add with an unknown time zone",
			args:       []string{"--server", addr, "maintenance", "add", "--tenant", "acme", "--name", "x", "--cron", "0 3 * * *", "--duration", "1h", "--time-zone", "Asia/Tokio"},
			wantStderr: []string{`recurring.time_zone: "Asia/Tokio" is not an IANA time zone`},
		},
		{
			name: "unreachable server",
			args: []string{"--server", closed, "maintenance", "list"},
			wantStderr: []string{
				"amsctl: list maintenance windows: cannot reach AMS at " + closed + ": ",
				"is ams running? (make run)",
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
		})
	}
}

func TestMaintenanceUsageErrors(t *testing.T) {
	// Nothing listens there: a usage error that reached the server would
	// fail as unreachable, with another exit code.
	closed := closedAddr(t)
	once := []string{"--start", "2026-12-01T22:00:00Z", "--end", "2026-12-02T04:00:00Z"}
	add := func(args ...string) []string {
		return append([]string{"maintenance", "add", "--tenant", "acme", "--name", "x"}, args...)
	}

	tests := []struct {
		name string
		args []string
		want string
	}{
		{name: "add without a tenant", args: append([]string{"maintenance", "add", "--name", "x"}, once...), want: "--tenant is required"},
		{name: "add without a name", args: append([]string{"maintenance", "add", "--tenant", "acme"}, once...), want: "--name is required"},
		{name: "add with an empty match", args: add(append([]string{"--match", " "}, once...)...), want: "--match must not be empty"},
		{name: "add without a schedule", args: add(), want: "a schedule is required: --start and --end for a one-off window, or --rrule or --cron with --duration"},
		{name: "add with two schedules", args: add(append([]string{"--cron", "0 3 * * *", "--duration", "1h"}, once...)...), want: "give one schedule"},
		{name: "add with rrule and cron", args: add("--cron", "0 3 * * *", "--rrule", "FREQ=DAILY", "--duration", "1h"), want: "give one schedule"},
		{name: "add with start only", args: add("--start", "2026-12-01T22:00:00Z"), want: "a one-off window needs both --start and --end"},
		{name: "add one-off with a duration", args: add(append([]string{"--duration", "1h"}, once...)...), want: "--duration applies to --rrule and --cron"},
		{name: "add with dtstart and cron", args: add("--cron", "0 3 * * *", "--dtstart", "2026-01-01T00:00:00", "--duration", "1h"), want: "--dtstart applies to --rrule only"},
		{name: "add recurring without a duration", args: add("--rrule", "FREQ=DAILY", "--time-zone", "UTC"), want: "--duration is required with --rrule and --cron"},
		{name: "add recurring without a time zone", args: add("--cron", "0 3 * * *", "--duration", "1h"), want: "--time-zone is required with --rrule and --cron"},
		{name: "add with a duration that is not one", args: add("--cron", "0 3 * * *", "--duration", "2 hours"), want: `invalid argument "2 hours" for "--duration" flag`},
		{name: "add with a local time and no zone", args: add("--start", "2026-12-01T22:00", "--end", "2026-12-02T04:00"), want: `--start: "2026-12-01T22:00" has no offset: add one (2026-12-01T22:00:00+09:00) or set --time-zone`},
		{name: "add with a time that is not one", args: add("--start", "tomorrow", "--end", "2026-12-02T04:00:00Z"), want: `--start: "tomorrow" is not a time like 2026-12-01T22:00:00+09:00`},
		{name: "add with a local time in an unknown zone", args: add("--start", "2026-12-01T22:00", "--end", "2026-12-02T04:00", "--time-zone", "Mars/Olympus"), want: `--start: --time-zone: "Mars/Olympus" is not an IANA time zone`},
		{name: "add with an argument", args: add(append([]string{"dc-move"}, once...)...), want: "amsctl maintenance add takes 0 argument(s)"},
		{name: "delete without an id", args: []string{"maintenance", "delete", "--tenant", "acme"}, want: "amsctl maintenance delete takes 1 argument(s) (ID), got 0"},
		{name: "delete without a tenant", args: []string{"maintenance", "delete", "rt-abc"}, want: "--tenant is required: window ids are unique within their tenant"},
		{name: "delete with an empty id", args: []string{"maintenance", "delete", "--tenant", "acme", ""}, want: "maintenance window ID must not be empty"},
		{name: "unknown subcommand", args: []string{"maintenance", "remove"}, want: `unknown command "remove" for "amsctl maintenance"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCLI(t, nil, append([]string{"--server", closed}, tt.args...)...)
			require.Equal(t, exitUsage, res.code, res.stderr)
			require.Empty(t, res.stdout)
			require.Contains(t, res.stderr, tt.want)
			require.True(t, strings.HasPrefix(res.stderr, "amsctl: "), res.stderr)
		})
	}
}

func TestScheduleText(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	require.NoError(t, err)
	newYork, err := time.LoadLocation("America/New_York")
	require.NoError(t, err)
	at := func(s string) *timestamppb.Timestamp {
		v, err := time.Parse(time.RFC3339, s)
		require.NoError(t, err)
		return timestamppb.New(v)
	}
	cases := []struct {
		name       string
		start, end string
		loc        *time.Location
		want       string
	}{
		{"same day", "2026-12-01T10:00:00+09:00", "2026-12-01T12:30:00+09:00", tokyo, "2026-12-01 10:00 → 12:30 +09:00"},
		{"next day", "2026-12-01T22:00:00+09:00", "2026-12-02T04:00:00+09:00", tokyo, "2026-12-01 22:00 → 12-02 04:00 +09:00"},
		{"next year", "2026-12-31T22:00:00+09:00", "2027-01-01T04:00:00+09:00", tokyo, "2026-12-31 22:00 → 2027-01-01 04:00 +09:00"},
		{"across a DST change", "2026-03-08T01:00:00-05:00", "2026-03-08T04:00:00-04:00", newYork, "2026-03-08 01:00 -05:00 → 04:00 -04:00"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			require.Equal(t, tc.want, onceText(at(tc.start), at(tc.end), tc.loc))
		})
	}
	require.Equal(t, "1h", shortDuration(time.Hour))
	require.Equal(t, "1h30m", shortDuration(90*time.Minute))
	require.Equal(t, "45m", shortDuration(45*time.Minute))
	require.Equal(t, "1m30s", shortDuration(90*time.Second))
}
