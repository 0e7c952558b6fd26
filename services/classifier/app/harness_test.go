package app_test

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/amsproject/ams/pkg/bus"
	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/pkg/kvproto"
	"github.com/amsproject/ams/pkg/natstest"
	"github.com/amsproject/ams/pkg/service"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/classifier/app"
)

// harness is classifier replicas on a real embedded JetStream server, fed
// alerts on ALERTS as ingest publishes them, and watched through the
// INCIDENTS stream and the incidents bucket.
type harness struct {
	srv *server.Server
	js  jetstream.JetStream
	cfg *config.File
	pub *bus.Publisher
	reg *prometheus.Registry

	watchOnce sync.Once
	mu        sync.Mutex
	events    []*amsv1.IncidentEvent
}

// newHarness runs replicas classifiers for tenant acme whose classifier
// file is policyYAML ("" for none).
func newHarness(tb testing.TB, policyYAML string, replicas int) *harness {
	tb.Helper()
	dir := tb.TempDir()
	cfg := config.Default()
	cfg.NATS.URL = "nats://unused"
	cfg.Dir = dir
	tenant := config.Tenant{ID: "acme", Name: "Acme", Integrations: []config.Integration{{Name: "acme-am", Source: "alertmanager", Tokens: []string{"0123456789"}}}}
	if policyYAML != "" {
		require.NoError(tb, os.WriteFile(filepath.Join(dir, "acme.yaml"), []byte(policyYAML), 0o600))
		tenant.RulesFile = "acme.yaml"
	}
	cfg.Tenants = []config.Tenant{tenant}
	cfg.Classifier.ReloadInterval = time.Second

	srv := natstest.RunServer(tb)
	_, js := natstest.Connect(tb, srv)
	// The streams of the services around the classifier, as they make them.
	for name, subjects := range map[string]string{"ALERTS": "ams.alert.>", "ACTIONS": "ams.action.>", "ESCALATIONS": "ams.escalation.>"} {
		_, err := bus.EnsureStream(context.Background(), js, jetstream.StreamConfig{
			Name: name, Subjects: []string{subjects}, Duplicates: 10 * time.Minute,
		})
		require.NoError(tb, err)
	}
	h := &harness{srv: srv, js: js, cfg: cfg, pub: bus.NewPublisher(js, "test", noop.NewTracerProvider())}
	for i := range replicas {
		h.runReplica(tb, i == 0)
	}
	return h
}

func (h *harness) runReplica(tb testing.TB, keepRegistry bool) {
	tb.Helper()
	_, js := natstest.Connect(tb, h.srv)
	reg := prometheus.NewRegistry()
	if keepRegistry {
		h.reg = reg
	}
	c, err := app.New(h.cfg, service.Deps{
		JS: js, Log: slog.New(slog.DiscardHandler), Registerer: reg,
		Tracing: noop.NewTracerProvider(), Now: time.Now, Replicas: 1, BusMetrics: bus.NewMetrics(reg),
	})
	require.NoError(tb, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		require.NoError(tb, <-done)
	})
	require.Eventually(tb, func() bool { return c.Ready() == nil }, 10*time.Second, 5*time.Millisecond)
	// The first replica has made the INCIDENTS stream: watch it.
	h.watchOnce.Do(func() { h.watch(tb) })
}

// watch collects every incident event in stream order.
func (h *harness) watch(tb testing.TB) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	tb.Cleanup(cancel)
	cons, err := h.js.OrderedConsumer(ctx, app.IncidentsStream, jetstream.OrderedConsumerConfig{})
	require.NoError(tb, err)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		var ev amsv1.IncidentEvent
		if err := bus.Decode(m, &ev); err == nil {
			h.mu.Lock()
			h.events = append(h.events, &ev)
			h.mu.Unlock()
		}
	})
	require.NoError(tb, err)
	tb.Cleanup(cc.Stop)
}

// send publishes an alert for tenant acme as ingest would.
func (h *harness) send(tb testing.TB, a *amsv1.Alert) {
	tb.Helper()
	a.Tenant = "acme"
	if a.Integration == "" {
		a.Integration = "acme-am"
	}
	_, err := h.pub.Publish(context.Background(), bus.Subject("alert", "received", "acme"), "alert:"+a.GetId(), a)
	require.NoError(tb, err)
}

