package cli

import (
	"bufio"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/duration"
	"github.com/tkgcert/tkgcert/internal/fleet"
	"github.com/tkgcert/tkgcert/internal/inventory"
	"github.com/tkgcert/tkgcert/internal/remote"
	"github.com/tkgcert/tkgcert/internal/rollout"
	"github.com/tkgcert/tkgcert/internal/source"
)

type rotateOptions struct {
	genericiooptions.IOStreams
	kube    *kubeOptions
	ssh     sshFlags
	yes     bool
	dryRun  bool
	workers bool
	timeout time.Duration
	cluster string

	withinS  string
	within   time.Duration
	parallel int
	prefix   string // "ns/name: " in fleet mode
	// lockHolder is the cluster lock the rotation runs under (recover
	// --then-rotate's).
	lockHolder string
}

func newRotateCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &rotateOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "rotate (CLUSTER | --expiring-within DURATION)",
		Short: "Renew a cluster's certificates by rolling its control plane, safely, and verify the result",
		Long: `Rotate does what the vendor's procedure does by hand (steps 5 to 8), as one command:

  1. Check every certificate (as "tkgcert check" does) and refuse, changing nothing, when
     a certificate has already expired (use "tkgcert recover"), the cluster or its
     KubeadmControlPlane is paused, a control-plane machine is not Running with a node,
     the control plane reports unhealthy components or etcd, or you may not patch it.
  2. Show the plan and ask for confirmation (--yes skips it; --dry-run stops here).
  3. Set spec.rolloutAfter (Cluster API v1beta1) or spec.rollout.after (v1beta2) to the
     Supervisor's current time, with optimistic concurrency, and record an Event.
     When a rollout is already under way, attach to it instead.
  4. Follow the rolling replacement machine by machine until it is done.
  5. Verify: every control-plane node is new, every certificate expires later, the CAs
     are unchanged, the kubeconfig secret still works, and the kubelets rotate.

Ctrl-C stops following only: the rollout continues on the Supervisor, and running the
same command again attaches to it. Exit code 0 only when the rollout completed and
verification passed.`,
		Example: `  tkgcert rotate -n tkg-cluster-ns tkg-cluster
  tkgcert rotate -n tkg-cluster-ns tkg-cluster --dry-run
  tkgcert rotate -n tkg-cluster-ns tkg-cluster --yes --timeout 30m

  # Fleet: every cluster whose leaf certificates expire within 60 days, most urgent
  # first, one at a time, continuing past a failed cluster
  tkgcert rotate -A --expiring-within 60d
  tkgcert rotate -A --expiring-within 60d --parallel 2 --yes`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if o.timeout <= 0 {
				return fmt.Errorf("--timeout must be positive")
			}
			if len(args) == 1 {
				if o.kube.allNamespaces || o.withinS != "" {
					return fmt.Errorf("name one cluster (with -n), or rotate a fleet with --expiring-within (with -n or -A), not both")
				}
				o.cluster = args[0]
				return o.Run(cmd.Context())
			}
			if o.withinS == "" {
				return fmt.Errorf("name a cluster, or use --expiring-within to rotate every cluster whose certificates expire within that time")
			}
			var err error
			if o.within, err = duration.Parse(o.withinS); err != nil {
				return fmt.Errorf("--expiring-within: %w", err)
			}
			if o.parallel < 1 {
				return fmt.Errorf("--parallel must be at least 1")
			}
			return o.RunFleet(cmd.Context())
		},
	}
	o.kube = newKubeOptions(cmd)
	o.ssh.add(cmd)
	f := cmd.Flags()
	f.BoolVarP(&o.yes, "yes", "y", false, "Do not ask for confirmation")
	f.BoolVar(&o.dryRun, "dry-run", false, "Show the plan and the exact patch, change nothing")
	f.BoolVar(&o.workers, "workers", false, "Also roll the cluster's MachineDeployments afterwards (for kubelets that do not rotate their certificates)")
	f.DurationVar(&o.timeout, "timeout", 60*time.Minute, "How long to follow the rollout before giving up with a diagnosis")
	f.StringVar(&o.withinS, "expiring-within", "", "Fleet mode: rotate every cluster in scope whose earliest leaf certificate expires within this time (e.g. 60d)")
	f.IntVar(&o.parallel, "parallel", 1, "Fleet mode: clusters rotated at the same time")
	return cmd
}

func (o *rotateOptions) logf(format string, args ...any) {
	fmt.Fprintf(o.ErrOut, "%s %s%s\n", time.Now().Format("15:04:05"), o.prefix, fmt.Sprintf(format, args...))
}

// connect reaches the Supervisor and prepares the SSH settings.
func (o *rotateOptions) connect() (*rest.Config, string, *fleet.Reader, remote.Options, error) {
	cfg, ns, err := o.kube.config()
	if err != nil {
		return nil, "", nil, remote.Options{}, err
	}
	r, err := o.kube.newReader(cfg)
	if err != nil {
		return nil, "", nil, remote.Options{}, err
	}
	sshOpts, err := o.ssh.options(func(msg string) { fmt.Fprintf(o.ErrOut, "warning: %s\n", msg) })
	return cfg, ns, r, sshOpts, err
}

