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

// Around a daylight-saving change the window keeps its wall-clock times:
// in spring the skipped hour shortens it, in autumn the repeated hour
// lengthens it, and Next always returns a time inside the window.
func TestWindowAcrossDaylightSavingChanges(t *testing.T) {
	// 2026: Europe switches on the last Sundays of March (29th) and October
	// (25th) at 01:00 UTC; New York on March 8th at 07:00 UTC and
	// November 1st at 06:00 UTC.
	for _, tc := range []struct {
		spec     string
		inside   []string
		outside  []string
		saturday string // the day before the change, at noon UTC
		opens    string
	}{
		{"Sun 02:00-04:00 Europe/Berlin",
			[]string{"2026-03-29T01:00:00Z", "2026-03-29T01:59:00Z"}, // 03:00-03:59 CEST
			[]string{"2026-03-29T00:59:00Z", "2026-03-29T02:00:00Z"}, // 01:59 CET, 04:00 CEST
			"2026-03-28T12:00:00Z", "2026-03-29T01:00:00Z"}, // 02:00 CET does not exist: 03:00 CEST
		{"Sun 02:00-04:00 Europe/Berlin",
			[]string{"2026-10-25T01:00:00Z", "2026-10-25T02:59:00Z"}, // 02:00-03:59 CET
			[]string{"2026-10-25T03:00:00Z", "2026-10-24T23:59:00Z"}, // 04:00 CET, 01:59 CEST
			"2026-10-24T12:00:00Z", ""},
		{"Sun 01:00-03:00 America/New_York",
			[]string{"2026-03-08T06:00:00Z", "2026-03-08T06:59:00Z"}, // 01:00-01:59 EST
			[]string{"2026-03-08T05:59:00Z", "2026-03-08T07:00:00Z"}, // 00:59 EST, 03:00 EDT
			"2026-03-07T12:00:00Z", "2026-03-08T06:00:00Z"},
		{"Sun 01:00-03:00 America/New_York",
			[]string{"2026-11-01T06:00:00Z", "2026-11-01T07:59:00Z"}, // 01:00 EST (second), 02:59 EST
			[]string{"2026-11-01T08:00:00Z", "2026-11-01T04:59:00Z"}, // 03:00 EST, 00:59 EDT
			"2026-10-31T12:00:00Z", ""},
		{"Sat 23:00-03:00 America/New_York", // past midnight, into the change
			[]string{"2026-03-08T04:00:00Z", "2026-03-08T06:59:00Z"}, // 23:00 EST Sat, 01:59 EST Sun
			[]string{"2026-03-08T03:59:00Z", "2026-03-08T07:00:00Z"}, // 22:59 EST, 03:00 EDT
			"2026-03-07T12:00:00Z", "2026-03-08T04:00:00Z"},
	} {
		w, err := ParseWindow(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range tc.inside {
			if !w.Contains(at(s)) {
				t.Errorf("%q does not contain %s", tc.spec, s)
			}
		}
		for _, s := range tc.outside {
			if w.Contains(at(s)) {
				t.Errorf("%q contains %s", tc.spec, s)
			}
		}
		if tc.opens != "" {
			if got := w.Next(at(tc.saturday)); !got.Equal(at(tc.opens)) {
				t.Errorf("%q: Next(%s) = %s, want %s", tc.spec, tc.saturday, got.UTC().Format(time.RFC3339), tc.opens)
			}
		}
		// Every 10 minutes over the two days around the change: Next is
		// never earlier, is inside the window, is the time itself when the
		// window is open, and the window was closed a minute before it
		// opens.
		start := at(tc.saturday).Add(-12 * time.Hour)
		for now := start; now.Before(start.Add(48 * time.Hour)); now = now.Add(10 * time.Minute) {
			next := w.Next(now)
			switch {
			case next.Before(now) || next.Sub(now) > 8*24*time.Hour:
				t.Fatalf("%q: Next(%s) = %s", tc.spec, now.Format(time.RFC3339), next.Format(time.RFC3339))
			case !w.Contains(next):
				t.Fatalf("%q: Next(%s) = %s is not inside the window", tc.spec, now.Format(time.RFC3339), next.Format(time.RFC3339))
			case w.Contains(now) && !next.Equal(now):
				t.Fatalf("%q: open at %s, but Next says %s", tc.spec, now.Format(time.RFC3339), next.Format(time.RFC3339))
			case !w.Contains(now) && w.Contains(next.Add(-time.Minute)) && next.Sub(now) >= time.Minute:
				t.Fatalf("%q: Next(%s) = %s, but the window was already open a minute earlier", tc.spec, now.Format(time.RFC3339), next.Format(time.RFC3339))
			}
		}
	}
}
