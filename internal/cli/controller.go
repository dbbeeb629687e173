package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/klog/v2"
	"k8s.io/klog/v2/textlogger"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/tkgcert/tkgcert/internal/controller"
	"github.com/tkgcert/tkgcert/internal/duration"
	"github.com/tkgcert/tkgcert/internal/inventory"
	"github.com/tkgcert/tkgcert/internal/source"
	"github.com/tkgcert/tkgcert/internal/supervisor"
)

type controllerOptions struct {
	genericiooptions.IOStreams
	kube     *genericclioptions.ConfigFlags
	ssh      sshFlags
	mgr      controller.ManagerOptions
	opts     controller.Options
	selector string
	window   string
	before   string
	minInt   string
	source   string
	verbose  int

	supervisor          bool
	vcenters, endpoints []string
	vmcaRootFiles       []string
}

func newControllerCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &controllerOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:   "controller",
		Short: "Run the controller: inventory every cluster periodically, export metrics, rotate before expiry",
		Long: `The controller runs on the Supervisor (in-cluster) or against it (--kubeconfig). It
reconciles each Cluster in scope on its own: a new Cluster is seen at once (by watch), each
is inventoried every --resync (jittered) exactly as "tkgcert check" does, and looked at again
the moment it crosses its threshold or the maintenance window opens. It exports the result as
Prometheus metrics, Events and a tkgcert.io/status annotation on each Cluster (a versioned
JSON document with conditions), and rotates the clusters whose earliest leaf certificate expires within
--rotate-before, exactly as "tkgcert rotate" does:

  - only inside --maintenance-window, if one is given;
  - at most --max-concurrent-rotations rollouts at once (rollouts started by anyone count);
  - never a cluster that fails rotate's preflight (paused, unhealthy, not settled);
  - never a cluster whose certificates already expired: it raises an Event and the
    tkgcert_cluster_expired_certificates metric instead (use "tkgcert recover");
  - never the same cluster twice within --min-rotation-interval.

Per cluster, annotations change the policy:
  tkgcert.io/auto-rotate=false     inventory and alert only, never rotate
  tkgcert.io/rotate-before=60d     this cluster's own threshold

Replicas elect a leader (a Lease named tkgcert-controller); only the leader works. The
controller keeps no state of its own: restarted in the middle of a rollout, it follows that
rollout and never starts a second one.`,
		Example: `  # In the Supervisor: see config/default (kubectl apply -k config/default)

  # Against a Supervisor from a workstation, report only
  tkgcert controller --kubeconfig supervisor.kubeconfig --dry-run --leader-elect=false

  # Rotate 45 days before expiry, two clusters at a time, on Saturday mornings only
  tkgcert controller --rotate-before 45d --max-concurrent-rotations 2 \
    --maintenance-window "Sat 02:00-06:00 UTC"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Complete(cmd); err != nil {
				return err
			}
			return o.Run(cmd.Context())
		},
	}
	o.kube = genericclioptions.NewConfigFlags(true)
	o.kube.ClusterName = nil
	o.kube.AddFlags(cmd.Flags())
	o.ssh.add(cmd)
	addNamespacesFlag(cmd, &o.opts.Namespaces)
	f := cmd.Flags()
	f.StringVarP(&o.selector, "selector", "l", "", "Only Clusters with these labels (e.g. env=prod)")
	f.DurationVar(&o.opts.Resync, "resync", 4*time.Hour, "Time between two inventories of a cluster (plus up to 10% jitter)")
	f.StringVar(&o.before, "rotate-before", "30d", "Rotate a cluster when its earliest leaf certificate expires within this time")
	f.IntVar(&o.opts.MaxConcurrentRotations, "max-concurrent-rotations", 1, "Rollouts under way at once, at most")
	f.StringVar(&o.window, "maintenance-window", "", `Start rotations only inside this weekly window, e.g. "Sat 02:00-06:00 UTC" or "Mon-Fri 22:00-04:00 Europe/Berlin" ("" for any time)`)
	f.StringVar(&o.minInt, "min-rotation-interval", "1d", "Never rotate a cluster again within this time of tkgcert's last rotation of it")
	f.BoolVar(&o.opts.DryRun, "dry-run", false, "Inventory and export metrics only: no rollout, Event or annotation")
	f.DurationVar(&o.opts.RolloutTimeout, "rollout-timeout", 60*time.Minute, "How long to follow one rollout before counting it failed (someone else's: before no longer following it); either way it then holds no rotation slot")
	f.IntVar(&o.opts.MaxFailedRotations, "max-failed-rotations", 3, "Failed rotations within --failed-rotations-window that stop new rotations (a circuit breaker; tkgcert_rotations_suspended says so)")
	f.DurationVar(&o.opts.ReconcileTimeout, "reconcile-timeout", 15*time.Minute, "Bound on one reconcile of a cluster (its inventory, decision, trigger or verification); one that takes longer is retried with backoff")
	f.DurationVar(&o.opts.FailedRotationsWindow, "failed-rotations-window", 24*time.Hour, "The window of --max-failed-rotations")
	f.StringVar(&o.source, "source", string(source.SSH), "How nodes are read: ssh, kubeadm or tls (as for check)")
	f.IntVar(&o.opts.Parallel, "parallel", inventory.DefaultParallel, "Nodes read at once, fleet-wide (clusters reconciled at once, each reading its nodes in turn)")
	f.StringVar(&o.mgr.MetricsBindAddress, "metrics-bind-address", ":8443", `Address of /metrics ("0" disables it)`)
	f.BoolVar(&o.mgr.MetricsSecure, "metrics-secure", true, "Serve /metrics over HTTPS, only to callers the API server authenticates (TokenReview) and allows get on the URL /metrics (SubjectAccessReview); the controller's account needs config/manager's system:auth-delegator binding. false serves plain HTTP to anyone who reaches the port")
	f.StringVar(&o.mgr.MetricsCertDir, "metrics-cert-dir", "", "Directory with tls.crt and tls.key for the secure /metrics (default: a self-signed certificate made in memory at start)")
	f.StringVar(&o.mgr.HealthProbeBindAddress, "health-probe-bind-address", ":8081", `Address of /healthz and /readyz ("0" disables them)`)
	f.StringVar(&o.mgr.PprofBindAddress, "pprof-bind-address", "0", `Address of Go's /debug/pprof, for profiling memory and CPU ("0" disables it; do not expose it)`)
	f.BoolVar(&o.mgr.LeaderElection, "leader-elect", true, "Elect a leader among replicas (a Lease in --leader-election-namespace)")
	f.StringVar(&o.mgr.LeaderElectionNamespace, "leader-election-namespace", "", "Namespace of the leader Lease (default: the pod's own namespace; outside a pod, the kubeconfig context's namespace, or no leader election if it names none)")
	f.DurationVar(&o.mgr.LeaseDuration, "leader-election-lease-duration", 0, "How long a lost leader's Lease blocks the others (default 15s)")
	f.DurationVar(&o.mgr.RenewDeadline, "leader-election-renew-deadline", 0, "How long the leader retries renewing before giving up (default 10s)")
	f.DurationVar(&o.mgr.RetryPeriod, "leader-election-retry-period", 0, "How often candidates try to acquire the Lease (default 2s)")
	f.DurationVar(&o.opts.FollowResync, "follow-resync", 30*time.Second, "Re-read a followed rollout this often even without watch events")
	f.BoolVar(&o.supervisor, "supervisor-endpoints", true, "Also inventory the Supervisor's own endpoints and its Nodes (control-plane VMs, ESXi hosts), as \"tkgcert supervisor check\" does")
	f.StringArrayVar(&o.vcenters, "vcenter", nil, "vCenter Server to inventory too, HOST or HOST:PORT; repeatable")
	f.StringArrayVar(&o.endpoints, "endpoint", nil, "Another TLS endpoint to inventory, HOST:PORT; repeatable")
	f.StringArrayVar(&o.vmcaRootFiles, "vmca-root", nil, "PEM file with vCenter's VMCA root certificate(s); repeatable")
	f.StringVar(&o.opts.KnownHostsSecret, "known-hosts-secret", "", "Keep the known_hosts file in this Secret of the controller's namespace (loaded at start, written back when it changes), so that a restart or a new leader does not trust every node afresh; config/manager sets tkgcert-known-hosts")
	f.IntVarP(&o.verbose, "v", "v", 0, "Log verbosity (2: rollout progress, 4: details)")
	for _, name := range []string{"leader-election-lease-duration", "leader-election-renew-deadline", "leader-election-retry-period", "follow-resync"} {
		_ = f.MarkHidden(name)
	}
	return cmd
}

