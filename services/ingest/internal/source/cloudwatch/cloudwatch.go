// Package cloudwatch parses Amazon CloudWatch alarm state changes into AMS
// alerts. AWS delivers them to an HTTPS endpoint in two shapes, and the
// parser tells them apart by their fields:
//
//   - an Amazon SNS notification (Type "Notification") from a topic the
//     alarm's actions publish to, whose Message is the alarm as a JSON
//     string (metric, metric-math and composite alarms);
//   - an EventBridge event with detail-type "CloudWatch Alarm State
//     Change", posted by an EventBridge API destination.
//
// The parser only reads. Proving that an SNS message came from SNS for an
// allowed topic, and confirming SNS subscriptions, is the HTTP layer's job
// (package snsverify), done before Parse. A SubscriptionConfirmation or
// UnsubscribeConfirmation that reaches the parser anyway is a *source.Error,
// not *source.Ignored: it means the endpoint is not handling SNS, and
// answering 400 leaves the subscription visibly "pending confirmation" in
// AWS instead of silently never confirming it. EventBridge events of other
// detail-types are errors for the same reason: the rule's event pattern is
// too broad, and EventBridge reports the failed invocations.
//
// Mapping, the same for both shapes:
//
//   - fingerprint: the alarm ARN, so ALARM and the OK that ends it pair up
//     whichever way they arrive (a SHA-256 prefix of it if longer than
//     source.MaxFingerprint);
//   - status: ALARM is firing, OK resolved (ends_at is the state change).
//     INSUFFICIENT_DATA is firing with severity WARNING: CloudWatch only
//     sends it to topics listed in the alarm's InsufficientDataActions, so
//     someone asked to hear that the metric stopped reporting, and it
//     resolves on the next OK like any firing alert;
//   - severity: CloudWatch alarms have none. A token severity=<level> (or
//     severity:<level>) in the alarm description sets it, level being
//     critical, error, warning or info; otherwise ERROR, because an alarm
//     someone routed to AMS is presumably worth acting on;
//   - resource: account, region code (from the ARN: SNS's Region field is a
//     display name such as "Asia Pacific (Tokyo)"), instance id from an
//     InstanceId dimension, host from a host dimension (CloudWatch agent),
//     service from the namespace without its "AWS/" prefix;
//   - dedup_key: the SNS MessageId or the EventBridge event id, which stay
//     the same when AWS re-delivers a message.
package cloudwatch

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ingest/internal/source"
)

// Alarm states, as CloudWatch writes them.
const (
	stateAlarm        = "ALARM"
	stateOK           = "OK"
	stateInsufficient = "INSUFFICIENT_DATA"
)

// eventBridgeDetailType is the detail-type of alarm state changes.
const eventBridgeDetailType = "CloudWatch Alarm State Change"

// body holds the top-level fields of both shapes; which are set tells the
// shape. encoding/json matches names case-insensitively, and no field of
// one shape collides with the other's.
type body struct {
	// SNS HTTP(S) envelope.
	Type      string  `json:"Type"`
	MessageID string  `json:"MessageId"`
	Message   *string `json:"Message"`
	Timestamp string  `json:"Timestamp"`

	// EventBridge event.
	// Its account and region are also in the alarm ARN, read from there
	// for both shapes.
	ID         string          `json:"id"`
	DetailType string          `json:"detail-type"`
	Source     string          `json:"source"`
	Time       string          `json:"time"`
	Resources  []string        `json:"resources"`
	Detail     json.RawMessage `json:"detail"`

	// AlarmName at the top level means SNS raw message delivery.
	AlarmName json.RawMessage `json:"AlarmName"`
}

// Parser reads CloudWatch alarm notifications (SNS) and events (EventBridge).
type Parser struct{}

// Parse returns the one alert a state change describes.
func (Parser) Parse(r source.Request) ([]*amsv1.Alert, error) {
	var b body
	if err := source.DecodeBody(r.Body, &b); err != nil {
		return nil, err
	}
	var (
		a   *alarm
		err error
	)
	switch {
	case b.Type != "":
		a, err = fromSNS(&b)
	case b.DetailType != "":
		a, err = fromEventBridge(&b)
	case len(b.AlarmName) > 0:
		return nil, &source.Error{Problem: "a bare CloudWatch alarm without its SNS envelope: turn off raw message delivery on the SNS subscription, so SNS sends (and signs) the envelope"}
	default:
		return nil, &source.Error{Problem: `neither an SNS notification (no "Type") nor an EventBridge event (no "detail-type")`}
	}
	if err != nil {
		return nil, err
	}
	return []*amsv1.Alert{a.alert()}, nil
}

