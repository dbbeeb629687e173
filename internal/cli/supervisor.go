package cli

import (
	"context"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"

	"github.com/tkgcert/tkgcert/internal/inventory"
	"github.com/tkgcert/tkgcert/internal/printer"
	"github.com/tkgcert/tkgcert/internal/report"
	"github.com/tkgcert/tkgcert/internal/supervisor"
)

func newSupervisorCommand(streams genericiooptions.IOStreams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "supervisor",
		Short: "The Supervisor's own certificates and vCenter's trust domain (VMCA)",
		Long: `The vSphere IaaS control plane has two trust domains: vCenter's, whose certificates
VMCA signs (vCenter Server, the Supervisor control plane, ESXi hosts serving vSphere Pods),
and the Kubernetes one (the TKG clusters, which tkgcert check and rotate cover).
tkgcert reads and reports the vCenter side; it never changes anything in vCenter.`,
	}
	cmd.AddCommand(newSupervisorCheckCommand(streams))
	return cmd
}

type supervisorCheckOptions struct {
	genericiooptions.IOStreams
	flags *genericclioptions.ConfigFlags

	vcenters, endpoints, vmcaRootFiles []string
	noDiscover                         bool
	print                              *printer.PrintFlags
	thresholds                         thresholdFlags
	parallel                           int
	timeout                            time.Duration
	sshKeyFile                         string
	ssh                                sshFlags

	roots  []*x509.Certificate
	sshKey []byte
}

func newSupervisorCheckCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &supervisorCheckOptions{IOStreams: streams, print: printer.NewPrintFlags(printer.Table, printer.JSON, printer.YAML, printer.HTML)}
	cmd := &cobra.Command{
		Use:   "check",
		Short: "Read every Supervisor, ESXi and vCenter certificate and classify it by trust domain",
		Long: `Check reads the serving certificate of every endpoint of the Supervisor and vCenter's
trust domain over TLS and attributes each to its trust domain:

  vmca        signed by vCenter's VMCA: verified against --vmca-root, or recognised by
              VMCA's issuer name (CN=CA, DC=<SSO domain>, ..., OU=VMware Engineering)
              when no root is given (the CHAIN column then says "unverified")
  kubernetes  signed by the Supervisor's own Kubernetes CA (from the kubeconfig and the
              kube-root-ca.crt ConfigMap) or by a TKG cluster's CA (<cluster>-ca secrets)
  other       anything else, reported and never hidden

Endpoints come from the Supervisor (the API server in the kubeconfig; its Node objects:
control-plane VMs on 6443, ESXi hosts of vSphere Pods on 443 and 10250) and from
--vcenter HOST[:PORT] (default port 443) and --endpoint HOST:PORT, both repeatable.
With --ssh-key, the certificate files under /etc/kubernetes/pki of every Supervisor
control-plane node are also read over SSH (user root by default; private keys never
leave the node) and attributed the same way.

For every certificate near expiry it prints how to renew it: Supervisor certificates by
hand with VMware's WCP Cert Manager (knowledge-base article "Replace vSphere with Tanzu
Supervisor Certificates"; certificate list in "vSphere with Tanzu Certificate Guide"), TKG
clusters' with tkgcert rotate. It changes nothing in vCenter.

Exit codes, as tkgcert check:
  0  every certificate is valid for longer than --warn
  1  some endpoint could not be read or discovery failed (errors are listed)
  2  some certificate expires within --warn
  3  some certificate expires within --critical, or has expired`,
		Example: `  # The Supervisor's endpoints and vCenter, verified against the VMCA root
  # (vCenter: https://VCENTER/certs/download.zip, or /etc/vmware-vpx/ssl/ on the appliance)
  tkgcert supervisor check --vcenter vcsa-01.example.com --vmca-root vmca-root.crt

  # For monitoring
  tkgcert supervisor check --vcenter vcsa-01.example.com -o json > supervisor.json; echo "exit $?"

  # Also the control-plane VMs' certificate files, over SSH
  tkgcert supervisor check --vcenter vcsa-01.example.com --ssh-key supervisor.key

  # Without a Supervisor kubeconfig: only the endpoints named
  tkgcert supervisor check --no-discover --vcenter 10.0.0.10 --endpoint 10.0.0.21:443

  # Against the lab
  tkgcert supervisor check --kubeconfig .tkgcert-lab/supervisor.kubeconfig \
    --vcenter 127.10.1.2 --vmca-root .tkgcert-lab/vmca-root.crt`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(); err != nil {
				return err
			}
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.flags = genericclioptions.NewConfigFlags(true)
	o.flags.ClusterName = nil
	o.flags.Namespace = nil
	o.flags.AddFlags(cmd.Flags())
	f := cmd.Flags()
	f.StringArrayVar(&o.vcenters, "vcenter", nil, "vCenter Server to read, HOST or HOST:PORT (default port 443); repeatable")
	f.StringArrayVar(&o.endpoints, "endpoint", nil, "Another TLS endpoint to read, HOST:PORT; repeatable")
	f.StringArrayVar(&o.vmcaRootFiles, "vmca-root", nil, "PEM file with vCenter's VMCA root certificate(s) to verify chains against; repeatable")
	f.BoolVar(&o.noDiscover, "no-discover", false, "Do not contact the Supervisor: read only --vcenter and --endpoint")
	o.print.AddFlags(cmd)
	o.thresholds.add(cmd)
	f.IntVar(&o.parallel, "parallel", inventory.DefaultParallel, "Endpoints read at the same time")
	f.DurationVar(&o.timeout, "tls-timeout", 10*time.Second, "Timeout of each TLS handshake")
	f.StringVar(&o.sshKeyFile, "ssh-key", "", "PEM private key to read the Supervisor control-plane nodes' certificate files over SSH (default: not read)")
	o.ssh.add(cmd)
	// The Supervisor's control-plane VMs are reached as root (the vendor's
	// procedure), not as the TKG nodes' vmware-system-user.
	user := f.Lookup("ssh-user")
	user.DefValue = "root"
	_ = user.Value.Set("root")
	user.Usage = "SSH user on the Supervisor control-plane nodes (with --ssh-key)"
	return cmd
}

