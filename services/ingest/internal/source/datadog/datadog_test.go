package datadog

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ingest/internal/source"
	"github.com/amsproject/ams/services/ingest/internal/source/sourcetest"
)

// ddBody is a notification made with the AMS template: a triggered CPU
// monitor on web-01, with fields replaced by over (a nil value drops one).
func ddBody(over map[string]any) string {
	m := map[string]any{
		"id":               "7540312186584401733",
		"date":             "1714563000000",
		"title":            "[Triggered on {host:web-01}] CPU usage is high on web-01",
		"alert_id":         "1234",
		"alert_transition": "Triggered",
		"alert_type":       "error",
		"alert_scope":      "host:web-01",
		"org":              map[string]string{"id": "11023", "name": "Acme"},
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

func TestGolden(t *testing.T) { sourcetest.Golden(t, Parser{}, "datadog", nil) }

func FuzzDatadog(f *testing.F) { sourcetest.Fuzz(f, Parser{}, "datadog", nil) }

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr string // the whole message, or its start when ending in "…"
	}{
		{"empty body", " ", "empty body: expected a JSON object"},
		{"truncated JSON", `{"alert_id":"1`, "invalid JSON at line 1…"},
		{"form-encoded body", `alert_id=1234&alert_transition=Triggered`, "invalid JSON at line 1, column 1…"},
		{"body is an array", `[]`, "body: expected an object, got array"},
		{"null body", `null`, `alert_transition: missing: send "$ALERT_TRANSITION" (use the payload template deploy/integrations/datadog/webhook-payload.json)`},
		{"empty object", `{}`, `alert_transition: missing: send "$ALERT_TRANSITION"…`},
		{"transition missing", ddBody(map[string]any{"alert_transition": nil}), `alert_transition: missing: send "$ALERT_TRANSITION"…`},
		{"transition left unsubstituted", ddBody(map[string]any{"alert_transition": "$ALERT_TRANSITION"}), `alert_transition: missing…`},
		{"no monitor id or aggregation key", ddBody(map[string]any{"alert_id": nil}), `alert_id: missing: send "$ALERT_ID" and "$AGGREG_KEY" (use the payload template deploy/integrations/datadog/webhook-payload.json)`},
		{"alert_id unquoted", strings.Replace(ddBody(nil), `"alert_id":"1234"`, `"alert_id":1234`, 1), "alert_id: expected a string, got number"},
		{"org not an object", ddBody(map[string]any{"org": "11023"}), "org: expected an object, got string"},
		{"date not a number", ddBody(map[string]any{"date": "2024-05-01"}), `date: "2024-05-01" is not a Unix time in milliseconds such as 1406662672000: send "$DATE"`},
		{"date negative", ddBody(map[string]any{"date": "-5"}), `date: "-5" is not a Unix time…`},
		{"date beyond year 9999", ddBody(map[string]any{"date": "999999999999999999"}), `date: "999999999999999999" is after the year 9999: send "$DATE", a Unix time in milliseconds`},
		{"bad last_updated when date is empty", ddBody(map[string]any{"date": "", "last_updated": "soon"}), `last_updated: "soon" is not a Unix time in milliseconds such as 1406662672000: send "$LAST_UPDATED"`},
		{"id too long", ddBody(map[string]any{"id": strings.Repeat("7", 257)}), "id: 257 bytes is too long: use at most 256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { sourcetest.RequireError(t, Parser{}, tt.body, tt.wantErr) })
	}
}

func TestIgnored(t *testing.T) {
	// An @webhook mention on an event that is not a monitor notification:
	// Datadog's default payload with none of the monitor variables set.
	body := `{"id":"123456","event_type":"user_update","title":"Deploy finished","date":"1714563000000","alert_transition":"Null","alert_id":"$ALERT_ID"}`
	alerts, err := Parser{}.Parse(source.Request{Body: []byte(body), Now: sourcetest.Now})
	require.Nil(t, alerts)
	ig, ok := errors.AsType[*source.Ignored](err)
	require.True(t, ok, "got %v", err)
	require.Equal(t, `Datadog event "user_update" is not a monitor notification`, ig.Reason)
}

func TestTransitions(t *testing.T) {
	at := time.UnixMilli(1714563000000).UTC()
	firing, resolved := amsv1.AlertStatus_ALERT_STATUS_FIRING, amsv1.AlertStatus_ALERT_STATUS_RESOLVED
	tests := []struct {
		transition string
		status     amsv1.AlertStatus
		startsAt   bool // starts_at = $DATE
		endsAt     bool // ends_at = $DATE
	}{
		{"Triggered", firing, true, false},
		{"Warn", firing, true, false},
		{"No Data", firing, true, false},
		{"NO_DATA", firing, true, false},
		{"Re-Triggered", firing, false, false},
		{"Re-Warn", firing, false, false},
		{"Re-No Data", firing, false, false},
		{"Renotify", firing, false, false},
		{"Recovered", resolved, false, true},
		{"recovered", resolved, false, true},
		{"Muted", firing, true, false}, // unknown: kept as firing rather than lost to a 400
	}
	for _, tt := range tests {
		t.Run(tt.transition, func(t *testing.T) {
			a := sourcetest.ParseOne(t, Parser{}, ddBody(map[string]any{"alert_transition": tt.transition}))
			require.Equal(t, tt.status, a.GetStatus())
			if tt.startsAt {
				require.Equal(t, at, a.GetStartsAt().AsTime())
			} else {
				require.Nil(t, a.GetStartsAt())
			}
			if tt.endsAt {
				require.Equal(t, at, a.GetEndsAt().AsTime())
			} else {
				require.Nil(t, a.GetEndsAt())
			}
			require.Equal(t, tt.transition, a.GetAnnotations()["alert_transition"])
		})
	}
}

func TestSeverity(t *testing.T) {
	tests := []struct {
		name       string
		priority   string
		alertType  string
		transition string
		want       amsv1.Severity
	}{
		{"P1", "P1", "error", "Triggered", amsv1.Severity_SEVERITY_CRITICAL},
		{"p1 lower case", "p1", "error", "Triggered", amsv1.Severity_SEVERITY_CRITICAL},
		{"P2", "P2", "error", "Triggered", amsv1.Severity_SEVERITY_ERROR},
		{"P3", "P3", "error", "Triggered", amsv1.Severity_SEVERITY_WARNING},
		{"P4", "P4", "error", "Triggered", amsv1.Severity_SEVERITY_INFO},
		{"P5", "P5", "error", "Triggered", amsv1.Severity_SEVERITY_INFO},
		{"priority wins over alert type", "P1", "info", "Triggered", amsv1.Severity_SEVERITY_CRITICAL},
		{"P1 keeps its severity on recovery", "P1", "success", "Recovered", amsv1.Severity_SEVERITY_CRITICAL},
		{"warn caps P1 at WARNING", "P1", "warning", "Warn", amsv1.Severity_SEVERITY_WARNING},
		{"re-warn caps P2 at WARNING", "P2", "warning", "Re-Warn", amsv1.Severity_SEVERITY_WARNING},
		{"warn keeps a lower P4", "P4", "warning", "Warn", amsv1.Severity_SEVERITY_INFO},
		{"no priority: error", "", "error", "Triggered", amsv1.Severity_SEVERITY_ERROR},
		{"no priority: warning", "", "warning", "Triggered", amsv1.Severity_SEVERITY_WARNING},
		{"no priority: info", "", "info", "Triggered", amsv1.Severity_SEVERITY_INFO},
		{"no priority: success", "", "success", "Recovered", amsv1.Severity_SEVERITY_INFO},
		{"no priority, no type", "", "", "Triggered", amsv1.Severity_SEVERITY_WARNING},
		{"unsubstituted priority", "$ALERT_PRIORITY", "error", "Triggered", amsv1.Severity_SEVERITY_ERROR},
		{"unknown priority", "urgent", "error", "Triggered", amsv1.Severity_SEVERITY_ERROR},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := sourcetest.ParseOne(t, Parser{}, ddBody(map[string]any{
				"alert_priority": tt.priority, "alert_type": tt.alertType, "alert_transition": tt.transition,
			}))
			require.Equal(t, tt.want, a.GetSeverity())
		})
	}
}

