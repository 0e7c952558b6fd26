// Package app is the classifier service: it consumes alerts, groups them into
// incidents kept in JetStream KV, and publishes incident events. The
// all-in-one and the classifier binary both run it through New and Run.
package app

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/amsproject/ams/pkg/bus"
	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/pkg/service"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/classifier/internal/grouping"
	"github.com/amsproject/ams/services/classifier/internal/incident"
)

// Name is the component's name everywhere: target, binary, metrics prefix.
const Name = "classifier"

// Classifier groups alerts into incidents.
type Classifier struct {
	cfg     *config.File
	deps    service.Deps
	metrics *metrics
	// Running gives Ready: "starting" until Run has made the consumers.
	bus.Running
}

type metrics struct {
	opened   *prometheus.CounterVec
	resolved *prometheus.CounterVec
	applied  *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		opened: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ams_classifier_incidents_opened_total", Help: "Incidents opened, by tenant and priority.",
		}, []string{"tenant", "priority"}),
		resolved: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ams_classifier_incidents_resolved_total", Help: "Incidents resolved, by tenant.",
		}, []string{"tenant"}),
		applied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "ams_classifier_alerts_applied_total",
			Help: "Alerts applied to incidents, by result: updated, resolved, touched (re-sent, no change), stale (older than what is applied), already_applied (redelivery).",
		}, []string{"tenant", "result"}),
	}
	reg.MustRegister(m.opened, m.resolved, m.applied)
	return m
}

// New validates and wires the classifier; it starts nothing.
func New(cfg *config.File, deps service.Deps) (*Classifier, error) {
	if deps.JS == nil || deps.Log == nil || deps.Registerer == nil {
		return nil, errors.New("classifier: missing dependencies")
	}
	return &Classifier{cfg: cfg, deps: deps, metrics: newMetrics(deps.Registerer)}, nil
}

// Run creates the classifier's streams and buckets and consumes alerts until ctx ends.
func (c *Classifier) Run(ctx context.Context) error {
	groups, incidents, err := ensure(ctx, c.deps.JS, c.deps.Replicas)
	if err != nil {
		return err
	}
	pub := bus.NewPublisher(c.deps.JS, Name, c.deps.Tracing)
	g := grouping.New(groups, incidents, pub, c.deps.Log, c.observe)
	handler := func(ctx context.Context, msg jetstream.Msg) error {
		var a amsv1.Alert
		if err := bus.Decode(msg, &a); err != nil {
			return err
		}
		if _, ok := c.cfg.Tenant(a.GetTenant()); !ok {
			return bus.Permanent(fmt.Errorf("alert %s names unknown tenant %q", a.GetId(), a.GetTenant()))
		}
		return g.Apply(ctx, &a)
	}
	cons, err := bus.NewConsumer(c.deps.JS, alertsConsumer().Tune(c.cfg.Classifier.Consumer), handler, c.deps.Log, c.deps.BusMetrics, c.deps.Tracing)
	if err != nil {
		return err
	}
	return c.Start(ctx, bus.Group{cons})
}

func (c *Classifier) observe(tenant string, change incident.Change, inc *amsv1.Incident) {
	switch change {
	case incident.Updated:
		if inc.GetVersion() == 1 {
			c.metrics.opened.WithLabelValues(tenant, strings.TrimPrefix(inc.GetPriority().String(), "PRIORITY_")).Inc()
			return
		}
		c.metrics.applied.WithLabelValues(tenant, "updated").Inc()
	case incident.Resolved:
		c.metrics.resolved.WithLabelValues(tenant).Inc()
		c.metrics.applied.WithLabelValues(tenant, "resolved").Inc()
	case incident.Touched:
		c.metrics.applied.WithLabelValues(tenant, "touched").Inc()
	case incident.Stale:
		c.metrics.applied.WithLabelValues(tenant, "stale").Inc()
	case incident.AlreadyApplied:
		c.metrics.applied.WithLabelValues(tenant, "already_applied").Inc()
	}
}
