package app_test

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"

	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/pkg/natstest"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ams/app"
	"github.com/amsproject/ams/services/executor/sandbox"
)

// demoRun is the all-in-one as `make run` starts it — the example
// configuration, its rules and runbooks — in front of the sandbox, with the
// ports and folders made the test's own.
type demoRun struct {
	inst *instance
	js   jetstream.JetStream
	nc   *nats.Conn
	sb   *sandbox.Sandbox
	adm  amsv1.AdminServiceClient
}

func startDemo(tb testing.TB, tune func(*config.File)) *demoRun {
	tb.Helper()
	// What bin/ams-sandbox gives ams: its own AWS key, never the user's.
	tb.Setenv("AWS_ACCESS_KEY_ID", "AKIAAMSSANDBOX000000")
	tb.Setenv("AWS_SECRET_ACCESS_KEY", "ams-sandbox-secret")
	tb.Setenv("AWS_SESSION_TOKEN", "")
	tb.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	sb, err := sandbox.Start(sandbox.Options{Dir: tb.TempDir()})
	require.NoError(tb, err)
	tb.Cleanup(sb.Close)

	cfg, err := config.Load("../../../deploy/examples/ams.yaml")
	require.NoError(tb, err)
	cfg.Server.HTTPListenAddress, cfg.Server.GRPCListenAddress = "127.0.0.1:0", "127.0.0.1:0"
	// An external test server instead of the embedded one, so the test can
	// watch the subjects; the streams and consumers are the same.
	srv := natstest.RunServer(tb)
	cfg.NATS.URL, cfg.NATS.Embedded.Enabled = srv.ClientURL(), false
	ep := sb.AWSEndpoint()
	cfg.Executor.AWSEndpoints = config.AWSEndpoints{STS: ep, SSM: ep, EC2: ep, CloudWatch: ep}
	cfg.Executor.DNSServer = sb.DNSAddr()
	for i := range cfg.Tenants {
		if ssh := cfg.Tenants[i].Executor.SSH; ssh != nil {
			ssh.KeyFile, ssh.KnownHostsFile, ssh.Bastion = sb.KeyFile, sb.KnownHostsFile, sb.Bastion()
		}
	}
	if tune != nil {
		tune(cfg)
	}
	require.NoError(tb, app.ValidateConfig(cfg))
	nc, js := natstest.Connect(tb, srv)
	inst := start(tb, cfg)
	return &demoRun{inst: inst, js: js, nc: nc, sb: sb, adm: admin(tb, inst.grpcAddr)}
}

// genericAlert is an AMS generic alert for one of the estate's hosts.
func genericAlert(summary, host, instance string, labels map[string]string) string {
	var ls []string
	for k, v := range labels {
		ls = append(ls, fmt.Sprintf("%q: %q", k, v))
	}
	slices.Sort(ls)
	return fmt.Sprintf(`{"summary": %q, "severity": "warning", "resource": {"host": %q, "instance_id": %q}, "labels": {%s}}`,
		summary, host, instance, strings.Join(ls, ", "))
}

// actions collects the executor's events as they are published.
type actions struct {
	mu     sync.Mutex
	events []*amsv1.ActionResult
	at     []time.Time
	// arrived is signalled (without blocking) after each event.
	arrived chan struct{}
}

func watchActions(tb testing.TB, nc *nats.Conn) *actions {
	tb.Helper()
	a := &actions{arrived: make(chan struct{}, 1)}
	sub, err := nc.Subscribe("ams.action.>", func(m *nats.Msg) {
		var res amsv1.ActionResult
		if proto.Unmarshal(m.Data, &res) != nil {
			return
		}
		a.mu.Lock()
		a.events, a.at = append(a.events, &res), append(a.at, time.Now())
		a.mu.Unlock()
		select {
		case a.arrived <- struct{}{}:
		default:
		}
	})
	require.NoError(tb, err)
	require.NoError(tb, nc.Flush())
	tb.Cleanup(func() { _ = sub.Unsubscribe() })
	return a
}

// first returns the first event matching f and when it arrived.
func (a *actions) first(f func(*amsv1.ActionResult) bool) (*amsv1.ActionResult, time.Time, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for i, ev := range a.events {
		if f(ev) {
			return ev, a.at[i], true
		}
	}
	return nil, time.Time{}, false
}

func (a *actions) completed(tb testing.TB, incident string, within time.Duration) *amsv1.ActionResult {
	tb.Helper()
	var res *amsv1.ActionResult
	eventually(tb, within, func() error {
		ev, _, ok := a.first(func(ev *amsv1.ActionResult) bool {
			return ev.GetIncidentId() == incident && ev.GetEvent() == amsv1.ActionEvent_ACTION_EVENT_COMPLETED
		})
		if !ok {
			return fmt.Errorf("incident %s: no completed action yet", incident)
		}
		res = ev
		return nil
	})
	return res
}

