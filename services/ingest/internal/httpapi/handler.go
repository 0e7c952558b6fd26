// Package httpapi serves ingest's HTTP endpoints: the native webhook
// (POST /v1/webhooks/{integration}) and the compatible APIs that let tools
// send to AMS as if it were the tool they already talk to (Alertmanager's
// API v2, PagerDuty's Events API v2).
//
// Every endpoint runs the same steps, cheapest and least revealing first:
// find the integration and check its credential, check that alerts can be
// stored, read the capped body, verify body signatures, parse, store, and
// answer only once JetStream has the alerts. Each endpoint differs only in
// how it finds the integration and how it words its answers.
package httpapi

import (
	"context"
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

// retryAfterSeconds is what a 503 tells the sender to wait. Short:
// JetStream outages are usually a leader election of a few seconds.
const (
	retryAfterSeconds = 5
	retryAfter        = "5"
)

// Integration is one configured endpoint, resolved for serving.
type Integration struct {
	Name string
	// Tenant owns every alert that arrives on this integration.
	Tenant string
	Source string
	// Parser is nil for a pull source, which takes no requests.
	Parser source.Parser
	// Auth checks a request's credential. TokenAuth unless the source
	// signs its requests; nil for a pull source.
	Auth Authenticator
}

// Authenticator checks that a request comes from the integration's sender.
type Authenticator interface {
	// Header checks what can be checked before the body is read, so that
	// a caller without credentials costs no body read. An error means 401.
	Header(r *http.Request) error
	// Body checks what needs the body (signatures). An error means 401,
	// except *source.Error (400: the envelope is malformed), *source.Ignored
	// (200: a genuine request that carries no alert, such as a
	// subscription confirmation) and ErrUnavailable (503: the check could
	// not be made now).
	Body(ctx context.Context, r *http.Request, body []byte) error
}

// ErrUnavailable marks a failure the sender should retry: the request may
// be fine, but it cannot be checked or stored now.
var ErrUnavailable = errors.New("temporarily unavailable")

// TokenAuth accepts a request presenting one of its secrets as a bearer
// token, a basic-auth password or ?token= (see auth.Credential).
type TokenAuth struct{ Secrets *auth.Secrets }

// Header implements Authenticator.
func (a TokenAuth) Header(r *http.Request) error {
	if tok, ok := auth.Credential(r); ok && a.Secrets.Match(tok) {
		return nil
	}
	return errors.New("missing or invalid credential: send Authorization: Bearer <token> (or basic auth with the token as password, or ?token=<token>) with one of the integration's tokens")
}

// Body implements Authenticator; tokens need nothing from the body.
func (TokenAuth) Body(context.Context, *http.Request, []byte) error { return nil }

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

// Handler serves ingest's routes.
type Handler struct {
	o    Options
	prop propagation.TextMapPropagator
	// bySource indexes the tokens of integrations by source type, for the
	// compatible APIs where the credential alone names the integration.
	bySource map[string]*auth.Index[*Integration]
}

// New returns the handler. tokens gives each integration's tokens for the
// credential indexes; it is nil-safe.
func New(o Options, tokens func(*Integration) []string) (*Handler, error) {
	h := &Handler{o: o, prop: propagation.TraceContext{}, bySource: map[string]*auth.Index[*Integration]{}}
	for _, in := range o.Integrations {
		ix := h.bySource[in.Source]
		if ix == nil {
			ix = auth.NewIndex[*Integration]()
			h.bySource[in.Source] = ix
		}
		if tokens != nil && !ix.Add(in, tokens(in)...) {
			return nil, fmt.Errorf("integration %s: a token is also another integration's: each needs its own", in.Name)
		}
	}
	return h, nil
}

// Register adds every route to mux.
func (h *Handler) Register(mux *http.ServeMux) {
	mux.HandleFunc(WebhookRoute, h.serveWebhook)
	mux.HandleFunc(AlertmanagerAlertsRoute, h.serveAlertmanagerAlerts)
	mux.HandleFunc(AlertmanagerStatusRoute, h.serveAlertmanagerStatus)
	mux.HandleFunc(EnqueueRoute, h.serveEnqueue)
}

// byCredential finds the integration of source type src whose token the
// request presents.
func (h *Handler) byCredential(r *http.Request, src string) (*Integration, bool) {
	ix := h.bySource[src]
	if ix == nil {
		return nil, false
	}
	tok, ok := auth.Credential(r)
	if !ok {
		return nil, false
	}
	return ix.Lookup(tok)
}

// dialect is how one endpoint words its answers.
type dialect interface {
	// reject answers an error; status is the HTTP status ingest chose.
	reject(w http.ResponseWriter, status int, msg string)
	// ignored answers a genuine request that carried no alert.
	ignored(w http.ResponseWriter, reason string)
	// accepted answers once the alerts are stored.
	accepted(w http.ResponseWriter, alerts []*amsv1.Alert, res publish.Result)
}

// request is one request in flight through the shared steps.
type request struct {
	h     *Handler
	w     http.ResponseWriter
	r     *http.Request
	d     dialect
	in    *Integration // nil until known
	span  trace.Span
	log   *slog.Logger
	start time.Time
}

// begin starts the span and the request record for route.
func (h *Handler) begin(w http.ResponseWriter, r *http.Request, route string, d dialect) (*request, context.Context) {
	ctx := h.prop.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
	ctx, span := h.o.Tracer.Start(ctx, r.Method+" "+route, trace.WithSpanKind(trace.SpanKindServer),
		trace.WithAttributes(attribute.String("http.route", route)))
	return &request{h: h, w: w, r: r, d: d, span: span, log: h.o.Log.With("route", route, "remote", r.RemoteAddr), start: time.Now()}, ctx
}

// identify records the integration once known.
func (q *request) identify(in *Integration) {
	q.in = in
	q.span.SetAttributes(attribute.String("ams.integration", in.Name), attribute.String("ams.tenant", in.Tenant))
	q.log = q.log.With("integration", in.Name)
}

// label is the integration label of metrics: empty while unknown, because
// URL text is attacker-chosen and must not create label values.
func (q *request) label() string {
	if q.in == nil {
		return ""
	}
	return q.in.Name
}

// end records the request's duration and ends its span.
func (q *request) end() {
	q.h.o.Metrics.duration.WithLabelValues(q.label()).Observe(time.Since(q.start).Seconds())
	q.span.End()
}

// fail answers an error and counts it by reason.
func (q *request) fail(status int, reason, msg string, err error) {
	q.h.o.Metrics.rejected.WithLabelValues(q.label(), reason).Inc()
	q.span.SetStatus(codes.Error, reason)
	if status >= 500 {
		q.log.Warn("request rejected", "reason", reason, "err", err)
		q.w.Header().Set("Retry-After", retryAfter)
	} else {
		q.log.Info("request rejected", "reason", reason, "err", err)
	}
	q.d.reject(q.w, status, msg)
}

// ready answers 503 and returns false when alerts cannot be stored now.
func (q *request) ready() bool {
	if err := q.h.o.Ready(); err != nil {
		q.fail(http.StatusServiceUnavailable, reasonUnavailable, "ingest is not ready to store alerts yet; retry later", err)
		return false
	}
	return true
}

// readBody reads the body up to the limit, answering 413 or 400 on failure.
func (q *request) readBody() ([]byte, bool) {
	body, err := io.ReadAll(http.MaxBytesReader(q.w, q.r.Body, q.h.o.MaxBodyBytes))
	if err == nil {
		return body, true
	}
	if mbe := (*http.MaxBytesError)(nil); errors.As(err, &mbe) {
		q.fail(http.StatusRequestEntityTooLarge, reasonTooLarge, fmt.Sprintf("body is larger than %d bytes (ingest.max_body_bytes)", mbe.Limit), err)
		return nil, false
	}
	q.fail(http.StatusBadRequest, reasonBadRequest, fmt.Sprintf("read body: %v", err), err)
	return nil, false
}

// checkBody runs the integration's body check, answering when it fails.
func (q *request) checkBody(ctx context.Context, body []byte) bool {
	err := q.in.Auth.Body(ctx, q.r, body)
	if err == nil {
		return true
	}
	q.answerError(err, http.StatusUnauthorized, reasonUnauthorized)
	return false
}

// answerError answers err: ignored, malformed, unavailable, or otherwise
// the given status.
func (q *request) answerError(err error, status int, reason string) {
	var ig *source.Ignored
	var se *source.Error
	switch {
	case errors.As(err, &ig):
		q.h.o.Metrics.ignored.WithLabelValues(q.label()).Inc()
		q.log.Info("request carries no alert", "reason", ig.Reason)
		q.d.ignored(q.w, ig.Reason)
	case errors.As(err, &se):
		q.fail(http.StatusBadRequest, reasonBadRequest, se.Error(), err)
	case errors.Is(err, ErrUnavailable):
		q.fail(http.StatusServiceUnavailable, reasonUnavailable, err.Error()+"; retry later", err)
	default:
		q.fail(status, reason, err.Error(), err)
	}
}

// store parses body with p and stores the alerts, answering in every case.
func (q *request) store(ctx context.Context, p source.Parser, body []byte) {
	o := q.h.o
	alerts, err := source.Normalize(p, body, q.r.Header, source.Envelope{
		Tenant:      q.in.Tenant,
		Integration: q.in.Name,
		Source:      q.in.Source,
		ReceivedAt:  o.Now(),
		NewID:       o.NewID,
	})
	if err != nil {
		q.answerError(err, http.StatusBadRequest, reasonBadRequest)
		return
	}
	res, err := o.Publisher.Publish(ctx, alerts)
	q.count(res)
	if err != nil {
		q.fail(http.StatusServiceUnavailable, reasonUnavailable, "alerts could not be stored (event bus unavailable); retry the same request later",
			fmt.Errorf("%d alerts, %d stored, %d duplicates: %w", len(alerts), len(res.Stored), res.Duplicates, err))
		return
	}
	q.span.SetAttributes(attribute.Int("ams.alerts.accepted", len(res.Stored)), attribute.Int("ams.alerts.duplicates", res.Duplicates))
	q.log.Debug("alerts accepted", "tenant", q.in.Tenant, "accepted", len(res.Stored), "duplicates", res.Duplicates)
	q.d.accepted(q.w, alerts, res)
}

// count records what was stored, even by a request that then failed part
// way: those alerts are in the stream, and its retry will see duplicates.
func (q *request) count(res publish.Result) {
	if n := len(res.Stored); n > 0 {
		q.h.o.Metrics.accepted.WithLabelValues(q.label()).Add(float64(n))
	}
	if res.Duplicates > 0 {
		q.h.o.Metrics.duplicate.WithLabelValues(q.label()).Add(float64(res.Duplicates))
	}
}
