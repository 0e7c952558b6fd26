package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace/noop"
	"golang.org/x/crypto/ssh"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/amsproject/ams/pkg/bus"
	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/pkg/natstest"
	"github.com/amsproject/ams/pkg/service"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/executor/app"
	"github.com/amsproject/ams/services/executor/sandbox/awsfake"
	"github.com/amsproject/ams/services/executor/sandbox/sshd"
)

// TestRunbookResolvesIncident runs the example web-service-down runbook
// for an opened incident with every step kind real: the unit's state over
// SSH through the bastion, the SSM restart through the tenant's role, the
// pause, the HTTP probe and its verification. The outcome and every step's
// output arrive on ACTIONS, and the restart was sent exactly once with the
// alert's unit as one whole parameter value.
func TestRunbookResolvesIncident(t *testing.T) {
	h := newHarness(t, options{})
	r := h.startReplica(t, "a")
	const id = "inc-resolves"
	sent := h.publish(t, h.incident(id))
	firstOutput := h.firstCheckOutput(t, id)
	done, evs := h.completed(t, id)
	// Not a figure to assert on (benchmarks measure speed): with the unit
	// down, the first check's event waits for its retries and their pauses.
	t.Logf("incident published to first check output on ACTIONS: %s (unit down: 3 attempts of unit-state)", firstOutput.Sub(sent).Round(time.Millisecond))

	require.Equal(t, amsv1.ActionOutcome_ACTION_OUTCOME_RESOLVED, done.GetOutcome(), done.GetReason())
	require.Contains(t, done.GetReason(), "verify-probe: healthy after 1 check(s)", "the restart fixed it at once")

	started := ofKind(evs, "started")
	require.Len(t, started, 1)
	require.Equal(t, runbookName, started[0].res.GetRunbook())
	require.Equal(t, map[string]string{"host": webHost, "instance": instanceID, "unit": unit, "url": h.web.URL + "/healthz"},
		started[0].res.GetParameters(), "parameters taken from the alert, each checked against its pattern")
	require.Contains(t, started[0].res.GetProcedure(), "On "+webHost+", run systemctl status "+unit)

	names, steps := stepEvents(t, evs)
	require.Equal(t, []string{"unit-state", "restart", "settle", "probe", "verify-probe"}, names)
	check := steps["unit-state"]
	require.Equal(t, "failed", check.GetStatus())
	require.Equal(t, "inactive\n", check.GetOutput(), "what systemctl printed on the host, through the bastion")
	require.EqualValues(t, 3, check.GetExitCode())
	require.EqualValues(t, 3, check.GetAttempts(), "a failing check is retried (retries: 2)")
	require.Equal(t, webHost, check.GetTarget())
	restart := steps["restart"]
	require.True(t, restart.GetRecovery())
	require.Equal(t, "ok", restart.GetStatus())
	require.Equal(t, instanceID, restart.GetTarget())
	require.Contains(t, restart.GetOutput(), "--- stdout ---\nrestarted "+unit+"\n", "the document's stdout, from GetCommandInvocation")
	require.Equal(t, "ok", steps["settle"].GetStatus())
	probe := steps["probe"]
	require.Equal(t, "ok", probe.GetStatus())
	require.EqualValues(t, 200, probe.GetExitCode())
	require.Contains(t, probe.GetOutput(), "200 OK")
	require.Contains(t, probe.GetOutput(), "ok\n", "the start of the site's body")
	require.Equal(t, "ok", steps["verify-probe"].GetStatus())
	require.Len(t, done.GetSteps(), 5, "the outcome carries every step")
	require.Contains(t, railDecisions(done), "rate-limit/restart/allowed")

	// The restart went out once, to the instance, with the alert's unit as
	// the one whole value of the document's parameter.
	require.Len(t, h.aws.CallsOf("SendCommand"), 1)
	cmds := h.aws.Commands()
	require.Len(t, cmds, 1)
	require.Equal(t, document, cmds[0].Document)
	require.Equal(t, account, cmds[0].Account, "sent in the tenant's account, through its role")
	require.Equal(t, []string{instanceID}, cmds[0].InstanceIDs)
	require.Equal(t, map[string][]string{"Unit": {unit}}, cmds[0].Parameters)
	require.Equal(t, unit, cmds[0].Env["SSM_Unit"], "what the script sees")
	require.NotEmpty(t, h.aws.AssumeRoleCalls())
	for _, c := range h.aws.AssumeRoleCalls() {
		require.True(t, c.Accepted)
		require.Equal(t, roleARN, c.RoleARN)
		require.Equal(t, externalID, c.ExternalID)
		require.Equal(t, "ams-executor-"+tenant, c.SessionName)
	}

	// Three attempts of one argv, each quoted whole for the host's shell,
	// each through the bastion.
	want := "'systemctl' 'is-active' '--' '" + unit + "'"
	require.Equal(t, []string{want, want, want}, h.host.Commands())
	require.Empty(t, h.bastion.Commands(), "the bastion only forwards")
	require.NotEmpty(t, h.bastion.Forwards())
	for _, f := range h.bastion.Forwards() {
		require.Equal(t, net.JoinHostPort(webHost, "22"), f)
	}
	require.Equal(t, 1.0, r.runs(t, "resolved"))
}

