package pdevents

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sync"
	"testing"
	"time"

	"github.com/PagerDuty/go-pagerduty"
	"github.com/stretchr/testify/require"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ingest/internal/source"
	"github.com/amsproject/ams/services/ingest/internal/source/sourcetest"
)

const (
	// knownKey is an integration's key in PagerDuty's 32-character form.
	knownKey     = "e93facc04764012d7bfb002500d5d1a6"
	throttledKey = "0000000000000000000000000000beef"
)

// enqueueServer is the smallest /v2/enqueue built from this package, in the
// order the HTTP layer is to use it: RoutingKey, integration lookup,
// Normalize of the redacted body, answer. It keeps what it accepted.
type enqueueServer struct {
	mu     sync.Mutex
	alerts []*amsv1.Alert
}

func (s *enqueueServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost || r.URL.Path != "/v2/enqueue" {
		http.NotFound(w, r)
		return
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		WriteInvalid(w, err)
		return
	}
	key, err := RoutingKey(body)
	if err != nil {
		WriteInvalid(w, err)
		return
	}
	switch key {
	case throttledKey:
		WriteThrottled(w, 30*time.Second)
		return
	case knownKey:
	default:
		WriteUnknownRoutingKey(w)
		return
	}
	alerts, err := source.Normalize(Parser{}, RedactRoutingKey(body), r.Header, sourcetest.Envelope("pdevents"))
	if err != nil {
		WriteInvalid(w, err)
		return
	}
	s.mu.Lock()
	s.alerts = append(s.alerts, alerts...)
	s.mu.Unlock()
	WriteSuccess(w, alerts[0].GetFingerprint())
}

func (s *enqueueServer) stored() []*amsv1.Alert {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*amsv1.Alert(nil), s.alerts...)
}

func startServer(t *testing.T) (*enqueueServer, *httptest.Server) {
	t.Helper()
	s := &enqueueServer{}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	return s, srv
}

func triggerEvent(routingKey, dedupKey string) *pagerduty.V2Event {
	return &pagerduty.V2Event{
		RoutingKey: routingKey,
		Action:     "trigger",
		DedupKey:   dedupKey,
		Client:     "Sample Monitoring Service",
		ClientURL:  "https://monitoring.service.com",
		Links:      []any{map[string]string{"href": "http://pagerduty.example.com", "text": "An example link."}},
		Payload: &pagerduty.V2Payload{
			Summary:   "DISK at 99% on machine prod-datapipe03.example.com",
			Source:    "prod-datapipe03.example.com",
			Severity:  "critical",
			Timestamp: "2015-07-17T08:42:58.315+0000",
			Component: "mysql",
			Group:     "prod-datapipe",
			Class:     "disk",
			Details:   map[string]any{"free space": "1%", "load avg": 0.75},
		},
	}
}

// TestGoPagerDutyClient runs go-pagerduty's Client.ManageEventWithContext,
// pointed at AMS with WithV2EventsAPIEndpoint, through a whole alert life.
func TestGoPagerDutyClient(t *testing.T) {
	s, srv := startServer(t)
	client := pagerduty.NewClient("", pagerduty.WithV2EventsAPIEndpoint(srv.URL))
	ctx := context.Background()

	resp, err := client.ManageEventWithContext(ctx, triggerEvent(knownKey, "srv01/mysql"))
	require.NoError(t, err)
	require.Equal(t, &pagerduty.V2EventResponse{Status: "success", Message: "Event processed", DedupKey: "srv01/mysql"}, resp)

	// A trigger without a dedup_key gets one, which the client then uses.
	resp, err = client.ManageEventWithContext(ctx, triggerEvent(knownKey, ""))
	require.NoError(t, err)
	require.Regexp(t, regexp.MustCompile(`^[0-9a-f]{32}$`), resp.DedupKey)
	generated := resp.DedupKey
	for _, action := range []string{"acknowledge", "resolve"} {
		resp, err = client.ManageEventWithContext(ctx, &pagerduty.V2Event{RoutingKey: knownKey, Action: action, DedupKey: generated})
		require.NoError(t, err, action)
		require.Equal(t, &pagerduty.V2EventResponse{Status: "success", Message: "Event processed", DedupKey: generated}, resp)
	}

	alerts := s.stored()
	require.Len(t, alerts, 4)
	first := alerts[0]
	require.Equal(t, "srv01/mysql", first.GetFingerprint())
	require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_FIRING, first.GetStatus())
	require.Equal(t, amsv1.Severity_SEVERITY_CRITICAL, first.GetSeverity())
	require.Equal(t, "prod-datapipe03.example.com", first.GetResource().GetHost())
	require.Equal(t, map[string]string{"component": "mysql", "group": "prod-datapipe", "class": "disk"}, first.GetLabels())
	require.Equal(t, "1%", first.GetAnnotations()["free space"])
	require.Equal(t, "0.75", first.GetAnnotations()["load avg"])
	require.Len(t, first.GetLinks(), 2)
	require.NotContains(t, string(first.GetRawPayload()), knownKey, "the routing key is a credential and must not be stored")
	var statuses []amsv1.AlertStatus
	for _, a := range alerts[1:] {
		require.Equal(t, generated, a.GetFingerprint())
		statuses = append(statuses, a.GetStatus())
	}
	require.Equal(t, []amsv1.AlertStatus{
		amsv1.AlertStatus_ALERT_STATUS_FIRING,
		amsv1.AlertStatus_ALERT_STATUS_ACKNOWLEDGED,
		amsv1.AlertStatus_ALERT_STATUS_RESOLVED,
	}, statuses)
}