// Complete parses the thresholds and reads the key and root files.
func (o *supervisorCheckOptions) Complete() error {
	if err := o.thresholds.complete(); err != nil {
		return err
	}
	if o.sshKeyFile != "" && !o.noDiscover {
		b, err := os.ReadFile(o.sshKeyFile)
		if err != nil {
			return fmt.Errorf("--ssh-key: %w", err)
		}
		o.sshKey = b
	}
	var err error
	o.roots, err = vmcaRoots(o.vmcaRootFiles)
	return err
}

// Validate checks that the flags agree.
func (o *supervisorCheckOptions) Validate() error {
	if err := o.print.Validate(); err != nil {
		return err
	}
	if o.parallel < 1 {
		return fmt.Errorf("--parallel must be at least 1")
	}
	if o.noDiscover && len(o.vcenters)+len(o.endpoints) == 0 {
		return fmt.Errorf("--no-discover leaves nothing to read: name endpoints with --vcenter HOST or --endpoint HOST:PORT")
	}
	if o.sshKeyFile != "" && o.noDiscover {
		return fmt.Errorf("--ssh-key reads the control-plane nodes the Supervisor lists: it does not combine with --no-discover")
	}
	return nil
}

// vmcaRoots reads the --vmca-root files.
func vmcaRoots(files []string) ([]*x509.Certificate, error) {
	var roots []*x509.Certificate
	for _, file := range files {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("--vmca-root: %w (export vCenter's root from https://VCENTER/certs/download.zip)", err)
		}
		certs, err := supervisor.ParseVMCARoots(b)
		if err != nil {
			return nil, fmt.Errorf("--vmca-root %s: %w", file, err)
		}
		roots = append(roots, certs...)
	}
	return roots, nil
}

// Run reads every endpoint and prints the report.
func (o *supervisorCheckOptions) Run(ctx context.Context) error {
	var cfg *rest.Config
	if !o.noDiscover {
		var err error
		if cfg, err = o.flags.ToRESTConfig(); err != nil {
			return fmt.Errorf("loading the Supervisor's kubeconfig: %w (point --kubeconfig or KUBECONFIG at it, or read only named endpoints with --no-discover)", err)
		}
	}
	sshOpts, err := o.ssh.options(func(msg string) { fmt.Fprintf(o.ErrOut, "warning: %s\n", msg) })
	if err != nil {
		return err
	}
	system, _ := x509.SystemCertPool() // nil on error: public CAs then show as unknown
	rep, err := inventory.RunSupervisor(ctx, cfg, supervisor.Options{
		Discover: !o.noDiscover, VCenters: o.vcenters, Endpoints: o.endpoints, VMCARoots: o.roots,
		SystemRoots: system, Parallel: o.parallel, Timeout: o.timeout, SSHKey: o.sshKey, SSH: sshOpts,
	})
	if err != nil {
		return err
	}
	for _, w := range rep.Supervisor.Warnings {
		fmt.Fprintf(o.ErrOut, "warning: %s\n", w)
	}
	v := inventory.Evaluate(rep, o.thresholds.warn, o.thresholds.critical)
	if o.print.Page() {
		scope := "the Supervisor and vCenter's trust domain"
		if o.noDiscover {
			scope = "the endpoints named"
		}
		err = report.HTML(o.Out, rep, v, report.HTMLOptions{Command: "supervisor check", Scope: scope,
			Warn: o.thresholds.warn, Critical: o.thresholds.critical})
	} else {
		err = o.print.Print(o.Out, rep, func() error {
			return report.SupervisorTable(o.Out, rep, v, rep.GeneratedAt, report.Style{Color: isTerminal(o.Out)})
		})
	}
	if err != nil {
		return err
	}
	if v.Errors > 0 && !o.print.Human() {
		fmt.Fprintf(o.ErrOut, "%d errors; see the errors fields of the report\n", v.Errors)
	}
	if v.Code != inventory.ExitOK {
		return &ExitError{Code: v.Code}
	}
	return nil
}
