package admin

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/pkg/natstest"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/classifier/policy"
)

const acmeRules = `
rules:
  - name: disk-full
    when: 'alert.labels.?alertname.orValue("") == "DiskFull"'
    set: {priority: P2, runbook: disk-cleanup}
  - name: db-hosts
    when: 'alert.resource.host.startsWith("db-")'
    set: {priority: P1, escalation_policy: dba}
  - name: host-down
    when: 'alert.labels.?alertname.orValue("") == "HostDown"'
    delay: 2m
maintenance:
  - name: nightly-db-backup
    reason: backups
    match: 'alert.resource.host.startsWith("db-")'
    recurring: {rrule: "FREQ=DAILY;BYHOUR=2;BYMINUTE=0", duration: 1h, time_zone: Asia/Tokyo}
`

func newExplainServer(tb testing.TB) amsv1.AdminServiceClient {
	tb.Helper()
	dir := tb.TempDir()
	require.NoError(tb, os.WriteFile(filepath.Join(dir, "acme.yaml"), []byte(acmeRules), 0o600))
	cfg := config.Default()
	cfg.Dir = dir
	cfg.Tenants = []config.Tenant{{ID: "acme", RulesFile: "acme.yaml"}, {ID: "globex"}}
	policies, err := policy.Load(cfg)
	require.NoError(tb, err)
	_, js := natstest.Connect(tb, natstest.RunServer(tb))
	return startAdmin(tb, New(js).WithClock(func() time.Time { return testNow }).WithPolicies(policies))
}

func TestExplainAlert(t *testing.T) {
	c := newExplainServer(t)
	ctx := context.Background()
	disk := &amsv1.Alert{Fingerprint: "fp", Labels: map[string]string{"alertname": "DiskFull"}, Resource: &amsv1.Resource{Host: "db-1"}}

	// 12:30 in Tokyo: outside the backup window.
	resp, err := c.ExplainAlert(ctx, &amsv1.ExplainAlertRequest{Tenant: "acme", Alert: disk})
	require.NoError(t, err)
	require.Equal(t, amsv1.Priority_PRIORITY_P1, resp.GetPriority())
	require.Equal(t, "disk-cleanup", resp.GetRunbook())
	require.Equal(t, "dba", resp.GetEscalationPolicy())
	require.False(t, resp.GetSuppressed())
	require.Len(t, resp.GetRules(), 3)
	require.Equal(t, "matched", resp.GetRules()[0].GetOutcome())
	require.Equal(t, []string{"priority=P2", "runbook=disk-cleanup"}, resp.GetRules()[0].GetChanges())
	require.Equal(t, "not matched", resp.GetRules()[2].GetOutcome())
	require.Contains(t, resp.GetText(), "opened at once, runbook disk-cleanup")
	require.Contains(t, resp.GetText(), "no window covers the alert")

	// 02:30 in Tokyo: the file's backup window covers db hosts.
	at := time.Date(2026, 11, 28, 17, 30, 0, 0, time.UTC)
	resp, err = c.ExplainAlert(ctx, &amsv1.ExplainAlertRequest{Tenant: "acme", Alert: disk, At: timestamppb.New(at)})
	require.NoError(t, err)
	require.True(t, resp.GetSuppressed())
	require.Equal(t, "maintenance nightly-db-backup: backups", resp.GetSuppressReason())
	require.Equal(t, []string{"config/nightly-db-backup"}, resp.GetMaintenanceWindows())
	require.Contains(t, resp.GetText(), "suppressed (maintenance nightly-db-backup: backups)")

	// A runtime window added through the API counts too.
	_, err = c.AddMaintenanceWindow(ctx, &amsv1.AddMaintenanceWindowRequest{Window: &amsv1.MaintenanceWindow{
		Tenant: "acme", Name: "web-move", Match: `alert.resource.host == "web-9"`,
		Start: timestamppb.New(testNow.Add(-time.Hour)), End: timestamppb.New(testNow.Add(time.Hour)),
	}})
	require.NoError(t, err)
	down := &amsv1.Alert{Fingerprint: "fp2", Labels: map[string]string{"alertname": "HostDown"}, Resource: &amsv1.Resource{Host: "web-9"}}
	resp, err = c.ExplainAlert(ctx, &amsv1.ExplainAlertRequest{Tenant: "acme", Alert: down})
	require.NoError(t, err)
	require.True(t, resp.GetSuppressed())
	require.Equal(t, "maintenance web-move", resp.GetSuppressReason())
	require.Equal(t, 2*time.Minute, resp.GetDelay().AsDuration())

	// Another tenant: no rules, priority left to severity.
	resp, err = c.ExplainAlert(ctx, &amsv1.ExplainAlertRequest{Tenant: "globex", Alert: disk})
	require.NoError(t, err)
	require.Empty(t, resp.GetRules())
	require.Contains(t, resp.GetText(), "(no rules)")
}

func TestExplainAlertErrors(t *testing.T) {
	c := newExplainServer(t)
	tests := []struct {
		name string
		req  *amsv1.ExplainAlertRequest
		code codes.Code
		msg  string
	}{
		{"no tenant", &amsv1.ExplainAlertRequest{Alert: &amsv1.Alert{}}, codes.InvalidArgument, "tenant is missing"},
		{"unknown tenant", &amsv1.ExplainAlertRequest{Tenant: "nobody", Alert: &amsv1.Alert{}}, codes.NotFound, `tenant "nobody" is not in the configuration`},
		{"no alert", &amsv1.ExplainAlertRequest{Tenant: "acme"}, codes.InvalidArgument, "alert is missing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := c.ExplainAlert(context.Background(), tt.req)
			require.Equal(t, tt.code, status.Code(err))
			require.ErrorContains(t, err, tt.msg)
		})
	}
}