// TestFailedRecoveryIsUnresolved: the restart document fails and the site
// keeps answering 503, so verification fails and the run ends unresolved,
// with the document's error and the probe's answer in the steps. The
// failed restart is not retried.
func TestFailedRecoveryIsUnresolved(t *testing.T) {
	h := newHarness(t, options{restartFails: true})
	r := h.startReplica(t, "a")
	const id = "inc-unresolved"
	h.publish(t, h.incident(id))
	done, evs := h.completed(t, id)

	require.Equal(t, amsv1.ActionOutcome_ACTION_OUTCOME_UNRESOLVED, done.GetOutcome(), done.GetReason())
	require.Contains(t, done.GetReason(), "verify-probe: still not healthy")
	names, steps := stepEvents(t, evs)
	require.Equal(t, []string{"unit-state", "restart", "settle", "probe", "verify-probe"}, names)
	restart := steps["restart"]
	require.Equal(t, "failed", restart.GetStatus())
	require.EqualValues(t, 1, restart.GetExitCode(), "the document's exit code")
	require.Contains(t, restart.GetOutput(), "ended Failed")
	require.Contains(t, restart.GetOutput(), "--- stderr ---\nJob for "+unit+" failed")
	probe := steps["probe"]
	require.Equal(t, "failed", probe.GetStatus())
	require.EqualValues(t, 503, probe.GetExitCode())
	require.Contains(t, probe.GetOutput(), "503 Service Unavailable (expected 200)")
	require.Contains(t, probe.GetOutput(), "upstream unit down")
	verify := steps["verify-probe"]
	require.Equal(t, "failed", verify.GetStatus())
	require.Contains(t, verify.GetReason(), "over 2s", "verification re-checked for its whole time")

	require.Len(t, h.aws.CallsOf("SendCommand"), 1, "a recovery step is never retried")
	require.False(t, h.site.up.Load())
	require.Equal(t, 1.0, r.runs(t, "unresolved"))
}

