package maintenance

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	rrule "github.com/teambition/rrule-go"
)

// defaultDTStart anchors an RRULE written without dtstart: midnight,
// Monday 3 January 2000, local time. Only what the rule leaves open comes
// from it (the time of day of FREQ=DAILY without BYHOUR, the weekday of
// FREQ=WEEKLY without BYDAY, the phase of an INTERVAL).
var defaultDTStart = time.Date(2000, 1, 3, 0, 0, 0, 0, time.UTC)

// maxRecurringDuration bounds a recurring window's duration; longer
// maintenance is a one-off window.
const maxRecurringDuration = 31 * 24 * time.Hour

// wallLayouts are the accepted forms of a wall-clock time (no offset).
var wallLayouts = []string{"2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"}

// parseWall reads a wall-clock time without an offset, carried in UTC.
func parseWall(s string) (time.Time, bool) {
	for _, l := range wallLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

// loadZone loads an IANA time zone by name, refusing the names that depend on
// the machine ("Local") or are empty.
func loadZone(name string) (*time.Location, error) {
	switch name {
	case "":
		return nil, errors.New("missing: name an IANA time zone such as Asia/Tokyo, Europe/London or UTC")
	case "Local":
		return nil, errors.New(`"Local" depends on the machine: name an IANA time zone such as Asia/Tokyo`)
	}
	loc, err := time.LoadLocation(name)
	if err != nil {
		return nil, fmt.Errorf("%q is not an IANA time zone (e.g. Asia/Tokyo, Europe/London, UTC)", name)
	}
	return loc, nil
}

// problem is one thing wrong with a window, under the key that holds it.
type problem struct{ key, msg string }

func (p problem) Error() string { return p.key + ": " + p.msg }

// compileRecurring checks r and builds its timeline; every problem is reported.
func compileRecurring(r *Recurring) (timeline, []problem) {
	var probs []problem
	bad := func(key, format string, args ...any) {
		probs = append(probs, problem{"recurring." + key, fmt.Sprintf(format, args...)})
	}
	loc, err := loadZone(r.TimeZone)
	if err != nil {
		bad("time_zone", "%s", err)
	}
	switch {
	case r.Duration <= 0:
		bad("duration", "must be positive, e.g. 2h")
	case r.Duration > maxRecurringDuration:
		bad("duration", "%s is longer than 31 days: use a one-off window (once) for long maintenance", r.Duration)
	}
	rr, cr := strings.TrimSpace(r.RRule), strings.TrimSpace(r.Cron)
	switch {
	case rr != "" && cr != "":
		probs = append(probs, problem{"recurring", "set either rrule or cron, not both"})
		return nil, probs
	case rr == "" && cr == "":
		probs = append(probs, problem{"recurring", "set rrule (e.g. FREQ=WEEKLY;BYDAY=SU;BYHOUR=2;BYMINUTE=0) or cron (e.g. 0 2 * * SUN)"})
		return nil, probs
	case cr != "" && r.DTStart != "":
		bad("dtstart", "applies to rrule only; remove it or write the schedule as an rrule")
	}
	var tl timeline
	if rr != "" {
		t, ps := newRRule(rr, r.DTStart, loc)
		probs = append(probs, ps...)
		if t != nil {
			tl = floating{loc: loc, between: t.between}
		}
	} else {
		t, err := newCron(cr)
		if err != nil {
			bad("cron", "%s", err)
		}
		if t != nil {
			tl = floating{loc: loc, between: t.between}
		}
	}
	if len(probs) > 0 {
		return nil, probs
	}
	return tl, nil
}

// rruleTimeline is an RRULE evaluated in wall-clock time.
type rruleTimeline struct {
	opt rrule.ROption
	// step is how far DTSTART may move forward without changing any
	// occurrence after it: a whole number of the rule's periods, whose length
	// is fixed in wall-clock time for weekly and finer rules. Zero when it
	// may not move (COUNT counts from DTSTART; months and years vary).
	step time.Duration
	// all lists every occurrence of a rule with COUNT.
	all []time.Time
}

// newRRule parses an RRULE with its wall-clock DTSTART. loc converts an UNTIL
// given in UTC to wall clock; nil when the zone is itself wrong (reported
// by the caller), in which case nothing is built.
func newRRule(text, dtstart string, loc *time.Location) (*rruleTimeline, []problem) {
	text = strings.TrimPrefix(strings.ToUpper(text), "RRULE:")
	// Parsing in UTC keeps an UNTIL without "Z" as the wall-clock time it
	// reads; one with "Z" is an instant, moved to wall clock below.
	opt, err := rrule.StrToROptionInLocation(text, time.UTC)
	if err != nil {
		return nil, []problem{{"recurring.rrule", fmt.Sprintf("%q is not an RFC 5545 RRULE: %s", text, err)}}
	}
	var probs []problem
	if !opt.Dtstart.IsZero() {
		probs = append(probs, problem{"recurring.rrule", "holds DTSTART: put the first start in recurring.dtstart (local time, no offset)"})
	}
	if opt.Freq == rrule.SECONDLY {
		probs = append(probs, problem{"recurring.rrule", "FREQ=SECONDLY is not a maintenance schedule: use MINUTELY or coarser"})
	}
	opt.Dtstart = defaultDTStart
	if dtstart != "" {
		w, ok := parseWall(dtstart)
		if !ok {
			probs = append(probs, problem{"recurring.dtstart", fmt.Sprintf("%q is not a local time like 2026-01-04T02:00:00 (no offset: time_zone says where)", dtstart)})
		}
		opt.Dtstart = w
	} else if opt.Count > 0 {
		probs = append(probs, problem{"recurring.dtstart", "missing: COUNT counts occurrences from dtstart, so set it (local time like 2026-01-04T02:00:00)"})
	}
	if len(probs) > 0 || loc == nil {
		return nil, probs
	}
	if !opt.Until.IsZero() && untilInUTC(text) {
		opt.Until = wall(opt.Until, loc)
	}
	if opt.Count > maxCount {
		return nil, []problem{{"recurring.rrule", fmt.Sprintf("COUNT=%d is more than %d: use UNTIL to end a long series", opt.Count, maxCount)}}
	}
	r, err := rrule.NewRRule(*opt)
	if err != nil {
		return nil, []problem{{"recurring.rrule", fmt.Sprintf("%q is not a valid RRULE: %s", text, err)}}
	}
	if msg := unreachable(opt); msg != "" {
		return nil, []problem{{"recurring.rrule", fmt.Sprintf("%q %s", text, msg)}}
	}
	if opt.Freq == rrule.MONTHLY {
		for _, wd := range opt.Byweekday {
			if n := wd.N(); n > 5 || n < -5 {
				return nil, []problem{{"recurring.rrule", fmt.Sprintf("%q: BYDAY=%s asks for the %d%s of a month, which has at most 5: use 1 to 5, or -1 (the last) to -5", text, wd, n, ordinalSuffix(n))}}
			}
		}
	}
	never := []problem{{"recurring.rrule", fmt.Sprintf("%q never occurs on or after dtstart %s (UNTIL before dtstart, or only dates that do not exist such as BYMONTH=2;BYMONTHDAY=30)", text, opt.Dtstart.Format(wallLayouts[0]))}}
	var (
		occurs bool
		all    []time.Time
	)
	if err := safely(func() {
		occurs = anyDay(opt) && !r.After(opt.Dtstart, true).IsZero()
		if occurs && opt.Count > 0 {
			all = r.All()
		}
	}); err != nil {
		return nil, []problem{{"recurring.rrule", fmt.Sprintf("%q cannot be evaluated (%v): simplify the rule", text, err)}}
	}
	if !occurs {
		return nil, never
	}
	t := &rruleTimeline{opt: *opt}
	if opt.Count > 0 {
		// Counted from DTSTART, so DTSTART cannot move: list them once.
		t.all = all
		return t, nil
	}
	period := map[rrule.Frequency]time.Duration{
		rrule.WEEKLY: 7 * 24 * time.Hour, rrule.DAILY: 24 * time.Hour, rrule.HOURLY: time.Hour, rrule.MINUTELY: time.Minute,
	}[opt.Freq]
	if interval := time.Duration(max(opt.Interval, 1)); period > 0 && interval <= math.MaxInt64/2/period {
		t.step = interval * period
	}
	return t, nil
}

// maxCount bounds COUNT, whose occurrences are listed when compiled.
const maxCount = 1000

// unreachable explains why an hourly or minutely rule can never reach its
// BYHOUR or BYMINUTE from DTSTART in steps of INTERVAL, or returns "".
// rrule-go steps through such a rule forever instead of giving up, so it must
// never see one.
func unreachable(opt *rrule.ROption) string {
	interval := max(opt.Interval, 1)
	h0, m0 := opt.Dtstart.Hour(), opt.Dtstart.Minute()
	hours, minutes := opt.Byhour, opt.Byminute
	switch {
	case opt.Freq == rrule.HOURLY && len(hours) > 0:
		g := gcd(interval, 24)
		for _, h := range hours {
			if (h-h0)%g == 0 {
				return ""
			}
		}
		return fmt.Sprintf("never reaches BYHOUR: stepping INTERVAL=%d hours from the hour of dtstart (%02d) only visits hours %d apart", interval, h0, g)
	case opt.Freq == rrule.MINUTELY && (len(hours) > 0 || len(minutes) > 0):
		g := gcd(interval, 24*60)
		if len(hours) == 0 {
			hours = seq(24)
		}
		if len(minutes) == 0 {
			minutes = seq(60)
		}
		for _, h := range hours {
			for _, m := range minutes {
				if (h*60+m-h0*60-m0)%g == 0 {
					return ""
				}
			}
		}
		return fmt.Sprintf("never reaches BYHOUR/BYMINUTE: stepping INTERVAL=%d minutes from the time of dtstart (%02d:%02d) only visits times %d minutes apart", interval, h0, m0, g)
	}
	return ""
}

// anyDay reports whether any day passes the rule's day filters (BYMONTH,
// BYMONTHDAY, BYYEARDAY, BYWEEKNO, BYDAY, BYEASTER). rrule-go tries every
// period until year 9999 before saying a rule never occurs — seconds of work
// for a daily, hourly or minutely rule — so ask a yearly rule with the same
// filters first: it tries each year once.
func anyDay(opt *rrule.ROption) bool {
	if opt.Freq == rrule.YEARLY || len(opt.Bymonthday)+len(opt.Byyearday)+len(opt.Byweekno)+len(opt.Byweekday)+len(opt.Byeaster) == 0 {
		return true // nothing to ask, or asking costs no less
	}
	days := rrule.ROption{
		Freq: rrule.YEARLY, Dtstart: opt.Dtstart, Until: opt.Until,
		Bymonth: opt.Bymonth, Bymonthday: opt.Bymonthday, Byyearday: opt.Byyearday,
		Byweekno: opt.Byweekno, Byweekday: opt.Byweekday, Byeaster: opt.Byeaster,
	}
	if opt.Freq == rrule.MONTHLY {
		// "1MO" means the first Monday of each month; a yearly rule reads
		// it so only within the months it is given.
		if len(days.Bymonth) == 0 {
			days.Bymonth = seq(13)[1:]
		}
	} else {
		// Finer than monthly, rrule-go reads "1MO" as every Monday.
		days.Byweekday = make([]rrule.Weekday, len(opt.Byweekday))
		for i, wd := range opt.Byweekday {
			days.Byweekday[i] = []rrule.Weekday{rrule.MO, rrule.TU, rrule.WE, rrule.TH, rrule.FR, rrule.SA, rrule.SU}[wd.Day()]
		}
	}
	r, err := rrule.NewRRule(days)
	return err != nil || !r.After(opt.Dtstart, true).IsZero() // on error, let the rule itself answer
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// untilInUTC reports whether the rule's UNTIL is a UTC instant (ends in Z).
func untilInUTC(text string) bool {
	for _, part := range strings.Split(text, ";") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(part), "UNTIL="); ok {
			return strings.HasSuffix(v, "Z")
		}
	}
	return false
}

