package mackerel

import (
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ingest/internal/source"
	"github.com/amsproject/ams/services/ingest/internal/source/sourcetest"
)

// mkBody is an open critical host alert on app01, with alert fields
// replaced by over (a nil value drops one) and top-level fields by top.
func mkBody(over, top map[string]any) string {
	alert := map[string]any{
		"id": "2bjQ5fP3mUz", "status": "critical", "isOpen": true, "trigger": "monitor",
		"monitorName": "Load average", "openedAt": 1714564200,
		"url": "https://mackerel.io/orgs/Acme/alerts/2bjQ5fP3mUz",
	}
	body := map[string]any{
		"orgName": "Acme", "event": "alert", "type": "host", "message": "loadavg5 2.26 > 1.96",
		"host":  map[string]any{"id": "22D4ZGsC7yH", "name": "app01", "status": "working"},
		"alert": alert,
	}
	for k, v := range over {
		if v == nil {
			delete(alert, k)
		} else {
			alert[k] = v
		}
	}
	for k, v := range top {
		if v == nil {
			delete(body, k)
		} else {
			body[k] = v
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func TestGolden(t *testing.T) { sourcetest.Golden(t, Parser{}, "mackerel", nil) }

func FuzzMackerel(f *testing.F) { sourcetest.Fuzz(f, Parser{}, "mackerel", nil) }

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		wantErr string // the whole message, or its start when ending in "…"
	}{
		{"empty body", "", "empty body: expected a JSON object"},
		{"truncated JSON", `{"event":"alert",`, "invalid JSON at line 1, column 18 (byte offset 17): unexpected end of JSON input"},
		{"body is a string", `"alert"`, "body: expected an object, got string"},
		{"event missing", mkBody(nil, map[string]any{"event": nil}), `event: missing: want "alert" (a Mackerel webhook notification)`},
		{"event not a string", mkBody(nil, map[string]any{"event": 1}), "event: expected a string, got number"},
		{"alert missing", mkBody(nil, map[string]any{"alert": nil}), "alert: missing: an alert event carries the alert object"},
		{"alert not an object", mkBody(nil, map[string]any{"alert": []int{}}), "alert: expected an object, got array"},
		{"status missing", mkBody(map[string]any{"status": nil}, nil), "alert.status: missing: want ok, warning, critical or unknown"},
		{"status unknown to Mackerel", mkBody(map[string]any{"status": "fatal"}, nil), `alert.status: "fatal" is not ok, warning, critical or unknown`},
		{"isOpen not a boolean", mkBody(map[string]any{"isOpen": "yes"}, nil), "alert.isOpen: expected true or false, got string"},
		{"openedAt not a number", mkBody(map[string]any{"openedAt": "yesterday"}, nil), "alert.openedAt: expected a number, got string"},
		{"openedAt an object", mkBody(map[string]any{"openedAt": map[string]int{}}, nil), "alert.openedAt: expected a number, got object"},
		{"openedAt fractional", mkBody(map[string]any{"openedAt": 1714564200.5}, nil), "alert.openedAt: 1714564200.5 is not a Unix time such as 1473129912 (epoch seconds)"},
		{"openedAt negative", mkBody(map[string]any{"openedAt": -1}, nil), "alert.openedAt: -1 is not a Unix time…"},
		{"openedAt in milliseconds", mkBody(map[string]any{"openedAt": 1714564200000}, nil), "alert.openedAt: 1714564200000 is after the year 9999: want a Unix time such as 1473129912 (epoch seconds)"},
		{"bad createdAt", mkBody(map[string]any{"openedAt": nil, "createdAt": true}, nil), "alert.createdAt: expected a number, got bool"},
		{"bad closedAt on a resolved alert", mkBody(map[string]any{"status": "ok", "closedAt": 1.5}, nil), "alert.closedAt: 1.5 is not a Unix time…"},
		{"metricValue not a number", mkBody(map[string]any{"metricValue": "high"}, nil), "alert.metricValue: expected a number, got string"},
		{"host not an object", mkBody(nil, map[string]any{"host": "app01"}), "host: expected an object, got string"},
		{"roles not an array", mkBody(nil, map[string]any{"host": map[string]any{"roles": "app"}}), "host.roles: expected an array, got string"},
		{"no id and no monitor name", mkBody(map[string]any{"id": nil, "monitorName": nil}, nil), "alert.id: missing, and no alert.monitorName either: send Mackerel's notification unchanged"},
		{"id too long", mkBody(map[string]any{"id": string(make([]byte, 300))}, nil), "alert.id: 300 bytes is too long: use at most 256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { sourcetest.RequireError(t, Parser{}, tt.body, tt.wantErr) })
	}
}

func TestOtherEventsAreIgnored(t *testing.T) {
	for _, event := range []string{"sample", "hostStatus", "hostRegister", "hostRetire", "monitorCreate", "alertGroup"} {
		t.Run(event, func(t *testing.T) {
			body := `{"orgName":"Acme","event":"` + event + `","host":{"id":"22D4ZGsC7yH","name":"app01","status":"standby"}}`
			alerts, err := Parser{}.Parse(source.Request{Body: []byte(body), Now: sourcetest.Now})
			require.Nil(t, alerts)
			ig, ok := errors.AsType[*source.Ignored](err)
			require.True(t, ok, "got %v", err)
			require.Equal(t, `Mackerel event "`+event+`" is not an alert`, ig.Reason)
		})
	}
}

func TestStatusAndSeverity(t *testing.T) {
	firing, resolved := amsv1.AlertStatus_ALERT_STATUS_FIRING, amsv1.AlertStatus_ALERT_STATUS_RESOLVED
	tests := []struct {
		name     string
		over     map[string]any
		status   amsv1.AlertStatus
		severity amsv1.Severity
	}{
		{"critical", map[string]any{"status": "critical"}, firing, amsv1.Severity_SEVERITY_CRITICAL},
		{"CRITICAL upper case", map[string]any{"status": "CRITICAL"}, firing, amsv1.Severity_SEVERITY_CRITICAL},
		{"warning", map[string]any{"status": "warning"}, firing, amsv1.Severity_SEVERITY_WARNING},
		{"unknown", map[string]any{"status": "unknown"}, firing, amsv1.Severity_SEVERITY_WARNING},
		{"ok closes", map[string]any{"status": "ok", "isOpen": false}, resolved, amsv1.Severity_SEVERITY_INFO},
		{"ok without isOpen closes", map[string]any{"status": "ok", "isOpen": nil}, resolved, amsv1.Severity_SEVERITY_INFO},
		{"ok closes even if isOpen says otherwise", map[string]any{"status": "ok", "isOpen": true}, resolved, amsv1.Severity_SEVERITY_INFO},
		{"closed by hand keeps its level", map[string]any{"status": "critical", "isOpen": false, "trigger": "manual"}, resolved, amsv1.Severity_SEVERITY_CRITICAL},
		{"closed by host retirement", map[string]any{"status": "warning", "isOpen": false, "trigger": "hostRetire"}, resolved, amsv1.Severity_SEVERITY_WARNING},
		{"no isOpen: open", map[string]any{"status": "warning", "isOpen": nil}, firing, amsv1.Severity_SEVERITY_WARNING},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := sourcetest.ParseOne(t, Parser{}, mkBody(tt.over, nil))
			require.Equal(t, tt.status, a.GetStatus())
			require.Equal(t, tt.severity, a.GetSeverity())
		})
	}
}

