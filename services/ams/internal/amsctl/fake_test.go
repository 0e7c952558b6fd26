package amsctl

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// testNow is the fixed clock every test runs with, so relative ages are exact.
func testNow() time.Time { return time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC) }

// Tenants the fake treats specially, to drive the CLI's error paths.
const (
	tenantSlow   = "slow"   // the call blocks until the client gives up
	tenantBroken = "broken" // the call fails with codes.Internal
	tenantNoKV   = "nokv"   // the call fails with codes.Unavailable, as when the store is down
)

// fakeAdmin is an in-memory AdminService that filters like the real one
// and records what it was asked, so tests see which request the CLI sent.
type fakeAdmin struct {
	amsv1.UnimplementedAdminServiceServer

	incidents []*amsv1.Incident // newest first, as the server returns them
	tickets   []*amsv1.Ticket

	mu    sync.Mutex
	calls int
	last  proto.Message
}

func (f *fakeAdmin) record(req proto.Message) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.last = proto.Clone(req)
}

// lastRequest returns the last request of type T, failing the test if the
// last call was something else or there was none.
func lastRequest[T proto.Message](t testing.TB, f *fakeAdmin) T {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	req, ok := f.last.(T)
	require.True(t, ok, "last request is %T", f.last)
	return req
}

func (f *fakeAdmin) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// special answers the tenants that exercise error paths with their error,
// and ordinary tenants with nil.
func special(ctx context.Context, tenant string) error {
	switch tenant {
	case tenantSlow:
		<-ctx.Done()
		return status.FromContextError(ctx.Err()).Err()
	case tenantBroken:
		return status.Error(codes.Internal, "decode incident inc-9: proto: cannot parse invalid wire-format data")
	case tenantNoKV:
		return status.Error(codes.Unavailable, "read incidents bucket: nats: timeout")
	}
	return nil
}

func limitOf(n int32, total int) int {
	if n == 0 {
		n = 100
	}
	return min(int(n), total)
}

func (f *fakeAdmin) ListIncidents(ctx context.Context, req *amsv1.ListIncidentsRequest) (*amsv1.ListIncidentsResponse, error) {
	f.record(req)
	if err := special(ctx, req.GetTenant()); err != nil {
		return nil, err
	}
	var out []*amsv1.Incident
	for _, in := range f.incidents {
		if req.GetTenant() != "" && in.GetTenant() != req.GetTenant() {
			continue
		}
		if req.GetState() != amsv1.IncidentState_INCIDENT_STATE_UNSPECIFIED && in.GetState() != req.GetState() {
			continue
		}
		out = append(out, in)
	}
	return &amsv1.ListIncidentsResponse{Incidents: out[:limitOf(req.GetLimit(), len(out))]}, nil
}

