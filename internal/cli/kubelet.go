package cli

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/fleet"
	"github.com/tkgcert/tkgcert/internal/inventory"
	"github.com/tkgcert/tkgcert/internal/printer"
	"github.com/tkgcert/tkgcert/internal/report"
	"github.com/tkgcert/tkgcert/internal/source"
)

type kubeletOptions struct {
	genericiooptions.IOStreams
	kube       *kubeOptions
	ssh        sshFlags
	thresholds thresholdFlags
	parallel   int

	clusters []string
}

func newKubeletCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &kubeletOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "kubelet [CLUSTER...]",
		Short: "Check that every node's kubelet rotates its certificates (the procedure's step 8)",
		Long: `Kubelet checks, on every node of the clusters in scope (workers too), that
/var/lib/kubelet/config.yaml has rotateCertificates: true and that the kubelet's client
certificate is not close to expiry. Without CLUSTER names it checks every cluster in the
namespace (or in all namespaces with -A), as tkgcert check does.

Exit codes, as tkgcert check:
  0  every kubelet rotates and its certificate is valid for longer than --warn
  1  some node could not be read (errors are listed)
  2  some kubelet does not rotate, or its certificate expires within --warn
  3  some kubelet's certificate expires within --critical, or has expired`,
		Example: `  tkgcert kubelet -n tkg-cluster-ns tkg-cluster
  tkgcert kubelet -A
  tkgcert kubelet -A --context vc01-supervisor --context vc02-supervisor`,
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
	o.thresholds.add(cmd)
	cmd.Flags().IntVar(&o.parallel, "parallel", inventory.DefaultParallel, "Nodes read at the same time")
	o.ssh.add(cmd)
	return cmd
}

// Complete takes the clusters named and parses the thresholds.
func (o *kubeletOptions) Complete(args []string) error {
	o.clusters = args
	return o.thresholds.complete()
}

// Validate checks the flags and the scope.
func (o *kubeletOptions) Validate() error {
	if o.parallel < 1 {
		return fmt.Errorf("--parallel must be at least 1")
	}
	return o.kube.validateScope(o.clusters)
}

// Run reads every node's kubelet over SSH and grades the client
// certificates as check does; a kubelet that does not rotate is a warning.
func (o *kubeletOptions) Run(ctx context.Context) error {
	sshOpts, err := o.ssh.options(func(msg string) { fmt.Fprintf(o.ErrOut, "warning: %s\n", msg) })
	if err != nil {
		return err
	}
	start := time.Now()
	reps, runs, err := eachSupervisor(ctx, o.kube, func(ctx context.Context, r *fleet.Reader, ns string) (*inventory.Report, error) {
		return inventory.Run(ctx, r, inventory.Options{Namespace: ns, Clusters: o.clusters, Source: source.SSH, Parallel: o.parallel, SSH: sshOpts})
	})
	if err != nil {
		return err
	}
	rep := mergeReports(reps, runs, start, string(source.SSH))
	multi := runs != nil
	kubeletsOnly(rep)
	v := inventory.Evaluate(rep, o.thresholds.warn, o.thresholds.critical)
	status := map[string]inventory.Status{}
	for _, f := range v.Findings {
		status[f.Supervisor+"/"+f.Namespace+"/"+f.Cluster+"/"+f.Node] = f.Status
	}
	code, noRotation := v.Code, false
	tw := printer.NewTable(o.Out)
	if multi {
		fmt.Fprint(tw, "SUPERVISOR\t")
	}
	fmt.Fprintln(tw, "NAMESPACE\tCLUSTER\tNODE\tROLE\tROTATE CERTIFICATES\tCLIENT CERTIFICATE EXPIRES\tRESIDUAL TIME\tSTATUS")
	for _, cl := range rep.Clusters {
		for _, n := range cl.Nodes {
			rot, exp, left, st := "unknown", "-", "-", string(inventory.StatusOK)
			if s, ok := status[cl.Supervisor+"/"+cl.Namespace+"/"+cl.Name+"/"+n.Name]; ok {
				st = string(s)
			}
			if k := n.Kubelet; k != nil {
				if k.RotateCertificates != nil {
					rot = fmt.Sprint(*k.RotateCertificates)
					// Expiring soon without rotation: not rotating is the cause.
					if !*k.RotateCertificates && (st == string(inventory.StatusOK) || st == string(inventory.StatusWarning)) {
						st = "NO ROTATION"
					}
					noRotation = noRotation || !*k.RotateCertificates
				}
				if c := k.ClientCertificate; c != nil && !c.NotAfter.IsZero() {
					exp, left = c.NotAfter.UTC().Format(certs.DateLayout), certs.ResidualTime(c.NotAfter.Sub(rep.GeneratedAt))
				}
			}
			if len(n.Errors) > 0 {
				st = "ERROR"
			}
			if multi {
				fmt.Fprintf(tw, "%s\t", cl.Supervisor)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", cl.Namespace, cl.Name, n.Name, n.Role, rot, exp, left, st)
		}
	}
	for _, r := range runs {
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t-\t%s\n", r.Context, report.StatusError)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, r := range runs {
		if r.Error != "" {
			fmt.Fprintf(o.ErrOut, "error: Supervisor %s: %s\n", r.Context, r.Error)
		}
	}
	for _, cl := range rep.Clusters {
		for _, e := range cl.Errors {
			fmt.Fprintf(o.ErrOut, "error: %s/%s: %s\n", cl.Namespace, cl.Name, e)
		}
		for _, n := range cl.Nodes {
			for _, e := range n.Errors {
				fmt.Fprintf(o.ErrOut, "error: %s\n", e)
			}
		}
	}
	// Not rotating ranks with a warning: below critical, above incomplete.
	if noRotation && code != inventory.ExitCritical {
		code = inventory.ExitWarning
	}
	if code != inventory.ExitOK {
		return &ExitError{Code: code}
	}
	return nil
}

// kubeletsOnly drops from rep every certificate but the kubelets' client
// certificates, so that Evaluate grades those alone.
func kubeletsOnly(rep *inventory.Report) {
	rep.Clusters = slices.Clone(rep.Clusters)
	for i := range rep.Clusters {
		cl := &rep.Clusters[i]
		cl.CertificateAuthorities, cl.KubeconfigCertificate = nil, nil
		cl.Nodes = slices.Clone(cl.Nodes)
		for j := range cl.Nodes {
			cl.Nodes[j].Certificates, cl.Nodes[j].CertificateAuthorities = nil, nil
		}
	}
}
