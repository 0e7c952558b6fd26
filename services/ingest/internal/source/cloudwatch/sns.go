package cloudwatch

import (
	"strings"

	"github.com/amsproject/ams/services/ingest/internal/source"
)

// snsAlarm is the alarm JSON CloudWatch publishes to SNS (the envelope's
// Message). Only the fields AMS uses are decoded, so a field AWS adds or
// retypes later cannot make a valid alarm fail to parse. Fields that are
// often null (AlarmDescription, Trigger.Unit) decode to "".
type snsAlarm struct {
	AlarmName        string `json:"AlarmName"`
	AlarmDescription string `json:"AlarmDescription"`
	NewStateValue    string `json:"NewStateValue"`
	NewStateReason   string `json:"NewStateReason"`
	StateChangeTime  string `json:"StateChangeTime"`
	// Region is a display name ("Asia Pacific (Tokyo)"); the code comes
	// from AlarmArn.
	Region        string      `json:"Region"`
	AlarmArn      string      `json:"AlarmArn"`
	OldStateValue string      `json:"OldStateValue"`
	Trigger       *snsTrigger `json:"Trigger"`
	// AlarmRule is set on composite alarms, which have no Trigger.
	AlarmRule string `json:"AlarmRule"`
}

// snsTrigger is a metric alarm's condition: one metric (MetricName,
// Namespace, Dimensions) or a metric-math expression over Metrics.
type snsTrigger struct {
	MetricName string         `json:"MetricName"`
	Namespace  string         `json:"Namespace"`
	Dimensions []snsDimension `json:"Dimensions"`
	Metrics    []struct {
		MetricStat *struct {
			Metric struct {
				MetricName string         `json:"MetricName"`
				Namespace  string         `json:"Namespace"`
				Dimensions []snsDimension `json:"Dimensions"`
			} `json:"Metric"`
		} `json:"MetricStat"`
	} `json:"Metrics"`
}

// snsDimension is a dimension as SNS messages write them: lowercase keys,
// unlike the rest of the message.
type snsDimension struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

func dimensionMap(dims []snsDimension) map[string]string {
	m := make(map[string]string, len(dims))
	for _, d := range dims {
		m[d.Name] = d.Value
	}
	return m
}

// fromSNS reads an SNS notification carrying a CloudWatch alarm.
func fromSNS(b *body) (*alarm, error) {
	switch b.Type {
	case "Notification":
	case "SubscriptionConfirmation", "UnsubscribeConfirmation":
		return nil, source.FieldErr("Type", "%s carries no alarm: the webhook endpoint must answer SNS confirmations itself (check that the integration is set up for SNS)", b.Type)
	default:
		return nil, source.FieldErr("Type", "%q is not an SNS message type: want Notification", b.Type)
	}
	if b.MessageID == "" {
		return nil, source.FieldErr("MessageId", "missing: SNS gives every message an id")
	}
	if b.Message == nil || *b.Message == "" {
		return nil, source.FieldErr("Message", "missing: want the CloudWatch alarm as a JSON string")
	}
	if !isJSONObject(*b.Message) {
		return nil, source.FieldErr("Message", "not a CloudWatch alarm (a JSON object): is something else publishing to this topic?")
	}
	var in snsAlarm
	if err := decodeAt("Message", []byte(*b.Message), &in); err != nil {
		return nil, err
	}
	arn, ok := parseAlarmARN(in.AlarmArn)
	if !ok {
		if in.AlarmArn == "" {
			return nil, source.FieldErr("Message.AlarmArn", "missing: a CloudWatch alarm notification names its alarm (%s)", arnExample)
		}
		return nil, source.FieldErr("Message.AlarmArn", "%q is not a CloudWatch alarm ARN (%s)", in.AlarmArn, arnExample)
	}
	if err := checkState("Message.NewStateValue", in.NewStateValue); err != nil {
		return nil, err
	}
	changed, err := parseTime("Message.StateChangeTime", in.StateChangeTime)
	if err != nil {
		return nil, err
	}
	if changed.IsZero() {
		// Not expected from CloudWatch; the publish time is the next best.
		if changed, err = parseTime("Timestamp", b.Timestamp); err != nil {
			return nil, err
		}
	}
	a := &alarm{
		arn:         arn,
		name:        firstNonBlank(in.AlarmName, arn.name),
		description: in.AlarmDescription,
		account:     arn.account,
		region:      arn.region,
		state:       in.NewStateValue,
		previous:    in.OldStateValue,
		reason:      in.NewStateReason,
		changedAt:   changed,
		rule:        in.AlarmRule,
		dedupKey:    b.MessageID,
	}
	if t := in.Trigger; t != nil {
		if t.MetricName != "" || t.Namespace != "" || len(t.Dimensions) > 0 {
			a.metrics = append(a.metrics, metric{namespace: t.Namespace, name: t.MetricName, dimensions: dimensionMap(t.Dimensions)})
		}
		for _, m := range t.Metrics {
			if m.MetricStat != nil {
				ms := m.MetricStat.Metric
				a.metrics = append(a.metrics, metric{namespace: ms.Namespace, name: ms.MetricName, dimensions: dimensionMap(ms.Dimensions)})
			}
		}
	}
	return a, nil
}

func firstNonBlank(values ...string) string {
	for _, v := range values {
		if strings.TrimSpace(v) != "" {
			return v
		}
	}
	return ""
}
