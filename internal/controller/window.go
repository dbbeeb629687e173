package controller

import (
	"fmt"
	"strings"
	"time"
)

// Window is a weekly maintenance window: days of the week and a time range
// in a time zone, e.g. "Sat 02:00-06:00 UTC" or "Mon-Fri 22:00-04:00
// Europe/Berlin" (a range that ends before it starts runs past midnight into
// the next day). Several windows are separated by ";".
type Window struct {
	spec  string
	spans []span
}

type span struct {
	days       [7]bool // by time.Weekday
	start, end time.Duration
	loc        *time.Location
}

var weekdays = map[string]time.Weekday{
	"sun": time.Sunday, "mon": time.Monday, "tue": time.Tuesday, "wed": time.Wednesday,
	"thu": time.Thursday, "fri": time.Friday, "sat": time.Saturday,
}

// ParseWindow reads a maintenance window specification.
func ParseWindow(spec string) (*Window, error) {
	w := &Window{spec: strings.TrimSpace(spec)}
	for part := range strings.SplitSeq(spec, ";") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		s, err := parseSpan(part)
		if err != nil {
			return nil, fmt.Errorf("maintenance window %q: %w (example: \"Sat 02:00-06:00 UTC\" or \"Mon-Fri 22:00-04:00 Europe/Berlin\")", part, err)
		}
		w.spans = append(w.spans, s)
	}
	if len(w.spans) == 0 {
		return nil, fmt.Errorf("maintenance window %q is empty (example: \"Sat 02:00-06:00 UTC\")", spec)
	}
	return w, nil
}

func parseSpan(s string) (span, error) {
	var sp span
	f := strings.Fields(s)
	if len(f) < 2 || len(f) > 3 {
		return sp, fmt.Errorf("want DAYS HH:MM-HH:MM [TIMEZONE]")
	}
	if err := parseDays(f[0], &sp.days); err != nil {
		return sp, err
	}
	from, to, ok := strings.Cut(f[1], "-")
	if !ok {
		return sp, fmt.Errorf("time range %q: want HH:MM-HH:MM", f[1])
	}
	var err error
	if sp.start, err = clock(from, false); err != nil {
		return sp, err
	}
	if sp.end, err = clock(to, true); err != nil {
		return sp, err
	}
	if sp.start == sp.end {
		return sp, fmt.Errorf("time range %q is empty", f[1])
	}
	sp.loc = time.UTC
	if len(f) == 3 {
		if sp.loc, err = time.LoadLocation(f[2]); err != nil {
			return sp, fmt.Errorf("time zone %q: %w", f[2], err)
		}
	}
	return sp, nil
}

// parseDays reads "Sat", "Mon-Fri", "Sat,Sun", "Fri-Mon" or "*" (every day).
func parseDays(s string, days *[7]bool) error {
	if s == "*" || strings.EqualFold(s, "daily") {
		for i := range days {
			days[i] = true
		}
		return nil
	}
	for item := range strings.SplitSeq(s, ",") {
		from, to, isRange := strings.Cut(item, "-")
		a, ok := weekdays[strings.ToLower(from)]
		if !ok {
			return fmt.Errorf("day %q: want Mon, Tue, Wed, Thu, Fri, Sat, Sun, a range like Mon-Fri, or *", from)
		}
		b := a
		if isRange {
			if b, ok = weekdays[strings.ToLower(to)]; !ok {
				return fmt.Errorf("day %q: want Mon, Tue, Wed, Thu, Fri, Sat, Sun", to)
			}
		}
		for d := a; ; d = (d + 1) % 7 {
			days[d] = true
			if d == b {
				break
			}
		}
	}
	return nil
}

// clock reads HH:MM as time since midnight; 24:00 only as an end.
func clock(s string, end bool) (time.Duration, error) {
	var h, m int
	if n, err := fmt.Sscanf(s, "%d:%d", &h, &m); n != 2 || err != nil || len(s) != 5 {
		return 0, fmt.Errorf("time %q: want HH:MM", s)
	}
	if m < 0 || m > 59 || h < 0 || h > 24 || (h == 24 && (m != 0 || !end)) {
		return 0, fmt.Errorf("time %q is not a time of day", s)
	}
	return time.Duration(h)*time.Hour + time.Duration(m)*time.Minute, nil
}

// String is the specification as given.
func (w *Window) String() string { return w.spec }

// Contains reports whether t is inside the window.
func (w *Window) Contains(t time.Time) bool {
	for _, s := range w.spans {
		if s.contains(t) {
			return true
		}
	}
	return false
}

// Next returns the next time at or after t when the window opens (t itself
// when it is open).
func (w *Window) Next(t time.Time) time.Time {
	if w.Contains(t) {
		return t
	}
	var best time.Time
	for _, s := range w.spans {
		if n := s.next(t); best.IsZero() || n.Before(best) {
			best = n
		}
	}
	return best
}

// opening returns the start and end of the span's occurrence that starts on
// the calendar day of t plus offset days, and whether that day is one of
// its days. On a day whose clock change skips the span's times, start and
// end are the moment of the change; an occurrence wholly skipped is empty.
func (s span) opening(t time.Time, offset int) (time.Time, time.Time, bool) {
	lt := t.In(s.loc)
	// The calendar day, at noon in UTC: midnight in s.loc may not exist.
	day := time.Date(lt.Year(), lt.Month(), lt.Day()+offset, 12, 0, 0, 0, time.UTC)
	if !s.days[day.Weekday()] {
		return time.Time{}, time.Time{}, false
	}
	// Wall-clock arithmetic, so that a daylight-saving change keeps 02:00 at 02:00.
	start := wallTime(day.Year(), day.Month(), day.Day(), int(s.start/time.Minute), s.loc)
	endDay := day.Day()
	if s.end <= s.start {
		endDay++
	}
	end := wallTime(day.Year(), day.Month(), endDay, int(s.end/time.Minute), s.loc)
	return start, end, true
}

// wallTime is the first moment at which clocks in loc show the day and
// the minutes since its midnight: time.Date, except that a time skipped
// by a clock change (02:30 when clocks jump from 02:00 to 03:00) is the
// moment of the change, not whichever side of it time.Date picks.
func wallTime(year int, month time.Month, day, minutes int, loc *time.Location) time.Time {
	t := time.Date(year, month, day, 0, minutes, 0, 0, loc)
	want := time.Date(year, month, day, 0, minutes, 0, 0, time.UTC)
	got := time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), 0, 0, time.UTC)
	switch {
	case got.After(want): // t is after the change
		change, _ := t.ZoneBounds()
		return change
	case got.Before(want): // t is before it
		_, change := t.ZoneBounds()
		return change
	}
	return t
}

func (s span) contains(t time.Time) bool {
	for _, offset := range []int{0, -1} {
		if start, end, ok := s.opening(t, offset); ok && !t.Before(start) && t.Before(end) {
			return true
		}
	}
	return false
}

// next is the start of the first non-empty occurrence at or after t: at
// most two weeks ahead, when a clock change skips this week's.
func (s span) next(t time.Time) time.Time {
	for offset := 0; offset <= 15; offset++ {
		if start, end, ok := s.opening(t, offset); ok && !start.Before(t) && start.Before(end) {
			return start
		}
	}
	return time.Time{}
}
