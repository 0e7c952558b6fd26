package pdevents

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ingest/internal/publish"
	"github.com/amsproject/ams/services/ingest/internal/source"
	"github.com/amsproject/ams/services/ingest/internal/source/sourcetest"
)

// fixedKey stands in for the random dedup key so goldens are stable.
func fixedKey() string { return "0123456789abcdef0123456789abcdef" }

func TestGolden(t *testing.T) {
	sourcetest.Golden(t, Parser{NewDedupKey: fixedKey}, "pdevents", nil)
}

// event builds a request body from top-level fields given as JSON snippets.
func event(fields ...string) string {
	return "{" + strings.Join(append([]string{`"routing_key":"k"`}, fields...), ",") + "}"
}

const okPayload = `"payload":{"summary":"s","source":"host1","severity":"error"}`

func TestRoutingKey(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    string
		wantErr string
	}{
		{"the key as sent", `{"routing_key":" e93facc04764012d7bfb002500d5d1a6","event_action":"trigger"}`, " e93facc04764012d7bfb002500d5d1a6", ""},
		{"other fields are not checked", `{"routing_key":"k","event_action":7,"payload":"x"}`, "k", ""},
		{"missing", `{"event_action":"trigger"}`, "", "routing_key: missing or blank: send the integration key of an AMS integration"},
		{"blank", `{"routing_key":"  "}`, "", "routing_key: missing or blank…"},
		{"not a string", `{"routing_key":12}`, "", "routing_key: expected a string, got number"},
		{"not an object", `"k"`, "", "body: expected an object, got string"},
		{"null", `null`, "", "routing_key: missing or blank…"},
		{"not JSON", `routing_key=k`, "", "invalid JSON at line 1, column 1…"},
		{"empty", ``, "", "empty body: expected a JSON object"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RoutingKey([]byte(tt.body))
			if tt.wantErr == "" {
				require.NoError(t, err)
				require.Equal(t, tt.want, got)
				return
			}
			var se *source.Error
			require.True(t, errors.As(err, &se), "error %T %v is not a *source.Error", err, err)
			if prefix, ok := strings.CutSuffix(tt.wantErr, "…"); ok {
				require.True(t, strings.HasPrefix(err.Error(), prefix), "error %q does not start with %q", err, prefix)
			} else {
				require.EqualError(t, err, tt.wantErr)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr string // the whole message, or its start when ending in "…"
	}{
		{"empty body", "", "empty body: expected a JSON object"},
		{"not JSON", "routing_key=k&event_action=trigger", "invalid JSON at line 1, column 1 (byte offset 0): invalid character 'r' looking for beginning of value"},
		{"body is an array", `[{"routing_key":"k"}]`, "body: expected an object, got array"},
		{"no routing key", `{"event_action":"trigger",` + okPayload + `}`, "routing_key: missing or blank: send the integration key of an AMS integration"},
		{"no event action", event(okPayload), "event_action: missing or blank: want trigger, acknowledge or resolve"},
		{"unknown event action", event(`"event_action":"TRIGGER"`, okPayload), `event_action: "TRIGGER" is not trigger, acknowledge or resolve`},
		{"event action not a string", event(`"event_action":1`), "event_action: expected a string, got number"},
		{"acknowledge without dedup key", event(`"event_action":"acknowledge"`), "dedup_key: missing or blank: acknowledge names the alert by the dedup_key of its trigger"},
		{"resolve with blank dedup key", event(`"event_action":"resolve"`, `"dedup_key":"  "`), "dedup_key: missing or blank: resolve names…"},
		{"dedup key too long", event(`"event_action":"resolve"`, `"dedup_key":"`+strings.Repeat("k", 256)+`"`), "dedup_key: 256 characters is too long: PagerDuty allows at most 255"},
		{"dedup key too many bytes", event(`"event_action":"resolve"`, `"dedup_key":"`+strings.Repeat("é", 200)+`"`), "dedup_key: 400 bytes is too long: use at most 256"},
		{"dedup key not a string", event(`"event_action":"resolve"`, `"dedup_key":5`), "dedup_key: expected a string, got number"},
		{"trigger without payload", event(`"event_action":"trigger"`), "payload: missing: a trigger needs payload.summary, payload.source and payload.severity"},
		{"trigger with null payload", event(`"event_action":"trigger"`, `"payload":null`), "payload: missing…"},
		{"payload not an object", event(`"event_action":"trigger"`, `"payload":"down"`), "payload: expected an object, got string"},
		{"no summary", event(`"event_action":"trigger"`, `"payload":{"source":"h","severity":"info"}`), "payload.summary: missing or blank: give a brief text summary of the event"},
		{"summary too long", event(`"event_action":"trigger"`, `"payload":{"summary":"`+strings.Repeat("ü", 1025)+`","source":"h","severity":"info"}`), "payload.summary: 1025 characters is too long: PagerDuty allows at most 1024"},
		{"summary not a string", event(`"event_action":"trigger"`, `"payload":{"summary":["a"],"source":"h","severity":"info"}`), "payload.summary: expected a string, got array"},
		{"no source", event(`"event_action":"trigger"`, `"payload":{"summary":"s","severity":"info"}`), "payload.source: missing or blank: give the affected system, preferably a hostname or FQDN"},
		{"no severity", event(`"event_action":"trigger"`, `"payload":{"summary":"s","source":"h"}`), "payload.severity: missing or blank: want critical, error, warning or info"},
		{"unknown severity", event(`"event_action":"trigger"`, `"payload":{"summary":"s","source":"h","severity":"high"}`), `payload.severity: "high" is not critical, error, warning or info`},
		{"bad timestamp", event(`"event_action":"trigger"`, `"payload":{"summary":"s","source":"h","severity":"info","timestamp":"17/07/2015"}`), `payload.timestamp: "17/07/2015" is not an ISO 8601 time such as 2024-05-01T12:00:00Z`},
		{"component not a string", event(`"event_action":"trigger"`, `"payload":{"summary":"s","source":"h","severity":"info","component":{}}`), "payload.component: expected a string, got object"},
		{"links not an array", event(`"event_action":"trigger"`, okPayload, `"links":{"href":"https://x.example"}`), "links: expected an array, got object"},
		{"link without href", event(`"event_action":"trigger"`, okPayload, `"links":[{"href":"https://x.example"},{"text":"t"}]`), "links[1].href: missing: PagerDuty requires it"},
		{"link not a URL", event(`"event_action":"trigger"`, okPayload, `"links":[{"href":"javascript:alert(1)"}]`), `links[0].href: "javascript:alert(1)" is not an absolute http(s) URL…`},
		{"image without src", event(`"event_action":"trigger"`, okPayload, `"images":[{"href":"https://x.example"}]`), "images[0].src: missing: PagerDuty requires it"},
		{"image href not a URL", event(`"event_action":"trigger"`, okPayload, `"images":[{"src":"https://x.example/a.png","href":"x"}]`), `images[0].href: "x" is not an absolute http(s) URL…`},
		{"client not a string", event(`"event_action":"trigger"`, okPayload, `"client":{"name":"x"}`), "client: expected a string, got object"},
		{"client_url relative", event(`"event_action":"trigger"`, okPayload, `"client_url":"/alerts"`), `client_url: "/alerts" is not an absolute http(s) URL…`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { sourcetest.RequireError(t, Parser{}, tt.body, tt.wantErr) })
	}
}

func TestSeverityOneToOne(t *testing.T) {
	for sev, want := range map[string]amsv1.Severity{
		"critical": amsv1.Severity_SEVERITY_CRITICAL,
		"error":    amsv1.Severity_SEVERITY_ERROR,
		"warning":  amsv1.Severity_SEVERITY_WARNING,
		"info":     amsv1.Severity_SEVERITY_INFO,
	} {
		t.Run(sev, func(t *testing.T) {
			a := sourcetest.ParseOne(t, Parser{}, event(`"event_action":"trigger"`, `"dedup_key":"d"`, `"payload":{"summary":"s","source":"h","severity":"`+sev+`"}`))
			require.Equal(t, want, a.GetSeverity())
		})
	}
}

func TestFields(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, a *amsv1.Alert)
	}{
		{"trigger with a dedup key", event(`"event_action":"trigger"`, `"dedup_key":"srv01/mysql"`, okPayload), func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "srv01/mysql", a.GetFingerprint())
			require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_FIRING, a.GetStatus())
			require.Equal(t, "s", a.GetSummary())
			require.Equal(t, "host1", a.GetResource().GetHost())
			// The PagerDuty dedup_key names the alert, not this delivery: it
			// must not become the alert's per-notification dedup key, or the
			// resolve would be dropped as a duplicate of the trigger.
			require.Empty(t, a.GetDedupKey())
			require.Nil(t, a.GetLabels())
			require.Nil(t, a.GetAnnotations())
			require.Nil(t, a.GetLinks())
			// No payload.timestamp: the time AMS received it, as PagerDuty does.
			require.Equal(t, sourcetest.Now, a.GetStartsAt().AsTime())
			require.Nil(t, a.GetEndsAt())
		}},
		{"the dedup key is kept as sent", event(`"event_action":"trigger"`, `"dedup_key":" a b "`, okPayload), func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, " a b ", a.GetFingerprint())
		}},
		{"acknowledge", event(`"event_action":"acknowledge"`, `"dedup_key":"srv01/mysql"`), func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "srv01/mysql", a.GetFingerprint())
			require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_ACKNOWLEDGED, a.GetStatus())
			require.Equal(t, "Acknowledged srv01/mysql", a.GetSummary())
			require.Equal(t, amsv1.Severity_SEVERITY_WARNING, a.GetSeverity())
			require.Nil(t, a.GetResource())
			require.Equal(t, sourcetest.Now, a.GetStartsAt().AsTime())
			require.Nil(t, a.GetEndsAt())
		}},
		{"resolve with the full payload, as Alertmanager sends it", event(`"event_action":"resolve"`, `"dedup_key":"d1"`, `"payload":{"summary":"Disk full","source":"db1","severity":"critical","component":"disk","custom_details":{"firing":""}}`), func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_RESOLVED, a.GetStatus())
			require.Equal(t, "Disk full", a.GetSummary())
			require.Equal(t, amsv1.Severity_SEVERITY_CRITICAL, a.GetSeverity())
			require.Equal(t, "db1", a.GetResource().GetHost())
			require.Equal(t, map[string]string{"component": "disk"}, a.GetLabels())
			require.Equal(t, map[string]string{"firing": ""}, a.GetAnnotations())
		}},
		{"resolve ignores what PagerDuty ignores", event(`"event_action":"resolve"`, `"dedup_key":"d1"`, `"payload":{"summary":7,"severity":"fatal"}`, `"links":"nope"`, `"images":[{}]`, `"client_url":"/x"`, `"client":{}`), func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_RESOLVED, a.GetStatus())
			require.Equal(t, "Resolved d1", a.GetSummary())
			require.Equal(t, amsv1.Severity_SEVERITY_WARNING, a.GetSeverity())
			require.Nil(t, a.GetLinks())
			require.Equal(t, sourcetest.Now, a.GetEndsAt().AsTime())
		}},
		{"a resolve ends at its timestamp", event(`"event_action":"resolve"`, `"dedup_key":"d1"`, `"payload":{"timestamp":"2024-05-01T11:58:00Z"}`), func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "2024-05-01T11:58:00Z", a.GetEndsAt().AsTime().Format(time.RFC3339))
			require.Equal(t, "2024-05-01T11:58:00Z", a.GetStartsAt().AsTime().Format(time.RFC3339))
		}},
		{"a trigger with an old timestamp is still firing", event(`"event_action":"trigger"`, `"payload":{"summary":"s","source":"h","severity":"info","timestamp":"2015-07-17T08:42:58Z"}`), func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_FIRING, a.GetStatus())
			require.Nil(t, a.GetEndsAt())
		}},
		{"timestamp in RFC 3339", event(`"event_action":"trigger"`, `"payload":{"summary":"s","source":"h","severity":"info","timestamp":"2024-05-01T11:00:00+02:00"}`), func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "2024-05-01T09:00:00Z", a.GetStartsAt().AsTime().Format(time.RFC3339Nano))
		}},
		{"timestamp as in PagerDuty's examples", event(`"event_action":"trigger"`, `"payload":{"summary":"s","source":"h","severity":"info","timestamp":"2015-07-17T08:42:58.315+0000"}`), func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "2015-07-17T08:42:58.315Z", a.GetStartsAt().AsTime().Format(time.RFC3339Nano))
		}},
		{"links, images and client_url in order", event(`"event_action":"trigger"`, okPayload,
			`"links":[{"href":"https://a.example/1","text":" A "},{"href":"http://b.example"}]`,
			`"images":[{"src":"https://img.example/c.png"},{"src":"https://img.example/d.png","href":"https://d.example","alt":"D"}]`,
			`"client":"Grafana"`, `"client_url":"https://grafana.example"`), func(t *testing.T, a *amsv1.Alert) {
			var got []string
			for _, l := range a.GetLinks() {
				got = append(got, l.GetTitle()+"="+l.GetUrl())
			}
			require.Equal(t, []string{"A=https://a.example/1", "Link=http://b.example", "Image=https://img.example/c.png", "D=https://d.example", "Grafana=https://grafana.example"}, got)
			require.Equal(t, "Grafana", a.GetAnnotations()["pagerduty_client"])
		}},
		{"client_url without client", event(`"event_action":"trigger"`, okPayload, `"client_url":"https://am.example"`), func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "Client", a.GetLinks()[0].GetTitle())
		}},
		{"links are capped", event(`"event_action":"trigger"`, okPayload, `"links":[`+strings.Repeat(`{"href":"https://a.example"},`, MaxLinks)+`{"href":"https://last.example"}]`), func(t *testing.T, a *amsv1.Alert) {
			require.Len(t, a.GetLinks(), MaxLinks)
		}},
		{"labels from component, group and class", event(`"event_action":"trigger"`, `"payload":{"summary":"s","source":"h","severity":"info","component":"postgres","group":"prod-datapipe","class":"deploy"}`), func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, map[string]string{"component": "postgres", "group": "prod-datapipe", "class": "deploy"}, a.GetLabels())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := sourcetest.ParseOne(t, Parser{}, tt.body)
			sourcetest.CheckAlerts(t, []*amsv1.Alert{a})
			tt.check(t, a)
		})
	}
}

