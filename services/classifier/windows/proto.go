package windows

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"google.golang.org/protobuf/types/known/durationpb"
	"google.golang.org/protobuf/types/known/timestamppb"

	amsv1 "github.com/amsproject/ams/proto/ams/v1"
)

// ToProto is w as the admin API shows it, with its origin and, from its
// schedule at now, whether it is active, until when, and when it next
// starts. A window that is not compiled (or failed to) is shown as never
// active.
func ToProto(w *Window, now time.Time) *amsv1.MaintenanceWindow {
	p := &amsv1.MaintenanceWindow{
		Id:        w.ID,
		Tenant:    w.Tenant,
		Name:      w.Name,
		Reason:    w.Reason,
		Match:     w.Match,
		CreatedBy: w.CreatedBy,
		Origin:    Origin(w),
	}
	if !w.CreatedAt.IsZero() {
		p.CreatedAt = timestamppb.New(w.CreatedAt)
	}
	if o := w.Once; o != nil {
		p.Start, p.End, p.TimeZone = timestamppb.New(o.Start), timestamppb.New(o.End), o.TimeZone
	}
	if r := w.Recurring; r != nil {
		p.Rrule, p.Cron, p.Dtstart, p.TimeZone = r.RRule, r.Cron, r.DTStart, r.TimeZone
		p.Duration = durationpb.New(r.Duration)
	}
	if end, ok := w.NextEnd(now); ok {
		p.Active, p.ActiveUntil = true, timestamppb.New(end)
	}
	if start, ok := w.NextStart(now); ok {
		p.NextStart = timestamppb.New(start)
	}
	return p
}

// FromProto reads a window from the admin API: a one-off window from start
// and end, a recurring one from rrule (with dtstart) or cron, duration and
// time_zone. The List-only fields (origin, active, next_start, active_until)
// are ignored. It checks the message's shape, naming the field and the fix;
// the values themselves are checked by Compile.
func FromProto(p *amsv1.MaintenanceWindow) (*Window, error) {
	if p == nil {
		return nil, errors.New("window: missing")
	}
	w := &Window{
		ID:        p.GetId(),
		Tenant:    p.GetTenant(),
		Name:      p.GetName(),
		Reason:    p.GetReason(),
		Match:     p.GetMatch(),
		CreatedBy: p.GetCreatedBy(),
	}
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
	}
	timestamp := func(field string, ts *timestamppb.Timestamp) time.Time {
		if err := ts.CheckValid(); err != nil {
			bad(field, "not a valid time: %v", err)
			return time.Time{}
		}
		return ts.AsTime()
	}
	if p.GetCreatedAt() != nil {
		w.CreatedAt = timestamp("created_at", p.GetCreatedAt())
	}

	once := p.GetStart() != nil || p.GetEnd() != nil
	recurring := strings.TrimSpace(p.GetRrule()) != "" || strings.TrimSpace(p.GetCron()) != ""
	switch {
	case once && recurring:
		bad("start", "set either start and end (a one-off window) or rrule or cron with duration (a recurring window), not both")
	case !once && !recurring:
		bad("start", "missing: set start and end for a one-off window, or rrule or cron with duration and time_zone for a recurring one")
	case once:
		o := &Once{TimeZone: p.GetTimeZone()}
		if p.GetStart() == nil {
			bad("start", "missing: a one-off window needs both start and end")
		} else {
			o.Start = timestamp("start", p.GetStart())
		}
		if p.GetEnd() == nil {
			bad("end", "missing: a one-off window needs both start and end")
		} else {
			o.End = timestamp("end", p.GetEnd())
		}
		if p.GetDuration() != nil {
			bad("duration", "applies to rrule and cron only: a one-off window lasts from start to end")
		}
		if p.GetDtstart() != "" {
			bad("dtstart", "applies to rrule only: a one-off window starts at start")
		}
		// Kept in the zone it was written in, so the stored JSON reads as
		// its author wrote it.
		if loc, err := time.LoadLocation(o.TimeZone); err == nil && o.TimeZone != "" && o.TimeZone != "Local" {
			o.Start, o.End = o.Start.In(loc), o.End.In(loc)
		}
		w.Once = o
	default:
		r := &Recurring{RRule: p.GetRrule(), DTStart: p.GetDtstart(), Cron: p.GetCron(), TimeZone: p.GetTimeZone()}
		switch d := p.GetDuration(); {
		case d == nil:
			bad("duration", "missing: say how long each occurrence lasts, e.g. 2h")
		case d.CheckValid() != nil:
			bad("duration", "not a valid duration: %v", d.CheckValid())
		default:
			r.Duration = d.AsDuration()
		}
		w.Recurring = r
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return w, nil
}
