package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/tkgcert/tkgcert/internal/fleet"
	"github.com/tkgcert/tkgcert/internal/inventory"
	"github.com/tkgcert/tkgcert/internal/recovery"
	"github.com/tkgcert/tkgcert/internal/remote"
	"github.com/tkgcert/tkgcert/internal/rollout"
	"github.com/tkgcert/tkgcert/internal/source"
)

type recoverOptions struct {
	genericiooptions.IOStreams
	kube          *kubeOptions
	ssh           sshFlags
	yes           bool
	dryRun        bool
	thenRotate    bool
	output        string
	nodeTimeout   time.Duration
	staticPodWait time.Duration
	rotateTimeout time.Duration
	faultS        string
	fault         recovery.Fault
	cluster       string
}

// recoverOutput is what -o json prints.
type recoverOutput struct {
	Plan         recovery.Plan    `json:"plan"`
	Result       *recovery.Result `json:"result,omitempty"`
	Verification *struct {
		OK       bool     `json:"ok"`
		Problems []string `json:"problems,omitempty"`
		Warnings []string `json:"warnings,omitempty"`
	} `json:"verification,omitempty"`
	Error string `json:"error,omitempty"`
}

func newRecoverCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &recoverOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "recover CLUSTER",
		Short: "Renew the certificates of a cluster whose certificates have already expired, in place, with its own CAs",
		Long: `Recover brings back a cluster whose certificates have already expired, which
"tkgcert rotate" (and the vendor's procedure) must refuse: rolling machines needs a
working control plane.

  1. Check every certificate (as "tkgcert check" does) and show the plan: per node,
     what expired and what will be done. --dry-run stops here; otherwise confirm
     (--yes skips the question).
  2. On each control-plane node, one at a time, over SSH: back up /etc/kubernetes
     and /var/lib/kubelet/pki to /etc/kubernetes/tkgcert-backup-<time> on the node;
     renew every kubeadm leaf certificate and kubeconfig with the cluster's own CAs
     (read from the Supervisor's <cluster>-ca, -etcd and -proxy secrets; never a
     new CA), each keeping its subject, SANs, usages and key; restart the static
     pods by moving their manifests out of /etc/kubernetes/manifests and back, as
     kubeadm documents; wait until the node's API server serves the renewed
     certificate and answers.
  3. Renew expired kubelet client certificates, on every node, and restart the
     kubelet.
  4. Refresh the client certificate of the Supervisor's <cluster>-kubeconfig
     secret in place, if it expired (labels and owner references are kept).
  5. Verify: the kubeconfig secret works, nothing has expired, every renewed
     certificate is valid for about a year, the CAs are unchanged.

A step that fails stops the recovery: the node's backup is put back (and its
static pods restarted), the error names the step, the node and the backup, and
nodes already recovered stay recovered. Afterwards run "tkgcert rotate" (or pass
--then-rotate) so that every machine is replaced with fresh keys.`,
		Example: `  tkgcert recover -n tkg-cluster-ns tkg-cluster --dry-run
  tkgcert recover -n tkg-cluster-ns tkg-cluster
  tkgcert recover -n tkg-cluster-ns tkg-cluster --yes --then-rotate`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.cluster = args[0]
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.kube = newKubeOptions(cmd)
	o.ssh.add(cmd)
	f := cmd.Flags()
	f.BoolVarP(&o.yes, "yes", "y", false, "Do not ask for confirmation")
	f.BoolVar(&o.dryRun, "dry-run", false, "Show what expired and the plan, change nothing")
	f.BoolVar(&o.thenRotate, "then-rotate", false, "After a verified recovery, rotate the cluster as \"tkgcert rotate\" does")
	f.StringVarP(&o.output, "output", "o", "table", "Output format: table or json")
	f.DurationVar(&o.nodeTimeout, "node-timeout", recovery.DefaultNodeTimeout, "How long to wait for a node's API server to serve the renewed certificate")
	f.DurationVar(&o.staticPodWait, "static-pod-wait", recovery.DefaultStaticPodWait, "How long to wait for the static pods to stop once their manifests are moved out (the kubelet checks every 20s)")
	f.DurationVar(&o.rotateTimeout, "rotate-timeout", 60*time.Minute, "With --then-rotate: how long to follow the rollout")
	f.StringVar(&o.faultS, "inject-fault", "", "Testing only: fail on purpose at NODE:STEP to rehearse the restore")
	_ = f.MarkHidden("inject-fault")
	return cmd
}

// Validate checks the flags.
func (o *recoverOptions) Validate() error {
	if o.kube.allNamespaces {
		return fmt.Errorf("recover works on one cluster: name it, with -n for its namespace")
	}
	if o.output != "table" && o.output != "json" {
		return fmt.Errorf("--output %q: want table or json", o.output)
	}
	if o.nodeTimeout <= 0 || o.staticPodWait <= 0 || o.rotateTimeout <= 0 {
		return fmt.Errorf("--node-timeout, --static-pod-wait and --rotate-timeout must be positive")
	}
	if o.faultS != "" {
		f, err := recovery.ParseFault(o.faultS)
		if err != nil {
			return fmt.Errorf("--inject-fault: %w", err)
		}
		o.fault = f
	}
	return nil
}

