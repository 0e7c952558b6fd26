package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/proto"

	"github.com/amsproject/ams/pkg/bus"
	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/pkg/natstest"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/executor/internal/rails"
	"github.com/amsproject/ams/services/executor/internal/step"
	"github.com/amsproject/ams/services/executor/runbook"
)

// machines stands in for the step kinds: what a real host or AWS would
// answer, and a log of what was done. The step kinds themselves are tested
// against real protocols in their packages; here the engine's decisions are.
type machines struct {
	mu       sync.Mutex
	calls    []string
	healthy  bool          // what checks see
	fixWorks bool          // whether a recovery makes it healthy
	block    chan struct{} // when set, recoveries wait on it
	started  chan string   // told when a recovery starts
}

func (m *machines) record(s string) {
	m.mu.Lock()
	m.calls = append(m.calls, s)
	m.mu.Unlock()
}

func (m *machines) count(prefix string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := 0
	for _, c := range m.calls {
		if strings.HasPrefix(c, prefix) {
			n++
		}
	}
	return n
}

func (m *machines) recover(ctx context.Context, what string) (step.Result, error) {
	m.record(what)
	if m.started != nil {
		m.started <- what
	}
	if m.block != nil {
		select {
		case <-m.block:
		case <-ctx.Done():
			return step.Result{}, &step.UnknownOutcomeError{Err: ctx.Err()}
		}
	}
	m.mu.Lock()
	if m.fixWorks {
		m.healthy = true
	}
	m.mu.Unlock()
	return step.Result{OK: true, Output: "done"}, nil
}

func (m *machines) check(what string) step.Result {
	m.record(what)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.healthy {
		return step.Result{OK: true, ExitCode: 0, Output: "active"}
	}
	return step.Result{OK: false, ExitCode: 3, Output: "inactive"}
}

func (m *machines) SSM(ctx context.Context, _ string, _ *config.ExecutorAWS, instance, doc string, params map[string]string, _ time.Duration) (step.Result, error) {
	return m.recover(ctx, fmt.Sprintf("ssm %s %s %v", doc, instance, params))
}

func (m *machines) EC2(ctx context.Context, _ string, _ *config.ExecutorAWS, action, instance string, _ time.Duration) (step.Result, error) {
	if action == runbook.EC2Status {
		return m.check("ec2 status " + instance), nil
	}
	return m.recover(ctx, "ec2 "+action+" "+instance)
}

func (m *machines) CloudWatch(context.Context, string, *config.ExecutorAWS, string, string, map[string]string, string, time.Duration, time.Duration) (step.Result, error) {
	m.record("cloudwatch")
	return step.Result{OK: true, Value: 97}, nil
}

func (m *machines) Run(ctx context.Context, _ string, _ *config.ExecutorSSH, host string, argv []string, _ time.Duration) (step.Result, error) {
	if argv[0] == "systemctl" && argv[1] == "restart" {
		return m.recover(ctx, fmt.Sprintf("ssh %s %q", host, argv))
	}
	return m.check(fmt.Sprintf("ssh %s %q", host, argv)), nil
}

func (m *machines) HTTP(_ context.Context, url, _ string, _ int, _ time.Duration) (step.Result, error) {
	return m.check("http " + url), nil
}

func (m *machines) TCP(_ context.Context, addr string, _ time.Duration) (step.Result, error) {
	return m.check("tcp " + addr), nil
}

func (m *machines) DNS(_ context.Context, name, _ string, _ time.Duration) (step.Result, error) {
	return m.check("dns " + name), nil
}

// hosts is a host scope of exact names.
type hosts map[string]bool

func (h hosts) Check(t string) error {
	if !h[t] {
		return &step.OutsideTenantError{Tenant: "acme", Target: t, Reason: "not in the tenant's hosts"}
	}
	return nil
}

func (h hosts) CheckAddress(a string) error {
	host, _, err := net.SplitHostPort(a)
	if err != nil {
		return err
	}
	return h.Check(host)
}

func (h hosts) CheckURL(u string) error {
	return h.Check(strings.Split(strings.TrimPrefix(u, "https://"), "/")[0])
}

