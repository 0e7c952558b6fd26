package cloudwatch

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ingest/internal/source"
	"github.com/amsproject/ams/services/ingest/internal/source/sourcetest"
)

func TestGolden(t *testing.T) { sourcetest.Golden(t, Parser{}, "cloudwatch", nil) }

func FuzzCloudWatch(f *testing.F) { sourcetest.Fuzz(f, Parser{}, "cloudwatch", nil) }

const testARN = "arn:aws:cloudwatch:ap-northeast-1:123456789012:alarm:ServerCpuTooHigh"

// snsBody wraps alarm JSON in an SNS notification envelope.
func snsBody(alarm string) string {
	return string(mustJSON(map[string]string{
		"Type": "Notification", "MessageId": "5e0a5c8b-8c93-5c3e-9a7d-1c2f8e4b6d10",
		"TopicArn": "arn:aws:sns:ap-northeast-1:123456789012:ams-alarms", "Message": alarm,
		"Timestamp": "2024-05-01T11:54:41.052Z", "SignatureVersion": "1", "Signature": "EXAMPLE",
		"SigningCertURL": "https://sns.ap-northeast-1.amazonaws.com/SimpleNotificationService-f3ecfb7224c7233fe7bb5f59f96de52f.pem",
	}))
}

// snsAlarmJSON returns a metric alarm message with fields replaced or,
// for nil values, removed.
func snsAlarmJSON(changes map[string]any) string {
	m := map[string]any{
		"AlarmName": "ServerCpuTooHigh", "AlarmDescription": "CPU is high", "AWSAccountId": "123456789012",
		"NewStateValue": "ALARM", "NewStateReason": "Threshold Crossed", "StateChangeTime": "2024-05-01T11:54:40.989+0000",
		"Region": "Asia Pacific (Tokyo)", "AlarmArn": testARN, "OldStateValue": "OK",
		"Trigger": map[string]any{
			"MetricName": "CPUUtilization", "Namespace": "AWS/EC2", "Statistic": "AVERAGE", "Unit": nil, "Period": 300,
			"EvaluationPeriods": 1, "ComparisonOperator": "GreaterThanThreshold", "Threshold": 50.0,
			"Dimensions": []map[string]string{{"value": "i-12345678901234567", "name": "InstanceId"}},
		},
	}
	for k, v := range changes {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return string(mustJSON(m))
}

// ebBody returns an EventBridge alarm state change with top-level fields
// replaced or removed, and detail fields replaced from detail.
func ebBody(top map[string]any, detail map[string]any) string {
	d := map[string]any{
		"alarmName": "ServerCpuTooHigh",
		"configuration": map[string]any{
			"description": "CPU is high",
			"metrics": []any{map[string]any{"id": "m1", "metricStat": map[string]any{
				"metric": map[string]any{"dimensions": map[string]string{"InstanceId": "i-12345678901234567"}, "name": "CPUUtilization", "namespace": "AWS/EC2"},
				"period": 300, "stat": "Average"}, "returnData": true}},
		},
		"previousState": map[string]any{"value": "OK", "reason": "fine", "timestamp": "2024-05-01T11:00:00.000+0000"},
		"state":         map[string]any{"value": "ALARM", "reason": "Threshold Crossed", "timestamp": "2024-05-01T11:54:40.989+0000"},
	}
	for k, v := range detail {
		d[k] = v
	}
	m := map[string]any{
		"version": "0", "id": "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92", "detail-type": "CloudWatch Alarm State Change",
		"source": "aws.cloudwatch", "account": "123456789012", "time": "2024-05-01T11:54:41Z", "region": "ap-northeast-1",
		"resources": []string{testARN}, "detail": d,
	}
	for k, v := range top {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	return string(mustJSON(m))
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

func TestParseErrors(t *testing.T) {
	confirmation := strings.Replace(snsBody(snsAlarmJSON(nil)), `"Type":"Notification"`, `"Type":"SubscriptionConfirmation"`, 1)
	tests := []struct {
		name    string
		body    string
		wantErr string // the whole message, or its start when ending in "…"
	}{
		{"empty body", " ", "empty body: expected a JSON object"},
		{"truncated JSON", `{"Type":"Notification",`, "invalid JSON at line 1, column 24 (byte offset 23): unexpected end of JSON input"},
		{"body is an array", `[]`, "body: expected an object, got array"},
		{"neither shape", `{"hello":"world"}`, `neither an SNS notification (no "Type") nor an EventBridge event (no "detail-type")`},
		{"raw message delivery", snsAlarmJSON(nil), "a bare CloudWatch alarm without its SNS envelope: turn off raw message delivery…"},

		// SNS envelope.
		{"subscription confirmation", confirmation, "Type: SubscriptionConfirmation carries no alarm: the webhook endpoint must answer SNS confirmations itself…"},
		{"unsubscribe confirmation", strings.Replace(confirmation, "SubscriptionConfirmation", "UnsubscribeConfirmation", 1), "Type: UnsubscribeConfirmation carries no alarm…"},
		{"unknown SNS type", strings.Replace(confirmation, "SubscriptionConfirmation", "Ping", 1), `Type: "Ping" is not an SNS message type: want Notification`},
		{"Type not a string", `{"Type":1}`, "Type: expected a string, got number"},
		{"no MessageId", strings.Replace(snsBody(snsAlarmJSON(nil)), `"MessageId":"5e0a5c8b-8c93-5c3e-9a7d-1c2f8e4b6d10"`, `"MessageId":""`, 1), "MessageId: missing: SNS gives every message an id"},
		{"no Message", `{"Type":"Notification","MessageId":"m"}`, "Message: missing: want the CloudWatch alarm as a JSON string"},
		{"Message is an object, not a string", `{"Type":"Notification","MessageId":"m","Message":{"AlarmName":"x"}}`, "Message: expected a string, got object"},
		{"Message is text", snsBody("Hello world!"), "Message: not a CloudWatch alarm (a JSON object): is something else publishing to this topic?"},
		{"Message is broken JSON", snsBody(`{"AlarmName":`), "Message: invalid JSON at line 1, column 14 (byte offset 13): unexpected end of JSON input"},
		{"Message field type", snsBody(snsAlarmJSON(map[string]any{"NewStateValue": 1})), "Message.NewStateValue: expected a string, got number"},
		{"dimension type", snsBody(snsAlarmJSON(map[string]any{"Trigger": map[string]any{"Dimensions": []any{map[string]any{"name": "InstanceId", "value": 7}}}})), "Message.Trigger.Dimensions.value: expected a string, got number"},
		{"no AlarmArn", snsBody(snsAlarmJSON(map[string]any{"AlarmArn": nil})), "Message.AlarmArn: missing: a CloudWatch alarm notification names its alarm (arn:aws:cloudwatch:<region>:<account>:alarm:<name>)"},
		{"AlarmArn of something else", snsBody(snsAlarmJSON(map[string]any{"AlarmArn": "arn:aws:sns:ap-northeast-1:123456789012:ams-alarms"})), `Message.AlarmArn: "arn:aws:sns:ap-northeast-1:123456789012:ams-alarms" is not a CloudWatch alarm ARN…`},
		{"AlarmArn with a region name", snsBody(snsAlarmJSON(map[string]any{"AlarmArn": "arn:aws:cloudwatch:Asia Pacific (Tokyo):123456789012:alarm:x"})), `Message.AlarmArn: "arn:aws:cloudwatch:Asia Pacific (Tokyo):123456789012:alarm:x" is not a CloudWatch alarm ARN…`},
		{"no state", snsBody(snsAlarmJSON(map[string]any{"NewStateValue": nil})), "Message.NewStateValue: missing: want ALARM, OK or INSUFFICIENT_DATA"},
		{"bad state", snsBody(snsAlarmJSON(map[string]any{"NewStateValue": "alarm"})), `Message.NewStateValue: "alarm" is not ALARM, OK or INSUFFICIENT_DATA`},
		{"bad StateChangeTime", snsBody(snsAlarmJSON(map[string]any{"StateChangeTime": "05/01/24 11:54"})), `Message.StateChangeTime: "05/01/24 11:54" is not a time such as 2024-05-01T12:00:00.000+0000`},

		// EventBridge.
		{"configuration change event", ebBody(map[string]any{"detail-type": "CloudWatch Alarm Configuration Change"}, nil), `detail-type: "CloudWatch Alarm Configuration Change" is not "CloudWatch Alarm State Change": limit the EventBridge rule's event pattern to alarm state changes`},
		{"other source", ebBody(map[string]any{"source": "my.app"}, nil), `source: "my.app" is not aws.cloudwatch: alarm state changes come from CloudWatch`},
		{"no id", ebBody(map[string]any{"id": nil}, nil), "id: missing: EventBridge gives every event an id"},
		{"no resources", ebBody(map[string]any{"resources": nil}, nil), "resources: no CloudWatch alarm ARN (arn:aws:cloudwatch:<region>:<account>:alarm:<name>): the event names the alarm there"},
		{"resources not alarms", ebBody(map[string]any{"resources": []string{"arn:aws:ec2:us-east-1:123456789012:instance/i-1"}}, nil), "resources: no CloudWatch alarm ARN…"},
		{"resources not an array", ebBody(map[string]any{"resources": "x"}, nil), "resources: expected an array, got string"},
		{"no detail", ebBody(map[string]any{"detail": nil}, nil), "detail: missing: the alarm's state is in the event detail"},
		{"detail not an object", ebBody(map[string]any{"detail": []int{1}}, nil), "detail: expected an object, got array"},
		{"detail field type", ebBody(nil, map[string]any{"alarmName": 5}), "detail.alarmName: expected a string, got number"},
		{"dimensions as an array", ebBody(nil, map[string]any{"configuration": map[string]any{"metrics": []any{map[string]any{"metricStat": map[string]any{"metric": map[string]any{"dimensions": []string{"a"}}}}}}}),
			"detail.configuration.metrics.metricStat.metric.dimensions: expected an object, got array"},
		{"no state value", ebBody(nil, map[string]any{"state": map[string]any{"reason": "r"}}), "detail.state.value: missing: want ALARM, OK or INSUFFICIENT_DATA"},
		{"bad state value", ebBody(nil, map[string]any{"state": map[string]any{"value": "FIRING"}}), `detail.state.value: "FIRING" is not ALARM, OK or INSUFFICIENT_DATA`},
		{"bad state time", ebBody(nil, map[string]any{"state": map[string]any{"value": "ALARM", "timestamp": "now"}}), `detail.state.timestamp: "now" is not a time…`},
		{"bad previous time", ebBody(nil, map[string]any{"previousState": map[string]any{"value": "OK", "timestamp": "then"}}), `detail.previousState.timestamp: "then" is not a time…`},
		{"bad event time", ebBody(map[string]any{"time": "now"}, map[string]any{"state": map[string]any{"value": "ALARM"}}), `time: "now" is not a time…`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { sourcetest.RequireError(t, Parser{}, tt.body, tt.wantErr) })
	}
}

func TestSeverity(t *testing.T) {
	tests := []struct {
		state, description string
		want               amsv1.Severity
	}{
		{"ALARM", "", amsv1.Severity_SEVERITY_ERROR},
		{"ALARM", "CPU is high", amsv1.Severity_SEVERITY_ERROR},
		{"ALARM", "CPU is high. severity=critical", amsv1.Severity_SEVERITY_CRITICAL},
		{"ALARM", "severity: warning - disk filling", amsv1.Severity_SEVERITY_WARNING},
		{"ALARM", "[Severity=INFO] nightly batch late", amsv1.Severity_SEVERITY_INFO},
		{"ALARM", "severity=error", amsv1.Severity_SEVERITY_ERROR},
		{"ALARM", "severity=high", amsv1.Severity_SEVERITY_ERROR},        // not a level: default
		{"ALARM", "lowseverity=critical", amsv1.Severity_SEVERITY_ERROR}, // not a word of its own
		{"ALARM", "severity=criticality", amsv1.Severity_SEVERITY_ERROR}, // not the whole word
		{"OK", "severity=critical", amsv1.Severity_SEVERITY_CRITICAL},    // an OK keeps its alarm's severity
		{"INSUFFICIENT_DATA", "severity=critical", amsv1.Severity_SEVERITY_WARNING},
		{"INSUFFICIENT_DATA", "", amsv1.Severity_SEVERITY_WARNING},
	}
	for _, tt := range tests {
		t.Run(tt.state+" "+tt.description, func(t *testing.T) {
			require.Equal(t, tt.want, Severity(tt.state, tt.description))
			a := sourcetest.ParseOne(t, Parser{}, snsBody(snsAlarmJSON(map[string]any{"NewStateValue": tt.state, "AlarmDescription": tt.description})))
			require.Equal(t, tt.want, a.GetSeverity())
		})
	}
}

// TestAlarmAndOKPair checks what makes an OK resolve its ALARM: the same
// fingerprint, from either delivery path.
func TestAlarmAndOKPair(t *testing.T) {
	parse := func(name string) *amsv1.Alert {
		t.Helper()
		return sourcetest.ParseOne(t, Parser{}, string(sourcetest.ReadSample(t, "cloudwatch/"+name+".json")))
	}
	for _, pair := range [][2]string{{"sns_alarm", "sns_ok"}, {"eventbridge_alarm", "eventbridge_ok"}} {
		alarm, ok := parse(pair[0]), parse(pair[1])
		require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_FIRING, alarm.GetStatus(), pair[0])
		require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_RESOLVED, ok.GetStatus(), pair[1])
		require.Equal(t, alarm.GetFingerprint(), ok.GetFingerprint(), "%s and %s", pair[0], pair[1])
		require.NotEqual(t, alarm.GetDedupKey(), ok.GetDedupKey(), "each notification has its own dedup key")
	}

	t.Run("the same alarm by SNS and by EventBridge", func(t *testing.T) {
		viaSNS := sourcetest.ParseOne(t, Parser{}, snsBody(snsAlarmJSON(nil)))
		viaEB := sourcetest.ParseOne(t, Parser{}, ebBody(nil, nil))
		require.Equal(t, testARN, viaSNS.GetFingerprint())
		require.Equal(t, viaSNS.GetFingerprint(), viaEB.GetFingerprint())
		require.Equal(t, viaSNS.GetLabels(), viaEB.GetLabels())
		require.Equal(t, viaSNS.GetResource().String(), viaEB.GetResource().String())
		require.Equal(t, viaSNS.GetLinks()[0].GetUrl(), viaEB.GetLinks()[0].GetUrl())
	})
}

func TestFields(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		check func(t *testing.T, a *amsv1.Alert)
	}{
		{"region code from the ARN, not the display name", snsBody(snsAlarmJSON(nil)), func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "ap-northeast-1", a.GetResource().GetRegion())
			require.Equal(t, "ap-northeast-1", a.GetLabels()["region"])
			require.Equal(t, "123456789012", a.GetResource().GetAccount())
			require.Equal(t, "i-12345678901234567", a.GetResource().GetInstanceId())
			require.Equal(t, "EC2", a.GetResource().GetService())
			require.Equal(t, "5e0a5c8b-8c93-5c3e-9a7d-1c2f8e4b6d10", a.GetDedupKey())
		}},
		{"firing starts at the state change", snsBody(snsAlarmJSON(nil)), func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "2024-05-01T11:54:40.989Z", a.GetStartsAt().AsTime().Format("2006-01-02T15:04:05.000Z07:00"))
			require.Nil(t, a.GetEndsAt())
		}},
		{"OK ends at the state change", snsBody(snsAlarmJSON(map[string]any{"NewStateValue": "OK", "OldStateValue": "ALARM"})), func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_RESOLVED, a.GetStatus())
			require.Equal(t, "2024-05-01T11:54:40.989Z", a.GetEndsAt().AsTime().Format("2006-01-02T15:04:05.000Z07:00"))
			require.Nil(t, a.GetStartsAt(), "SNS does not say when the ALARM began")
		}},
		{"EventBridge OK starts when the ALARM did", ebBody(nil, map[string]any{
			"state":         map[string]any{"value": "OK", "timestamp": "2024-05-01T12:10:00.000+0000"},
			"previousState": map[string]any{"value": "ALARM", "timestamp": "2024-05-01T11:54:40.989+0000"},
		}), func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_RESOLVED, a.GetStatus())
			require.Equal(t, "2024-05-01T11:54:40Z", a.GetStartsAt().AsTime().Truncate(1e9).Format("2006-01-02T15:04:05Z07:00"))
			require.Equal(t, "2024-05-01T12:10:00Z", a.GetEndsAt().AsTime().Format("2006-01-02T15:04:05Z07:00"))
		}},
		{"INSUFFICIENT_DATA fires as a warning", snsBody(snsAlarmJSON(map[string]any{"NewStateValue": "INSUFFICIENT_DATA"})), func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, amsv1.AlertStatus_ALERT_STATUS_FIRING, a.GetStatus())
			require.Equal(t, amsv1.Severity_SEVERITY_WARNING, a.GetSeverity())
			require.Equal(t, "INSUFFICIENT_DATA: ServerCpuTooHigh", a.GetSummary())
		}},
		{"RFC 3339 state change time", snsBody(snsAlarmJSON(map[string]any{"StateChangeTime": "2024-05-01T11:54:40.5+02:00"})), func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "2024-05-01T09:54:40.5Z", a.GetStartsAt().AsTime().Format("2006-01-02T15:04:05.999Z07:00"))
		}},
		{"no state change time: the SNS publish time", snsBody(snsAlarmJSON(map[string]any{"StateChangeTime": nil})), func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "2024-05-01T11:54:41.052Z", a.GetStartsAt().AsTime().Format("2006-01-02T15:04:05.000Z07:00"))
		}},
		{"no state timestamp: the event time", ebBody(nil, map[string]any{"state": map[string]any{"value": "ALARM"}}), func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "2024-05-01T11:54:41Z", a.GetStartsAt().AsTime().Format("2006-01-02T15:04:05Z07:00"))
		}},
		{"null description and unit", snsBody(strings.Replace(snsAlarmJSON(nil), `"AlarmDescription":"CPU is high"`, `"AlarmDescription":null`, 1)), func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "Threshold Crossed", a.GetDescription())
			require.Equal(t, amsv1.Severity_SEVERITY_ERROR, a.GetSeverity())
		}},
		{"description then reason", snsBody(snsAlarmJSON(nil)), func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "CPU is high\n\nThreshold Crossed", a.GetDescription())
			require.Equal(t, map[string]string{"state_reason": "Threshold Crossed"}, a.GetAnnotations())
		}},
		{"name from the ARN when missing", snsBody(snsAlarmJSON(map[string]any{"AlarmName": " "})), func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "ALARM: ServerCpuTooHigh", a.GetSummary())
		}},
		{"no dimensions, custom namespace", snsBody(snsAlarmJSON(map[string]any{"Trigger": map[string]any{"MetricName": "ErrorCount", "Namespace": "MyApp", "Dimensions": []any{}}})), func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "MyApp", a.GetResource().GetService())
			require.Empty(t, a.GetResource().GetInstanceId())
			require.Equal(t, "ErrorCount", a.GetLabels()["metric_name"])
		}},
		{"CloudWatch agent host dimension", snsBody(snsAlarmJSON(map[string]any{"Trigger": map[string]any{"MetricName": "disk_used_percent", "Namespace": "CWAgent",
			"Dimensions": []any{map[string]string{"name": "path", "value": "/"}, map[string]string{"name": "host", "value": "ip-10-0-0-12.ec2.internal"}, map[string]string{"name": "InstanceId", "value": "i-0abc"}}}})), func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "ip-10-0-0-12.ec2.internal", a.GetResource().GetHost())
			require.Equal(t, "i-0abc", a.GetResource().GetInstanceId())
			require.Equal(t, "/", a.GetLabels()["dimension_path"])
		}},
		{"metrics in different namespaces name no service", ebBody(nil, map[string]any{"configuration": map[string]any{"metrics": []any{
			map[string]any{"metricStat": map[string]any{"metric": map[string]any{"namespace": "AWS/EC2", "name": "a"}}},
			map[string]any{"metricStat": map[string]any{"metric": map[string]any{"namespace": "AWS/ELB", "name": "b"}}},
		}}}), func(t *testing.T, a *amsv1.Alert) {
			require.Empty(t, a.GetResource().GetService())
			require.NotContains(t, a.GetLabels(), "namespace")
			require.NotContains(t, a.GetLabels(), "metric_name")
		}},
		{"China partition console link", snsBody(snsAlarmJSON(map[string]any{"AlarmArn": "arn:aws-cn:cloudwatch:cn-north-1:123456789012:alarm:Disk full"})), func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "https://console.amazonaws.cn/cloudwatch/deeplink.js?region=cn-north-1#alarmsV2:alarm/Disk%20full", a.GetLinks()[0].GetUrl())
			require.Equal(t, "cn-north-1", a.GetResource().GetRegion())
		}},
		{"console link escapes the name", snsBody(snsAlarmJSON(map[string]any{"AlarmArn": "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:CORE - DB / CPU #1"})), func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, "https://eu-west-1.console.aws.amazon.com/cloudwatch/deeplink.js?region=eu-west-1#alarmsV2:alarm/CORE%20-%20DB%20%2F%20CPU%20%231", a.GetLinks()[0].GetUrl())
		}},
		{"unknown partition has no console link", snsBody(snsAlarmJSON(map[string]any{"AlarmArn": "arn:aws-iso:cloudwatch:us-iso-east-1:123456789012:alarm:x"})), func(t *testing.T, a *amsv1.Alert) {
			require.Empty(t, a.GetLinks())
			require.Equal(t, "us-iso-east-1", a.GetResource().GetRegion())
		}},
		{"an over-long ARN is hashed", snsBody(snsAlarmJSON(map[string]any{"AlarmArn": "arn:aws:cloudwatch:us-east-1:123456789012:alarm:" + strings.Repeat("n", 255)})), func(t *testing.T, a *amsv1.Alert) {
			arn := "arn:aws:cloudwatch:us-east-1:123456789012:alarm:" + strings.Repeat("n", 255)
			require.Equal(t, source.HashParts("cloudwatch", arn), a.GetFingerprint())
			require.Equal(t, arn, a.GetLabels()["alarm_arn"])
		}},
		{"composite alarm", snsBody(snsAlarmJSON(map[string]any{"Trigger": nil, "AlarmRule": `ALARM("a") OR ALARM("b")`})), func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, `ALARM("a") OR ALARM("b")`, a.GetAnnotations()["alarm_rule"])
			require.Empty(t, a.GetResource().GetService())
			require.Empty(t, a.GetResource().GetInstanceId())
		}},
		{"EventBridge: first alarm ARN among resources", ebBody(map[string]any{"resources": []string{"arn:aws:ec2:us-east-1:123456789012:instance/i-1", testARN}}, nil), func(t *testing.T, a *amsv1.Alert) {
			require.Equal(t, testARN, a.GetFingerprint())
			require.Equal(t, "c4c1c1c9-6542-e61b-6ef0-8c4d36933a92", a.GetDedupKey())
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, sourcetest.ParseOne(t, Parser{}, tt.body)) })
	}
}
