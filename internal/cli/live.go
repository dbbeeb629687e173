package cli

import (
	"fmt"
	"io"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/tkgcert/tkgcert/internal/fleet"
	"github.com/tkgcert/tkgcert/internal/rollout"
)

// liveDisplay keeps a status block at the bottom of a terminal, redrawn in
// place, with event lines scrolling above it.
type liveDisplay struct {
	mu             sync.Mutex
	w              io.Writer
	block          []string
	drawn          int
	after, started time.Time
	workers        bool
	last           *fleet.Cluster
	stop           chan struct{}
	closed         bool
}

func newLiveDisplay(w io.Writer, after time.Time, workers bool) *liveDisplay {
	d := &liveDisplay{w: w, after: after, started: time.Now(), workers: workers, stop: make(chan struct{})}
	// Keep the elapsed time moving between events.
	go wait.Until(func() {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.last != nil && !d.closed {
			d.block = rollout.StatusLines(d.last, d.after, d.started, time.Now(), d.workers)
			d.redraw()
		}
	}, time.Second, d.stop)
	return d
}

// clear erases the block; the caller holds mu.
func (d *liveDisplay) clear() {
	if d.drawn > 0 {
		fmt.Fprintf(d.w, "\x1b[%dA\x1b[J", d.drawn)
		d.drawn = 0
	}
}

func (d *liveDisplay) redraw() {
	d.clear()
	for _, l := range d.block {
		fmt.Fprintln(d.w, l)
	}
	d.drawn = len(d.block)
}

// line prints an event above the block.
func (d *liveDisplay) line(s string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		fmt.Fprintf(d.w, "%s %s\n", time.Now().Format("15:04:05"), s)
		return
	}
	d.clear()
	fmt.Fprintf(d.w, "%s %s\n", time.Now().Format("15:04:05"), s)
	d.redraw()
}

// update redraws the block for the cluster as it is now.
func (d *liveDisplay) update(cl *fleet.Cluster) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return
	}
	d.last = cl
	d.block = rollout.StatusLines(cl, d.after, d.started, time.Now(), d.workers)
	d.redraw()
}

// close stops redrawing and leaves the last block on the screen.
func (d *liveDisplay) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.closed {
		d.closed = true
		close(d.stop)
	}
}
