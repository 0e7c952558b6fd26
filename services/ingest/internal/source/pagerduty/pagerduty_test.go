package pagerduty

import (
	"errors"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ingest/internal/publish"
	"github.com/amsproject/ams/services/ingest/internal/source"
	"github.com/amsproject/ams/services/ingest/internal/source/sourcetest"
)

// goldenHeader gives the triggered sample the headers PagerDuty sends, so
// the golden shows X-Webhook-Id winning over the event id; the other
// samples show the fallback to the event id.
func goldenHeader(sample string) http.Header {
	if sample != "triggered" {
		return nil
	}
	return http.Header{
		HeaderWebhookID:    {"7a5a1bd4-5b3b-4c0c-9d8f-6a0f7c1e2d3b"},
		HeaderSubscription: {"PY1OQ8Z"},
	}
}

func TestGolden(t *testing.T) { sourcetest.Golden(t, Parser{}, "pagerduty", goldenHeader) }

// The ping is kept out of testdata/pagerduty/ because Golden requires every
// sample there to give alerts; a ping gives none, by design.
func TestPing(t *testing.T) {
	body := sourcetest.ReadSample(t, "pagerduty-ping/ping.json")
	alerts, err := source.Normalize(Parser{}, body, nil, sourcetest.Envelope("pagerduty"))
	require.Nil(t, alerts)
	var ig *source.Ignored
	require.True(t, errors.As(err, &ig), "error %T %v is not a *source.Ignored", err, err)
	require.Equal(t, "ping", ig.Reason)
}

// incidentEvent is a minimal incident event of type typ with data d.
func incidentEvent(typ, data string) string {
	return `{"event":{"id":"01EV","event_type":"` + typ + `","resource_type":"incident","occurred_at":"2024-05-01T11:59:00Z","data":` + data + `}}`
}

const minimalIncident = `{"id":"PINC1","type":"incident","status":"triggered","title":"Disk full"}`

func parse(t *testing.T, body string, h http.Header) ([]*amsv1.Alert, error) {
	t.Helper()
	return Parser{}.Parse(source.Request{Body: []byte(body), Header: h, Now: sourcetest.Now})
}

