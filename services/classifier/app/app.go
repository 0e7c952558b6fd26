// Package app is the classifier service: it consumes alerts, groups them into
// incidents kept in JetStream KV, classifies them with each tenant's policy
// (rules, maintenance windows, flapping), reviews them when a delay or a
// window ends, and publishes incident events. The
// all-in-one and the classifier binary both run it through New and Run.
package app

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/amsproject/ams/pkg/bus"
	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/pkg/service"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/classifier/internal/grouping"
	"github.com/amsproject/ams/services/classifier/internal/incident"
	"github.com/amsproject/ams/services/classifier/internal/rules"
	"github.com/amsproject/ams/services/classifier/policy"
	"github.com/amsproject/ams/services/classifier/windows"
)

// Name is the component's name everywhere: target, binary, metrics prefix.
const Name = "classifier"

// Classifier groups alerts into incidents.
type Classifier struct {
	cfg      *config.File
	deps     service.Deps
	metrics  *metrics
	policies *policy.Store
	// Running gives Ready: "starting" until Run has made the consumers.
	bus.Running
}

type metrics struct {
	opened     *prometheus.CounterVec
	resolved   *prometheus.CounterVec
	suppressed *prometheus.CounterVec
	flapping   *prometheus.CounterVec
	applied    *prometheus.CounterVec
	evaluation *prometheus.HistogramVec
	reloads    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		opened: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ams_classifier_incidents_opened_total", Help: "Incidents announced as opened (automation and paging begin), by tenant and priority.",
		}, []string{"tenant", "priority"}),
		resolved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ams_classifier_incidents_resolved_total", Help: "Announced incidents resolved, by tenant.",
		}, []string{"tenant"}),
		suppressed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ams_classifier_incidents_suppressed_total", Help: "Incidents announced as suppressed, by tenant and reason.",
		}, []string{"tenant", "reason"}),
		flapping: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ams_classifier_incidents_flapping_total", Help: "Flapping episodes announced (automation held), by tenant.",
		}, []string{"tenant"}),
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ams_classifier_alerts_applied_total",
			Help: "Alerts applied to incidents, by result: updated, touched (re-sent, no change), stale (older than what is applied), already_applied (redelivery).",
		}, []string{"tenant", "result"}),
		evaluation: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "ams_classifier_rule_evaluation_seconds", Help: "Time to evaluate a tenant's rules and maintenance windows for one incident change.",
			Buckets: prometheus.ExponentialBuckets(5e-6, 2, 14),
		}, []string{"tenant"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ams_classifier_rules_reloads_total", Help: "Rules file reloads, by tenant and result (ok, error; an error keeps the rules in force).",
		}, []string{"tenant", "result"}),
	}
	reg.MustRegister(m.opened, m.resolved, m.suppressed, m.flapping, m.applied, m.evaluation, m.reloads)
	return m
}

// Applied counts one alert's effect.
func (m *metrics) Applied(tenant string, change incident.Change) {
	result := map[incident.Change]string{
		incident.Updated: "updated", incident.Touched: "touched", incident.Stale: "stale",
		incident.AlreadyApplied: "already_applied", incident.Unchanged: "unchanged",
	}[change]
	m.applied.WithLabelValues(tenant, result).Inc()
}

// Announced counts announcements.
func (m *metrics) Announced(inc *amsv1.Incident, a incident.Announcement) {
	switch a.Type {
	case amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_OPENED:
		m.opened.WithLabelValues(inc.GetTenant(), rules.PriorityName(inc.GetPriority())).Inc()
	case amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_RESOLVED:
		m.resolved.WithLabelValues(inc.GetTenant()).Inc()
	case amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_SUPPRESSED:
		m.suppressed.WithLabelValues(inc.GetTenant(), inc.GetSuppressReason()).Inc()
	case amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_UPDATED:
		if inc.GetFlapping() {
			m.flapping.WithLabelValues(inc.GetTenant()).Inc()
		}
	}
}

// Classified observes the rules' evaluation time.
func (m *metrics) Classified(tenant string, v policy.Verdict) {
	m.evaluation.WithLabelValues(tenant).Observe(v.Elapsed.Seconds())
}

