package admin

import (
	"errors"
	"net"
	"slices"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/amsproject/ams/pkg/natstest"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/classifier/windows"
)

// testNow is the server's clock: Sunday 29 November 2026, 03:30 in London
// (during globex's weekly patch), 12:30 in Tokyo.
var testNow = time.Date(2026, 11, 29, 3, 30, 0, 0, time.UTC)

// configWindows are the windows of a configuration file, as the classifier
// builds them.
func configWindows(tb testing.TB) ConfigWindows {
	tb.Helper()
	ws := []*windows.Window{
		{
			ID: "config/nightly-db-backup", Tenant: "acme", Name: "nightly-db-backup", Match: `alert.resource.host.startsWith("db-")`,
			Recurring: &windows.Recurring{RRule: "FREQ=DAILY;BYHOUR=2;BYMINUTE=0", Duration: time.Hour, TimeZone: "Asia/Tokyo"},
		},
		{
			ID: "config/weekly-patch", Tenant: "globex", Name: "weekly-patch", Match: "true",
			Recurring: &windows.Recurring{Cron: "0 3 * * SUN", Duration: 2 * time.Hour, TimeZone: "Europe/London"},
		},
	}
	for _, w := range ws {
		require.NoError(tb, windows.Compile(w))
	}
	return func(tenant string) []*windows.Window {
		return slices.DeleteFunc(slices.Clone(ws), func(w *windows.Window) bool { return tenant != "" && w.Tenant != tenant })
	}
}

// startAdmin serves srv on a loopback port and returns a client to it.
func startAdmin(tb testing.TB, srv *Server) amsv1.AdminServiceClient {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	gs := grpc.NewServer()
	amsv1.RegisterAdminServiceServer(gs, srv)
	done := make(chan error, 1)
	go func() { done <- gs.Serve(lis) }()
	tb.Cleanup(func() {
		gs.Stop()
		if err := <-done; !errors.Is(err, grpc.ErrServerStopped) {
			require.NoError(tb, err)
		}
	})
	conn, err := grpc.NewClient(lis.Addr().String(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = conn.Close() })
	return amsv1.NewAdminServiceClient(conn)
}

func newMaintenanceServer(tb testing.TB) (amsv1.AdminServiceClient, jetstream.JetStream) {
	tb.Helper()
	_, js := natstest.Connect(tb, natstest.RunServer(tb))
	srv := New(js).
		WithClock(func() time.Time { return testNow }).
		WithTenants(func(id string) bool { return id == "acme" || id == "globex" }).
		WithConfigWindows(configWindows(tb))
	return startAdmin(tb, srv), js
}

func ts(tb testing.TB, s string) *timestamppb.Timestamp {
	tb.Helper()
	t, err := time.Parse(time.RFC3339, s)
	require.NoError(tb, err)
	return timestamppb.New(t)
}

// dcMove is a one-off window as amsctl sends it.
func dcMove(tb testing.TB) *amsv1.MaintenanceWindow {
	return &amsv1.MaintenanceWindow{
		Tenant: "acme", Name: "dc-move", Reason: "moving racks", Match: "true",
		Start: ts(tb, "2026-12-01T22:00:00+09:00"), End: ts(tb, "2026-12-02T04:00:00+09:00"), TimeZone: "Asia/Tokyo",
		// Ignored on add.
		Id: "rt-mine", Origin: "config", Active: true,
	}
}

func names(ws []*amsv1.MaintenanceWindow) []string {
	var out []string
	for _, w := range ws {
		out = append(out, w.GetTenant()+"/"+w.GetName()+" "+w.GetOrigin())
	}
	return out
}

func requireCode(tb testing.TB, err error, code codes.Code, msg string) {
	tb.Helper()
	require.Error(tb, err)
	st := status.Convert(err)
	require.Equal(tb, code, st.Code(), st.Message())
	require.Contains(tb, st.Message(), msg)
}

