package rollout

import (
	"context"
	"slices"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/tkgcert/tkgcert/internal/fleet"
)

// Candidate is a cluster fleet rotation will rotate.
type Candidate struct {
	Namespace, Name string
	// Expiry is the earliest control-plane certificate expiry Cluster API
	// recorded (Machines' certificatesExpiryDate).
	Expiry time.Time
}

// Candidates lists the clusters whose earliest recorded certificate expiry
// falls before now+within, most urgent first.
func Candidates(clusters []fleet.Cluster, now time.Time, within time.Duration) []Candidate {
	var out []Candidate
	for i := range clusters {
		if e, ok := clusters[i].EarliestMachineExpiry(); ok && e.Before(now.Add(within)) {
			out = append(out, Candidate{Namespace: clusters[i].Namespace, Name: clusters[i].Name, Expiry: e})
		}
	}
	slices.SortStableFunc(out, func(a, b Candidate) int { return a.Expiry.Compare(b.Expiry) })
	return out
}

// RotateEach runs rotate for every candidate, parallel at a time, in
// order, continuing past failures, and returns each one's error. Once ctx
// ends, the candidates not started get its error.
func RotateEach(ctx context.Context, todo []Candidate, parallel int, rotate func(context.Context, Candidate) error) []error {
	errs := make([]error, len(todo))
	var g errgroup.Group
	g.SetLimit(max(parallel, 1))
	for i, c := range todo {
		if ctx.Err() != nil {
			errs[i] = ctx.Err()
			continue
		}
		g.Go(func() error {
			errs[i] = rotate(ctx, c)
			return nil
		})
	}
	_ = g.Wait()
	return errs
}