// TestReplicaTakesOverAfterCrash runs two executor replicas, each on its
// own connection, and kills the one running the incident while its SSM
// restart is in flight: the restart has been applied on the instance, but
// its invocation never reports an end. The other replica takes the run
// over once the dead one's lease has run out, marks the restart unknown
// rather than sending it again, runs only verification, and ends the run
// resolved because the site is healthy. One outcome is published.
//
// max_deliver is 2, the least the configuration allows: the redelivery that
// finds the dead replica's lease still live must not count against it (it
// schedules a takeover check for the end of the lease instead), or the run
// would be dead-lettered and never end.
func TestReplicaTakesOverAfterCrash(t *testing.T) {
	h := newHarness(t, options{restartHangs: true, lease: 2 * time.Second, ackWait: time.Second, maxDeliver: 2})
	replicas := []*replica{h.startReplica(t, "a"), h.startReplica(t, "b")}
	const id = "inc-takeover"
	revisions := h.watchRun(t, id)
	h.publish(t, h.incident(id))

	// In flight: the command was sent, applied, and is being polled.
	require.Eventually(t, func() bool {
		return len(h.aws.Commands()) == 1 && len(h.aws.CallsOf("GetCommandInvocation")) > 0
	}, time.Minute, 5*time.Millisecond, "the restart never went out")
	require.True(t, h.site.up.Load(), "the document ran on the instance")
	var holder, survivor *replica
	for i, r := range replicas {
		for _, d := range r.got() {
			if d.incident == id && d.n == 1 {
				holder, survivor = r, replicas[1-i]
			}
		}
	}
	require.NotNil(t, holder, "neither replica fetched the incident's first delivery")
	require.Empty(t, ofKind(h.eventsOf(id), "completed"))
	holder.crash()
	t.Logf("replica %s crashed in the restart; replica %s should take over", holder.name, survivor.name)

	// Wait for the outcome, or stop at once if the restart goes out again.
	require.Eventually(t, func() bool {
		return len(ofKind(h.eventsOf(id), "completed")) > 0 || len(h.aws.CallsOf("SendCommand")) > 1
	}, time.Minute, 5*time.Millisecond, "incident %s: no completed event on ACTIONS", id)
	// The restart went out once, ever: the survivor did not send it again.
	require.Len(t, h.aws.CallsOf("SendCommand"), 1, "the survivor sent the restart a second time")
	require.Len(t, h.aws.Commands(), 1)
	done, evs := h.completed(t, id)
	require.Equal(t, amsv1.ActionOutcome_ACTION_OUTCOME_RESOLVED, done.GetOutcome(), done.GetReason())
	require.Contains(t, done.GetReason(), "the outcome of recovery step restart is unknown, but verify-probe shows the incident healthy")

	// The survivor took the run over only once the dead replica's lease,
	// as last written in the run record, had run out.
	var takeover *amsv1.RailDecision
	for _, d := range done.GetDecisions() {
		if d.GetRail() == "lease" && d.GetDecision() == "taken-over" {
			takeover = d
		}
	}
	require.NotNil(t, takeover, "no lease takeover recorded: %v", railDecisions(done))
	var deadOwner string
	var deadLease time.Time
	owners := map[string]bool{}
	var revs []runRecord
	require.Eventually(t, func() bool {
		revs = revisions()
		return len(revs) > 0 && revs[len(revs)-1].Finished
	}, time.Minute, 5*time.Millisecond, "the watch never saw the run record finished")
	for _, rec := range revs {
		if rec.Owner == "" {
			continue
		}
		owners[rec.Owner] = true
		if deadOwner == "" {
			deadOwner = rec.Owner
		}
		if rec.Owner == deadOwner && rec.LeaseUntil.After(deadLease) {
			deadLease = rec.LeaseUntil
		}
	}
	require.Len(t, owners, 2, "the run record names the crashed replica, then the survivor")
	require.Contains(t, takeover.GetReason(), "replica "+deadOwner+" stopped renewing its lease")
	require.False(t, takeover.GetTime().AsTime().Before(deadLease),
		"taken over at %s, before the crashed replica's lease ended at %s", takeover.GetTime().AsTime(), deadLease)

	names, steps := stepEvents(t, evs)
	require.Equal(t, []string{"unit-state", "restart", "settle", "probe", "verify-probe"}, names, "each step published once, across both replicas")
	require.Equal(t, "unknown", steps["restart"].GetStatus())
	require.Contains(t, steps["restart"].GetReason(), "not re-run blindly")
	require.Equal(t, "skipped", steps["settle"].GetStatus(), "after an unknown recovery only verification runs")
	require.Equal(t, "skipped", steps["probe"].GetStatus())
	verify := steps["verify-probe"]
	require.Equal(t, "ok", verify.GetStatus())
	require.EqualValues(t, 200, verify.GetExitCode())

	require.Len(t, ofKind(evs, "started"), 1)
	require.Len(t, ofKind(evs, "completed"), 1, "one outcome per incident")
	// The survivor ran it from a redelivery, and it alone finished it.
	redelivered := false
	for _, d := range survivor.got() {
		redelivered = redelivered || (d.incident == id && d.n > 1)
	}
	require.True(t, redelivered, "the survivor took the run over from a redelivery of the incident")
	require.Equal(t, 1.0, survivor.runs(t, "resolved"))
	require.Zero(t, holder.runs(t, "resolved"))
}

// runRecord is what the test reads of the executor's run record, kept in
// KV bucket executor-runs under <tenant>.<incident>: who holds the run and
// until when.
type runRecord struct {
	Owner      string    `json:"owner"`
	LeaseUntil time.Time `json:"lease_until"`
	Finished   bool      `json:"finished"`
}

