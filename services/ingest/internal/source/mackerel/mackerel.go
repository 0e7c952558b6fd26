// Package mackerel parses Mackerel's (mackerel.io) webhook notifications
// into AMS alerts.
//
// Mackerel posts one JSON object per notification:
//
//	{"orgName", "event", "type", "message", "memo", "imageUrl",
//	 "host": {"id", "name", "url", "status", "roles": [...]},
//	 "service": {"id", "name", ...},
//	 "alert": {"id", "status", "isOpen", "trigger", "url", "monitorName",
//	           "openedAt", "closedAt", "metricLabel", "metricValue", ...}}
//
// Only event "alert" carries an alert. Any other event a channel can be
// subscribed to (host status changes, host registration and retirement,
// monitor changes, alert groups, the "sample" a test notification sends) is
// answered with *source.Ignored, so Mackerel sees a success and keeps the
// channel.
//
// Status: resolved when alert.status is "ok" or alert.isOpen is false (an
// alert closed by hand, by deleting its monitor or retiring its host keeps
// its last status); otherwise firing. ends_at is alert.closedAt, else
// alert.statusChangedAt, and only for a resolved alert: Mackerel's own
// sample sends closedAt on an open alert.
//
// Severity, from alert.status:
//
//	critical  CRITICAL
//	warning   WARNING
//	unknown   WARNING (the check could not decide; someone should look)
//	ok        INFO    (the recovery carries no other level)
//
// Fingerprint: alert.id, Mackerel's id for the alert, which stays the same
// from its opening through status changes to its closing, and differs per
// host. Without an id, a hash of orgName, alert.monitorName, type, host.id
// and service.name.
//
// Source: https://mackerel.io/docs/entry/howto/alerts/webhook (and the
// resourceInfo object of https://mackerel.io/docs/entry/howto/alerts/eventbridge).
package mackerel

import (
	"encoding/json"
	"reflect"
	"strconv"
	"strings"
	"time"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ingest/internal/source"
)

// webhook is a Mackerel notification. Mackerel says items may be added at
// any time, so unknown fields are ignored.
type webhook struct {
	OrgName      string        `json:"orgName"`
	Event        string        `json:"event"`
	Type         string        `json:"type"`
	Message      string        `json:"message"`
	Memo         string        `json:"memo"`
	ImageURL     string        `json:"imageUrl"`
	Host         *host         `json:"host"`
	Service      *service      `json:"service"`
	Alert        *alert        `json:"alert"`
	ResourceInfo *resourceInfo `json:"resourceInfo"`
}

type host struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	URL    string `json:"url"`
	Status string `json:"status"`
	Roles  []role `json:"roles"`
}

type role struct {
	Fullname    string `json:"fullname"`
	ServiceName string `json:"serviceName"`
}

type service struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type alert struct {
	ID                string `json:"id"`
	Status            string `json:"status"`
	IsOpen            *bool  `json:"isOpen"`
	Trigger           string `json:"trigger"`
	URL               string `json:"url"`
	OpenedAt          number `json:"openedAt"`
	ClosedAt          number `json:"closedAt"`
	StatusChangedAt   number `json:"statusChangedAt"`
	CreatedAt         number `json:"createdAt"`
	MonitorName       string `json:"monitorName"`
	MetricLabel       string `json:"metricLabel"`
	MetricValue       number `json:"metricValue"`
	CriticalThreshold number `json:"criticalThreshold"`
	WarningThreshold  number `json:"warningThreshold"`
	MonitorOperator   string `json:"monitorOperator"`
	Duration          number `json:"duration"`
}

// number is a JSON number kept as the text Mackerel wrote, so a threshold
// reads as Mackerel shows it. It also takes a quoted number, and null or ""
// as unset. Anything else is an *json.UnmarshalTypeError, which encoding/json
// reports with the field's path (alert.openedAt).
type number string

func (n *number) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*n = ""
		return nil
	}
	text := b
	var quoted string
	if json.Unmarshal(b, &quoted) == nil {
		if quoted == "" {
			*n = ""
			return nil
		}
		text = []byte(quoted)
	}
	var f float64
	if json.Unmarshal(text, &f) != nil {
		return &json.UnmarshalTypeError{Value: jsonKind(b), Type: reflect.TypeFor[float64]()}
	}
	*n = number(text)
	return nil
}

// jsonKind names the kind of a JSON value for a type error.
func jsonKind(b []byte) string {
	switch b[0] {
	case '"':
		return "string"
	case '{':
		return "object"
	case '[':
		return "array"
	case 't', 'f':
		return "bool"
	default:
		return "number"
	}
}

// resourceInfo is the AWS resource of an EC2 host, which Mackerel documents
// for its EventBridge channel and which is read here when present.
type resourceInfo struct {
	Region     string `json:"region"`
	AccountID  string `json:"accountId"`
	ResourceID string `json:"resourceId"`
}

