package cli

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/tkgcert/tkgcert/internal/certs"
)

// candidate is a cluster fleet mode will rotate.
type candidate struct {
	ns, name string
	expiry   time.Time
}

// RunFleet rotates every cluster in scope whose earliest leaf certificate
// (Machines' certificatesExpiryDate) expires within o.within: most urgent
// first, o.parallel at a time, continuing past failures, with a summary.
func (o *rotateOptions) RunFleet(ctx context.Context) error {
	cfg, ns, r, sshOpts, err := o.connect()
	if err != nil {
		return err
	}
	clusters, err := r.Clusters(ctx, ns, nil)
	if err != nil {
		return err
	}
	now := time.Now()
	var todo []candidate
	for i := range clusters {
		if e, ok := clusters[i].EarliestMachineExpiry(); ok && e.Before(now.Add(o.within)) {
			todo = append(todo, candidate{clusters[i].Namespace, clusters[i].Name, e})
		}
	}
	sort.SliceStable(todo, func(i, j int) bool { return todo[i].expiry.Before(todo[j].expiry) })
	if len(todo) == 0 {
		fmt.Fprintf(o.Out, "No cluster's certificates expire within %s.\n", o.withinS)
		return nil
	}
	fmt.Fprintf(o.Out, "Clusters whose certificates expire within %s, most urgent first (%d at a time):\n", o.withinS, o.parallel)
	tw := tabwriter.NewWriter(o.Out, 10, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tCLUSTER\tEARLIEST EXPIRY\tRESIDUAL TIME")
	for _, c := range todo {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.ns, c.name, c.expiry.UTC().Format(certs.DateLayout), certs.ResidualTime(c.expiry.Sub(now)))
	}
	tw.Flush()
	if o.dryRun {
		fmt.Fprintln(o.Out, "Dry run: nothing was changed.")
		return nil
	}
	if !o.yes {
		if err := confirm(o.IOStreams, "rotating"); err != nil {
			return err
		}
	}
	results := make([]error, len(todo))
	sem := make(chan struct{}, o.parallel)
	var wg sync.WaitGroup
	for i, c := range todo {
		if ctx.Err() != nil {
			results[i] = ctx.Err()
			continue
		}
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			one := *o
			one.cluster, one.yes, one.prefix = c.name, true, c.ns+"/"+c.name+": "
			results[i] = one.rotateOne(ctx, cfg, r, sshOpts, c.ns)
		}()
	}
	wg.Wait()

	failed := 0
	fmt.Fprintln(o.Out, "\nSummary:")
	tw = tabwriter.NewWriter(o.Out, 10, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tCLUSTER\tRESULT")
	for i, c := range todo {
		res := "rotated and verified"
		if results[i] != nil {
			failed++
			res = "FAILED: " + oneLine(results[i].Error())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.ns, c.name, res)
	}
	tw.Flush()
	if failed > 0 {
		return fmt.Errorf("%d of %d clusters were not rotated (details above)", failed, len(todo))
	}
	return nil
}

// oneLine folds a multi-line error (a list of preflight problems) into one
// table cell.
func oneLine(s string) string {
	return strings.Join(strings.Fields(strings.ReplaceAll(s, "\n  - ", " | ")), " ")
}