func TestIgnored(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		reason string
	}{
		{"ping without data", `{"event":{"event_type":"pagey.ping"}}`, "ping"},
		{"note", incidentEvent("incident.annotated", `{"incident":{"id":"PINC1"},"content":"hi","type":"incident_note"}`), "event type incident.annotated does not change the incident"},
		{"responder added", incidentEvent("incident.responder.added", `{"type":"incident_responder"}`), "event type incident.responder.added does not change the incident"},
		{"responder replied", incidentEvent("incident.responder.replied", `{}`), "event type incident.responder.replied does not change the incident"},
		{"status update", incidentEvent("incident.status_update_published", `{}`), "event type incident.status_update_published does not change the incident"},
		{"conference bridge", incidentEvent("incident.conference_bridge.updated", `{}`), "event type incident.conference_bridge.updated does not change the incident"},
		{"custom fields", incidentEvent("incident.custom_field_values.updated", `{}`), "event type incident.custom_field_values.updated does not change the incident"},
		{"workflow started", incidentEvent("incident.workflow.started", `{}`), "event type incident.workflow.started does not change the incident"},
		{"workflow completed", incidentEvent("incident.workflow.completed", `{}`), "event type incident.workflow.completed does not change the incident"},
		{"early access task", incidentEvent("incident.task.created", `{}`), "event type incident.task.created does not change the incident"},
		{"early access action", incidentEvent("incident.action_invocation.terminated", `{}`), "event type incident.action_invocation.terminated does not change the incident"},
		{"service updated", `{"event":{"event_type":"service.updated","resource_type":"service","data":{"id":"PF9KMXH","type":"service"}}}`, "event type service.updated is about a service, not an incident"},
		{"service deleted", `{"event":{"event_type":"service.deleted","data":null}}`, "event type service.deleted is about a service, not an incident"},
		{"unknown type", incidentEvent("incident.teleported", minimalIncident), "event type incident.teleported is not one AMS handles"},
		{"data not an incident", incidentEvent("incident.triggered", `{"id":"X","type":"incident_note"}`), "event type incident.triggered carries data.type incident_note, not an incident"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alerts, err := parse(t, tt.body, nil)
			require.Nil(t, alerts)
			var ig *source.Ignored
			require.True(t, errors.As(err, &ig), "error %T %v is not a *source.Ignored", err, err)
			require.Equal(t, tt.reason, ig.Reason)
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr string // the whole message, or its start when ending in "…"
	}{
		{"empty body", " ", "empty body: expected a JSON object"},
		{"truncated JSON", `{"event":{"event_type":`, "invalid JSON at line 1, column 24 (byte offset 23): unexpected end of JSON input"},
		{"body is an array", `[]`, "body: expected an object, got array"},
		{"null body", `null`, `event: missing: a PagerDuty v3 webhook body is {"event": {...}}`},
		{"no event", `{"messages":[]}`, `event: missing…`},
		{"event not an object", `{"event":"incident.triggered"}`, "event: expected an object, got string"},
		{"no event type", `{"event":{"id":"E"}}`, "event.event_type: missing: want an event type such as incident.triggered"},
		{"event type not a string", `{"event":{"event_type":7}}`, "event.event_type: expected a string, got number"},
		{"event id not a string", `{"event":{"id":{},"event_type":"pagey.ping"}}`, "event.id: expected a string, got object"},
		{"no data", `{"event":{"event_type":"incident.triggered"}}`, "event.data: missing: an incident.triggered event carries the incident"},
		{"null data", incidentEvent("incident.resolved", `null`), "event.data: missing: an incident.resolved event carries the incident"},
		{"data not an object", incidentEvent("incident.triggered", `"PINC1"`), "event.data: expected an object, got string"},
		{"no incident id", incidentEvent("incident.triggered", `{"type":"incident","title":"t"}`), "event.data.id: missing: the incident id identifies the alert"},
		{"incident id not a string", incidentEvent("incident.triggered", `{"id":{"":"x"}}`), "event.data.id: expected a string, got object"},
		{"incident id a number", incidentEvent("incident.triggered", `{"id":7}`), "event.data.id: expected a string, got number"},
		{"incident id too long", incidentEvent("incident.triggered", `{"id":"`+strings.Repeat("P", 257)+`"}`), "event.data.id: 257 bytes is too long: use at most 256"},
		{"bad created_at", incidentEvent("incident.triggered", `{"id":"P","created_at":"yesterday"}`), `event.data.created_at: "yesterday" is not an ISO 8601 time…`},
		{"bad occurred_at", `{"event":{"event_type":"incident.triggered","occurred_at":"2024-13-01T00:00:00Z","data":{"id":"P"}}}`, `event.occurred_at: "2024-13-01T00:00:00Z" is not an ISO 8601 time…`},
		{"event id too long", `{"event":{"id":"` + strings.Repeat("e", 300) + `","event_type":"incident.triggered","data":{"id":"P"}}}`, "event.id: 300 bytes is too long: use at most 256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { sourcetest.RequireError(t, Parser{}, tt.body, tt.wantErr) })
	}
}

func TestStatus(t *testing.T) {
	tests := []struct {
		eventType  string
		dataStatus string
		want       amsv1.AlertStatus
	}{
		{"incident.triggered", "triggered", amsv1.AlertStatus_ALERT_STATUS_FIRING},
		{"incident.acknowledged", "acknowledged", amsv1.AlertStatus_ALERT_STATUS_ACKNOWLEDGED},
		{"incident.unacknowledged", "triggered", amsv1.AlertStatus_ALERT_STATUS_FIRING},
		{"incident.reopened", "triggered", amsv1.AlertStatus_ALERT_STATUS_FIRING},
		{"incident.resolved", "resolved", amsv1.AlertStatus_ALERT_STATUS_RESOLVED},
		// The event type says what happened; a stale data.status does not override it.
		{"incident.acknowledged", "triggered", amsv1.AlertStatus_ALERT_STATUS_ACKNOWLEDGED},
		{"incident.resolved", "", amsv1.AlertStatus_ALERT_STATUS_RESOLVED},
		// Updates take the state the incident is in.
		{"incident.priority_updated", "acknowledged", amsv1.AlertStatus_ALERT_STATUS_ACKNOWLEDGED},
		{"incident.priority_updated", "triggered", amsv1.AlertStatus_ALERT_STATUS_FIRING},
		{"incident.escalated", "triggered", amsv1.AlertStatus_ALERT_STATUS_FIRING},
		{"incident.reassigned", "acknowledged", amsv1.AlertStatus_ALERT_STATUS_ACKNOWLEDGED},
		{"incident.delegated", "triggered", amsv1.AlertStatus_ALERT_STATUS_FIRING},
		{"incident.incident_type.changed", "resolved", amsv1.AlertStatus_ALERT_STATUS_RESOLVED},
		{"incident.service_updated", "ACKNOWLEDGED", amsv1.AlertStatus_ALERT_STATUS_ACKNOWLEDGED},
		{"incident.priority_updated", "", amsv1.AlertStatus_ALERT_STATUS_FIRING},
		{"incident.priority_updated", "snoozed", amsv1.AlertStatus_ALERT_STATUS_FIRING},
	}
	for _, tt := range tests {
		t.Run(tt.eventType+" with status "+tt.dataStatus, func(t *testing.T) {
			a := sourcetest.ParseOne(t, Parser{}, incidentEvent(tt.eventType, `{"id":"PINC1","status":"`+tt.dataStatus+`"}`))
			require.Equal(t, tt.want, a.GetStatus())
			require.Equal(t, "PINC1", a.GetFingerprint())
			if tt.want == amsv1.AlertStatus_ALERT_STATUS_RESOLVED {
				require.Equal(t, "2024-05-01T11:59:00Z", a.GetEndsAt().AsTime().Format(time.RFC3339))
			} else {
				require.Nil(t, a.GetEndsAt())
			}
		})
	}
}

func TestSeverity(t *testing.T) {
	tests := []struct {
		priority, urgency string
		want              amsv1.Severity
	}{
		{"P1", "low", amsv1.Severity_SEVERITY_CRITICAL},
		{"p2", "high", amsv1.Severity_SEVERITY_ERROR},
		{"P3", "high", amsv1.Severity_SEVERITY_WARNING},
		{"P4", "high", amsv1.Severity_SEVERITY_INFO},
		{"P5", "", amsv1.Severity_SEVERITY_INFO},
		{"", "high", amsv1.Severity_SEVERITY_CRITICAL},
		{"Sev-1 (renamed)", "High", amsv1.Severity_SEVERITY_CRITICAL},
		{"", "low", amsv1.Severity_SEVERITY_WARNING},
		{"", "", amsv1.Severity_SEVERITY_WARNING},
		{"P6", "urgent", amsv1.Severity_SEVERITY_WARNING},
	}
	for _, tt := range tests {
		t.Run("priority "+tt.priority+" urgency "+tt.urgency, func(t *testing.T) {
			require.Equal(t, tt.want, Severity(tt.priority, tt.urgency))
			a := sourcetest.ParseOne(t, Parser{}, incidentEvent("incident.triggered",
				`{"id":"P","priority":{"summary":"`+tt.priority+`"},"urgency":"`+tt.urgency+`"}`))
			require.Equal(t, tt.want, a.GetSeverity())
		})
	}
}

// goPagerDutyBody is the signed v3 webhook in go-pagerduty v1.8.0's
// webhookv3 tests (conference_number is a number there).
const goPagerDutyBody = `{"event":{"id":"01BWDWL3NYY7LUFPZCC28QUCMK","event_type":"incident.priority_updated","resource_type":"incident","occurred_at":"2021-04-26T17:36:27.458Z","agent":{"html_url":"https://acme.pagerduty.com/users/PLH1HKV","id":"PLH1HKV","self":"https://api.pagerduty.com/users/PLH1HKV","summary":"Tenex Engineer","type":"user_reference"},"client":null,"data":{"id":"PGR0VU2","type":"incident","self":"https://api.pagerduty.com/incidents/PGR0VU2","html_url":"https://acme.pagerduty.com/incidents/PGR0VU2","number":2,"status":"triggered","title":"A little bump in the road","service":{"html_url":"https://acme.pagerduty.com/services/PF9KMXH","id":"PF9KMXH","self":"https://api.pagerduty.com/services/PF9KMXH","summary":"API Service","type":"service_reference"},"assignees":[{"html_url":"https://acme.pagerduty.com/users/PTUXL6G","id":"PTUXL6G","self":"https://api.pagerduty.com/users/PTUXL6G","summary":"User 123","type":"user_reference"}],"escalation_policy":{"html_url":"https://acme.pagerduty.com/escalation_policies/PUS0KTE","id":"PUS0KTE","self":"https://api.pagerduty.com/escalation_policies/PUS0KTE","summary":"Default","type":"escalation_policy_reference"},"teams":[{"html_url":"https://acme.pagerduty.com/teams/PFCVPS0","id":"PFCVPS0","self":"https://api.pagerduty.com/teams/PFCVPS0","summary":"Engineering","type":"team_reference"}],"priority":{"html_url":"https://acme.pagerduty.com/account/incident_priorities","id":"PSO75BM","self":"https://api.pagerduty.com/priorities/PSO75BM","summary":"P1","type":"priority_reference"},"urgency":"high","conference_bridge":{"conference_number":1000,"conference_url":"https://example.com"},"resolve_reason":null}}}`

func TestFields(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		header http.Header
		check  func(t *testing.T, a *amsv1.Alert)
	}{
		{"X-Webhook-Id is the dedup key", incidentEvent("incident.triggered", minimalIncident), http.Header{HeaderWebhookID: {" wh-1 "}}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "wh-1", a.GetDedupKey())
			require.Equal(t, "01EV", a.GetAnnotations()["pagerduty_event_id"])
		}},
		{"event id is the dedup key without the header", incidentEvent("incident.triggered", minimalIncident), nil, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "01EV", a.GetDedupKey())
		}},
		{"no dedup key without either", `{"event":{"event_type":"incident.triggered","data":` + minimalIncident + `}}`, nil, func(t *testing.T, a *amsv1.Alert) {
			require.Empty(t, a.GetDedupKey())
		}},
		{"header values that are not UTF-8 are repaired", incidentEvent("incident.triggered", minimalIncident), http.Header{HeaderWebhookID: {"wh-\xff"}, HeaderSubscription: {"sub-\xfe"}}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "wh-\uFFFD", a.GetDedupKey())
			require.Equal(t, "sub-\uFFFD", a.GetAnnotations()["pagerduty_webhook_subscription"])
		}},
		{"go-pagerduty's test webhook, conference number as a number", goPagerDutyBody, nil, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "PGR0VU2", a.GetFingerprint())
			require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_FIRING, a.GetStatus())
			require.Equal(t, "1000", a.GetAnnotations()["pagerduty_conference_number"])
			require.Equal(t, "2", a.GetLabels()["pagerduty_incident_number"])
			require.Equal(t, amsv1.Severity_SEVERITY_CRITICAL, a.GetSeverity())
		}},
		{"summary falls back to the incident number", incidentEvent("incident.triggered", `{"id":"P","number":42}`), nil, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "PagerDuty incident #42", a.GetSummary())
		}},
		{"summary falls back to the incident id", incidentEvent("incident.triggered", `{"id":"P7","title":"  "}`), nil, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "PagerDuty incident P7", a.GetSummary())
		}},
		{"only http(s) links are kept", incidentEvent("incident.triggered", `{"id":"P","html_url":"javascript:alert(1)","service":{"html_url":"https://acme.pagerduty.com/services/S"},"conference_bridge":{"conference_url":"/relative"}}`), nil, func(t *testing.T, a *amsv1.Alert) {
			require.Len(t, a.GetLinks(), 1)
			require.Equal(t, "https://acme.pagerduty.com/services/S", a.GetLinks()[0].GetUrl())
			require.Equal(t, "PagerDuty service", a.GetLinks()[0].GetTitle())
		}},
		{"merge resolve reason object", incidentEvent("incident.resolved", `{"id":"P","resolve_reason":{"type":"merge_resolve_reason","incident":{"id":"P2"}}}`), nil, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "merge_resolve_reason", a.GetAnnotations()["pagerduty_resolve_reason"])
		}},
		{"resolve reason as a string", incidentEvent("incident.resolved", `{"id":"P","resolve_reason":"merged"}`), nil, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "merged", a.GetAnnotations()["pagerduty_resolve_reason"])
		}},
		{"references of the wrong shape read as empty", incidentEvent("incident.triggered", `{"id":"P","service":"API","assignees":{"id":"U"},"teams":null,"priority":7,"escalation_policy":[],"incident_type":"major","conference_bridge":false}`), nil, func(t *testing.T, a *amsv1.Alert) {
			require.Nil(t, a.GetResource())
			require.Nil(t, a.GetLabels())
			require.Equal(t, map[string]string{"pagerduty_event_id": "01EV", "pagerduty_event_type": "incident.triggered"}, a.GetAnnotations())
		}},
		{"assignees and teams are listed", incidentEvent("incident.reassigned", `{"id":"P","assignees":[{"summary":"Ann"},{"id":"PU2","type":"user_reference"}],"teams":[{"summary":"SRE"},{"summary":"DBA"}]}`), nil, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "Ann, user_reference PU2", a.GetAnnotations()["pagerduty_assignees"])
			require.Equal(t, "SRE, DBA", a.GetAnnotations()["pagerduty_teams"])
		}},
		{"a non-string with bytes that are not UTF-8 is repaired", incidentEvent("incident.triggered", "{\"id\":\"P\",\"number\":{\"n\":\"\x9b\"},\"urgency\":[\"\xff\"]}"), nil, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "{\"n\":\"\uFFFD\"}", a.GetLabels()["pagerduty_incident_number"])
			require.Equal(t, "[\"\uFFFD\"]", a.GetLabels()["pagerduty_urgency"])
		}},
		{"offset without a colon is read", incidentEvent("incident.triggered", `{"id":"P","created_at":"2024-05-01T13:00:00.5+0200"}`), nil, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "2024-05-01T11:00:00.5Z", a.GetStartsAt().AsTime().Format(time.RFC3339Nano))
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			alerts, err := parse(t, tt.body, tt.header)
			require.NoError(t, err)
			require.Len(t, alerts, 1)
			sourcetest.CheckAlerts(t, alerts)
			tt.check(t, alerts[0])
		})
	}
}