func TestGeneratedDedupKey(t *testing.T) {
	body := event(`"event_action":"trigger"`, okPayload)
	a := sourcetest.ParseOne(t, Parser{}, body)
	b := sourcetest.ParseOne(t, Parser{}, body)
	require.Regexp(t, regexp.MustCompile(`^[0-9a-f]{32}$`), a.GetFingerprint())
	require.NotEqual(t, a.GetFingerprint(), b.GetFingerprint(), "a trigger without a dedup_key is always a new alert")
	require.Equal(t, "k1", sourcetest.ParseOne(t, Parser{NewDedupKey: func() string { return "k1" }}, body).GetFingerprint())
}

func TestDetails(t *testing.T) {
	tests := []struct {
		name string
		raw  string
		want map[string]string
	}{
		{"absent", ``, nil},
		{"null", `null`, nil},
		{"empty object", `{}`, nil},
		{"PagerDuty's example", `{"ping time":"1500ms","load avg":0.75}`, map[string]string{"ping time": "1500ms", "load avg": "0.75"}},
		{"nested", `{"db":{"hosts":["a","b"],"primary":true,"lag":null},"n":12345678901234567890}`, map[string]string{
			"db.hosts[0]": "a", "db.hosts[1]": "b", "db.primary": "true", "db.lag": "null", "n": "12345678901234567890",
		}},
		{"empty containers are kept", `{"tags":[],"extra":{}}`, map[string]string{"tags": "[]", "extra": "{}"}},
		{"a bare string", `"disk is full"`, map[string]string{"custom_details": "disk is full"}},
		{"a bare array", `[1,"x"]`, map[string]string{"[0]": "1", "[1]": "x"}},
		{"empty key", `{"":"v"}`, map[string]string{"_": "v"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, Details(json.RawMessage(tt.raw)))
		})
	}
}

