// Package duration parses the durations tkgcert's users write for
// certificate lifetimes: days ("30d") or Go durations ("12h").
package duration

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Day is 24 hours, the unit certificate lifetimes are counted in.
const Day = 24 * time.Hour

// Parse reads "30d" (whole days) or a Go duration like "12h" or "90m".
// Negative durations are refused.
func Parse(s string) (time.Duration, error) {
	if d, ok := strings.CutSuffix(s, "d"); ok {
		n, err := strconv.Atoi(d)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("invalid duration %q: use days like 30d or a Go duration like 12h", s)
		}
		return time.Duration(n) * Day, nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("invalid duration %q: use days like 30d or a Go duration like 12h", s)
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