func TestTimes(t *testing.T) {
	opened := time.Unix(1714564200, 0).UTC()
	tests := []struct {
		name     string
		over     map[string]any
		startsAt time.Time
		endsAt   time.Time
	}{
		{"open: openedAt, and a closedAt on an open alert is ignored", map[string]any{"closedAt": 1714564300}, opened, time.Time{}},
		{"closed: closedAt", map[string]any{"status": "ok", "closedAt": 1714564500}, opened, time.Unix(1714564500, 0).UTC()},
		{"closed without closedAt: statusChangedAt", map[string]any{"status": "ok", "statusChangedAt": 1714564400}, opened, time.Unix(1714564400, 0).UTC()},
		{"closed without either: no end", map[string]any{"status": "ok"}, opened, time.Time{}},
		{"createdAt (milliseconds) without openedAt", map[string]any{"openedAt": nil, "createdAt": 1714564200693}, time.UnixMilli(1714564200693).UTC(), time.Time{}},
		{"quoted and null numbers", map[string]any{"openedAt": "1714564200", "closedAt": nil}, opened, time.Time{}},
		{"an empty string is unset", map[string]any{"openedAt": "", "createdAt": "1714564200000"}, time.UnixMilli(1714564200000).UTC(), time.Time{}},
		{"zero is unset", map[string]any{"openedAt": 0}, time.Time{}, time.Time{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := sourcetest.ParseOne(t, Parser{}, mkBody(tt.over, nil))
			if tt.startsAt.IsZero() {
				require.Nil(t, a.GetStartsAt())
			} else {
				require.Equal(t, tt.startsAt, a.GetStartsAt().AsTime())
			}
			if tt.endsAt.IsZero() {
				require.Nil(t, a.GetEndsAt())
			} else {
				require.Equal(t, tt.endsAt, a.GetEndsAt().AsTime())
			}
		})
	}
}

