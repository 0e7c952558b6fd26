package maintenance

import (
	"errors"
	"time"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// Set is the maintenance windows in force, of every tenant: those of the
// configuration and those created at runtime. It is immutable; build a new
// one when windows change. A nil *Set holds no windows.
type Set struct {
	all      []*Window
	byTenant map[string][]*Window
}

// NewSet holds windows, which should be compiled (see Window.Compile), in
// the order given.
func NewSet(windows ...*Window) *Set {
	s := &Set{byTenant: make(map[string][]*Window)}
	for _, w := range windows {
		if w == nil {
			continue
		}
		s.all = append(s.all, w)
		s.byTenant[w.Tenant] = append(s.byTenant[w.Tenant], w)
	}
	return s
}

// Windows returns every window of the set.
func (s *Set) Windows() []*Window {
	if s == nil {
		return nil
	}
	return append([]*Window(nil), s.all...)
}

// Active returns the windows whose schedule covers now, of every tenant,
// whatever they match.
func (s *Set) Active(now time.Time) []*Window {
	if s == nil {
		return nil
	}
	var out []*Window
	for _, w := range s.all {
		if w.Active(now) {
			out = append(out, w)
		}
	}
	return out
}

// ActiveAt returns the windows of tenant that cover alert a at now: active,
// and matching it. A window whose matcher fails is left out and named in the
// error, which comes with the windows that did match: the caller decides
// (suppressing on a broken matcher would hide alerts nobody meant to hide).
func (s *Set) ActiveAt(tenant string, a *amsv1.Alert, now time.Time) ([]*Window, error) {
	if s == nil {
		return nil, nil
	}
	var out []*Window
	var errs []error
	for _, w := range s.byTenant[tenant] {
		if !w.Active(now) {
			continue
		}
		ok, err := w.Matches(a)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if ok {
			out = append(out, w)
		}
	}
	return out, errors.Join(errs...)
}

// NextEnd returns the earliest time at which a window active at now stops
// covering (see Window.NextEnd); ok is false when none is active.
func (s *Set) NextEnd(now time.Time) (end time.Time, ok bool) {
	if s == nil {
		return time.Time{}, false
	}
	for _, w := range s.all {
		if e, active := w.NextEnd(now); active && (!ok || e.Before(end)) {
			end, ok = e, true
		}
	}
	return end, ok
}

// NextStart returns the earliest occurrence start of any window strictly
// after now; ok is false when there is none.
func (s *Set) NextStart(now time.Time) (start time.Time, ok bool) {
	if s == nil {
		return time.Time{}, false
	}
	for _, w := range s.all {
		if st, found := w.NextStart(now); found && (!ok || st.Before(start)) {
			start, ok = st, true
		}
	}
	return start, ok
}
