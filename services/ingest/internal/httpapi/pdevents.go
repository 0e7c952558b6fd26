package httpapi

import (
	"errors"
	"net/http"
	"time"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ingest/internal/publish"
	"github.com/amsproject/ams/services/ingest/internal/source/pdevents"
)

// EnqueueRoute is PagerDuty's Events API v2 endpoint. Any tool that sends
// events to PagerDuty (including the go-pagerduty client) can send them to
// AMS instead; the routing_key selects the integration.
const EnqueueRoute = "POST /v2/enqueue"

// pagerDutyEventsSource is the source type whose integrations it serves.
const pagerDutyEventsSource = "pagerduty-events"

// pagerDutyDialect answers with the bodies and codes of the Events API.
type pagerDutyDialect struct{}

func (pagerDutyDialect) reject(w http.ResponseWriter, status int, msg string) {
	switch status {
	case http.StatusUnauthorized:
		pdevents.WriteUnknownRoutingKey(w) // PagerDuty answers 400 for a key it does not know
	case http.StatusServiceUnavailable:
		pdevents.WriteUnavailable(w, retryAfterSeconds*time.Second)
	default:
		pdevents.WriteInvalid(w, errors.New(msg))
	}
}

func (pagerDutyDialect) ignored(w http.ResponseWriter, _ string) { pdevents.WriteSuccess(w, "") }

func (pagerDutyDialect) accepted(w http.ResponseWriter, alerts []*amsv1.Alert, _ publish.Result) {
	// One event per request; its dedup_key (generated for a trigger that
	// had none) is the alert's fingerprint, which the sender needs to
	// acknowledge or resolve it later.
	pdevents.WriteSuccess(w, alerts[0].GetFingerprint())
}

// serveEnqueue handles POST /v2/enqueue. The body must be read to find the
// routing key, so the size limit applies before the credential check.
func (h *Handler) serveEnqueue(w http.ResponseWriter, r *http.Request) {
	q, ctx := h.begin(w, r, "/v2/enqueue", pagerDutyDialect{})
	defer q.end()
	body, ok := q.readBody()
	if !ok {
		return
	}
	key, err := pdevents.RoutingKey(body)
	if err != nil {
		q.answerError(err, http.StatusBadRequest, reasonBadRequest)
		return
	}
	ix := h.bySource[pagerDutyEventsSource]
	var in *Integration
	if ix != nil {
		in, ok = ix.Lookup(key)
	}
	if !ok {
		q.fail(http.StatusUnauthorized, reasonUnauthorized, "unknown routing key", nil)
		return
	}
	q.identify(in)
	if !q.ready() {
		return
	}
	// The routing key is a credential: keep it out of the stored payload.
	q.store(ctx, in.Parser, pdevents.RedactRoutingKey(body))
}
