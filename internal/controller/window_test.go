package controller

import (
	"strings"
	"testing"
	"time"
)

func at(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

func TestWindowContains(t *testing.T) {
	// 2026-11-28 is a Saturday.
	for _, tc := range []struct {
		spec string
		at   string
		want bool
	}{
		{"Sat 02:00-06:00 UTC", "2026-11-28T02:00:00Z", true},
		{"Sat 02:00-06:00 UTC", "2026-11-28T05:59:59Z", true},
		{"Sat 02:00-06:00 UTC", "2026-11-28T06:00:00Z", false},
		{"Sat 02:00-06:00 UTC", "2026-11-28T01:59:59Z", false},
		{"Sat 02:00-06:00 UTC", "2026-11-27T03:00:00Z", false}, // Friday
		{"Sat 02:00-06:00", "2026-11-28T03:00:00Z", true},      // UTC by default
		{"sat 02:00-06:00 UTC", "2026-11-28T03:00:00Z", true},
		// Past midnight: Friday 22:00 to Saturday 04:00.
		{"Fri 22:00-04:00 UTC", "2026-11-27T23:00:00Z", true},
		{"Fri 22:00-04:00 UTC", "2026-11-28T03:59:00Z", true},
		{"Fri 22:00-04:00 UTC", "2026-11-28T04:00:00Z", false},
		{"Fri 22:00-04:00 UTC", "2026-11-28T23:00:00Z", false}, // Saturday night is not Friday's
		// Ranges and lists of days, wrapping ranges.
		{"Mon-Fri 09:00-17:00 UTC", "2026-11-27T10:00:00Z", true},
		{"Mon-Fri 09:00-17:00 UTC", "2026-11-28T10:00:00Z", false},
		{"Fri-Mon 00:00-24:00 UTC", "2026-11-29T12:00:00Z", true},  // Sunday
		{"Fri-Mon 00:00-24:00 UTC", "2026-11-25T12:00:00Z", false}, // Wednesday
		{"Sat,Sun 00:00-24:00 UTC", "2026-11-29T23:59:00Z", true},
		{"* 02:00-03:00 UTC", "2026-11-25T02:30:00Z", true},
		// Time zones: 02:00 in Berlin is 01:00 UTC in winter.
		{"Sat 02:00-06:00 Europe/Berlin", "2026-11-28T01:30:00Z", true},
		{"Sat 02:00-06:00 Europe/Berlin", "2026-11-28T05:30:00Z", false},
		// Several windows.
		{"Sat 02:00-06:00 UTC; Wed 12:00-13:00 UTC", "2026-11-25T12:30:00Z", true},
	} {
		w, err := ParseWindow(tc.spec)
		if err != nil {
			t.Fatalf("ParseWindow(%q): %v", tc.spec, err)
		}
		if got := w.Contains(at(tc.at)); got != tc.want {
			t.Errorf("%q contains %s = %v, want %v", tc.spec, tc.at, got, tc.want)
		}
	}
}

func TestWindowNext(t *testing.T) {
	w, err := ParseWindow("Sat 02:00-06:00 UTC")
	if err != nil {
		t.Fatal(err)
	}
	for now, want := range map[string]string{
		"2026-11-27T07:50:00Z": "2026-11-28T02:00:00Z", // Friday: the next morning
		"2026-11-28T03:00:00Z": "2026-11-28T03:00:00Z", // open now
		"2026-11-28T06:00:00Z": "2026-12-05T02:00:00Z", // just closed: next week
	} {
		if got := w.Next(at(now)); !got.Equal(at(want)) {
			t.Errorf("Next(%s) = %s, want %s", now, got.Format(time.RFC3339), want)
		}
	}
}

func TestParseWindowRefusesBadInput(t *testing.T) {
	for spec, want := range map[string]string{
		"":                          "is empty",
		"Sat":                       "want DAYS HH:MM-HH:MM",
		"Sun 02:00 UTC":             "want HH:MM-HH:MM",
		"Caturday 02:00-06:00":      `day "Caturday"`,
		"Sat 2:00-06:00":            `time "2:00"`,
		"Sat 02:00-25:00":           "not a time of day",
		"Sat 24:00-02:00":           "not a time of day",
		"Sat 02:61-03:00":           "not a time of day",
		"Sat 02:00-02:00":           "is empty",
		"Sat 02:00-06:00 Mars/Base": `time zone "Mars/Base"`,
	} {
		_, err := ParseWindow(spec)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseWindow(%q) = %v, want an error containing %q", spec, err, want)
		}
	}
}
