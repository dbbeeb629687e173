package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/printer"
	"github.com/tkgcert/tkgcert/internal/rollout"
)

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
	todo := rollout.Candidates(clusters, now, o.within)
	if len(todo) == 0 {
		fmt.Fprintf(o.Out, "No cluster's certificates expire within %s.\n", o.withinS)
		return nil
	}
	fmt.Fprintf(o.Out, "Clusters whose certificates expire within %s, most urgent first (%d at a time):\n", o.withinS, o.parallel)
	tw := printer.NewTable(o.Out)
	fmt.Fprintln(tw, "NAMESPACE\tCLUSTER\tEARLIEST EXPIRY\tRESIDUAL TIME")
	for _, c := range todo {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", c.Namespace, c.Name, c.Expiry.UTC().Format(certs.DateLayout), certs.ResidualTime(c.Expiry.Sub(now)))
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
	results := rollout.RotateEach(ctx, todo, o.parallel, func(ctx context.Context, c rollout.Candidate) error {
		one := *o
		one.cluster, one.yes, one.prefix = c.Name, true, c.Namespace+"/"+c.Name+": "
		return one.rotateOne(ctx, cfg, r, sshOpts, c.Namespace)
	})

	failed := 0
	fmt.Fprintln(o.Out, "\nSummary:")
	tw = printer.NewTable(o.Out)
	fmt.Fprintln(tw, "NAMESPACE\tCLUSTER\tRESULT")
	for i, c := range todo {
		res := "rotated and verified"
		if results[i] != nil {
			failed++
			res = "FAILED: " + oneLine(results[i].Error())
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Namespace, c.Name, res)
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
