// Package zabbix parses what the AMS webhook media type for Zabbix 6.0 and
// later (deploy/integrations/zabbix/ams-media-type.yaml) sends. Zabbix has
// no fixed webhook body: a media type's JavaScript builds the request from
// parameters whose values are Zabbix macros. The AMS script sends its
// parameters as one flat JSON object of strings, named after the macros
// ({EVENT.ID} → event_id), with {EVENT.TAGSJSON} as an array, macros Zabbix
// left unresolved blanked, and the AMS URL and token left out.
//
// Each request is one problem, recovery or update event of a trigger, an
// internal event or a service, and becomes one alert. Discovery and
// autoregistration events ({EVENT.SOURCE} 1 and 2) carry no alert and are
// answered with *source.Ignored.
//
// Status, from {EVENT.VALUE} and, for update operations
// ({EVENT.UPDATE.STATUS} 1), {EVENT.ACK.STATUS}:
//
//	event_value 0                          resolved, ends_at = {EVENT.RECOVERY.TIMESTAMP}
//	event_value 1, acknowledged update     acknowledged
//	event_value 1, otherwise               firing, starts_at = {EVENT.TIMESTAMP}
//
// Severity, from {EVENT.NSEVERITY} (the same mapping as Zabbix's own
// PagerDuty media type), else from the default English {EVENT.SEVERITY}:
//
//	5 Disaster CRITICAL, 4 High ERROR, 3 Average WARNING, 2 Warning WARNING,
//	1 Information INFO, 0 Not classified INFO
//
// Fingerprint: {EVENT.ID}. In recovery and update notifications Zabbix sets
// {EVENT.ID} to the problem event's id, so every notification of one
// problem updates one alert, and two problems never share an alert, even on
// triggers that generate several problems at once. The trigger id is kept
// as a label for grouping by condition.
//
// Times are {EVENT.TIMESTAMP} and {EVENT.RECOVERY.TIMESTAMP} (Unix
// seconds), not {EVENT.DATE} and {EVENT.TIME}, which are in the Zabbix
// server's time zone and do not say which.
//
// Sources: https://www.zabbix.com/documentation/current/en/manual/config/notifications/media/webhook
// and https://www.zabbix.com/documentation/current/en/manual/appendix/macros/supported_by_location.
package zabbix

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

// MediaType is where the media type lives in the repository, named in error
// messages so a sender knows what to import.
const MediaType = "deploy/integrations/zabbix/ams-media-type.yaml"

// notification is the body the AMS media type script sends: its parameters
// minus ams_url, ams_token and http_proxy. Each field name is the parameter
// name in the media type.
type notification struct {
	EventSource            string `json:"event_source"`
	EventValue             string `json:"event_value"`
	EventUpdateStatus      string `json:"event_update_status"`
	EventID                string `json:"event_id"`
	EventName              string `json:"event_name"`
	EventSeverity          string `json:"event_severity"`
	EventNSeverity         string `json:"event_nseverity"`
	EventTimestamp         string `json:"event_timestamp"`
	EventOpdata            string `json:"event_opdata"`
	EventTags              []tag  `json:"event_tags"`
	EventAckStatus         string `json:"event_ack_status"`
	EventUpdateAction      string `json:"event_update_action"`
	EventUpdateMessage     string `json:"event_update_message"`
	EventRecoveryID        string `json:"event_recovery_id"`
	EventRecoveryTimestamp string `json:"event_recovery_timestamp"`
	TriggerID              string `json:"trigger_id"`
	TriggerName            string `json:"trigger_name"`
	TriggerDescription     string `json:"trigger_description"`
	TriggerURL             string `json:"trigger_url"`
	HostID                 string `json:"host_id"`
	HostHost               string `json:"host_host"`
	HostName               string `json:"host_name"`
	HostIP                 string `json:"host_ip"`
	ServiceName            string `json:"service_name"`
	AlertSubject           string `json:"alert_subject"`
	AlertMessage           string `json:"alert_message"`
	ZabbixURL              string `json:"zabbix_url"`
}

// tag is one entry of {EVENT.TAGSJSON}.
type tag struct {
	Tag   string `json:"tag"`
	Value string `json:"value"`
}

// Parser reads what the AMS Zabbix media type sends.
type Parser struct{}

// Parse returns the one alert a problem, recovery or update event carries.
func (Parser) Parse(r source.Request) ([]*amsv1.Alert, error) {
	var n notification
	if err := source.DecodeBody(r.Body, &n); err != nil {
		return nil, err
	}
	n.clean()
	if err := checkSource(n.EventSource); err != nil {
		return nil, err
	}
	a, err := n.normalise(r.Now)
	if err != nil {
		return nil, err
	}
	return []*amsv1.Alert{a}, nil
}

// unresolved matches a macro Zabbix could not resolve in this notification
// and passed on as written (the recovery macros of a problem).
var unresolved = regexp.MustCompile(`^\{[^{}]+\}$`)

