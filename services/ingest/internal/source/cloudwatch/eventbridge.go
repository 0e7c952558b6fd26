package cloudwatch

import (
	"github.com/amsproject/ams/services/ingest/internal/source"
)

// ebDetail is the detail of a "CloudWatch Alarm State Change" event.
// Composite alarms carry configuration.alarmRule instead of metrics.
type ebDetail struct {
	AlarmName     string  `json:"alarmName"`
	State         ebState `json:"state"`
	PreviousState ebState `json:"previousState"`
	Configuration struct {
		Description string `json:"description"`
		AlarmRule   string `json:"alarmRule"`
		Metrics     []struct {
			MetricStat *struct {
				Metric struct {
					Namespace string `json:"namespace"`
					Name      string `json:"name"`
					// Unlike SNS messages, events write dimensions as an object.
					Dimensions map[string]string `json:"dimensions"`
				} `json:"metric"`
			} `json:"metricStat"`
		} `json:"metrics"`
	} `json:"configuration"`
}

type ebState struct {
	Value     string `json:"value"`
	Reason    string `json:"reason"`
	Timestamp string `json:"timestamp"`
}

// fromEventBridge reads an EventBridge alarm state change event.
func fromEventBridge(b *body) (*alarm, error) {
	if b.DetailType != eventBridgeDetailType {
		return nil, source.FieldErr("detail-type", "%q is not %q: limit the EventBridge rule's event pattern to alarm state changes", b.DetailType, eventBridgeDetailType)
	}
	if b.Source != "aws.cloudwatch" {
		return nil, source.FieldErr("source", "%q is not aws.cloudwatch: alarm state changes come from CloudWatch", b.Source)
	}
	if b.ID == "" {
		return nil, source.FieldErr("id", "missing: EventBridge gives every event an id")
	}
	var arn *alarmARN
	for _, r := range b.Resources {
		if a, ok := parseAlarmARN(r); ok {
			arn = a
			break
		}
	}
	if arn == nil {
		return nil, source.FieldErr("resources", "no CloudWatch alarm ARN (%s): the event names the alarm there", arnExample)
	}
	if len(b.Detail) == 0 || string(b.Detail) == "null" {
		return nil, source.FieldErr("detail", "missing: the alarm's state is in the event detail")
	}
	var d ebDetail
	if err := decodeAt("detail", b.Detail, &d); err != nil {
		return nil, err
	}
	if err := checkState("detail.state.value", d.State.Value); err != nil {
		return nil, err
	}
	changed, err := parseTime("detail.state.timestamp", d.State.Timestamp)
	if err != nil {
		return nil, err
	}
	if changed.IsZero() {
		if changed, err = parseTime("time", b.Time); err != nil {
			return nil, err
		}
	}
	previousChanged, err := parseTime("detail.previousState.timestamp", d.PreviousState.Timestamp)
	if err != nil {
		return nil, err
	}
	a := &alarm{
		arn:             arn,
		name:            firstNonBlank(d.AlarmName, arn.name),
		description:     d.Configuration.Description,
		account:         arn.account,
		region:          arn.region,
		state:           d.State.Value,
		previous:        d.PreviousState.Value,
		reason:          d.State.Reason,
		changedAt:       changed,
		previousChanged: previousChanged,
		rule:            d.Configuration.AlarmRule,
		dedupKey:        b.ID,
	}
	for _, m := range d.Configuration.Metrics {
		if m.MetricStat != nil {
			ms := m.MetricStat.Metric
			a.metrics = append(a.metrics, metric{namespace: ms.Namespace, name: ms.Name, dimensions: ms.Dimensions})
		}
	}
	return a, nil
}
