// Package app is the executor service. Runbooks come in a later issue; today
// it records, for every opened incident, the outcome "no runbook", so the
// flow through ticketing and escalation is complete and each incident gets
// exactly one action result.
package app

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/amsproject/ams/pkg/bus"
	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/pkg/service"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// Name is the component's name everywhere: target, binary, metrics prefix.
const Name = "executor"

// The executor's topology: it owns the ACTIONS stream and the
// executor-incidents consumer on INCIDENTS.
const (
	// ActionsStream holds action results: ams.action.<event>.<tenant>.
	ActionsStream = "ACTIONS"
	durable       = "executor-incidents"
)

func actionsStream(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        ActionsStream,
		Description: "Runbook action results from the executor.",
		Subjects:    []string{"ams.action.>"},
		MaxAge:      90 * 24 * time.Hour,
		Duplicates:  10 * time.Minute,
		Replicas:    replicas,
	}
}

func incidentsConsumer() bus.ConsumerSpec {
	return bus.ConsumerSpec{
		Stream:         "INCIDENTS",
		Durable:        durable,
		Description:    "Executor: run the runbook of each opened incident.",
		FilterSubjects: []string{"ams.incident.opened.>"},
	}
}

// Executor runs runbooks for incidents.
type Executor struct {
	cfg      *config.File
	deps     service.Deps
	outcomes *prometheus.CounterVec
	// Running gives Ready: "starting" until Run has made the consumers.
	bus.Running
}

// New validates and wires the executor; it starts nothing.
func New(cfg *config.File, deps service.Deps) (*Executor, error) {
	if deps.JS == nil || deps.Log == nil || deps.Registerer == nil || deps.Now == nil {
		return nil, errors.New("executor: missing dependencies")
	}
	outcomes := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ams_executor_runs_total", Help: "Runbook runs by tenant and outcome.",
	}, []string{"tenant", "outcome"})
	deps.Registerer.MustRegister(outcomes)
	return &Executor{cfg: cfg, deps: deps, outcomes: outcomes}, nil
}

// Run creates the ACTIONS stream and handles opened incidents until ctx ends.
func (e *Executor) Run(ctx context.Context) error {
	if _, err := bus.EnsureStream(ctx, e.deps.JS, actionsStream(e.deps.Replicas)); err != nil {
		return err
	}
	pub := bus.NewPublisher(e.deps.JS, Name, e.deps.Tracing)
	handler := func(ctx context.Context, msg jetstream.Msg) error {
		var ev amsv1.IncidentEvent
		if err := bus.Decode(msg, &ev); err != nil {
			return err
		}
		res := e.run(ev.GetIncident())
		// One result per incident: the message id is the incident's, so a
		// redelivered opened event publishes nothing new.
		if _, err := pub.Publish(ctx, bus.Subject("action", "completed", res.GetTenant()), "action:"+res.GetIncidentId(), res); err != nil {
			return err
		}
		e.outcomes.WithLabelValues(res.GetTenant(), res.GetOutcome().String()).Inc()
		return nil
	}
	cons, err := bus.NewConsumer(e.deps.JS, incidentsConsumer().Tune(e.cfg.Executor.Consumer), handler, e.deps.Log, e.deps.BusMetrics, e.deps.Tracing)
	if err != nil {
		return err
	}
	return e.Start(ctx, bus.Group{cons})
}

// run decides what automation does for inc. With no runbooks defined yet
// the answer is always "no runbook".
func (e *Executor) run(inc *amsv1.Incident) *amsv1.ActionResult {
	now := timestamppb.New(e.deps.Now())
	return &amsv1.ActionResult{
		Id:         "act-" + inc.GetId(),
		Tenant:     inc.GetTenant(),
		IncidentId: inc.GetId(),
		Outcome:    amsv1.ActionOutcome_ACTION_OUTCOME_NO_RUNBOOK,
		Reason:     "no runbook applies to this incident",
		StartedAt:  now,
		FinishedAt: now,
		Incident:   inc,
	}
}