// clean trims every field and blanks unresolved macros. The script does
// the same; doing it here too keeps a hand-made script from storing
// "{EVENT.RECOVERY.ID}" as data.
func (n *notification) clean() {
	for _, f := range []*string{
		&n.EventSource, &n.EventValue, &n.EventUpdateStatus, &n.EventID, &n.EventName,
		&n.EventSeverity, &n.EventNSeverity, &n.EventTimestamp, &n.EventOpdata,
		&n.EventAckStatus, &n.EventUpdateAction, &n.EventUpdateMessage, &n.EventRecoveryID,
		&n.EventRecoveryTimestamp, &n.TriggerID, &n.TriggerName, &n.TriggerDescription,
		&n.TriggerURL, &n.HostID, &n.HostHost, &n.HostName, &n.HostIP, &n.ServiceName,
		&n.AlertSubject, &n.AlertMessage, &n.ZabbixURL,
	} {
		*f = strings.TrimSpace(*f)
		if unresolved.MatchString(*f) || *f == "*UNKNOWN*" {
			*f = ""
		}
	}
	// Host interface macros resolve to UNKNOWN for a host without one.
	for _, f := range []*string{&n.HostIP, &n.HostHost, &n.HostName} {
		if *f == "UNKNOWN" {
			*f = ""
		}
	}
}

// checkSource accepts the event sources that have problems and recoveries:
// triggers (0, the default), internal events (3) and services (4).
func checkSource(s string) error {
	switch s {
	case "", "0", "3", "4":
		return nil
	case "1", "2":
		return &source.Ignored{Reason: "Zabbix " + map[string]string{"1": "discovery", "2": "autoregistration"}[s] + " events carry no alert"}
	default:
		return source.FieldErr("event_source", "%q is not 0 (trigger), 3 (internal) or 4 (service): send {EVENT.SOURCE}", s)
	}
}

func (n *notification) normalise(now time.Time) (*amsv1.Alert, error) {
	status, err := n.status()
	if err != nil {
		return nil, err
	}
	severity, err := Severity(n.EventNSeverity, n.EventSeverity)
	if err != nil {
		return nil, err
	}
	fp, err := source.CheckFingerprint("event_id", n.EventID)
	if err != nil {
		return nil, err
	}
	if fp == "" {
		return nil, source.FieldErr("event_id", "missing: send {EVENT.ID} (import the AMS media type %s)", MediaType)
	}
	startsAt, err := unixTime("event_timestamp", n.EventTimestamp)
	if err != nil {
		return nil, err
	}
	var endsAt time.Time
	if status == amsv1.AlertStatus_ALERT_STATUS_RESOLVED {
		if endsAt, err = unixTime("event_recovery_timestamp", n.EventRecoveryTimestamp); err != nil {
			return nil, err
		}
	}
	status, ends := source.Settle(status, endsAt, now)

	tags := tagMap(n.EventTags)
	return &amsv1.Alert{
		Fingerprint: fp,
		Status:      status,
		Severity:    severity,
		Summary:     n.summary(),
		Description: firstNonBlank(n.TriggerDescription, n.AlertMessage),
		Labels:      source.NonEmpty(n.labels(tags)),
		Annotations: source.NonEmpty(n.annotations()),
		Resource:    n.resource(tags),
		Links:       n.links(),
		StartsAt:    source.Timestamp(startsAt),
		EndsAt:      ends,
	}, nil
}

// status reads {EVENT.VALUE}, {EVENT.UPDATE.STATUS} and {EVENT.ACK.STATUS};
// see the package comment.
func (n *notification) status() (amsv1.AlertStatus, error) {
	update := false
	switch n.EventUpdateStatus {
	case "", "0":
	case "1":
		update = true
	default:
		return 0, source.FieldErr("event_update_status", "%q is not 0 (a problem or recovery) or 1 (an update operation): send {EVENT.UPDATE.STATUS}", n.EventUpdateStatus)
	}
	switch n.EventValue {
	case "1":
		if update && strings.EqualFold(n.EventAckStatus, "yes") {
			return amsv1.AlertStatus_ALERT_STATUS_ACKNOWLEDGED, nil
		}
		return amsv1.AlertStatus_ALERT_STATUS_FIRING, nil
	case "0":
		return amsv1.AlertStatus_ALERT_STATUS_RESOLVED, nil
	case "":
		return 0, source.FieldErr("event_value", "missing: send {EVENT.VALUE}, 1 for a problem or 0 for a recovery (import the AMS media type %s)", MediaType)
	default:
		return 0, source.FieldErr("event_value", "%q is not 1 (problem) or 0 (recovery): send {EVENT.VALUE}", n.EventValue)
	}
}