func incidentOf(tb testing.TB, adm amsv1.AdminServiceClient, host string) *amsv1.Incident {
	tb.Helper()
	var inc *amsv1.Incident
	eventually(tb, 20*time.Second, func() error {
		resp, err := adm.ListIncidents(context.Background(), &amsv1.ListIncidentsRequest{Tenant: "demo"})
		if err != nil {
			return err
		}
		for _, i := range resp.GetIncidents() {
			if i.GetResource().GetHost() == host {
				inc = i
				return nil
			}
		}
		return fmt.Errorf("no incident for %s yet", host)
	})
	return inc
}

func ticketText(tb testing.TB, adm amsv1.AdminServiceClient, incident string) string {
	tb.Helper()
	resp, err := adm.GetTicket(context.Background(), &amsv1.GetTicketRequest{Id: strings.Replace(incident, "inc-", "tkt-", 1)})
	require.NoError(tb, err)
	var b strings.Builder
	for _, e := range resp.GetTicket().GetEntries() {
		b.WriteString(e.GetText() + "\n")
	}
	return b.String()
}

// TestMakeRunDemo is what `make run` promises with the example runbooks
// against the sandbox: a disk-full alert on db-1 becomes check → recovery →
// verify → resolved in seconds with every output on the ticket and no page;
// the same alert on db-2, whose disk is full of data, ends unresolved after
// the recovery and is escalated.
func TestMakeRunDemo(t *testing.T) {
	d := startDemo(t, nil)
	acts := watchActions(t, d.nc)
	const db1, db2 = "i-0a1b2c3d4e5f6d001", "i-0a1b2c3d4e5f6d002"

	code, body := post(t, d.inst.httpAddr, "demo-generic", genericToken, genericAlert("Disk almost full on db-1", "db-1", db1, map[string]string{"alertname": "DiskFull"}))
	require.Equal(t, http.StatusAccepted, code, body)
	accepted := time.Now()
	code, body = post(t, d.inst.httpAddr, "demo-generic", genericToken, genericAlert("Disk almost full on db-2", "db-2", db2, map[string]string{"alertname": "DiskFull"}))
	require.Equal(t, http.StatusAccepted, code, body)

	inc1 := incidentOf(t, d.adm, "db-1")
	res := acts.completed(t, inc1.GetId(), 60*time.Second)
	require.Equal(t, amsv1.ActionOutcome_ACTION_OUTCOME_RESOLVED, res.GetOutcome(), res.GetReason())
	_, firstOutput, ok := acts.first(func(ev *amsv1.ActionResult) bool {
		return ev.GetIncidentId() == inc1.GetId() && ev.GetEvent() == amsv1.ActionEvent_ACTION_EVENT_STEP && len(ev.GetSteps()) == 1 && ev.GetSteps()[0].GetOutput() != ""
	})
	require.True(t, ok)
	t.Logf("db-1: alert accepted → first check output %s, → resolved (recovery verified) %s",
		firstOutput.Sub(accepted).Round(time.Millisecond), time.Since(accepted).Round(time.Millisecond))

	// The ticket tells the story: parameters, procedure, each output, outcome.
	eventually(t, 20*time.Second, func() error {
		text := ticketText(t, d.adm, inc1.GetId())
		for _, want := range []string{"mount = /", "確認手順", "96%   /", "freed 14 GiB, now 68% used", "68%", "Automation: resolved (runbook disk-full)"} {
			if !strings.Contains(text, want) {
				return fmt.Errorf("ticket of %s lacks %q:\n%s", inc1.GetId(), want, text)
			}
		}
		return nil
	})
	// Exactly one clean-up was sent, to db-1's instance, through the
	// tenant's role with its external id.
	cmds := d.sb.AWS.Commands()
	require.NotEmpty(t, cmds)
	require.Equal(t, "MSP-CleanTempFiles", cmds[0].Document)
	for _, c := range d.sb.AWS.AssumeRoleCalls() {
		require.Equal(t, sandbox.ExternalID, c.ExternalID)
	}

	inc2 := incidentOf(t, d.adm, "db-2")
	res = acts.completed(t, inc2.GetId(), 2*time.Minute)
	require.Equal(t, amsv1.ActionOutcome_ACTION_OUTCOME_UNRESOLVED, res.GetOutcome(), res.GetReason())
	require.Contains(t, res.GetReason(), "verify-space: still not healthy")
	waitIdle(t, d.js)
	require.EqualValues(t, 1, streamMessages(t, d.js, "ESCALATIONS", "ams.escalation.escalated.demo"), "db-2 is paged, db-1 is not")
	require.Contains(t, ticketText(t, d.adm, inc2.GetId()), "Automation: unresolved (runbook disk-full)")
	cleanups := 0
	for _, c := range d.sb.AWS.Commands() {
		if c.Document == "MSP-CleanTempFiles" {
			cleanups++
		}
	}
	require.Equal(t, 2, cleanups, "one clean-up per incident")
}
