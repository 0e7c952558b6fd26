package amsctl

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/amsproject/ams/pkg/bus"
	"github.com/amsproject/ams/pkg/natstest"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ams/internal/admin"
)

// startExecutorAdmin serves the admin API over a JetStream holding the
// executor's buckets and control stream as the executor creates them, with
// one run of tenant acme waiting for approval of step reboot.
func startExecutorAdmin(t *testing.T, configKill bool) (string, jetstream.JetStream) {
	t.Helper()
	ctx := context.Background()
	_, js := natstest.Connect(t, natstest.RunServer(t))
	runs, err := bus.EnsureKV(ctx, js, jetstream.KeyValueConfig{Bucket: "executor-runs"})
	require.NoError(t, err)
	_, err = bus.EnsureKV(ctx, js, jetstream.KeyValueConfig{Bucket: "executor-rails"})
	require.NoError(t, err)
	_, err = bus.EnsureStream(ctx, js, jetstream.StreamConfig{Name: "EXECUTOR_CONTROL", Subjects: []string{"ams.executor.>"}, Duplicates: time.Minute})
	require.NoError(t, err)
	_, err = runs.Put(ctx, "acme.inc-1", []byte(`{"tenant":"acme","incident":"inc-1","runbook":"ec2-status","started_at":"2026-05-01T12:00:00Z","next":1,"waiting":{"step":"reboot","since":"2026-05-01T12:00:00Z","deadline":"2026-05-01T12:15:00Z"}}`))
	require.NoError(t, err)
	_, err = runs.Put(ctx, "acme.inc-2", []byte(`{"tenant":"acme","incident":"inc-2","runbook":"ec2-status","started_at":"2026-05-01T12:00:00Z","next":3,"finished":true,"outcome":"ACTION_OUTCOME_RESOLVED","reason":"verify: healthy"}`))
	require.NoError(t, err)
	srv := admin.New(js).WithClock(testNow).WithTenants(func(id string) bool { return id == "acme" }).WithKillSwitchConfig(configKill)
	return startServer(t, srv), js
}

func TestApproveAndDeny(t *testing.T) {
	addr, js := startExecutorAdmin(t, false)
	res := runCLI(t, map[string]string{"USER": "bob"}, "--server", addr, "approve", "inc-1", "--tenant", "acme", "--comment", "customer agreed")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "Approved step reboot of incident inc-1 (tenant acme).\n", res.stdout)

	// The decision is on the executor's control stream for its replicas.
	msg, err := js.Stream(context.Background(), "EXECUTOR_CONTROL")
	require.NoError(t, err)
	raw, err := msg.GetLastMsgForSubject(context.Background(), "ams.executor.decision.acme.inc-1")
	require.NoError(t, err)
	var req amsv1.DecideApprovalRequest
	require.NoError(t, proto.Unmarshal(raw.Data, &req))
	require.True(t, req.GetApprove())
	require.Equal(t, "bob", req.GetBy())
	require.Equal(t, "customer agreed", req.GetComment())

	res = runCLI(t, nil, "--server", addr, "deny", "inc-2", "--tenant", "acme")
	require.Equal(t, 1, res.code)
	require.Contains(t, res.stderr, "cannot deny: no step of this incident is waiting for approval: the run of inc-2 ended ACTION_OUTCOME_RESOLVED (verify: healthy)")

	res = runCLI(t, nil, "--server", addr, "deny", "inc-9", "--tenant", "acme")
	require.Equal(t, 1, res.code)
	require.Contains(t, res.stderr, "incident inc-9 of tenant acme has no runbook run")

	res = runCLI(t, nil, "--server", addr, "approve", "inc-1")
	require.Equal(t, 2, res.code)
	require.Contains(t, res.stderr, "--tenant is required")
}

func TestKillSwitch(t *testing.T) {
	addr, _ := startExecutorAdmin(t, false)
	res := runCLI(t, nil, "--server", addr, "kill-switch")
	require.Equal(t, 0, res.code, res.stderr)
	require.Equal(t, "Kill switch off: recovery steps run under the other rails.\n", res.stdout)

	res = runCLI(t, map[string]string{"USER": "alice"}, "--server", addr, "kill-switch", "on")
	require.Equal(t, 2, res.code)
	require.Contains(t, res.stderr, "--reason is required")

	res = runCLI(t, map[string]string{"USER": "alice"}, "--server", addr, "kill-switch", "on", "--reason", "bad SSM document rollout")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "Kill switch ON: no recovery step runs.\nLast set by alice at 2026-05-01T12:00:00Z: bad SSM document rollout.\n")
	res = runCLI(t, nil, "--server", addr, "kill-switch")
	require.Contains(t, res.stdout, "Kill switch ON")

	res = runCLI(t, map[string]string{"USER": "alice"}, "--server", addr, "kill-switch", "off")
	require.Equal(t, 0, res.code, res.stderr)
	require.Contains(t, res.stdout, "Kill switch off")

	res = runCLI(t, nil, "--server", addr, "kill-switch", "maybe")
	require.Equal(t, 2, res.code)

	held, _ := startExecutorAdmin(t, true)
	res = runCLI(t, nil, "--server", held, "kill-switch")
	require.Equal(t, "Kill switch ON: no recovery step runs.\nHeld on by the configuration (executor.kill_switch: true).\n", res.stdout)
}
