// Package duration parses the durations tkgcert's users write for
// certificate lifetimes: days ("30d") or Go durations ("12h").
package duration

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Day is 24 hours, the unit certificate lifetimes are counted in.
const Day = 24 * time.Hour

// MaxDays is the longest duration Parse accepts, in days: a hundred years,
// far beyond any certificate lifetime and well inside time.Duration's range
// (about 292 years), so that no value wraps around.
const MaxDays = 36500

// Max is MaxDays as a time.Duration.
const Max = MaxDays * Day

// usage is what every refused syntax is told.
const usage = "use days like 30d or a Go duration like 12h"

// Parse reads "30d" (whole days) or a Go duration like "12h" or "90m".
// Negative durations and durations beyond Max are refused.
func Parse(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.ParseInt(d, 10, 64)
		switch {
		case err != nil && !errors.Is(err, strconv.ErrRange):
			return 0, fmt.Errorf("invalid duration %q: %s", s, usage)
		case n < 0:
			return 0, fmt.Errorf("invalid duration %q: it is negative; %s", s, usage)
		case err != nil || n > MaxDays:
			return 0, fmt.Errorf("invalid duration %q: longer than the maximum of %dd", s, MaxDays)
		}
		return time.Duration(n) * Day, nil
	}
	v, err := time.ParseDuration(s)
	switch {
	case err != nil:
		return 0, fmt.Errorf("invalid duration %q: %s", s, usage)
	case v < 0:
		return 0, fmt.Errorf("invalid duration %q: it is negative; %s", s, usage)
	case v > Max:
		return 0, fmt.Errorf("invalid duration %q: longer than the maximum of %dd", s, MaxDays)
	}
	return v, nil
}

// Format writes d as whole days when it is a whole number of days ("30d"),
// else as a Go duration.
func Format(d time.Duration) string {
	if d > 0 && d%Day == 0 {
		return fmt.Sprintf("%dd", d/Day)
	}
	return d.String()
}