// watchRun records every revision of the incident's run record from now
// on; the returned func gives those seen so far. The bucket keeps only the
// latest revision, so the watch starts before the incident is published.
func (h *harness) watchRun(tb testing.TB, id string) func() []runRecord {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	kv, err := h.js.KeyValue(ctx, "executor-runs")
	require.NoError(tb, err)
	w, err := kv.Watch(ctx, tenant+"."+id)
	require.NoError(tb, err)
	var mu sync.Mutex
	var revs []runRecord
	done := make(chan struct{})
	go func() {
		defer close(done)
		for e := range w.Updates() {
			if e == nil {
				continue // the end of the (empty) initial values
			}
			var rec runRecord
			if err := json.Unmarshal(e.Value(), &rec); err != nil {
				tb.Errorf("run record revision %d: %v", e.Revision(), err)
				continue
			}
			mu.Lock()
			revs = append(revs, rec)
			mu.Unlock()
		}
	}()
	tb.Cleanup(func() {
		require.NoError(tb, w.Stop())
		cancel()
		<-done
	})
	return func() []runRecord {
		mu.Lock()
		defer mu.Unlock()
		return append([]runRecord(nil), revs...)
	}
}

// railDecisions lists a result's rail decisions as rail/step/decision.
func railDecisions(res *amsv1.ActionResult) []string {
	var out []string
	for _, d := range res.GetDecisions() {
		out = append(out, d.GetRail()+"/"+d.GetStep()+"/"+d.GetDecision())
	}
	return out
}

// The tenant the tests run for and what is its: an AWS account holding the
// web server's instance, the web server itself (reachable over SSH only
// through the tenant's bastion, under a name only the bastion resolves) and
// the site it serves, a local HTTP server.
const (
	tenant     = "acme"
	account    = "111111111111"
	roleARN    = "arn:aws:iam::111111111111:role/ams-executor"
	externalID = "acme-7f3e9c"
	instanceID = "i-0a1b2c3d4e5f60718"
	webHost    = "web-1.acme.internal"
	// unit is the alert's unit label: not the runbook's default, and with
	// an @ and a dash, so a value that arrives whole was passed whole.
	unit        = "web@blue-1.service"
	runbookName = "web-service-down"
	document    = "MSP-RestartService"
	// The MSP's own AWS key, from the environment as the default chain
	// reads it. STS accepts any well-formed signature (no AddCaller); every
	// other call must use the role's temporary credentials.
	mspKey    = "AKIAMSPEXAMPLEKEY01"
	mspSecret = "msp-secret-for-tests"
)

// exampleRunbook is the runbook operators ship, with only its pauses cut
// (the settle wait and the verify interval) so a run takes seconds. Steps,
// parameters, patterns, retries and the document are the example's own.
const exampleRunbook = "../../../deploy/examples/runbooks/web-service-down.yaml"

// options say how the tenant's machines behave in one test.
type options struct {
	// up: the unit is active and the site answers 200 from the start.
	up bool
	// restartFails: the SSM document exits 1 and changes nothing.
	restartFails bool
	// restartHangs: the document restarts the unit, but its invocation
	// stays InProgress for ever, so the recovery is in flight as long as
	// the test wants.
	restartHangs bool
	// ackWait and lease tune the executor for takeover (zero: defaults).
	ackWait, lease time.Duration
	// maxDeliver is the consumers' max_deliver (zero: the default).
	maxDeliver int
	// storm is the tenant's storm breaker (zero: default 10).
	storm int
}

// site is the customer's web service as every way of looking at it sees
// it: systemctl over SSH, its URL, and the restart document, which brings
// it up.
type site struct{ up atomic.Bool }

// harness is the executor's world: a real JetStream server, awsfake behind
// HTTP, a real SSH host behind a real bastion, the site, the executor's
// configuration file and runbooks folder, and a watch on ACTIONS.
type harness struct {
	srv     *server.Server
	js      jetstream.JetStream
	cfg     *config.File
	pub     *bus.Publisher
	log     *slog.Logger
	site    *site
	web     *httptest.Server
	aws     *awsfake.Fake
	host    *sshd.Server
	bastion *sshd.Server

	watchOnce sync.Once
	mu        sync.Mutex
	events    []event
}

// event is one action event as the test's watch on ACTIONS received it.
type event struct {
	subject string
	at      time.Time
	res     *amsv1.ActionResult
}