// The Client method reads error bodies as the REST API's {"error": {...}},
// which the Events API (PagerDuty's and AMS's alike) does not send: the
// client reports the status code, with BadRequest/RateLimited semantics
// carried by APIError.StatusCode.
func TestGoPagerDutyClientErrors(t *testing.T) {
	s, srv := startServer(t)
	client := pagerduty.NewClient("", pagerduty.WithV2EventsAPIEndpoint(srv.URL))
	ctx := context.Background()

	invalid := triggerEvent(knownKey, "d")
	invalid.Payload.Severity = "high"
	tests := []struct {
		name      string
		event     *pagerduty.V2Event
		code      int
		temporary bool
	}{
		{"invalid event", invalid, http.StatusBadRequest, false},
		{"acknowledge without dedup_key", &pagerduty.V2Event{RoutingKey: knownKey, Action: "acknowledge"}, http.StatusBadRequest, false},
		{"unknown routing key", triggerEvent("ffffffffffffffffffffffffffffffff", "d"), http.StatusBadRequest, false},
		{"missing routing key", triggerEvent("", "d"), http.StatusBadRequest, false},
		{"throttled", triggerEvent(throttledKey, "d"), http.StatusTooManyRequests, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := client.ManageEventWithContext(ctx, tt.event)
			require.Nil(t, resp)
			var apiErr pagerduty.APIError
			require.True(t, errors.As(err, &apiErr), "error %T: %v", err, err)
			require.Equal(t, tt.code, apiErr.StatusCode)
			require.Equal(t, tt.temporary, apiErr.Temporary())
			require.Equal(t, tt.code == http.StatusTooManyRequests, apiErr.RateLimited())
		})
	}
	require.Empty(t, s.stored())
}

// redirect sends every request to target: the package-level
// pagerduty.ManageEventWithContext has events.pagerduty.com built in.
type redirect struct {
	target *url.URL
	next   http.RoundTripper
}

func (rt redirect) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = rt.target.Scheme, rt.target.Host, rt.target.Host
	return rt.next.RoundTrip(r)
}

