package duration

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		bad  bool
	}{
		{in: "30d", want: 30 * Day},
		{in: "0d", want: 0},
		{in: "400d", want: 400 * Day},
		{in: "12h", want: 12 * time.Hour},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "-1d", bad: true},
		{in: "-5m", bad: true},
		{in: "1.5d", bad: true},
		{in: "d", bad: true},
		{in: "thirty", bad: true},
		{in: "", bad: true},
		{in: "36500d", want: 36500 * Day},
		// Beyond time.Duration's range (about 292 years), days used to wrap
		// around: 106752d became negative and 213505d about one day.
		{in: "36501d", bad: true},
		{in: "106752d", bad: true},
		{in: "213505d", bad: true},
		{in: "99999999999999999999d", bad: true},
		{in: "876001h", bad: true},
		{in: "2562047h", bad: true},
	} {
		got, err := Parse(tc.in)
		if tc.bad {
			if err == nil || !strings.Contains(err.Error(), tc.in) {
				t.Errorf("Parse(%q) = %v, want an error", tc.in, got)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestFormat(t *testing.T) {
	for d, want := range map[time.Duration]string{30 * Day: "30d", 12 * time.Hour: "12h0m0s", 0: "0s"} {
		if got := Format(d); got != want {
			t.Errorf("Format(%v) = %q, want %q", d, got, want)
		}
	}
}

// FuzzParse: whatever the input, an accepted duration lies within [0, Max]
// and survives Format and Parse unchanged.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"30d", "0d", "12h", "1h30m", "-1d", "106752d", "213505d", "36500d", "36501d",
		"9223372036854775807d", "2562047h47m16.854775807s", "+5d", "1.5d", "0x10d", "", "d", "1e3d", "1ns",
		// Max and one step beyond it in every unit, and a negative zero.
		"876000h", "876000h0m0.000000001s", "52560000m", "52560001m", "3153600000s", "3153600000.000000001s", "-0d", "-0s", "00036500d"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := Parse(s)
		if err != nil {
			return
		}
		if d < 0 || d > Max {
			t.Fatalf("Parse(%q) = %v, outside [0, %v]", s, d, Max)
		}
		back, err := Parse(Format(d))
		if err != nil || back != d {
			t.Fatalf("Parse(Format(%v)) = %v, %v", d, back, err)
		}
	})
}