const webRunbook = `name: web-restart
description: Restart the web unit and verify.
parameters:
  host: {from: alert.resource.host, pattern: '^[a-z0-9][a-z0-9.-]{0,62}$'}
  unit: {from: 'alert.labels.?unit.orValue("nginx.service")', pattern: '^[a-z0-9][a-z0-9_.@-]{0,62}\.service$'}
steps:
  - name: state
    kind: ssh
    ssh: {host: "{{host}}", argv: [systemctl, is-active, "{{unit}}"]}
  - name: restart
    kind: ssh
    recovery: true
    when: '!steps.state.ok'
    ssh: {host: "{{host}}", argv: [systemctl, restart, "{{unit}}"]}
  - name: verify
    kind: verify
    verify: {step: state, until: steps.state.ok, every: 1s, for: 2s}
procedure: Check {{unit}} on {{host}}.
`

type harness struct {
	t    *testing.T
	srv  *server.Server
	js   jetstream.JetStream
	runs jetstream.KeyValue
	rkv  jetstream.KeyValue
	m    *machines
	rbs  map[string]*runbook.Runbook
	ten  *Tenant
	now  time.Time
}

func newHarness(t *testing.T, runbooks ...string) *harness {
	srv := natstest.RunServer(t)
	_, js := natstest.Connect(t, srv)
	ctx := context.Background()
	runs, err := bus.EnsureKV(ctx, js, RunsBucketConfig(1))
	require.NoError(t, err)
	rkv, err := bus.EnsureKV(ctx, js, rails.BucketConfig(1))
	require.NoError(t, err)
	_, err = bus.EnsureStream(ctx, js, jetstream.StreamConfig{Name: "ACTIONS", Subjects: []string{"ams.action.>"}, Duplicates: time.Minute})
	require.NoError(t, err)
	_, err = bus.EnsureStream(ctx, js, jetstream.StreamConfig{Name: ControlStream, Subjects: []string{"ams.executor.>"}, AllowMsgSchedules: true, MaxMsgsPerSubject: 1})
	require.NoError(t, err)
	h := &harness{t: t, srv: srv, js: js, runs: runs, rkv: rkv, m: &machines{fixWorks: true}, rbs: map[string]*runbook.Runbook{}, now: time.Now()}
	for i, src := range append([]string{webRunbook}, runbooks...) {
		rb, err := runbook.Load([]byte(src), fmt.Sprintf("rb%d.yaml", i))
		require.NoError(t, err)
		h.rbs[rb.Name] = rb
	}
	h.ten = &Tenant{Hosts: hosts{"web-1.acme.internal": true}, Executor: config.TenantExecutor{
		Concurrency: 2, Storm: config.Storm{Incidents: 5, Window: 10 * time.Minute},
		RateLimits: config.RateLimits{PerTarget: config.RateLimit{Count: 3, Window: 6 * time.Hour}, PerRunbook: config.RateLimit{Count: 20, Window: time.Hour}},
		SSH:        &config.ExecutorSSH{User: "ams"}, AWS: &config.ExecutorAWS{Region: "ap-northeast-1"},
	}}
	return h
}

func (h *harness) engine(owner string) *Engine {
	return h.engineOn(owner, h.js, h.runs, h.rkv)
}

// replica is an engine on its own NATS connection, as a replica in its own
// process has: closing the connection is that process dying.
func (h *harness) replica(owner string) (*Engine, *nats.Conn) {
	nc, js := natstest.Connect(h.t, h.srv)
	runs, err := js.KeyValue(context.Background(), RunsBucketConfig(1).Bucket)
	require.NoError(h.t, err)
	rkv, err := js.KeyValue(context.Background(), rails.BucketConfig(1).Bucket)
	require.NoError(h.t, err)
	return h.engineOn(owner, js, runs, rkv), nc
}