// TestGoPagerDutyManageEvent runs the package-level ManageEventWithContext,
// which decodes error bodies as the Events API documents them: it shows
// AMS's 400 and 429 bodies read field for field. It swaps
// http.DefaultClient's transport, so this package's tests do not run in
// parallel.
func TestGoPagerDutyManageEvent(t *testing.T) {
	_, srv := startServer(t)
	target, err := url.Parse(srv.URL)
	require.NoError(t, err)
	old := http.DefaultClient.Transport
	http.DefaultClient.Transport = redirect{target: target, next: srv.Client().Transport}
	t.Cleanup(func() { http.DefaultClient.Transport = old })
	ctx := context.Background()

	resp, err := pagerduty.ManageEventWithContext(ctx, *triggerEvent(knownKey, "srv01/mysql"))
	require.NoError(t, err)
	require.Equal(t, &pagerduty.V2EventResponse{Status: "success", Message: "Event processed", DedupKey: "srv01/mysql"}, resp)

	invalid := triggerEvent(knownKey, "d")
	invalid.Payload.Severity = "high"
	tests := []struct {
		name  string
		event pagerduty.V2Event
		code  int
		want  pagerduty.EventsAPIV2ErrorObject
	}{
		{"invalid event names the field", *invalid, http.StatusBadRequest, pagerduty.EventsAPIV2ErrorObject{
			Status: "invalid event", Message: "Event object is invalid",
			Errors: []string{`payload.severity: "high" is not critical, error, warning or info`},
		}},
		{"unknown routing key", *triggerEvent("ffffffffffffffffffffffffffffffff", "d"), http.StatusBadRequest, pagerduty.EventsAPIV2ErrorObject{
			Status: "invalid event", Message: "Event object is invalid", Errors: []string{"Invalid routing key"},
		}},
		{"resolve without dedup_key", pagerduty.V2Event{RoutingKey: knownKey, Action: "resolve"}, http.StatusBadRequest, pagerduty.EventsAPIV2ErrorObject{
			Status: "invalid event", Message: "Event object is invalid",
			Errors: []string{"dedup_key: missing or blank: resolve names the alert by the dedup_key of its trigger"},
		}},
		{"throttled", *triggerEvent(throttledKey, "d"), http.StatusTooManyRequests, pagerduty.EventsAPIV2ErrorObject{
			Status: "throttled", Message: "Request Limit Exceeded",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, err := pagerduty.ManageEventWithContext(ctx, tt.event)
			require.Nil(t, resp)
			var evErr pagerduty.EventsAPIV2Error
			require.True(t, errors.As(err, &evErr), "error %T: %v", err, err)
			require.Equal(t, tt.code, evErr.StatusCode)
			require.True(t, evErr.APIError.Valid, "the body did not decode as an Events API error object")
			require.Equal(t, tt.want, evErr.APIError.ErrorObject)
			require.Equal(t, tt.code == http.StatusBadRequest, evErr.BadRequest())
			require.Equal(t, tt.code == http.StatusTooManyRequests, evErr.RateLimited())
		})
	}
}

// TestResponses pins the exact bytes and headers of every answer.
func TestResponses(t *testing.T) {
	tests := []struct {
		name       string
		write      func(w http.ResponseWriter)
		code       int
		body       string
		retryAfter string
	}{
		{"success", func(w http.ResponseWriter) { WriteSuccess(w, "srv01/HTTP") }, 202,
			`{"status":"success","message":"Event processed","dedup_key":"srv01/HTTP"}`, ""},
		{"invalid", func(w http.ResponseWriter) {
			WriteInvalid(w, source.FieldErr("payload.summary", "missing or blank"))
		}, 400, `{"status":"invalid event","message":"Event object is invalid","errors":["payload.summary: missing or blank"]}`, ""},
		{"invalid from a plain error", func(w http.ResponseWriter) { WriteInvalid(w, errors.New("read body: unexpected EOF")) }, 400,
			`{"status":"invalid event","message":"Event object is invalid","errors":["read body: unexpected EOF"]}`, ""},
		{"unknown routing key", WriteUnknownRoutingKey, 400,
			`{"status":"invalid event","message":"Event object is invalid","errors":["Invalid routing key"]}`, ""},
		{"throttled", func(w http.ResponseWriter) { WriteThrottled(w, 1500*time.Millisecond) }, 429,
			`{"status":"throttled","message":"Request Limit Exceeded"}`, "2"},
		{"throttled without a hint", func(w http.ResponseWriter) { WriteThrottled(w, 0) }, 429,
			`{"status":"throttled","message":"Request Limit Exceeded"}`, ""},
		{"unavailable", func(w http.ResponseWriter) { WriteUnavailable(w, 5*time.Second) }, 503,
			`{"status":"unavailable","message":"Event could not be stored; retry later"}`, "5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			tt.write(rec)
			require.Equal(t, tt.code, rec.Code)
			require.Equal(t, "application/json", rec.Header().Get("Content-Type"))
			require.Equal(t, tt.retryAfter, rec.Header().Get("Retry-After"))
			require.Equal(t, tt.body+"\n", rec.Body.String())
			var r Response
			require.NoError(t, json.Unmarshal(rec.Body.Bytes(), &r))
		})
	}
}