func (f *fakeAdmin) GetIncident(_ context.Context, req *amsv1.GetIncidentRequest) (*amsv1.GetIncidentResponse, error) {
	f.record(req)
	for _, in := range f.incidents {
		if in.GetId() == req.GetId() {
			return &amsv1.GetIncidentResponse{Incident: in}, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "incident %s not found", req.GetId())
}

func (f *fakeAdmin) ListTickets(ctx context.Context, req *amsv1.ListTicketsRequest) (*amsv1.ListTicketsResponse, error) {
	f.record(req)
	if err := special(ctx, req.GetTenant()); err != nil {
		return nil, err
	}
	var out []*amsv1.Ticket
	for _, tk := range f.tickets {
		if req.GetTenant() != "" && tk.GetTenant() != req.GetTenant() {
			continue
		}
		if req.GetStatus() != amsv1.TicketStatus_TICKET_STATUS_UNSPECIFIED && tk.GetStatus() != req.GetStatus() {
			continue
		}
		out = append(out, tk)
	}
	return &amsv1.ListTicketsResponse{Tickets: out[:limitOf(req.GetLimit(), len(out))]}, nil
}

func (f *fakeAdmin) GetTicket(_ context.Context, req *amsv1.GetTicketRequest) (*amsv1.GetTicketResponse, error) {
	f.record(req)
	for _, tk := range f.tickets {
		if tk.GetId() == req.GetId() {
			return &amsv1.GetTicketResponse{Ticket: tk}, nil
		}
	}
	return nil, status.Errorf(codes.NotFound, "ticket %s not found", req.GetId())
}

func ago(d time.Duration) *timestamppb.Timestamp { return timestamppb.New(testNow().Add(-d)) }

// newFakeAdmin returns a fake holding three incidents of two tenants and
// their tickets.
func newFakeAdmin() *fakeAdmin {
	return &fakeAdmin{
		incidents: []*amsv1.Incident{
			{
				Id:         "inc-1",
				Tenant:     "acme",
				GroupKey:   "acme/web-1/disk",
				Title:      "Disk /var almost full on web-1",
				State:      amsv1.IncidentState_INCIDENT_STATE_OPEN,
				Priority:   amsv1.Priority_PRIORITY_P2,
				Severity:   amsv1.Severity_SEVERITY_CRITICAL,
				Category:   "disk",
				Runbook:    "disk-cleanup",
				Labels:     map[string]string{"host": "web-1", "alertname": "DiskFull"},
				Resource:   &amsv1.Resource{Host: "web-1", InstanceId: "i-0abc", Region: "ap-northeast-1"},
				AlertCount: 3,
				Alerts: []*amsv1.GroupedAlert{
					{Fingerprint: "fp-var", Status: amsv1.AlertStatus_ALERT_STATUS_FIRING, Summary: "/var at 95%", LastSeen: ago(time.Minute)},
					{Fingerprint: "fp-tmp", Status: amsv1.AlertStatus_ALERT_STATUS_RESOLVED, Summary: "/tmp at 91%", LastSeen: ago(2 * time.Minute)},
				},
				FirstSeen: ago(3 * time.Minute),
				LastSeen:  ago(time.Minute),
				OpenedAt:  ago(3 * time.Minute),
				Version:   4,
			},
			{
				Id:         "inc-2",
				Tenant:     "globex",
				Title:      "HTTP probe failing\tfor shop.example.com", // control characters from outside
				State:      amsv1.IncidentState_INCIDENT_STATE_RESOLVED,
				Priority:   amsv1.Priority_PRIORITY_P4,
				AlertCount: 1,
				OpenedAt:   ago(2 * time.Hour),
				ResolvedAt: ago(time.Hour),
			},
			{
				Id:         "inc-3",
				Tenant:     "acme",
				Title:      "Database replica lag on db-2",
				State:      amsv1.IncidentState_INCIDENT_STATE_ESCALATED,
				Priority:   amsv1.Priority_PRIORITY_P1,
				AlertCount: 12,
				OpenedAt:   ago(3 * 24 * time.Hour),
			},
		},
		tickets: []*amsv1.Ticket{
			{
				Id:         "tkt-1",
				Tenant:     "acme",
				IncidentId: "inc-1",
				Title:      "Disk /var almost full on web-1",
				Status:     amsv1.TicketStatus_TICKET_STATUS_OPEN,
				Priority:   amsv1.Priority_PRIORITY_P2,
				Entries: []*amsv1.TicketEntry{
					{Time: ago(3 * time.Minute), Kind: "incident", Text: "Incident opened: Disk /var almost full on web-1"},
					{Time: ago(2 * time.Minute), Kind: "action", Text: "df -h /var\nFilesystem  Size  Used\n/dev/xvda1  20G   19G\n"},
					{Time: ago(time.Minute), Kind: "escalation", Text: "Paged the on-call \x1b[31mengineer\x1b[0m"},
				},
				CreatedAt:       ago(3 * time.Minute),
				UpdatedAt:       ago(time.Minute),
				IncidentVersion: 4,
			},
			{
				Id:         "tkt-2",
				Tenant:     "globex",
				IncidentId: "inc-2",
				Title:      "HTTP probe failing for shop.example.com",
				Status:     amsv1.TicketStatus_TICKET_STATUS_CLOSED,
				Priority:   amsv1.Priority_PRIORITY_P4,
				CreatedAt:  ago(2 * time.Hour),
				UpdatedAt:  ago(time.Hour),
				ClosedAt:   ago(time.Hour),
			},
		},
	}
}

// startServer serves f (a fake or the real admin API) on a loopback port for the length of the test and
// returns its address.
func startServer(t testing.TB, f amsv1.AdminServiceServer) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	srv := grpc.NewServer()
	amsv1.RegisterAdminServiceServer(srv, f)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(lis) }()
	t.Cleanup(func() {
		srv.Stop()
		// ErrServerStopped: Stop ran before the goroutine reached Serve.
		if err := <-done; !errors.Is(err, grpc.ErrServerStopped) {
			require.NoError(t, err)
		}
	})
	return lis.Addr().String()
}

// closedAddr returns a loopback address nothing listens on.
func closedAddr(t testing.TB) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := lis.Addr().String()
	require.NoError(t, lis.Close())
	return addr
}

type result struct {
	code           int
	stdout, stderr string
}

// runCLI runs amsctl in-process with the fixed clock, times in UTC and an
// environment holding only environ.
func runCLI(t testing.TB, environ map[string]string, args ...string) result {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), args, env{
		stdout: &stdout,
		stderr: &stderr,
		now:    testNow,
		loc:    time.UTC,
		getenv: func(k string) string { return environ[k] },
	})
	return result{code: code, stdout: stdout.String(), stderr: stderr.String()}
}

// lines splits output into lines for comparing tables row by row.
func lines(s string) []string {
	return strings.Split(strings.TrimSuffix(s, "\n"), "\n")
}
