// Package datadog parses what Datadog's Webhooks integration sends when it
// is set up with the payload template AMS ships,
// deploy/integrations/datadog/webhook-payload.json. Datadog has no fixed
// webhook body: the user pastes a JSON template and Datadog substitutes its
// $VARIABLES as text (JSON-escaped) before posting. The template keeps the
// field names of Datadog's default payload (id, date, last_updated,
// event_type, title, org) and adds the monitor variables AMS needs.
//
// Each request is one monitor notification and becomes one alert.
//
// Status, from $ALERT_TRANSITION (matched case-insensitively, ignoring
// spaces and hyphens):
//
//	Recovered                               resolved, ends_at = $DATE
//	Triggered, Warn, No Data                firing, starts_at = $DATE
//	Re-Triggered, Re-Warn, Re-No Data,      firing; starts_at unset, because
//	Renotify                                $DATE is the reminder's time
//	anything else                           firing
//
// An unknown transition counts as firing rather than being rejected:
// Datadog does not retry a 4xx, so a 400 would lose the notification.
//
// Severity, from the monitor's $ALERT_PRIORITY when it is set:
//
//	P1 CRITICAL, P2 ERROR, P3 WARNING, P4 and P5 INFO
//
// else from $ALERT_TYPE: error ERROR, warning WARNING, info and success
// (a recovery) INFO, anything else WARNING. A Warn or Re-Warn transition is
// capped at WARNING: the monitor crossed its warning threshold only, even on
// a P1 monitor.
//
// Fingerprint: a hash of the org id, the monitor id ($ALERT_ID) and the
// monitor group ($ALERT_SCOPE, tags sorted), so a trigger and its recovery
// match and each group of a multi-alert monitor (each host) is its own
// alert. Without a monitor id, the hash of the org id and $AGGREG_KEY.
//
// A notification that is not about a monitor (no $ALERT_ID, $AGGREG_KEY or
// $ALERT_TRANSITION, but an event id or type) is answered with
// *source.Ignored. A variable Datadog left unsubstituted ("$ALERT_PRIORITY")
// counts as empty.
//
// Sources: https://docs.datadoghq.com/integrations/webhooks/ (variables and
// the default payload).
package datadog

import (
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ingest/internal/source"
)

// Template is where the payload template lives in the repository, named in
// error messages so a sender knows what to paste.
const Template = "deploy/integrations/datadog/webhook-payload.json"

// message is the body the AMS template produces. Every field is a string
// because Datadog substitutes variables as text inside the quoted template.
// Body is not in the template; it is read so that Datadog's default payload
// ("body": "$EVENT_MSG") still gives a description.
type message struct {
	ID              string `json:"id"`
	Date            string `json:"date"`
	LastUpdated     string `json:"last_updated"`
	EventType       string `json:"event_type"`
	Title           string `json:"title"`
	TextOnlyMsg     string `json:"text_only_msg"`
	Body            string `json:"body"`
	Link            string `json:"link"`
	Snapshot        string `json:"snapshot"`
	Hostname        string `json:"hostname"`
	Tags            string `json:"tags"`
	AggregKey       string `json:"aggreg_key"`
	AlertID         string `json:"alert_id"`
	AlertCycleKey   string `json:"alert_cycle_key"`
	AlertTransition string `json:"alert_transition"`
	AlertType       string `json:"alert_type"`
	AlertPriority   string `json:"alert_priority"`
	AlertTitle      string `json:"alert_title"`
	AlertStatus     string `json:"alert_status"`
	AlertScope      string `json:"alert_scope"`
	AlertMetric     string `json:"alert_metric"`
	AlertQuery      string `json:"alert_query"`
	Org             org    `json:"org"`
}

type org struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// Parser reads Datadog webhooks made with the AMS payload template.
type Parser struct{}

// Parse returns the one alert a monitor notification carries.
func (Parser) Parse(r source.Request) ([]*amsv1.Alert, error) {
	var m message
	if err := source.DecodeBody(r.Body, &m); err != nil {
		return nil, err
	}
	m.clean()
	if err := m.check(); err != nil {
		return nil, err
	}
	a, err := m.normalise(r.Now)
	if err != nil {
		return nil, err
	}
	return []*amsv1.Alert{a}, nil
}

// unsubstituted matches a variable Datadog left as written, which it does
// for variables that do not apply to the notification.
var unsubstituted = regexp.MustCompile(`^\$[A-Z][A-Z0-9_]*(\[[^\]]*\])?$`)

// clean trims every field and blanks the ones Datadog did not substitute.
func (m *message) clean() {
	for _, f := range []*string{
		&m.ID, &m.Date, &m.LastUpdated, &m.EventType, &m.Title, &m.TextOnlyMsg, &m.Body,
		&m.Link, &m.Snapshot, &m.Hostname, &m.Tags, &m.AggregKey, &m.AlertID,
		&m.AlertCycleKey, &m.AlertTransition, &m.AlertType, &m.AlertPriority,
		&m.AlertTitle, &m.AlertStatus, &m.AlertScope, &m.AlertMetric, &m.AlertQuery,
		&m.Org.ID, &m.Org.Name,
	} {
		*f = strings.TrimSpace(*f)
		if unsubstituted.MatchString(*f) {
			*f = ""
		}
	}
	if strings.EqualFold(m.AlertTransition, "null") {
		// The docs list "Null" among the transitions: a notification that
		// is no monitor state change.
		m.AlertTransition = ""
	}
}

