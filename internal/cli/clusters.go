package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/inventory"
	"github.com/tkgcert/tkgcert/internal/report"
)

type clustersOptions struct {
	genericiooptions.IOStreams
	kube   *kubeOptions
	output string
	format report.Format
}

func newClustersCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &clustersOptions{IOStreams: streams}
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
			var err error
			if o.format, err = report.ParseFormat(o.output); err != nil {
				return err
			}
			return o.Run(cmd, args)
		},
	}
	o.kube = newKubeOptions(cmd)
	cmd.Flags().StringVarP(&o.output, "output", "o", "table", "Output format: table, json or yaml")
	return cmd
}

func (o *clustersOptions) Run(cmd *cobra.Command, names []string) error {
	r, ns, err := o.kube.reader()
	if err != nil {
		return err
	}
	list, err := inventory.Overview(cmd.Context(), r, ns, names, 0)
	if err != nil {
		return err
	}
	if o.format != report.Table {
		return report.Document(o.Out, o.format, list)
	}
	if len(list.Items) == 0 {
		where := "namespace " + ns
		if ns == "" {
			where = "any namespace"
		}
		fmt.Fprintf(o.ErrOut, "No clusters found in %s.\n", where)
		return nil
	}
	now := time.Now()
	tw := tabwriter.NewWriter(o.Out, 10, 4, 3, ' ', 0)
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
