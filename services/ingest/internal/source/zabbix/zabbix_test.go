package zabbix

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ingest/internal/source"
	"github.com/amsproject/ams/services/ingest/internal/source/sourcetest"
)

// zbBody is what the media type sends for a High problem on db-01, with
// fields replaced by over (a nil value drops one).
func zbBody(over map[string]any) string {
	m := map[string]any{
		"event_source": "0", "event_value": "1", "event_update_status": "0", "event_ack_status": "No",
		"event_id": "4711", "event_name": "MySQL: Service is down", "event_nseverity": "4",
		"event_severity": "High", "event_timestamp": "1714564200", "event_recovery_id": "",
		"event_recovery_timestamp": "", "event_tags": []map[string]string{{"tag": "scope", "value": "availability"}},
		"trigger_id": "23840", "host_id": "10584", "host_host": "db-01", "host_name": "db-01 (orders primary)",
		"zabbix_url": "https://zabbix.example.com",
	}
	for k, v := range over {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, err := json.Marshal(m)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestGolden(t *testing.T) { sourcetest.Golden(t, Parser{}, "zabbix", nil) }

func FuzzZabbix(f *testing.F) { sourcetest.Fuzz(f, Parser{}, "zabbix", nil) }

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr string // the whole message, or its start when ending in "…"
	}{
		{"empty body", "", "empty body: expected a JSON object"},
		{"truncated JSON", `{"event_id":"4711"`, "invalid JSON at line 1, column 19 (byte offset 18): unexpected end of JSON input"},
		{"body is a number", `4711`, "body: expected an object, got number"},
		{"event_value missing", zbBody(map[string]any{"event_value": nil}), "event_value: missing: send {EVENT.VALUE}, 1 for a problem or 0 for a recovery (import the AMS media type deploy/integrations/zabbix/ams-media-type.yaml)"},
		{"event_value unresolved", zbBody(map[string]any{"event_value": "{EVENT.VALUE}"}), "event_value: missing: send {EVENT.VALUE}…"},
		{"event_value not 0 or 1", zbBody(map[string]any{"event_value": "2"}), `event_value: "2" is not 1 (problem) or 0 (recovery): send {EVENT.VALUE}`},
		{"event_value a number", zbBody(map[string]any{"event_value": 1}), "event_value: expected a string, got number"},
		{"event_update_status not 0 or 1", zbBody(map[string]any{"event_update_status": "yes"}), `event_update_status: "yes" is not 0 (a problem or recovery) or 1 (an update operation): send {EVENT.UPDATE.STATUS}`},
		{"unknown event source", zbBody(map[string]any{"event_source": "9"}), `event_source: "9" is not 0 (trigger), 3 (internal) or 4 (service): send {EVENT.SOURCE}`},
		{"event_id missing", zbBody(map[string]any{"event_id": nil}), "event_id: missing: send {EVENT.ID} (import the AMS media type deploy/integrations/zabbix/ams-media-type.yaml)"},
		{"event_id too long", zbBody(map[string]any{"event_id": strings.Repeat("9", 300)}), "event_id: 300 bytes is too long: use at most 256"},
		{"nseverity out of range", zbBody(map[string]any{"event_nseverity": "6"}), `event_nseverity: "6" is not a severity from 0 (Not classified) to 5 (Disaster): send {EVENT.NSEVERITY}`},
		{"nseverity a name", zbBody(map[string]any{"event_nseverity": "High"}), `event_nseverity: "High" is not a severity…`},
		{"event_timestamp a date", zbBody(map[string]any{"event_timestamp": "2024.05.01"}), `event_timestamp: "2024.05.01" is not a Unix time in seconds such as 1714564200`},
		{"event_timestamp in milliseconds", zbBody(map[string]any{"event_timestamp": "1714564200000000"}), `event_timestamp: "1714564200000000" is after the year 9999: want a Unix time in seconds such as 1714564200`},
		{"bad recovery timestamp", zbBody(map[string]any{"event_value": "0", "event_recovery_timestamp": "11:58:00"}), `event_recovery_timestamp: "11:58:00" is not a Unix time…`},
		{"tags as the raw macro text", zbBody(map[string]any{"event_tags": `[{"tag":"a","value":"b"}]`}), "event_tags: expected an array, got string"},
		{"tag value not a string", zbBody(map[string]any{"event_tags": []map[string]any{{"tag": "a", "value": 1}}}), "event_tags.value: expected a string, got number"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { sourcetest.RequireError(t, Parser{}, tt.body, tt.wantErr) })
	}
}