func TestMaintenanceWindows(t *testing.T) {
	client, js := newMaintenanceServer(t)
	ctx := t.Context()

	// Before any window is added there is no bucket; listing does not make one.
	resp, err := client.ListMaintenanceWindows(ctx, &amsv1.ListMaintenanceWindowsRequest{})
	require.NoError(t, err)
	require.Equal(t, []string{"acme/nightly-db-backup config", "globex/weekly-patch config"}, names(resp.GetWindows()))
	_, err = js.KeyValue(ctx, windows.Bucket)
	require.ErrorIs(t, err, jetstream.ErrBucketNotFound)
	// Each shows its state at testNow.
	nightly, patch := resp.GetWindows()[0], resp.GetWindows()[1]
	require.False(t, nightly.GetActive())
	require.Nil(t, nightly.GetActiveUntil())
	require.Equal(t, "2026-11-30T02:00:00+09:00", nightly.GetNextStart().AsTime().In(tokyo(t)).Format(time.RFC3339))
	require.Equal(t, "FREQ=DAILY;BYHOUR=2;BYMINUTE=0", nightly.GetRrule())
	require.Equal(t, time.Hour, nightly.GetDuration().AsDuration())
	require.True(t, patch.GetActive())
	require.Equal(t, "2026-11-29T05:00:00Z", patch.GetActiveUntil().AsTime().Format(time.RFC3339))
	require.Equal(t, "2026-12-06T03:00:00Z", patch.GetNextStart().AsTime().Format(time.RFC3339))

	added, err := client.AddMaintenanceWindow(ctx, &amsv1.AddMaintenanceWindowRequest{Window: dcMove(t)})
	require.NoError(t, err)
	w := added.GetWindow()
	require.True(t, windows.IsRuntimeID(w.GetId()), w.GetId())
	require.NotEqual(t, "rt-mine", w.GetId(), "the server chooses the id")
	require.Equal(t, "runtime", w.GetOrigin())
	require.Equal(t, "amsctl", w.GetCreatedBy())
	require.True(t, w.GetCreatedAt().AsTime().Equal(testNow))
	require.False(t, w.GetActive())
	require.True(t, w.GetNextStart().AsTime().Equal(w.GetStart().AsTime()))
	require.Equal(t, "moving racks", w.GetReason())
	require.Equal(t, "Asia/Tokyo", w.GetTimeZone())

	deploy, err := client.AddMaintenanceWindow(ctx, &amsv1.AddMaintenanceWindowRequest{Window: &amsv1.MaintenanceWindow{
		Tenant: "globex", Name: "app-deploy", Match: `alert.labels.?service.orValue("") == "shop"`,
		Cron: "0 23 * * *", Duration: durationpb.New(30 * time.Minute), TimeZone: "UTC", CreatedBy: "alice",
	}})
	require.NoError(t, err)
	require.Equal(t, "alice", deploy.GetWindow().GetCreatedBy())

	t.Run("list merges configuration and runtime windows by tenant and name", func(t *testing.T) {
		resp, err := client.ListMaintenanceWindows(ctx, &amsv1.ListMaintenanceWindowsRequest{})
		require.NoError(t, err)
		require.Equal(t, []string{
			"acme/dc-move runtime",
			"acme/nightly-db-backup config",
			"globex/app-deploy runtime",
			"globex/weekly-patch config",
		}, names(resp.GetWindows()))
		require.Equal(t, w.GetId(), resp.GetWindows()[0].GetId())
		require.Equal(t, "config/nightly-db-backup", resp.GetWindows()[1].GetId())
		require.Equal(t, "2026-11-29T23:00:00Z", resp.GetWindows()[2].GetNextStart().AsTime().Format(time.RFC3339))

		resp, err = client.ListMaintenanceWindows(ctx, &amsv1.ListMaintenanceWindowsRequest{Tenant: "globex"})
		require.NoError(t, err)
		require.Equal(t, []string{"globex/app-deploy runtime", "globex/weekly-patch config"}, names(resp.GetWindows()))

		resp, err = client.ListMaintenanceWindows(ctx, &amsv1.ListMaintenanceWindowsRequest{Tenant: "initech"})
		require.NoError(t, err)
		require.Empty(t, resp.GetWindows())

		_, err = client.ListMaintenanceWindows(ctx, &amsv1.ListMaintenanceWindowsRequest{Tenant: "acme.*"})
		requireCode(t, err, codes.InvalidArgument, `tenant "acme.*" is not a valid tenant id`)
	})

	t.Run("delete refuses a configuration window", func(t *testing.T) {
		_, err := client.DeleteMaintenanceWindow(ctx, &amsv1.DeleteMaintenanceWindowRequest{Tenant: "acme", Id: "config/nightly-db-backup"})
		requireCode(t, err, codes.FailedPrecondition, "window config/nightly-db-backup comes from the configuration file; remove it there")

		_, err = client.DeleteMaintenanceWindow(ctx, &amsv1.DeleteMaintenanceWindowRequest{Tenant: "globex", Id: "config/nightly-db-backup"})
		requireCode(t, err, codes.NotFound, "maintenance window config/nightly-db-backup of tenant globex not found")
	})

	t.Run("delete a runtime window", func(t *testing.T) {
		_, err := client.DeleteMaintenanceWindow(ctx, &amsv1.DeleteMaintenanceWindowRequest{Tenant: "globex", Id: w.GetId()})
		requireCode(t, err, codes.NotFound, "not found")

		_, err = client.DeleteMaintenanceWindow(ctx, &amsv1.DeleteMaintenanceWindowRequest{Tenant: "acme", Id: w.GetId()})
		require.NoError(t, err)

		_, err = client.DeleteMaintenanceWindow(ctx, &amsv1.DeleteMaintenanceWindowRequest{Tenant: "acme", Id: w.GetId()})
		requireCode(t, err, codes.NotFound, "maintenance window "+w.GetId()+" of tenant acme not found")

		resp, err := client.ListMaintenanceWindows(ctx, &amsv1.ListMaintenanceWindowsRequest{Tenant: "acme"})
		require.NoError(t, err)
		require.Equal(t, []string{"acme/nightly-db-backup config"}, names(resp.GetWindows()))
	})

	t.Run("delete needs a tenant and an id", func(t *testing.T) {
		_, err := client.DeleteMaintenanceWindow(ctx, &amsv1.DeleteMaintenanceWindowRequest{Id: deploy.GetWindow().GetId()})
		requireCode(t, err, codes.InvalidArgument, "tenant: missing")
		_, err = client.DeleteMaintenanceWindow(ctx, &amsv1.DeleteMaintenanceWindowRequest{Tenant: "globex"})
		requireCode(t, err, codes.InvalidArgument, "id: missing")
		_, err = client.DeleteMaintenanceWindow(ctx, &amsv1.DeleteMaintenanceWindowRequest{Tenant: "globex", Id: "*"})
		requireCode(t, err, codes.NotFound, "not found")
	})
}

