// Package servicetest runs one service (a service.Runnable) in a test, on a
// JetStream the test made: the dependencies a process would give it, and a
// run that lasts until the test ends. It is for tests only; it lives outside
// a _test file so every module's tests can use it. (It cannot be part of
// natstest: pkg/bus's own tests use natstest, and service imports bus.)
package servicetest

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/amsproject/ams/pkg/bus"
	"github.com/amsproject/ams/pkg/service"
)

// Deps are a service's dependencies on js: a discarding logger, a metrics
// registry of its own, no tracing, the real clock and one replica.
func Deps(js jetstream.JetStream) service.Deps {
	reg := prometheus.NewRegistry()
	return service.Deps{
		JS: js, Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Registerer: reg,
		Tracing: noop.NewTracerProvider(), BusMetrics: bus.NewMetrics(reg), Now: time.Now, Replicas: 1,
	}
}

// Run runs r until the test ends, then checks that it stopped cleanly. It
// returns once r is ready.
func Run(tb testing.TB, r service.Runnable) {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		require.NoError(tb, <-done, "a clean shutdown returns nil")
	})
	require.Eventually(tb, func() bool { return r.Ready() == nil }, 20*time.Second, 5*time.Millisecond, "never became ready")
}
