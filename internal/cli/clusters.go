package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/fleet"
	"github.com/tkgcert/tkgcert/internal/inventory"
	"github.com/tkgcert/tkgcert/internal/printer"
	"github.com/tkgcert/tkgcert/internal/report"
)

type clustersOptions struct {
	genericiooptions.IOStreams
	kube       *kubeOptions
	print      *printer.PrintFlags
	thresholds thresholdFlags

	names []string
}

func newClustersCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &clustersOptions{IOStreams: streams, print: printer.NewPrintFlags(printer.Table, printer.JSON, printer.YAML, printer.HTML)}
	cmd := &cobra.Command{
		Use:   "clusters [CLUSTER...]",
		Short: "List clusters with their earliest certificate expiry (from the Supervisor only, no SSH)",
		Long: `Clusters lists the TKG clusters in scope with their Cluster API version, phase, control-plane
readiness, the earliest leaf-certificate expiry Cluster API recorded on their Machines
(status.certificatesExpiryDate), the earliest CA expiry from their secrets, and whether a
rollout is in progress. It reads the Supervisor only; use "tkgcert check" for every certificate.

With several Supervisors (--context repeated, or --all-contexts) it lists them all in one
table with a SUPERVISOR column; a Supervisor that cannot be read is an error row, and the
exit code is then 1. --warn and --critical colour the HTML page (-o html).`,
		Example: `  tkgcert clusters -A
  tkgcert clusters -n tkg-cluster-ns -o yaml
  tkgcert clusters -A --all-contexts -o html > clusters.html`,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.Complete(args); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.kube = newKubeOptions(cmd)
	o.kube.allowSeveral(cmd)
	o.print.AddFlags(cmd)
	o.thresholds.add(cmd)
	return cmd
}

// Complete takes the clusters named and parses the thresholds.
func (o *clustersOptions) Complete(args []string) error {
	o.names = args
	return o.thresholds.complete()
}

// Validate checks -o.
func (o *clustersOptions) Validate() error { return o.print.Validate() }

// Run lists the clusters in scope, on every Supervisor of the run.
func (o *clustersOptions) Run(ctx context.Context) error {
	start := time.Now()
	lists, runs, err := eachSupervisor(ctx, o.kube, func(ctx context.Context, r *fleet.Reader, ns string) (*inventory.ClusterList, error) {
		return inventory.Overview(ctx, r, ns, o.names, 0)
	})
	if err != nil {
		return err
	}
	list := lists[0]
	if runs != nil {
		list = &inventory.ClusterList{APIVersion: inventory.APIVersion, Kind: "ClusterList", Items: []inventory.ClusterSummary{}, Supervisors: runs}
		for i, l := range lists {
			if l == nil {
				continue
			}
			for _, s := range l.Items {
				s.Supervisor = runs[i].Context
				list.Items = append(list.Items, s)
			}
		}
	}
	if o.print.Page() {
		err = report.ClustersHTML(o.Out, list, start, report.HTMLOptions{Command: "clusters", Scope: o.kube.scope(o.names),
			Warn: o.thresholds.warn, Critical: o.thresholds.critical})
	} else {
		err = o.print.Print(o.Out, list, func() error { return o.writeTable(list) })
	}
	if err != nil {
		return err
	}
	for _, r := range runs {
		if r.Error != "" {
			return &ExitError{Code: inventory.ExitIncomplete}
		}
	}
	return nil
}

// writeTable lists the clusters for people, one a row.
func (o *clustersOptions) writeTable(list *inventory.ClusterList) error {
	if len(list.Items) == 0 && len(list.Supervisors) == 0 {
		fmt.Fprintf(o.ErrOut, "No clusters found in %s.\n", o.kube.scope(nil))
		return nil
	}
	multi := len(list.Supervisors) > 0
	now := time.Now()
	tw := printer.NewTable(o.Out)
	if multi {
		fmt.Fprint(tw, "SUPERVISOR\t")
	}
	fmt.Fprintln(tw, "NAMESPACE\tNAME\tAPI\tPHASE\tCONTROL PLANE\tLEAF EXPIRES\tRESIDUAL TIME\tCA EXPIRES\tROLLOUT")
	for _, s := range list.Items {
		leaf, left, ca := "-", "-", "-"
		if s.EarliestLeafExpiry != nil {
			leaf = s.EarliestLeafExpiry.UTC().Format(certs.DateLayout)
			left = certs.ResidualTime(s.EarliestLeafExpiry.Sub(now))
		}
		if s.EarliestCAExpiry != nil {
			ca = s.EarliestCAExpiry.UTC().Format(certs.DateLayout)
		}
		rollout := "no"
		switch {
		case s.RolloutInProgress:
			rollout = "in progress"
		case s.Paused:
			rollout = "paused"
		}
		if multi {
			fmt.Fprintf(tw, "%s\t", s.Supervisor)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\n", s.Namespace, s.Name, s.ClusterAPIVersion, s.Phase,
			s.ControlPlane.Ready, s.ControlPlane.Replicas, leaf, left, ca, rollout)
	}
	for _, r := range list.Supervisors {
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\t-\t%s\n", r.Context, report.StatusError)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range list.Supervisors {
		if r.Error != "" {
			fmt.Fprintf(o.ErrOut, "error: Supervisor %s: %s\n", r.Context, r.Error)
		}
	}
	for _, s := range list.Items {
		for _, e := range s.Errors {
			fmt.Fprintf(o.ErrOut, "warning: %s/%s: %s\n", s.Namespace, s.Name, e)
		}
	}
	return nil
}