func TestAddMaintenanceWindowErrors(t *testing.T) {
	client, _ := newMaintenanceServer(t)
	cases := []struct {
		name   string
		change func(w *amsv1.MaintenanceWindow) *amsv1.MaintenanceWindow
		code   codes.Code
		want   string
	}{
		{
			name:   "no window",
			change: func(*amsv1.MaintenanceWindow) *amsv1.MaintenanceWindow { return nil },
			code:   codes.InvalidArgument,
			want:   "window: missing",
		},
		{
			name:   "no tenant",
			change: func(w *amsv1.MaintenanceWindow) *amsv1.MaintenanceWindow { w.Tenant = ""; return w },
			code:   codes.InvalidArgument,
			want:   "tenant: missing; name the tenant whose alerts the window covers",
		},
		{
			name:   "unknown tenant",
			change: func(w *amsv1.MaintenanceWindow) *amsv1.MaintenanceWindow { w.Tenant = "initech"; return w },
			code:   codes.NotFound,
			want:   `tenant "initech" is not in the configuration; give the id of one of the tenants it lists`,
		},
		{
			name: "misspelt field in the match",
			change: func(w *amsv1.MaintenanceWindow) *amsv1.MaintenanceWindow {
				w.Match = `alert.resource.hostname == "db-1"`
				return w
			},
			code: codes.InvalidArgument,
			want: "match: 1:15: undefined field 'hostname'; did you mean 'host'?",
		},
		{
			name:   "no name",
			change: func(w *amsv1.MaintenanceWindow) *amsv1.MaintenanceWindow { w.Name = ""; return w },
			code:   codes.InvalidArgument,
			want:   "name: missing",
		},
		{
			name:   "end before start",
			change: func(w *amsv1.MaintenanceWindow) *amsv1.MaintenanceWindow { w.Start, w.End = w.End, w.Start; return w },
			code:   codes.InvalidArgument,
			want:   "once.end: 2026-12-01T22:00:00+09:00 is not after once.start 2026-12-02T04:00:00+09:00",
		},
		{
			name: "both schedules",
			change: func(w *amsv1.MaintenanceWindow) *amsv1.MaintenanceWindow {
				w.Rrule = "FREQ=DAILY"
				return w
			},
			code: codes.InvalidArgument,
			want: "maintenance window: start: set either start and end (a one-off window) or rrule or cron with duration (a recurring window), not both",
		},
		{
			name: "bad rrule",
			change: func(w *amsv1.MaintenanceWindow) *amsv1.MaintenanceWindow {
				return &amsv1.MaintenanceWindow{Tenant: "acme", Name: "x", Match: "true", Rrule: "FREQ=FORTNIGHTLY", Duration: durationpb.New(time.Hour), TimeZone: "UTC"}
			},
			code: codes.InvalidArgument,
			want: `recurring.rrule: "FREQ=FORTNIGHTLY" is not an RFC 5545 RRULE`,
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := client.AddMaintenanceWindow(t.Context(), &amsv1.AddMaintenanceWindowRequest{Window: tc.change(dcMove(t))})
			requireCode(t, err, tc.code, tc.want)
		})
	}
	resp, err := client.ListMaintenanceWindows(t.Context(), &amsv1.ListMaintenanceWindowsRequest{})
	require.NoError(t, err)
	require.Equal(t, []string{"acme/nightly-db-backup config", "globex/weekly-patch config"}, names(resp.GetWindows()), "nothing was added")
}