func TestIgnoredSources(t *testing.T) {
	for src, what := range map[string]string{"1": "discovery", "2": "autoregistration"} {
		t.Run(what, func(t *testing.T) {
			alerts, err := Parser{}.Parse(source.Request{Body: []byte(zbBody(map[string]any{"event_source": src, "event_value": ""})), Now: sourcetest.Now})
			require.Nil(t, alerts)
			ig, ok := errors.AsType[*source.Ignored](err)
			require.True(t, ok, "got %v", err)
			require.Equal(t, "Zabbix "+what+" events carry no alert", ig.Reason)
		})
	}
}

func TestStatus(t *testing.T) {
	start := time.Unix(1714564200, 0).UTC()
	tests := []struct {
		name   string
		over   map[string]any
		status amsv1.AlertStatus
		endsAt time.Time
	}{
		{"problem", nil, amsv1.AlertStatus_ALERT_STATUS_FIRING, time.Time{}},
		{"recovery", map[string]any{"event_value": "0", "event_recovery_timestamp": "1714564680"}, amsv1.AlertStatus_ALERT_STATUS_RESOLVED, time.Unix(1714564680, 0).UTC()},
		{"recovery without its time", map[string]any{"event_value": "0", "event_recovery_timestamp": "{EVENT.RECOVERY.TIMESTAMP}"}, amsv1.AlertStatus_ALERT_STATUS_RESOLVED, time.Time{}},
		{"acknowledged", map[string]any{"event_update_status": "1", "event_ack_status": "Yes"}, amsv1.AlertStatus_ALERT_STATUS_ACKNOWLEDGED, time.Time{}},
		{"unacknowledged", map[string]any{"event_update_status": "1", "event_ack_status": "No"}, amsv1.AlertStatus_ALERT_STATUS_FIRING, time.Time{}},
		{"acknowledged, but not in an update", map[string]any{"event_update_status": "0", "event_ack_status": "Yes"}, amsv1.AlertStatus_ALERT_STATUS_FIRING, time.Time{}},
		{"update of a resolved problem", map[string]any{"event_value": "0", "event_update_status": "1", "event_ack_status": "Yes", "event_recovery_timestamp": "1714564680"}, amsv1.AlertStatus_ALERT_STATUS_RESOLVED, time.Unix(1714564680, 0).UTC()},
		{"internal event", map[string]any{"event_source": "3"}, amsv1.AlertStatus_ALERT_STATUS_FIRING, time.Time{}},
		{"service event", map[string]any{"event_source": "4", "event_value": "0", "event_recovery_timestamp": "1714564680"}, amsv1.AlertStatus_ALERT_STATUS_RESOLVED, time.Unix(1714564680, 0).UTC()},
		{"no event source: a trigger", map[string]any{"event_source": nil}, amsv1.AlertStatus_ALERT_STATUS_FIRING, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := sourcetest.ParseOne(t, Parser{}, zbBody(tt.over))
			require.Equal(t, tt.status, a.GetStatus())
			require.Equal(t, start, a.GetStartsAt().AsTime())
			if tt.endsAt.IsZero() {
				require.Nil(t, a.GetEndsAt())
			} else {
				require.Equal(t, tt.endsAt, a.GetEndsAt().AsTime())
			}
		})
	}
}

