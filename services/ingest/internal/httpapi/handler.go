// Package httpapi serves the native webhook endpoint, POST
// /v1/webhooks/{integration}: it finds the integration, checks its bearer
// token, reads the capped body, parses it with the integration's source
// parser, stores the alerts, and answers 202 only once JetStream has them.
package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ingest/internal/auth"
	"github.com/amsproject/ams/services/ingest/internal/publish"
	"github.com/amsproject/ams/services/ingest/internal/source"
)

// Route is the native webhook route, in Go 1.22 ServeMux pattern syntax.
const Route = "POST /v1/webhooks/{integration}"

// retryAfter is what a 503 tells the sender to wait, in seconds. Short:
// JetStream outages are usually a leader election of a few seconds.
const retryAfter = "5"

// Integration is one configured endpoint, resolved for serving.
type Integration struct {
	Name string
	// Tenant owns every alert that arrives on this integration.
	Tenant string
	Source string
	Parser source.Parser
	Tokens *auth.Tokens
}

// Publisher stores alerts durably; *publish.Publisher in production.
type Publisher interface {
	Publish(ctx context.Context, alerts []*amsv1.Alert) (publish.Result, error)
}

// Options are the handler's dependencies. All are required.
type Options struct {
	// Integrations by name.
	Integrations map[string]*Integration
	MaxBodyBytes int64
	// Ready reports whether alerts can be stored; until it returns nil the
	// handler answers 503 so senders retry instead of losing alerts.
	Ready     func() error
	Publisher Publisher
	Metrics   *Metrics
	Log       *slog.Logger
	Tracer    trace.Tracer
	Now       func() time.Time
	NewID     func() string
}

// Handler serves Route.
type Handler struct {
	o    Options
	prop propagation.TextMapPropagator
}

// New returns the handler.
func New(o Options) *Handler {
	return &Handler{o: o, prop: propagation.TraceContext{}}
}

// response is the 202 body.
type response struct {
	// Accepted counts alerts stored by this request.
	Accepted int `json:"accepted"`
	// Duplicates counts alerts already stored by an earlier identical request.
	Duplicates int `json:"duplicates"`
	// AlertIDs are the ids of the alerts this request stored.
	AlertIDs []string `json:"alert_ids"`
}

// ServeHTTP handles one webhook request. The checks run cheapest and least
// revealing first: integration, token, readiness, body size, payload. So an
// unauthenticated caller learns nothing about readiness or parsing.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	name := r.PathValue("integration")
	in, known := h.o.Integrations[name]
	label := ""
	if known {
		label = name
	}
	defer func() { h.o.Metrics.duration.WithLabelValues(label).Observe(time.Since(start).Seconds()) }()

	ctx := h.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := h.o.Tracer.Start(ctx, "POST /v1/webhooks/{integration}", trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.route", "/v1/webhooks/{integration}"), attribute.String("ams.integration", label)))
	defer span.End()
	log := h.o.Log.With("integration", name, "remote", r.RemoteAddr)

	reject := func(status int, reason, msg string) {
		h.o.Metrics.rejected.WithLabelValues(label, reason).Inc()
		span.SetStatus(codes.Error, reason)
		writeJSON(w, status, map[string]string{"error": msg})
	}

	if !known {
		log.Info("webhook rejected", "reason", reasonUnknownIntegration)
		reject(http.StatusNotFound, reasonUnknownIntegration, fmt.Sprintf("no integration named %q is configured", name))
		return
	}
	if !in.Tokens.Allow(r.Header.Get("Authorization")) {
		log.Info("webhook rejected", "reason", reasonUnauthorized)
		w.Header().Set("WWW-Authenticate", `Bearer realm="ams"`)
		reject(http.StatusUnauthorized, reasonUnauthorized, "missing or invalid bearer token (send Authorization: Bearer <token> with one of the integration's tokens)")
		return
	}
	if err := h.o.Ready(); err != nil {
		log.Warn("webhook rejected", "reason", reasonUnavailable, "err", err)
		w.Header().Set("Retry-After", retryAfter)
		reject(http.StatusServiceUnavailable, reasonUnavailable, "ingest is not ready to store alerts yet; retry later")
		return
	}

	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.o.MaxBodyBytes))
	if err != nil {
		if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
			log.Info("webhook rejected", "reason", reasonTooLarge, "limit", mbe.Limit)
			reject(http.StatusRequestEntityTooLarge, reasonTooLarge, fmt.Sprintf("body is larger than %d bytes (ingest.max_body_bytes)", mbe.Limit))
			return
		}
		log.Info("webhook rejected", "reason", reasonBadRequest, "err", err)
		reject(http.StatusBadRequest, reasonBadRequest, fmt.Sprintf("read body: %v", err))
		return
	}

	alerts, err := source.Normalize(in.Parser, body, r.Header, source.Envelope{
		Tenant:      in.Tenant,
		Integration: in.Name,
		Source:      in.Source,
		ReceivedAt:  h.o.Now(),
		NewID:       h.o.NewID,
	})
	if err != nil {
		log.Info("webhook rejected", "reason", reasonBadRequest, "err", err)
		reject(http.StatusBadRequest, reasonBadRequest, err.Error())
		return
	}

	res, err := h.o.Publisher.Publish(ctx, alerts)
	h.count(label, res)
	if err != nil {
		log.Warn("webhook rejected", "reason", reasonUnavailable, "alerts", len(alerts),
			"stored", len(res.Stored), "duplicates", res.Duplicates, "err", err)
		w.Header().Set("Retry-After", retryAfter)
		reject(http.StatusServiceUnavailable, reasonUnavailable, "alerts could not be stored (event bus unavailable); retry the same request later")
		return
	}

	out := response{Accepted: len(res.Stored), Duplicates: res.Duplicates, AlertIDs: make([]string, 0, len(res.Stored))}
	for _, a := range res.Stored {
		out.AlertIDs = append(out.AlertIDs, a.GetId())
	}
	span.SetAttributes(attribute.Int("ams.alerts.accepted", out.Accepted), attribute.Int("ams.alerts.duplicates", out.Duplicates))
	log.Debug("alerts accepted", "tenant", in.Tenant, "accepted", out.Accepted, "duplicates", out.Duplicates)
	writeJSON(w, http.StatusAccepted, out)
}

// count records what was stored, even by a request that then failed part
// way: those alerts are in the stream, and its retry will see duplicates.
func (h *Handler) count(label string, res publish.Result) {
	if n := len(res.Stored); n > 0 {
		h.o.Metrics.accepted.WithLabelValues(label).Add(float64(n))
	}
	if res.Duplicates > 0 {
		h.o.Metrics.duplicate.WithLabelValues(label).Add(float64(res.Duplicates))
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	// The status is sent; a failed write means the client has gone, and
	// there is no one left to tell.
	_ = json.NewEncoder(w).Encode(v)
}