// alarm is what both shapes say about a state change.
type alarm struct {
	arn                        *alarmARN
	name, description          string
	account, region            string
	state, previous, reason    string
	changedAt, previousChanged time.Time
	metrics                    []metric
	rule                       string // composite alarms only
	dedupKey                   string
}

// metric is one metric an alarm watches.
type metric struct {
	namespace, name string
	dimensions      map[string]string
}

// alarmARN is a parsed arn:<partition>:cloudwatch:<region>:<account>:alarm:<name>.
type alarmARN struct {
	raw, partition, region, account, name string
}

var alarmARNPattern = regexp.MustCompile(`^arn:(aws(?:-[a-z]+)*):cloudwatch:([a-z]{2}(?:-[a-z]+)+-[0-9]{1,2}):([0-9]{12}):alarm:(.+)$`)

func parseAlarmARN(s string) (*alarmARN, bool) {
	m := alarmARNPattern.FindStringSubmatch(s)
	if m == nil || strings.TrimSpace(m[4]) == "" {
		return nil, false
	}
	return &alarmARN{raw: s, partition: m[1], region: m[2], account: m[3], name: m[4]}, true
}

const arnExample = "arn:aws:cloudwatch:<region>:<account>:alarm:<name>"

// checkState validates an alarm state value.
func checkState(path, s string) error {
	switch s {
	case stateAlarm, stateOK, stateInsufficient:
		return nil
	case "":
		return source.FieldErr(path, "missing: want ALARM, OK or INSUFFICIENT_DATA")
	default:
		return source.FieldErr(path, "%q is not ALARM, OK or INSUFFICIENT_DATA", s)
	}
}

// parseTime reads CloudWatch's times, which are not RFC 3339
// ("2019-10-02T17:04:40.989+0000", no colon in the offset), and also
// accepts RFC 3339 for EventBridge's envelope time.
func parseTime(path, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{"2006-01-02T15:04:05Z0700", time.RFC3339Nano} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, source.FieldErr(path, "%q is not a time such as 2024-05-01T12:00:00.000+0000", s)
}

// decodeAt decodes data (JSON nested in a string, or an object kept raw) as
// a whole document and reports errors under path.
func decodeAt(path string, data []byte, v any) error {
	err := source.DecodeBody(data, v)
	var se *source.Error
	if err == nil || !errors.As(err, &se) {
		return err
	}
	p := se.Path
	if p == "body" {
		p = ""
	}
	return &source.Error{Path: source.JoinPath(path, p), Problem: se.Problem}
}

// severityPattern finds severity=<level> or severity:<level> in a
// description, as a word of its own.
var severityPattern = regexp.MustCompile(`(?i)(?:^|[^a-z0-9_])severity\s*[:=]\s*(critical|error|warning|info)\b`)

// Severity maps an alarm state and description to a severity: WARNING for
// INSUFFICIENT_DATA, else the description's severity=<level>, else ERROR.
func Severity(state, description string) amsv1.Severity {
	if state == stateInsufficient {
		return amsv1.Severity_SEVERITY_WARNING
	}
	m := severityPattern.FindStringSubmatch(description)
	if m == nil {
		return amsv1.Severity_SEVERITY_ERROR
	}
	switch strings.ToLower(m[1]) {
	case "critical":
		return amsv1.Severity_SEVERITY_CRITICAL
	case "warning":
		return amsv1.Severity_SEVERITY_WARNING
	case "info":
		return amsv1.Severity_SEVERITY_INFO
	default:
		return amsv1.Severity_SEVERITY_ERROR
	}
}