// Complete validates the flags and fills the controller's options.
func (o *controllerOptions) Complete(cmd *cobra.Command) error {
	var err error
	if o.opts.Policy.RotateBefore, err = duration.Parse(o.before); err != nil {
		return fmt.Errorf("--rotate-before: %w", err)
	}
	if o.opts.Policy.MinInterval, err = duration.Parse(o.minInt); err != nil {
		return fmt.Errorf("--min-rotation-interval: %w", err)
	}
	if o.window != "" {
		if o.opts.Policy.Window, err = controller.ParseWindow(o.window); err != nil {
			return fmt.Errorf("--maintenance-window: %w", err)
		}
	}
	if o.selector != "" {
		if o.opts.Selector, err = labels.Parse(o.selector); err != nil {
			return fmt.Errorf("--selector: %w", err)
		}
	}
	k, err := source.ParseKind(o.source)
	if err != nil {
		return fmt.Errorf("--source: %w", err)
	}
	o.opts.Source = k
	if o.supervisor || len(o.vcenters)+len(o.endpoints) > 0 {
		so := &supervisor.Options{Discover: o.supervisor, VCenters: o.vcenters, Endpoints: o.endpoints}
		if so.VMCARoots, err = vmcaRoots(o.vmcaRootFiles); err != nil {
			return err
		}
		o.opts.Supervisor = so
	}
	switch {
	case o.opts.Resync <= 0:
		return fmt.Errorf("--resync must be positive")
	case o.opts.MaxConcurrentRotations < 1:
		return fmt.Errorf("--max-concurrent-rotations must be at least 1")
	case o.opts.Parallel < 1:
		return fmt.Errorf("--parallel must be at least 1")
	case o.opts.RolloutTimeout <= 0:
		return fmt.Errorf("--rollout-timeout must be positive")
	case o.opts.MaxFailedRotations < 1:
		return fmt.Errorf("--max-failed-rotations must be at least 1")
	case o.opts.ReconcileTimeout <= 0:
		return fmt.Errorf("--reconcile-timeout must be positive")
	case o.opts.FailedRotationsWindow <= 0:
		return fmt.Errorf("--failed-rotations-window must be positive")
	}
	if cmd.Flags().Changed("namespace") {
		o.opts.Namespace = *o.kube.Namespace
	}
	if err := validateNamespaces(o.opts.Namespaces, false, cmd.Flags().Changed("namespace")); err != nil {
		return err
	}
	logger := textlogger.NewLogger(textlogger.NewConfig(textlogger.Verbosity(o.verbose), textlogger.Output(o.ErrOut)))
	klog.SetLogger(logger)
	ctrllog.SetLogger(logger)
	o.opts.Log = logger
	o.opts.SSH, err = o.ssh.options(func(msg string) { logger.Info(msg) })
	return err
}

