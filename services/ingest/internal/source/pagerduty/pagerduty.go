// Package pagerduty reads PagerDuty's v3 webhooks (generic webhook
// subscriptions) into AMS alerts, one alert per incident event, and checks
// their X-PagerDuty-Signature.
//
// A v3 webhook body holds a single event:
//
//	{"event": {"id", "event_type", "resource_type", "occurred_at", "agent",
//	           "client", "data": {...}}}
//
// where data is the incident for the incident events below. The incident id
// is the fingerprint, so every event of one incident updates one AMS alert.
//
// Event types and the status they give (Webhooks v3 overview, "Event Types"):
//
//	incident.triggered               firing
//	incident.acknowledged            acknowledged
//	incident.unacknowledged          firing (the acknowledgement timed out or was undone)
//	incident.reopened                firing
//	incident.resolved                resolved, ends_at = occurred_at
//	incident.escalated               data.status (triggered → firing, acknowledged, resolved)
//	incident.reassigned              data.status
//	incident.delegated               data.status
//	incident.priority_updated        data.status
//	incident.incident_type.changed   data.status
//	incident.service_updated         data.status
//
// The last six change who handles an incident or how urgent it is, not
// whether it is open, so they take the state the incident reports: a
// priority change on an acknowledged incident must not turn it back into
// a firing one. A status PagerDuty might add later counts as firing.
//
// Everything else is answered as *source.Ignored (a 2xx, because PagerDuty
// drops a webhook on any other 4xx and disables the subscription after
// three failures): pagey.ping (the test a new subscription sends), the
// incident events whose data is not the incident (incident.annotated,
// incident.responder.added, incident.responder.replied,
// incident.status_update_published, incident.conference_bridge.updated,
// incident.custom_field_values.updated, incident.workflow.started,
// incident.workflow.completed and the early-access incident.task.* and
// incident.action_invocation.*), the service.* events, and any type PagerDuty
// adds later, until AMS is taught what it means.
//
// Severity comes from the priority when it is one of PagerDuty's default
// P1–P5, else from the urgency (see Severity).
//
// Field types PagerDuty documents are trusted for what identifies the event
// (event.event_type must be a string); the fields only shown to people are
// read leniently (a conference_number sent as a number is kept as its text),
// because a 400 makes PagerDuty drop the event for good.
//
// Sources: https://developer.pagerduty.com/docs/webhooks-overview and
// https://developer.pagerduty.com/docs/verifying-signatures (with "Webhook
// Behavior", in github.com/PagerDuty/developer-docs docs/webhooks/); see
// docs/sources/pagerduty.md.
package pagerduty

import (
	"bytes"
	"encoding/json"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ingest/internal/source"
)

// Ping is the event type of the test PagerDuty sends to a new subscription.
const Ping = "pagey.ping"

// webhook is the body of a v3 webhook delivery.
type webhook struct {
	Event *event `json:"event"`
}

type event struct {
	ID         string `json:"id"`
	EventType  string `json:"event_type"`
	OccurredAt string `json:"occurred_at"`
	Agent      ref    `json:"agent"`
	// Data depends on EventType, so it is decoded once that is known.
	Data json.RawMessage `json:"data"`
}

// incident is event.data for the incident events (data.type "incident").
type incident struct {
	// ID is the fingerprint: unlike the fields shown to people, it must be
	// what PagerDuty documents, a string.
	ID               string           `json:"id"`
	Type             text             `json:"type"`
	HTMLURL          text             `json:"html_url"`
	Number           text             `json:"number"`
	Status           text             `json:"status"`
	IncidentKey      text             `json:"incident_key"`
	CreatedAt        text             `json:"created_at"`
	Title            text             `json:"title"`
	IncidentType     named            `json:"incident_type"`
	Service          ref              `json:"service"`
	Assignees        refs             `json:"assignees"`
	EscalationPolicy ref              `json:"escalation_policy"`
	Teams            refs             `json:"teams"`
	Priority         ref              `json:"priority"`
	Urgency          text             `json:"urgency"`
	ConferenceBridge conferenceBridge `json:"conference_bridge"`
	ResolveReason    resolveReason    `json:"resolve_reason"`
}

