// Package app is the escalation service: it decides, per incident, whether a
// human must be paged and when the matter is resolved, keeps that decision in
// the escalations KV bucket, and announces it on ams.escalation.<event>.<tenant>.
// Paging itself (PagerDuty, email, Slack) comes in a later issue.
package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/amsproject/ams/pkg/bus"
	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/pkg/kvproto"
	"github.com/amsproject/ams/pkg/service"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/escalation/internal/decide"
)

// Name is the component's name everywhere: target, binary, metrics prefix.
const Name = "escalation"

// The escalation topology: it owns the ESCALATIONS stream and the
// escalations bucket, and consumes resolved incidents and action results.
const (
	// EscalationsStream holds escalation events: ams.escalation.<event>.<tenant>.
	EscalationsStream = "ESCALATIONS"
	// EscalationsBucket holds decide.State per incident under <tenant>.<incident id>,
	// and which incident paged for each storm under <tenant>.storms.<storm id>.
	EscalationsBucket = "escalations"
)

func escalationsStream(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        EscalationsStream,
		Description: "Escalation decisions.",
		Subjects:    []string{"ams.escalation.>"},
		MaxAge:      90 * 24 * time.Hour,
		Duplicates:  10 * time.Minute,
		Replicas:    replicas,
	}
}

func escalationsBucket(replicas int) jetstream.KeyValueConfig {
	return jetstream.KeyValueConfig{
		Bucket:      EscalationsBucket,
		Description: "Escalation state per incident.",
		History:     5,
		Replicas:    replicas,
	}
}

// claimStorm reports whether incident is the one that pages for the storm:
// the first to claim it in the bucket (key <tenant>.storms.<storm id>), or
// the same incident again after a stop. A storm can outlast the bus's
// duplicate window, so the page's fixed id alone would not keep it to one.
func claimStorm(ctx context.Context, kv jetstream.KeyValue, tenant, stormID, incident string) (bool, error) {
	key := tenant + ".storms." + stormID
	_, err := kv.Create(ctx, key, []byte(incident))
	if err == nil {
		return true, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return false, fmt.Errorf("claim the page of %s: %w", stormID, err)
	}
	entry, err := kv.Get(ctx, key)
	if err != nil {
		return false, fmt.Errorf("read the page of %s: %w", stormID, err)
	}
	return string(entry.Value()) == incident, nil
}

func incidentsConsumer() bus.ConsumerSpec {
	return bus.ConsumerSpec{
		Stream: "INCIDENTS", Durable: "escalation-incidents", FilterSubjects: []string{"ams.incident.resolved.>"},
		Description: "Escalation: resolved incidents.",
	}
}

func actionsConsumer() bus.ConsumerSpec {
	return bus.ConsumerSpec{
		Stream: "ACTIONS", Durable: "escalation-actions", FilterSubjects: []string{"ams.action.completed.>", "ams.action.approval.>"},
		Description: "Escalation: automation outcomes.",
	}
}

// Escalation decides who must know about an incident.
type Escalation struct {
	cfg       *config.File
	deps      service.Deps
	decisions *prometheus.CounterVec
	// Running gives Ready: "starting" until Run has made the consumers.
	bus.Running
}

// New validates and wires escalation; it starts nothing.
func New(cfg *config.File, deps service.Deps) (*Escalation, error) {
	if deps.JS == nil || deps.Log == nil || deps.Registerer == nil || deps.Now == nil {
		return nil, errors.New("escalation: missing dependencies")
	}
	decisions := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "ams_escalation_decisions_total", Help: "Escalation decisions announced, by tenant and decision: escalated, resolved.",
	}, []string{"tenant", "decision"})
	deps.Registerer.MustRegister(decisions)
	return &Escalation{cfg: cfg, deps: deps, decisions: decisions}, nil
}