func (h *harness) engineOn(owner string, js jetstream.JetStream, runs, rkv jetstream.KeyValue) *Engine {
	return New(Options{
		Runs: runs, Rails: rails.New(rkv, false), Publisher: bus.NewPublisher(js, "executor", noop.NewTracerProvider()),
		Schedule: func(ctx context.Context, subject, target string, at time.Time, data []byte) error {
			return bus.Schedule(ctx, js, subject, target, at, data)
		},
		Runbooks: func() map[string]*runbook.Runbook { return h.rbs },
		Tenants:  map[string]*Tenant{"acme": h.ten},
		AWS:      h.m, SSH: h.m, Probe: h.m,
		Owner: owner, Lease: 2 * time.Second, ApprovalTimeout: time.Minute, QueueWait: 3 * time.Second, Beat: 200 * time.Millisecond,
		Now: time.Now, Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
}

func incident(id, rb string) *amsv1.Incident {
	alert := &amsv1.Alert{Resource: &amsv1.Resource{Host: "web-1.acme.internal", InstanceId: "i-0123456789abcdef0"}, Labels: map[string]string{"unit": "nginx.service"}}
	return &amsv1.Incident{Id: id, Tenant: "acme", Runbook: rb, Alert: alert, Title: "web down"}
}

// completed returns the published outcome of an incident.
func (h *harness) completed(id string) *amsv1.ActionResult {
	h.t.Helper()
	s, err := h.js.Stream(context.Background(), "ACTIONS")
	require.NoError(h.t, err)
	info, err := s.Info(context.Background())
	require.NoError(h.t, err)
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		raw, err := s.GetMsg(context.Background(), seq)
		if err != nil || raw.Subject != "ams.action.completed.acme" {
			continue
		}
		var res amsv1.ActionResult
		require.NoError(h.t, proto.Unmarshal(raw.Data, &res))
		if res.GetIncidentId() == id {
			return &res
		}
	}
	h.t.Fatalf("no completed result for %s", id)
	return nil
}

func (h *harness) count(subject string) int {
	s, err := h.js.Stream(context.Background(), "ACTIONS")
	require.NoError(h.t, err)
	info, err := s.Info(context.Background(), jetstream.WithSubjectFilter(subject))
	require.NoError(h.t, err)
	n := 0
	for _, c := range info.State.Subjects {
		n += int(c)
	}
	return n
}

func nobeat() {}

func TestCheckRecoverVerifyResolved(t *testing.T) {
	h := newHarness(t)
	e := h.engine("r1")
	ctx := context.Background()
	require.NoError(t, e.Handle(ctx, incident("inc-1", "web-restart"), nobeat))
	res := h.completed("inc-1")
	require.Equal(t, amsv1.ActionOutcome_ACTION_OUTCOME_RESOLVED, res.GetOutcome(), res.GetReason())
	require.Len(t, res.GetSteps(), 3)
	require.Equal(t, []string{"failed", "ok", "ok"}, []string{res.Steps[0].Status, res.Steps[1].Status, res.Steps[2].Status})
	require.Equal(t, int32(3), res.Steps[0].ExitCode)
	require.Equal(t, "Check nginx.service on web-1.acme.internal.", res.GetProcedure())
	require.Equal(t, 1, h.m.count(`ssh web-1.acme.internal ["systemctl" "restart"`))

	// Redelivery: nothing runs again, the same outcome is announced (and
	// stored once: same message id).
	require.NoError(t, e.Handle(ctx, incident("inc-1", "web-restart"), nobeat))
	require.Equal(t, 1, h.m.count(`ssh web-1.acme.internal ["systemctl" "restart"`))
	require.Equal(t, 1, h.count("ams.action.completed.acme"))
	require.Equal(t, 1, h.count("ams.action.started.acme"))
	require.Equal(t, 3, h.count("ams.action.step.acme"))
}

func TestFailingRecoveryIsUnresolved(t *testing.T) {
	h := newHarness(t)
	h.m.fixWorks = false
	require.NoError(t, h.engine("r1").Handle(context.Background(), incident("inc-1", "web-restart"), nobeat))
	res := h.completed("inc-1")
	require.Equal(t, amsv1.ActionOutcome_ACTION_OUTCOME_UNRESOLVED, res.GetOutcome())
	require.Contains(t, res.GetReason(), "still not healthy after")
}

func TestNoRunbookAndBadParameter(t *testing.T) {
	h := newHarness(t)
	e := h.engine("r1")
	ctx := context.Background()
	require.NoError(t, e.Handle(ctx, incident("inc-none", ""), nobeat))
	require.Equal(t, amsv1.ActionOutcome_ACTION_OUTCOME_NO_RUNBOOK, h.completed("inc-none").GetOutcome())

	require.NoError(t, e.Handle(ctx, incident("inc-missing", "nope"), nobeat))
	require.Contains(t, h.completed("inc-missing").GetReason(), `no runbook has that name`)

	bad := incident("inc-bad", "web-restart")
	bad.Alert.Labels["unit"] = "nginx.service; reboot"
	require.NoError(t, e.Handle(ctx, bad, nobeat))
	res := h.completed("inc-bad")
	require.Equal(t, amsv1.ActionOutcome_ACTION_OUTCOME_FAILED, res.GetOutcome())
	require.Contains(t, res.GetReason(), "parameter unit")
	require.Contains(t, res.GetReason(), "does not match the pattern")
	require.Zero(t, h.m.count("ssh"), "no step ran")
}

func TestOutsideTenantStops(t *testing.T) {
	h := newHarness(t)
	inc := incident("inc-1", "web-restart")
	inc.Alert.Resource.Host = "db-9.other-customer.internal"
	require.NoError(t, h.engine("r1").Handle(context.Background(), inc, nobeat))
	res := h.completed("inc-1")
	require.Equal(t, amsv1.ActionOutcome_ACTION_OUTCOME_FAILED, res.GetOutcome())
	require.Equal(t, RailTenant, res.GetRail())
	require.Contains(t, res.GetReason(), `target "db-9.other-customer.internal" is not tenant acme's`)
	require.Zero(t, h.m.count("ssh"))
}

func TestKillSwitch(t *testing.T) {
	h := newHarness(t)
	ctx := context.Background()
	require.NoError(t, rails.WriteKillSwitch(ctx, h.rkv, rails.KillSwitch{On: true, By: "alice", Reason: "datacenter move"}))
	require.NoError(t, h.engine("r1").Handle(ctx, incident("inc-1", "web-restart"), nobeat))
	res := h.completed("inc-1")
	require.Equal(t, amsv1.ActionOutcome_ACTION_OUTCOME_SKIPPED, res.GetOutcome())
	require.Equal(t, RailKillSwitch, res.GetRail())
	require.Contains(t, res.GetReason(), "thrown by alice: datacenter move")
	require.Equal(t, 1, h.m.count("ssh"), "the check ran, the recovery did not")
}

func TestDryRun(t *testing.T) {
	h := newHarness(t)
	h.ten.Executor.DryRun = true
	require.NoError(t, h.engine("r1").Handle(context.Background(), incident("inc-1", "web-restart"), nobeat))
	res := h.completed("inc-1")
	require.Equal(t, amsv1.ActionOutcome_ACTION_OUTCOME_SKIPPED, res.GetOutcome())
	require.Equal(t, RailDryRun, res.GetRail())
	require.Equal(t, StatusDryRun, res.Steps[1].Status)
	require.Contains(t, res.Steps[1].Reason, `dry run: would run ssh ["systemctl" "restart" "nginx.service"] on web-1.acme.internal`)
	require.Zero(t, h.m.count(`ssh web-1.acme.internal ["systemctl" "restart"`))
	require.True(t, res.GetDryRun())
}

func TestRateLimitPerTarget(t *testing.T) {
	h := newHarness(t)
	h.ten.Executor.RateLimits.PerTarget = config.RateLimit{Count: 2, Window: 6 * time.Hour}
	h.m.fixWorks = false // every run needs the restart
	e := h.engine("r1")
	for i := range 3 {
		require.NoError(t, e.Handle(context.Background(), incident(fmt.Sprintf("inc-%d", i), "web-restart"), nobeat))
	}
	require.Equal(t, 2, h.m.count(`ssh web-1.acme.internal ["systemctl" "restart"`))
	res := h.completed("inc-2")
	require.Equal(t, amsv1.ActionOutcome_ACTION_OUTCOME_SKIPPED, res.GetOutcome())
	require.Equal(t, RailRateLimit, res.GetRail())
	require.Contains(t, res.GetReason(), "target web-1.acme.internal already had 2 recovery steps in the last 6h0m0s")
}

func TestStormBreaker(t *testing.T) {
	h := newHarness(t)
	h.ten.Executor.Storm = config.Storm{Incidents: 2, Window: 10 * time.Minute}
	e := h.engine("r1")
	for i := range 4 {
		require.NoError(t, e.Handle(context.Background(), incident(fmt.Sprintf("inc-%d", i), "web-restart"), nobeat))
	}
	first, third, fourth := h.completed("inc-0"), h.completed("inc-2"), h.completed("inc-3")
	require.Equal(t, amsv1.ActionOutcome_ACTION_OUTCOME_RESOLVED, first.GetOutcome())
	require.Equal(t, amsv1.ActionOutcome_ACTION_OUTCOME_SKIPPED, third.GetOutcome())
	require.Equal(t, RailStorm, third.GetRail())
	require.NotEmpty(t, third.GetStormId())
	require.Equal(t, third.GetStormId(), fourth.GetStormId(), "one storm, one id: escalation pages once")
	require.Contains(t, third.GetReason(), "3 incidents of this tenant in the last 10m0s (breaker at 2)")
}

func TestApproval(t *testing.T) {
	approvalRunbook := strings.Replace(strings.Replace(webRunbook, "name: web-restart", "name: web-approve", 1), "    recovery: true\n", "    recovery: true\n    approval: true\n", 1)
	h := newHarness(t, approvalRunbook)
	e := h.engine("r1")
	ctx := context.Background()

	// Approved: the run goes on after the decision.
	require.NoError(t, e.Handle(ctx, incident("inc-1", "web-approve"), nobeat))
	rec, err := LoadRecord(ctx, h.runs, "acme", "inc-1")
	require.NoError(t, err)
	stepName, waiting := WaitingStep(rec)
	require.True(t, waiting)
	require.Equal(t, "restart", stepName)
	require.Equal(t, 1, h.count("ams.action.approval.acme"))
	require.Zero(t, h.m.count(`ssh web-1.acme.internal ["systemctl" "restart"`))
	require.NoError(t, e.Decide(ctx, &amsv1.DecideApprovalRequest{Tenant: "acme", IncidentId: "inc-1", Approve: true, By: "bob"}, nobeat))
	res := h.completed("inc-1")
	require.Equal(t, amsv1.ActionOutcome_ACTION_OUTCOME_RESOLVED, res.GetOutcome())
	require.Equal(t, 1, h.m.count(`ssh web-1.acme.internal ["systemctl" "restart"`))
	require.True(t, hasDecision(res, RailApproval, "approved", "approved by bob"))

	// A late second decision changes nothing.
	require.NoError(t, e.Decide(ctx, &amsv1.DecideApprovalRequest{Tenant: "acme", IncidentId: "inc-1", Approve: false, By: "eve"}, nobeat))
	require.Equal(t, 1, h.count("ams.action.completed.acme"))

	// Denied.
	h.m.mu.Lock()
	h.m.healthy = false
	h.m.mu.Unlock()
	require.NoError(t, e.Handle(ctx, incident("inc-2", "web-approve"), nobeat))
	require.NoError(t, e.Decide(ctx, &amsv1.DecideApprovalRequest{Tenant: "acme", IncidentId: "inc-2", Approve: false, By: "carol", Comment: "customer freeze"}, nobeat))
	res = h.completed("inc-2")
	require.Equal(t, amsv1.ActionOutcome_ACTION_OUTCOME_UNRESOLVED, res.GetOutcome())
	require.Equal(t, RailApproval, res.GetRail())
	require.Contains(t, res.GetReason(), "denied by carol: customer freeze")

	// No answer: the timeout ends it.
	require.NoError(t, e.Handle(ctx, incident("inc-3", "web-approve"), nobeat))
	rec, err = LoadRecord(ctx, h.runs, "acme", "inc-3")
	require.NoError(t, err)
	early := New(e.o)
	require.NoError(t, early.Timeout(ctx, "acme", "inc-3", "restart"))
	rec2, err := LoadRecord(ctx, h.runs, "acme", "inc-3")
	require.NoError(t, err)
	require.False(t, rec2.Finished, "a timeout before the deadline changes nothing")
	late := e.o
	late.Now = func() time.Time { return rec.Waiting.Deadline.Add(time.Second) }
	require.NoError(t, New(late).Timeout(ctx, "acme", "inc-3", "restart"))
	res = h.completed("inc-3")
	require.Equal(t, amsv1.ActionOutcome_ACTION_OUTCOME_UNRESOLVED, res.GetOutcome())
	require.Contains(t, res.GetReason(), "no approval for recovery step restart")
	require.Equal(t, 1, h.m.count(`ssh web-1.acme.internal ["systemctl" "restart"`), "neither denied nor timed-out runs restarted anything")
}

// A runbook edited while a run waits for approval: the run goes on with
// the runbook it started with (kept in its record); new runs get the new one.
func TestRunKeepsItsRunbookWhenTheFileChanges(t *testing.T) {
	approvalRunbook := strings.Replace(strings.Replace(webRunbook, "name: web-restart", "name: web-approve", 1), "    recovery: true\n", "    recovery: true\n    approval: true\n", 1)
	h := newHarness(t, approvalRunbook)
	e := h.engine("r1")
	ctx := context.Background()
	require.NoError(t, e.Handle(ctx, incident("inc-1", "web-approve"), nobeat))
	_, waiting := WaitingStep(mustRecord(t, h, "inc-1"))
	require.True(t, waiting)

	// The operator edits the runbook (reload now, restart, or another
	// replica with the new file): the recovery becomes a reload.
	edited, err := runbook.Load([]byte(strings.Replace(approvalRunbook, "argv: [systemctl, restart,", "argv: [systemctl, reload,", 1)), "edited.yaml")
	require.NoError(t, err)
	h.rbs["web-approve"] = edited

	require.NoError(t, h.engine("r2").Decide(ctx, &amsv1.DecideApprovalRequest{Tenant: "acme", IncidentId: "inc-1", Approve: true, By: "bob"}, nobeat))
	require.Equal(t, amsv1.ActionOutcome_ACTION_OUTCOME_RESOLVED, h.completed("inc-1").GetOutcome())
	require.Equal(t, 1, h.m.count(`ssh web-1.acme.internal ["systemctl" "restart"`), "the approved step is the one the person saw")
	require.Zero(t, h.m.count(`ssh web-1.acme.internal ["systemctl" "reload"`))

	h.m.mu.Lock()
	h.m.healthy = false
	h.m.mu.Unlock()
	require.NoError(t, e.Handle(ctx, incident("inc-2", "web-approve"), nobeat))
	require.NoError(t, e.Decide(ctx, &amsv1.DecideApprovalRequest{Tenant: "acme", IncidentId: "inc-2", Approve: true, By: "bob"}, nobeat))
	require.Equal(t, 1, h.m.count(`ssh web-1.acme.internal ["systemctl" "reload"`), "a new run uses the edited runbook")
}

func mustRecord(t *testing.T, h *harness, incident string) *Record {
	t.Helper()
	rec, err := LoadRecord(context.Background(), h.runs, "acme", incident)
	require.NoError(t, err)
	return rec
}

func hasDecision(res *amsv1.ActionResult, rail, decision, reason string) bool {
	for _, d := range res.GetDecisions() {
		if d.GetRail() == rail && d.GetDecision() == decision && strings.Contains(d.GetReason(), reason) {
			return true
		}
	}
	return false
}

// A replica dies in the middle of a recovery: the other takes the run over
// after the lease and never re-runs the recovery; it verifies instead. The
// delivery that finds the run busy does not retry against the bus's
// redelivery limit: it schedules a takeover check for the end of the lease.
func TestTakeoverAfterCrashVerifiesNotReruns(t *testing.T) {
	h := newHarness(t)
	h.m.block = make(chan struct{})
	h.m.started = make(chan string, 1)
	ctx := context.Background()
	r1, conn := h.replica("r1")
	crashed, crash := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- r1.Handle(crashed, incident("inc-1", "web-restart"), nobeat) }()
	<-h.m.started
	// The recovery fixed the service but the replica died before recording
	// it: its connection is gone, so it cannot write another thing.
	h.m.mu.Lock()
	h.m.healthy = true
	h.m.mu.Unlock()
	conn.Close()
	crash()
	require.Error(t, <-done)
	rec := mustRecord(t, h, "inc-1")
	require.Equal(t, StatusRunning, rec.last().Status, "the recovery was recorded as started before it ran")
	require.Equal(t, "r1", rec.Owner, "a dead replica gives nothing back")

	r2 := h.engine("r2")
	require.NoError(t, r2.Handle(ctx, incident("inc-1", "web-restart"), nobeat), "busy: a takeover check is scheduled, the delivery is done")
	require.False(t, mustRecord(t, h, "inc-1").Finished)
	due := h.resumeDue("inc-1")
	require.False(t, due.Before(rec.LeaseUntil), "the check comes when r1's lease has run out")
	require.NoError(t, r2.Resume(ctx, "acme", "inc-1", nobeat))
	res := h.completed("inc-1")
	require.Equal(t, amsv1.ActionOutcome_ACTION_OUTCOME_RESOLVED, res.GetOutcome(), res.GetReason())
	require.Contains(t, res.GetReason(), "outcome of recovery step restart is unknown")
	require.Equal(t, StatusUnknown, res.Steps[1].Status)
	require.Equal(t, 1, h.m.count(`ssh web-1.acme.internal ["systemctl" "restart"`), "never re-run blindly")
	require.True(t, hasDecision(res, "lease", "taken-over", "replica r1 stopped renewing its lease"))
}

