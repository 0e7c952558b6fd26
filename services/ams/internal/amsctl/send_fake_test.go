package amsctl

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakeIngest answers like ingest's HTTP API (services/ingest/internal/httpapi)
// for a few integrations, and records every request it gets so tests see
// exactly what amsctl sent.
type fakeIngest struct {
	integrations map[string]fakeIntegration

	mu       sync.Mutex
	requests []recordedRequest
	seen     map[string]bool // integration + body already stored, for duplicates
	nextID   int
}

type fakeIntegration struct {
	source string
	secret string // token, signing secret or routing key
}

type recordedRequest struct {
	method string
	uri    string // escaped path and query, as sent
	header http.Header
	body   []byte
}

// Integrations of the fake, named as in deploy/examples/ams.yaml, and names
// that make it answer as something other than ingest would.
const (
	integrationNotReady = "not-ready" // 503, as before JetStream is ready
	integrationProxy    = "proxy"     // 502 with an HTML page, as a proxy in front of ingest
	integrationMoved    = "moved"     // 308 to https
	integrationSlow     = "slow"      // no answer until the client gives up
)

func newFakeIngest() *fakeIngest {
	return &fakeIngest{
		integrations: map[string]fakeIntegration{
			"demo-generic":          {sourceGeneric, "demo-generic-secret"},
			"demo-alertmanager":     {sourceAlertmanager, "demo-token"},
			"demo-pagerduty":        {sourcePagerDuty, "demo-pagerduty-secret"},
			"demo-pagerduty-events": {sourcePagerDutyEvents, "demo-pagerduty-events-secret"},
			"demo-cloudwatch":       {sourceCloudWatch, "demo-cloudwatch-secret"},
			"demo-datadog":          {sourceDatadog, "demo-datadog-secret"},
			"demo-mackerel":         {sourceMackerel, "demo-mackerel-secret"},
			"demo-grafana":          {sourceGrafana, "demo-grafana-secret"},
			"demo-zabbix":           {sourceZabbix, "demo-zabbix-secret"},
			integrationNotReady:     {sourceGeneric, "t"},
		},
		seen: map[string]bool{},
	}
}

// startIngest serves f on a loopback port for the length of the test and
// returns its base URL.
func startIngest(t testing.TB, f *fakeIngest) string {
	t.Helper()
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/webhooks/{integration}", f.serveWebhook)
	mux.HandleFunc("POST /v2/enqueue", f.serveEnqueue)
	mux.HandleFunc("POST /api/v2/alerts", f.serveAlertmanagerAPI)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		f.record(r)
		http.NotFound(w, r)
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv.URL
}

func (f *fakeIngest) record(r *http.Request) []byte {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests = append(f.requests, recordedRequest{
		method: r.Method,
		uri:    r.URL.RequestURI(),
		header: r.Header.Clone(),
		body:   body,
	})
	return body
}

// last returns the only request since the last call, failing the test if
// there was not exactly one.
func (f *fakeIngest) last(t testing.TB) recordedRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) != 1 {
		t.Fatalf("want exactly one request, got %d", len(f.requests))
	}
	r := f.requests[0]
	f.requests = nil
	return r
}

func (f *fakeIngest) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.requests)
}

// store answers as ingest does once alerts are parsed: new ones are
// stored with fresh ids, a body already stored for the integration counts
// as duplicates.
func (f *fakeIngest) store(integration string, body []byte, n int) (ids []string, duplicates int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	key := integration + "\x00" + string(body)
	if f.seen[key] {
		return []string{}, n
	}
	f.seen[key] = true
	for range n {
		f.nextID++
		ids = append(ids, fmt.Sprintf("0190c0de-%04d", f.nextID))
	}
	return ids, 0
}

func writeFakeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func bearer(r *http.Request) string {
	tok, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return tok
}

