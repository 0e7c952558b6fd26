package alertmanager

import (
	"encoding/json"
	"fmt"
	"strings"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
	"github.com/amsproject/ams/services/ingest/internal/source"
)

// postableAlert is one entry of the body of Alertmanager's API v2
// POST /api/v2/alerts (openapi.yaml, postableAlert): what Prometheus and
// amtool send. There is no status: an alert whose endsAt has passed is
// resolved, any other is firing.
type postableAlert struct {
	Labels       map[string]string `json:"labels"`
	Annotations  map[string]string `json:"annotations"`
	StartsAt     string            `json:"startsAt"`
	EndsAt       string            `json:"endsAt"`
	GeneratorURL string            `json:"generatorURL"`
}

// APIParser reads the body of Alertmanager's API v2 POST /api/v2/alerts: a
// JSON array of alerts. Prometheus re-sends every active alert each minute
// with the same startsAt, so each re-send has the same idempotency key and
// is stored once. Unlike Alertmanager, which stores the valid alerts of a
// batch and answers 400 for the rest, a batch with an invalid alert is
// refused whole: a request is stored whole or not at all.
type APIParser struct{}

// Parse returns one Alert per array entry.
func (APIParser) Parse(r source.Request) ([]*amsv1.Alert, error) {
	var raws []json.RawMessage
	if err := source.DecodeBody(r.Body, &raws); err != nil {
		return nil, err
	}
	if len(raws) == 0 {
		return nil, source.FieldErr("body", "empty array: send at least one alert")
	}
	out := make([]*amsv1.Alert, 0, len(raws))
	for i, raw := range raws {
		path := fmt.Sprintf("[%d]", i)
		var in postableAlert
		if err := source.DecodeElement(raw, path, &in, false); err != nil {
			return nil, err
		}
		// Alertmanager drops labels with empty values before validating.
		for k, v := range in.Labels {
			if v == "" {
				delete(in.Labels, k)
			}
		}
		if len(in.Labels) == 0 {
			return nil, source.FieldErr(path+".labels", "missing or empty: an alert needs at least one label (Alertmanager requires labels)")
		}
		for k := range in.Labels {
			if strings.TrimSpace(k) == "" {
				return nil, source.FieldErr(path+".labels", "a label name is empty")
			}
		}
		am := amAlert{
			Status:       "firing",
			Labels:       in.Labels,
			Annotations:  in.Annotations,
			StartsAt:     in.StartsAt,
			EndsAt:       in.EndsAt,
			GeneratorURL: in.GeneratorURL,
		}
		a, err := am.normalise(path, &amMessage{}, r.Now)
		if err != nil {
			return nil, err
		}
		// Both parsed cleanly in normalise; Alertmanager's own check.
		starts, _ := source.ParseTime("", in.StartsAt)
		ends, _ := source.ParseTime("", in.EndsAt)
		if !starts.IsZero() && !ends.IsZero() && ends.Before(starts) {
			return nil, source.FieldErr(path, "start time must be before end time (endsAt %s is before startsAt %s)", in.EndsAt, in.StartsAt)
		}
		out = append(out, a)
	}
	return out, nil
}
