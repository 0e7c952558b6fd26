package sandbox_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/services/executor/internal/awsstep"
	"github.com/amsproject/ams/services/executor/internal/probe"
	"github.com/amsproject/ams/services/executor/internal/scope"
	"github.com/amsproject/ams/services/executor/internal/sshstep"
	"github.com/amsproject/ams/services/executor/sandbox"
	"github.com/amsproject/ams/services/executor/sandbox/estate"
)

const timeout = 20 * time.Second

func start(t *testing.T, dir string) *sandbox.Sandbox {
	t.Helper()
	sb, err := sandbox.Start(sandbox.Options{Dir: dir})
	require.NoError(t, err)
	t.Cleanup(sb.Close)
	return sb
}

// tenant is the demo tenant's executor configuration pointed at sb, as
// deploy/examples/ams.yaml points it at the default addresses.
func tenant(sb *sandbox.Sandbox) (*config.ExecutorSSH, *config.ExecutorAWS) {
	return &config.ExecutorSSH{User: "ams", Port: 22, KeyFile: sb.KeyFile, KnownHostsFile: sb.KnownHostsFile, Bastion: sb.Bastion()},
		&config.ExecutorAWS{
			RoleARN: sandbox.RoleARN, ExternalID: sandbox.ExternalID, Region: sandbox.Region,
			Accounts: []string{sandbox.Account}, Tags: map[string]string{sandbox.TagKey: sandbox.TagValue},
		}
}

// TestWebServiceDownThroughTheRealClients drives the sandbox with the
// executor's own step kinds, as the example runbook web-service-down does:
// the unit is down over SSH through the bastion, the site answers 503, the
// MSP's SSM document restarts it, and both checks see it healthy.
func TestWebServiceDownThroughTheRealClients(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIAAMSSANDBOX000000")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "ams-sandbox-secret")
	t.Setenv("AWS_REGION", sandbox.Region)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	sb := start(t, t.TempDir())
	sshCfg, awsCfg := tenant(sb)
	ssh := sshstep.New(sshstep.Options{})
	ep := sb.AWSEndpoint()
	aws := awsstep.New(awsstep.Options{Endpoints: config.AWSEndpoints{STS: ep, SSM: ep, EC2: ep, CloudWatch: ep}, PollInterval: 50 * time.Millisecond})
	probes := probe.New(probe.Options{})
	ctx := t.Context()

	res, err := ssh.Run(ctx, "demo", sshCfg, "web-1", []string{"systemctl", "is-active", "--", "nginx.service"}, timeout)
	require.NoError(t, err)
	require.Equal(t, 3, res.ExitCode)
	require.Equal(t, "inactive\n", res.Output)
	url := sb.SiteURL("web-1")
	res, err = probes.HTTP(ctx, url, "GET", 200, timeout)
	require.NoError(t, err)
	require.False(t, res.OK)
	require.Equal(t, 503, res.ExitCode)

	res, err = aws.SSM(ctx, "demo", awsCfg, "i-0a1b2c3d4e5f60001", estate.RestartServiceDocument, map[string]string{"Unit": "nginx.service"}, timeout)
	require.NoError(t, err)
	require.True(t, res.OK, res.Output)
	require.Contains(t, res.Output, "nginx.service restarted on web-1")

	res, err = ssh.Run(ctx, "demo", sshCfg, "web-1.demo.internal", []string{"systemctl", "is-active", "--", "nginx.service"}, timeout)
	require.NoError(t, err)
	require.Equal(t, "active\n", res.Output)
	res, err = probes.HTTP(ctx, url, "GET", 200, timeout)
	require.NoError(t, err)
	require.True(t, res.OK, res.Output)

	// The reboot of the impaired instance, and the CPU metric, through EC2
	// and CloudWatch.
	res, err = aws.EC2(ctx, "demo", awsCfg, "status", "i-0a1b2c3d4e5f6a001", timeout)
	require.NoError(t, err)
	require.False(t, res.OK, res.Output)
	res, err = aws.EC2(ctx, "demo", awsCfg, "reboot", "i-0a1b2c3d4e5f6a001", timeout)
	require.NoError(t, err)
	require.True(t, res.OK, res.Output)
	res, err = aws.EC2(ctx, "demo", awsCfg, "status", "i-0a1b2c3d4e5f6a001", timeout)
	require.NoError(t, err)
	require.True(t, res.OK, res.Output)
	res, err = aws.CloudWatch(ctx, "demo", awsCfg, "AWS/EC2", "CPUUtilization", map[string]string{"InstanceId": "i-0a1b2c3d4e5f6b001"}, "Average", 5*time.Minute, time.Hour)
	require.NoError(t, err)
	require.True(t, res.OK, res.Output)
	require.Greater(t, res.Value, 90.0)
}

