package cli

import (
	"fmt"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/inventory"
	"github.com/tkgcert/tkgcert/internal/rollout"
	"github.com/tkgcert/tkgcert/internal/source"
)

type kubeletOptions struct {
	genericiooptions.IOStreams
	kube *kubeOptions
	ssh  sshFlags
}

func newKubeletCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &kubeletOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "kubelet CLUSTER",
		Short: "Check that every node's kubelet rotates its certificates (the procedure's step 8)",
		Long: `Kubelet checks, on every node of a cluster (workers too), that /var/lib/kubelet/config.yaml
has rotateCertificates: true and that the kubelet's client certificate is not close to expiry.

Exit codes: 0 all good; 2 some kubelet does not rotate or its certificate expires within 30
days; 1 some node could not be read.`,
		Example: `  tkgcert kubelet -n tkg-cluster-ns tkg-cluster`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			r, ns, err := o.kube.reader()
			if err != nil {
				return err
			}
			sshOpts, err := o.ssh.options(func(msg string) { fmt.Fprintf(o.ErrOut, "warning: %s\n", msg) })
			if err != nil {
				return err
			}
			rep, err := inventory.Run(cmd.Context(), r, inventory.Options{Namespace: ns, Clusters: args, Source: source.SSH, SSH: sshOpts})
			if err != nil {
				return err
			}
			now := time.Now()
			code := 0
			tw := tabwriter.NewWriter(o.Out, 10, 4, 3, ' ', 0)
			fmt.Fprintln(tw, "NODE\tROLE\tROTATE CERTIFICATES\tCLIENT CERTIFICATE EXPIRES\tRESIDUAL TIME\tSTATUS")
			for _, n := range rep.Clusters[0].Nodes {
				rot, exp, left, status := "unknown", "-", "-", "OK"
				if k := n.Kubelet; k != nil {
					if k.RotateCertificates != nil {
						rot = fmt.Sprint(*k.RotateCertificates)
						if !*k.RotateCertificates {
							status = "NO ROTATION"
						}
					}
					if c := k.ClientCertificate; c != nil && c.NotAfter != nil {
						exp, left = c.NotAfter.UTC().Format(certs.DateLayout), certs.ResidualTime(c.NotAfter.Sub(now))
						if c.NotAfter.Sub(now) < rollout.KubeletWarnWithin && status == "OK" {
							status = "EXPIRING"
						}
					}
				}
				if len(n.Errors) > 0 {
					status = "ERROR"
					if code == 0 {
						code = inventory.ExitIncomplete
					}
				} else if status != "OK" {
					code = inventory.ExitWarning
				}
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", n.Name, n.Role, rot, exp, left, status)
			}
			tw.Flush()
			for _, n := range rep.Clusters[0].Nodes {
				for _, e := range n.Errors {
					fmt.Fprintf(o.ErrOut, "error: %s\n", e)
				}
			}
			if code != 0 {
				return &ExitError{Code: code}
			}
			return nil
		},
	}
	o.kube = newKubeOptions(cmd)
	o.ssh.add(cmd)
	return cmd
}