// Severity maps {EVENT.NSEVERITY}, else the default name in
// {EVENT.SEVERITY}; see the package comment. A renamed severity without a
// number is Not classified, as in Zabbix's own media types.
func Severity(nseverity, name string) (amsv1.Severity, error) {
	levels := []amsv1.Severity{
		amsv1.Severity_SEVERITY_INFO,     // 0 Not classified
		amsv1.Severity_SEVERITY_INFO,     // 1 Information
		amsv1.Severity_SEVERITY_WARNING,  // 2 Warning
		amsv1.Severity_SEVERITY_WARNING,  // 3 Average
		amsv1.Severity_SEVERITY_ERROR,    // 4 High
		amsv1.Severity_SEVERITY_CRITICAL, // 5 Disaster
	}
	if nseverity != "" {
		i, err := strconv.Atoi(nseverity)
		if err != nil || i < 0 || i >= len(levels) {
			return 0, source.FieldErr("event_nseverity", "%q is not a severity from 0 (Not classified) to 5 (Disaster): send {EVENT.NSEVERITY}", nseverity)
		}
		return levels[i], nil
	}
	names := []string{"not classified", "information", "warning", "average", "high", "disaster"}
	if i := slices.Index(names, strings.ToLower(strings.TrimSpace(name))); i >= 0 {
		return levels[i], nil
	}
	return levels[0], nil
}

// unixTime reads a Unix time in seconds, as {EVENT.TIMESTAMP} gives it.
// Empty and zero are unset.
func unixTime(path, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil || v < 0 {
		return time.Time{}, source.FieldErr(path, "%q is not a Unix time in seconds such as 1714564200", s)
	}
	if v == 0 {
		return time.Time{}, nil
	}
	t := time.Unix(v, 0).UTC()
	if t.Year() > 9999 {
		return time.Time{}, source.FieldErr(path, "%q is after the year 9999: want a Unix time in seconds such as 1714564200", s)
	}
	return t, nil
}

func (n *notification) summary() string {
	if s := firstNonBlank(n.EventName, n.TriggerName, n.AlertSubject); s != "" {
		return s
	}
	return "Zabbix problem " + n.EventID
}

// tagMap turns {EVENT.TAGSJSON} into labels. Zabbix allows a tag name more
// than once; its values are kept comma-separated in order.
func tagMap(tags []tag) map[string]string {
	values := map[string][]string{}
	for _, t := range tags {
		k, v := strings.TrimSpace(t.Tag), strings.TrimSpace(t.Value)
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

// labels are the event's tags plus the trigger and host ids, which name
// the condition across its problems.
func (n *notification) labels(tags map[string]string) map[string]string {
	out := make(map[string]string, len(tags)+2)
	for k, v := range tags {
		out[k] = v
	}
	if n.TriggerID != "" {
		out["zabbix_trigger_id"] = n.TriggerID
	}
	if n.HostID != "" {
		out["zabbix_host_id"] = n.HostID
	}
	return out
}

// annotations keep the event's details that have no Alert field of their
// own, under their parameter names.
func (n *notification) annotations() map[string]string {
	out := map[string]string{}
	for k, v := range map[string]string{
		"event_severity":       n.EventSeverity,
		"event_opdata":         n.EventOpdata,
		"event_ack_status":     n.EventAckStatus,
		"event_update_action":  n.EventUpdateAction,
		"event_update_message": n.EventUpdateMessage,
		"event_recovery_id":    n.EventRecoveryID,
		"trigger_name":         n.TriggerName,
		"host_name":            n.HostName,
		"host_ip":              n.HostIP,
	} {
		if v != "" {
			out[k] = v
		}
	}
	return out
}

// resource takes what conventional tags say (service, region, ...) and the
// Zabbix host's technical name, else its visible name, as the host.
func (n *notification) resource(tags map[string]string) *amsv1.Resource {
	r := source.ResourceFromLabels(tags)
	if r == nil {
		r = &amsv1.Resource{}
	}
	if h := firstNonBlank(n.HostHost, n.HostName); h != "" {
		r.Host = h
	}
	if n.ServiceName != "" {
		r.Service = n.ServiceName
	}
	if r.Host == "" && r.InstanceId == "" && r.Account == "" && r.Region == "" && r.Service == "" {
		return nil
	}
	return r
}

func (n *notification) links() []*amsv1.Link {
	var links []*amsv1.Link
	for _, l := range []struct{ url, title string }{
		{n.problemURL(), "Zabbix problem"},
		{n.TriggerURL, "Trigger URL"},
	} {
		if l.url != "" {
			links = append(links, &amsv1.Link{Url: l.url, Title: l.title})
		}
	}
	return links
}

// problemURL is the trigger event's page in the Zabbix frontend, built the
// way Zabbix's own media types build it from {$ZABBIX.URL}.
func (n *notification) problemURL() string {
	u, err := url.Parse(n.ZabbixURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || n.TriggerID == "" {
		return ""
	}
	q := url.Values{"triggerid": {n.TriggerID}, "eventid": {n.EventID}}
	return strings.TrimRight(n.ZabbixURL, "/") + "/tr_events.php?" + q.Encode()
}

func firstNonBlank(values ...string) string {
	for _, v := range values {
		if v = strings.TrimSpace(v); v != "" {
			return v
		}
	}
	return ""
}
