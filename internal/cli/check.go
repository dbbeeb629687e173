package cli

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/tkgcert/tkgcert/internal/duration"
	"github.com/tkgcert/tkgcert/internal/fleet"
	"github.com/tkgcert/tkgcert/internal/inventory"
	"github.com/tkgcert/tkgcert/internal/printer"
	"github.com/tkgcert/tkgcert/internal/remote"
	"github.com/tkgcert/tkgcert/internal/report"
	"github.com/tkgcert/tkgcert/internal/source"
)

type checkOptions struct {
	genericiooptions.IOStreams
	kube *kubeOptions

	print      *printer.PrintFlags
	thresholds thresholdFlags
	sourceName string
	parallel   int
	ssh        sshFlags

	clusters []string
	src      source.Kind
}

// thresholdFlags are --warn and --critical, the exit-code thresholds of
// check, kubelet and supervisor check.
type thresholdFlags struct {
	warnS, criticalS string
	warn, critical   time.Duration
}

func (t *thresholdFlags) add(cmd *cobra.Command) {
	cmd.Flags().StringVar(&t.warnS, "warn", "30d", "Warn about certificates expiring within this time")
	cmd.Flags().StringVar(&t.criticalS, "critical", "7d", "Critical for certificates expiring within this time")
}

// complete parses the flags.
func (t *thresholdFlags) complete() error {
	var err error
	t.warn, t.critical, err = thresholds(t.warnS, t.criticalS)
	return err
}

// sshFlags are the SSH settings shared by every command that reaches nodes.
type sshFlags struct {
	user, jump, policy, knownHosts string
	port                           int
	timeout                        time.Duration
}

func (s *sshFlags) add(cmd *cobra.Command) {
	f := cmd.Flags()
	f.StringVar(&s.user, "ssh-user", "vmware-system-user", "SSH user on the nodes")
	f.IntVar(&s.port, "ssh-port", 22, "SSH port of the nodes")
	f.StringVar(&s.jump, "ssh-jump", "", "Reach the nodes through this host, [user@]host[:port] (a bastion or Supervisor node), with the cluster's key")
	f.DurationVar(&s.timeout, "ssh-timeout", 10*time.Second, "Timeout to connect to a node")
	f.StringVar(&s.policy, "host-key-policy", string(remote.AcceptNew), "Host key checking: strict, accept-new (remember new hosts), or insecure (like StrictHostKeyChecking=no)")
	f.StringVar(&s.knownHosts, "known-hosts", "", "known_hosts file (default: tkgcert/known_hosts in the user's config directory)")
}

func (s *sshFlags) options(warn func(string)) (remote.Options, error) {
	policy, err := remote.ParseHostKeyPolicy(s.policy)
	if err != nil {
		return remote.Options{}, err
	}
	kh := s.knownHosts
	if kh == "" && policy != remote.Insecure {
		if kh, err = remote.DefaultKnownHostsPath(); err != nil {
			return remote.Options{}, err
		}
	}
	if s.port < 1 || s.port > 65535 {
		return remote.Options{}, fmt.Errorf("--ssh-port %d: want 1 to 65535", s.port)
	}
	return remote.Options{User: s.user, Port: s.port, Timeout: s.timeout, Jump: s.jump,
		HostKeyPolicy: policy, KnownHostsFile: kh, Warn: warn}, nil
}

func newCheckCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &checkOptions{IOStreams: streams, print: printer.NewPrintFlags(printer.Table, printer.JSON, printer.YAML, printer.HTML)}
	cmd := &cobra.Command{
		Use:   "check [CLUSTER...]",
		Short: "Show every certificate of every node, as kubeadm does, with exit codes for monitoring",
		Long: `Check reads every certificate of the clusters in scope: on each control-plane node the
kubeadm PKI (shown as ` + "`kubeadm certs check-expiration`" + ` shows it), on every node the kubelet's
client certificate and whether it rotates, and from the Supervisor the cluster's CAs and the
kubeconfig secret's client certificate. Without CLUSTER names it checks every cluster in the
namespace (or in all namespaces with -A).

Sources (--source):
  ssh      read the PKI files over SSH and parse them (default; the cluster's key from
           <cluster>-ssh is held in memory only, private keys never leave the nodes)
  kubeadm  run "sudo kubeadm certs check-expiration" on each node and parse its output
  tls      read the serving certificates from ports 6443, 2379, 2380, 10250, 10257, 10259
           (no SSH; client certificates are not visible this way)

Exit codes:
  0  every certificate is valid for longer than --warn
  1  the check could not be completed for some cluster or node (errors are listed)
  2  some certificate expires within --warn
  3  some certificate expires within --critical, or has expired
(3 takes precedence over 2, and 2 over 1.)`,
		Example: `  # The seed's cluster, as in its step 5
  tkgcert check -n tkg-cluster-ns tkg-cluster

  # Every cluster of the Supervisor, for monitoring
  tkgcert check -A -o json > report.json; echo "exit $?"

  # One page to open in a browser, offline
  tkgcert check -A -o html > report.html

  # Several Supervisors (kubeconfig contexts) in one report
  tkgcert check -A --context vc01-supervisor --context vc02-supervisor
  tkgcert check -A --all-contexts

  # Without SSH, through a bastion, or with strict host keys
  tkgcert check -A --source tls
  tkgcert check -n prod --ssh-jump admin@10.0.0.5
  tkgcert check -n prod --host-key-policy strict --known-hosts ./known_hosts`,
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
	f := cmd.Flags()
	f.StringVar(&o.sourceName, "source", string(source.SSH), "How to read node certificates: ssh, kubeadm or tls")
	o.print.AddFlags(cmd)
	o.thresholds.add(cmd)
	f.IntVar(&o.parallel, "parallel", inventory.DefaultParallel, "Nodes read at the same time")
	o.ssh.add(cmd)
	return cmd
}

