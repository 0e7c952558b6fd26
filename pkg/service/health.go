// Package service holds what every AMS process serves besides its own work:
// liveness, readiness and Prometheus metrics over HTTP, and the serving loops
// with graceful shutdown for its HTTP and gRPC listeners.
package service

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"google.golang.org/grpc"
)

// Health tracks readiness: named checks that must all pass, and a shutdown
// flag that turns /readyz to 503 first thing on SIGTERM so load balancers
// stop sending before the process stops accepting.
type Health struct {
	mu       sync.RWMutex
	checks   map[string]func() error
	stopping atomic.Bool
}

// NewHealth returns a Health with no checks.
func NewHealth() *Health { return &Health{checks: map[string]func() error{}} }

// AddCheck registers a readiness check; it must be cheap and must not block.
func (h *Health) AddCheck(name string, check func() error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.checks[name] = check
}

// SetStopping marks the process as shutting down.
func (h *Health) SetStopping() { h.stopping.Store(true) }

// Ready returns nil when every check passes and the process is not stopping.
func (h *Health) Ready() error {
	if h.stopping.Load() {
		return errors.New("shutting down")
	}
	h.mu.RLock()
	defer h.mu.RUnlock()
	names := make([]string, 0, len(h.checks))
	for n := range h.checks {
		names = append(names, n)
	}
	sort.Strings(names)
	var failed []string
	for _, n := range names {
		if err := h.checks[n](); err != nil {
			failed = append(failed, n+": "+err.Error())
		}
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	return nil
}

// Register adds /healthz, /readyz and /metrics to mux.
func (h *Health) Register(mux *http.ServeMux, gatherer prometheus.Gatherer) {
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := h.Ready(); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, "not ready:", err)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(gatherer, promhttp.HandlerOpts{}))
}

// ServeHTTP serves handler on ln until ctx ends, then shuts down gracefully
// within timeout. It returns nil on a clean shutdown.
func ServeHTTP(ctx context.Context, ln net.Listener, handler http.Handler, timeout time.Duration, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve http on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), timeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down http: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// ServeGRPC serves srv on ln until ctx ends, then stops gracefully within
// timeout (forcibly after it).
func ServeGRPC(ctx context.Context, ln net.Listener, srv *grpc.Server, timeout time.Duration) error {
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve grpc on %s: %w", ln.Addr(), err)
	case <-ctx.Done():
	}
	done := make(chan struct{})
	go func() { srv.GracefulStop(); close(done) }()
	select {
	case <-done:
	case <-time.After(timeout):
		srv.Stop()
		<-done
	}
	if err := <-errc; err != nil && !errors.Is(err, grpc.ErrServerStopped) {
		return err
	}
	return nil
}