// alert builds the AMS alert.
func (a *alarm) alert() *amsv1.Alert {
	fp := a.arn.raw
	if len(fp) > source.MaxFingerprint {
		fp = source.HashParts("cloudwatch", a.arn.raw)
	}
	out := &amsv1.Alert{
		Fingerprint: fp,
		Severity:    Severity(a.state, a.description),
		Summary:     a.state + ": " + a.name,
		Description: joinNonEmpty("\n\n", a.description, a.reason),
		Labels:      source.NonEmpty(a.labels()),
		Resource:    a.resource(),
		DedupKey:    a.dedupKey,
	}
	annotations := map[string]string{}
	if r := strings.TrimSpace(a.reason); r != "" {
		annotations["state_reason"] = r
	}
	if a.rule != "" {
		annotations["alarm_rule"] = a.rule
	}
	out.Annotations = source.NonEmpty(annotations)
	switch a.state {
	case stateOK:
		out.Status = amsv1.AlertStatus_ALERT_STATUS_RESOLVED
		out.EndsAt = source.Timestamp(a.changedAt)
		if a.previous == stateAlarm || a.previous == stateInsufficient {
			out.StartsAt = source.Timestamp(a.previousChanged)
		}
	default: // ALARM, INSUFFICIENT_DATA
		out.Status = amsv1.AlertStatus_ALERT_STATUS_FIRING
		out.StartsAt = source.Timestamp(a.changedAt)
	}
	if u := consoleURL(a.arn); u != "" {
		out.Links = []*amsv1.Link{{Url: u, Title: "CloudWatch alarm"}}
	}
	return out
}

func (a *alarm) labels() map[string]string {
	l := map[string]string{
		"alarm_name": a.name,
		"alarm_arn":  a.arn.raw,
		"account_id": a.account,
		"region":     a.region,
		"state":      a.state,
	}
	if a.previous != "" {
		l["previous_state"] = a.previous
	}
	if ns := a.namespace(); ns != "" {
		l["namespace"] = ns
	}
	if len(a.metrics) == 1 && a.metrics[0].name != "" {
		l["metric_name"] = a.metrics[0].name
	}
	for k, v := range a.dimensions() {
		l["dimension_"+k] = v
	}
	return l
}

// namespace is the namespace all the alarm's metrics share, or empty.
func (a *alarm) namespace() string {
	ns := ""
	for _, m := range a.metrics {
		switch {
		case m.namespace == "":
		case ns == "":
			ns = m.namespace
		case ns != m.namespace:
			return ""
		}
	}
	return ns
}

// dimensions merges the metrics' dimensions; the first metric naming a
// dimension wins, as metric-math alarms usually repeat the same ones.
func (a *alarm) dimensions() map[string]string {
	out := map[string]string{}
	for _, m := range a.metrics {
		keys := make([]string, 0, len(m.dimensions))
		for k := range m.dimensions {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			if _, seen := out[k]; !seen && strings.TrimSpace(k) != "" {
				out[k] = m.dimensions[k]
			}
		}
	}
	return out
}

func (a *alarm) resource() *amsv1.Resource {
	dims := a.dimensions()
	return &amsv1.Resource{
		Host:       source.FirstNonEmpty(dims, "host"),
		InstanceId: source.FirstNonEmpty(dims, "InstanceId"),
		Account:    a.account,
		Region:     a.region,
		Service:    strings.TrimPrefix(a.namespace(), "AWS/"),
	}
}

// consoleURL links to the alarm in the CloudWatch console of its region,
// in the form AWS's own alarm e-mails use; empty for partitions whose
// console host is unknown.
func consoleURL(arn *alarmARN) string {
	var host string
	switch arn.partition {
	case "aws":
		host = arn.region + ".console.aws.amazon.com"
	case "aws-cn": // one console host per partition; the region parameter picks the region
		host = "console.amazonaws.cn"
	case "aws-us-gov":
		host = "console.amazonaws-us-gov.com"
	default:
		return ""
	}
	return "https://" + host + "/cloudwatch/deeplink.js?region=" + arn.region + "#alarmsV2:alarm/" + url.PathEscape(arn.name)
}

func joinNonEmpty(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}

// isJSONObject reports whether s, trimmed, starts like a JSON object.
func isJSONObject(s string) bool {
	return bytes.HasPrefix(bytes.TrimSpace([]byte(s)), []byte("{"))
}
