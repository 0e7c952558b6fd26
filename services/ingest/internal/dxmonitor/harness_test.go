package dxmonitor

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace/noop"
	"google.golang.org/protobuf/proto"

	"github.com/amsproject/ams/pkg/bus"
	"github.com/amsproject/ams/pkg/natstest"
	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ingest/internal/publish"
	"github.com/amsproject/ams/services/ingest/internal/topology"
)

// harness is one real JetStream server with ingest's ALERTS stream and the
// state bucket, ingest's real publisher, and the fake AWS.
type harness struct {
	js    jetstream.JetStream
	kv    jetstream.KeyValue
	aws   *fakeAWS
	clock *fakeClock
	pub   Publisher
	ids   atomic.Int64
}

func newHarness(tb testing.TB) *harness {
	tb.Helper()
	srv := natstest.RunServer(tb)
	_, js := natstest.Connect(tb, srv)
	ctx := context.Background()
	require.NoError(tb, topology.Ensure(ctx, js, 10*time.Minute, 1))
	kv, err := EnsureBucket(ctx, js, 1)
	require.NoError(tb, err)
	return &harness{
		js:    js,
		kv:    kv,
		aws:   newFakeAWS(tb),
		clock: &fakeClock{now: time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)},
		pub:   AlertPublisher(publish.New(bus.NewPublisher(js, "ingest", noop.NewTracerProvider()), 30*time.Second)),
	}
}

// monitor is a new Monitor over the harness's bucket and fake AWS, with its
// own registry (a restart is a new process with new metrics).
func (h *harness) monitor(tb testing.TB, targets []Target, edit ...func(*Options)) (*Monitor, *prometheus.Registry) {
	tb.Helper()
	reg := prometheus.NewRegistry()
	opts := Options{
		Targets:               targets,
		Interval:              time.Minute,
		PollTimeout:           30 * time.Second, // only a bound: CI machines can be slow
		Publisher:             h.pub,
		State:                 h.kv,
		AWSConfig:             h.aws.config(1),
		STSEndpoint:           h.aws.sts.URL,
		DirectConnectEndpoint: h.aws.dx.URL,
		Registerer:            reg,
		Now:                   h.clock.Now,
		NewID:                 func() string { return fmt.Sprintf("alert-%d", h.ids.Add(1)) },
	}
	for _, e := range edit {
		e(&opts)
	}
	m, err := New(opts)
	require.NoError(tb, err)
	return m, reg
}

func targetFor(tenant, integration string, role *fakeRole, regions ...string) Target {
	return Target{Tenant: tenant, Integration: integration, RoleARN: role.arn, ExternalID: role.externalID, Regions: regions}
}

// published returns every alert in ALERTS, in stream order.
func (h *harness) published(tb testing.TB) []*amsv1.Alert {
	tb.Helper()
	ctx := context.Background()
	s, err := h.js.Stream(ctx, topology.Stream)
	require.NoError(tb, err)
	info, err := s.Info(ctx)
	require.NoError(tb, err)
	var out []*amsv1.Alert
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq && info.State.Msgs > 0; seq++ {
		msg, err := s.GetMsg(ctx, seq)
		require.NoError(tb, err)
		a := &amsv1.Alert{}
		require.NoError(tb, proto.Unmarshal(msg.Data, a))
		require.Equal(tb, topology.Subject(a.GetTenant()), msg.Subject)
		out = append(out, a)
	}
	return out
}

// publishedFor is published filtered to one tenant.
func (h *harness) publishedFor(tb testing.TB, tenant string) []*amsv1.Alert {
	tb.Helper()
	var out []*amsv1.Alert
	for _, a := range h.published(tb) {
		if a.GetTenant() == tenant {
			out = append(out, a)
		}
	}
	return out
}

// stateKeys lists the keys in the state bucket.
func (h *harness) stateKeys(tb testing.TB) []string {
	tb.Helper()
	lister, err := h.kv.ListKeys(context.Background())
	require.NoError(tb, err)
	defer func() { _ = lister.Stop() }()
	var keys []string
	for k := range lister.Keys() {
		keys = append(keys, k)
	}
	return keys
}

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock by d and returns the new time.
func (c *fakeClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// metricValue returns the value of the series of name with exactly labels,
// and whether it exists.
func metricValue(tb testing.TB, reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
	tb.Helper()
	families, err := reg.Gather()
	require.NoError(tb, err)
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
	series:
		for _, m := range f.GetMetric() {
			if len(m.GetLabel()) != len(labels) {
				continue
			}
			for _, l := range m.GetLabel() {
				if labels[l.GetName()] != l.GetValue() {
					continue series
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue(), true
			}
			return m.GetGauge().GetValue(), true
		}
	}
	return 0, false
}

func polls(tb testing.TB, reg *prometheus.Registry, tenant, integration, region, result string) float64 {
	tb.Helper()
	v, _ := metricValue(tb, reg, "ams_ingest_awsdx_polls_total",
		map[string]string{"tenant": tenant, "integration": integration, "region": region, "result": result})
	return v
}
