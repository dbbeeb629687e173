package controller

import (
	"context"
	"sync"
	"time"

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

	reader    *fleet.Reader
	namespace string
	selector  labels.Selector

	mu       sync.Mutex
	seeded   bool
	underWay map[string]bool
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
			if rollout.InProgress(cl, now) {
				l.underWay[cl.Key()] = true
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
