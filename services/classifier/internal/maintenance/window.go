// Package maintenance decides which maintenance windows cover an alert: a
// window is a schedule (one-off, or recurring by RFC 5545 RRULE or cron in an
// IANA time zone) and a matcher over the alert, owned by one tenant. Alerts a
// window covers become suppressed incidents; when it ends, the classifier
// evaluates the alerts still firing again (NextEnd says when).
//
// The package is pure: no bus, no clock (every question takes "now"), and
// the matcher language is injected as a CompileFunc, so the rules engine and
// the KV store plug in from outside. Windows come from the YAML config
// (Config) or from a Store of windows created at runtime (JSON, see Marshal).
package maintenance

import (
	"errors"
	"fmt"
	"strings"
	"time"

	// Time zones are this package's business: embed the database so a
	// window in Asia/Tokyo works in an image without /usr/share/zoneinfo.
	_ "time/tzdata"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// Matcher decides whether an alert is within a window's scope. The rules
// engine builds it from the window's match expression.
type Matcher interface {
	Match(a *amsv1.Alert) (bool, error)
}

// MatcherFunc adapts a function to Matcher.
type MatcherFunc func(a *amsv1.Alert) (bool, error)

// Match calls f.
func (f MatcherFunc) Match(a *amsv1.Alert) (bool, error) { return f(a) }

// CompileFunc builds the Matcher for a match expression, or says what is
// wrong with it.
type CompileFunc func(expr string) (Matcher, error)

// Window is one maintenance window of one tenant. Exactly one of Once and
// Recurring is set. Compile it before use: until then it is never active.
// A compiled Window is safe for concurrent use as long as nobody changes its
// fields (change them, and Compile again).
type Window struct {
	// ID is unique within the tenant: "config/<name>" for windows from the
	// configuration file, chosen by the admin API for runtime ones.
	ID     string `json:"id"`
	Tenant string `json:"tenant"`
	Name   string `json:"name"`
	// Reason is shown on the incidents the window suppresses.
	Reason string `json:"reason,omitempty"`
	// Match is the matcher expression selecting the alerts the window
	// covers, e.g. `alert.resource.host.startsWith("db-")`; "true" covers
	// every alert of the tenant.
	Match     string     `json:"match"`
	Once      *Once      `json:"once,omitempty"`
	Recurring *Recurring `json:"recurring,omitempty"`
	// CreatedBy and CreatedAt record who created a runtime window, and when.
	CreatedBy string    `json:"created_by,omitempty"`
	CreatedAt time.Time `json:"created_at,omitzero"`

	compiled *compiled
}

type compiled struct {
	sched   *schedule
	matcher Matcher
}

// Once is a one-off window covering [Start, End): the start is inside, the
// end is not.
type Once struct {
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// TimeZone is the IANA zone the window was written in; optional, for
	// showing it back to people.
	TimeZone string `json:"time_zone,omitempty"`
}

// Recurring is a window that opens at every occurrence of an RRULE or a
// cron expression, read in TimeZone, and stays open for Duration.
type Recurring struct {
	// RRule is an RFC 5545 recurrence rule without DTSTART, e.g.
	// "FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0". An UNTIL without "Z" is
	// local time; with "Z" it is UTC.
	RRule string `json:"rrule,omitempty"`
	// DTStart is the rule's first start, as local wall-clock time without
	// an offset ("2026-01-04T02:00:00"). Optional, except with COUNT;
	// defaults to 2000-01-03T00:00:00 (a Monday, midnight).
	DTStart string `json:"dtstart,omitempty"`
	// Cron is a standard five-field cron expression (minute hour
	// day-of-month month day-of-week) or a descriptor such as @daily.
	Cron string `json:"cron,omitempty"`
	// Duration is how long each occurrence lasts, in elapsed time.
	Duration time.Duration `json:"duration"`
	// TimeZone is the IANA zone the rule is read in, e.g. Asia/Tokyo.
	TimeZone string `json:"time_zone"`
}

// Validate checks the window and returns every problem at once, each naming
// the key that holds it. The match expression is only checked for presence:
// compiling it is Compile's job.
func (w *Window) Validate() error {
	_, probs := w.check()
	return w.wrap(probs)
}

// Compile validates the window, builds its schedule and compiles its match
// expression with compile. A nil compile leaves the matcher out: the
// schedule works, and ActiveAt reports the window as not compiled.
func (w *Window) Compile(compile CompileFunc) error {
	c, probs := w.build(compile)
	if len(probs) > 0 {
		return w.wrap(probs)
	}
	w.compiled = c
	return nil
}

// build checks everything and compiles what can be compiled.
func (w *Window) build(compile CompileFunc) (*compiled, []problem) {
	sched, probs := w.check()
	var m Matcher
	if compile != nil && strings.TrimSpace(w.Match) != "" {
		var err error
		if m, err = compile(w.Match); err != nil {
			probs = append(probs, problem{"match", err.Error()})
		} else if m == nil {
			probs = append(probs, problem{"match", "the compiler returned no matcher"})
		}
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return &compiled{sched: sched, matcher: m}, nil
}

// check validates the window and builds its schedule.
func (w *Window) check() (*schedule, []problem) {
	var probs []problem
	for _, f := range []struct{ key, v string }{{"id", w.ID}, {"tenant", w.Tenant}, {"name", w.Name}} {
		if strings.TrimSpace(f.v) == "" {
			probs = append(probs, problem{f.key, "missing"})
		}
	}
	if strings.TrimSpace(w.Match) == "" {
		probs = append(probs, problem{"match", "missing: write 'true' to cover every alert of the tenant"})
	}
	sched, sp := compileSchedule(w.Once, w.Recurring)
	return sched, append(probs, sp...)
}

// wrap names the window in front of each problem.
func (w *Window) wrap(probs []problem) error {
	if len(probs) == 0 {
		return nil
	}
	label := fmt.Sprintf("maintenance window %s/%s", w.Tenant, w.ID)
	if w.Name != "" && w.Name != w.ID {
		label += fmt.Sprintf(" (%s)", w.Name)
	}
	errs := make([]error, len(probs))
	for i, p := range probs {
		errs[i] = fmt.Errorf("%s: %w", label, p)
	}
	return errors.Join(errs...)
}

// maxOnceYears bounds a one-off window ("until further notice" is still a date).
const maxOnceYears = 100

// compileSchedule checks the schedule keys and builds the schedule.
func compileSchedule(o *Once, r *Recurring) (*schedule, []problem) {
	switch {
	case o != nil && r != nil:
		return nil, []problem{{"once", "set either once or recurring, not both"}}
	case o == nil && r == nil:
		return nil, []problem{{"once", "missing: set once (start, end) or recurring (rrule or cron, duration, time_zone)"}}
	case r != nil:
		tl, probs := compileRecurring(r)
		if len(probs) > 0 {
			return nil, probs
		}
		return newSchedule(tl, r.Duration), nil
	}
	var probs []problem
	if o.Start.IsZero() {
		probs = append(probs, problem{"once.start", "missing"})
	}
	if o.End.IsZero() {
		probs = append(probs, problem{"once.end", "missing"})
	}
	if o.TimeZone != "" {
		if _, err := loadZone(o.TimeZone); err != nil {
			probs = append(probs, problem{"once.time_zone", err.Error()})
		}
	}
	switch {
	case len(probs) > 0:
	case !o.End.After(o.Start):
		probs = append(probs, problem{"once.end", fmt.Sprintf("%s is not after once.start %s: the window would never be open",
			o.End.Format(time.RFC3339), o.Start.Format(time.RFC3339))})
	case o.End.After(o.Start.AddDate(maxOnceYears, 0, 0)):
		probs = append(probs, problem{"once.end", fmt.Sprintf("%s is more than %d years after once.start: to silence alerts for good, change the rules",
			o.End.Format(time.RFC3339), maxOnceYears)})
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return newSchedule(once{start: o.Start}, o.End.Sub(o.Start)), nil
}

// schedule returns the compiled schedule; nil when the window was not
// compiled (or failed to), so that it is never active.
func (w *Window) schedule() *schedule {
	if w.compiled == nil {
		return nil
	}
	return w.compiled.sched
}

// Active reports whether the window's schedule covers now: an occurrence
// started at or before now and ends after it. It does not look at the match.
// A window that was not compiled, or failed to, is never active.
func (w *Window) Active(now time.Time) bool {
	s := w.schedule()
	return s != nil && s.active(now)
}

// NextEnd returns when the window, active at now, stops covering: the end of
// the occurrence covering now, or of a later one when occurrences overlap or
// follow each other without a gap. Coverage is followed at most 31 days
// ahead; a window still covering then reports that time, and says what comes
// next when asked again. ok is false when the window is not active at now.
func (w *Window) NextEnd(now time.Time) (end time.Time, ok bool) {
	s := w.schedule()
	if s == nil {
		return time.Time{}, false
	}
	return s.nextEnd(now)
}

// NextStart returns the first occurrence start strictly after now, looking
// about ten years ahead; ok is false when there is none.
func (w *Window) NextStart(now time.Time) (start time.Time, ok bool) {
	s := w.schedule()
	if s == nil {
		return time.Time{}, false
	}
	return s.nextStartAfter(now)
}

// Matches reports whether alert a is within the window's scope. It fails
// when the window has no compiled matcher or the matcher fails.
func (w *Window) Matches(a *amsv1.Alert) (bool, error) {
	if w.compiled == nil || w.compiled.matcher == nil {
		return false, fmt.Errorf("maintenance window %s/%s: match %q is not compiled", w.Tenant, w.ID, w.Match)
	}
	ok, err := w.compiled.matcher.Match(a)
	if err != nil {
		return false, fmt.Errorf("maintenance window %s/%s: match %q: %w", w.Tenant, w.ID, w.Match, err)
	}
	return ok, nil
}

// ParseTime reads a time as RFC 3339 with an offset ("2026-12-01T22:00:00+09:00")
// or, when timeZone names an IANA zone, as local wall-clock time without one
// ("2026-12-01T22:00", seconds optional), resolved as RFC 5545 does: a time
// that occurs twice is the first, a time skipped by a DST change is read
// with the offset before the change.
func ParseTime(value, timeZone string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, value); err == nil {
		return t, nil
	}
	w, ok := parseWall(value)
	if !ok {
		return time.Time{}, fmt.Errorf("%q is not a time like 2026-12-01T22:00:00+09:00 (or 2026-12-01T22:00 with time_zone set)", value)
	}
	if timeZone == "" {
		return time.Time{}, fmt.Errorf("%q has no offset: add one (2026-12-01T22:00:00+09:00) or set time_zone", value)
	}
	loc, err := loadZone(timeZone)
	if err != nil {
		return time.Time{}, fmt.Errorf("time_zone: %w", err)
	}
	return resolve(w, loc), nil
}
