package report

import (
	"time"

	"github.com/tkgcert/tkgcert/internal/certs"
)

// The timeline's geometry, in SVG user units.
const (
	tlLabelWidth = 260
	tlPlotWidth  = 720
	tlLaneHeight = 22
	tlTop        = 34
	tlHorizon    = 400 * 24 * time.Hour // later expiries sit at the right edge
	tlPast       = 60 * 24 * time.Hour  // earlier ones at the left edge
)

// timelinePoint is one expiry date on a lane (a cluster).
type timelinePoint struct {
	Lane   string
	At     time.Time
	Status string
	Label  string
}

// timeline is the SVG's content: lanes of dots on one time axis, with now
// and the thresholds marked.
type timeline struct {
	Width, Height int
	PlotLeft      int
	Lanes         []timelineLane
	Marks         []timelineMark
}

type timelineLane struct {
	Name string
	Y    int
	Dots []timelineDot
}

type timelineDot struct {
	X, Y   int
	Class  string
	Label  string
	Beyond bool // later than the axis shows
}

type timelineMark struct {
	X, LabelY int
	Class     string
	Label     string
	Anchor    string // the label's text-anchor
}

// newTimeline lays out the points: the axis runs from the earliest expiry
// (at most tlPast ago) or now, to tlHorizon from now, which shows every
// leaf certificate of a healthy cluster (valid a year) and both thresholds.
func newTimeline(points []timelinePoint, now time.Time, warn, critical time.Duration) timeline {
	start, end := now, now.Add(tlHorizon)
	if end.Before(now.Add(warn * 3 / 2)) {
		end = now.Add(warn * 3 / 2)
	}
	for _, p := range points {
		if p.At.Before(start) {
			start = p.At
		}
	}
	if start.Before(now.Add(-tlPast)) {
		start = now.Add(-tlPast)
	}
	x := func(t time.Time) (int, bool) {
		beyond := false
		switch {
		case t.Before(start):
			t = start
		case t.After(end):
			t, beyond = end, true
		}
		return tlLabelWidth + int(float64(tlPlotWidth)*float64(t.Sub(start))/float64(end.Sub(start))), beyond
	}
	tl := timeline{Width: tlLabelWidth + tlPlotWidth + 20, PlotLeft: tlLabelWidth}
	index := map[string]int{}
	for _, p := range points {
		i, ok := index[p.Lane]
		if !ok {
			i = len(tl.Lanes)
			index[p.Lane] = i
			tl.Lanes = append(tl.Lanes, timelineLane{Name: p.Lane, Y: tlTop + i*tlLaneHeight + tlLaneHeight/2})
		}
		px, beyond := x(p.At)
		tl.Lanes[i].Dots = append(tl.Lanes[i].Dots, timelineDot{X: px, Y: tl.Lanes[i].Y, Class: statusClass(p.Status), Label: p.Label, Beyond: beyond})
	}
	tl.Height = tlTop + len(tl.Lanes)*tlLaneHeight + 8
	// The labels take two rows: now and the critical threshold are close.
	mark := func(t time.Time, class, label string, y int, anchor string) {
		px, _ := x(t)
		tl.Marks = append(tl.Marks, timelineMark{X: px, LabelY: y, Class: class, Label: label, Anchor: anchor})
	}
	mark(now, "mark-now", "now", 12, "end")
	mark(now.Add(critical), "mark-critical", "critical "+certs.ResidualTime(critical), 26, "start")
	mark(now.Add(warn), "mark-warning", "warning "+certs.ResidualTime(warn), 12, "start")
	mark(end, "mark-end", end.UTC().Format("Jan 2, 2006")+" and later", 12, "end")
	return tl
}
