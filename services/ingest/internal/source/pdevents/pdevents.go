// Package pdevents makes AMS a drop-in target for PagerDuty's Events API v2
// (POST /v2/enqueue): any tool that can page PagerDuty (Alertmanager,
// Grafana, Zabbix, go-pagerduty, pdpyras...) can send its alert events to
// AMS by changing the URL, with the integration's key as routing_key.
//
// It holds the three pieces the HTTP layer needs: RoutingKey reads the key
// before anything else is trusted; Parser turns an event into an alert; and
// the Write* functions answer in PagerDuty's own status codes and bodies,
// so senders read AMS's answers exactly as they read PagerDuty's.
//
// Only alert events are handled. Change events (POST /v2/change/enqueue)
// create no alert in PagerDuty either and are out of scope; one sent here
// fails for lack of event_action.
//
// Mapping (alert event fields of "Send an Alert Event"):
//
//	dedup_key            fingerprint (generated for a trigger without one, and returned)
//	event_action         trigger → firing, acknowledge → acknowledged, resolve → resolved
//	payload.severity     critical, error, warning, info → the same severity
//	payload.summary      summary
//	payload.source       resource.host
//	payload.timestamp    starts_at (the time AMS received the event when absent,
//	                     as PagerDuty does); a resolve also ends at that time
//	payload.component    label component
//	payload.group        label group
//	payload.class        label class
//	payload.custom_details  annotations, flattened (see Details)
//	links[], images[], client_url  links
//	client               annotation pagerduty_client
//
// Like PagerDuty, only a trigger must carry a payload: acknowledge and
// resolve name the alert by dedup_key alone, and whatever else they carry
// (Alertmanager sends the whole payload with a resolve) is used when it
// reads and otherwise ignored, as PagerDuty ignores it.
//
// Sources: https://developer.pagerduty.com/docs/events-api-v2/trigger-events/,
// https://developer.pagerduty.com/docs/events-api-v2/overview/, the Events
// API v2 OpenAPI (github.com/PagerDuty/api-schema,
// reference/events-v2/openapiv3.json) and go-pagerduty v1.8.0
// (event_v2.go); see docs/sources/pagerduty-events.md.
package pdevents

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ingest/internal/source"
)

// Limits PagerDuty documents for an alert event.
const (
	// MaxSummary is payload.summary's limit, in characters.
	MaxSummary = 1024
	// MaxDedupKey is dedup_key's limit, in characters.
	MaxDedupKey = 255
)

// MaxLinks caps the links taken from links[], images[] and client_url
// together: PagerDuty sets no number, and every link is copied into each
// ticket and message about the alert.
const MaxLinks = 20

// Event actions.
const (
	ActionTrigger     = "trigger"
	ActionAcknowledge = "acknowledge"
	ActionResolve     = "resolve"
)

// enqueue is the request body of POST /v2/enqueue. The fields PagerDuty
// only reads on a trigger are kept raw and decoded for triggers alone, so a
// resolve is never refused for a field PagerDuty would not look at.
type enqueue struct {
	RoutingKey  string          `json:"routing_key"`
	EventAction string          `json:"event_action"`
	DedupKey    string          `json:"dedup_key"`
	Payload     json.RawMessage `json:"payload"`
	Images      json.RawMessage `json:"images"`
	Links       json.RawMessage `json:"links"`
	Client      json.RawMessage `json:"client"`
	ClientURL   json.RawMessage `json:"client_url"`
}

type payload struct {
	Summary       string          `json:"summary"`
	Source        string          `json:"source"`
	Severity      string          `json:"severity"`
	Timestamp     string          `json:"timestamp"`
	Component     string          `json:"component"`
	Group         string          `json:"group"`
	Class         string          `json:"class"`
	CustomDetails json.RawMessage `json:"custom_details"`
}

type link struct {
	Href string `json:"href"`
	Text string `json:"text"`
}

