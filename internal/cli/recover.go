package cli

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"

	"github.com/tkgcert/tkgcert/internal/fleet"
	"github.com/tkgcert/tkgcert/internal/inventory"
	"github.com/tkgcert/tkgcert/internal/lock"
	"github.com/tkgcert/tkgcert/internal/printer"
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
	print         *printer.PrintFlags
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
	o := &recoverOptions{IOStreams: streams, print: printer.NewPrintFlags(printer.Table, printer.JSON)}
	cmd := &cobra.Command{
		Use:   "recover CLUSTER",
		Short: "Renew the certificates of a cluster whose certificates have already expired, in place, with its own CAs",
		Long: `Recover brings back a cluster whose certificates have already expired, which
"tkgcert rotate" (and the vendor's procedure) must refuse: rolling machines needs a
working control plane.

  0. Lock the cluster (a Lease <cluster>-tkgcert-lock in its namespace, renewed while
     recover runs, deleted at the end), so that no other recover, rotate or controller
     works on it meanwhile. A cluster another run holds is refused, naming the holder;
     the lock of a run that was killed expires after a minute. --dry-run takes none.
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
	o.ssh.add(cmd)
	f := cmd.Flags()
	f.BoolVarP(&o.yes, "yes", "y", false, "Do not ask for confirmation")
	f.BoolVar(&o.dryRun, "dry-run", false, "Show what expired and the plan, change nothing")
	f.BoolVar(&o.thenRotate, "then-rotate", false, "After a verified recovery, rotate the cluster as \"tkgcert rotate\" does")
	o.print.AddFlags(cmd)
	f.DurationVar(&o.nodeTimeout, "node-timeout", recovery.DefaultNodeTimeout, "How long to wait for a node's API server to serve the renewed certificate")
	f.DurationVar(&o.staticPodWait, "static-pod-wait", recovery.DefaultStaticPodWait, "How long to wait for the static pods to stop once their manifests are moved out (the kubelet checks every 20s)")
	f.DurationVar(&o.rotateTimeout, "rotate-timeout", 60*time.Minute, "With --then-rotate: how long to follow the rollout")
	f.StringVar(&o.faultS, "inject-fault", "", "Testing only: fail on purpose at NODE:STEP to rehearse the restore")
	_ = f.MarkHidden("inject-fault")
	return cmd
}

// Complete takes the cluster named and parses --inject-fault.
func (o *recoverOptions) Complete(args []string) error {
	o.cluster = args[0]
	if o.faultS != "" {
		f, err := recovery.ParseFault(o.faultS)
		if err != nil {
			return fmt.Errorf("--inject-fault: %w", err)
		}
		o.fault = f
	}
	return nil
}

// Validate checks the flags.
func (o *recoverOptions) Validate() error {
	if o.kube.allNamespaces {
		return fmt.Errorf("recover works on one cluster: name it, with -n for its namespace")
	}
	if err := o.print.Validate(); err != nil {
		return err
	}
	if o.nodeTimeout <= 0 || o.staticPodWait <= 0 || o.rotateTimeout <= 0 {
		return fmt.Errorf("--node-timeout, --static-pod-wait and --rotate-timeout must be positive")
	}
	return nil
}

func (o *recoverOptions) logf(format string, args ...any) {
	fmt.Fprintf(o.ErrOut, "%s %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// Run recovers o.cluster: check and plan, renew on the nodes, verify, and
// with --then-rotate rotate.
func (o *recoverOptions) Run(ctx context.Context) error {
	run, err := o.start(ctx)
	if err != nil {
		return err
	}
	defer run.unlock()
	recovered, err := run.recover(ctx)
	if err := run.finish(err); err != nil || !recovered || !o.thenRotate {
		return err
	}
	return run.rotate(ctx)
}

// recoverRun is one recovery under way: the Supervisor, the cluster's
// certificates before, and what -o json prints at the end.
type recoverRun struct {
	*recoverOptions
	cfg     *rest.Config
	ns      string
	r       *fleet.Reader
	sshOpts remote.Options
	before  *inventory.ClusterReport
	out     recoverOutput
	// lock keeps other tkgcert runs off the cluster (nil on a dry run).
	lock *lock.Lock
}

// start connects to the Supervisor, checks every certificate of the
// cluster and plans the recovery.
func (o *recoverOptions) start(ctx context.Context) (_ *recoverRun, err error) {
	run := &recoverRun{recoverOptions: o}
	if run.cfg, run.ns, err = o.kube.config(); err != nil {
		return nil, err
	}
	if run.r, err = fleet.NewReader(run.cfg); err != nil {
		return nil, err
	}
	// The lock first, so that the plan is made from what no other run
	// changes. A dry run changes nothing and takes none.
	if !o.dryRun {
		if run.lock, err = lock.Acquire(ctx, run.r.Client(), run.ns, o.cluster, lock.Holder("tkgcert recover"), 0); err != nil {
			return nil, fmt.Errorf("not recovering %s/%s, nothing was changed: %w", run.ns, o.cluster, err)
		}
		defer func() {
			if err != nil {
				run.unlock()
			}
		}()
		o.logf("Locked %s/%s for this run (Lease %s), so that no other tkgcert run works on it meanwhile", run.ns, o.cluster, lock.Name(o.cluster))
	}
	if run.sshOpts, err = o.ssh.options(func(msg string) { fmt.Fprintf(o.ErrOut, "warning: %s\n", msg) }); err != nil {
		return nil, err
	}
	o.logf("Checking the certificates of %s/%s", run.ns, o.cluster)
	if run.before, err = run.inventory(ctx); err != nil {
		return nil, err
	}
	now, err := rollout.ServerTime(ctx, run.cfg)
	if err != nil {
		return nil, err
	}
	run.out.Plan = recovery.BuildPlan(run.before, now)
	return run, nil
}

// unlock releases the cluster's lock, if this run holds it.
func (run *recoverRun) unlock() {
	if run.lock == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := run.lock.Release(ctx); err != nil {
		fmt.Fprintf(run.ErrOut, "warning: %v\n", err)
	}
	run.lock = nil
}

func (run *recoverRun) inventory(ctx context.Context) (*inventory.ClusterReport, error) {
	return inventoryOne(ctx, run.r, run.ns, run.cluster, run.sshOpts)
}

// table reports whether the output is for people (else a JSON document).
func (run *recoverRun) table() bool { return run.print.Human() }

// finish prints the JSON document, with err in it, and returns err.
func (run *recoverRun) finish(err error) error {
	if run.table() {
		return err
	}
	if err != nil {
		run.out.Error = err.Error()
	}
	p, perr := run.print.ToPrinter()
	if perr == nil {
		perr = p.PrintObj(run.out, run.Out)
	}
	if perr != nil && err == nil {
		err = perr
	}
	return err
}

// recover shows the plan and, once confirmed, renews the certificates and
// verifies; it reports whether the cluster was recovered.
func (run *recoverRun) recover(ctx context.Context) (bool, error) {
	if proceed, err := run.confirmPlan(); !proceed || err != nil {
		return false, err
	}
	res, err := run.renew(ctx)
	if err != nil {
		return false, err
	}
	if err := run.verify(ctx, res); err != nil {
		return false, err
	}
	if run.table() {
		fmt.Fprintf(run.Out, "\n%s/%s: recovered; the API answers with the kubeconfig secret, nothing has expired, CAs unchanged.\n", run.ns, run.cluster)
		if !run.thenRotate {
			fmt.Fprintf(run.Out, "Next: rotate the cluster so that every machine is replaced with fresh keys:\n  tkgcert rotate -n %s %s\n", run.ns, run.cluster)
		}
	}
	return true, nil
}

// confirmPlan prints the plan and reports whether to go ahead: not when
// something keeps recovery from starting, nothing expired, on a dry run,
// or when the user declines.
func (run *recoverRun) confirmPlan() (bool, error) {
	plan := &run.out.Plan
	if run.table() {
		if err := recovery.WritePlan(run.Out, *plan); err != nil {
			return false, err
		}
	}
	switch {
	case len(plan.Problems) > 0:
		return false, fmt.Errorf("not recovering %s/%s, nothing was changed:\n  - %s", run.ns, run.cluster, strings.Join(plan.Problems, "\n  - "))
	case plan.Empty():
		if run.table() {
			fmt.Fprintf(run.Out, "\nNothing has expired: nothing to recover. To renew certificates before they expire, use `tkgcert rotate -n %s %s`.\n", run.ns, run.cluster)
		}
		return false, nil
	case run.dryRun:
		if run.table() {
			fmt.Fprintln(run.Out, "Dry run: nothing was changed.")
		}
		return false, nil
	}
	if !run.yes {
		if err := confirm(run.IOStreams, "recovering"); err != nil {
			return false, err
		}
	}
	return true, nil
}

// renew renews the expired certificates on the nodes, one at a time, and
// the kubeconfig secret.
func (run *recoverRun) renew(ctx context.Context) (*recovery.Result, error) {
	key, err := source.SSHKey(ctx, run.r.Client(), run.ns, run.cluster)
	if err != nil {
		return nil, err
	}
	dialer, err := remote.NewDialer(key, run.sshOpts)
	if err != nil {
		return nil, err
	}
	defer dialer.Close()
	endpoint, err := run.r.ControlPlaneEndpoint(ctx, run.ns, run.cluster)
	if err != nil {
		return nil, err
	}
	res, err := recovery.Run(ctx, recovery.Options{
		Client: run.r.Client(), Dialer: dialer, ClusterAPIVersion: run.before.ClusterAPIVersion,
		ControlPlaneEndpoint: endpoint,
		NodeTimeout:          run.nodeTimeout, StaticPodWait: run.staticPodWait,
		Fault: run.fault, Log: run.logf, Held: run.lock.Err,
	}, run.out.Plan)
	run.out.Result = res
	if run.table() && res != nil && len(res.Nodes) > 0 {
		fmt.Fprintln(run.Out)
		run.writeNodes(res)
	}
	if res != nil {
		for _, w := range res.Warnings {
			fmt.Fprintf(run.ErrOut, "warning: %s\n", w)
		}
	}
	return res, err
}

// verify checks the cluster again: the kubeconfig secret works, nothing
// has expired, the renewed certificates are new and the CAs unchanged.
func (run *recoverRun) verify(ctx context.Context, res *recovery.Result) error {
	run.logf("Recovery done; verifying")
	after, err := run.inventory(ctx)
	if err != nil {
		return err
	}
	v := recovery.Verify(run.before, after, res, time.Now())
	if err := rollout.KubeconfigWorks(ctx, run.r, run.ns, run.cluster); err != nil {
		v.Problems = append(v.Problems, fmt.Sprintf("the %s-kubeconfig secret does not authenticate against the cluster: %v", run.cluster, err))
	}
	run.out.Verification = &struct {
		OK       bool     `json:"ok"`
		Problems []string `json:"problems,omitempty"`
		Warnings []string `json:"warnings,omitempty"`
	}{v.OK(), v.Problems, v.Warnings}
	if run.table() {
		fmt.Fprintln(run.Out)
		if err := rollout.WriteTable(run.Out, v); err != nil {
			return err
		}
	}
	for _, w := range v.Warnings {
		fmt.Fprintf(run.ErrOut, "warning: %s\n", w)
	}
	if !v.OK() {
		return fmt.Errorf("recovery ran, but verification failed:\n  - %s\nthe backups are still on the nodes (see above)", strings.Join(v.Problems, "\n  - "))
	}
	return nil
}

// rotate rotates the recovered cluster as tkgcert rotate does.
func (run *recoverRun) rotate(ctx context.Context) error {
	run.logf("Rotating %s/%s, as tkgcert rotate does", run.ns, run.cluster)
	streams := run.IOStreams
	if !run.table() {
		streams.Out = run.ErrOut // stdout holds the JSON document alone
	}
	rot := &rotateOptions{IOStreams: streams, kube: run.kube, ssh: run.ssh, yes: true, timeout: run.rotateTimeout, cluster: run.cluster, lockHolder: run.lock.Holder()}
	if err := rot.rotateOne(ctx, run.cfg, run.r, run.sshOpts, run.ns); err != nil {
		return fmt.Errorf("the cluster was recovered, but the rotation that followed failed: %w", err)
	}
	return nil
}

func (o *recoverOptions) writeNodes(res *recovery.Result) {
	tw := printer.NewTable(o.Out)
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