func TestDetailsCaps(t *testing.T) {
	t.Run("too many entries", func(t *testing.T) {
		m := map[string]int{}
		for i := range MaxDetails + 10 {
			m[fmt.Sprintf("k%03d", i)] = i
		}
		raw, err := json.Marshal(m)
		require.NoError(t, err)
		got := Details(raw)
		require.Len(t, got, MaxDetails+1)
		require.Equal(t, "true", got[TruncatedAnnotation])
		// Sorted order decides what is kept, so the result is stable.
		require.Equal(t, "0", got["k000"])
		require.Equal(t, fmt.Sprint(MaxDetails-1), got[fmt.Sprintf("k%03d", MaxDetails-1)])
		require.NotContains(t, got, fmt.Sprintf("k%03d", MaxDetails))
	})
	t.Run("long value is cut on a character boundary", func(t *testing.T) {
		got := Details(json.RawMessage(`{"trace":"a` + strings.Repeat("€", MaxDetailValueBytes) + `"}`))
		require.Equal(t, "true", got[TruncatedAnnotation])
		require.LessOrEqual(t, len(got["trace"]), MaxDetailValueBytes)
		require.True(t, strings.HasPrefix(got["trace"], "a€"))
		require.True(t, json.Valid([]byte(`"`+got["trace"]+`"`)))
		require.Equal(t, 1+3*((MaxDetailValueBytes-1)/3), len(got["trace"]))
	})
	t.Run("long key is dropped", func(t *testing.T) {
		got := Details(json.RawMessage(`{"` + strings.Repeat("k", MaxDetailKeyBytes+1) + `":"v","ok":"v"}`))
		require.Equal(t, map[string]string{"ok": "v", TruncatedAnnotation: "true"}, got)
	})
	t.Run("total size", func(t *testing.T) {
		m := map[string]string{}
		for i := range 40 {
			m[fmt.Sprintf("k%02d", i)] = strings.Repeat("v", MaxDetailValueBytes)
		}
		raw, err := json.Marshal(m)
		require.NoError(t, err)
		got := Details(raw)
		require.Equal(t, "true", got[TruncatedAnnotation])
		size := 0
		for k, v := range got {
			if k != TruncatedAnnotation {
				size += len(k) + len(v)
			}
		}
		require.LessOrEqual(t, size, MaxDetailsBytes)
		require.Len(t, got, MaxDetailsBytes/(3+MaxDetailValueBytes)+1)
	})
}