// resumeDue waits for the scheduled takeover check of incident to be
// delivered and returns when it was.
func (h *harness) resumeDue(incident string) time.Time {
	h.t.Helper()
	s, err := h.js.Stream(context.Background(), ControlStream)
	require.NoError(h.t, err)
	var at time.Time
	require.Eventually(h.t, func() bool {
		m, err := s.GetLastMsgForSubject(context.Background(), ResumeSubject("acme", incident))
		if err != nil {
			return false
		}
		at = m.Time
		return true
	}, 15*time.Second, 50*time.Millisecond, "no takeover check for %s", incident)
	return at
}

// A replica that is stopped (shutdown) in the middle of a recovery gives its
// lease back: another takes the run over at once and only verifies.
func TestStoppedReplicaGivesTheRunBack(t *testing.T) {
	h := newHarness(t)
	h.m.block = make(chan struct{})
	h.m.started = make(chan string, 1)
	ctx := context.Background()
	stopping, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- h.engine("r1").Handle(stopping, incident("inc-1", "web-restart"), nobeat) }()
	<-h.m.started
	stop()
	require.ErrorIs(t, <-done, context.Canceled)
	rec := mustRecord(t, h, "inc-1")
	require.Empty(t, rec.Owner, "the lease is given back")
	require.Equal(t, StatusRunning, rec.last().Status)

	require.NoError(t, h.engine("r2").Handle(ctx, incident("inc-1", "web-restart"), nobeat))
	res := h.completed("inc-1")
	require.Equal(t, StatusUnknown, res.Steps[1].Status, "a recovery cut short is unknown, not re-run")
	require.Equal(t, 1, h.m.count(`ssh web-1.acme.internal ["systemctl" "restart"`))
	require.True(t, hasDecision(res, "lease", "released", "replica r1 stopped in the middle of the run"))
}