// lifecycle are the events that say what state the incident entered.
var lifecycle = map[string]amsv1.AlertStatus{
	"incident.triggered":      amsv1.AlertStatus_ALERT_STATUS_FIRING,
	"incident.acknowledged":   amsv1.AlertStatus_ALERT_STATUS_ACKNOWLEDGED,
	"incident.unacknowledged": amsv1.AlertStatus_ALERT_STATUS_FIRING,
	"incident.reopened":       amsv1.AlertStatus_ALERT_STATUS_FIRING,
	"incident.resolved":       amsv1.AlertStatus_ALERT_STATUS_RESOLVED,
}

// updates carry the incident but change neither its state nor its identity:
// the alert takes data.status.
var updates = map[string]bool{
	"incident.escalated":             true,
	"incident.reassigned":            true,
	"incident.delegated":             true,
	"incident.priority_updated":      true,
	"incident.incident_type.changed": true,
	"incident.service_updated":       true,
}

// noIncident are incident events whose data is a note, a responder request,
// a workflow run..., not the incident: they update nothing AMS tracks.
var noIncident = map[string]bool{
	"incident.annotated":                   true,
	"incident.responder.added":             true,
	"incident.responder.replied":           true,
	"incident.status_update_published":     true,
	"incident.conference_bridge.updated":   true,
	"incident.custom_field_values.updated": true,
	"incident.workflow.started":            true,
	"incident.workflow.completed":          true,
	// Early access (Webhooks "Early Access Webhook Events").
	"incident.action_invocation.created":    true,
	"incident.action_invocation.updated":    true,
	"incident.action_invocation.terminated": true,
	"incident.task.created":                 true,
	"incident.task.updated":                 true,
	"incident.task.completed":               true,
}

// Parser reads PagerDuty v3 webhook deliveries. It does not check the
// signature: the HTTP layer calls VerifySignature first, with the
// integration's secrets, which the parser does not have.
type Parser struct{}

