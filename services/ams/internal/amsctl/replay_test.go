package amsctl

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/amsproject/ams/pkg/bus"
	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/pkg/natstest"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ams/internal/admin"
	"github.com/amsproject/ams/services/classifier/policy"
)

// startReplayAdmin serves the real admin API over a JetStream holding four
// stored alerts of acme, one on a staging host, an hour before testNow.
func startReplayAdmin(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "acme.yaml"), []byte(`
rules:
  - name: disk-full
    when: 'alert.labels.?alertname.orValue("") == "DiskFull"'
    set: {priority: P2, runbook: disk-cleanup}
`), 0o600))
	cfg := config.Default()
	cfg.Dir = dir
	cfg.Tenants = []config.Tenant{{ID: "acme", RulesFile: "acme.yaml"}}
	policies, err := policy.Load(cfg)
	require.NoError(t, err)
	_, js := natstest.Connect(t, natstest.RunServer(t))
	_, err = js.CreateStream(t.Context(), jetstream.StreamConfig{Name: "ALERTS", Subjects: []string{"ams.alert.>"}})
	require.NoError(t, err)
	pub := bus.NewPublisher(js, "test", noop.NewTracerProvider())
	for i, host := range []string{"web-1", "web-2", "stg-1", "db-1"} {
		a := &amsv1.Alert{
			Id: fmt.Sprintf("a-%d", i), Tenant: "acme", Fingerprint: "fp-" + host, Status: amsv1.AlertStatus_ALERT_STATUS_FIRING,
			Summary: "disk full on " + host, Labels: map[string]string{"alertname": "DiskFull"}, Resource: &amsv1.Resource{Host: host},
			ReceivedAt: timestamppb.New(testNow().Add(-time.Hour + time.Duration(i)*time.Minute)),
		}
		_, err := pub.Publish(t.Context(), bus.Subject("alert", "received", "acme"), a.GetId(), a)
		require.NoError(t, err)
	}
	// The server's clock is the tests' (2026-05-01): the stream's storage
	// times, which --since counts back from, are all after it.
	return startServer(t, admin.New(js).WithClock(testNow).WithPolicies(policies))
}

func TestReplay(t *testing.T) {
	addr := startReplayAdmin(t)
	candidate := filepath.Join(t.TempDir(), "candidate.yaml")
	require.NoError(t, os.WriteFile(candidate, []byte(`
rules:
  - name: disk-full
    when: 'alert.labels.?alertname.orValue("") == "DiskFull"'
    set: {priority: P2, runbook: disk-cleanup}
  - name: staging
    when: 'alert.resource.host.startsWith("stg-")'
    suppress: staging never pages
  - name: db
    when: 'alert.resource.host.startsWith("db-")'
    set: {priority: P1}
`), 0o600))
	const since = "2h"

	res := runCLI(t, nil, "--server", addr, "replay", "--tenant", "acme", "--since", since, "--rules", candidate)
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stderr, "replayed 4/4 alerts")
	require.Equal(t, []string{
		"Replayed 4 alerts from 2026-05-01 11:00:00 UTC to 2026-05-01 11:03:00 UTC.",
		"",
		"                                CURRENT  candidate.yaml  CHANGE",
		"incidents                       4        4               =",
		"suppressed                      0        1               +1",
		"  staging never pages           0        1               +1",
		"opened (automation or page)     4        3               -1",
		"  automation runs               4        3               -1",
		"  pages                         0        0               =",
		"held by a delay, then resolved  0        0               =",
		"opened P1                       0        1               +1",
		"opened P2                       4        2               -2",
		"",
		"2 incidents would be classified differently:",
		"  FIRST SEEN               TITLE               CURRENT                              CANDIDATE",
		"  2026-05-01 11:02:00 UTC  disk full on stg-1  P2 runbook=disk-cleanup policy=none  suppressed: staging never pages",
		"  2026-05-01 11:03:00 UTC  disk full on db-1   P2 runbook=disk-cleanup policy=none  P1 runbook=disk-cleanup policy=none",
	}, lines(res.stdout))

	res = runCLI(t, nil, "--server", addr, "-o", "json", "replay", "--tenant", "acme", "--since", since, "--rules", candidate)
	require.Equal(t, 0, res.code, res.stderr)
	var s amsv1.ReplaySummary
	require.NoError(t, protojson.Unmarshal([]byte(res.stdout), &s))
	require.Equal(t, int64(2), s.GetDifferingIncidents())
	require.Contains(t, res.stdout, `"differing_incidents"`)
}

func TestReplayErrors(t *testing.T) {
	addr := startReplayAdmin(t)
	good := filepath.Join(t.TempDir(), "c.yaml")
	require.NoError(t, os.WriteFile(good, []byte("rules: []\n"), 0o600))
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	require.NoError(t, os.WriteFile(bad, []byte("rules:\n  - name: x\n    when: alert.nope\n"), 0o600))
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no tenant", []string{"--since", "1h", "--rules", good}, 2, "--tenant is required"},
		{"no rules", []string{"--tenant", "acme", "--since", "1h"}, 2, "--rules is required"},
		{"no since", []string{"--tenant", "acme", "--rules", good}, 2, "--since must be positive"},
		{"missing file", []string{"--tenant", "acme", "--since", "1h", "--rules", "/nonexistent.yaml"}, 2, "read --rules"},
		{"broken candidate", []string{"--tenant", "acme", "--since", "1h", "--rules", bad}, 1, "bad.yaml:2"},
		{"unknown tenant", []string{"--tenant", "nobody", "--since", "1h", "--rules", good}, 1, "nobody"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCLI(t, nil, append([]string{"--server", addr, "replay"}, tt.args...)...)
			require.Equal(t, tt.code, res.code, res.stderr)
			require.Contains(t, res.stderr, tt.want)
		})
	}
}