type image struct {
	Src  string `json:"src"`
	Href string `json:"href"`
	Alt  string `json:"alt"`
}

// RoutingKey reads routing_key, the only field the HTTP layer needs before
// it knows which integration (and so which tenant) a request is for. It
// returns a *source.Error when the body is not a JSON object or has no key;
// the key is returned exactly as sent, for the integration lookup.
func RoutingKey(body []byte) (string, error) {
	var in struct {
		RoutingKey string `json:"routing_key"`
	}
	if err := source.DecodeBody(body, &in); err != nil {
		return "", err
	}
	if strings.TrimSpace(in.RoutingKey) == "" {
		return "", source.FieldErr("routing_key", "missing or blank: send the integration key of an AMS integration")
	}
	return in.RoutingKey, nil
}

// RedactRoutingKey returns body with the value of every top-level
// routing_key replaced by "[REDACTED]", keeping the rest byte for byte. The
// routing key is the integration's credential, and the body handed to
// source.Normalize is kept on every alert as raw_payload, where whoever
// reads alerts and tickets would see it. The HTTP layer calls it after the
// integration lookup; Parse still sees a routing_key. A body that is not a
// JSON object is returned as it is (Parse refuses it anyway).
func RedactRoutingKey(body []byte) []byte {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return body
	}
	var out []byte
	last := 0
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return body
		}
		afterKey := int(dec.InputOffset())
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return body
		}
		end := int(dec.InputOffset())
		// encoding/json matches field names case-insensitively, so
		// "Routing_Key" is a routing_key to RoutingKey and Parse too.
		if key, _ := tok.(string); !strings.EqualFold(key, "routing_key") || len(raw) == 0 || raw[0] != '"' {
			continue
		}
		start := afterKey + bytes.IndexByte(body[afterKey:end], '"')
		out = append(out, body[last:start]...)
		out = append(out, `"[REDACTED]"`...)
		last = end
	}
	if out == nil {
		return body
	}
	return append(out, body[last:]...)
}

// Parser reads Events API v2 alert events.
type Parser struct {
	// NewDedupKey makes the key of a trigger sent without one. Nil means a
	// random UUID as 32 hex digits; tests inject a fixed one.
	NewDedupKey func() string
}

// Parse returns the alert of one event, or a *source.Error whose message
// names the field to fix; it goes into the 400's errors[] (see
// WriteInvalid). The alert's fingerprint is the dedup_key to return in the
// 202 (see WriteSuccess).
func (p Parser) Parse(r source.Request) ([]*amsv1.Alert, error) {
	var in enqueue
	if err := source.DecodeBody(r.Body, &in); err != nil {
		return nil, err
	}
	if strings.TrimSpace(in.RoutingKey) == "" {
		return nil, source.FieldErr("routing_key", "missing or blank: send the integration key of an AMS integration")
	}

	var status amsv1.AlertStatus
	switch in.EventAction {
	case ActionTrigger:
		status = amsv1.AlertStatus_ALERT_STATUS_FIRING
	case ActionAcknowledge:
		status = amsv1.AlertStatus_ALERT_STATUS_ACKNOWLEDGED
	case ActionResolve:
		status = amsv1.AlertStatus_ALERT_STATUS_RESOLVED
	case "":
		return nil, source.FieldErr("event_action", "missing or blank: want trigger, acknowledge or resolve")
	default:
		return nil, source.FieldErr("event_action", "%q is not trigger, acknowledge or resolve", in.EventAction)
	}

	key := in.DedupKey
	switch {
	case strings.TrimSpace(key) != "":
		if n := utf8.RuneCountInString(key); n > MaxDedupKey {
			return nil, source.FieldErr("dedup_key", "%d characters is too long: PagerDuty allows at most %d", n, MaxDedupKey)
		}
		if len(key) > source.MaxFingerprint {
			return nil, source.FieldErr("dedup_key", "%d bytes is too long: use at most %d", len(key), source.MaxFingerprint)
		}
	case status != amsv1.AlertStatus_ALERT_STATUS_FIRING:
		return nil, source.FieldErr("dedup_key", "missing or blank: %s names the alert by the dedup_key of its trigger", in.EventAction)
	default:
		key = p.newDedupKey()
	}

	a := &amsv1.Alert{Fingerprint: key, Status: status}
	if status == amsv1.AlertStatus_ALERT_STATUS_FIRING {
		if err := trigger(a, &in); err != nil {
			return nil, err
		}
	} else {
		followUp(a, &in)
	}
	// payload.timestamp is when the sender generated the event, and
	// PagerDuty fills in the time it received the event when it is absent;
	// so does AMS. The time matters beyond display: without it a resolve,
	// a new trigger and a second resolve of one dedup_key within ingest's
	// duplicate window would give the second resolve the idempotency key of
	// the first (publish.MsgID), and it would be dropped as a re-send. The
	// price is that a sender retrying an event without a timestamp stores
	// it twice, which repeats a state and loses nothing.
	at := r.Now
	if a.StartsAt != nil {
		at = a.StartsAt.AsTime()
	} else {
		a.StartsAt = source.Timestamp(at)
	}
	// A resolve ends the alert at its event time. Only a resolve: Settle
	// would take an end time on a trigger for an expiry that has passed.
	var endsAt time.Time
	if a.Status == amsv1.AlertStatus_ALERT_STATUS_RESOLVED {
		endsAt = at
	}
	a.Status, a.EndsAt = source.Settle(a.Status, endsAt, r.Now)
	return []*amsv1.Alert{a}, nil
}