// Parser reads Mackerel webhook notifications.
type Parser struct{}

// Parse returns the one alert of an "alert" event, and *source.Ignored for
// every other event.
func (Parser) Parse(r source.Request) ([]*amsv1.Alert, error) {
	var w webhook
	if err := source.DecodeBody(r.Body, &w); err != nil {
		return nil, err
	}
	switch event := strings.TrimSpace(w.Event); event {
	case "alert":
	case "":
		return nil, source.FieldErr("event", `missing: want "alert" (a Mackerel webhook notification)`)
	default:
		return nil, &source.Ignored{Reason: "Mackerel event " + strconv.Quote(event) + " is not an alert"}
	}
	if w.Alert == nil {
		return nil, source.FieldErr("alert", "missing: an alert event carries the alert object")
	}
	a, err := w.normalise(r.Now)
	if err != nil {
		return nil, err
	}
	return []*amsv1.Alert{a}, nil
}

func (w *webhook) normalise(now time.Time) (*amsv1.Alert, error) {
	in := w.Alert
	level, err := parseLevel(in.Status)
	if err != nil {
		return nil, err
	}
	status := amsv1.AlertStatus_ALERT_STATUS_FIRING
	if level == "ok" || (in.IsOpen != nil && !*in.IsOpen) {
		status = amsv1.AlertStatus_ALERT_STATUS_RESOLVED
	}
	startsAt, endsAt, err := in.times(status)
	if err != nil {
		return nil, err
	}
	fp, err := w.fingerprint()
	if err != nil {
		return nil, err
	}
	status, ends := source.Settle(status, endsAt, now)
	return &amsv1.Alert{
		Fingerprint: fp,
		Status:      status,
		Severity:    Severity(level),
		Summary:     w.summary(level),
		Description: joinNonBlank("\n\n", w.Message, w.Memo),
		Labels:      source.NonEmpty(w.labels()),
		Annotations: source.NonEmpty(w.annotations()),
		Resource:    w.resource(),
		Links:       w.links(),
		StartsAt:    source.Timestamp(startsAt),
		EndsAt:      ends,
	}, nil
}

// parseLevel reads alert.status, Mackerel's closed set of levels.
func parseLevel(s string) (string, error) {
	level := strings.ToLower(strings.TrimSpace(s))
	switch level {
	case "ok", "warning", "critical", "unknown":
		return level, nil
	case "":
		return "", source.FieldErr("alert.status", "missing: want ok, warning, critical or unknown")
	default:
		return "", source.FieldErr("alert.status", "%q is not ok, warning, critical or unknown", s)
	}
}

// Severity maps alert.status; see the package comment.
func Severity(level string) amsv1.Severity {
	switch strings.ToLower(strings.TrimSpace(level)) {
	case "critical":
		return amsv1.Severity_SEVERITY_CRITICAL
	case "ok":
		return amsv1.Severity_SEVERITY_INFO
	default: // "warning", "unknown"
		return amsv1.Severity_SEVERITY_WARNING
	}
}

// times returns when the alert opened (openedAt, else the deprecated
// createdAt in milliseconds) and, for a resolved alert, when it closed.
func (in *alert) times(status amsv1.AlertStatus) (startsAt, endsAt time.Time, err error) {
	if startsAt, err = unixTime("alert.openedAt", in.OpenedAt, time.Second); err != nil {
		return
	}
	if startsAt.IsZero() {
		if startsAt, err = unixTime("alert.createdAt", in.CreatedAt, time.Millisecond); err != nil {
			return
		}
	}
	if status != amsv1.AlertStatus_ALERT_STATUS_RESOLVED {
		return startsAt, time.Time{}, nil
	}
	if endsAt, err = unixTime("alert.closedAt", in.ClosedAt, time.Second); err != nil || !endsAt.IsZero() {
		return
	}
	endsAt, err = unixTime("alert.statusChangedAt", in.StatusChangedAt, time.Second)
	return
}

// unixTime reads an epoch time in unit (seconds or milliseconds). Absent,
// null and zero are unset.
func unixTime(path string, n number, unit time.Duration) (time.Time, error) {
	if n == "" {
		return time.Time{}, nil
	}
	v, err := strconv.ParseInt(string(n), 10, 64)
	example := "1473129912 (epoch seconds)"
	if unit == time.Millisecond {
		example = "1473129912693 (epoch milliseconds)"
	}
	if err != nil || v < 0 {
		return time.Time{}, source.FieldErr(path, "%s is not a Unix time such as %s", n, example)
	}
	if v == 0 {
		return time.Time{}, nil
	}
	t := time.UnixMilli(v)
	if unit == time.Second {
		t = time.Unix(v, 0)
	}
	if t.Year() > 9999 {
		return time.Time{}, source.FieldErr(path, "%s is after the year 9999: want a Unix time such as %s", n, example)
	}
	return t.UTC(), nil
}

