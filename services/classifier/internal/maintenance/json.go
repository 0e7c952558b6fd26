package maintenance

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"
)

// Marshal encodes a window as the JSON kept for runtime windows (a KV
// value). Durations are written as text ("1h30m0s"), times as RFC 3339 with
// their offset.
func Marshal(w *Window) ([]byte, error) {
	b, err := json.Marshal(w)
	if err != nil {
		return nil, fmt.Errorf("encode maintenance window %s/%s: %w", w.Tenant, w.ID, err)
	}
	return b, nil
}

// Unmarshal decodes a window written by Marshal. Unknown fields are an
// error: a window written by a newer version with a field this one does not
// understand (say, an exclusion) would otherwise cover more than its author
// meant, and hiding alerts wrongly is worse than not hiding them. The window
// is not validated or compiled: call Compile.
func Unmarshal(b []byte) (*Window, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var w Window
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("decode maintenance window: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("decode maintenance window: data after the JSON object")
	}
	return &w, nil
}

// recurringJSON is Recurring with its duration as text.
type recurringJSON struct {
	RRule    string `json:"rrule,omitempty"`
	DTStart  string `json:"dtstart,omitempty"`
	Cron     string `json:"cron,omitempty"`
	Duration string `json:"duration"`
	TimeZone string `json:"time_zone"`
}

// MarshalJSON writes the duration as text ("2h0m0s").
func (r Recurring) MarshalJSON() ([]byte, error) {
	return json.Marshal(recurringJSON{
		RRule: r.RRule, DTStart: r.DTStart, Cron: r.Cron,
		Duration: r.Duration.String(), TimeZone: r.TimeZone,
	})
}

// UnmarshalJSON reads the duration as text ("2h", "90m").
func (r *Recurring) UnmarshalJSON(b []byte) error {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var j recurringJSON
	if err := dec.Decode(&j); err != nil {
		return fmt.Errorf("recurring: %w", err)
	}
	d, err := time.ParseDuration(j.Duration)
	if err != nil {
		return fmt.Errorf("recurring.duration: %q is not a duration such as 2h or 90m", j.Duration)
	}
	*r = Recurring{RRule: j.RRule, DTStart: j.DTStart, Cron: j.Cron, Duration: d, TimeZone: j.TimeZone}
	return nil
}