func TestSeverity(t *testing.T) {
	tests := []struct {
		nseverity, name string
		want            amsv1.Severity
	}{
		{"5", "Disaster", amsv1.Severity_SEVERITY_CRITICAL},
		{"4", "High", amsv1.Severity_SEVERITY_ERROR},
		{"3", "Average", amsv1.Severity_SEVERITY_WARNING},
		{"2", "Warning", amsv1.Severity_SEVERITY_WARNING},
		{"1", "Information", amsv1.Severity_SEVERITY_INFO},
		{"0", "Not classified", amsv1.Severity_SEVERITY_INFO},
		{"5", "Renamed by the admin", amsv1.Severity_SEVERITY_CRITICAL},
		{"", "Disaster", amsv1.Severity_SEVERITY_CRITICAL},
		{"", "high", amsv1.Severity_SEVERITY_ERROR},
		{"{EVENT.NSEVERITY}", "Average", amsv1.Severity_SEVERITY_WARNING},
		{"", "Sev-1", amsv1.Severity_SEVERITY_INFO},
		{"", "", amsv1.Severity_SEVERITY_INFO},
	}
	for _, tt := range tests {
		t.Run(tt.nseverity+" "+tt.name, func(t *testing.T) {
			a := sourcetest.ParseOne(t, Parser{}, zbBody(map[string]any{"event_nseverity": tt.nseverity, "event_severity": tt.name}))
			require.Equal(t, tt.want, a.GetSeverity())
		})
	}
}

func TestFingerprint(t *testing.T) {
	fp := func(over map[string]any) string {
		return sourcetest.ParseOne(t, Parser{}, zbBody(over)).GetFingerprint()
	}
	require.Equal(t, "4711", fp(nil))
	require.Equal(t, "4711", fp(map[string]any{"event_value": "0", "event_recovery_id": "4790"}), "a recovery carries the problem's id")
	require.NotEqual(t, fp(nil), fp(map[string]any{"event_id": "4712", "host_host": "db-02"}))

	t.Run("the golden samples", func(t *testing.T) {
		parse := func(name string) *amsv1.Alert {
			return sourcetest.ParseOne(t, Parser{}, string(sourcetest.ReadSample(t, "zabbix/"+name+".json")))
		}
		problem, ack, recovery := parse("problem"), parse("acknowledged"), parse("recovery")
		require.Equal(t, problem.GetFingerprint(), ack.GetFingerprint())
		require.Equal(t, problem.GetFingerprint(), recovery.GetFingerprint())
	})
}