// Parse returns the one alert an incident event carries, a *source.Ignored
// for a ping or an event that carries no incident state, or a *source.Error.
func (Parser) Parse(r source.Request) ([]*amsv1.Alert, error) {
	var wh webhook
	if err := source.DecodeBody(r.Body, &wh); err != nil {
		return nil, err
	}
	ev := wh.Event
	if ev == nil {
		return nil, source.FieldErr("event", `missing: a PagerDuty v3 webhook body is {"event": {...}}`)
	}
	typ := strings.TrimSpace(ev.EventType)
	if typ == "" {
		return nil, source.FieldErr("event.event_type", "missing: want an event type such as incident.triggered")
	}
	status, isLifecycle := lifecycle[typ]
	switch {
	case typ == Ping:
		return nil, &source.Ignored{Reason: "ping"}
	case isLifecycle || updates[typ]:
	case noIncident[typ]:
		return nil, &source.Ignored{Reason: "event type " + typ + " does not change the incident"}
	case strings.HasPrefix(typ, "service."):
		return nil, &source.Ignored{Reason: "event type " + typ + " is about a service, not an incident"}
	default:
		return nil, &source.Ignored{Reason: "event type " + typ + " is not one AMS handles"}
	}

	if len(bytes.TrimSpace(ev.Data)) == 0 || bytes.Equal(bytes.TrimSpace(ev.Data), []byte("null")) {
		return nil, source.FieldErr("event.data", "missing: an %s event carries the incident", typ)
	}
	var inc incident
	if err := source.DecodeElement(ev.Data, "event.data", &inc, false); err != nil {
		return nil, err
	}
	if t := string(inc.Type); t != "" && t != "incident" {
		// PagerDuty documents data.type "incident" for every type above; a
		// different one means the format changed, which a 400 would not fix.
		return nil, &source.Ignored{Reason: "event type " + typ + " carries data.type " + t + ", not an incident"}
	}
	if !isLifecycle {
		status = statusOf(string(inc.Status))
	}

	fp, err := source.CheckFingerprint("event.data.id", inc.ID)
	if err != nil {
		return nil, err
	}
	if fp == "" {
		return nil, source.FieldErr("event.data.id", "missing: the incident id identifies the alert")
	}
	createdAt, err := source.ParseISOTime("event.data.created_at", string(inc.CreatedAt))
	if err != nil {
		return nil, err
	}
	occurredAt, err := source.ParseISOTime("event.occurred_at", ev.OccurredAt)
	if err != nil {
		return nil, err
	}
	dedup, err := dedupKey(r.Header.Get(HeaderWebhookID), ev.ID)
	if err != nil {
		return nil, err
	}
	var endsAt time.Time
	if status == amsv1.AlertStatus_ALERT_STATUS_RESOLVED {
		endsAt = occurredAt
	}
	status, ends := source.Settle(status, endsAt, r.Now)

	summary := string(inc.Title)
	switch {
	case summary != "":
	case inc.Number != "":
		summary = "PagerDuty incident #" + string(inc.Number)
	default:
		summary = "PagerDuty incident " + fp
	}

	labels := map[string]string{}
	set(labels, "pagerduty_service_id", string(inc.Service.ID))
	set(labels, "pagerduty_incident_number", string(inc.Number))
	set(labels, "pagerduty_urgency", string(inc.Urgency))
	set(labels, "pagerduty_priority", string(inc.Priority.Summary))
	set(labels, "pagerduty_escalation_policy", string(inc.EscalationPolicy.Summary))

	annotations := map[string]string{}
	set(annotations, "pagerduty_event_type", typ)
	set(annotations, "pagerduty_event_id", ev.ID)
	set(annotations, "pagerduty_incident_key", string(inc.IncidentKey))
	set(annotations, "pagerduty_incident_type", string(inc.IncidentType.Name))
	set(annotations, "pagerduty_assignees", inc.Assignees.summaries())
	set(annotations, "pagerduty_teams", inc.Teams.summaries())
	set(annotations, "pagerduty_agent", ev.Agent.name())
	set(annotations, "pagerduty_conference_number", string(inc.ConferenceBridge.ConferenceNumber))
	set(annotations, "pagerduty_resolve_reason", string(inc.ResolveReason))
	set(annotations, "pagerduty_webhook_subscription", validUTF8(r.Header.Get(HeaderSubscription)))

	a := &amsv1.Alert{
		Fingerprint: fp,
		Status:      status,
		Severity:    Severity(string(inc.Priority.Summary), string(inc.Urgency)),
		Summary:     summary,
		Labels:      source.NonEmpty(labels),
		Annotations: source.NonEmpty(annotations),
		StartsAt:    source.Timestamp(createdAt),
		EndsAt:      ends,
		DedupKey:    dedup,
	}
	if svc := string(inc.Service.Summary); svc != "" {
		a.Resource = &amsv1.Resource{Service: svc}
	}
	for _, l := range []struct{ url, title string }{
		{string(inc.HTMLURL), "PagerDuty incident"},
		{string(inc.Service.HTMLURL), "PagerDuty service"},
		{string(inc.ConferenceBridge.ConferenceURL), "Conference bridge"},
	} {
		if webURL(l.url) {
			a.Links = append(a.Links, &amsv1.Link{Url: l.url, Title: l.title})
		}
	}
	return []*amsv1.Alert{a}, nil
}

// statusOf maps an incident's data.status.
func statusOf(s string) amsv1.AlertStatus {
	switch strings.ToLower(s) {
	case "acknowledged":
		return amsv1.AlertStatus_ALERT_STATUS_ACKNOWLEDGED
	case "resolved":
		return amsv1.AlertStatus_ALERT_STATUS_RESOLVED
	default: // "triggered", or a state PagerDuty adds: still open
		return amsv1.AlertStatus_ALERT_STATUS_FIRING
	}
}

// Severity maps an incident's priority and urgency. PagerDuty's default
// priorities P1–P5 are set by people or event rules for this very incident,
// so they decide when present:
//
//	P1 → critical, P2 → error, P3 → warning, P4 and P5 → info
//
// Accounts may rename priorities; any other name falls back to the urgency,
// which every incident has and which decides whether PagerDuty pages at
// once:
//
//	high → critical, low → warning, missing or unknown → warning
func Severity(priority, urgency string) amsv1.Severity {
	if s := source.PrioritySeverity(priority); s != amsv1.Severity_SEVERITY_UNSPECIFIED {
		return s
	}
	if strings.EqualFold(strings.TrimSpace(urgency), "high") {
		return amsv1.Severity_SEVERITY_CRITICAL
	}
	return amsv1.Severity_SEVERITY_WARNING
}