// check rejects a body that is not from the AMS template, and ignores a
// Datadog notification that carries no monitor alert.
func (m *message) check() error {
	monitor := m.AlertID != "" || m.AggregKey != ""
	switch {
	case m.AlertTransition == "" && !monitor && (m.ID != "" || m.EventType != ""):
		return &source.Ignored{Reason: "Datadog event " + strconv.Quote(firstNonBlank(m.EventType, m.ID)) + " is not a monitor notification"}
	case m.AlertTransition == "":
		return source.FieldErr("alert_transition", `missing: send "$ALERT_TRANSITION" (use the payload template %s)`, Template)
	case !monitor:
		return source.FieldErr("alert_id", `missing: send "$ALERT_ID" and "$AGGREG_KEY" (use the payload template %s)`, Template)
	}
	return nil
}

func (m *message) normalise(now time.Time) (*amsv1.Alert, error) {
	at, err := m.time()
	if err != nil {
		return nil, err
	}
	// $ID names this very notification; Datadog re-sends it unchanged.
	dedup, err := source.CheckFingerprint("id", m.ID)
	if err != nil {
		return nil, err
	}
	tr := parseTransition(m.AlertTransition)
	var startsAt, endsAt time.Time
	switch {
	case tr.status == amsv1.AlertStatus_ALERT_STATUS_RESOLVED:
		endsAt = at
	case !tr.renotify:
		startsAt = at
	}
	status, ends := source.Settle(tr.status, endsAt, now)

	tags := parseTags(m.Tags)
	labels := make(map[string]string, len(tags)+1)
	for k, v := range tags {
		labels[k] = v
	}
	if m.AlertID != "" {
		labels["datadog_monitor_id"] = m.AlertID
	}

	return &amsv1.Alert{
		Fingerprint: m.fingerprint(),
		Status:      status,
		Severity:    Severity(m.AlertPriority, m.AlertType, tr.warn),
		Summary:     m.summary(),
		Description: firstNonBlank(m.TextOnlyMsg, m.Body),
		Labels:      source.NonEmpty(labels),
		Annotations: source.NonEmpty(m.annotations()),
		Resource:    resource(m.Hostname, tags),
		Links:       m.links(),
		StartsAt:    source.Timestamp(startsAt),
		EndsAt:      ends,
		DedupKey:    dedup,
	}, nil
}

// time is when the notification's event happened: $DATE, else $LAST_UPDATED.
func (m *message) time() (time.Time, error) {
	at, err := unixTime("date", m.Date, "$DATE")
	if err != nil || !at.IsZero() {
		return at, err
	}
	return unixTime("last_updated", m.LastUpdated, "$LAST_UPDATED")
}

// fingerprint identifies the monitor group; see the package comment.
func (m *message) fingerprint() string {
	if m.AlertID != "" {
		return source.HashParts("monitor", m.Org.ID, m.AlertID, normaliseScope(m.AlertScope))
	}
	return source.HashParts("aggreg_key", m.Org.ID, m.AggregKey)
}

func (m *message) summary() string {
	if s := firstNonBlank(m.Title, m.AlertTitle); s != "" {
		return s
	}
	if m.AlertID != "" {
		return "Datadog monitor " + m.AlertID + " " + m.AlertTransition
	}
	return "Datadog alert " + m.AggregKey + " " + m.AlertTransition
}