func TestDedupKeyHeaderTooLong(t *testing.T) {
	alerts, err := parse(t, incidentEvent("incident.triggered", minimalIncident), http.Header{HeaderWebhookID: {strings.Repeat("w", 257)}})
	require.Nil(t, alerts)
	require.EqualError(t, err, "X-Webhook-Id header: 257 bytes is too long: use at most 256")
}

// FuzzPagerDuty is sourcetest.Fuzz, except that a ping or an untracked event
// may also be answered as *source.Ignored.
func FuzzPagerDuty(f *testing.F) {
	for _, file := range append(sourcetest.Samples(f, "pagerduty"), sourcetest.Samples(f, "pagerduty-ping")...) {
		b, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	header := http.Header{HeaderWebhookID: {"7a5a1bd4-5b3b-4c0c-9d8f-6a0f7c1e2d3b"}}
	f.Fuzz(func(t *testing.T, body []byte) {
		alerts, err := source.Normalize(Parser{}, body, header, sourcetest.Envelope("pagerduty"))
		if err != nil {
			var se *source.Error
			var ig *source.Ignored
			if !errors.As(err, &se) && !errors.As(err, &ig) {
				t.Fatalf("error %T is neither *source.Error nor *source.Ignored: %v", err, err)
			}
			if alerts != nil {
				t.Fatalf("alerts returned with error %v", err)
			}
			return
		}
		if len(alerts) != 1 {
			t.Fatalf("accepted %d alerts; a webhook carries one event", len(alerts))
		}
		sourcetest.CheckAlerts(t, alerts)
	})
}

// TestUpdatesAreNotMistakenForResends checks the events of one incident
// against ingest's idempotency key: two updates in the same state (two
// reassignments) are two notifications, and a re-delivery of one webhook
// is one.
func TestUpdatesAreNotMistakenForResends(t *testing.T) {
	key := func(eventID, webhookID string) string {
		t.Helper()
		body := `{"event":{"id":"` + eventID + `","event_type":"incident.reassigned","data":{"id":"PGR0VU2","status":"triggered","created_at":"2020-04-09T15:16:27Z"}}}`
		alerts, err := source.Normalize(Parser{}, []byte(body), http.Header{HeaderWebhookID: {webhookID}}, sourcetest.Envelope("pagerduty"))
		require.NoError(t, err)
		return publish.MsgID(alerts[0])
	}
	require.NotEqual(t, key("E1", "W1"), key("E2", "W2"))
	require.Equal(t, key("E1", "W1"), key("E1", "W1"), "a re-delivery must keep its key")
}