func (f *fakeIngest) serveWebhook(w http.ResponseWriter, r *http.Request) {
	body := f.record(r)
	name := r.PathValue("integration")
	switch name {
	case integrationProxy:
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusBadGateway)
		_, _ = io.WriteString(w, "<html>\n<body>Bad Gateway</body>\n</html>\n")
		return
	case integrationMoved:
		w.Header().Set("Location", "https://ams.example.com/v1/webhooks/moved")
		w.WriteHeader(http.StatusPermanentRedirect)
		return
	case integrationSlow:
		<-r.Context().Done()
		return
	}
	in, ok := f.integrations[name]
	if !ok {
		writeFakeJSON(w, http.StatusNotFound, map[string]string{"error": fmt.Sprintf("no integration named %q is configured", name)})
		return
	}
	if in.source == sourcePagerDuty {
		mac := hmac.New(sha256.New, []byte(in.secret))
		mac.Write(body)
		if !hmac.Equal([]byte(r.Header.Get("X-PagerDuty-Signature")), []byte("v1="+hex.EncodeToString(mac.Sum(nil)))) {
			writeFakeJSON(w, http.StatusUnauthorized, map[string]string{"error": "X-PagerDuty-Signature matches none of the integration's signing secrets"})
			return
		}
	} else if bearer(r) != in.secret {
		w.Header().Set("WWW-Authenticate", `Bearer realm="ams"`)
		writeFakeJSON(w, http.StatusUnauthorized, map[string]string{"error": "missing or invalid credential: send Authorization: Bearer <token>"})
		return
	}
	if name == integrationNotReady {
		w.Header().Set("Retry-After", "5")
		writeFakeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "ingest is not ready to store alerts yet; retry later"})
		return
	}
	var payload struct {
		Alerts []json.RawMessage `json:"alerts"`
		Event  json.RawMessage   `json:"event"`
	}
	if err := json.Unmarshal(body, &payload); err != nil {
		writeFakeJSON(w, http.StatusBadRequest, map[string]string{"error": "invalid JSON: " + err.Error()})
		return
	}
	var event struct {
		EventType string `json:"event_type"`
	}
	// PagerDuty's event is an object; other sources (mackerel) have a string there.
	if json.Unmarshal(payload.Event, &event) == nil && event.EventType == "pagey.ping" {
		writeFakeJSON(w, http.StatusOK, map[string]any{"accepted": 0, "ignored": "ping"})
		return
	}
	n := max(len(payload.Alerts), 1)
	ids, dups := f.store(name, body, n)
	writeFakeJSON(w, http.StatusAccepted, map[string]any{"accepted": len(ids), "duplicates": dups, "alert_ids": ids})
}

func (f *fakeIngest) serveEnqueue(w http.ResponseWriter, r *http.Request) {
	body := f.record(r)
	var ev struct {
		RoutingKey string `json:"routing_key"`
		DedupKey   string `json:"dedup_key"`
	}
	if err := json.Unmarshal(body, &ev); err != nil {
		writeFakeJSON(w, http.StatusBadRequest, map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": []string{err.Error()}})
		return
	}
	for name, in := range f.integrations {
		if in.source == sourcePagerDutyEvents && in.secret == ev.RoutingKey {
			f.store(name, body, 1)
			writeFakeJSON(w, http.StatusAccepted, map[string]any{"status": "success", "message": "Event processed", "dedup_key": ev.DedupKey})
			return
		}
	}
	writeFakeJSON(w, http.StatusBadRequest, map[string]any{"status": "invalid event", "message": "Event object is invalid", "errors": []string{"Invalid routing key"}})
}

func (f *fakeIngest) serveAlertmanagerAPI(w http.ResponseWriter, r *http.Request) {
	body := f.record(r)
	for name, in := range f.integrations {
		if in.source == sourceAlertmanager && in.secret == bearer(r) {
			var alerts []json.RawMessage
			if err := json.Unmarshal(body, &alerts); err != nil {
				writeFakeJSON(w, http.StatusBadRequest, "invalid JSON: "+err.Error())
				return
			}
			f.store(name, body, len(alerts))
			w.WriteHeader(http.StatusOK)
			return
		}
	}
	w.Header().Set("WWW-Authenticate", `Basic realm="ams", charset="UTF-8"`)
	writeFakeJSON(w, http.StatusUnauthorized, "missing or invalid credential: send the token of an alertmanager integration as a bearer token or as the basic-auth password")
}
