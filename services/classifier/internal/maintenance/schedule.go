package maintenance

import (
	"math"
	"slices"
	"sync"
	"time"
)

const (
	// endHorizon bounds how far NextEnd follows back-to-back or overlapping
	// occurrences; a window still covering then is reported as ending there,
	// and asked again at that moment it says when it ends next.
	endHorizon = 31 * 24 * time.Hour
	// startHorizon bounds how far NextStart looks ahead.
	startHorizon = 3660 * 24 * time.Hour
	// firstChunk is the first span NextStart and NextEnd search; each next
	// one is twice as long, so a dense schedule costs little and a sparse one
	// few searches.
	firstChunk = 24 * time.Hour
)

// timeline lists the start instants of a schedule's occurrences.
type timeline interface {
	// starts returns, ascending and without duplicates, the start of every
	// occurrence that begins within [from, to].
	starts(from, to time.Time) []time.Time
}

// schedule is a compiled schedule: its occurrences' starts, each lasting dur.
// Start is inclusive, end exclusive: an occurrence starting at s covers
// [s, s+dur).
type schedule struct {
	tl  timeline
	dur time.Duration

	// mu guards memo, the last answer to "active at t?" with the span over
	// which that answer holds: the classifier asks for every alert, and the
	// answer only changes when an occurrence starts or coverage ends.
	mu   sync.Mutex
	memo memo
}

type memo struct {
	ok          bool
	from, until time.Time // the answer holds for t in [from, until)
	active      bool      // when active, until is where coverage ends
	found       bool      // when inactive, whether until is a start or the horizon
}

func newSchedule(tl timeline, dur time.Duration) *schedule {
	return &schedule{tl: tl, dur: dur}
}

// state reports whether the schedule covers now and until when that answer
// holds: the end of the coverage when active, the next start otherwise (ok
// false when there is none within the horizon; until then is the horizon).
func (s *schedule) state(now time.Time) (active bool, until time.Time, ok bool) {
	s.mu.Lock()
	m := s.memo
	s.mu.Unlock()
	if m.ok && !now.Before(m.from) && now.Before(m.until) {
		return m.active, m.until, m.found
	}
	active = s.covers(now)
	if active {
		until = s.coverageEnd(now)
		ok = true
	} else {
		until, ok = s.nextStart(now)
		if !ok {
			until = now.Add(startHorizon)
		}
	}
	s.mu.Lock()
	s.memo = memo{ok: true, from: now, until: until, active: active, found: ok}
	s.mu.Unlock()
	return active, until, ok
}

func (s *schedule) active(now time.Time) bool {
	a, _, _ := s.state(now)
	return a
}

// nextEnd is when the coverage around now ends, false when now is not covered.
func (s *schedule) nextEnd(now time.Time) (time.Time, bool) {
	a, until, _ := s.state(now)
	if !a {
		return time.Time{}, false
	}
	return until, true
}

// nextStartAfter is the first start strictly after now.
func (s *schedule) nextStartAfter(now time.Time) (time.Time, bool) {
	a, until, ok := s.state(now)
	if !a {
		if !ok {
			return time.Time{}, false
		}
		return until, true
	}
	return s.nextStart(now)
}

// covers reports whether an occurrence starts within (now-dur, now].
func (s *schedule) covers(now time.Time) bool {
	_, ok := s.latestCovering(now)
	return ok
}

// latestCovering returns the last start within (now-dur, now]. It searches
// back from now in growing spans, so that a dense schedule with a long
// duration costs little.
func (s *schedule) latestCovering(now time.Time) (time.Time, bool) {
	oldest := now.Add(-s.dur + 1)
	for span := time.Hour; ; span *= 2 {
		from := oldest
		if span < s.dur && span < math.MaxInt64/2 { // a one-off window may last centuries
			from = now.Add(-span)
		}
		if st := s.tl.starts(from, now); len(st) > 0 {
			return st[len(st)-1], true
		}
		if from.Equal(oldest) {
			return time.Time{}, false
		}
	}
}

// coverageEnd follows the occurrences that start before the previous one
// ended (overlapping, or back to back) and returns where the covering stops.
// It looks at most endHorizon ahead: a schedule still covering then is
// reported as ending there. now must be covered.
func (s *schedule) coverageEnd(now time.Time) time.Time {
	latest, _ := s.latestCovering(now)
	end := latest.Add(s.dur)
	limit := now.Add(endHorizon)
	from := now.Add(1)
	for chunk := firstChunk; end.Before(limit); chunk *= 2 {
		to := from.Add(chunk)
		for _, st := range s.tl.starts(from, to) {
			if st.After(end) {
				return end // a gap
			}
			end = st.Add(s.dur) // every occurrence lasts dur: the later start ends later
		}
		if !end.After(to) {
			return end // whatever starts next starts after to, so after end
		}
		from = to.Add(1)
	}
	return end
}

