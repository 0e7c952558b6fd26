package source

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// amBody wraps alert JSON objects in an Alertmanager v4 envelope.
func amBody(alerts ...string) string {
	return `{"version":"4","groupKey":"{}:{}","status":"firing","receiver":"ams","externalURL":"http://am:9093","alerts":[` +
		strings.Join(alerts, ",") + `]}`
}

func TestParseErrors(t *testing.T) {
	okAM := `{"status":"firing","labels":{"alertname":"A"}}`
	tests := []struct {
		name    string
		source  string
		body    string
		wantErr string // the whole message, or its start when ending in "…"
	}{
		{"am empty body", Alertmanager, "  \n", "empty body: expected a JSON object"},
		{"am truncated JSON", Alertmanager, `{"version":"4",`, "invalid JSON at line 1, column 16 (byte offset 15): unexpected end of JSON input"},
		{"am syntax error on line 3", Alertmanager, "{\n  \"version\": \"4\",\n  \"alerts\": [}\n", "invalid JSON at line 3, column 14 (byte offset 33): invalid character '}' looking for beginning of value"},
		{"am trailing garbage", Alertmanager, amBody(okAM) + "x", "invalid JSON at line 1…"},
		{"am body is an array", Alertmanager, `[1]`, "body: expected an object, got array"},
		{"am version missing", Alertmanager, `{"alerts":[` + okAM + `]}`, `version: missing: want "4"…`},
		{"am version 3", Alertmanager, `{"version":"3","alerts":[` + okAM + `]}`, `version: "3" is not supported: want "4"…`},
		{"am no alerts", Alertmanager, amBody(), "alerts: empty: a notification carries at least one alert"},
		{"am alerts not an array", Alertmanager, `{"version":"4","alerts":{}}`, "alerts: expected an array, got object"},
		{"am alert not an object", Alertmanager, amBody(okAM, `7`), "alerts[1]: expected an object, got number"},
		{"am bad status", Alertmanager, amBody(okAM, `{"status":"fring","labels":{"a":"b"}}`), `alerts[1].status: "fring" is not firing or resolved`},
		{"am missing status", Alertmanager, amBody(`{"labels":{"a":"b"}}`), "alerts[0].status: missing: want firing or resolved"},
		{"am label value not a string", Alertmanager, amBody(`{"status":"firing","labels":{"a":1}}`), "alerts[0].labels: expected a string, got number"},
		{"am bad startsAt", Alertmanager, amBody(`{"status":"firing","labels":{"a":"b"},"startsAt":"yesterday"}`), `alerts[0].startsAt: "yesterday" is not an RFC 3339 time…`},
		{"am bad endsAt", Alertmanager, amBody(`{"status":"firing","labels":{"a":"b"},"endsAt":"2024-13-01T00:00:00Z"}`), `alerts[0].endsAt: "2024-13-01T00:00:00Z" is not an RFC 3339 time…`},
		{"am no labels and no fingerprint", Alertmanager, amBody(`{"status":"firing"}`), "alerts[0].labels: empty, and no fingerprint given…"},
		{"am fingerprint too long", Alertmanager, amBody(`{"status":"firing","fingerprint":"` + strings.Repeat("f", 257) + `"}`), "alerts[0].fingerprint: 257 bytes is too long: use at most 256"},

		{"generic null body", Generic, `null`, "body: expected an object, got null"},
		{"generic body is a string", Generic, `"hello"`, "body: expected an object, got string"},
		{"generic missing summary", Generic, `{"severity":"info"}`, "summary: missing: give a one-line summary (or title)"},
		{"generic blank title", Generic, `{"title":"  "}`, "summary: missing…"},
		{"generic unknown field", Generic, `{"sumary":"x"}`, `body: unknown field "sumary"`},
		{"generic bad severity", Generic, `{"summary":"x","severity":"high"}`, `severity: "high" is not critical, error, warning or info`},
		{"generic resource field type", Generic, `{"summary":"x","resource":{"host":1}}`, "resource.host: expected a string, got number"},
		{"generic relative link", Generic, `{"summary":"x","links":[{"url":"https://a.example/x"},{"url":"/d/x"}]}`, `links[1].url: "/d/x" is not an absolute URL…`},
		{"generic link without url", Generic, `{"summary":"x","links":[{"title":"t"}]}`, "links[0].url: missing"},
		{"generic ends before starts", Generic, `{"summary":"x","starts_at":"2024-05-01T10:00:00Z","ends_at":"2024-05-01T09:00:00Z"}`, "ends_at: 2024-05-01T09:00:00Z is before starts_at 2024-05-01T10:00:00Z"},
		{"generic bad starts_at", Generic, `{"summary":"x","starts_at":"1714557600"}`, `starts_at: "1714557600" is not an RFC 3339 time…`},
		{"generic batch bad status", Generic, `{"alerts":[{"summary":"a"},{"summary":"b"},{"summary":"c","status":"fring"}]}`, `alerts[2].status: "fring" is not firing or resolved`},
		{"generic batch unknown field", Generic, `{"alerts":[{"summary":"a","sevrity":"info"}]}`, `alerts[0]: unknown field "sevrity"`},
		{"generic batch type error", Generic, `{"alerts":[{"summary":"a"},{"summary":["b"]}]}`, "alerts[1].summary: expected a string, got array"},
		{"generic batch empty", Generic, `{"alerts":[]}`, "alerts: empty: send at least one alert"},
		{"generic batch null", Generic, `{"alerts":null}`, "alerts: empty: send at least one alert"},
		{"generic batch with alert fields", Generic, `{"alerts":[{"summary":"a"}],"summary":"b"}`, `body: unknown field "summary": a batch has only "alerts"…`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, ok := ForName(tt.source)
			require.True(t, ok)
			alerts, err := p.Parse([]byte(tt.body), testNow)
			require.Error(t, err)
			require.Nil(t, alerts)
			var se *Error
			require.True(t, errors.As(err, &se), "error %T is not a *source.Error", err)
			if prefix, ok := strings.CutSuffix(tt.wantErr, "…"); ok {
				require.True(t, strings.HasPrefix(err.Error(), prefix), "error %q does not start with %q", err, prefix)
				return
			}
			require.Equal(t, tt.wantErr, err.Error())
		})
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
			a := parseOne(t, Alertmanager, amBody(`{"status":"firing","labels":`+labels+`}`))
			require.Equal(t, tt.want, a.GetSeverity())
		})
	}
}

