package amsctl

import (
	"testing"

	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

func TestTicketsList(t *testing.T) {
	fake := newFakeAdmin()
	addr := startServer(t, fake)

	tests := []struct {
		name    string
		args    []string
		want    []string
		wantReq *amsv1.ListTicketsRequest
	}{
		{
			name: "all",
			want: []string{
				"ID     TENANT  INCIDENT  STATUS  PRIORITY  TITLE                                    UPDATED",
				"tkt-1  acme    inc-1     open    P2        Disk /var almost full on web-1           1m ago   2026-05-01 11:59:00 UTC",
				"tkt-2  globex  inc-2     closed  P4        HTTP probe failing for shop.example.com  1h ago   2026-05-01 11:00:00 UTC",
			},
			wantReq: &amsv1.ListTicketsRequest{},
		},
		{
			name: "tenant, status and limit",
			args: []string{"--tenant", "globex", "--status", "closed", "--limit", "5"},
			want: []string{
				"ID     TENANT  INCIDENT  STATUS  PRIORITY  TITLE                                    UPDATED",
				"tkt-2  globex  inc-2     closed  P4        HTTP probe failing for shop.example.com  1h ago   2026-05-01 11:00:00 UTC",
			},
			wantReq: &amsv1.ListTicketsRequest{Tenant: "globex", Status: amsv1.TicketStatus_TICKET_STATUS_CLOSED, Limit: 5},
		},
		{
			name:    "none match",
			args:    []string{"--tenant", "acme", "--status", "closed"},
			want:    []string{"No tickets found."},
			wantReq: &amsv1.ListTicketsRequest{Tenant: "acme", Status: amsv1.TicketStatus_TICKET_STATUS_CLOSED},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCLI(t, nil, append([]string{"--server", addr, "tickets", "list"}, tt.args...)...)
			require.Equal(t, 0, res.code, res.stderr)
			require.Empty(t, res.stderr)
			require.Equal(t, tt.want, lines(res.stdout))

			req := lastRequest[*amsv1.ListTicketsRequest](t, fake)
			require.Equal(t, tt.wantReq.GetTenant(), req.GetTenant())
			require.Equal(t, tt.wantReq.GetStatus(), req.GetStatus())
			require.Equal(t, tt.wantReq.GetLimit(), req.GetLimit())
		})
	}
}

func TestTicketsGet(t *testing.T) {
	addr := startServer(t, newFakeAdmin())

	tests := []struct {
		name string
		id   string
		want []string
	}{
		{
			name: "entries in order, multi-line text indented, escapes dropped",
			id:   "tkt-1",
			want: []string{
				"ID:                tkt-1",
				"Tenant:            acme",
				"Incident:          inc-1",
				"Title:             Disk /var almost full on web-1",
				"Status:            open",
				"Priority:          P2",
				"External ref:      -",
				"Created:           2026-05-01 11:57:00 UTC (3m ago)",
				"Updated:           2026-05-01 11:59:00 UTC (1m ago)",
				"Closed:            -",
				"Incident version:  4",
				"",
				"Entries (3):",
				"  2026-05-01 11:57:00 UTC (3m ago)  incident",
				"      Incident opened: Disk /var almost full on web-1",
				"  2026-05-01 11:58:00 UTC (2m ago)  action",
				"      df -h /var",
				"      Filesystem  Size  Used",
				"      /dev/xvda1  20G   19G",
				"  2026-05-01 11:59:00 UTC (1m ago)  escalation",
				"      Paged the on-call [31mengineer[0m",
			},
		},
		{
			name: "no entries",
			id:   "tkt-2",
			want: []string{
				"ID:                tkt-2",
				"Tenant:            globex",
				"Incident:          inc-2",
				"Title:             HTTP probe failing for shop.example.com",
				"Status:            closed",
				"Priority:          P4",
				"External ref:      -",
				"Created:           2026-05-01 10:00:00 UTC (2h ago)",
				"Updated:           2026-05-01 11:00:00 UTC (1h ago)",
				"Closed:            2026-05-01 11:00:00 UTC (1h ago)",
				"Incident version:  0",
				"",
				"No entries.",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCLI(t, nil, "--server", addr, "tickets", "get", tt.id)
			require.Equal(t, 0, res.code, res.stderr)
			require.Empty(t, res.stderr)
			require.Equal(t, tt.want, lines(res.stdout))
		})
	}
}

func TestTicketsJSON(t *testing.T) {
	addr := startServer(t, newFakeAdmin())

	t.Run("list", func(t *testing.T) {
		res := runCLI(t, nil, "--server", addr, "-o", "json", "tickets", "list")
		require.Equal(t, 0, res.code, res.stderr)
		require.Contains(t, res.stdout, `"incident_id"`)
		require.NotContains(t, res.stdout, `"incidentId"`)

		var got amsv1.ListTicketsResponse
		require.NoError(t, protojson.Unmarshal([]byte(res.stdout), &got))
		require.Len(t, got.GetTickets(), 2)
		require.Equal(t, "inc-1", got.GetTickets()[0].GetIncidentId())
	})

	t.Run("get", func(t *testing.T) {
		res := runCLI(t, nil, "--server", addr, "-o", "json", "tickets", "get", "tkt-1")
		require.Equal(t, 0, res.code, res.stderr)
		require.Contains(t, res.stdout, `"incident_id"`)

		var got amsv1.Ticket
		require.NoError(t, protojson.Unmarshal([]byte(res.stdout), &got))
		require.Equal(t, "tkt-1", got.GetId())
		require.Len(t, got.GetEntries(), 3)
		require.Equal(t, "action", got.GetEntries()[1].GetKind())
	})
}