// Run rotates the one named cluster.
func (o *rotateOptions) Run(ctx context.Context) error {
	cfg, ns, r, sshOpts, err := o.connect()
	if err != nil {
		return err
	}
	return o.rotateOne(ctx, cfg, r, sshOpts, ns)
}

// rotation is the engine, set up for this command.
func (o *rotateOptions) rotation(cfg *rest.Config, r *fleet.Reader, sshOpts remote.Options) *rollout.Rotation {
	return &rollout.Rotation{Reader: r, Config: cfg, SSH: sshOpts, Source: source.SSH, Timeout: o.timeout, Workers: o.workers, LockHolder: o.lockHolder,
		OnEvent: func(e rollout.Event) {
			if e.Stage == rollout.StageWarning {
				o.logf("warning: %s", e.Message)
				return
			}
			o.logf("%s", e.Message)
		}}
}

// rotateOne rotates o.cluster in ns with the rotation engine, rendering its
// events: a log line each, or on a terminal a live block of the machines.
func (o *rotateOptions) rotateOne(ctx context.Context, cfg *rest.Config, r *fleet.Reader, sshOpts remote.Options, ns string) error {
	rot := o.rotation(cfg, r, sshOpts)
	var live *liveDisplay
	if o.prefix == "" && isTerminal(o.ErrOut) {
		log := rot.OnEvent
		rot.OnFollow = func(after time.Time) {
			live = newLiveDisplay(o.ErrOut, after, false)
			rot.OnEvent = func(e rollout.Event) { live.line(e.Message) }
			rot.OnChange = live.update
		}
		defer func() {
			if live != nil {
				live.close()
			}
			rot.OnEvent = log
		}()
	}
	res, err := rot.Run(ctx, ns, o.cluster, func(p *rollout.Plan) error {
		o.printPlan(p)
		if o.dryRun {
			fmt.Fprintln(o.Out, "Dry run: nothing was changed.")
			return rollout.ErrDryRun
		}
		if !o.yes {
			return confirm(o.IOStreams, "rotating")
		}
		return nil
	})
	if live != nil {
		live.close()
		live = nil
	}
	if err != nil || res == nil {
		return err
	}
	v := res.Verification
	if err := rollout.WriteTable(o.Out, v); err != nil {
		return err
	}
	for _, w := range v.Warnings {
		fmt.Fprintf(o.ErrOut, "warning: %s\n", w)
	}
	if !v.OK() {
		return fmt.Errorf("verification failed:\n  - %s", strings.Join(v.Problems, "\n  - "))
	}
	fmt.Fprintf(o.Out, "\n%s/%s: every control-plane node is new, every certificate expires later, CAs unchanged, kubeconfig secret works.\n", ns, o.cluster)
	return nil
}

func (o *rotateOptions) printPlan(p *rollout.Plan) {
	cl := p.Cluster
	fmt.Fprintf(o.Out, "Plan for %s/%s (Cluster API %s):\n", cl.Namespace, cl.Name, cl.APIVersion)
	if name, at, ok := p.Before.EarliestLeaf(); ok {
		fmt.Fprintf(o.Out, "  earliest expiry now: %s (%s, %s)\n", at.UTC().Format(certs.DateLayout), name, certs.ResidualTime(at.Sub(p.Now)))
	}
	fmt.Fprintf(o.Out, "  replace %d control-plane machines, one at a time:", len(cl.ControlPlaneMachines()))
	for _, m := range cl.ControlPlaneMachines() {
		fmt.Fprintf(o.Out, " %s", m.Name)
	}
	if o.workers {
		fmt.Fprintf(o.Out, "\n  then replace the workers of %d MachineDeployments", len(cl.MachineDeployments))
	} else {
		fmt.Fprint(o.Out, "\n  workers are not touched (--workers rolls them too)")
	}
	fmt.Fprintf(o.Out, "\n  patch KubeadmControlPlane %s (%s = Supervisor time):\n    %s\n", cl.ControlPlane.Name, p.Field, p.Patch)
}

// confirm asks on the terminal before a command changes a cluster; what
// names the action in the refusal ("rotating", "recovering").
func confirm(st genericiooptions.IOStreams, what string) error {
	if !isTerminal(st.In) {
		return fmt.Errorf("not %s without confirmation: run on a terminal, or pass --yes", what)
	}
	fmt.Fprint(st.ErrOut, "Proceed? [y/N] ")
	line, _ := bufio.NewReader(st.In).ReadString('\n')
	if a := strings.ToLower(strings.TrimSpace(line)); a != "y" && a != "yes" {
		return fmt.Errorf("not %s: not confirmed", what)
	}
	return nil
}

// inventoryOne reads one cluster over SSH, as rotate and recover do before
// and after they act.
func inventoryOne(ctx context.Context, r *fleet.Reader, ns, cluster string, sshOpts remote.Options) (*inventory.ClusterReport, error) {
	rep, err := inventory.Run(ctx, r, inventory.Options{Namespace: ns, Clusters: []string{cluster}, Source: source.SSH, SSH: sshOpts})
	if err != nil {
		return nil, err
	}
	return &rep.Clusters[0], nil
}