// A replica cut off long enough for its lease to run out finds, at its next
// heartbeat, that another replica took the run over: it cancels the step in
// flight and writes nothing more.
func TestReplicaThatLostTheRunStops(t *testing.T) {
	h := newHarness(t)
	h.m.block = make(chan struct{})
	h.m.started = make(chan string, 1)
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { done <- h.engine("r1").Handle(ctx, incident("inc-1", "web-restart"), nobeat) }()
	<-h.m.started

	// r2's takeover, as it writes it.
	key := Key("acme", "inc-1")
	rec, rev, err := load(ctx, h.runs, key)
	require.NoError(t, err)
	rec.Owner, rec.LeaseUntil = "r2", time.Now().Add(time.Minute)
	_, err = save(ctx, h.runs, rec, rev)
	require.NoError(t, err)

	select {
	case err := <-done:
		require.NoError(t, err, "losing the run is not an error to retry: the taker has it")
	case <-time.After(20 * time.Second):
		t.Fatal("r1 went on with a run it had lost")
	}
	after := mustRecord(t, h, "inc-1")
	require.Equal(t, "r2", after.Owner, "r1 wrote nothing after losing the run")
	require.Equal(t, StatusRunning, after.last().Status, "the step r1 had in flight is the taker's to decide")
	require.Equal(t, 1, h.m.count(`ssh web-1.acme.internal ["systemctl" "restart"`))
}