func TestMaintenanceWindowsWithoutOptions(t *testing.T) {
	_, js := natstest.Connect(t, natstest.RunServer(t))
	client := startAdmin(t, New(js))

	resp, err := client.ListMaintenanceWindows(t.Context(), &amsv1.ListMaintenanceWindowsRequest{})
	require.NoError(t, err)
	require.Empty(t, resp.GetWindows())

	w := dcMove(t)
	w.Tenant = "anyone"
	added, err := client.AddMaintenanceWindow(t.Context(), &amsv1.AddMaintenanceWindowRequest{Window: w})
	require.NoError(t, err, "without WithTenants any tenant is accepted")

	_, err = client.DeleteMaintenanceWindow(t.Context(), &amsv1.DeleteMaintenanceWindowRequest{Tenant: "anyone", Id: "config/x"})
	requireCode(t, err, codes.FailedPrecondition, "window config/x comes from the configuration file; remove it there")

	resp, err = client.ListMaintenanceWindows(t.Context(), &amsv1.ListMaintenanceWindowsRequest{})
	require.NoError(t, err)
	require.Len(t, resp.GetWindows(), 1)
	require.Equal(t, added.GetWindow().GetId(), resp.GetWindows()[0].GetId())
}

func tokyo(tb testing.TB) *time.Location {
	tb.Helper()
	loc, err := time.LoadLocation("Asia/Tokyo")
	require.NoError(tb, err)
	return loc
}