func newHarness(tb testing.TB, o options) *harness {
	tb.Helper()
	h := &harness{site: &site{}}
	h.site.up.Store(o.up)
	h.log = testLogger(tb)

	// The executor's own AWS credentials come from the default chain; keep
	// it to the environment so nothing on the machine running the tests
	// (profiles, instance metadata) is used.
	noFile := filepath.Join(tb.TempDir(), "none")
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID": mspKey, "AWS_SECRET_ACCESS_KEY": mspSecret, "AWS_SESSION_TOKEN": "",
		"AWS_REGION": "ap-northeast-1", "AWS_PROFILE": "", "AWS_CONFIG_FILE": noFile,
		"AWS_SHARED_CREDENTIALS_FILE": noFile, "AWS_EC2_METADATA_DISABLED": "true",
	} {
		tb.Setenv(k, v)
	}

	h.srv = natstest.RunServer(tb)
	_, h.js = natstest.Connect(tb, h.srv)
	ctx := context.Background()
	// What the process and the classifier make before the executor runs:
	// the dead-letter stream and INCIDENTS.
	require.NoError(tb, bus.EnsureDeadLetter(ctx, h.js, 1))
	_, err := bus.EnsureStream(ctx, h.js, jetstream.StreamConfig{
		Name: "INCIDENTS", Subjects: []string{"ams.incident.>"}, Duplicates: 10 * time.Minute,
	})
	require.NoError(tb, err)
	h.pub = bus.NewPublisher(h.js, "classifier", noop.NewTracerProvider())

	h.web = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/healthz" {
			http.NotFound(w, r)
			return
		}
		if !h.site.up.Load() {
			http.Error(w, "upstream unit down", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	}))
	tb.Cleanup(h.web.Close)

	h.aws = awsfake.New()
	awsSrv := httptest.NewServer(h.aws)
	tb.Cleanup(awsSrv.Close)
	h.aws.AddRole(roleARN, externalID)
	h.aws.AddInstance(awsfake.Instance{ID: instanceID, Account: account, Tags: map[string]string{"Customer": tenant, "Name": "web-1"}})
	doc := awsfake.Document{
		Name: document,
		// The document's own guard, as the MSP's document declares it.
		Parameters: []awsfake.DocumentParameter{{Name: "Unit", AllowedPattern: `^[a-zA-Z0-9][a-zA-Z0-9_.@-]{0,127}\.service$`}},
		Run: func(env map[string]string) (string, string, int) {
			if o.restartFails {
				return "", "Job for " + env["SSM_Unit"] + " failed because the control process exited with error code.\n", 1
			}
			h.site.up.Store(true)
			return "restarted " + env["SSM_Unit"] + "\n", "", 0
		},
	}
	if o.restartHangs {
		doc.InProgressPolls = -1
	}
	require.NoError(tb, h.aws.AddDocument(account, doc))

	dir := tb.TempDir()
	h.startSSH(tb, dir)
	writeRunbook(tb, filepath.Join(dir, "runbooks"))

	ackWait := o.ackWait
	if ackWait == 0 {
		ackWait = 30 * time.Second
	}
	storm := o.storm
	if storm == 0 {
		storm = 10
	}
	maxDeliver := o.maxDeliver
	if maxDeliver == 0 {
		maxDeliver = 10
	}
	cfgFile := filepath.Join(dir, "ams.yaml")
	require.NoError(tb, os.WriteFile(cfgFile, fmt.Appendf(nil, `
nats:
  url: nats://127.0.0.1:4222 # unused: each replica is handed its own connection
executor:
  runbooks_dir: runbooks
  consumer: {ack_wait: %s, max_deliver: %d}
  aws_endpoints: {sts: %q, ssm: %q, ec2: %q}
tenants:
  - id: %s
    name: Acme
    executor:
      storm: {incidents: %d}
      hosts: [%s, 127.0.0.1]
      aws:
        role_arn: %s
        external_id: %s
        region: ap-northeast-1
        tags: {Customer: %s}
      ssh:
        user: ams
        key_file: ssh/id_ed25519
        known_hosts_file: ssh/known_hosts
        bastion: %s
        bastion_user: jump
`, ackWait, maxDeliver, awsSrv.URL, awsSrv.URL, awsSrv.URL, tenant, storm, webHost, roleARN, externalID, tenant, h.bastion.Addr()), 0o600))
	h.cfg, err = config.Load(cfgFile)
	require.NoError(tb, err)
	if o.lease > 0 {
		// Below the 10s config.Validate asks of a real deployment: the
		// takeover tests wait a lease out, and a short one keeps them
		// short. New takes the configuration as given.
		h.cfg.Executor.Lease = o.lease
	}
	return h
}