func TestFingerprint(t *testing.T) {
	fp := func(over, top map[string]any) string {
		return sourcetest.ParseOne(t, Parser{}, mkBody(over, top)).GetFingerprint()
	}
	t.Run("the alert id", func(t *testing.T) {
		require.Equal(t, "2bjQ5fP3mUz", fp(nil, nil))
		require.Equal(t, "2bjQ5fP3mUz", fp(map[string]any{"status": "ok", "isOpen": false}, nil))
	})
	t.Run("without an id: monitor, type, host and service", func(t *testing.T) {
		a := fp(map[string]any{"id": nil}, nil)
		require.Equal(t, source.HashParts("Acme", "Load average", "host", "22D4ZGsC7yH", ""), a)
		require.Equal(t, a, fp(map[string]any{"id": "", "status": "ok"}, nil))
		require.NotEqual(t, a, fp(map[string]any{"id": nil}, map[string]any{"host": map[string]any{"id": "9xY", "name": "app02"}}))
		require.NotEqual(t, a, fp(map[string]any{"id": nil, "monitorName": "Disk"}, nil))
	})
	t.Run("the golden samples", func(t *testing.T) {
		parse := func(name string) *amsv1.Alert {
			return sourcetest.ParseOne(t, Parser{}, string(sourcetest.ReadSample(t, "mackerel/"+name+".json")))
		}
		firing, resolved, service := parse("firing"), parse("resolved"), parse("service_warning")
		require.Equal(t, firing.GetFingerprint(), resolved.GetFingerprint())
		require.NotEqual(t, firing.GetFingerprint(), service.GetFingerprint())
	})
}

