package amsctl

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

func TestIncidentsList(t *testing.T) {
	fake := newFakeAdmin()
	addr := startServer(t, fake)

	tests := []struct {
		name    string
		args    []string
		want    []string // the whole table, line by line
		wantReq *amsv1.ListIncidentsRequest
	}{
		{
			name: "all",
			args: nil,
			want: []string{
				"ID     TENANT  STATE      PRIORITY  ALERTS  TITLE                                    OPENED",
				"inc-1  acme    open       P2        3       Disk /var almost full on web-1           3m ago  2026-05-01 11:57:00 UTC",
				"inc-2  globex  resolved   P4        1       HTTP probe failing for shop.example.com  2h ago  2026-05-01 10:00:00 UTC",
				"inc-3  acme    escalated  P1        12      Database replica lag on db-2             3d ago  2026-04-28 12:00:00 UTC",
			},
			wantReq: &amsv1.ListIncidentsRequest{},
		},
		{
			name: "tenant and state",
			args: []string{"--tenant", "acme", "--state", "escalated"},
			want: []string{
				"ID     TENANT  STATE      PRIORITY  ALERTS  TITLE                         OPENED",
				"inc-3  acme    escalated  P1        12      Database replica lag on db-2  3d ago  2026-04-28 12:00:00 UTC",
			},
			wantReq: &amsv1.ListIncidentsRequest{Tenant: "acme", State: amsv1.IncidentState_INCIDENT_STATE_ESCALATED},
		},
		{
			name: "state is case-insensitive",
			args: []string{"--state", "OPEN"},
			want: []string{
				"ID     TENANT  STATE  PRIORITY  ALERTS  TITLE                           OPENED",
				"inc-1  acme    open   P2        3       Disk /var almost full on web-1  3m ago  2026-05-01 11:57:00 UTC",
			},
			wantReq: &amsv1.ListIncidentsRequest{State: amsv1.IncidentState_INCIDENT_STATE_OPEN},
		},
		{
			name: "limit",
			args: []string{"--limit", "1"},
			want: []string{
				"ID     TENANT  STATE  PRIORITY  ALERTS  TITLE                           OPENED",
				"inc-1  acme    open   P2        3       Disk /var almost full on web-1  3m ago  2026-05-01 11:57:00 UTC",
			},
			wantReq: &amsv1.ListIncidentsRequest{Limit: 1},
		},
		{
			name:    "none match",
			args:    []string{"--tenant", "initech"},
			want:    []string{"No incidents found."},
			wantReq: &amsv1.ListIncidentsRequest{Tenant: "initech"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCLI(t, nil, append([]string{"--server", addr, "incidents", "list"}, tt.args...)...)
			require.Equal(t, 0, res.code, res.stderr)
			require.Empty(t, res.stderr)
			require.Equal(t, tt.want, lines(res.stdout))

			req := lastRequest[*amsv1.ListIncidentsRequest](t, fake)
			require.Equal(t, tt.wantReq.GetTenant(), req.GetTenant())
			require.Equal(t, tt.wantReq.GetState(), req.GetState())
			require.Equal(t, tt.wantReq.GetLimit(), req.GetLimit())
		})
	}
}