// New validates and wires the classifier; it starts nothing. Every tenant's
// rules file is read and compiled here, so a broken file fails the start
// (and ams -verify-config) with the file, line and fix.
func New(cfg *config.File, deps service.Deps) (*Classifier, error) {
	if deps.JS == nil || deps.Log == nil || deps.Registerer == nil {
		return nil, errors.New("classifier: missing dependencies")
	}
	policies, err := policy.Load(cfg)
	if err != nil {
		return nil, err
	}
	return &Classifier{cfg: cfg, deps: deps, metrics: newMetrics(deps.Registerer), policies: policies}, nil
}

// Policies are the tenants' policies in force (the admin API reads them).
func (c *Classifier) Policies() *policy.Store { return c.policies }

// Run creates the classifier's streams and buckets and consumes alerts and
// reviews until ctx ends.
func (c *Classifier) Run(ctx context.Context) error {
	t, err := ensure(ctx, c.deps.JS, c.deps.Replicas)
	if err != nil {
		return err
	}
	live, err := windows.NewLive(ctx, t.windows, c.deps.Log)
	if err != nil {
		return err
	}
	go c.policies.Watch(ctx, c.cfg.Classifier.ReloadInterval, c.deps.Log, func(changed []string, err error) {
		for _, id := range changed {
			c.metrics.reloads.WithLabelValues(id, "ok").Inc()
		}
		if err != nil {
			c.metrics.reloads.WithLabelValues("", "error").Inc()
		}
	})
	pub := bus.NewPublisher(c.deps.JS, Name, c.deps.Tracing)
	now := c.deps.Now
	if now == nil {
		now = time.Now
	}
	g := grouping.New(t.groups, t.incidents, grouping.Config{
		Policies: c.policies,
		Windows:  live.Windows,
		Pub:      pub,
		Schedule: func(ctx context.Context, inc *amsv1.Incident) error {
			return bus.Schedule(ctx, c.deps.JS, reviewSubject("at", inc.GetTenant(), inc.GetId()),
				reviewSubject("due", inc.GetTenant(), inc.GetId()), inc.GetReviewAt().AsTime(), nil)
		},
		Observe: c.metrics,
		Log:     c.deps.Log,
		Now:     now,
	})
	alerts := func(ctx context.Context, msg jetstream.Msg) error {
		var a amsv1.Alert
		if err := bus.Decode(msg, &a); err != nil {
			return err
		}
		return g.Apply(ctx, &a)
	}
	reviews := func(ctx context.Context, msg jetstream.Msg) error {
		tenant, id, ok := parseReviewSubject(msg.Subject())
		if !ok {
			return bus.Permanent(fmt.Errorf("review subject %q is not %s", msg.Subject(), reviewSubject("due", "<tenant>", "<incident>")))
		}
		return g.Review(ctx, tenant, id)
	}
	actions := func(ctx context.Context, msg jetstream.Msg) error {
		var res amsv1.ActionResult
		if err := bus.Decode(msg, &res); err != nil {
			return err
		}
		return g.Progress(ctx, res.GetTenant(), res.GetIncidentId(), amsv1.IncidentState_INCIDENT_STATE_AUTOMATING)
	}
	escalations := func(ctx context.Context, msg jetstream.Msg) error {
		var ev amsv1.EscalationEvent
		if err := bus.Decode(msg, &ev); err != nil {
			return err
		}
		if ev.GetDecision() != amsv1.EscalationDecision_ESCALATION_DECISION_ESCALATE {
			return nil
		}
		return g.Progress(ctx, ev.GetTenant(), ev.GetIncidentId(), amsv1.IncidentState_INCIDENT_STATE_ESCALATED)
	}
	var group bus.Group
	for _, h := range []struct {
		spec    bus.ConsumerSpec
		handler bus.Handler
	}{
		{alertsConsumer(), alerts},
		{reviewsConsumer(), reviews},
		{actionsConsumer(), actions},
		{escalationsConsumer(), escalations},
	} {
		cons, err := bus.NewConsumer(c.deps.JS, h.spec.Tune(c.cfg.Classifier.Consumer), h.handler, c.deps.Log, c.deps.BusMetrics, c.deps.Tracing)
		if err != nil {
			return err
		}
		group = append(group, cons)
	}
	return c.Start(ctx, group)
}
