// Package flapping detects alerts that keep changing state: a fingerprint
// whose status goes firing → resolved → firing … more than Threshold times
// within Window is flapping, and stays so until it has been quiet (no change)
// for Quiet. While it flaps the classifier holds automation and sends one
// notice for the episode instead of one per change.
//
// Detection is a pure function over a small State that the caller keeps
// (in the incident, or a KV bucket) and passes back in: no clock, no bus.
// The state is bounded (at most Threshold+1 change times) and JSON-encodable.
package flapping

import (
	"errors"
	"fmt"
	"slices"
	"time"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// Config says what flapping is. The zero value is not valid: start from
// DefaultConfig.
type Config struct {
	// Threshold: more than this many status changes within Window is flapping.
	Threshold int `yaml:"threshold" json:"threshold"`
	// Window is how far back changes are counted, from the newest.
	Window time.Duration `yaml:"window" json:"window"`
	// Quiet is how long a flapping fingerprint must go without a change to
	// stop flapping.
	Quiet time.Duration `yaml:"quiet" json:"quiet"`
}

// DefaultConfig is the 6th change within 30 minutes marks flapping, which
// ends after 30 minutes without a change.
func DefaultConfig() Config {
	return Config{Threshold: 5, Window: 30 * time.Minute, Quiet: 30 * time.Minute}
}

// Validate returns every problem at once, each naming its key (relative to
// wherever the caller keeps this config).
func (c Config) Validate() error {
	var errs []error
	if c.Threshold < 1 {
		errs = append(errs, fmt.Errorf("threshold: %d is too small: flapping is more than threshold changes within window, so use at least 1 (default 5)", c.Threshold))
	}
	if c.Window <= 0 {
		errs = append(errs, errors.New("window: must be positive, e.g. 30m"))
	}
	if c.Quiet <= 0 {
		errs = append(errs, errors.New("quiet: must be positive, e.g. 30m"))
	}
	return errors.Join(errs...)
}

// Detector applies a Config to states. It holds no state of its own and is
// safe for concurrent use.
type Detector struct{ cfg Config }

// New returns a detector for a valid cfg.
func New(cfg Config) (*Detector, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("flapping: %w", err)
	}
	return &Detector{cfg: cfg}, nil
}

// Config returns the detector's configuration.
func (d *Detector) Config() Config { return d.cfg }

// Status values kept in State.
const (
	Firing   = "firing"
	Resolved = "resolved"
)

// State is what the detector remembers about one fingerprint. The zero value
// is a fingerprint never seen.
type State struct {
	// Status is the last status seen: Firing or Resolved; empty before the first.
	Status string `json:"status,omitempty"`
	// LastSeen is when the last notification applied was received.
	LastSeen time.Time `json:"last_seen,omitzero"`
	// Changes are the times of the most recent status changes, oldest first,
	// at most Threshold+1 of them; emptied when a flapping episode ends.
	Changes []time.Time `json:"changes,omitempty"`
	// FlappingSince is when the current flapping episode began; zero when
	// the fingerprint is not flapping.
	FlappingSince time.Time `json:"flapping_since,omitzero"`
}

// Differs reports whether next says more than prev: another status, other
// changes or another episode. A later LastSeen alone (a re-sent
// notification) does not count, so a caller can skip storing it: the
// status changes, which are all that staleness and flapping need, are kept.
func Differs(prev, next State) bool {
	return prev.Status != next.Status || !prev.FlappingSince.Equal(next.FlappingSince) ||
		!slices.EqualFunc(prev.Changes, next.Changes, time.Time.Equal)
}

// Flapping reports whether the fingerprint is flapping.
func (s State) Flapping() bool { return !s.FlappingSince.IsZero() }

// Transition is what an observation changed, for the caller to act on once:
// hold automation and send the one notice when BecameFlapping, release and
// say so when StoppedFlapping. Both are never true together.
type Transition struct {
	BecameFlapping  bool
	StoppedFlapping bool
}

// statusOf maps an alert status to the two states that count: acknowledged
// is still firing (someone is working on it); unspecified says nothing.
func statusOf(s amsv1.AlertStatus) string {
	switch s {
	case amsv1.AlertStatus_ALERT_STATUS_FIRING, amsv1.AlertStatus_ALERT_STATUS_ACKNOWLEDGED:
		return Firing
	case amsv1.AlertStatus_ALERT_STATUS_RESOLVED:
		return Resolved
	default:
		return ""
	}
}

// Observe applies a notification with status, received at at, to s and
// returns the new state (s itself is not modified) and what changed.
//
//   - A status different from the last one is a change. The first
//     notification of a fingerprint only sets the status.
//   - A notification older than the last one applied (at before LastSeen) is
//     ignored, as the classifier ignores stale notifications: applied out of
//     order it would count changes that never happened.
//   - Before anything else, a flapping fingerprint whose last change is at
//     least Quiet before at stops flapping (see Check); its changes are
//     forgotten, so a new episode needs a fresh run of changes.
//   - A change that makes more than Threshold changes within Window (the
//     newest and those less than Window before it) starts an episode.
func (d *Detector) Observe(s State, status amsv1.AlertStatus, at time.Time) (State, Transition) {
	st := statusOf(status)
	if st == "" || at.Before(s.LastSeen) {
		return s, Transition{}
	}
	next, tr := d.Check(s, at)
	next.LastSeen = at
	if next.Status == "" || next.Status == st {
		next.Status = st
		return next, tr
	}
	next.Status = st
	next.Changes = append(slices.Clone(next.Changes), at)
	if keep := d.cfg.Threshold + 1; len(next.Changes) > keep {
		next.Changes = slices.Clone(next.Changes[len(next.Changes)-keep:])
	}
	if !next.Flapping() && d.recent(next.Changes, at) > d.cfg.Threshold {
		next.FlappingSince = at
		tr.BecameFlapping = true
	}
	return next, tr
}

// recent counts the changes within (at-Window, at].
func (d *Detector) recent(changes []time.Time, at time.Time) int {
	n := 0
	for _, c := range changes {
		if at.Sub(c) < d.cfg.Window && !c.After(at) {
			n++
		}
	}
	return n
}

// Check ends a flapping episode that has been quiet for Quiet by now,
// without a notification: the caller runs it when QuietAt comes (a durable
// delay), since a fingerprint that stops changing sends nothing to observe.
func (d *Detector) Check(s State, now time.Time) (State, Transition) {
	end, ok := d.QuietAt(s)
	if !ok || now.Before(end) {
		return s, Transition{}
	}
	s.FlappingSince = time.Time{}
	s.Changes = nil
	return s, Transition{StoppedFlapping: true}
}

// QuietAt returns when a flapping fingerprint stops flapping if nothing
// changes before then; ok is false when it is not flapping.
func (d *Detector) QuietAt(s State) (time.Time, bool) {
	if !s.Flapping() {
		return time.Time{}, false
	}
	last := s.FlappingSince // the episode began with a change
	if n := len(s.Changes); n > 0 && s.Changes[n-1].After(last) {
		last = s.Changes[n-1]
	}
	return last.Add(d.cfg.Quiet), true
}
