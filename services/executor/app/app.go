// Package app is the executor service: for every opened incident it runs
// the runbook the classifier's rules selected, under the safety rails, and
// publishes what happened on ams.action.<event>.<tenant>: started, each
// step, approval requests, and the outcome.
package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/amsproject/ams/pkg/bus"
	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/pkg/service"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/executor/internal/awsstep"
	"github.com/amsproject/ams/services/executor/internal/engine"
	"github.com/amsproject/ams/services/executor/internal/probe"
	"github.com/amsproject/ams/services/executor/internal/rails"
	"github.com/amsproject/ams/services/executor/internal/scope"
	"github.com/amsproject/ams/services/executor/internal/sshstep"
	"github.com/amsproject/ams/services/executor/runbook"
)

// Name is the component's name everywhere: target, binary, metrics prefix.
const Name = "executor"

// The executor's topology: it owns the ACTIONS stream, the control stream
// (approval decisions and timeouts), the runs and rails buckets, and the
// consumers on INCIDENTS and on its control stream.
const (
	// ActionsStream holds action events: ams.action.<event>.<tenant>.
	ActionsStream = "ACTIONS"
	// ControlStream holds approval decisions and approval timeouts.
	ControlStream   = engine.ControlStream
	incidentDurable = "executor-incidents"
	controlDurable  = "executor-control"
	// maxRun bounds one delivery's work: a run longer than this is cut and,
	// if a recovery was in flight, verified by whoever takes it over.
	maxRun = 2 * time.Hour
)

func actionsStream(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        ActionsStream,
		Description: "Runbook action events from the executor.",
		Subjects:    []string{"ams.action.>"},
		MaxAge:      90 * 24 * time.Hour,
		Duplicates:  10 * time.Minute,
		Replicas:    replicas,
	}
}

// controlStream keeps one message per subject: the latest decision or the
// pending timeout of each incident (message schedules need that).
func controlStream(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:              ControlStream,
		Description:       "Executor control: approval decisions and approval timeouts.",
		Subjects:          []string{"ams.executor.>"},
		MaxAge:            7 * 24 * time.Hour,
		MaxMsgsPerSubject: 1,
		AllowMsgSchedules: true,
		Duplicates:        10 * time.Minute,
		Replicas:          replicas,
	}
}

func incidentsConsumer() bus.ConsumerSpec {
	return bus.ConsumerSpec{
		Stream:         "INCIDENTS",
		Durable:        incidentDurable,
		Description:    "Executor: run the runbook of each opened incident.",
		FilterSubjects: []string{"ams.incident.opened.>"},
	}
}

func controlConsumer() bus.ConsumerSpec {
	return bus.ConsumerSpec{
		Stream:         ControlStream,
		Durable:        controlDurable,
		Description:    "Executor: carry on or end runs on approval decisions, approval timeouts and takeover checks.",
		FilterSubjects: []string{"ams.executor.decision.>", "ams.executor.timeout.>", "ams.executor.resume.>"},
	}
}

// Executor runs runbooks for incidents.
type Executor struct {
	cfg      *config.File
	deps     service.Deps
	runbooks *runbook.Set // nil without executor.runbooks_dir
	tenants  map[string]*engine.Tenant
	outcomes *prometheus.CounterVec
	reloads  *prometheus.CounterVec
	// Running gives Ready: "starting" until Run has made the consumers.
	bus.Running
}

// New validates and wires the executor: it loads the runbooks and each
// tenant's scope, and starts nothing.
func New(cfg *config.File, deps service.Deps) (*Executor, error) {
	if deps.JS == nil || deps.Log == nil || deps.Registerer == nil || deps.Now == nil {
		return nil, errors.New("executor: missing dependencies")
	}
	var runbooks *runbook.Set
	if dir := cfg.Executor.RunbooksDir; dir != "" {
		var err error
		if runbooks, err = runbook.NewSet(cfg.Path(dir)); err != nil {
			return nil, fmt.Errorf("executor.runbooks_dir %s:\n%w", cfg.Path(dir), err)
		}
	}
	tenants := make(map[string]*engine.Tenant, len(cfg.Tenants))
	for _, t := range cfg.Tenants {
		hosts, err := scope.New(t.ID, t.Executor.Hosts)
		if err != nil {
			return nil, fmt.Errorf("tenant %s: executor.hosts: %w", t.ID, err)
		}
		x := t.Executor
		if x.SSH != nil {
			s := *x.SSH
			s.KeyFile, s.KnownHostsFile = cfg.Path(s.KeyFile), cfg.Path(s.KnownHostsFile)
			for _, f := range []string{s.KeyFile, s.KnownHostsFile} {
				if _, err := os.Stat(f); err != nil {
					return nil, fmt.Errorf("tenant %s: executor.ssh: %w (the tenant's key and known_hosts files must exist; with deploy/examples/ams.yaml, make run starts bin/ams-sandbox, which writes them)", t.ID, err)
				}
			}
			x.SSH = &s
		}
		tenants[t.ID] = &engine.Tenant{Executor: x, Hosts: hosts}
	}
	outcomes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ams_executor_runs_total", Help: "Runbook runs by tenant and outcome.",
	}, []string{"tenant", "outcome"})
	reloads := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ams_executor_runbook_reloads_total", Help: "Reloads of executor.runbooks_dir after a change, by result (ok, error: the previous set stays in force).",
	}, []string{"result"})
	e := &Executor{cfg: cfg, deps: deps, runbooks: runbooks, tenants: tenants, outcomes: outcomes, reloads: reloads}
	deps.Registerer.MustRegister(outcomes, reloads, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "ams_executor_runbooks", Help: "Runbooks in force.",
	}, func() float64 { return float64(len(e.Runbooks())) }))
	deps.Log.Info("executor loaded runbooks", "count", len(e.Runbooks()), "dir", cfg.Executor.RunbooksDir)
	return e, nil
}