func TestFingerprint(t *testing.T) {
	fp := func(over map[string]any) string {
		return sourcetest.ParseOne(t, Parser{}, ddBody(over)).GetFingerprint()
	}
	base := fp(nil)
	require.Len(t, base, 32)

	t.Run("trigger and recovery match", func(t *testing.T) {
		require.Equal(t, base, fp(map[string]any{"alert_transition": "Recovered", "id": "2", "date": "1714564680000", "title": "[Recovered on {host:web-01}] x"}))
	})
	t.Run("scope order and spacing do not matter", func(t *testing.T) {
		a := fp(map[string]any{"alert_scope": "host:web-01,device:/dev/sda1"})
		require.Equal(t, a, fp(map[string]any{"alert_scope": " device:/dev/sda1 , host:web-01"}))
	})
	t.Run("another host is another alert", func(t *testing.T) {
		require.NotEqual(t, base, fp(map[string]any{"alert_scope": "host:web-02"}))
	})
	t.Run("another monitor is another alert", func(t *testing.T) {
		require.NotEqual(t, base, fp(map[string]any{"alert_id": "1235"}))
	})
	t.Run("another org is another alert", func(t *testing.T) {
		require.NotEqual(t, base, fp(map[string]any{"org": map[string]string{"id": "99"}}))
	})
	t.Run("aggregation key without a monitor id", func(t *testing.T) {
		a := fp(map[string]any{"alert_id": "", "aggreg_key": "9bd4ac313a4d1e8fae2482df7b77628"})
		require.Equal(t, source.HashParts("aggreg_key", "11023", "9bd4ac313a4d1e8fae2482df7b77628"), a)
	})
	t.Run("the golden samples", func(t *testing.T) {
		parse := func(name string) *amsv1.Alert {
			return sourcetest.ParseOne(t, Parser{}, string(sourcetest.ReadSample(t, "datadog/"+name+".json")))
		}
		triggered, retriggered, recovered, warn := parse("triggered"), parse("retriggered"), parse("recovered"), parse("warn")
		require.Equal(t, triggered.GetFingerprint(), recovered.GetFingerprint())
		require.Equal(t, triggered.GetFingerprint(), retriggered.GetFingerprint())
		require.NotEqual(t, triggered.GetFingerprint(), warn.GetFingerprint())
		require.NotEqual(t, triggered.GetDedupKey(), recovered.GetDedupKey())
	})
}

