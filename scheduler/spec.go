package scheduler

import (
	"fmt"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// parser accepts the standard five fields, an optional leading seconds
// field, and descriptors such as @every 15m or @hourly.
var parser = cron.NewParser(cron.SecondOptional | cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSpec checks a cron expression, for config validation.
func ParseSpec(spec string) error {
	_, err := parseSchedule(spec, time.UTC)
	return err
}

// Schedule gives a job's tick times.
//
// Cron fields are wall-clock times in the job's time zone, evaluated on a
// clock without daylight-saving changes and then placed in the zone, so
// the two DST transitions have one defined behaviour (the ISC cron one),
// instead of robfig/cron's silent skip of the spring-forward hour:
//
//   - a wall time that does not exist (the spring-forward gap, e.g. 02:30
//     in America/New_York on 2026-03-08) ticks once, at the instant the
//     gap ends (03:00 EDT); several ticks inside one gap are one tick;
//   - a wall time that occurs twice (the fall-back hour) ticks once, at
//     its first occurrence.
//
// @every D ticks on a grid of multiples of D since the Unix epoch, the
// same instants in every process whenever it started, so two processes
// agree on what "the next tick" is; it knows no time zone.
type Schedule struct {
	spec  string
	cron  cron.Schedule // in floating (UTC-as-wall-clock) time; nil for @every
	every time.Duration
	loc   *time.Location
}

func parseSchedule(spec string, loc *time.Location) (*Schedule, error) {
	if strings.Contains(spec, "TZ=") {
		return nil, fmt.Errorf("schedule %q: set the job's timezone key instead of CRON_TZ= or TZ= in the expression", spec)
	}
	sch, err := parser.Parse(spec)
	if err != nil {
		return nil, fmt.Errorf("schedule %q: %w (want cron fields like \"0 */15 * * * *\" or \"@every 15m\")", spec, err)
	}
	s := &Schedule{spec: spec, loc: loc}
	switch c := sch.(type) {
	case cron.ConstantDelaySchedule:
		s.every = c.Delay
	case *cron.SpecSchedule:
		c.Location = time.UTC
		s.cron = c
	default:
		return nil, fmt.Errorf("schedule %q: unsupported kind %T", spec, sch)
	}
	return s, nil
}

// NewSchedule parses spec (cron with optional seconds, or a descriptor)
// with wall times in loc (nil: UTC).
func NewSchedule(spec string, loc *time.Location) (*Schedule, error) {
	if loc == nil {
		loc = time.UTC
	}
	return parseSchedule(spec, loc)
}

// String is the expression.
func (s *Schedule) String() string { return s.spec }

// Next is the first tick strictly after t.
func (s *Schedule) Next(t time.Time) time.Time {
	if s.every > 0 {
		return t.Truncate(s.every).Add(s.every)
	}
	lt := t.In(s.loc)
	f := time.Date(lt.Year(), lt.Month(), lt.Day(), lt.Hour(), lt.Minute(), lt.Second(), lt.Nanosecond(), time.UTC)
	for range 100000 {
		w := s.cron.Next(f)
		if w.IsZero() {
			return time.Time{}
		}
		f = w
		if real, _ := s.place(w); real.After(t) {
			return real
		}
	}
	return time.Time{}
}

// place returns the instant wall time w (floating) names in s.loc: its
// first occurrence if it occurs twice, the end of the gap if it falls in
// one (exists false).
func (s *Schedule) place(w time.Time) (time.Time, bool) {
	real := time.Date(w.Year(), w.Month(), w.Day(), w.Hour(), w.Minute(), w.Second(), w.Nanosecond(), s.loc)
	if sameWall(real.In(s.loc), w) {
		// A repeated wall time: Go may have placed it at either
		// occurrence; take the earlier one.
		for _, back := range []time.Duration{2 * time.Hour, time.Hour, 30 * time.Minute} {
			if e := real.Add(-back); sameWall(e.In(s.loc), w) {
				return e, true
			}
		}
		return real, true
	}
	// w falls in a gap: Go normalized it past or before the transition.
	// The transition is the zone boundary next to real.
	start, end := real.ZoneBounds()
	if !end.IsZero() && end.After(real) && end.Sub(real) < 3*time.Hour {
		return end, false
	}
	return start, false
}

func sameWall(a, w time.Time) bool {
	return a.Year() == w.Year() && a.YearDay() == w.YearDay() && a.Hour() == w.Hour() && a.Minute() == w.Minute() && a.Second() == w.Second()
}