// eventsOf returns the events of incident id so far (all when id is empty),
// by incident version: two changes handled by different workers may be
// stored in either order, and consumers apply snapshots by version.
func (h *harness) eventsOf(id string) []*amsv1.IncidentEvent {
	h.mu.Lock()
	defer h.mu.Unlock()
	var out []*amsv1.IncidentEvent
	for _, ev := range h.events {
		if id == "" || ev.GetIncident().GetId() == id {
			out = append(out, ev)
		}
	}
	slices.SortStableFunc(out, func(a, b *amsv1.IncidentEvent) int {
		return cmp.Compare(a.GetIncident().GetVersion(), b.GetIncident().GetVersion())
	})
	return out
}

// types are the event types of events, in order.
func types(events []*amsv1.IncidentEvent) []amsv1.IncidentEventType {
	out := make([]amsv1.IncidentEventType, len(events))
	for i, ev := range events {
		out[i] = ev.GetType()
	}
	return out
}

// waitEvents waits until incident id has exactly want events, in this order.
func (h *harness) waitEvents(tb testing.TB, id string, timeout time.Duration, want ...amsv1.IncidentEventType) []*amsv1.IncidentEvent {
	tb.Helper()
	require.EventuallyWithT(tb, func(c *assert.CollectT) {
		assert.Equal(c, want, types(h.eventsOf(id)))
	}, timeout, 20*time.Millisecond)
	return h.eventsOf(id)
}

// incidents returns every stored incident.
func (h *harness) incidents(tb testing.TB) []*amsv1.Incident {
	tb.Helper()
	kv, err := h.js.KeyValue(context.Background(), app.IncidentsBucket)
	require.NoError(tb, err)
	all, err := kvproto.List(context.Background(), kv, ">", func() *amsv1.Incident { return &amsv1.Incident{} })
	require.NoError(tb, err)
	slices.SortFunc(all, func(a, b *amsv1.Incident) int { return a.GetFirstSeen().AsTime().Compare(b.GetFirstSeen().AsTime()) })
	return all
}

// waitIncident waits until exactly one incident matches and returns it.
func (h *harness) waitIncident(tb testing.TB, ok func(*amsv1.Incident) bool) *amsv1.Incident {
	tb.Helper()
	var got *amsv1.Incident
	require.Eventually(tb, func() bool {
		got = nil
		for _, inc := range h.incidents(tb) {
			if ok(inc) {
				if got != nil {
					return false
				}
				got = inc
			}
		}
		return got != nil
	}, 10*time.Second, 20*time.Millisecond)
	return got
}

// alert is a firing or resolved notification of fingerprint fp received at at.
func alert(id, fp string, status amsv1.AlertStatus, at time.Time, labels map[string]string) *amsv1.Alert {
	return &amsv1.Alert{
		Id: id, Fingerprint: fp, Status: status, Severity: amsv1.Severity_SEVERITY_WARNING,
		Summary: fmt.Sprintf("%s on %s", labels["alertname"], labels["host"]), Labels: labels,
		Resource: &amsv1.Resource{Host: labels["host"]}, ReceivedAt: timestamppb.New(at), Source: "alertmanager",
	}
}

const (
	firing   = amsv1.AlertStatus_ALERT_STATUS_FIRING
	resolved = amsv1.AlertStatus_ALERT_STATUS_RESOLVED

	opened     = amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_OPENED
	updated    = amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_UPDATED
	closed     = amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_RESOLVED
	suppressed = amsv1.IncidentEventType_INCIDENT_EVENT_TYPE_SUPPRESSED
)

// metric is the value of the series of name with exactly these labels, 0 when absent.
func metric(tb testing.TB, reg *prometheus.Registry, name string, want map[string]string) float64 {
	tb.Helper()
	families, err := reg.Gather()
	require.NoError(tb, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(want) {
				continue
			}
			for _, l := range m.GetLabel() {
				if want[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// sendInOrder sends the alerts one at a time, each once the previous is
// applied: notifications minutes apart, as a flapping alert sends them,
// rather than a burst the workers take in any order (where an older one
// handled after a newer one is rightly stale).
func (h *harness) sendInOrder(tb testing.TB, alerts ...*amsv1.Alert) {
	tb.Helper()
	for _, a := range alerts {
		before := h.applied(tb)
		h.send(tb, a)
		require.Eventually(tb, func() bool { return h.applied(tb) > before }, 5*time.Second, 5*time.Millisecond, "alert %s not applied", a.GetId())
	}
}

// applied is how many alerts the first replica applied, whatever the result.
func (h *harness) applied(tb testing.TB) float64 {
	tb.Helper()
	families, err := h.reg.Gather()
	require.NoError(tb, err)
	total := 0.0
	for _, f := range families {
		if f.GetName() == "ams_classifier_alerts_applied_total" {
			for _, m := range f.GetMetric() {
				total += m.GetCounter().GetValue()
			}
		}
	}
	return total
}