func TestRedactRoutingKey(t *testing.T) {
	tests := []struct {
		name, body, want string
	}{
		{"keeps everything else byte for byte", "{\n  \"payload\": {\"routing_key\": \"nested stays\"},\n  \"routing_key\" :  \"e93facc04764012d7bfb002500d5d1a6\",\n  \"event_action\": \"trigger\"\n}\n",
			"{\n  \"payload\": {\"routing_key\": \"nested stays\"},\n  \"routing_key\" :  \"[REDACTED]\",\n  \"event_action\": \"trigger\"\n}\n"},
		{"every spelling encoding/json would read", `{"routing_key":"a","Routing_Key":"b","routing\u005fkey":"c"}`, `{"routing_key":"[REDACTED]","Routing_Key":"[REDACTED]","routing\u005fkey":"[REDACTED]"}`},
		{"escaped value", `{"routing_key":"a\"b,c"}`, `{"routing_key":"[REDACTED]"}`},
		{"no routing key", `{"event_action":"trigger"}`, `{"event_action":"trigger"}`},
		{"not a string is left for Parse to refuse", `{"routing_key":5}`, `{"routing_key":5}`},
		{"not an object", `["routing_key","x"]`, `["routing_key","x"]`},
		{"not JSON", `routing_key=x`, `routing_key=x`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, string(RedactRoutingKey([]byte(tt.body))))
		})
	}
	t.Run("a redacted sample still parses", func(t *testing.T) {
		body := sourcetest.ReadSample(t, "pdevents/trigger_disk.json")
		redacted := RedactRoutingKey(body)
		require.NotContains(t, string(redacted), "e93facc04764012d7bfb002500d5d1a6")
		alerts, err := source.Normalize(Parser{}, redacted, nil, sourcetest.Envelope("pdevents"))
		require.NoError(t, err)
		require.Equal(t, "srv01/mysql", alerts[0].GetFingerprint())
		require.Equal(t, redacted, alerts[0].GetRawPayload())
	})
}