func TestFields(t *testing.T) {
	tests := []struct {
		name  string
		over  map[string]any
		top   map[string]any
		check func(t *testing.T, a *amsv1.Alert)
	}{
		{"summary names monitor, level and host", nil, nil, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "Load average: CRITICAL on app01", a.GetSummary())
		}},
		{"summary of a service alert", nil, map[string]any{"host": nil, "type": "service", "service": map[string]any{"name": "Shop"}}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "Load average: CRITICAL on service Shop", a.GetSummary())
			require.Equal(t, "Shop", a.GetResource().GetService())
			require.Empty(t, a.GetResource().GetHost())
		}},
		{"summary of an external monitor without host or service", nil, map[string]any{"host": nil, "type": "external"}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "Load average: CRITICAL", a.GetSummary())
			require.Nil(t, a.GetResource())
		}},
		{"summary from metricLabel without a monitor name", map[string]any{"monitorName": nil, "metricLabel": "loadavg5"}, nil, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "loadavg5: CRITICAL on app01", a.GetSummary())
		}},
		{"summary names the alert as a last resort", map[string]any{"monitorName": " "}, nil, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "Mackerel alert 2bjQ5fP3mUz: CRITICAL on app01", a.GetSummary())
		}},
		{"description: message, then memo", nil, map[string]any{"memo": "Check the batch jobs."}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "loadavg5 2.26 > 1.96\n\nCheck the batch jobs.", a.GetDescription())
		}},
		{"labels", nil, map[string]any{"host": map[string]any{"id": "22D4ZGsC7yH", "name": "app01", "roles": []map[string]string{
			{"fullname": "Shop: app", "serviceName": "Shop"}, {"fullname": "Shop: batch", "serviceName": "Shop"},
		}}}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, map[string]string{
				"mackerel_monitor": "Load average", "mackerel_monitor_type": "host", "mackerel_org": "Acme",
				"mackerel_host_id": "22D4ZGsC7yH", "mackerel_roles": "Shop: app,Shop: batch",
			}, a.GetLabels())
			require.Equal(t, "Shop", a.GetResource().GetService())
		}},
		{"annotations keep numbers as Mackerel wrote them", map[string]any{"metricValue": 2.255356387321597, "warningThreshold": 1.4665636369580741, "criticalThreshold": 2, "monitorOperator": ">", "duration": 5}, nil, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, map[string]string{
				"message": "loadavg5 2.26 > 1.96", "trigger": "monitor", "metricValue": "2.255356387321597",
				"warningThreshold": "1.4665636369580741", "criticalThreshold": "2", "monitorOperator": ">",
				"duration": "5", "hostStatus": "working",
			}, a.GetAnnotations())
		}},
		{"EC2 resource info", nil, map[string]any{"resourceInfo": map[string]any{"service": "ec2", "region": "ap-northeast-1", "accountId": "123456789012", "resourceType": "instance", "resourceId": "i-0abc1234def567890"}}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, &amsv1.Resource{Host: "app01", InstanceId: "i-0abc1234def567890", Account: "123456789012", Region: "ap-northeast-1"}, a.GetResource())
		}},
		{"resource info with nulls", nil, map[string]any{"resourceInfo": map[string]any{"region": nil, "accountId": nil, "resourceId": "i-1"}}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, &amsv1.Resource{Host: "app01", InstanceId: "i-1"}, a.GetResource())
		}},
		{"links: alert, host, graph", nil, map[string]any{"imageUrl": "https://mackerel.io/embed/public/x.png", "host": map[string]any{"name": "app01", "url": "https://mackerel.io/orgs/Acme/hosts/22D4ZGsC7yH"}}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, []*amsv1.Link{
				{Url: "https://mackerel.io/orgs/Acme/alerts/2bjQ5fP3mUz", Title: "Mackerel alert"},
				{Url: "https://mackerel.io/orgs/Acme/hosts/22D4ZGsC7yH", Title: "Mackerel host"},
				{Url: "https://mackerel.io/embed/public/x.png", Title: "Graph"},
			}, a.GetLinks())
		}},
		{"null image URL", map[string]any{"url": nil}, map[string]any{"imageUrl": nil}, func(t *testing.T, a *amsv1.Alert) {
			require.Empty(t, a.GetLinks())
		}},
		{"unknown fields Mackerel adds later are ignored", nil, map[string]any{"newField": map[string]any{"x": 1}}, func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "2bjQ5fP3mUz", a.GetFingerprint())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, sourcetest.ParseOne(t, Parser{}, mkBody(tt.over, tt.top))) })
	}
}
