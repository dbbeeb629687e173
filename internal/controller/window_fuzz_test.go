package controller

import (
	"testing"
	"time"
	_ "time/tzdata" // the zones below, whatever the machine has installed
)

// fuzzZones change their clocks in the ways a window must survive: by an
// hour at 02:00 or 03:00 (Berlin, New York), by half an hour (Lord Howe),
// at midnight (Santiago, Havana, Beirut), at 02:45 (Chatham), or never.
var fuzzZones = []string{"Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "America/Santiago",
	"America/Havana", "Asia/Beirut", "Pacific/Chatham", "UTC"}

// transitions returns the hours of 2025 to 2027 at which loc's offset
// has just changed.
func transitions(t testing.TB, name string) []time.Time {
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	var out []time.Time
	start := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	_, prev := start.In(loc).Zone()
	for h := start; h.Year() < 2028; h = h.Add(time.Hour) {
		if _, off := h.In(loc).Zone(); off != prev {
			out, prev = append(out, h), off
		}
	}
	if len(out) == 0 {
		out = append(out, start)
	}
	return out
}

// FuzzWindowNext: for any window, in any of fuzzZones, at any time near
// one of their clock changes, Next is at or after the time, within two
// weeks and a day (a clock change can skip one week's occurrence), and
// inside the window.
func FuzzWindowNext(f *testing.F) {
	near := make([][]time.Time, len(fuzzZones))
	for i, z := range fuzzZones {
		near[i] = transitions(f, z)
	}
	for _, spec := range []string{"Sat 02:00-06:00", "Sun 02:00-03:00", "Sun 02:30-03:00", "Sun 02:00-02:30", "Sun 02:15-02:45",
		"* 00:00-24:00", "* 00:00-01:00", "* 00:00-00:30", "Sat 23:00-01:00", "Sat 23:30-00:30", "Sun 01:30-02:30", "Sun 02:45-03:15",
		"Mon-Fri 22:00-04:00", "Fri-Mon 00:00-24:00", "Sat,Sun 03:00-02:00", "daily 01:00-02:00"} {
		for z := range fuzzZones {
			// An hour before the zone's first two changes of 2025.
			f.Add(spec, uint8(z), uint8(0), int64(-3600))
			f.Add(spec, uint8(z), uint8(1), int64(-3600))
		}
	}
	f.Fuzz(func(t *testing.T, spec string, zone, base uint8, offset int64) {
		z := fuzzZones[int(zone)%len(fuzzZones)]
		w, err := ParseWindow(spec + " " + z)
		if err != nil {
			return
		}
		ts := near[int(zone)%len(fuzzZones)]
		const span = int64(9 * 24 * time.Hour / time.Second)
		at := ts[int(base)%len(ts)].Add(time.Duration(offset%span) * time.Second)
		next := w.Next(at)
		if next.IsZero() {
			t.Fatalf("%q has no Next(%s)", w, at)
		}
		if next.Before(at) || next.Sub(at) > 15*24*time.Hour {
			t.Fatalf("%q: Next(%s) = %s", w, at, next)
		}
		if !w.Contains(next) {
			t.Fatalf("%q: Next(%s) = %s (%s), which it does not contain", w, at.In(next.Location()), next, next.UTC())
		}
	})
}