// annotations keeps the template fields that have no Alert field of their
// own, under their template names.
func (m *message) annotations() map[string]string {
	out := map[string]string{}
	for k, v := range map[string]string{
		"alert_transition": m.AlertTransition,
		"alert_type":       m.AlertType,
		"alert_priority":   m.AlertPriority,
		"alert_status":     m.AlertStatus,
		"alert_scope":      m.AlertScope,
		"alert_metric":     m.AlertMetric,
		"alert_query":      m.AlertQuery,
		"alert_cycle_key":  m.AlertCycleKey,
		"aggreg_key":       m.AggregKey,
		"event_type":       m.EventType,
		"org_id":           m.Org.ID,
		"org_name":         m.Org.Name,
	} {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

func (m *message) links() []*amsv1.Link {
	var links []*amsv1.Link
	for _, l := range []struct{ url, title string }{
		{m.Link, "Datadog event"},
		{monitorURL(m.Link, m.AlertID), "Datadog monitor"},
		{m.Snapshot, "Graph snapshot"},
	} {
		if l.url != "" {
			links = append(links, &amsv1.Link{Url: l.url, Title: l.title})
		}
	}
	return links
}

// monitorURL builds the monitor's page on the same Datadog site as the
// event link ($LINK is https://app.datadoghq.eu/event/... on the EU site),
// because the site is not a variable of its own.
func monitorURL(eventLink, monitorID string) string {
	if monitorID == "" || strings.Trim(monitorID, "0123456789") != "" {
		return ""
	}
	u, err := url.Parse(eventLink)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	return u.Scheme + "://" + u.Host + "/monitors/" + monitorID
}

// transition is what a $ALERT_TRANSITION value says.
type transition struct {
	status amsv1.AlertStatus
	// warn: the monitor crossed its warning threshold, not its alert one.
	warn bool
	// renotify: a reminder of a state the monitor was already in.
	renotify bool
}

func parseTransition(s string) transition {
	firing := amsv1.AlertStatus_ALERT_STATUS_FIRING
	switch strings.ToLower(strings.NewReplacer(" ", "", "-", "", "_", "").Replace(s)) {
	case "recovered":
		return transition{status: amsv1.AlertStatus_ALERT_STATUS_RESOLVED}
	case "warn":
		return transition{status: firing, warn: true}
	case "rewarn":
		return transition{status: firing, warn: true, renotify: true}
	case "retriggered", "renodata", "renotify":
		return transition{status: firing, renotify: true}
	default: // "triggered", "nodata", or one Datadog added later
		return transition{status: firing}
	}
}

// Severity maps a monitor priority (P1–P5), else the alert type; warn caps
// the result at WARNING. See the package comment.
func Severity(priority, alertType string, warn bool) amsv1.Severity {
	sev := source.PrioritySeverity(priority)
	if sev == amsv1.Severity_SEVERITY_UNSPECIFIED {
		sev = typeSeverity(alertType)
	}
	if warn && sev > amsv1.Severity_SEVERITY_WARNING {
		sev = amsv1.Severity_SEVERITY_WARNING
	}
	return sev
}

func typeSeverity(t string) amsv1.Severity {
	switch strings.ToLower(strings.TrimSpace(t)) {
	case "error":
		return amsv1.Severity_SEVERITY_ERROR
	case "info", "success":
		return amsv1.Severity_SEVERITY_INFO
	default: // "warning", missing, or anything else
		return amsv1.Severity_SEVERITY_WARNING
	}
}

// unixTime reads an epoch time Datadog substitutes as text: milliseconds
// ($DATE, $LAST_UPDATED) or seconds ($DATE_POSIX). Values from 1e11 up are
// milliseconds; as seconds they would lie past the year 5000. Zero is unset.
func unixTime(path, s, variable string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return time.Time{}, source.FieldErr(path, `%q is not a Unix time in milliseconds such as 1406662672000: send "%s"`, s, variable)
	}
	if n == 0 {
		return time.Time{}, nil
	}
	t := time.Unix(n, 0)
	if n >= 1e11 {
		t = time.UnixMilli(n)
	}
	if t.Year() > 9999 {
		return time.Time{}, source.FieldErr(path, `%q is after the year 9999: send "%s", a Unix time in milliseconds`, s, variable)
	}
	return t.UTC(), nil
}

// parseTags reads $TAGS: "key:value" tags separated by commas ("env:prod,
// role:db, monitor"). A tag without a value keeps an empty value; a key
// given more than once keeps its values comma-separated in order.
func parseTags(s string) map[string]string {
	values := map[string][]string{}
	for tag := range strings.SplitSeq(s, ",") {
		k, v, _ := strings.Cut(strings.TrimSpace(tag), ":")
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		if k == "" || slices.Contains(values[k], v) {
			continue
		}
		values[k] = append(values[k], v)
	}
	out := make(map[string]string, len(values))
	for k, vs := range values {
		out[k] = strings.Join(vs, ",")
	}
	return out
}

// normaliseScope sorts the tags of $ALERT_SCOPE so that the same group gives
// the same fingerprint however Datadog orders or spaces it.
func normaliseScope(scope string) string {
	var tags []string
	for tag := range strings.SplitSeq(scope, ",") {
		if tag = strings.TrimSpace(tag); tag != "" {
			tags = append(tags, tag)
		}
	}
	slices.Sort(tags)
	return strings.Join(tags, ",")
}

// resource reads what the alert is about from $HOSTNAME and the tags the
// Datadog Agent and cloud integrations set (host, instance-id, aws_account,
// region, service).
func resource(hostname string, tags map[string]string) *amsv1.Resource {
	r := &amsv1.Resource{
		Host:       firstNonBlank(hostname, tags["host"]),
		InstanceId: source.FirstNonEmpty(tags, "instance-id", "instance_id"),
		Account:    source.FirstNonEmpty(tags, "aws_account", "account_id", "account"),
		Region:     source.FirstNonEmpty(tags, "region"),
		Service:    source.FirstNonEmpty(tags, "service"),
	}
	if r.Host == "" && r.InstanceId == "" && r.Account == "" && r.Region == "" && r.Service == "" {
		return nil
	}
	return r
}

func firstNonBlank(values ...string) string {
	for _, v := range values {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}