// Complete takes the clusters named and parses the flags.
func (o *checkOptions) Complete(args []string) error {
	var err error
	o.clusters = args
	if o.src, err = source.ParseKind(o.sourceName); err != nil {
		return err
	}
	return o.thresholds.complete()
}

// Validate checks the flags and the scope.
func (o *checkOptions) Validate() error {
	if err := o.print.Validate(); err != nil {
		return err
	}
	if o.parallel < 1 {
		return fmt.Errorf("--parallel must be at least 1")
	}
	return o.kube.validateScope(o.clusters)
}

// Run checks the clusters in scope, on every Supervisor of the run, and
// prints one report.
func (o *checkOptions) Run(ctx context.Context) error {
	// remote warns about the insecure host-key policy once per process.
	sshOpts, err := o.ssh.options(func(msg string) { fmt.Fprintf(o.ErrOut, "warning: %s\n", msg) })
	if err != nil {
		return err
	}
	progress := isTerminal(o.ErrOut) && !o.kube.multi()
	start := time.Now()
	reps, runs, err := eachSupervisor(ctx, o.kube, func(ctx context.Context, r *fleet.Reader, ns string) (*inventory.Report, error) {
		return inventory.Run(ctx, r, inventory.Options{
			Namespace: ns, Clusters: o.clusters, Source: o.src, Parallel: o.parallel, SSH: sshOpts,
			Progress: func(done, total int) {
				if progress {
					fmt.Fprintf(o.ErrOut, "\rchecked %d/%d nodes", done, total)
					if done == total {
						fmt.Fprintln(o.ErrOut)
					}
				}
			},
		})
	})
	if err != nil {
		return err
	}
	rep := mergeReports(reps, runs, start, string(o.src))
	v := inventory.Evaluate(rep, o.thresholds.warn, o.thresholds.critical)
	if o.print.Page() {
		err = report.HTML(o.Out, rep, v, o.htmlOptions("check"))
	} else {
		err = o.print.Print(o.Out, rep, func() error {
			return report.CheckTable(o.Out, rep, v, rep.GeneratedAt, report.Style{Color: isTerminal(o.Out)})
		})
	}
	if err != nil {
		return err
	}
	if progress {
		fmt.Fprintf(o.ErrOut, "checked %d clusters in %s\n", len(rep.Clusters), time.Since(start).Round(time.Millisecond))
	}
	if v.Errors > 0 && !o.print.Human() {
		fmt.Fprintf(o.ErrOut, "%d errors; see the errors fields of the report\n", v.Errors)
	}
	if v.Code != inventory.ExitOK {
		return &ExitError{Code: v.Code}
	}
	return nil
}

func (o *checkOptions) htmlOptions(command string) report.HTMLOptions {
	return report.HTMLOptions{Command: command, Scope: o.kube.scope(o.clusters),
		Warn: o.thresholds.warn, Critical: o.thresholds.critical}
}

// mergeReports makes one report of the Supervisors' reports: with one
// Supervisor its report as it is; with several, every cluster named with
// its Supervisor's context and the Supervisors that could not be read
// listed with their errors.
func mergeReports(reps []*inventory.Report, runs []inventory.SupervisorRun, start time.Time, src string) *inventory.Report {
	if runs == nil {
		return reps[0]
	}
	out := &inventory.Report{APIVersion: inventory.APIVersion, Kind: inventory.Kind, GeneratedAt: start.UTC(), Source: src,
		Clusters: []inventory.ClusterReport{}, Supervisors: runs}
	for i, rep := range reps {
		if rep == nil {
			continue
		}
		for _, cl := range rep.Clusters {
			cl.Supervisor = runs[i].Context
			out.Clusters = append(out.Clusters, cl)
		}
	}
	return out
}

// thresholds parses --warn and --critical, the exit-code thresholds of
// check and supervisor check.
func thresholds(warnS, criticalS string) (warn, critical time.Duration, err error) {
	if warn, err = duration.Parse(warnS); err != nil {
		return 0, 0, fmt.Errorf("--warn: %w", err)
	}
	if critical, err = duration.Parse(criticalS); err != nil {
		return 0, 0, fmt.Errorf("--critical: %w", err)
	}
	if critical > warn {
		return 0, 0, fmt.Errorf("--critical (%s) must not exceed --warn (%s)", criticalS, warnS)
	}
	return warn, critical, nil
}
