package maintenance

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"
)

// Config is the maintenance part of a tenant's configuration:
//
//	maintenance:
//	  - name: nightly-db-backup
//	    match: 'alert.resource.host.startsWith("db-")'
//	    recurring: {rrule: "FREQ=DAILY;BYHOUR=2;BYMINUTE=0", duration: 1h, time_zone: Asia/Tokyo}
//	  - name: dc-move
//	    match: 'true'
//	    once: {start: 2026-12-01T22:00:00+09:00, end: 2026-12-02T04:00:00+09:00}
//
// Values are kept as written; Windows checks and converts them, so every
// problem is reported at once under the key that holds it.
type Config struct {
	Maintenance []WindowConfig `yaml:"maintenance"`
}

// WindowConfig is one window as written in the configuration.
type WindowConfig struct {
	// Name is unique within the tenant; the window's ID is "config/<name>".
	Name      string           `yaml:"name"`
	Reason    string           `yaml:"reason"`
	Match     string           `yaml:"match"`
	Once      *OnceConfig      `yaml:"once"`
	Recurring *RecurringConfig `yaml:"recurring"`
}

// OnceConfig is a one-off window as written: start and end are RFC 3339 with
// an offset, or local time without one when time_zone is set.
type OnceConfig struct {
	Start    string `yaml:"start"`
	End      string `yaml:"end"`
	TimeZone string `yaml:"time_zone"`
}

// RecurringConfig is a recurring window as written (see Recurring);
// duration is a Go duration such as 90m or 2h.
type RecurringConfig struct {
	RRule    string `yaml:"rrule"`
	DTStart  string `yaml:"dtstart"`
	Cron     string `yaml:"cron"`
	Duration string `yaml:"duration"`
	TimeZone string `yaml:"time_zone"`
}

// ParseConfig strictly decodes a YAML document holding a maintenance list:
// an unknown key is an error, since a misspelt key silently ignored would be
// a window that does not do what it says.
func ParseConfig(raw []byte) (*Config, error) {
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("decode maintenance: %w", err)
	}
	return &c, nil
}

// Windows checks every window of the configuration, builds the windows of
// tenant and compiles their match expressions with compile. Every problem is
// reported at once, each naming the window (maintenance[i] and its name) and
// the key.
func (c *Config) Windows(tenant string, compile CompileFunc) ([]*Window, error) {
	var errs []error
	var out []*Window
	seen := make(map[string]int)
	for i, wc := range c.Maintenance {
		label := fmt.Sprintf("maintenance[%d]", i)
		if wc.Name != "" {
			label += fmt.Sprintf(" (%s)", wc.Name)
		}
		var probs []problem
		if j, dup := seen[wc.Name]; dup && wc.Name != "" {
			probs = append(probs, problem{"name", fmt.Sprintf("maintenance[%d] has the same name: names are unique within a tenant", j)})
		} else {
			seen[wc.Name] = i
		}
		w, read := wc.window(tenant)
		probs = append(probs, read...)
		c, checked := w.build(compile)
		for _, p := range checked {
			// A value that could not be read is reported once, as such,
			// not again as missing.
			if !slices.ContainsFunc(read, func(r problem) bool { return r.key == p.key }) {
				probs = append(probs, p)
			}
		}
		for _, p := range probs {
			errs = append(errs, fmt.Errorf("%s: %w", label, p))
		}
		if len(probs) == 0 {
			w.compiled = c
			out = append(out, w)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return out, nil
}

// window converts the written form, with the problems of values that could
// not be read (left zero in the window).
func (wc WindowConfig) window(tenant string) (*Window, []problem) {
	w := &Window{
		ID: "config/" + wc.Name, Tenant: tenant, Name: wc.Name,
		Reason: wc.Reason, Match: wc.Match,
	}
	var probs []problem
	if o := wc.Once; o != nil {
		w.Once = &Once{TimeZone: o.TimeZone}
		for _, f := range []struct {
			key, v string
			dst    *time.Time
		}{{"once.start", o.Start, &w.Once.Start}, {"once.end", o.End, &w.Once.End}} {
			if f.v == "" {
				continue // reported as missing by the check
			}
			t, err := ParseTime(f.v, o.TimeZone)
			if err != nil {
				probs = append(probs, problem{f.key, err.Error()})
				continue
			}
			*f.dst = t
		}
	}
	if r := wc.Recurring; r != nil {
		w.Recurring = &Recurring{RRule: r.RRule, DTStart: r.DTStart, Cron: r.Cron, TimeZone: r.TimeZone}
		if r.Duration != "" {
			d, err := time.ParseDuration(r.Duration)
			if err != nil {
				probs = append(probs, problem{"recurring.duration", fmt.Sprintf("%q is not a duration such as 2h or 90m", r.Duration)})
			}
			w.Recurring.Duration = d
		}
	}
	return w, probs
}