// between returns the wall-clock starts within [lo, hi].
func (t *rruleTimeline) between(lo, hi time.Time) []time.Time {
	if t.all != nil {
		i, _ := slices.BinarySearchFunc(t.all, lo, func(a, b time.Time) int { return a.Compare(b) })
		var out []time.Time
		for ; i < len(t.all) && !t.all[i].After(hi); i++ {
			out = append(out, t.all[i])
		}
		return out
	}
	opt := t.opt
	// rrule-go walks every period from DTSTART; move DTSTART to a period
	// boundary shortly before lo so a query costs the same in any year.
	// Occurrences dropped by the move all lie before the new DTSTART, which is
	// at least one step before lo.
	if gap := lo.Sub(opt.Dtstart); t.step > 0 && gap > 2*t.step {
		opt.Dtstart = opt.Dtstart.Add((gap/t.step - 1) * t.step)
	}
	// A fresh RRule per call: rrule-go writes to the RRule while iterating,
	// so one shared between goroutines would race.
	r, err := rrule.NewRRule(opt)
	if err != nil {
		return nil // the same options passed NewRRule when compiled
	}
	var out []time.Time
	if err := safely(func() { out = r.Between(lo, hi, true) }); err != nil {
		// rrule-go panicked on a rule it accepted: no occurrence rather
		// than a crashed classifier (a window that never opens hides nothing).
		return nil
	}
	return out
}

