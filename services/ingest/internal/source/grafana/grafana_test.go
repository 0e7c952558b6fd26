package grafana

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

// gfBody wraps alert JSON objects in a Grafana webhook envelope.
func gfBody(alerts ...string) string {
	return `{"receiver":"ams","status":"firing","orgId":1,"version":"1","groupKey":"{}:{}","externalURL":"https://grafana.example.com/","alerts":[` +
		strings.Join(alerts, ",") + `]}`
}

func TestGolden(t *testing.T) { sourcetest.Golden(t, Parser{}, "grafana", nil) }

func FuzzGrafana(f *testing.F) { sourcetest.Fuzz(f, Parser{}, "grafana", nil) }

func TestParseErrors(t *testing.T) {
	ok := `{"status":"firing","labels":{"alertname":"A"}}`
	tests := []struct {
		name    string
		body    string
		wantErr string // the whole message, or its start when ending in "…"
	}{
		{"empty body", "\n", "empty body: expected a JSON object"},
		{"truncated JSON", `{"version":"1","alerts":[`, "invalid JSON at line 1, column 26 (byte offset 25): unexpected end of JSON input"},
		{"body is an array", `[{}]`, "body: expected an object, got array"},
		{"version missing (legacy alerting)", `{"ruleName":"CPU","state":"alerting","evalMatches":[]}`, `version: missing: want "1" (the Grafana Alerting webhook contact point); legacy dashboard alerting is not supported`},
		{"Alertmanager payload", `{"version":"4","alerts":[` + ok + `]}`, `version: "4" is the Prometheus Alertmanager payload: set the integration's source to alertmanager`},
		{"unknown version", `{"version":"2","alerts":[` + ok + `]}`, `version: "2" is not supported: want "1" (the Grafana Alerting webhook contact point)`},
		{"version a number", `{"version":1,"alerts":[` + ok + `]}`, "version: expected a string, got number"},
		{"orgId a string", `{"version":"1","orgId":"1","alerts":[` + ok + `]}`, "orgId: expected a whole number, got string"},
		{"no alerts", gfBody(), "alerts: empty: a notification carries at least one alert"},
		{"alerts not an array", `{"version":"1","alerts":{}}`, "alerts: expected an array, got object"},
		{"alert not an object", gfBody(ok, `"x"`), "alerts[1]: expected an object, got string"},
		{"missing status", gfBody(`{"labels":{"a":"b"}}`), "alerts[0].status: missing: want firing or resolved"},
		{"bad status", gfBody(`{"status":"alerting","labels":{"a":"b"}}`), `alerts[0].status: "alerting" is not firing or resolved`},
		{"label not a string", gfBody(`{"status":"firing","labels":{"a":true}}`), "alerts[0].labels: expected a string, got bool"},
		{"value not a number", gfBody(`{"status":"firing","labels":{"a":"b"},"values":{"B":"44"}}`), "alerts[0].values: expected a number, got string"},
		{"bad startsAt", gfBody(`{"status":"firing","labels":{"a":"b"},"startsAt":"12/10/2021"}`), `alerts[0].startsAt: "12/10/2021" is not an RFC 3339 time…`},
		{"bad endsAt", gfBody(`{"status":"resolved","labels":{"a":"b"},"endsAt":"later"}`), `alerts[0].endsAt: "later" is not an RFC 3339 time…`},
		{"no labels and no fingerprint", gfBody(`{"status":"firing"}`), "alerts[0].labels: empty, and no fingerprint given…"},
		{"fingerprint too long", gfBody(`{"status":"firing","fingerprint":"` + strings.Repeat("a", 257) + `"}`), "alerts[0].fingerprint: 257 bytes is too long: use at most 256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { sourcetest.RequireError(t, Parser{}, tt.body, tt.wantErr) })
	}
}

func TestSeverity(t *testing.T) {
	tests := []struct {
		label string
		want  amsv1.Severity
	}{
		{"critical", amsv1.Severity_SEVERITY_CRITICAL},
		{"Critical", amsv1.Severity_SEVERITY_CRITICAL},
		{"error", amsv1.Severity_SEVERITY_ERROR},
		{"high", amsv1.Severity_SEVERITY_ERROR},
		{"warning", amsv1.Severity_SEVERITY_WARNING},
		{"info", amsv1.Severity_SEVERITY_INFO},
		{"none", amsv1.Severity_SEVERITY_INFO},
		{"", amsv1.Severity_SEVERITY_WARNING},
		{"sev1", amsv1.Severity_SEVERITY_WARNING},
	}
	for _, tt := range tests {
		t.Run("label "+tt.label, func(t *testing.T) {
			labels := `{"alertname":"A"}`
			if tt.label != "" {
				labels = fmt.Sprintf(`{"alertname":"A","severity":%q}`, tt.label)
			}
			a := sourcetest.ParseOne(t, Parser{}, gfBody(`{"status":"firing","labels":`+labels+`}`))
			require.Equal(t, tt.want, a.GetSeverity())
		})
	}
}

func TestFingerprint(t *testing.T) {
	parse := func(name string) []*amsv1.Alert {
		alerts, err := Parser{}.Parse(source.Request{Body: sourcetest.ReadSample(t, "grafana/"+name+".json"), Now: sourcetest.Now})
		require.NoError(t, err)
		return alerts
	}
	firing, resolved := parse("firing"), parse("resolved")
	require.Len(t, firing, 2)
	require.Len(t, resolved, 1)
	require.Equal(t, "c6eadffa33fcdf37", firing[0].GetFingerprint())
	require.Equal(t, firing[0].GetFingerprint(), resolved[0].GetFingerprint(), "a resolve matches its firing alert")
	require.NotEqual(t, firing[0].GetFingerprint(), firing[1].GetFingerprint(), "another zone is another alert")

	t.Run("labels hash without a fingerprint", func(t *testing.T) {
		a := sourcetest.ParseOne(t, Parser{}, gfBody(`{"status":"firing","labels":{"instance":"h1","alertname":"A"}}`))
		require.Equal(t, source.LabelsFingerprint(map[string]string{"alertname": "A", "instance": "h1"}), a.GetFingerprint())
		b := sourcetest.ParseOne(t, Parser{}, gfBody(`{"status":"firing","labels":{"instance":"h2","alertname":"A"}}`))
		require.NotEqual(t, a.GetFingerprint(), b.GetFingerprint())
	})
}

func TestFields(t *testing.T) {
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
		{"endsAt in the future is not an end", `{"status":"firing","labels":{"a":"b"},"endsAt":"` + future + `"}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_FIRING, a.GetStatus())
			require.Nil(t, a.GetEndsAt())
		}},
		{"times in other zones are stored in UTC", `{"status":"firing","labels":{"a":"b"},"startsAt":"2021-10-12T09:51:03.157076+02:00","endsAt":"0001-01-01T00:00:00Z"}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, time.Date(2021, 10, 12, 7, 51, 3, 157076000, time.UTC), a.GetStartsAt().AsTime())
			require.Nil(t, a.GetEndsAt())
		}},
		{"summary from annotations.summary, description kept", `{"status":"firing","labels":{"alertname":"A"},"annotations":{"summary":"S","description":" D "}}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "S", a.GetSummary())
			require.Equal(t, "D", a.GetDescription())
		}},
		{"summary falls back to description, then alertname", `{"status":"firing","labels":{"alertname":"A"},"annotations":{"description":"D"}}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "D", a.GetSummary())
		}},
		{"the Test button's alert", `{"status":"firing","labels":{"alertname":"TestAlert","instance":"Grafana"},"annotations":{"summary":"Notification test"}}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "Notification test", a.GetSummary())
			require.Equal(t, "Grafana", a.GetResource().GetHost())
		}},
		{"summary names the fingerprint as a last resort", `{"status":"firing","labels":{"x":"y"},"fingerprint":"abc"}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "Grafana alert abc", a.GetSummary())
		}},
		{"values, value string and org in annotations", `{"status":"firing","labels":{"a":"b"},"values":{"C":1,"B":44.23943737541908,"D":null},"valueString":"[ var='B' value=44.2 ]"}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, map[string]string{
				"grafana_values":       "B=44.23943737541908, C=1, D=null",
				"grafana_value_string": "[ var='B' value=44.2 ]",
				"grafana_org_id":       "1",
			}, a.GetAnnotations())
		}},
		{"the rule's annotation wins a name clash", `{"status":"firing","labels":{"a":"b"},"values":{"B":1},"annotations":{"grafana_values":"mine"}}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "mine", a.GetAnnotations()["grafana_values"])
		}},
		{"resource from conventional labels", `{"status":"firing","labels":{"instance":"db-01:9100","job":"node","region":"eu-west-1","account_id":"123"}}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, &amsv1.Resource{Host: "db-01", Service: "node", Region: "eu-west-1", Account: "123"}, a.GetResource())
		}},
		{"links in order, empty ones dropped", `{"status":"firing","labels":{"a":"b"},"generatorURL":"https://g/rule","dashboardURL":"","panelURL":"https://g/panel","imageURL":"https://g/img.png","silenceURL":"https://g/silence","annotations":{"runbook_url":"https://rb"}}`, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, []*amsv1.Link{
				{Url: "https://g/rule", Title: "Alert rule"},
				{Url: "https://g/panel", Title: "Panel"},
				{Url: "https://g/img.png", Title: "Image"},
				{Url: "https://rb", Title: "Runbook"},
				{Url: "https://g/silence", Title: "Silence"},
				{Url: "https://grafana.example.com/", Title: "Grafana"},
			}, a.GetLinks())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, sourcetest.ParseOne(t, Parser{}, gfBody(tt.alert))) })
	}
}