// Run runs the controller until ctx ends (SIGINT, SIGTERM).
func (o *controllerOptions) Run(ctx context.Context) error {
	cfg, err := o.kube.ToRESTConfig()
	if err != nil {
		return fmt.Errorf("loading the Supervisor's kubeconfig: %w (point --kubeconfig or KUBECONFIG at it, or run in a pod)", err)
	}
	cfg.QPS, cfg.Burst = 200, 400
	if err := o.leaderElection(); err != nil {
		return err
	}
	if path := o.kubeconfigFile(); path != "" {
		// Logins expire: a token refreshed in the file is used at the
		// next rejected request, without a restart.
		cfg.Wrap(controller.ReloadOnUnauthorized(cfg, func() (*rest.Config, error) {
			c, err := o.freshKubeFlags().ToRESTConfig()
			if err != nil {
				return nil, err
			}
			c.QPS, c.Burst = cfg.QPS, cfg.Burst
			return c, nil
		}, o.opts.Log.WithName("kubeconfig").WithValues("file", path)))
	}
	return controller.Run(ctx, cfg, o.mgr, o.opts)
}

// serviceAccountNamespaceFile is where a pod finds its namespace (and
// controller-runtime the leader election's).
const serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// leaderElection settles the Lease's namespace outside a pod: the
// kubeconfig context's namespace, or no leader election if it names none.
func (o *controllerOptions) leaderElection() error {
	log := o.opts.Log
	if !o.mgr.LeaderElection || o.mgr.LeaderElectionNamespace != "" {
		return nil
	}
	if _, err := os.Stat(serviceAccountNamespaceFile); err == nil {
		return nil // in a pod: its own namespace
	}
	raw, err := o.kube.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return err
	}
	name := raw.CurrentContext
	if o.kube.Context != nil && *o.kube.Context != "" {
		name = *o.kube.Context
	}
	if c := raw.Contexts[name]; c != nil && c.Namespace != "" {
		o.mgr.LeaderElectionNamespace = c.Namespace
		log.Info("Not in a pod: leader election in the kubeconfig context's namespace", "context", name, "namespace", c.Namespace)
		return nil
	}
	o.mgr.LeaderElection = false
	log.Info("Not in a pod and the kubeconfig context names no namespace: leader election is off (run one replica, or set --leader-election-namespace)", "context", name)
	return nil
}

