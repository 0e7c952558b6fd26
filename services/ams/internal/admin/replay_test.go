package admin

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/amsproject/ams/pkg/bus"
	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/pkg/natstest"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/classifier/policy"
)

const replayCurrent = `
rules:
  - name: disk-full
    when: 'alert.labels.?alertname.orValue("") == "DiskFull"'
    set: {priority: P2, runbook: disk-cleanup}
`

const replayCandidate = `
rules:
  - name: disk-full
    when: 'alert.labels.?alertname.orValue("") == "DiskFull"'
    set: {priority: P2, runbook: disk-cleanup}
  - name: staging
    when: 'alert.resource.host.startsWith("stg-")'
    suppress: staging never pages
`

// newReplayServer stores n alerts of acme (every fourth on a staging
// host) and some of another tenant on ALERTS, and serves the admin API.
func newReplayServer(tb testing.TB, n int) amsv1.AdminServiceClient {
	tb.Helper()
	dir := tb.TempDir()
	require.NoError(tb, os.WriteFile(filepath.Join(dir, "acme.yaml"), []byte(replayCurrent), 0o600))
	cfg := config.Default()
	cfg.Dir = dir
	cfg.Tenants = []config.Tenant{{ID: "acme", RulesFile: "acme.yaml"}, {ID: "globex"}}
	policies, err := policy.Load(cfg)
	require.NoError(tb, err)
	_, js := natstest.Connect(tb, natstest.RunServer(tb))
	ctx := context.Background()
	_, err = js.CreateStream(ctx, jetstream.StreamConfig{Name: alertsStream, Subjects: []string{"ams.alert.>"}})
	require.NoError(tb, err)
	pub := bus.NewPublisher(js, "test", noop.NewTracerProvider())
	now := time.Now()
	var out []bus.Outgoing
	for i := range n {
		host := fmt.Sprintf("web-%d", i)
		if i%4 == 0 {
			host = fmt.Sprintf("stg-%d", i)
		}
		for _, tenant := range []string{"acme", "globex"} {
			if tenant == "globex" && i%10 != 0 {
				continue
			}
			a := &amsv1.Alert{
				Id: fmt.Sprintf("%s-%d", tenant, i), Tenant: tenant, Fingerprint: fmt.Sprintf("fp-%d", i),
				Status: amsv1.AlertStatus_ALERT_STATUS_FIRING, Severity: amsv1.Severity_SEVERITY_ERROR,
				Summary: "disk full on " + host, Labels: map[string]string{"alertname": "DiskFull"},
				Resource: &amsv1.Resource{Host: host}, ReceivedAt: timestamppb.New(now.Add(-time.Hour + time.Duration(i)*time.Second)),
			}
			out = append(out, bus.Outgoing{Subject: bus.Subject("alert", "received", tenant), MsgID: a.GetId(), Message: a})
		}
	}
	_, err = pub.PublishEach(ctx, out)
	require.NoError(tb, err)
	return startAdmin(tb, New(js).WithPolicies(policies))
}

func replayAll(t *testing.T, c amsv1.AdminServiceClient, req *amsv1.ReplayRequest) ([]*amsv1.ReplayResponse, error) {
	t.Helper()
	stream, err := c.Replay(context.Background(), req)
	require.NoError(t, err)
	var got []*amsv1.ReplayResponse
	for {
		resp, err := stream.Recv()
		if errors.Is(err, io.EOF) {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		got = append(got, resp)
	}
}

func TestReplay(t *testing.T) {
	c := newReplayServer(t, 2400)
	got, err := replayAll(t, c, &amsv1.ReplayRequest{
		Tenant: "acme", Since: durationpb.New(2 * time.Hour), CandidateRules: replayCandidate, CandidateName: "candidate.yaml", MaxDifferences: 5,
	})
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(got), 3, "progress, then the summary")
	for _, p := range got[:len(got)-1] {
		require.Nil(t, p.GetSummary())
		require.Equal(t, int64(2400), p.GetTotal(), "only acme's alerts")
	}
	require.Equal(t, int64(1000), got[0].GetProcessed())
	s := got[len(got)-1].GetSummary()
	require.NotNil(t, s)
	require.Equal(t, int64(2400), s.GetAlerts())
	require.Equal(t, int64(2400), s.GetCurrent().GetIncidents())
	require.Equal(t, int64(2400), s.GetCurrent().GetAutomationRuns())
	require.Zero(t, s.GetCurrent().GetSuppressed())
	require.Equal(t, int64(600), s.GetCandidate().GetSuppressed())
	require.Equal(t, map[string]int64{"staging never pages": 600}, s.GetCandidate().GetSuppressedByReason())
	require.Equal(t, int64(1800), s.GetCandidate().GetAutomationRuns())
	require.Equal(t, int64(600), s.GetDifferingIncidents())
	require.Len(t, s.GetDifferences(), 5)
	require.Equal(t, "suppressed: staging never pages", s.GetDifferences()[0].GetCandidate())
}

func TestReplayErrors(t *testing.T) {
	c := newReplayServer(t, 10)
	tests := []struct {
		name string
		req  *amsv1.ReplayRequest
		code codes.Code
		msg  string
	}{
		{"no tenant", &amsv1.ReplayRequest{Since: durationpb.New(time.Hour), CandidateRules: replayCandidate}, codes.InvalidArgument, "tenant is missing"},
		{"unknown tenant", &amsv1.ReplayRequest{Tenant: "nobody", Since: durationpb.New(time.Hour), CandidateRules: replayCandidate}, codes.NotFound, "nobody"},
		{"no since", &amsv1.ReplayRequest{Tenant: "acme", CandidateRules: replayCandidate}, codes.InvalidArgument, "give how far back to replay"},
		{"too far", &amsv1.ReplayRequest{Tenant: "acme", Since: durationpb.New(100 * 24 * time.Hour), CandidateRules: replayCandidate}, codes.InvalidArgument, "at most 2160h"},
		{"no rules", &amsv1.ReplayRequest{Tenant: "acme", Since: durationpb.New(time.Hour)}, codes.InvalidArgument, "candidate_rules is empty"},
		{"broken rules", &amsv1.ReplayRequest{Tenant: "acme", Since: durationpb.New(time.Hour), CandidateRules: "rules:\n  - name: x\n    when: alert.nope\n", CandidateName: "c.yaml"}, codes.InvalidArgument, "c.yaml:2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := replayAll(t, c, tt.req)
			require.Equal(t, tt.code, status.Code(err), err)
			require.ErrorContains(t, err, tt.msg)
		})
	}
}