func TestIncidentsJSON(t *testing.T) {
	fake := newFakeAdmin()
	addr := startServer(t, fake)

	t.Run("list prints the response", func(t *testing.T) {
		res := runCLI(t, nil, "--server", addr, "-o", "json", "incidents", "list", "--tenant", "acme")
		require.Equal(t, 0, res.code, res.stderr)
		require.Contains(t, res.stdout, `"alert_count"`, "proto field names, not lowerCamelCase")
		require.NotContains(t, res.stdout, `"alertCount"`)
		require.Contains(t, res.stdout, `"INCIDENT_STATE_OPEN"`)

		var got amsv1.ListIncidentsResponse
		require.NoError(t, protojson.Unmarshal([]byte(res.stdout), &got))
		require.Len(t, got.GetIncidents(), 2)
		require.Equal(t, "inc-1", got.GetIncidents()[0].GetId())
		require.Equal(t, "disk-cleanup", got.GetIncidents()[0].GetRunbook())
		require.Len(t, got.GetIncidents()[0].GetAlerts(), 2)
	})

	t.Run("empty list is an empty object", func(t *testing.T) {
		res := runCLI(t, nil, "--server", addr, "--output=json", "incidents", "list", "--tenant", "initech")
		require.Equal(t, 0, res.code, res.stderr)
		require.JSONEq(t, `{}`, res.stdout)
	})

	t.Run("get prints the incident itself", func(t *testing.T) {
		res := runCLI(t, nil, "--server", addr, "-o", "json", "incidents", "get", "inc-1")
		require.Equal(t, 0, res.code, res.stderr)
		require.Contains(t, res.stdout, `"group_key"`)
		require.NotContains(t, res.stdout, `"incident"`, "not wrapped in GetIncidentResponse")
		require.NotContains(t, res.stdout, `"resolved_at"`, "unset fields are left out")

		var got amsv1.Incident
		require.NoError(t, protojson.Unmarshal([]byte(res.stdout), &got))
		require.Equal(t, "inc-1", got.GetId())
		require.Equal(t, int64(3), got.GetAlertCount())
		require.Equal(t, "inc-1", lastRequest[*amsv1.GetIncidentRequest](t, fake).GetId())
	})
}

func TestIncidentsGet(t *testing.T) {
	addr := startServer(t, newFakeAdmin())

	tests := []struct {
		name string
		id   string
		want []string
	}{
		{
			name: "with grouped alerts",
			id:   "inc-1",
			want: []string{
				"ID:             inc-1",
				"Tenant:         acme",
				"Title:          Disk /var almost full on web-1",
				"State:          open",
				"Priority:       P2",
				"Severity:       critical",
				"Category:       disk",
				"Runbook:        disk-cleanup",
				"Escalation:     -",
				"Group key:      acme/web-1/disk",
				"Resource:       host=web-1 instance=i-0abc region=ap-northeast-1",
				"Labels:         alertname=DiskFull",
				"                host=web-1",
				"Notifications:  3",
				"First seen:     2026-05-01 11:57:00 UTC (3m ago)",
				"Last seen:      2026-05-01 11:59:00 UTC (1m ago)",
				"Opened:         2026-05-01 11:57:00 UTC (3m ago)",
				"Activated:      -",
				"Resolved:       -",
				"Version:        4",
				"",
				"Alerts (2):",
				"  FINGERPRINT  STATUS    LAST SEEN                           SUMMARY",
				"  fp-var       firing    1m ago     2026-05-01 11:59:00 UTC  /var at 95%",
				"  fp-tmp       resolved  2m ago     2026-05-01 11:58:00 UTC  /tmp at 91%",
			},
		},
		{
			name: "sparse",
			id:   "inc-2",
			want: []string{
				"ID:             inc-2",
				"Tenant:         globex",
				"Title:          HTTP probe failing for shop.example.com",
				"State:          resolved",
				"Priority:       P4",
				"Severity:       -",
				"Category:       -",
				"Runbook:        -",
				"Escalation:     -",
				"Group key:      -",
				"Resource:       -",
				"Labels:         -",
				"Notifications:  1",
				"First seen:     -",
				"Last seen:      -",
				"Opened:         2026-05-01 10:00:00 UTC (2h ago)",
				"Activated:      -",
				"Resolved:       2026-05-01 11:00:00 UTC (1h ago)",
				"Version:        0",
				"",
				"No grouped alerts.",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCLI(t, nil, "--server", addr, "incidents", "get", tt.id)
			require.Equal(t, 0, res.code, res.stderr)
			require.Empty(t, res.stderr)
			require.Equal(t, tt.want, lines(res.stdout))
		})
	}
}