// startSSH starts the web server's sshd and the bastion in front of it, and
// writes the tenant's key and known_hosts into dir/ssh.
func (h *harness) startSSH(tb testing.TB, dir string) {
	tb.Helper()
	key, err := sshd.NewClientKey()
	require.NoError(tb, err)
	shell := sshd.Shell(tb.TempDir())
	h.host, err = sshd.Start(sshd.Options{
		AuthorizedKeys: []ssh.PublicKey{key.PublicKey()},
		Users:          []string{"ams"},
		// No systemd on a test machine: a shell function answers systemctl
		// is-active as systemd does (the state; exit 3 when not active),
		// while the executor's quoted command is parsed by a real /bin/sh.
		Exec: func(ctx context.Context, user, command string) ([]byte, []byte, int) {
			state := "inactive"
			if h.site.up.Load() {
				state = "active"
			}
			fn := fmt.Sprintf(`systemctl() { if [ "$1" != is-active ]; then echo "systemctl $1: not in this test" >&2; return 1; fi; echo %s; [ %s = active ] || return 3; }; `, state, state)
			return shell(ctx, user, fn+command)
		},
	})
	require.NoError(tb, err)
	tb.Cleanup(func() { require.NoError(tb, h.host.Close()) })
	h.bastion, err = sshd.Start(sshd.Options{
		AuthorizedKeys:  []ssh.PublicKey{key.PublicKey()},
		Users:           []string{"jump"},
		AllowForwarding: true,
		// Only the bastion knows where web-1.acme.internal is: the step can
		// reach it only through the jump.
		DialForward: func(ctx context.Context, hostport string) (net.Conn, error) {
			if hostport != net.JoinHostPort(webHost, "22") {
				return nil, fmt.Errorf("bastion: no route to %s", hostport)
			}
			var d net.Dialer
			return d.DialContext(ctx, "tcp", h.host.Addr())
		},
	})
	require.NoError(tb, err)
	tb.Cleanup(func() { require.NoError(tb, h.bastion.Close()) })

	sshDir := filepath.Join(dir, "ssh")
	require.NoError(tb, os.Mkdir(sshDir, 0o700))
	_, _, err = sshd.WriteClientFiles(sshDir, key,
		h.host.KnownHostsLine(net.JoinHostPort(webHost, "22")), h.bastion.KnownHostsLine(""))
	require.NoError(tb, err)
}

// writeRunbook writes the example runbook, its pauses cut, into dir.
func writeRunbook(tb testing.TB, dir string) {
	tb.Helper()
	raw, err := os.ReadFile(exampleRunbook)
	require.NoError(tb, err)
	src := string(raw)
	for _, r := range []struct {
		re   *regexp.Regexp
		with string
	}{
		{regexp.MustCompile(`wait: \{duration: [0-9a-z]+\}`), "wait: {duration: 100ms}"},
		{regexp.MustCompile(`every: [0-9a-z]+, for: [0-9a-z]+\}`), "every: 1s, for: 2s}"},
	} {
		require.Len(tb, r.re.FindAllString(src, -1), 1, "the example runbook changed: update how the test shortens %s", r.re)
		src = r.re.ReplaceAllString(src, r.with)
	}
	require.NoError(tb, os.Mkdir(dir, 0o700))
	require.NoError(tb, os.WriteFile(filepath.Join(dir, runbookName+".yaml"), []byte(src), 0o600))
}

// replica is one executor process: the app with its own NATS connection
// and metrics registry.
type replica struct {
	name    string
	nc      *nats.Conn
	reg     *prometheus.Registry
	cancel  context.CancelFunc
	crashed atomic.Bool

	mu         sync.Mutex
	deliveries []delivery
}

// delivery is an incident message a replica fetched from INCIDENTS.
type delivery struct {
	incident string
	n        uint64 // NumDelivered
}

// startReplica runs an executor on its own connection to the server, as a
// separate process would, and waits until it consumes.
func (h *harness) startReplica(tb testing.TB, name string) *replica {
	tb.Helper()
	nc, err := nats.Connect(h.srv.ClientURL(), nats.Name("executor-"+name))
	require.NoError(tb, err)
	js, err := jetstream.New(nc)
	require.NoError(tb, err)
	r := &replica{name: name, nc: nc, reg: prometheus.NewRegistry()}
	x, err := app.New(h.cfg, service.Deps{
		JS: tapJS{JetStream: js, r: r}, Log: h.log.With("replica", name), Registerer: r.reg,
		Tracing: noop.NewTracerProvider(), BusMetrics: bus.NewMetrics(r.reg), Now: time.Now, Replicas: 1,
	})
	require.NoError(tb, err)
	require.Contains(tb, x.Runbooks(), runbookName)
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	done := make(chan error, 1)
	go func() { done <- x.Run(ctx) }()
	tb.Cleanup(func() {
		if r.crashed.Load() {
			// A killed process has no shutdown to wait for.
			return
		}
		cancel()
		select {
		case err := <-done:
			require.NoError(tb, err, "replica %s: a clean shutdown returns nil", name)
		case <-time.After(30 * time.Second):
			tb.Errorf("replica %s did not stop within 30s of its context ending", name)
		}
		nc.Close()
	})
	require.Eventually(tb, func() bool { return x.Ready() == nil }, 20*time.Second, 5*time.Millisecond, "replica %s never became ready", name)
	// The first replica has made ACTIONS: watch it.
	h.watchOnce.Do(func() { h.watch(tb) })
	return r
}