func (p Parser) newDedupKey() string {
	if p.NewDedupKey != nil {
		return p.NewDedupKey()
	}
	// PagerDuty answers a trigger without a dedup_key with a generated
	// UUID; the sender must keep it to acknowledge or resolve later.
	return strings.ReplaceAll(uuid.NewString(), "-", "")
}

// trigger fills a from a trigger event, checking what PagerDuty requires.
func trigger(a *amsv1.Alert, in *enqueue) error {
	if isNull(in.Payload) {
		return source.FieldErr("payload", "missing: a trigger needs payload.summary, payload.source and payload.severity")
	}
	var pl payload
	if err := source.DecodeElement(in.Payload, "payload", &pl, false); err != nil {
		return err
	}
	summary := strings.TrimSpace(pl.Summary)
	switch n := utf8.RuneCountInString(summary); {
	case n == 0:
		return source.FieldErr("payload.summary", "missing or blank: give a brief text summary of the event")
	case n > MaxSummary:
		return source.FieldErr("payload.summary", "%d characters is too long: PagerDuty allows at most %d", n, MaxSummary)
	}
	if strings.TrimSpace(pl.Source) == "" {
		return source.FieldErr("payload.source", "missing or blank: give the affected system, preferably a hostname or FQDN")
	}
	sev, ok := severity(pl.Severity)
	if !ok {
		if pl.Severity == "" {
			return source.FieldErr("payload.severity", "missing or blank: want critical, error, warning or info")
		}
		return source.FieldErr("payload.severity", "%q is not critical, error, warning or info", pl.Severity)
	}
	ts, err := source.ParseISOTime("payload.timestamp", pl.Timestamp)
	if err != nil {
		return err
	}
	fill(a, &pl, sev, ts)

	var client string
	if !isNull(in.Client) {
		if err := source.DecodeElement(in.Client, "client", &client, false); err != nil {
			return err
		}
		set(a.Annotations, "pagerduty_client", client)
	}
	links, err := contextLinks(in, client)
	if err != nil {
		return err
	}
	a.Links = links
	a.Annotations = source.NonEmpty(a.Annotations)
	return nil
}