// A second delivery reaching the replica that is driving the run (its first
// handler still working) does not drive it a second time.
func TestSecondDeliveryToTheSameReplica(t *testing.T) {
	h := newHarness(t)
	h.m.block = make(chan struct{})
	h.m.started = make(chan string, 1)
	ctx := context.Background()
	r1 := h.engine("r1")
	done := make(chan error, 1)
	go func() { done <- r1.Handle(ctx, incident("inc-1", "web-restart"), nobeat) }()
	<-h.m.started
	require.NoError(t, r1.Handle(ctx, incident("inc-1", "web-restart"), nobeat))
	close(h.m.block)
	require.NoError(t, <-done)
	res := h.completed("inc-1")
	require.Equal(t, amsv1.ActionOutcome_ACTION_OUTCOME_RESOLVED, res.GetOutcome(), res.GetReason())
	require.Equal(t, StatusOK, res.Steps[1].Status, "the first handler's recovery was not made unknown by the second")
	require.Equal(t, 1, h.m.count(`ssh web-1.acme.internal ["systemctl" "restart"`))
	h.resumeDue("inc-1")
	require.NoError(t, r1.Resume(ctx, "acme", "inc-1", nobeat), "the check after the run finds it finished")
	require.Equal(t, 1, h.count("ams.action.completed.acme"))
}