// crash stops the replica as a killed process stops: its connection drops
// at once, so it neither acks nor renews its lease, and releases nothing.
// The handler still blocked in the recovery step stands for a process that
// is gone: it can reach nothing through the closed connection, and Run,
// which waits for it, is not waited for.
func (r *replica) crash() {
	r.crashed.Store(true)
	r.nc.Close()
	r.cancel()
}

// got reports the incident deliveries the replica has fetched.
func (r *replica) got() []delivery {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]delivery(nil), r.deliveries...)
}

// runs is the replica's ams_executor_runs_total for outcome.
func (r *replica) runs(tb testing.TB, outcome string) float64 {
	tb.Helper()
	mfs, err := r.reg.Gather()
	require.NoError(tb, err)
	total := 0.0
	for _, mf := range mfs {
		if mf.GetName() != "ams_executor_runs_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["tenant"] == tenant && labels["outcome"] == outcome {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}

// tapJS is a replica's JetStream with the incident deliveries it fetches
// noted, so a test knows which replica holds a run without reading the
// executor's internals. Everything else passes through unchanged.
type tapJS struct {
	jetstream.JetStream
	r *replica
}

func (j tapJS) CreateOrUpdateConsumer(ctx context.Context, stream string, cfg jetstream.ConsumerConfig) (jetstream.Consumer, error) {
	c, err := j.JetStream.CreateOrUpdateConsumer(ctx, stream, cfg)
	if err != nil || stream != "INCIDENTS" {
		return c, err
	}
	return tapConsumer{Consumer: c, r: j.r}, nil
}

type tapConsumer struct {
	jetstream.Consumer
	r *replica
}

func (c tapConsumer) Messages(opts ...jetstream.PullMessagesOpt) (jetstream.MessagesContext, error) {
	it, err := c.Consumer.Messages(opts...)
	if err != nil {
		return nil, err
	}
	return tapIter{MessagesContext: it, r: c.r}, nil
}

type tapIter struct {
	jetstream.MessagesContext
	r *replica
}

func (it tapIter) Next(opts ...jetstream.NextOpt) (jetstream.Msg, error) {
	msg, err := it.MessagesContext.Next(opts...)
	if err != nil {
		return msg, err
	}
	var ev amsv1.IncidentEvent
	d := delivery{incident: "?"}
	if bus.Decode(msg, &ev) == nil {
		d.incident = ev.GetIncident().GetId()
	}
	if md, err := msg.Metadata(); err == nil {
		d.n = md.NumDelivered
	}
	it.r.mu.Lock()
	it.r.deliveries = append(it.r.deliveries, d)
	it.r.mu.Unlock()
	return msg, nil
}

// watch collects every action event in stream order, each with the time
// the test received it.
func (h *harness) watch(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	cons, err := h.js.OrderedConsumer(ctx, app.ActionsStream, jetstream.OrderedConsumerConfig{})
	require.NoError(tb, err)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		at := time.Now()
		var res amsv1.ActionResult
		if err := bus.Decode(m, &res); err != nil {
			tb.Errorf("action event on %s: %v", m.Subject(), err)
			return
		}
		h.mu.Lock()
		h.events = append(h.events, event{subject: m.Subject(), at: at, res: &res})
		h.mu.Unlock()
	})
	require.NoError(tb, err)
	tb.Cleanup(cc.Stop)
}