// followUp fills a from an acknowledge or resolve. PagerDuty reads only
// dedup_key from these, so a payload that does not read is dropped rather
// than refused.
func followUp(a *amsv1.Alert, in *enqueue) {
	verb := "Acknowledged"
	if a.Status == amsv1.AlertStatus_ALERT_STATUS_RESOLVED {
		verb = "Resolved"
	}
	var pl payload
	if isNull(in.Payload) || json.Unmarshal(in.Payload, &pl) != nil {
		pl = payload{}
	}
	// A follow-up has no severity of its own; consumers keep the
	// trigger's. WARNING is AMS's default that pages no one on its own.
	sev, ok := severity(pl.Severity)
	if !ok {
		sev = amsv1.Severity_SEVERITY_WARNING
	}
	ts, err := source.ParseISOTime("", pl.Timestamp)
	if err != nil {
		ts = time.Time{}
	}
	pl.Summary = strings.TrimSpace(pl.Summary)
	if pl.Summary == "" || utf8.RuneCountInString(pl.Summary) > MaxSummary {
		pl.Summary = verb + " " + a.Fingerprint
	}
	fill(a, &pl, sev, ts)
	a.Annotations = source.NonEmpty(a.Annotations)
}

// fill copies the PD-CEF fields of a payload onto a.
func fill(a *amsv1.Alert, pl *payload, sev amsv1.Severity, ts time.Time) {
	a.Severity = sev
	a.Summary = strings.TrimSpace(pl.Summary)
	a.StartsAt = source.Timestamp(ts)
	labels := map[string]string{}
	set(labels, "component", pl.Component)
	set(labels, "group", pl.Group)
	set(labels, "class", pl.Class)
	a.Labels = source.NonEmpty(labels)
	if host := strings.TrimSpace(pl.Source); host != "" {
		a.Resource = &amsv1.Resource{Host: host}
	}
	a.Annotations = Details(pl.CustomDetails)
	if a.Annotations == nil {
		a.Annotations = map[string]string{}
	}
}

// severity maps payload.severity, which PagerDuty defines as exactly these
// four lower-case words, one to one onto AMS's.
func severity(s string) (amsv1.Severity, bool) {
	switch s {
	case "critical":
		return amsv1.Severity_SEVERITY_CRITICAL, true
	case "error":
		return amsv1.Severity_SEVERITY_ERROR, true
	case "warning":
		return amsv1.Severity_SEVERITY_WARNING, true
	case "info":
		return amsv1.Severity_SEVERITY_INFO, true
	default:
		return amsv1.Severity_SEVERITY_UNSPECIFIED, false
	}
}

// contextLinks reads links[], images[] and client_url of a trigger, in that
// order, keeping at most MaxLinks.
func contextLinks(in *enqueue, client string) ([]*amsv1.Link, error) {
	var out []*amsv1.Link
	add := func(u, title string) {
		if len(out) < MaxLinks {
			out = append(out, &amsv1.Link{Url: u, Title: title})
		}
	}
	if !isNull(in.Links) {
		var links []link
		if err := source.DecodeElement(in.Links, "links", &links, false); err != nil {
			return nil, err
		}
		for i, l := range links {
			u, err := webURL(fmt.Sprintf("links[%d].href", i), l.Href)
			if err != nil {
				return nil, err
			}
			add(u, firstNonBlank(l.Text, "Link"))
		}
	}
	if !isNull(in.Images) {
		var images []image
		if err := source.DecodeElement(in.Images, "images", &images, false); err != nil {
			return nil, err
		}
		for i, im := range images {
			src, err := webURL(fmt.Sprintf("images[%d].src", i), im.Src)
			if err != nil {
				return nil, err
			}
			// The image is shown in PagerDuty; in a ticket the page it
			// links to (href) is what a reader wants, else the image.
			if strings.TrimSpace(im.Href) != "" {
				if src, err = webURL(fmt.Sprintf("images[%d].href", i), im.Href); err != nil {
					return nil, err
				}
			}
			add(src, firstNonBlank(im.Alt, "Image"))
		}
	}
	if !isNull(in.ClientURL) {
		var cu string
		if err := source.DecodeElement(in.ClientURL, "client_url", &cu, false); err != nil {
			return nil, err
		}
		if strings.TrimSpace(cu) != "" {
			u, err := webURL("client_url", cu)
			if err != nil {
				return nil, err
			}
			add(u, firstNonBlank(client, "Client"))
		}
	}
	return out, nil
}