// fingerprint is alert.id; see the package comment.
func (w *webhook) fingerprint() (string, error) {
	fp, err := source.CheckFingerprint("alert.id", w.Alert.ID)
	if err != nil || fp != "" {
		return fp, err
	}
	monitor := strings.TrimSpace(w.Alert.MonitorName)
	if monitor == "" {
		return "", source.FieldErr("alert.id", "missing, and no alert.monitorName either: send Mackerel's notification unchanged")
	}
	var hostID, serviceName string
	if w.Host != nil {
		hostID = strings.TrimSpace(w.Host.ID)
	}
	if w.Service != nil {
		serviceName = strings.TrimSpace(w.Service.Name)
	}
	return source.HashParts(strings.TrimSpace(w.OrgName), monitor, strings.TrimSpace(w.Type), hostID, serviceName), nil
}

// summary reads like Mackerel's own alert list: "CPU %: CRITICAL on app01".
func (w *webhook) summary(level string) string {
	in := w.Alert
	name := firstNonBlank(in.MonitorName, in.MetricLabel)
	if name == "" {
		name = "Mackerel alert " + strings.TrimSpace(in.ID)
	}
	s := name + ": " + strings.ToUpper(level)
	switch {
	case w.Host != nil && strings.TrimSpace(w.Host.Name) != "":
		s += " on " + strings.TrimSpace(w.Host.Name)
	case w.Service != nil && strings.TrimSpace(w.Service.Name) != "":
		s += " on service " + strings.TrimSpace(w.Service.Name)
	}
	return s
}

// labels are what a rule may route on: the monitor, its type, the org, the
// host id and the service and roles of the host.
func (w *webhook) labels() map[string]string {
	l := map[string]string{
		"mackerel_monitor":      w.Alert.MonitorName,
		"mackerel_monitor_type": w.Type,
		"mackerel_org":          w.OrgName,
	}
	if w.Host != nil {
		l["mackerel_host_id"] = w.Host.ID
		var roles []string
		for _, r := range w.Host.Roles {
			roles = append(roles, strings.TrimSpace(r.Fullname))
		}
		l["mackerel_roles"] = joinNonBlank(",", roles...)
	}
	if w.Service != nil {
		l["mackerel_service"] = w.Service.Name
	}
	return trimmed(l)
}

// annotations keep the alert's details that have no Alert field of their
// own, under Mackerel's names.
func (w *webhook) annotations() map[string]string {
	in := w.Alert
	a := map[string]string{
		"message":           w.Message,
		"memo":              w.Memo,
		"trigger":           in.Trigger,
		"metricLabel":       in.MetricLabel,
		"metricValue":       string(in.MetricValue),
		"monitorOperator":   in.MonitorOperator,
		"warningThreshold":  string(in.WarningThreshold),
		"criticalThreshold": string(in.CriticalThreshold),
		"duration":          string(in.Duration),
	}
	if w.Host != nil {
		a["hostStatus"] = w.Host.Status
	}
	return trimmed(a)
}

func (w *webhook) resource() *amsv1.Resource {
	r := &amsv1.Resource{}
	if w.Host != nil {
		r.Host = strings.TrimSpace(w.Host.Name)
		for _, role := range w.Host.Roles {
			if r.Service == "" {
				r.Service = strings.TrimSpace(role.ServiceName)
			}
		}
	}
	if w.Service != nil && strings.TrimSpace(w.Service.Name) != "" {
		r.Service = strings.TrimSpace(w.Service.Name)
	}
	if ri := w.ResourceInfo; ri != nil {
		r.InstanceId = strings.TrimSpace(ri.ResourceID)
		r.Account = strings.TrimSpace(ri.AccountID)
		r.Region = strings.TrimSpace(ri.Region)
	}
	if r.Host == "" && r.InstanceId == "" && r.Account == "" && r.Region == "" && r.Service == "" {
		return nil
	}
	return r
}

func (w *webhook) links() []*amsv1.Link {
	var hostURL string
	if w.Host != nil {
		hostURL = w.Host.URL
	}
	var links []*amsv1.Link
	for _, l := range []struct{ url, title string }{
		{w.Alert.URL, "Mackerel alert"},
		{hostURL, "Mackerel host"},
		{w.ImageURL, "Graph"},
	} {
		if u := strings.TrimSpace(l.url); u != "" {
			links = append(links, &amsv1.Link{Url: u, Title: l.title})
		}
	}
	return links
}

// trimmed trims every value of m and drops the blank ones.
func trimmed(m map[string]string) map[string]string {
	for k, v := range m {
		if v = strings.TrimSpace(v); v == "" {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return m
}

func firstNonBlank(values ...string) string {
	for _, v := range values {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}

// joinNonBlank joins the non-blank values, trimmed, with sep.
func joinNonBlank(sep string, values ...string) string {
	var out []string
	for _, v := range values {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return strings.Join(out, sep)
}
