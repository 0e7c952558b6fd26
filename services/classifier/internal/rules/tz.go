package rules

import (
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"cel.dev/cel-go/cel"
	"cel.dev/cel-go/common/overloads"
	"cel.dev/cel-go/common/types"
	"cel.dev/cel-go/common/types/ref"
)

// zoneAccessors re-binds CEL's timestamp accessors that take a time zone
// (now.getHours("Asia/Tokyo")) to the same computation with the zone loaded
// once. cel-go calls time.LoadLocation on every call, which reads and parses
// the zone file each time: with business-hours and backup-window rules that
// was half of an evaluation. The signatures (and so type-checking and the
// cost model) are cel-go's own; only the implementation is replaced.
func zoneAccessors() []cel.EnvOption {
	zones := &zoneCache{}
	accessors := []struct {
		function, overload string
		get                func(time.Time) int
	}{
		{overloads.TimeGetFullYear, overloads.TimestampToYearWithTz, func(t time.Time) int { return t.Year() }},
		{overloads.TimeGetMonth, overloads.TimestampToMonthWithTz, func(t time.Time) int { return int(t.Month()) - 1 }},
		{overloads.TimeGetDayOfYear, overloads.TimestampToDayOfYearWithTz, func(t time.Time) int { return t.YearDay() - 1 }},
		{overloads.TimeGetDayOfMonth, overloads.TimestampToDayOfMonthZeroBasedWithTz, func(t time.Time) int { return t.Day() - 1 }},
		{overloads.TimeGetDate, overloads.TimestampToDayOfMonthOneBasedWithTz, func(t time.Time) int { return t.Day() }},
		{overloads.TimeGetDayOfWeek, overloads.TimestampToDayOfWeekWithTz, func(t time.Time) int { return int(t.Weekday()) }},
		{overloads.TimeGetHours, overloads.TimestampToHoursWithTz, func(t time.Time) int { return t.Hour() }},
		{overloads.TimeGetMinutes, overloads.TimestampToMinutesWithTz, func(t time.Time) int { return t.Minute() }},
		{overloads.TimeGetSeconds, overloads.TimestampToSecondsWithTz, func(t time.Time) int { return t.Second() }},
		{overloads.TimeGetMilliseconds, overloads.TimestampToMillisecondsWithTz, func(t time.Time) int { return t.Nanosecond() / 1e6 }},
	}
	opts := make([]cel.EnvOption, 0, len(accessors))
	for _, a := range accessors {
		opts = append(opts, cel.Function(a.function,
			cel.MemberOverload(a.overload, []*cel.Type{cel.TimestampType, cel.StringType}, cel.IntType,
				cel.BinaryBinding(func(ts, tz ref.Val) ref.Val {
					t, ok := ts.(types.Timestamp)
					name, ok2 := tz.(types.String)
					if !ok || !ok2 {
						return types.NewErrFromString("no such overload")
					}
					loc, err := zones.get(string(name))
					if err != nil {
						return types.NewErrFromString(err.Error())
					}
					return types.Int(a.get(t.In(loc)))
				}))))
	}
	return opts
}

// zoneCache holds the zones loaded so far. Only zones that exist are kept,
// so the cache is bounded by the zone database however names are computed.
type zoneCache struct{ m sync.Map }

// get resolves an IANA zone name ("Asia/Tokyo") or a numeric offset
// ("+09:00", "-05:30"), as cel-go does.
func (c *zoneCache) get(name string) (*time.Location, error) {
	if loc, ok := c.m.Load(name); ok {
		return loc.(*time.Location), nil
	}
	var loc *time.Location
	if sign, hm, ok := strings.Cut(name, ":"); ok {
		h, err1 := strconv.Atoi(sign)
		m, err2 := strconv.Atoi(hm)
		if err1 != nil || err2 != nil || h < -23 || h > 23 || m < 0 || m > 59 {
			return nil, fmt.Errorf("time zone offset %q: want an IANA name like Asia/Tokyo or an offset like +09:00", name)
		}
		offset := h*60 + m
		if strings.HasPrefix(sign, "-") {
			offset = h*60 - m
		}
		loc = time.FixedZone("", offset*60)
	} else {
		var err error
		if loc, err = time.LoadLocation(name); err != nil {
			return nil, err
		}
	}
	c.m.Store(name, loc)
	return loc, nil
}
