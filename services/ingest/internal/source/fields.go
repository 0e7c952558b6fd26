package source

import (
	"crypto/sha256"
	"encoding/hex"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// MaxFingerprint bounds a sender-chosen fingerprint: it becomes part of
// downstream keys and messages, and no real source needs more.
const MaxFingerprint = 256

// ParseStatus reads a status field. An empty status is an error unless
// fallback is given (the generic format defaults to firing).
func ParseStatus(path, s string, fallback amsv1.AlertStatus) (amsv1.AlertStatus, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "firing":
		return amsv1.AlertStatus_ALERT_STATUS_FIRING, nil
	case "resolved":
		return amsv1.AlertStatus_ALERT_STATUS_RESOLVED, nil
	case "":
		if fallback != amsv1.AlertStatus_ALERT_STATUS_UNSPECIFIED {
			return fallback, nil
		}
		return 0, FieldErr(path, "missing: want firing or resolved")
	default:
		return 0, FieldErr(path, "%q is not firing or resolved", s)
	}
}

// Settle applies the rule every source shares: a firing alert whose end time
// has already passed is over, whatever the status field said (a sender that
// sets endsAt as an expiry, like Alertmanager's API, relies on this). It
// returns the status and the end time to record: a firing alert has not
// ended, so a future end time (an expiry estimate) is dropped.
func Settle(status amsv1.AlertStatus, endsAt, now time.Time) (amsv1.AlertStatus, *timestamppb.Timestamp) {
	if status == amsv1.AlertStatus_ALERT_STATUS_FIRING && !endsAt.IsZero() && !endsAt.After(now) {
		status = amsv1.AlertStatus_ALERT_STATUS_RESOLVED
	}
	if status == amsv1.AlertStatus_ALERT_STATUS_RESOLVED {
		return status, Timestamp(endsAt)
	}
	return status, nil
}

// ParseTime reads an RFC 3339 time. Empty and Go's zero time
// ("0001-01-01T00:00:00Z", which Alertmanager sends for "no end yet") both
// mean unset and return the zero time.
func ParseTime(path, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, FieldErr(path, "%q is not an RFC 3339 time such as 2024-05-01T12:00:00Z", s)
	}
	if t.IsZero() {
		return time.Time{}, nil
	}
	return t.UTC(), nil
}

// Timestamp converts t, or returns nil for the zero time (unset).
func Timestamp(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

// CheckFingerprint validates a fingerprint the sender supplied.
func CheckFingerprint(path, fp string) (string, error) {
	fp = strings.TrimSpace(fp)
	if len(fp) > MaxFingerprint {
		return "", FieldErr(path, "%d bytes is too long: use at most %d", len(fp), MaxFingerprint)
	}
	return fp, nil
}

// LabelsFingerprint is a stable identity for a label set: the same labels in
// any order give the same value. Names and values are separated by a byte
// that cannot occur in UTF-8 text, so {a:"b,c"} and {a:"b",c:""} differ.
func LabelsFingerprint(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	parts := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		parts = append(parts, k, labels[k])
	}
	return HashParts(parts...)
}

// HashParts returns the first 16 bytes of SHA-256 over parts, hex encoded:
// short enough to read in a ticket, long enough never to collide by chance.
func HashParts(parts ...string) string {
	h := sha256.New()
	for _, p := range parts {
		h.Write([]byte(p))
		h.Write([]byte{0xff})
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// HostFromInstance turns a Prometheus instance label into a host name:
// "db1:9100" → "db1", "[2001:db8::1]:9100" → "2001:db8::1", and a blackbox
// target "https://www.example.com/health" → "www.example.com".
func HostFromInstance(instance string) string {
	instance = strings.TrimSpace(instance)
	if u, err := url.Parse(instance); err == nil && u.Scheme != "" && u.Host != "" {
		return u.Hostname()
	}
	if host, port, err := net.SplitHostPort(instance); err == nil {
		if _, perr := strconv.ParseUint(port, 10, 16); perr == nil {
			return host
		}
	}
	return instance
}

// FirstNonEmpty returns the first non-blank value of m under keys, trimmed.
func FirstNonEmpty(m map[string]string, keys ...string) string {
	for _, k := range keys {
		if v := strings.TrimSpace(m[k]); v != "" {
			return v
		}
	}
	return ""
}

// NonEmpty returns m, or nil when it is empty, so an absent and an empty
// object normalise (and marshal) the same way.
func NonEmpty(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	return m
}

// ResourceFromLabels reads what an alert is about from conventional
// Prometheus-style labels (instance, instance_id, account_id, region, job).
func ResourceFromLabels(labels map[string]string) *amsv1.Resource {
	r := &amsv1.Resource{
		Host:       HostFromInstance(FirstNonEmpty(labels, "instance", "host", "hostname")),
		InstanceId: FirstNonEmpty(labels, "instance_id"),
		Account:    FirstNonEmpty(labels, "account_id", "account"),
		Region:     FirstNonEmpty(labels, "region"),
		Service:    FirstNonEmpty(labels, "job", "service"),
	}
	if r.Host == "" && r.InstanceId == "" && r.Account == "" && r.Region == "" && r.Service == "" {
		return nil
	}
	return r
}

// ParseISOTime reads an ISO 8601 time as PagerDuty writes them: RFC 3339,
// or with the offset written without a colon ("2015-07-17T08:42:58.315+0000"),
// which its own examples use. Empty means unset.
func ParseISOTime(path, s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, nil
	}
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05Z0700"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, FieldErr(path, "%q is not an ISO 8601 time such as 2024-05-01T12:00:00Z", s)
}

// PrioritySeverity maps the P1 to P5 incident priorities PagerDuty and
// Datadog share: P1 critical, P2 error, P3 warning, P4 and P5 info. Anything
// else (no priority) is SEVERITY_UNSPECIFIED, for the caller to decide.
func PrioritySeverity(p string) amsv1.Severity {
	switch strings.ToUpper(strings.TrimSpace(p)) {
	case "P1":
		return amsv1.Severity_SEVERITY_CRITICAL
	case "P2":
		return amsv1.Severity_SEVERITY_ERROR
	case "P3":
		return amsv1.Severity_SEVERITY_WARNING
	case "P4", "P5":
		return amsv1.Severity_SEVERITY_INFO
	default:
		return amsv1.Severity_SEVERITY_UNSPECIFIED
	}
}
