package alertmanager

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ingest/internal/source"
	"github.com/amsproject/ams/services/ingest/internal/source/sourcetest"
)

// amBody wraps alert JSON objects in an Alertmanager v4 envelope.
func amBody(alerts ...string) string {
	return `{"version":"4","groupKey":"{}:{}","status":"firing","receiver":"ams","externalURL":"http://am:9093","alerts":[` +
		strings.Join(alerts, ",") + `]}`
}

func TestGolden(t *testing.T) { sourcetest.Golden(t, Parser{}, "alertmanager", nil) }

func FuzzAlertmanager(f *testing.F) { sourcetest.Fuzz(f, Parser{}, "alertmanager", nil) }

func TestParseErrors(t *testing.T) {
	okAM := `{"status":"firing","labels":{"alertname":"A"}}`
	tests := []struct {
		name    string
		body    string
		wantErr string // the whole message, or its start when ending in "…"
	}{
		{"empty body", "  \n", "empty body: expected a JSON object"},
		{"truncated JSON", `{"version":"4",`, "invalid JSON at line 1, column 16 (byte offset 15): unexpected end of JSON input"},
		{"syntax error on line 3", "{\n  \"version\": \"4\",\n  \"alerts\": [}\n", "invalid JSON at line 3, column 14 (byte offset 33): invalid character '}' looking for beginning of value"},
		{"trailing garbage", amBody(okAM) + "x", "invalid JSON at line 1…"},
		{"body is an array", `[1]`, "body: expected an object, got array"},
		{"version missing", `{"alerts":[` + okAM + `]}`, `version: missing: want "4"…`},
		{"version 3", `{"version":"3","alerts":[` + okAM + `]}`, `version: "3" is not supported: want "4"…`},
		{"no alerts", amBody(), "alerts: empty: a notification carries at least one alert"},
		{"alerts not an array", `{"version":"4","alerts":{}}`, "alerts: expected an array, got object"},
		{"alert not an object", amBody(okAM, `7`), "alerts[1]: expected an object, got number"},
		{"bad status", amBody(okAM, `{"status":"fring","labels":{"a":"b"}}`), `alerts[1].status: "fring" is not firing or resolved`},
		{"missing status", amBody(`{"labels":{"a":"b"}}`), "alerts[0].status: missing: want firing or resolved"},
		{"label value not a string", amBody(`{"status":"firing","labels":{"a":1}}`), "alerts[0].labels: expected a string, got number"},
		{"bad startsAt", amBody(`{"status":"firing","labels":{"a":"b"},"startsAt":"yesterday"}`), `alerts[0].startsAt: "yesterday" is not an RFC 3339 time…`},
		{"bad endsAt", amBody(`{"status":"firing","labels":{"a":"b"},"endsAt":"2024-13-01T00:00:00Z"}`), `alerts[0].endsAt: "2024-13-01T00:00:00Z" is not an RFC 3339 time…`},
		{"no labels and no fingerprint", amBody(`{"status":"firing"}`), "alerts[0].labels: empty, and no fingerprint given…"},
		{"fingerprint too long", amBody(`{"status":"firing","fingerprint":"` + strings.Repeat("f", 257) + `"}`), "alerts[0].fingerprint: 257 bytes is too long: use at most 256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { sourcetest.RequireError(t, Parser{}, tt.body, tt.wantErr) })
	}
}

func TestAlertmanagerSeverity(t *testing.T) {
	tests := []struct {
		label string
		want  amsv1.Severity
	}{
		{"critical", amsv1.Severity_SEVERITY_CRITICAL},
		{"CRITICAL", amsv1.Severity_SEVERITY_CRITICAL},
		{"error", amsv1.Severity_SEVERITY_ERROR},
		{"high", amsv1.Severity_SEVERITY_ERROR},
		{"warning", amsv1.Severity_SEVERITY_WARNING},
		{"info", amsv1.Severity_SEVERITY_INFO},
		{"none", amsv1.Severity_SEVERITY_INFO},
		{"", amsv1.Severity_SEVERITY_WARNING},
		{"page", amsv1.Severity_SEVERITY_WARNING},
	}
	for _, tt := range tests {
		t.Run("label "+tt.label, func(t *testing.T) {
			labels := `{"alertname":"A"}`
			if tt.label != "" {
				labels = fmt.Sprintf(`{"alertname":"A","severity":%q}`, tt.label)
			}
			a := sourcetest.ParseOne(t, Parser{}, amBody(`{"status":"firing","labels":`+labels+`}`))
			require.Equal(t, tt.want, a.GetSeverity())
		})
	}
}

func TestAlertmanagerFields(t *testing.T) {
	past := sourcetest.Now.Add(-time.Minute).Format(time.RFC3339)
	future := sourcetest.Now.Add(time.Hour).Format(time.RFC3339)
	tests := []struct {
		name  string
		alert string
		check func(t *testing.T, a *amsv1.Alert)
	}{
		{"endsAt in the past resolves a firing alert", `{"status":"firing","labels":{"a":"b"},"endsAt":"` + past + `"}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_RESOLVED, a.GetStatus())
			require.Equal(t, past, a.GetEndsAt().AsTime().Format(time.RFC3339))
		}},
		{"endsAt in the future is an expiry, not an end", `{"status":"firing","labels":{"a":"b"},"endsAt":"` + future + `"}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_FIRING, a.GetStatus())
			require.Nil(t, a.GetEndsAt())
		}},
		{"zero times are unset", `{"status":"firing","labels":{"a":"b"},"startsAt":"0001-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z"}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_FIRING, a.GetStatus())
			require.Nil(t, a.GetStartsAt())
			require.Nil(t, a.GetEndsAt())
		}},
		{"summary from annotations.summary", `{"status":"firing","labels":{"alertname":"A"},"annotations":{"summary":"S","description":"D"}}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "S", a.GetSummary())
			require.Equal(t, "D", a.GetDescription())
		}},
		{"summary falls back to description", `{"status":"firing","labels":{"alertname":"A"},"annotations":{"description":"D"}}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "D", a.GetSummary())
		}},
		{"summary falls back to alertname", `{"status":"firing","labels":{"alertname":"A"}}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "A", a.GetSummary())
		}},
		{"summary names the fingerprint as a last resort", `{"status":"firing","labels":{"x":"y"},"fingerprint":"abc"}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "Alertmanager alert abc", a.GetSummary())
		}},
		{"fingerprint from labels when absent", `{"status":"firing","labels":{"b":"2","a":"1"}}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, source.LabelsFingerprint(map[string]string{"a": "1", "b": "2"}), a.GetFingerprint())
			require.Len(t, a.GetFingerprint(), 32)
		}},
		{"host from instance without port", `{"status":"firing","labels":{"instance":"db1:9100","host":"ignored"}}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "db1", a.GetResource().GetHost())
		}},
		{"host from host label", `{"status":"firing","labels":{"host":"db2","hostname":"ignored"}}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "db2", a.GetResource().GetHost())
		}},
		{"host from hostname label", `{"status":"firing","labels":{"hostname":"db3"}}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "db3", a.GetResource().GetHost())
		}},
		{"instance that is not host:port is kept", `{"status":"firing","labels":{"instance":"db4"}}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "db4", a.GetResource().GetHost())
		}},
		{"service from job, then service", `{"status":"firing","labels":{"service":"api"}}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "api", a.GetResource().GetService())
			require.Empty(t, a.GetResource().GetHost())
		}},
		{"no resource labels, no resource", `{"status":"firing","labels":{"alertname":"A"}}`, func(t *testing.T, a *amsv1.Alert) {
			require.Nil(t, a.GetResource())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, sourcetest.ParseOne(t, Parser{}, amBody(tt.alert)))
		})
	}
}

func TestAPIGolden(t *testing.T) { sourcetest.Golden(t, APIParser{}, "alertmanager-api", nil) }

func FuzzAlertmanagerAPI(f *testing.F) { sourcetest.Fuzz(f, APIParser{}, "alertmanager-api", nil) }

func TestAPIParseErrors(t *testing.T) {
	tests := []struct{ name, body, wantErr string }{
		{"not an array", `{"labels":{"a":"b"}}`, "body: expected an array, got object"},
		{"empty array", `[]`, "body: empty array: send at least one alert"},
		{"no labels", `[{"annotations":{"summary":"x"}}]`, "[0].labels: missing or empty…"},
		{"only empty label values", `[{"labels":{"a":""}}]`, "[0].labels: missing or empty…"},
		{"bad startsAt", `[{"labels":{"a":"b"}},{"labels":{"a":"c"},"startsAt":"soon"}]`, `[1].startsAt: "soon" is not an RFC 3339 time…`},
		{"ends before starts", `[{"labels":{"a":"b"},"startsAt":"2024-05-01T11:00:00Z","endsAt":"2024-05-01T10:00:00Z"}]`, "[0]: start time must be before end time…"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { sourcetest.RequireError(t, APIParser{}, tt.body, tt.wantErr) })
	}
}

func TestAPIStatusFromEndsAt(t *testing.T) {
	future := sourcetest.Now.Add(4 * time.Minute).Format(time.RFC3339)
	past := sourcetest.Now.Add(-time.Minute).Format(time.RFC3339)
	firing := sourcetest.ParseOne(t, APIParser{}, `[{"labels":{"a":"b"},"startsAt":"2024-05-01T11:00:00Z","endsAt":"`+future+`"}]`)
	require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_FIRING, firing.GetStatus(), "Prometheus sets endsAt ahead as an expiry")
	require.Nil(t, firing.GetEndsAt())
	resolved := sourcetest.ParseOne(t, APIParser{}, `[{"labels":{"a":"b"},"startsAt":"2024-05-01T11:00:00Z","endsAt":"`+past+`"}]`)
	require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_RESOLVED, resolved.GetStatus())
	require.Equal(t, firing.GetFingerprint(), resolved.GetFingerprint())
	unset := sourcetest.ParseOne(t, APIParser{}, `[{"labels":{"a":"b"},"startsAt":"0001-01-01T00:00:00Z","endsAt":"0001-01-01T00:00:00Z"}]`)
	require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_FIRING, unset.GetStatus(), "zero times mean unset")
	require.Nil(t, unset.GetStartsAt())
}
