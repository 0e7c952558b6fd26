package amsctl

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"

	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/pkg/natstest"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ams/internal/admin"
	classifier "github.com/amsproject/ams/services/classifier/app"
	"github.com/amsproject/ams/services/classifier/policy"
)

// startRulesAdmin serves the real admin API with tenant acme's rules.
func startRulesAdmin(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(dir, "acme.yaml"), []byte(`
rules:
  - name: disk-full
    when: 'alert.labels.?alertname.orValue("") == "DiskFull"'
    set: {priority: P2, runbook: disk-cleanup}
  - name: heartbeat
    when: 'alert.labels.?alertname.orValue("") == "Watchdog"'
    suppress: heartbeat
    stop: true
`), 0o600))
	cfg := config.Default()
	cfg.Dir = dir
	cfg.Tenants = []config.Tenant{{ID: "acme", RulesFile: "acme.yaml"}}
	policies, err := policy.Load(cfg)
	require.NoError(t, err)
	_, js := natstest.Connect(t, natstest.RunServer(t))
	// An incident whose last alert was a Watchdog heartbeat.
	kv, err := js.CreateKeyValue(t.Context(), jetstream.KeyValueConfig{Bucket: classifier.IncidentsBucket})
	require.NoError(t, err)
	data, err := proto.Marshal(&amsv1.Incident{Id: "inc-7", Tenant: "acme", Alert: &amsv1.Alert{Fingerprint: "fp", Labels: map[string]string{"alertname": "Watchdog"}}})
	require.NoError(t, err)
	_, err = kv.Put(t.Context(), "acme.inc-7", data)
	require.NoError(t, err)
	return startServer(t, admin.New(js).WithClock(testNow).WithPolicies(policies))
}

func writeAlert(t *testing.T, a *amsv1.Alert) string {
	t.Helper()
	data, err := protojson.Marshal(a)
	require.NoError(t, err)
	path := filepath.Join(t.TempDir(), "alert.json")
	require.NoError(t, os.WriteFile(path, data, 0o600))
	return path
}

func TestRulesExplain(t *testing.T) {
	addr := startRulesAdmin(t)
	disk := writeAlert(t, &amsv1.Alert{Fingerprint: "fp", Labels: map[string]string{"alertname": "DiskFull"}})

	res := runCLI(t, nil, "--server", addr, "rules", "explain", "--tenant", "acme", "--file", disk)
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "0  disk-full  matched      priority=P2 runbook=disk-cleanup")
	require.Contains(t, res.stdout, "1  heartbeat  not matched")
	require.Contains(t, res.stdout, "outcome: opened at once, runbook disk-cleanup")

	beat := writeAlert(t, &amsv1.Alert{Fingerprint: "fp", Labels: map[string]string{"alertname": "Watchdog"}})
	res = runCLI(t, nil, "--server", addr, "-o", "json", "rules", "explain", "--tenant", "acme", "--file", beat)
	require.Equal(t, 0, res.code, res.stderr)
	var resp amsv1.ExplainAlertResponse
	require.NoError(t, protojson.Unmarshal([]byte(res.stdout), &resp))
	require.True(t, resp.GetSuppressed())
	require.Equal(t, "heartbeat", resp.GetSuppressReason())
	require.Contains(t, res.stdout, `"suppress_reason"`, "proto field names")

	// The alert an incident last saw, its tenant taken from the incident.
	res = runCLI(t, nil, "--server", addr, "rules", "explain", "--incident", "inc-7")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "1  heartbeat  matched      suppress=heartbeat stop=true")
	require.Contains(t, res.stdout, "outcome: suppressed (heartbeat)")
}

func TestRulesExplainErrors(t *testing.T) {
	addr := startRulesAdmin(t)
	good := writeAlert(t, &amsv1.Alert{Fingerprint: "fp"})
	notJSON := filepath.Join(t.TempDir(), "x.json")
	require.NoError(t, os.WriteFile(notJSON, []byte("{nope"), 0o600))
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no tenant", []string{"--file", good}, 2, "--tenant is required"},
		{"no alert", []string{"--tenant", "acme"}, 2, "give the alert to explain"},
		{"both", []string{"--tenant", "acme", "--file", good, "--incident", "inc-1"}, 2, "give the alert to explain"},
		{"unknown incident", []string{"--incident", "inc-nope"}, 1, "inc-nope"},
		{"missing file", []string{"--tenant", "acme", "--file", "/nonexistent/a.json"}, 2, "read --file"},
		{"not an alert", []string{"--tenant", "acme", "--file", notJSON}, 2, "is not the JSON of an AMS alert"},
		{"bad time", []string{"--tenant", "acme", "--file", good, "--at", "yesterday"}, 2, "--at \"yesterday\" is not an RFC 3339 time"},
		{"unknown tenant", []string{"--tenant", "nobody", "--file", good}, 1, `tenant "nobody" is not in the configuration`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := runCLI(t, nil, append([]string{"--server", addr, "rules", "explain"}, tt.args...)...)
			require.Equal(t, tt.code, res.code, res.stderr)
			require.Contains(t, res.stderr, tt.want)
		})
	}
}