// incident is an opened incident for the web server as the classifier
// publishes it: the rules chose web-service-down, and the alert names the
// host, the instance, the unit and the URL to probe.
func (h *harness) incident(id string) *amsv1.Incident {
	now := timestamppb.Now()
	res := &amsv1.Resource{Host: webHost, InstanceId: instanceID, Account: account, Region: "ap-northeast-1"}
	return &amsv1.Incident{
		Id: id, Tenant: tenant, GroupKey: "fp-" + id, Title: "web-1: " + unit + " is down",
		State: amsv1.IncidentState_INCIDENT_STATE_OPEN, Priority: amsv1.Priority_PRIORITY_P2,
		Severity: amsv1.Severity_SEVERITY_CRITICAL, Runbook: runbookName, Resource: res,
		AlertCount: 1, Version: 1, FirstSeen: now, LastSeen: now, OpenedAt: now,
		Alert: &amsv1.Alert{
			Id: "alert-" + id, Tenant: tenant, Integration: "acme-am", Source: "alertmanager",
			Fingerprint: "fp-" + id, Status: amsv1.AlertStatus_ALERT_STATUS_FIRING,
			Severity: amsv1.Severity_SEVERITY_CRITICAL, Summary: unit + " is down on web-1",
			Labels:   map[string]string{"alertname": "WebServiceDown", "unit": unit, "probe_url": h.web.URL + "/healthz"},
			Resource: res, StartsAt: now, ReceivedAt: now,
		},
	}
}

// publish stores the incident's opened event on INCIDENTS and returns the
// time just before it was sent.
func (h *harness) publish(tb testing.TB, inc *amsv1.Incident) time.Time {
	tb.Helper()
	ev := &amsv1.IncidentEvent{Type: amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_OPENED, Incident: inc, AlertId: inc.GetAlert().GetId()}
	sent := time.Now()
	_, err := h.pub.Publish(context.Background(), bus.Subject("incident", "opened", tenant), "incident:"+inc.GetId()+":opened", ev)
	require.NoError(tb, err)
	return sent
}

// eventsOf returns the incident's action events received so far, in stream order.
func (h *harness) eventsOf(id string) []event {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []event
	for _, e := range h.events {
		if e.res.GetIncidentId() == id {
			out = append(out, e)
		}
	}
	return out
}

// waitFor polls the incident's events until ok holds, for at most a minute:
// long enough for a busy machine, and it only bounds a failing test.
func (h *harness) waitFor(tb testing.TB, id, what string, ok func([]event) bool) []event {
	tb.Helper()
	var evs []event
	require.Eventually(tb, func() bool {
		evs = h.eventsOf(id)
		return ok(evs)
	}, time.Minute, 5*time.Millisecond, "incident %s: no %s on ACTIONS", id, what)
	return evs
}

// completed waits for the incident's outcome and returns it with every
// event of the incident received by then.
func (h *harness) completed(tb testing.TB, id string) (*amsv1.ActionResult, []event) {
	tb.Helper()
	evs := h.waitFor(tb, id, "completed event", func(evs []event) bool { return len(ofKind(evs, "completed")) > 0 })
	return ofKind(evs, "completed")[0].res, evs
}

// firstCheckOutput waits for the incident's first step event carrying a
// check's output and returns when the test received it.
func (h *harness) firstCheckOutput(tb testing.TB, id string) time.Time {
	tb.Helper()
	var at time.Time
	h.waitFor(tb, id, "step event with check output", func(evs []event) bool {
		for _, e := range ofKind(evs, "step") {
			if s := e.res.GetSteps(); len(s) == 1 && !s[0].GetRecovery() && s[0].GetOutput() != "" {
				at = e.at
				return true
			}
		}
		return false
	})
	return at
}

// ofKind keeps the events published on ams.action.<kind>.<tenant>.
func ofKind(evs []event, kind string) []event {
	var out []event
	for _, e := range evs {
		if e.subject == bus.Subject("action", kind, tenant) {
			out = append(out, e)
		}
	}
	return out
}

// stepEvents returns the step events' steps in order, and by name.
func stepEvents(tb testing.TB, evs []event) ([]string, map[string]*amsv1.StepResult) {
	tb.Helper()
	var names []string
	byName := map[string]*amsv1.StepResult{}
	for _, e := range ofKind(evs, "step") {
		require.Len(tb, e.res.GetSteps(), 1, "a step event carries its one step")
		s := e.res.GetSteps()[0]
		names = append(names, s.GetName())
		byName[s.GetName()] = s
	}
	return names, byName
}

// testLogger collects the executors' logs and shows them only when the
// test fails. It never writes to tb itself: a crashed replica's goroutine
// may still log after the test has ended.
func testLogger(tb testing.TB) *slog.Logger {
	buf := &lockedBuffer{}
	tb.Cleanup(func() {
		if tb.Failed() {
			tb.Logf("executor logs:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
