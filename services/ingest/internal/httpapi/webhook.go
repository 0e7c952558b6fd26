package httpapi

import (
	"encoding/json"
	"fmt"
	"net/http"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ingest/internal/publish"
)

// WebhookRoute is the native webhook route, in ServeMux pattern syntax: the
// integration's own payload format, by name.
const WebhookRoute = "POST /v1/webhooks/{integration}"

// webhookResponse is the 202 body of the native route.
type webhookResponse struct {
	// Accepted counts alerts stored by this request.
	Accepted int `json:"accepted"`
	// Duplicates counts alerts already stored by an earlier identical request.
	Duplicates int `json:"duplicates"`
	// AlertIDs are the ids of the alerts this request stored.
	AlertIDs []string `json:"alert_ids"`
}

// native words answers as AMS's own JSON: {"error": ...} for failures.
type native struct{}

func (native) reject(w http.ResponseWriter, status int, msg string) {
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ams"`)
	}
	writeJSON(w, status, map[string]string{"error": msg})
}

func (native) ignored(w http.ResponseWriter, reason string) {
	writeJSON(w, http.StatusOK, map[string]any{"accepted": 0, "ignored": reason})
}

func (native) accepted(w http.ResponseWriter, _ []*amsv1.Alert, res publish.Result) {
	out := webhookResponse{Accepted: len(res.Stored), Duplicates: res.Duplicates, AlertIDs: make([]string, 0, len(res.Stored))}
	for _, a := range res.Stored {
		out.AlertIDs = append(out.AlertIDs, a.GetId())
	}
	writeJSON(w, http.StatusAccepted, out)
}

// serveWebhook handles one native webhook request.
func (h *Handler) serveWebhook(w http.ResponseWriter, r *http.Request) {
	q, ctx := h.begin(w, r, "/v1/webhooks/{integration}", native{})
	defer q.end()
	name := r.PathValue("integration")
	in, known := h.o.Integrations[name]
	if !known {
		q.fail(http.StatusNotFound, reasonUnknownIntegration, fmt.Sprintf("no integration named %q is configured", name), nil)
		return
	}
	q.identify(in)
	if in.Parser == nil {
		q.fail(http.StatusNotFound, reasonUnknownIntegration, fmt.Sprintf("integration %q is a pull source (%s): AMS polls it, and nothing can be posted to it", name, in.Source), nil)
		return
	}
	if err := in.Auth.Header(r); err != nil {
		q.fail(http.StatusUnauthorized, reasonUnauthorized, err.Error(), nil)
		return
	}
	if !q.ready() {
		return
	}
	body, ok := q.readBody()
	if !ok || !q.checkBody(ctx, body) {
		return
	}
	q.store(ctx, in.Parser, body)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	// The status is sent; a failed write means the client has gone, and
	// there is no one left to tell.
	_ = json.NewEncoder(w).Encode(v)
}