// FuzzPDEvents feeds arbitrary bodies to RoutingKey, RedactRoutingKey and
// the parser, seeded with the samples and testdata/fuzz/FuzzPDEvents.
func FuzzPDEvents(f *testing.F) {
	for _, file := range sourcetest.Samples(f, "pdevents") {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		key, kerr := RoutingKey(body)
		if kerr != nil {
			var se *source.Error
			if !errors.As(kerr, &se) {
				t.Fatalf("RoutingKey error %T is not a *source.Error: %v", kerr, kerr)
			}
		}
		redacted := RedactRoutingKey(body)
		if kerr == nil {
			if rk, err := RoutingKey(redacted); err != nil || rk != "[REDACTED]" {
				t.Fatalf("routing_key %q survives redaction as %q (err %v)", key, rk, err)
			}
		}
		alerts, err := source.Normalize(Parser{}, body, nil, sourcetest.Envelope("pdevents"))
		if err != nil {
			var se *source.Error
			if !errors.As(err, &se) {
				t.Fatalf("error %T is not a *source.Error: %v", err, err)
			}
			return
		}
		if kerr != nil {
			t.Fatalf("Parse accepted a body RoutingKey refused: %v", kerr)
		}
		if len(alerts) != 1 {
			t.Fatalf("accepted %d alerts; an event is one alert", len(alerts))
		}
		sourcetest.CheckAlerts(t, alerts)
		// What Parse accepts, the redacted copy ingest stores accepts too.
		if _, err := (Parser{}).Parse(source.Request{Body: redacted, Now: sourcetest.Now}); err != nil {
			t.Fatalf("redacted body refused: %v", err)
		}
	})
}

// TestFlappingAlertKeepsEveryEvent follows a flapping alert through ingest's
// idempotency key: the second resolve, within the duplicate window and
// identical to the first, must not get the first one's key, or JetStream
// would drop it as a re-send and the alert would stay firing.
func TestFlappingAlertKeepsEveryEvent(t *testing.T) {
	trigger := event(`"event_action":"trigger"`, `"dedup_key":"srv01/mysql"`, okPayload)
	resolve := event(`"event_action":"resolve"`, `"dedup_key":"srv01/mysql"`)
	seen := map[string]string{}
	for i, body := range []string{trigger, resolve, trigger, resolve} {
		env := sourcetest.Envelope("pdevents")
		env.ReceivedAt = sourcetest.Now.Add(time.Duration(i) * time.Minute)
		alerts, err := source.Normalize(Parser{}, []byte(body), nil, env)
		require.NoError(t, err)
		id := publish.MsgID(alerts[0])
		require.NotContains(t, seen, id, "event %d has the idempotency key of event %s", i, seen[id])
		seen[id] = fmt.Sprint(i)
	}
}