func TestUnknownAndUnhealthyIsFailed(t *testing.T) {
	h := newHarness(t)
	h.m.block = make(chan struct{})
	h.m.started = make(chan string, 1)
	h.m.fixWorks = false
	ctx := context.Background()
	crashed, crash := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- h.engine("r1").Handle(crashed, incident("inc-1", "web-restart"), nobeat) }()
	<-h.m.started
	crash()
	<-done //nolint:errcheck // the crashed run's own error does not matter, only that it ended
	time.Sleep(2100 * time.Millisecond)
	require.NoError(t, h.engine("r2").Handle(ctx, incident("inc-1", "web-restart"), nobeat))
	res := h.completed("inc-1")
	require.Equal(t, amsv1.ActionOutcome_ACTION_OUTCOME_FAILED, res.GetOutcome())
	require.Contains(t, res.GetReason(), "outcome unknown: recovery step restart may or may not have run")
	require.Equal(t, 1, h.m.count(`ssh web-1.acme.internal ["systemctl" "restart"`))
}

// Concurrency 1 across two replicas: the second run waits for the slot
// without holding a bus worker (it is queued and looked at again by a
// scheduled check), runs once the first is done, and says it waited. A run
// that cannot get a slot within QueueWait is skipped.
func TestConcurrencyLimitAcrossReplicas(t *testing.T) {
	h := newHarness(t)
	h.ten.Executor.Concurrency = 1
	h.m.block = make(chan struct{})
	h.m.started = make(chan string, 4)
	ctx := context.Background()
	done := make(chan error, 1)
	go func() { done <- h.engine("r1").Handle(ctx, incident("inc-1", "web-restart"), nobeat) }()
	<-h.m.started
	r2 := h.engine("r2")
	require.NoError(t, r2.Handle(ctx, incident("inc-2", "web-restart"), nobeat), "queued: the delivery is done")
	rec := mustRecord(t, h, "inc-2")
	require.False(t, rec.QueuedAt.IsZero())
	require.Empty(t, rec.Owner, "a queued run holds no lease")
	require.Empty(t, rec.Steps)
	require.Equal(t, 1, h.m.count(`ssh web-1.acme.internal ["systemctl" "restart"`), "the second run waits for the tenant's only slot")
	h.resumeDue("inc-2")

	close(h.m.block)
	require.NoError(t, <-done)
	require.NoError(t, r2.Resume(ctx, "acme", "inc-2", nobeat))
	res := h.completed("inc-2")
	require.Equal(t, amsv1.ActionOutcome_ACTION_OUTCOME_RESOLVED, res.GetOutcome(), res.GetReason())
	require.True(t, hasDecision(res, RailConcurrency, "waited", "for one of the tenant's 1 run slots"), "%v", res.GetDecisions())

	// A slot that never frees: skipped after QueueWait (3s here).
	h.m.block = make(chan struct{})
	h.m.mu.Lock()
	h.m.healthy = false
	h.m.mu.Unlock()
	go func() { done <- h.engine("r1").Handle(ctx, incident("inc-3", "web-restart"), nobeat) }()
	<-h.m.started
	require.NoError(t, r2.Handle(ctx, incident("inc-4", "web-restart"), nobeat))
	require.Eventually(t, func() bool {
		require.NoError(t, r2.Resume(ctx, "acme", "inc-4", nobeat))
		return mustRecord(t, h, "inc-4").Finished
	}, 20*time.Second, 500*time.Millisecond)
	res = h.completed("inc-4")
	require.Equal(t, amsv1.ActionOutcome_ACTION_OUTCOME_SKIPPED, res.GetOutcome())
	require.Equal(t, RailConcurrency, res.GetRail())
	require.Contains(t, res.GetReason(), "stayed busy for 3s")
	close(h.m.block)
	require.NoError(t, <-done)
}