func (o *recoverOptions) logf(format string, args ...any) {
	fmt.Fprintf(o.ErrOut, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// Run recovers o.cluster.
func (o *recoverOptions) Run(ctx context.Context) error {
	cfg, ns, err := o.kube.config()
	if err != nil {
		return err
	}
	r, err := fleet.NewReader(cfg)
	if err != nil {
		return err
	}
	sshOpts, err := o.ssh.options(func(msg string) { fmt.Fprintf(o.ErrOut, "warning: %s\n", msg) })
	if err != nil {
		return err
	}
	inv := func() (*inventory.ClusterReport, error) { return inventoryOne(ctx, r, ns, o.cluster, sshOpts) }
	o.logf("Checking the certificates of %s/%s", ns, o.cluster)
	before, err := inv()
	if err != nil {
		return err
	}
	now, err := rollout.ServerTime(ctx, cfg)
	if err != nil {
		return err
	}
	out := recoverOutput{Plan: recovery.BuildPlan(before, now)}
	plan := &out.Plan
	finish := func(err error) error {
		if o.output == "json" {
			if err != nil {
				out.Error = err.Error()
			}
			enc := json.NewEncoder(o.Out)
			enc.SetIndent("", "  ")
			if jerr := enc.Encode(out); jerr != nil && err == nil {
				err = jerr
			}
		}
		return err
	}
	if o.output == "table" {
		if err := recovery.WritePlan(o.Out, *plan); err != nil {
			return err
		}
	}
	if len(plan.Problems) > 0 {
		return finish(fmt.Errorf("not recovering %s/%s, nothing was changed:\n  - %s", ns, o.cluster, strings.Join(plan.Problems, "\n  - ")))
	}
	if plan.Empty() {
		if o.output == "table" {
			fmt.Fprintf(o.Out, "\nNothing has expired: nothing to recover. To renew certificates before they expire, use `tkgcert rotate -n %s %s`.\n", ns, o.cluster)
		}
		return finish(nil)
	}
	if o.dryRun {
		if o.output == "table" {
			fmt.Fprintln(o.Out, "Dry run: nothing was changed.")
		}
		return finish(nil)
	}
	if !o.yes {
		if err := confirm(o.IOStreams, "recovering"); err != nil {
			return finish(err)
		}
	}
	key, err := source.SSHKey(ctx, r.Client(), ns, o.cluster)
	if err != nil {
		return finish(err)
	}
	dialer, err := remote.NewDialer(key, sshOpts)
	if err != nil {
		return finish(err)
	}
	defer dialer.Close()
	res, err := recovery.Run(ctx, recovery.Options{
		Client: r.Client(), Dialer: dialer, ClusterAPIVersion: before.ClusterAPIVersion,
		NodeTimeout: o.nodeTimeout, StaticPodWait: o.staticPodWait,
		Fault: o.fault, Log: o.logf,
	}, *plan)
	out.Result = res
	if o.output == "table" && res != nil && len(res.Nodes) > 0 {
		fmt.Fprintln(o.Out)
		o.writeNodes(res)
	}
	if res != nil {
		for _, w := range res.Warnings {
			fmt.Fprintf(o.ErrOut, "warning: %s\n", w)
		}
	}
	if err != nil {
		return finish(err)
	}

	o.logf("Recovery done; verifying")
	after, err := inv()
	if err != nil {
		return finish(err)
	}
	v := recovery.Verify(before, after, res, time.Now())
	if err := rollout.KubeconfigWorks(ctx, r.Client(), ns, o.cluster); err != nil {
		v.Problems = append(v.Problems, fmt.Sprintf("the %s-kubeconfig secret does not authenticate against the cluster: %v", o.cluster, err))
	}
	out.Verification = &struct {
		OK       bool     `json:"ok"`
		Problems []string `json:"problems,omitempty"`
		Warnings []string `json:"warnings,omitempty"`
	}{v.OK(), v.Problems, v.Warnings}
	if o.output == "table" {
		fmt.Fprintln(o.Out)
		if err := rollout.WriteTable(o.Out, v); err != nil {
			return err
		}
	}
	for _, w := range v.Warnings {
		fmt.Fprintf(o.ErrOut, "warning: %s\n", w)
	}
	if !v.OK() {
		return finish(fmt.Errorf("recovery ran, but verification failed:\n  - %s\nthe backups are still on the nodes (see above)", strings.Join(v.Problems, "\n  - ")))
	}
	if o.output == "table" {
		fmt.Fprintf(o.Out, "\n%s/%s: recovered; the API answers with the kubeconfig secret, nothing has expired, CAs unchanged.\n", ns, o.cluster)
	}
	if !o.thenRotate {
		if o.output == "table" {
			fmt.Fprintf(o.Out, "Next: rotate the cluster so that every machine is replaced with fresh keys:\n  tkgcert rotate -n %s %s\n", ns, o.cluster)
		}
		return finish(nil)
	}
	if err := finish(nil); err != nil {
		return err
	}
	o.logf("Rotating %s/%s, as tkgcert rotate does", ns, o.cluster)
	streams := o.IOStreams
	if o.output == "json" {
		streams.Out = o.ErrOut // stdout holds the JSON document alone
	}
	rot := &rotateOptions{IOStreams: streams, kube: o.kube, ssh: o.ssh, yes: true, timeout: o.rotateTimeout, cluster: o.cluster}
	if err := rot.rotateOne(ctx, cfg, r, sshOpts, ns); err != nil {
		return fmt.Errorf("the cluster was recovered, but the rotation that followed failed: %w", err)
	}
	return nil
}

func (o *recoverOptions) writeNodes(res *recovery.Result) {
	tw := tabwriter.NewWriter(o.Out, 10, 4, 3, ' ', 0)
	fmt.Fprintln(tw, "NODE\tSTATUS\tBACKUP ON THE NODE")
	for _, n := range res.Nodes {
		b := n.Backup
		if b == "" {
			b = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\n", n.Name, n.Status, b)
	}
	_ = tw.Flush()
	if res.SecretRefreshed {
		fmt.Fprintf(o.Out, "secret %s/%s-kubeconfig: client certificate refreshed\n", res.Namespace, res.Cluster)
	}
}