func TestFields(t *testing.T) {
	tests := []struct {
		name  string
		over  map[string]any
		check func(t *testing.T, a *amsv1.Alert)
	}{
		{"tags become labels", map[string]any{"tags": "env:prod, role:db, monitor, team:a, team:b, team:a, url:https://x.example.com:8443/p"}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, map[string]string{
				"env": "prod", "role": "db", "monitor": "", "team": "a,b", "url": "https://x.example.com:8443/p",
				"datadog_monitor_id": "1234",
			}, a.GetLabels())
		}},
		{"resource from hostname and tags", map[string]any{"hostname": "web-01", "tags": "host:ignored, instance-id:i-0abc, aws_account:123456789012, region:us-east-1, service:checkout"}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "web-01", a.GetResource().GetHost())
			require.Equal(t, "i-0abc", a.GetResource().GetInstanceId())
			require.Equal(t, "123456789012", a.GetResource().GetAccount())
			require.Equal(t, "us-east-1", a.GetResource().GetRegion())
			require.Equal(t, "checkout", a.GetResource().GetService())
		}},
		{"host from the host tag without $HOSTNAME", map[string]any{"hostname": "$HOSTNAME", "tags": "host:db-02"}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "db-02", a.GetResource().GetHost())
		}},
		{"no resource fields, no resource", map[string]any{"tags": "env:prod"}, func(t *testing.T, a *amsv1.Alert) {
			require.Nil(t, a.GetResource())
		}},
		{"links, with the monitor on the event's site", map[string]any{"link": "https://app.datadoghq.eu/event/jump_to?event_id=1", "snapshot": "https://p.datadoghq.eu/s.png"}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, []*amsv1.Link{
				{Url: "https://app.datadoghq.eu/event/jump_to?event_id=1", Title: "Datadog event"},
				{Url: "https://app.datadoghq.eu/monitors/1234", Title: "Datadog monitor"},
				{Url: "https://p.datadoghq.eu/s.png", Title: "Graph snapshot"},
			}, a.GetLinks())
		}},
		{"no monitor link from a link that is not a URL", map[string]any{"link": "event 1"}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, []*amsv1.Link{{Url: "event 1", Title: "Datadog event"}}, a.GetLinks())
		}},
		{"unsubstituted variables are empty", map[string]any{"snapshot": "$SNAPSHOT", "tags": "$TAGS", "alert_metric": "$ALERT_METRIC", "hostname": "$TAGS[host]"}, func(t *testing.T, a *amsv1.Alert) {
			require.Empty(t, a.GetLinks())
			require.Equal(t, map[string]string{"datadog_monitor_id": "1234"}, a.GetLabels())
			require.NotContains(t, a.GetAnnotations(), "alert_metric")
			require.Nil(t, a.GetResource())
		}},
		{"summary from title, then alert_title, then the monitor", map[string]any{"title": "", "alert_title": "[Triggered] Disk full"}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "[Triggered] Disk full", a.GetSummary())
		}},
		{"summary names the monitor as a last resort", map[string]any{"title": nil}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "Datadog monitor 1234 Triggered", a.GetSummary())
		}},
		{"description from text_only_msg, else the default payload's body", map[string]any{"body": "%%%\nmarkdown\n%%%"}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "%%%\nmarkdown\n%%%", a.GetDescription())
		}},
		{"text_only_msg wins over body", map[string]any{"body": "md", "text_only_msg": " plain \n"}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "plain", a.GetDescription())
		}},
		{"date in seconds ($DATE_POSIX)", map[string]any{"date": "1714563000"}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, time.Unix(1714563000, 0).UTC(), a.GetStartsAt().AsTime())
		}},
		{"last_updated when date is missing", map[string]any{"date": "$DATE", "last_updated": "1714563060000"}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, time.UnixMilli(1714563060000).UTC(), a.GetStartsAt().AsTime())
		}},
		{"no time at all", map[string]any{"date": nil}, func(t *testing.T, a *amsv1.Alert) {
			require.Nil(t, a.GetStartsAt())
		}},
		{"recovery without a time", map[string]any{"date": nil, "alert_transition": "Recovered"}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_RESOLVED, a.GetStatus())
			require.Nil(t, a.GetEndsAt())
		}},
		{"event id is the dedup key", nil, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "7540312186584401733", a.GetDedupKey())
		}},
		{"annotations keep the monitor details", map[string]any{"alert_query": "avg(last_5m):x > 1", "alert_status": "x was > 1", "alert_cycle_key": "77"}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, map[string]string{
				"alert_transition": "Triggered", "alert_type": "error", "alert_scope": "host:web-01",
				"alert_query": "avg(last_5m):x > 1", "alert_status": "x was > 1", "alert_cycle_key": "77",
				"org_id": "11023", "org_name": "Acme",
			}, a.GetAnnotations())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, sourcetest.ParseOne(t, Parser{}, ddBody(tt.over))) })
	}
}

