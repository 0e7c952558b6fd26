package pdevents

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/amsproject/ams/services/ingest/internal/source"
)

// Response is the body of every answer to POST /v2/enqueue, in the shape
// PagerDuty documents for its success and error responses (go-pagerduty
// decodes it as V2EventResponse and EventsAPIV2ErrorObject).
type Response struct {
	Status   string   `json:"status"`
	Message  string   `json:"message"`
	DedupKey string   `json:"dedup_key,omitempty"`
	Errors   []string `json:"errors,omitempty"`
}

// Texts of PagerDuty's documented responses.
const (
	StatusSuccess  = "success"
	MessageSuccess = "Event processed"
	StatusInvalid  = "invalid event"
	MessageInvalid = "Event object is invalid"
	// ErrorUnknownRoutingKey is what PagerDuty puts in errors[] for a key
	// no integration has (observed; the docs show only the length check).
	ErrorUnknownRoutingKey = "Invalid routing key"
	// PagerDuty documents 429 as "Request Limit Exceeded" with an empty
	// body; AMS adds a body in the error shape so a client that decodes
	// every error body (go-pagerduty's ManageEventWithContext) gets a
	// message instead of a JSON error.
	StatusThrottled  = "throttled"
	MessageThrottled = "Request Limit Exceeded"
	// PagerDuty's 5XX body has the same shape; the texts are AMS's own.
	StatusUnavailable  = "unavailable"
	MessageUnavailable = "Event could not be stored; retry later"
)

// WriteSuccess answers 202 with the event's dedup_key, which for a trigger
// sent without one is the key Parse generated (the alert's fingerprint):
// the sender needs it to acknowledge or resolve.
func WriteSuccess(w http.ResponseWriter, dedupKey string) {
	write(w, http.StatusAccepted, Response{Status: StatusSuccess, Message: MessageSuccess, DedupKey: dedupKey})
}

// WriteInvalid answers 400 for an event Parse or RoutingKey refused. A
// *source.Error names the field ("payload.severity: \"high\" is not ...");
// that message is the one entry of errors[]. PagerDuty does not retry a
// 400, and neither should the sender: the same event will fail again.
func WriteInvalid(w http.ResponseWriter, err error) {
	msg := "invalid event"
	if se := (*source.Error)(nil); errors.As(err, &se) {
		msg = se.Error()
	} else if err != nil {
		msg = err.Error()
	}
	write(w, http.StatusBadRequest, Response{Status: StatusInvalid, Message: MessageInvalid, Errors: []string{msg}})
}

// WriteUnknownRoutingKey answers a well-formed key that no integration
// has. PagerDuty answers it as an invalid event (400), not 401 or 404, and
// senders treat it as final, which it is until the key is configured.
func WriteUnknownRoutingKey(w http.ResponseWriter) {
	write(w, http.StatusBadRequest, Response{Status: StatusInvalid, Message: MessageInvalid, Errors: []string{ErrorUnknownRoutingKey}})
}

// WriteThrottled answers 429, which PagerDuty's docs tell senders to retry
// after a while; retryAfter, if positive, is sent as Retry-After seconds.
func WriteThrottled(w http.ResponseWriter, retryAfter time.Duration) {
	retry(w, retryAfter)
	write(w, http.StatusTooManyRequests, Response{Status: StatusThrottled, Message: MessageThrottled})
}

// WriteUnavailable answers 503 when the alert could not be stored; senders
// retry 5XX answers, as PagerDuty's docs tell them to.
func WriteUnavailable(w http.ResponseWriter, retryAfter time.Duration) {
	retry(w, retryAfter)
	write(w, http.StatusServiceUnavailable, Response{Status: StatusUnavailable, Message: MessageUnavailable})
}

func retry(w http.ResponseWriter, after time.Duration) {
	if after > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((after+time.Second-1)/time.Second)))
	}
}

// write sends a JSON body. Content-Type matters: go-pagerduty's Client
// decodes an error body only when it is declared application/json.
func write(w http.ResponseWriter, code int, r Response) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	// The status is sent; a failed write means the client has gone.
	_ = json.NewEncoder(w).Encode(r)
}