// nextStart is the first start strictly after now, searched up to startHorizon.
func (s *schedule) nextStart(now time.Time) (time.Time, bool) {
	from := now.Add(1)
	limit := now.Add(startHorizon)
	for chunk := firstChunk; from.Before(limit); chunk *= 2 {
		to := from.Add(chunk)
		if to.After(limit) {
			to = limit
		}
		if st := s.tl.starts(from, to); len(st) > 0 {
			return st[0], true
		}
		from = to.Add(1)
	}
	return time.Time{}, false
}

// once is a single occurrence.
type once struct{ start time.Time }

func (o once) starts(from, to time.Time) []time.Time {
	if o.start.Before(from) || o.start.After(to) {
		return nil
	}
	return []time.Time{o.start}
}

// floating is a recurrence computed in wall-clock time — as if the zone
// never changed its offset — whose wall-clock starts are then placed in the
// zone by resolve. Doing the calendar arithmetic in wall-clock time is what
// RFC 5545 prescribes, and keeps "every day at 02:00" at 02:00 across DST.
type floating struct {
	loc *time.Location
	// between returns the wall-clock starts within [lo, hi], ascending. Wall
	// clock is carried as a time.Time in UTC whose fields read the local time.
	between func(lo, hi time.Time) []time.Time
}

func (f floating) starts(from, to time.Time) []time.Time {
	// A start s within [from, to] reads s+o on the wall clock, o being the
	// offset in force at s, or just before the gap s falls in (at most 26
	// hours earlier: no gap is longer). Widen the wall-clock range by how
	// much the offset varies over that time, usually not at all.
	delta := offsetSpread(f.loc, from.Add(-26*time.Hour), to)
	walls := f.between(wall(from, f.loc).Add(-delta), wall(to, f.loc).Add(delta))
	out := make([]time.Time, 0, len(walls))
	for _, w := range walls {
		if s := resolve(w, f.loc); !s.Before(from) && !s.After(to) {
			out = append(out, s)
		}
	}
	// Resolving is not monotonic across a gap (02:30 in a skipped hour
	// becomes 03:30, after a 03:00 start) and may merge two wall-clock times
	// into one instant; sort and drop the duplicates.
	slices.SortFunc(out, func(a, b time.Time) int { return a.Compare(b) })
	return slices.CompactFunc(out, func(a, b time.Time) bool { return a.Equal(b) })
}

// offsetSpread is the difference between the largest and the smallest UTC
// offset loc uses between from and to.
func offsetSpread(loc *time.Location, from, to time.Time) time.Duration {
	_, lo := from.In(loc).Zone()
	hi := lo
	for t := from.In(loc); ; {
		_, end := t.ZoneBounds()
		if end.IsZero() || end.After(to) {
			break
		}
		t = end
		_, off := t.Zone()
		lo, hi = min(lo, off), max(hi, off)
	}
	return time.Duration(hi-lo) * time.Second
}

// wall is the wall-clock reading of instant t in loc, carried in UTC.
func wall(t time.Time, loc *time.Location) time.Time {
	_, off := t.In(loc).Zone()
	return t.Add(time.Duration(off) * time.Second).UTC()
}

// resolve places wall-clock time w (carried in UTC) in loc following RFC 5545
// §3.3.5: a time that occurs twice (the repeated hour when clocks go back) is
// the first of the two; a time that does not occur (the skipped hour when
// clocks go forward) is read with the offset in force before the gap, so it
// lands as far after the gap's end as it was after the gap's start (02:30
// on the day New York skips 02:00–03:00 is 03:30 EDT).
func resolve(w time.Time, loc *time.Location) time.Time {
	y, mo, d := w.Date()
	h, mi, sec := w.Clock()
	t := time.Date(y, mo, d, h, mi, sec, w.Nanosecond(), loc)
	// Go picks one of the readings (or, in a gap, some instant nearby); work
	// out the RFC's choice from the zone periods around it.
	at := func(off int) time.Time { return w.Add(-time.Duration(off) * time.Second).In(loc) }
	_, off := t.Zone()
	start, _ := t.ZoneBounds()
	prevOff, hasPrev := 0, !start.IsZero()
	if hasPrev {
		_, prevOff = start.Add(-1).In(loc).Zone()
	}
	if wall(t, loc).Equal(w) {
		// A real reading; an earlier one exists if the wall time also falls
		// within the previous zone period.
		if hasPrev {
			if c := at(prevOff); c.Before(start) && wall(c, loc).Equal(w) {
				return c
			}
		}
		return t
	}
	// A gap. If Go placed t after the gap, the offset before it is the
	// previous period's; if before, it is t's own.
	if wall(t, loc).After(w) && hasPrev {
		return at(prevOff)
	}
	return at(off)
}