// documentedVariables are the variables of Datadog's webhooks page
// (https://docs.datadoghq.com/integrations/webhooks/) the template may use.
var documentedVariables = map[string]bool{
	"$AGGREG_KEY": true, "$ALERT_CYCLE_KEY": true, "$ALERT_ID": true, "$ALERT_METRIC": true,
	"$ALERT_PRIORITY": true, "$ALERT_QUERY": true, "$ALERT_SCOPE": true, "$ALERT_STATUS": true,
	"$ALERT_TITLE": true, "$ALERT_TRANSITION": true, "$ALERT_TYPE": true, "$DATE": true,
	"$EVENT_MSG": true, "$EVENT_TITLE": true, "$EVENT_TYPE": true, "$HOSTNAME": true, "$ID": true,
	"$LAST_UPDATED": true, "$LINK": true, "$ORG_ID": true, "$ORG_NAME": true, "$SNAPSHOT": true,
	"$TAGS": true, "$TEXT_ONLY_MSG": true,
}

// TestTemplate keeps the shipped template and the parser in step: every
// field of the template is one the parser reads, every value is a
// documented variable, and what Datadog makes of it parses.
func TestTemplate(t *testing.T) {
	tmpl, err := os.ReadFile(filepath.Join("..", "..", "..", "..", "..", Template))
	require.NoError(t, err)

	dec := json.NewDecoder(strings.NewReader(string(tmpl)))
	dec.DisallowUnknownFields()
	var m message
	require.NoError(t, dec.Decode(&m), "the template has a field the parser does not read")

	vars := regexp.MustCompile(`"(\$[A-Z_]+)"`).FindAllStringSubmatch(string(tmpl), -1)
	require.Len(t, vars, strings.Count(string(tmpl), `"$`), "every variable is a whole quoted value")
	for _, v := range vars {
		require.True(t, documentedVariables[v[1]], "%s is not a documented Datadog variable", v[1])
	}

	// Substitute what Datadog would for a triggered multi-alert monitor.
	values := map[string]string{
		"$ID": "7540312186584401733", "$DATE": "1714563000000", "$LAST_UPDATED": "1714563000000",
		"$EVENT_TYPE": "query_alert_monitor", "$EVENT_TITLE": "[Triggered on {host:web-01}] CPU high",
		"$TEXT_ONLY_MSG": "CPU \"high\"\\nsee runbook", "$LINK": "https://app.datadoghq.com/event/jump_to?event_id=1",
		"$SNAPSHOT": "", "$HOSTNAME": "web-01", "$TAGS": "env:prod, host:web-01",
		"$AGGREG_KEY": "9bd4ac313a4d1e8fae2482df7b77628", "$ALERT_ID": "1234", "$ALERT_CYCLE_KEY": "1",
		"$ALERT_TRANSITION": "Triggered", "$ALERT_TYPE": "error", "$ALERT_PRIORITY": "P2",
		"$ALERT_TITLE": "CPU high", "$ALERT_STATUS": "cpu > 90", "$ALERT_SCOPE": "host:web-01",
		"$ALERT_METRIC": "system.cpu.user", "$ALERT_QUERY": "avg(last_5m):cpu > 90",
		"$ORG_ID": "11023", "$ORG_NAME": "Acme",
	}
	body := regexp.MustCompile(`\$[A-Z_]+`).ReplaceAllStringFunc(string(tmpl), func(v string) string {
		s, ok := values[v]
		require.True(t, ok, "no test value for %s", v)
		return strings.ReplaceAll(s, `"`, `\"`)
	})
	a := sourcetest.ParseOne(t, Parser{}, body)
	require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_FIRING, a.GetStatus())
	require.Equal(t, amsv1.Severity_SEVERITY_ERROR, a.GetSeverity())
	require.Equal(t, "[Triggered on {host:web-01}] CPU high", a.GetSummary())
	require.Equal(t, "CPU \"high\"\nsee runbook", a.GetDescription())
	require.Equal(t, "web-01", a.GetResource().GetHost())
}