// kubeconfigFile is the kubeconfig file in use ("" in a pod without one).
func (o *controllerOptions) kubeconfigFile() string {
	if o.kube.KubeConfig != nil && *o.kube.KubeConfig != "" {
		return *o.kube.KubeConfig
	}
	for _, p := range filepath.SplitList(os.Getenv(clientcmd.RecommendedConfigPathEnvVar)) {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if _, err := os.Stat(clientcmd.RecommendedHomeFile); err == nil && os.Getenv("KUBERNETES_SERVICE_HOST") == "" {
		return clientcmd.RecommendedHomeFile
	}
	return ""
}

// freshKubeFlags are the kubeconfig flags as given, without the cached
// kubeconfig: loading them reads the file again.
func (o *controllerOptions) freshKubeFlags() *genericclioptions.ConfigFlags {
	f := genericclioptions.NewConfigFlags(false)
	k := o.kube
	f.KubeConfig, f.Context, f.AuthInfoName, f.Namespace, f.APIServer = k.KubeConfig, k.Context, k.AuthInfoName, k.Namespace, k.APIServer
	f.Impersonate, f.ImpersonateUID, f.ImpersonateGroup = k.Impersonate, k.ImpersonateUID, k.ImpersonateGroup
	f.Insecure, f.CAFile, f.CertFile, f.KeyFile, f.BearerToken, f.TLSServerName = k.Insecure, k.CAFile, k.CertFile, k.KeyFile, k.BearerToken, k.TLSServerName
	f.Username, f.Password, f.Timeout, f.DisableCompression = k.Username, k.Password, k.Timeout, k.DisableCompression
	return f
}
