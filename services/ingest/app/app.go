// Package app is the ingest service as other modules see it: ValidateConfig
// for -verify-config, New to wire it from the shared config and process
// dependencies, Register for its HTTP routes and Run for its lifetime. The
// all-in-one `ams` binary and cmd/ingest both build ingest only through
// this package, since internal/ cannot be imported across modules.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/amsproject/ams/pkg/bus"
	"github.com/amsproject/ams/pkg/config"
	"github.com/amsproject/ams/pkg/service"
	"github.com/amsproject/ams/services/ingest/internal/httpapi"
	"github.com/amsproject/ams/services/ingest/internal/publish"
	"github.com/amsproject/ams/services/ingest/internal/topology"
)

// Name is the component's name everywhere: binary, -target value,
// ce-source on published events, service.name in telemetry.
const Name = "ingest"

// Ensuring the stream is retried with this backoff while the bus is
// unreachable (a cluster still starting): readiness stays 503 meanwhile,
// which is the signal an orchestrator acts on, rather than a crash loop.
const (
	ensureBackoffMin = time.Second
	ensureBackoffMax = 30 * time.Second
)

var errNotStarted = errors.New("ALERTS stream not ensured yet")

// Ingest receives webhooks and stores them as alerts in the ALERTS stream.
type Ingest struct {
	js       jetstream.JetStream
	log      *slog.Logger
	cfg      config.Ingest
	replicas int
	handler  *httpapi.Handler
	// pull holds the pull sources' settings; its monitor starts in Run.
	pull pullSources

	mu       sync.RWMutex
	notReady error // nil once ALERTS exists and until shutdown
}

// New validates cfg and wires ingest from deps. It starts nothing. deps.JS is
// required; a nil Log, Registerer, Tracing or Now gets a harmless default
// (discard, private registry, no-op tracer, time.Now), and Replicas 0 means 1.
func New(cfg *config.File, deps service.Deps) (*Ingest, error) {
	if err := ValidateConfig(cfg); err != nil {
		return nil, fmt.Errorf("validate ingest config: %w", err)
	}
	ic := cfg.Ingest
	switch {
	case ic.MaxBodyBytes <= 0:
		return nil, fmt.Errorf("ingest.max_body_bytes: %d must be positive", ic.MaxBodyBytes)
	case ic.PublishTimeout <= 0:
		return nil, fmt.Errorf("ingest.publish_timeout: %s must be positive", ic.PublishTimeout)
	case ic.DuplicateWindow <= 0:
		return nil, fmt.Errorf("ingest.duplicate_window: %s must be positive", ic.DuplicateWindow)
	case deps.JS == nil:
		return nil, errors.New("ingest needs a JetStream connection (deps.JS is nil)")
	}
	if deps.Log == nil {
		deps.Log = slog.New(slog.DiscardHandler)
	}
	if deps.Registerer == nil {
		deps.Registerer = prometheus.NewRegistry()
	}
	if deps.Tracing == nil {
		deps.Tracing = noop.NewTracerProvider()
	}
	if deps.Now == nil {
		deps.Now = time.Now
	}
	if deps.Replicas == 0 {
		deps.Replicas = 1
	}

	integrations, err := integrationsFrom(cfg, deps)
	if err != nil {
		return nil, err
	}
	metrics, err := httpapi.NewMetrics(deps.Registerer)
	if err != nil {
		return nil, err
	}
	i := &Ingest{
		js:       deps.JS,
		log:      deps.Log.With("component", Name),
		cfg:      ic,
		replicas: deps.Replicas,
		notReady: errNotStarted,
	}
	// The compatible APIs find the integration by its credential: the
	// token, or for the Events API the routing key.
	tokens := map[string][]string{}
	for _, t := range cfg.Tenants {
		for _, in := range t.Integrations {
			tokens[in.Name] = slices.Concat(in.Tokens, in.RoutingKeys)
		}
	}
	publisher := publish.New(bus.NewPublisher(deps.JS, Name, deps.Tracing), ic.PublishTimeout)
	i.pull = pullSourcesFrom(cfg, deps, publisher)
	i.handler, err = httpapi.New(httpapi.Options{
		Integrations: integrations,
		MaxBodyBytes: ic.MaxBodyBytes,
		Ready:        i.Ready,
		Publisher:    publisher,
		Metrics:      metrics,
		Log:          i.log,
		Tracer:       deps.Tracing.Tracer("github.com/amsproject/ams/services/ingest"),
		Now:          deps.Now,
		NewID:        newID,
	}, func(in *httpapi.Integration) []string { return tokens[in.Name] })
	if err != nil {
		return nil, err
	}
	return i, nil
}

// newID returns a UUIDv7: time-ordered, so ids sort roughly by arrival.
// uuid.NewV7 fails only if crypto/rand does, which since Go 1.24 never
// returns an error (it aborts the program instead), so Must cannot panic.
func newID() string { return uuid.Must(uuid.NewV7()).String() }

// Register adds ingest's routes to mux: the native webhook and the
// compatible APIs.
func (i *Ingest) Register(mux *http.ServeMux) { i.handler.Register(mux) }

// Run ensures the ALERTS stream, marks ingest ready and blocks until ctx
// ends. If the bus cannot be reached it keeps retrying (not ready meanwhile).
// It returns nil on a clean shutdown, after marking ingest not ready so
// requests that arrive while the listener drains get 503 and are retried.
func (i *Ingest) Run(ctx context.Context) error {
	backoff := ensureBackoffMin
	for {
		err := topology.Ensure(ctx, i.js, i.cfg.DuplicateWindow, i.replicas)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return nil //nolint:nilerr // stopped while the bus was down: a clean shutdown
		}
		i.setNotReady(err)
		i.log.Warn("ensure stream, will retry", "stream", topology.Stream, "retry_in", backoff, "err", err)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, ensureBackoffMax)
	}
	i.setNotReady(nil)
	i.log.Info("ingest ready", "stream", topology.Stream, "subject", topology.Subject("<tenant>"))
	pulled := make(chan error, 1)
	go func() { pulled <- i.pull.run(ctx, i.js, i.replicas, i.log) }()
	<-ctx.Done()
	i.setNotReady(errors.New("shutting down"))
	return <-pulled
}

// Ready returns nil once the ALERTS stream exists, and an error saying why
// not before that and during shutdown.
func (i *Ingest) Ready() error {
	i.mu.RLock()
	defer i.mu.RUnlock()
	return i.notReady
}

func (i *Ingest) setNotReady(err error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.notReady = err
}

// Component builds ingest as a process component: the service and its
// webhook routes. The ingest binary and the all-in-one both use it.
func Component(cfg *config.File, deps service.Deps) (service.Component, error) {
	in, err := New(cfg, deps)
	if err != nil {
		return service.Component{}, err
	}
	return service.Component{Name: Name, Runnable: in, Routes: in.Register}, nil
}