// TestValuesStayData: hostile values given to a command over SSH arrive as
// one word each at the host's shell, which refuses any line that would have
// run more.
func TestValuesStayData(t *testing.T) {
	sb := start(t, t.TempDir())
	sshCfg, _ := tenant(sb)
	ssh := sshstep.New(sshstep.Options{})
	for _, v := range []string{"; touch /tmp/x", "$(touch x)", "`id`", "a\nb", `it's "quoted"`, "*", "-rf", "${HOME}", "x|y&z"} {
		res, err := ssh.Run(t.Context(), "demo", sshCfg, "db-1", []string{"echo", v}, timeout)
		require.NoError(t, err, v)
		require.Equal(t, 0, res.ExitCode, "%q: %s", v, res.Output)
		require.Equal(t, v+"\n", res.Output, v)
	}
}

// TestBastionReachesOnlyTheEstate: the bastion forwards to the estate's
// hosts and nowhere else, this machine's own ports included.
func TestBastionReachesOnlyTheEstate(t *testing.T) {
	sb := start(t, t.TempDir())
	sshCfg, _ := tenant(sb)
	ssh := sshstep.New(sshstep.Options{DialTimeout: 5 * time.Second})
	_, err := ssh.Run(t.Context(), "demo", sshCfg, "127.0.0.1", []string{"uptime"}, timeout)
	require.ErrorContains(t, err, "127.0.0.1:22")
	_, err = ssh.Run(t.Context(), "demo", sshCfg, "mail-1", []string{"uptime"}, timeout)
	require.Error(t, err)
}

// TestKeysKeptAcrossRestarts: a restarted sandbox keeps the tenant's key
// and host keys, so a running executor's files stay right.
func TestKeysKeptAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	sb := start(t, dir)
	key, err := os.ReadFile(sb.KeyFile)
	require.NoError(t, err)
	known, err := os.ReadFile(sb.KnownHostsFile)
	require.NoError(t, err)
	sb.Close()

	sb2 := start(t, dir)
	key2, err := os.ReadFile(sb2.KeyFile)
	require.NoError(t, err)
	require.Equal(t, key, key2)
	known2, err := os.ReadFile(sb2.KnownHostsFile)
	require.NoError(t, err)
	// The bastion's line carries its port, which is free (so new) in tests;
	// every host's line is the same.
	require.Equal(t, lines(known)[:len(lines(known))-1], lines(known2)[:len(lines(known2))-1])
	info, err := os.Stat(sb2.KeyFile)
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), info.Mode().Perm())

	require.NoError(t, os.WriteFile(filepath.Join(dir, "id_ed25519"), []byte("not a key"), 0o600))
	_, err = sandbox.Start(sandbox.Options{Dir: dir})
	require.ErrorContains(t, err, "remove it to have a new one made")
}

func lines(b []byte) []string { return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") }

// TestExampleConfigMatches: deploy/examples/ams.yaml, which `make run`
// uses, points the demo tenant at this sandbox: its AWS identity, endpoints,
// bastion, key files and every host of the estate.
func TestExampleConfigMatches(t *testing.T) {
	cfg, err := config.Load("../../../deploy/examples/ams.yaml")
	require.NoError(t, err)
	ep := "http://" + sandbox.DefaultAWSAddr
	require.Equal(t, config.AWSEndpoints{STS: ep, SSM: ep, EC2: ep, CloudWatch: ep}, cfg.Executor.AWSEndpoints)
	require.Equal(t, sandbox.DefaultDNSAddr, cfg.Executor.DNSServer)
	var demo *config.Tenant
	for i := range cfg.Tenants {
		if cfg.Tenants[i].ID == "demo" {
			demo = &cfg.Tenants[i]
		}
	}
	require.NotNil(t, demo)
	x := demo.Executor
	require.Equal(t, sandbox.RoleARN, x.AWS.RoleARN)
	require.Equal(t, sandbox.ExternalID, x.AWS.ExternalID)
	require.Equal(t, []string{sandbox.Account}, x.AWS.Accounts)
	require.Equal(t, map[string]string{sandbox.TagKey: sandbox.TagValue}, x.AWS.Tags)
	require.Equal(t, sandbox.DefaultSSHAddr, x.SSH.Bastion)
	root, err := filepath.Abs("../../..")
	require.NoError(t, err)
	require.Equal(t, filepath.Join(root, "data", "sandbox", "id_ed25519"), mustAbs(t, cfg.Path(x.SSH.KeyFile)))
	require.Equal(t, filepath.Join(root, "data", "sandbox", "known_hosts"), mustAbs(t, cfg.Path(x.SSH.KnownHostsFile)))

	hosts, err := scope.New("demo", x.Hosts)
	require.NoError(t, err)
	for _, h := range estate.Demo() {
		require.NoError(t, hosts.Check(h.Name))
		require.NoError(t, hosts.Check(h.Name+"."+sandbox.Domain))
	}
	for _, addr := range sandbox.DefaultSites() {
		require.NoError(t, hosts.CheckURL("http://"+addr+"/"))
	}
}

func mustAbs(t *testing.T, p string) string {
	t.Helper()
	abs, err := filepath.Abs(p)
	require.NoError(t, err)
	return abs
}
