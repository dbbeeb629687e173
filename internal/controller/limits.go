package controller

import (
	"context"
	"slices"
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/tkgcert/tkgcert/internal/fleet"
	"github.com/tkgcert/tkgcert/internal/rollout"
)

// Limits is the fleet-wide state every cluster's reconcile consults before
// starting a rotation: the rollouts under way, whoever started them. The
// first rotation a controller starts counts them from a fresh read of the
// fleet; from then on each reconcile keeps its own cluster's entry true
// (the watches on KubeadmControlPlanes and Machines make a rollout someone
// else starts reconcile its cluster).
type Limits struct {
	// Max bounds the rollouts under way at once.
	Max int
	// BreakerFailures failed rotations within BreakerWindow stop new
	// rotations (the circuit breaker) until the oldest leaves the window.
	BreakerFailures int
	BreakerWindow   time.Duration

	reader    *fleet.Reader
	namespace string
	selector  labels.Selector

	mu       sync.Mutex
	seeded   bool
	underWay map[string]bool
	// failures are the times of the failed rotations within the window.
	failures []time.Time
}

// noteFailure records a failed rotation at now; opened tells whether this
// failure opened the breaker, until when it stays open.
func (l *Limits) noteFailure(now time.Time) (opened bool, until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	wasOpen, _ := l.openLocked(now)
	l.failures = append(l.failures, now)
	isOpen, until := l.openLocked(now)
	return isOpen && !wasOpen, until
}

// breakerOpen tells whether new rotations are suspended, and until when.
func (l *Limits) breakerOpen(now time.Time) (bool, time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.openLocked(now)
}

func (l *Limits) openLocked(now time.Time) (bool, time.Time) {
	if l.BreakerFailures < 1 {
		return false, time.Time{}
	}
	recent := l.failures[:0]
	for _, t := range l.failures {
		if now.Sub(t) < l.BreakerWindow {
			recent = append(recent, t)
		}
	}
	l.failures = recent
	if len(recent) < l.BreakerFailures {
		return false, time.Time{}
	}
	slices.SortFunc(recent, func(a, b time.Time) int { return a.Compare(b) })
	// Open until so many have left the window that fewer than
	// BreakerFailures remain.
	return true, recent[len(recent)-l.BreakerFailures].Add(l.BreakerWindow)
}

// hold notes that key's control plane is rolling out.
func (l *Limits) hold(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.underWay == nil {
		l.underWay = map[string]bool{}
	}
	l.underWay[key] = true
}

// release notes that key's control plane is not rolling out.
func (l *Limits) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.underWay, key)
}

// start runs fn with the number of rollouts under way, one caller at a
// time, so that two clusters never take the last slot together. When fn
// reports it started a rollout, key counts as under way.
func (l *Limits) start(ctx context.Context, key string, fn func(underWay int) (bool, error)) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.underWay == nil {
		l.underWay = map[string]bool{}
	}
	if !l.seeded {
		cls, err := l.reader.Clusters(ctx, l.namespace, nil)
		if err != nil {
			return err
		}
		now := time.Now()
		for i := range cls {
			cl := &cls[i]
			if l.selector != nil && !l.selector.Empty() && !l.selector.Matches(labels.Set(cl.Labels)) {
				continue
			}
			st := readStatus(cl)
			rec := st.Rotation
			// A rollout whose following timed out holds no slot.
			if rollout.InProgress(cl, now) && !(sameRollout(rec, cl, now) && rec.TimedOut) {
				l.underWay[cl.Key()] = true
			}
			// The failed rotations a restart would otherwise forget.
			if rec != nil && rec.Outcome == OutcomeFailed {
				if cond := meta.FindStatusCondition(st.Conditions, ConditionRotating); cond != nil && now.Sub(cond.LastTransitionTime.Time) < l.BreakerWindow {
					l.failures = append(l.failures, cond.LastTransitionTime.Time)
				}
			}
		}
		l.seeded = true
	}
	n := len(l.underWay)
	if l.underWay[key] {
		n--
	}
	started, err := fn(n)
	if started {
		l.underWay[key] = true
	}
	return err
}