// Run creates the stream and bucket and consumes until ctx ends.
func (e *Escalation) Run(ctx context.Context) error {
	js := e.deps.JS
	if _, err := bus.EnsureStream(ctx, js, escalationsStream(e.deps.Replicas)); err != nil {
		return err
	}
	kv, err := bus.EnsureKV(ctx, js, escalationsBucket(e.deps.Replicas))
	if err != nil {
		return err
	}
	pub := bus.NewPublisher(js, Name, e.deps.Tracing)
	now := e.deps.Now
	key := func(tenant, incidentID string) string { return tenant + "." + incidentID }
	modify := func(ctx context.Context, tenant, incidentID string, fold func(*decide.State) bool) (decide.State, error) {
		var final decide.State
		err := kvproto.Modify(ctx, kv, key(tenant, incidentID), func(raw []byte) ([]byte, error) {
			st := decide.State{Tenant: tenant, IncidentID: incidentID}
			if raw != nil {
				if err := json.Unmarshal(raw, &st); err != nil {
					return nil, fmt.Errorf("decode escalation state %s: %w", incidentID, err)
				}
			}
			changed := fold(&st)
			final = st
			if !changed {
				return nil, nil
			}
			return json.Marshal(st)
		})
		return final, err
	}
	apply := func(ctx context.Context, tenant, incidentID string, fold func(*decide.State) bool) error {
		final, err := modify(ctx, tenant, incidentID, fold)
		if err != nil {
			return err
		}
		// Announce what the state implies and was not announced yet (not
		// only what changed now): after a stop between the write and the
		// publish, the redelivery publishes what was missed, and the fixed
		// ids drop a repeat within the bus's duplicate window. Once stored,
		// an event is marked announced, so no later update repeats it.
		var stored []string
		for _, ev := range final.Pending() {
			if final.StormID != "" && ev.GetId() == "esc-"+final.StormID {
				first, err := claimStorm(ctx, kv, tenant, final.StormID, incidentID)
				if err != nil {
					return err
				}
				if !first {
					// Another incident of the storm paged for it.
					stored = append(stored, ev.GetId())
					continue
				}
			}
			ev.Time = timestamppb.New(now())
			ack, err := pub.Publish(ctx, bus.Subject("escalation", decide.EventName(ev.GetDecision()), tenant), ev.GetId(), ev)
			if err != nil {
				return err
			}
			if !ack.Duplicate {
				e.decisions.WithLabelValues(tenant, decide.EventName(ev.GetDecision())).Inc()
			}
			stored = append(stored, ev.GetId())
		}
		if len(stored) == 0 {
			return nil
		}
		_, err = modify(ctx, tenant, incidentID, func(s *decide.State) bool { return s.MarkAnnounced(stored...) })
		return err
	}
	onIncident := func(ctx context.Context, msg jetstream.Msg) error {
		var ev amsv1.IncidentEvent
		if err := bus.Decode(msg, &ev); err != nil {
			return err
		}
		inc := ev.GetIncident()
		return apply(ctx, inc.GetTenant(), inc.GetId(), func(s *decide.State) bool { return s.OnIncident(inc) })
	}
	onAction := func(ctx context.Context, msg jetstream.Msg) error {
		var res amsv1.ActionResult
		if err := bus.Decode(msg, &res); err != nil {
			return err
		}
		return apply(ctx, res.GetTenant(), res.GetIncidentId(), func(s *decide.State) bool { return s.OnAction(&res, now()) })
	}
	c := e.cfg.Escalation.Consumer
	incidents, err := bus.NewConsumer(js, incidentsConsumer().Tune(c), onIncident, e.deps.Log, e.deps.BusMetrics, e.deps.Tracing)
	if err != nil {
		return err
	}
	actions, err := bus.NewConsumer(js, actionsConsumer().Tune(c), onAction, e.deps.Log, e.deps.BusMetrics, e.deps.Tracing)
	if err != nil {
		return err
	}
	return e.Start(ctx, bus.Group{incidents, actions})
}