// webURL requires an absolute http(s) URL: links end up clickable in
// tickets and chat, where a javascript: URL would run.
func webURL(path, s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", source.FieldErr(path, "missing: PagerDuty requires it")
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", source.FieldErr(path, "%q is not an absolute http(s) URL such as https://grafana.example.com/d/abc", s)
	}
	return s, nil
}

// Caps on what custom_details adds to an alert. The details stay whole in
// the raw payload (up to source.MaxRawPayload); annotations are copied into
// every message about the alert, so they are kept small.
const (
	MaxDetails          = 64
	MaxDetailKeyBytes   = 128
	MaxDetailValueBytes = 1024
	MaxDetailsBytes     = 16 << 10
)

// TruncatedAnnotation is set to "true" when custom_details did not fit.
const TruncatedAnnotation = "pagerduty_custom_details_truncated"

// Details flattens payload.custom_details, which PagerDuty accepts as any
// JSON value, into annotations: object keys joined with dots, array indexes
// in brackets ({"db": {"hosts": ["a"]}} → "db.hosts[0]": "a"), numbers,
// booleans and null as their JSON text, and a bare scalar under
// "custom_details". Keys are visited in sorted order, so the same details
// always give the same annotations; past the caps (MaxDetails entries,
// MaxDetailKeyBytes per key, MaxDetailsBytes in all) entries are dropped,
// longer values are cut to MaxDetailValueBytes, and TruncatedAnnotation
// says so.
func Details(raw json.RawMessage) map[string]string {
	if isNull(raw) {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber() // keep 12345678901234567890 as sent, not as 1.2345678901234567e+19
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil
	}
	f := flattener{out: map[string]string{}}
	f.walk("", v)
	if f.truncated {
		f.out[TruncatedAnnotation] = "true"
	}
	return source.NonEmpty(f.out)
}

type flattener struct {
	out       map[string]string
	size      int
	truncated bool
}

func (f *flattener) walk(path string, v any) {
	switch x := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			name := k
			if name == "" {
				name = "_" // an empty name would make an annotation without a key
			}
			f.walk(source.JoinPath(path, name), x[k])
		}
		if len(x) == 0 && path != "" {
			f.add(path, "{}")
		}
	case []any:
		for i, e := range x {
			f.walk(path+"["+strconv.Itoa(i)+"]", e)
		}
		if len(x) == 0 {
			f.add(path, "[]")
		}
	case string:
		f.add(path, x)
	case json.Number:
		f.add(path, x.String())
	case bool:
		f.add(path, strconv.FormatBool(x))
	case nil:
		f.add(path, "null")
	}
}

func (f *flattener) add(key, val string) {
	if key == "" {
		key = "custom_details"
	}
	if len(f.out) >= MaxDetails || len(key) > MaxDetailKeyBytes {
		f.truncated = true
		return
	}
	if len(val) > MaxDetailValueBytes {
		val = cut(val, MaxDetailValueBytes)
		f.truncated = true
	}
	if f.size+len(key)+len(val) > MaxDetailsBytes {
		f.truncated = true
		return
	}
	f.size += len(key) + len(val)
	f.out[key] = val
}

// cut shortens s to at most n bytes without splitting a UTF-8 sequence, so
// the result still marshals as a protobuf string.
func cut(s string, n int) string {
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

func set(m map[string]string, k, v string) {
	if v = strings.TrimSpace(v); v != "" {
		m[k] = v
	}
}

func firstNonBlank(s, fallback string) string {
	if s = strings.TrimSpace(s); s != "" {
		return s
	}
	return fallback
}