// Runbooks returns the runbooks in force by name.
func (e *Executor) Runbooks() map[string]*runbook.Runbook {
	if e.runbooks == nil {
		return map[string]*runbook.Runbook{}
	}
	return e.runbooks.Runbooks()
}

// Run creates the executor's streams and buckets and handles incidents and
// control messages until ctx ends.
func (e *Executor) Run(ctx context.Context) error {
	js, x := e.deps.JS, e.cfg.Executor
	if _, err := bus.EnsureStream(ctx, js, actionsStream(e.deps.Replicas)); err != nil {
		return err
	}
	if _, err := bus.EnsureStream(ctx, js, controlStream(e.deps.Replicas)); err != nil {
		return err
	}
	runs, err := bus.EnsureKV(ctx, js, engine.RunsBucketConfig(e.deps.Replicas))
	if err != nil {
		return err
	}
	railsKV, err := bus.EnsureKV(ctx, js, rails.BucketConfig(e.deps.Replicas))
	if err != nil {
		return err
	}
	host, _ := os.Hostname()
	owner := fmt.Sprintf("%s-%d-%d", host, os.Getpid(), e.deps.Now().UnixNano()%1_000_000)
	cons := x.Consumer
	beat := min(x.Lease/4, cons.AckWait/3)
	eng := engine.New(engine.Options{
		Runs: runs, Rails: rails.New(railsKV, x.KillSwitch),
		Publisher: bus.NewPublisher(js, Name, e.deps.Tracing),
		Schedule: func(ctx context.Context, subject, target string, at time.Time, data []byte) error {
			return bus.Schedule(ctx, js, subject, target, at, data)
		},
		Runbooks: e.Runbooks,
		Tenants:  e.tenants,
		AWS:      awsstep.New(awsstep.Options{Endpoints: x.AWSEndpoints, MaxOutput: x.MaxOutputBytes}),
		SSH:      sshstep.New(sshstep.Options{MaxOutput: x.MaxOutputBytes}),
		Probe:    probe.New(probe.Options{MaxOutput: x.MaxOutputBytes, DNSServer: x.DNSServer}),
		Owner:    owner, MaxOutput: x.MaxOutputBytes, Lease: x.Lease, ApprovalTimeout: x.ApprovalTimeout, Beat: beat,
		Now: e.deps.Now, Log: e.deps.Log.With("component", Name),
		Observe: func(tenant string, o amsv1.ActionOutcome) {
			e.outcomes.WithLabelValues(tenant, strings.ToLower(strings.TrimPrefix(o.String(), "ACTION_OUTCOME_"))).Inc()
		},
	})
	inProgress := func(msg jetstream.Msg) func() {
		return func() {
			if err := msg.InProgress(); err != nil {
				e.deps.Log.Warn("tell the bus the run goes on", "subject", msg.Subject(), "err", err)
			}
		}
	}
	onIncident := func(ctx context.Context, msg jetstream.Msg) error {
		var ev amsv1.IncidentEvent
		if err := bus.Decode(msg, &ev); err != nil {
			return err
		}
		return eng.Handle(ctx, ev.GetIncident(), inProgress(msg))
	}
	onControl := func(ctx context.Context, msg jetstream.Msg) error {
		parts := strings.Split(msg.Subject(), ".")
		if len(parts) != 5 {
			return bus.Permanent(fmt.Errorf("control subject %q is not ams.executor.<kind>.<tenant>.<incident>", msg.Subject()))
		}
		tenant, incident := parts[3], parts[4]
		switch parts[2] {
		case "decision":
			var req amsv1.DecideApprovalRequest
			if err := bus.Decode(msg, &req); err != nil {
				return err
			}
			if req.GetTenant() != tenant || req.GetIncidentId() != incident {
				return bus.Permanent(fmt.Errorf("decision for %s/%s sent on %s", req.GetTenant(), req.GetIncidentId(), msg.Subject()))
			}
			return eng.Decide(ctx, &req, inProgress(msg))
		case "timeout":
			return eng.Timeout(ctx, tenant, incident, string(msg.Data()))
		case "resume":
			return eng.Resume(ctx, tenant, incident, inProgress(msg))
		}
		return bus.Permanent(fmt.Errorf("unknown control message %q", msg.Subject()))
	}
	if e.runbooks != nil {
		go e.runbooks.Watch(ctx, x.ReloadInterval, e.deps.Log.With("component", Name), func(changed bool, err error) {
			result := "ok"
			if err != nil {
				result = "error"
			}
			e.reloads.WithLabelValues(result).Inc()
		})
	}
	// On shutdown a run gets two thirds of server.shutdown_timeout to end
	// its step; then it stops, gives its lease back and another replica (or
	// this one, restarted) takes it over.
	grace := max(e.cfg.Server.ShutdownTimeout*2/3, time.Second)
	incidents := incidentsConsumer().Tune(cons)
	incidents.HandleTimeout, incidents.ShutdownGrace = maxRun, grace
	control := controlConsumer().Tune(cons)
	control.HandleTimeout, control.ShutdownGrace = maxRun, grace
	ic, err := bus.NewConsumer(js, incidents, onIncident, e.deps.Log, e.deps.BusMetrics, e.deps.Tracing)
	if err != nil {
		return err
	}
	cc, err := bus.NewConsumer(js, control, onControl, e.deps.Log, e.deps.BusMetrics, e.deps.Tracing)
	if err != nil {
		return err
	}
	return e.Start(ctx, bus.Group{ic, cc})
}