// safely runs f, turning a panic inside rrule-go into an error: the library
// indexes past its tables on some rules it parses without complaint.
func safely(f func()) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("rrule: %v", p)
		}
	}()
	f()
	return nil
}

func ordinalSuffix(n int) string {
	if n < 0 {
		n = -n
	}
	switch {
	case n%100 >= 11 && n%100 <= 13:
		return "th"
	case n%10 == 1:
		return "st"
	case n%10 == 2:
		return "nd"
	case n%10 == 3:
		return "rd"
	}
	return "th"
}

// cronTimeline is a standard five-field cron expression evaluated in
// wall-clock time. robfig/cron parses it; the matching times are listed here
// from the parsed fields, day by day, because the library's Next steps a
// second at a time (slow for a dense expression over a month) and can only
// go forward.
type cronTimeline struct{ spec cron.SpecSchedule }

func newCron(text string) (*cronTimeline, error) {
	if strings.HasPrefix(text, "TZ=") || strings.HasPrefix(text, "CRON_TZ=") {
		return nil, errors.New("holds a time zone: set it in recurring.time_zone instead")
	}
	if strings.HasPrefix(text, "@every") {
		return nil, errors.New("@every counts from whenever it is read, it is not a calendar schedule: write minute hour day-of-month month day-of-week, e.g. 0 3 * * SUN")
	}
	p := cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)
	s, err := p.Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%q is not a cron expression (minute hour day-of-month month day-of-week, e.g. 0 3 * * SUN): %w", text, err)
	}
	spec, ok := s.(*cron.SpecSchedule)
	if !ok {
		return nil, fmt.Errorf("%q is not a calendar schedule", text)
	}
	t := &cronTimeline{spec: *spec}
	// Every month and day combination recurs within eight years (29 February).
	for day := defaultDTStart; day.Before(defaultDTStart.AddDate(8, 0, 0)); day = day.AddDate(0, 0, 1) {
		if t.dayMatches(day) {
			return t, nil
		}
	}
	return nil, fmt.Errorf("%q never matches a date (e.g. 30 February)", text)
}