func TestFields(t *testing.T) {
	tests := []struct {
		name  string
		over  map[string]any
		check func(t *testing.T, a *amsv1.Alert)
	}{
		{"tags become labels, with trigger and host ids", map[string]any{"event_tags": []map[string]string{
			{"tag": "scope", "value": "availability"}, {"tag": "team", "value": "dba"}, {"tag": "team", "value": "ops"}, {"tag": "team", "value": "dba"}, {"tag": "flag", "value": ""},
		}}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, map[string]string{
				"scope": "availability", "team": "dba,ops", "flag": "",
				"zabbix_trigger_id": "23840", "zabbix_host_id": "10584",
			}, a.GetLabels())
		}},
		{"resource: technical host name and tags", map[string]any{"event_tags": []map[string]string{{"tag": "service", "value": "orders-db"}, {"tag": "region", "value": "eu-central-1"}}}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, &amsv1.Resource{Host: "db-01", Service: "orders-db", Region: "eu-central-1"}, a.GetResource())
		}},
		{"resource: visible name without a technical one", map[string]any{"host_host": "{HOST.HOST}"}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "db-01 (orders primary)", a.GetResource().GetHost())
		}},
		{"resource: a service event's service", map[string]any{"event_source": "4", "host_host": "", "host_name": "", "service_name": "Checkout"}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, &amsv1.Resource{Service: "Checkout"}, a.GetResource())
		}},
		{"no host, no resource", map[string]any{"host_host": "UNKNOWN", "host_name": "*UNKNOWN*", "event_tags": []any{}}, func(t *testing.T, a *amsv1.Alert) {
			require.Nil(t, a.GetResource())
		}},
		{"summary: event name, then trigger name, then subject", map[string]any{"event_name": "", "trigger_name": "", "alert_subject": "Problem: X"}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "Problem: X", a.GetSummary())
		}},
		{"summary names the event as a last resort", map[string]any{"event_name": nil}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "Zabbix problem 4711", a.GetSummary())
		}},
		{"description: trigger description, else the message", map[string]any{"trigger_description": "", "alert_message": "Service problem started"}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "Service problem started", a.GetDescription())
		}},
		{"links: the problem page and the trigger URL", map[string]any{"zabbix_url": "https://zabbix.example.com/", "trigger_url": "https://wiki.example.com/mysql"}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, []*amsv1.Link{
				{Url: "https://zabbix.example.com/tr_events.php?eventid=4711&triggerid=23840", Title: "Zabbix problem"},
				{Url: "https://wiki.example.com/mysql", Title: "Trigger URL"},
			}, a.GetLinks())
		}},
		{"no problem link without {$ZABBIX.URL}", map[string]any{"zabbix_url": "{$ZABBIX.URL}"}, func(t *testing.T, a *amsv1.Alert) {
			require.Empty(t, a.GetLinks())
		}},
		{"no problem link without a trigger", map[string]any{"trigger_id": ""}, func(t *testing.T, a *amsv1.Alert) {
			require.Empty(t, a.GetLinks())
		}},
		{"annotations keep the update", map[string]any{"event_update_status": "1", "event_ack_status": "Yes", "event_update_action": "acknowledged", "event_update_message": "on it", "host_ip": "192.0.2.21", "event_opdata": "{ITEM.LASTVALUE1}"}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, map[string]string{
				"event_severity": "High", "event_ack_status": "Yes", "event_update_action": "acknowledged",
				"event_update_message": "on it", "host_name": "db-01 (orders primary)", "host_ip": "192.0.2.21",
			}, a.GetAnnotations())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, sourcetest.ParseOne(t, Parser{}, zbBody(tt.over))) })
	}
}

// TestMediaType keeps the shipped media type and the parser in step: the
// parameters the script sends are exactly the fields the parser reads, and
// each is given the macro it is named after.
func TestMediaType(t *testing.T) {
	yaml, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "..", MediaType))
	require.NoError(t, err)

	params := map[string]string{}
	for _, m := range regexp.MustCompile(`(?m)^ {8}- name: (\S+)\n {10}value: '([^']*)'$`).FindAllStringSubmatch(string(yaml), -1) {
		params[m[1]] = m[2]
	}
	require.Len(t, params, strings.Count(string(yaml), "\n        - name: "), "every parameter has a quoted value")

	var fields []string
	for f := range reflect.TypeFor[notification]().Fields() {
		fields = append(fields, f.Tag.Get("json"))
	}
	var sent []string
	for name := range params {
		if !slices.Contains([]string{"ams_url", "ams_token", "http_proxy"}, name) {
			sent = append(sent, name)
		}
	}
	slices.Sort(fields)
	slices.Sort(sent)
	require.Equal(t, fields, sent)

	for name, macro := range params {
		if slices.Contains([]string{"ams_url", "http_proxy", "ams_token", "zabbix_url"}, name) {
			continue
		}
		// event_tags → {EVENT.TAGSJSON}, host_host → {HOST.HOST}, ...
		want := "{" + strings.ToUpper(strings.ReplaceAll(name, "_", ".")) + "}"
		if name == "event_tags" {
			want = "{EVENT.TAGSJSON}"
		}
		require.Equal(t, want, macro, "parameter %s", name)
	}
	require.Equal(t, "{$AMS.TOKEN}", params["ams_token"])
	require.Equal(t, "{$ZABBIX.URL}", params["zabbix_url"])
	require.Contains(t, string(yaml), "request.addHeader('Authorization: Bearer ' + token);")
}
