package service

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"

	"github.com/amsproject/ams/pkg/bus"
)

// Deps is what the process hands every service's New: the bus, telemetry and
// a clock. Services take no globals, so tests pass their own.
type Deps struct {
	JS         jetstream.JetStream
	Log        *slog.Logger
	Registerer prometheus.Registerer
	Tracing    trace.TracerProvider
	BusMetrics *bus.Metrics
	// Now is the clock; tests inject one to drive timer logic.
	Now func() time.Time
	// Replicas for the streams and buckets the service creates.
	Replicas int
	// HTTPClient makes the service's outbound HTTP calls (fetching SNS
	// certificates, vendor APIs). Tests point it at local fakes; nil means
	// DefaultHTTPClient.
	HTTPClient *http.Client
}

// DefaultHTTPClient is the outbound client a process gives its services:
// a bounded timeout so a hung vendor cannot hold a worker forever.
func DefaultHTTPClient() *http.Client { return &http.Client{Timeout: 30 * time.Second} }

// Client returns d.HTTPClient, or DefaultHTTPClient when it is nil.
func (d Deps) Client() *http.Client {
	if d.HTTPClient != nil {
		return d.HTTPClient
	}
	return DefaultHTTPClient()
}

// Runnable is a started service: Run blocks until ctx ends and returns nil
// on a clean shutdown; Ready reports whether it can take work.
type Runnable interface {
	Run(ctx context.Context) error
	Ready() error
}

// Idle is a Runnable with no work of its own, for components that only serve
// requests (the admin API): always ready, runs until ctx ends.
type Idle struct{}

// Run blocks until ctx ends.
func (Idle) Run(ctx context.Context) error { <-ctx.Done(); return nil }

// Ready always returns nil.
func (Idle) Ready() error { return nil }