func TestAlertmanagerFields(t *testing.T) {
	past := testNow.Add(-time.Minute).Format(time.RFC3339)
	future := testNow.Add(time.Hour).Format(time.RFC3339)
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
			require.Equal(t, labelsFingerprint(map[string]string{"a": "1", "b": "2"}), a.GetFingerprint())
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
			tt.check(t, parseOne(t, Alertmanager, amBody(tt.alert)))
		})
	}
}

func TestGenericFields(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, a *amsv1.Alert)
	}{
		{"defaults", `{"summary":"S"}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_FIRING, a.GetStatus())
			require.Equal(t, amsv1.Severity_SEVERITY_WARNING, a.GetSeverity())
			require.Equal(t, hashParts("S", ""), a.GetFingerprint())
			require.Nil(t, a.GetStartsAt())
		}},
		{"title is an alias of summary", `{"title":"T"}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "T", a.GetSummary())
		}},
		{"summary wins over title", `{"summary":"S","title":"T"}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "S", a.GetSummary())
		}},
		{"status and severity are case-insensitive", `{"summary":"S","status":"Resolved","severity":"CRITICAL"}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_RESOLVED, a.GetStatus())
			require.Equal(t, amsv1.Severity_SEVERITY_CRITICAL, a.GetSeverity())
		}},
		{"fingerprint from summary and host without labels", `{"summary":"S","resource":{"host":"h1"}}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, hashParts("S", "h1"), a.GetFingerprint())
			require.NotEqual(t, hashParts("S", "h2"), a.GetFingerprint())
		}},
		{"fingerprint from labels ignores summary", `{"summary":"changing text 42","labels":{"check":"disk"},"resource":{"host":"h1"}}`, func(t *testing.T, a *amsv1.Alert) {
			same := parseOne(t, Generic, `{"summary":"other text 43","labels":{"check":"disk"},"resource":{"host":"h1"}}`)
			require.Equal(t, same.GetFingerprint(), a.GetFingerprint())
			otherHost := parseOne(t, Generic, `{"summary":"changing text 42","labels":{"check":"disk"},"resource":{"host":"h2"}}`)
			require.NotEqual(t, otherHost.GetFingerprint(), a.GetFingerprint(), "same labels on another host is another condition")
		}},
		{"explicit fingerprint is kept", `{"summary":"S","fingerprint":" fp-1 ","labels":{"a":"b"}}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "fp-1", a.GetFingerprint())
		}},
		{"ends_at in the past resolves", `{"summary":"S","ends_at":"2024-05-01T11:00:00Z"}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_RESOLVED, a.GetStatus())
			require.Equal(t, time.Date(2024, 5, 1, 11, 0, 0, 0, time.UTC), a.GetEndsAt().AsTime())
		}},
		{"times are normalised to UTC", `{"summary":"S","starts_at":"2024-05-01T20:00:00+09:00"}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, time.Date(2024, 5, 1, 11, 0, 0, 0, time.UTC), a.GetStartsAt().AsTime())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, parseOne(t, Generic, tt.body))
		})
	}
}

func TestHostFromInstance(t *testing.T) {
	tests := map[string]string{
		"db1:9100":                       "db1",
		"10.0.0.5:9100":                  "10.0.0.5",
		"[2001:db8::1]:9100":             "2001:db8::1",
		"https://www.example.com/health": "www.example.com",
		"http://www.example.com:8080":    "www.example.com",
		"db1":                            "db1",
		"db1:notaport":                   "db1:notaport",
		"":                               "",
	}
	for in, want := range tests {
		t.Run(in, func(t *testing.T) {
			require.Equal(t, want, hostFromInstance(in))
		})
	}
}

func TestForName(t *testing.T) {
	for _, name := range Supported() {
		_, ok := ForName(name)
		require.True(t, ok, name)
	}
	_, ok := ForName("nagios")
	require.False(t, ok)
}

func parseOne(tb testing.TB, src, body string) *amsv1.Alert {
	tb.Helper()
	p, ok := ForName(src)
	require.True(tb, ok)
	alerts, err := p.Parse([]byte(body), testNow)
	require.NoError(tb, err)
	require.Len(tb, alerts, 1)
	return alerts[0]
}
