package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/inventory"
	"github.com/tkgcert/tkgcert/internal/printer"
)

type clustersOptions struct {
	genericiooptions.IOStreams
	kube  *kubeOptions
	print *printer.PrintFlags

	names []string
}

func newClustersCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &clustersOptions{IOStreams: streams, print: printer.NewPrintFlags(printer.Table, printer.JSON, printer.YAML)}
	cmd := &cobra.Command{
		Use:   "clusters [CLUSTER...]",
		Short: "List clusters with their earliest certificate expiry (from the Supervisor only, no SSH)",
		Long: `Clusters lists the TKG clusters in scope with their Cluster API version, phase, control-plane
readiness, the earliest leaf-certificate expiry Cluster API recorded on their Machines
(status.certificatesExpiryDate), the earliest CA expiry from their secrets, and whether a
rollout is in progress. It reads the Supervisor only; use "tkgcert check" for every certificate.`,
		Example: `  tkgcert clusters -A
  tkgcert clusters -n tkg-cluster-ns -o yaml`,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Complete(args)
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.kube = newKubeOptions(cmd)
	o.print.AddFlags(cmd)
	return cmd
}

// Complete takes the clusters named.
func (o *clustersOptions) Complete(args []string) { o.names = args }

// Validate checks -o.
func (o *clustersOptions) Validate() error { return o.print.Validate() }

// Run lists the clusters in scope.
func (o *clustersOptions) Run(ctx context.Context) error {
	r, ns, err := o.kube.reader()
	if err != nil {
		return err
	}
	list, err := inventory.Overview(ctx, r, ns, o.names, 0)
	if err != nil {
		return err
	}
	return o.print.Print(o.Out, list, func() error { return o.writeTable(list, ns) })
}

// writeTable lists the clusters for people, one a row.
func (o *clustersOptions) writeTable(list *inventory.ClusterList, ns string) error {
	if len(list.Items) == 0 {
		where := "namespace " + ns
		if ns == "" {
			where = "any namespace"
		}
		fmt.Fprintf(o.ErrOut, "No clusters found in %s.\n", where)
		return nil
	}
	now := time.Now()
	tw := printer.NewTable(o.Out)
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
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d/%d\t%s\t%s\t%s\t%s\n", s.Namespace, s.Name, s.ClusterAPIVersion, s.Phase,
			s.ControlPlane.Ready, s.ControlPlane.Replicas, leaf, left, ca, rollout)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, s := range list.Items {
		for _, e := range s.Errors {
			fmt.Fprintf(o.ErrOut, "warning: %s/%s: %s\n", s.Namespace, s.Name, e)
		}
	}
	return nil
}