// dedupKey is the key of this delivery: X-Webhook-Id, which PagerDuty
// repeats on every retry of one webhook, else the event id, which is as
// stable for a webhook sent to one subscription.
func dedupKey(header, eventID string) (string, error) {
	if k := strings.TrimSpace(header); k != "" {
		// Headers are not covered by the signature and not checked for
		// UTF-8 by net/http; the key is published in a protobuf string.
		k = validUTF8(k)
		if len(k) > source.MaxFingerprint {
			return "", source.FieldErr(HeaderWebhookID+" header", "%d bytes is too long: use at most %d", len(k), source.MaxFingerprint)
		}
		return k, nil
	}
	k := strings.TrimSpace(eventID)
	if len(k) > source.MaxFingerprint {
		return "", source.FieldErr("event.id", "%d bytes is too long: use at most %d", len(k), source.MaxFingerprint)
	}
	return k, nil
}

// webURL reports whether s is an absolute http(s) URL: links end up
// clickable in tickets and chat, where a javascript: URL would run.
func webURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

func set(m map[string]string, k, v string) {
	if v = strings.TrimSpace(v); v != "" {
		m[k] = v
	}
}

func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// text is a field only shown to people. It takes any JSON value: a string
// as it is, null as empty, anything else as its JSON text, so an unexpected
// type (conference_number 1000) is shown rather than rejected.
type text string

func (t *text) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case len(b) == 0 || bytes.Equal(b, []byte("null")):
		*t = ""
	case b[0] == '"':
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*t = text(strings.TrimSpace(s))
	default:
		var c bytes.Buffer
		if err := json.Compact(&c, b); err != nil {
			return err
		}
		// Compact copies string contents byte for byte; unlike decoding, it
		// does not replace invalid UTF-8, which a protobuf string refuses.
		*t = text(validUTF8(c.String()))
	}
	return nil
}

// ref is a PagerDuty reference ({"id", "summary", "html_url", "type"}).
// Anything but an object reads as an empty reference.
type ref struct {
	ID      text `json:"id"`
	Type    text `json:"type"`
	Summary text `json:"summary"`
	HTMLURL text `json:"html_url"`
}

func (r *ref) UnmarshalJSON(b []byte) error {
	*r = ref{}
	type plain ref // without the method, so this does not recurse
	return lenientObject(b, (*plain)(r))
}

// name is how a person would call what the reference points at: its
// summary, else its type and id (a ping's agent has only those).
func (r ref) name() string {
	if r.Summary != "" {
		return string(r.Summary)
	}
	return strings.TrimSpace(string(r.Type) + " " + string(r.ID))
}

// refs is a list of references; anything but an array reads as empty.
type refs []ref

func (rs *refs) UnmarshalJSON(b []byte) error {
	*rs = nil
	if b = bytes.TrimSpace(b); len(b) == 0 || b[0] != '[' {
		return nil
	}
	return json.Unmarshal(b, (*[]ref)(rs))
}

func (rs refs) summaries() string {
	names := make([]string, 0, len(rs))
	for _, r := range rs {
		if n := r.name(); n != "" {
			names = append(names, n)
		}
	}
	return strings.Join(names, ", ")
}

// named is an object with a name (incident_type).
type named struct {
	Name text `json:"name"`
}

func (n *named) UnmarshalJSON(b []byte) error {
	*n = named{}
	type plain named
	return lenientObject(b, (*plain)(n))
}

type conferenceBridge struct {
	ConferenceNumber text `json:"conference_number"`
	ConferenceURL    text `json:"conference_url"`
}

func (c *conferenceBridge) UnmarshalJSON(b []byte) error {
	*c = conferenceBridge{}
	type plain conferenceBridge
	return lenientObject(b, (*plain)(c))
}

// resolveReason is null, a string (v2 webhooks sent "merged") or an object
// whose type names the reason ({"type": "merge_resolve_reason", ...}).
type resolveReason string

func (rr *resolveReason) UnmarshalJSON(b []byte) error {
	if b = bytes.TrimSpace(b); len(b) > 0 && b[0] == '{' {
		var n struct {
			Type text `json:"type"`
		}
		if err := json.Unmarshal(b, &n); err != nil {
			return err
		}
		*rr = resolveReason(n.Type)
		return nil
	}
	var t text
	if err := t.UnmarshalJSON(b); err != nil {
		return err
	}
	*rr = resolveReason(t)
	return nil
}

// lenientObject decodes b into v when it is an object and leaves v zero
// otherwise. v's fields are all lenient, so a valid object never fails.
func lenientObject(b []byte, v any) error {
	if b = bytes.TrimSpace(b); len(b) == 0 || b[0] != '{' {
		return nil
	}
	return json.Unmarshal(b, v)
}