// between returns the wall-clock starts within [lo, hi].
func (t *cronTimeline) between(lo, hi time.Time) []time.Time {
	var out []time.Time
	s := &t.spec
	y, m, d := lo.Date()
	for day := time.Date(y, m, d, 0, 0, 0, 0, time.UTC); !day.After(hi); day = day.AddDate(0, 0, 1) {
		if !t.dayMatches(day) {
			continue
		}
		for h := range 24 {
			if s.Hour&(1<<uint(h)) == 0 {
				continue
			}
			for mi := range 60 {
				if s.Minute&(1<<uint(mi)) == 0 {
					continue
				}
				// The standard parser fixes seconds at 0.
				at := day.Add(time.Duration(h)*time.Hour + time.Duration(mi)*time.Minute)
				if !at.Before(lo) && !at.After(hi) {
					out = append(out, at)
				}
			}
		}
	}
	return out
}

// dayMatches reads the day fields as cron (and robfig/cron) does: when both
// day-of-month and day-of-week are restricted, a day matching either counts.
func (t *cronTimeline) dayMatches(day time.Time) bool {
	s := &t.spec
	if s.Month&(1<<uint(day.Month())) == 0 {
		return false
	}
	dom := s.Dom&(1<<uint(day.Day())) != 0
	dow := s.Dow&(1<<uint(day.Weekday())) != 0
	if s.Dom&starBit != 0 || s.Dow&starBit != 0 {
		return dom && dow
	}
	return dom || dow
}

// starBit is set by robfig/cron in a field written as "*" (or "?").
const starBit = 1 << 63
