package controller

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/go-logr/logr"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/builder"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlcontroller "sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/tkgcert/tkgcert/internal/capi"
	"github.com/tkgcert/tkgcert/internal/fleet"
	"github.com/tkgcert/tkgcert/internal/inventory"
	"github.com/tkgcert/tkgcert/internal/remote"
	"github.com/tkgcert/tkgcert/internal/supervisor"
)

// LeaderElectionID names the Lease the replicas compete for.
const LeaderElectionID = "tkgcert-controller"

// EventSource names the controller in the Events it records.
const EventSource = "tkgcert"

// ManagerOptions are the process-level settings: endpoints and leader election.
type ManagerOptions struct {
	// MetricsBindAddress serves /metrics ("0" disables it).
	MetricsBindAddress string
	// MetricsSecure serves /metrics over HTTPS to authenticated and
	// authorized callers only: each request's bearer token is checked with
	// a TokenReview, then get on the non-resource URL /metrics with a
	// SubjectAccessReview (controller-runtime's filter).
	MetricsSecure bool
	// MetricsCertDir holds tls.crt and tls.key for the secure /metrics;
	// empty, a self-signed certificate is made in memory at start.
	MetricsCertDir string
	// HealthProbeBindAddress serves /healthz and /readyz ("0" disables them).
	HealthProbeBindAddress string
	// PprofBindAddress serves Go's /debug/pprof ("" or "0" disables it).
	PprofBindAddress string
	// LeaderElection makes replicas elect one leader; only the leader
	// inventories and rotates.
	LeaderElection bool
	// LeaderElectionNamespace holds the Lease (the pod's own namespace when
	// running in a cluster).
	LeaderElectionNamespace string
	// LeaseDuration, RenewDeadline and RetryPeriod tune leader election
	// (controller-runtime's defaults when zero: 15s, 10s, 2s).
	LeaseDuration, RenewDeadline, RetryPeriod time.Duration
}

// serviceAccountNamespaceFile is where a pod finds its namespace.
const serviceAccountNamespaceFile = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// knownHostsSecret makes the store of o.KnownHostsSecret, in the leader
// election namespace, or the pod's own; nil with the insecure policy.
func knownHostsSecret(cfg *rest.Config, mo ManagerOptions, o Options) (*KnownHostsSecret, error) {
	if o.SSH.HostKeyPolicy == remote.Insecure {
		return nil, nil
	}
	ns := mo.LeaderElectionNamespace
	if ns == "" {
		if b, err := os.ReadFile(serviceAccountNamespaceFile); err == nil {
			ns = strings.TrimSpace(string(b))
		}
	}
	if ns == "" {
		return nil, fmt.Errorf("--known-hosts-secret %s: no namespace to keep it in (outside a pod, pass --leader-election-namespace, or --known-hosts-secret \"\" to keep known hosts in the file only)", o.KnownHostsSecret)
	}
	path := o.SSH.KnownHostsFile
	if path == "" {
		var err error
		if path, err = remote.DefaultKnownHostsPath(); err != nil {
			return nil, err
		}
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	return NewKnownHostsSecret(cs.CoreV1(), ns, o.KnownHostsSecret, path), nil
}

// Run runs the controller in a controller-runtime manager until ctx ends:
// a reconciler per Cluster (watching Clusters, their KubeadmControlPlanes
// and Machines, metadata only), and on the leader a periodic read of the
// Supervisor side.
func Run(ctx context.Context, cfg *rest.Config, mo ManagerOptions, o Options) error {
	o.defaults()
	// A missing permission is counted and logged by resource and verb.
	forbidden := NewForbidden(ctrlmetrics.Registry, o.Log.WithName("access"))
	cfg = rest.CopyConfig(cfg)
	cfg.Wrap(forbidden.Wrap)
	scheme, err := capi.NewScheme()
	if err != nil {
		return err
	}
	reader, err := fleet.NewReader(cfg)
	if err != nil {
		return err
	}
	v := string(reader.Version())
	opts := manager.Options{
		Scheme:                        scheme,
		Logger:                        o.Log,
		Metrics:                       metricsOptions(mo),
		HealthProbeBindAddress:        mo.HealthProbeBindAddress,
		PprofBindAddress:              mo.PprofBindAddress,
		LeaderElection:                mo.LeaderElection,
		LeaderElectionID:              LeaderElectionID,
		LeaderElectionNamespace:       mo.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
		Cache:                         cache.Options{DefaultTransform: cache.TransformStripManagedFields()},
	}
	namespaces := o.Namespaces
	if o.Namespace != "" {
		namespaces = []string{o.Namespace}
	}
	if len(namespaces) > 0 {
		opts.Cache.DefaultNamespaces = map[string]cache.Config{}
		for _, ns := range namespaces {
			opts.Cache.DefaultNamespaces[ns] = cache.Config{}
		}
	}
	for _, d := range []struct {
		v   time.Duration
		dst **time.Duration
	}{{mo.LeaseDuration, &opts.LeaseDuration}, {mo.RenewDeadline, &opts.RenewDeadline}, {mo.RetryPeriod, &opts.RetryPeriod}} {
		if d.v > 0 {
			*d.dst = &d.v
		}
	}
	mgr, err := manager.New(cfg, opts)
	if err != nil {
		return fmt.Errorf("starting the manager: %w", err)
	}
	metrics := NewMetrics(ctrlmetrics.Registry)
	r, err := NewReconciler(cfg, metrics, mgr.GetEventRecorder(EventSource), o)
	if err != nil {
		return err
	}
	if o.KnownHostsSecret != "" {
		if r.knownHosts, err = knownHostsSecret(cfg, mo, o); err != nil {
			return err
		}
	}
	clusterMeta := func() *metav1.PartialObjectMetadata {
		m := &metav1.PartialObjectMetadata{}
		m.SetGroupVersionKind(schemaGVK("cluster.x-k8s.io/"+v, "Cluster"))
		return m
	}
	cacheReader := mgr.GetCache()
	r.exists = func(ctx context.Context, key types.NamespacedName) (bool, error) {
		err := cacheReader.Get(ctx, key, clusterMeta())
		if err == nil {
			return true, nil
		}
		if client.IgnoreNotFound(err) == nil {
			return false, nil
		}
		return false, err
	}
	// A Machine or KubeadmControlPlane event reconciles its cluster.
	toCluster := handler.EnqueueRequestsFromMapFunc(func(_ context.Context, obj client.Object) []reconcile.Request {
		name := obj.GetLabels()[fleet.ClusterNameLabel]
		if name == "" {
			return nil
		}
		return []reconcile.Request{{NamespacedName: types.NamespacedName{Namespace: obj.GetNamespace(), Name: name}}}
	})
	machineMeta, kcpMeta := &metav1.PartialObjectMetadata{}, &metav1.PartialObjectMetadata{}
	machineMeta.SetGroupVersionKind(schemaGVK("cluster.x-k8s.io/"+v, "Machine"))
	kcpMeta.SetGroupVersionKind(schemaGVK(fleet.ControlPlaneGroup+"/"+v, "KubeadmControlPlane"))
	err = builder.ControllerManagedBy(mgr).Named("cluster").
		For(clusterMeta()).
		Watches(machineMeta, toCluster).
		Watches(kcpMeta, toCluster).
		WithOptions(ctrlcontroller.Options{MaxConcurrentReconciles: o.Parallel}).
		Complete(r)
	if err != nil {
		return err
	}
	// The first full inventory: list the clusters once the leader starts.
	apiReader := mgr.GetAPIReader()
	if err := mgr.Add(leaderRunnable(func(ctx context.Context) error {
		return r.startRound(ctx, func(ctx context.Context) ([]metav1.PartialObjectMetadata, error) {
			l := &metav1.PartialObjectMetadataList{}
			l.SetGroupVersionKind(schemaGVK("cluster.x-k8s.io/"+v, "ClusterList"))
			if len(namespaces) == 0 {
				if err := apiReader.List(ctx, l); err != nil {
					return nil, fmt.Errorf("listing the clusters: %w", err)
				}
				return l.Items, nil
			}
			var items []metav1.PartialObjectMetadata
			for _, ns := range namespaces {
				if err := apiReader.List(ctx, l, client.InNamespace(ns)); err != nil {
					return nil, fmt.Errorf("listing the clusters in namespace %s: %w", ns, err)
				}
				items = append(items, l.Items...)
			}
			return items, nil
		})
	})); err != nil {
		return err
	}
	if o.Supervisor != nil {
		if err := mgr.Add(leaderRunnable(func(ctx context.Context) error {
			wait.JitterUntilWithContext(ctx, func(ctx context.Context) { supervisorInventory(ctx, cfg, *o.Supervisor, metrics, r.log) }, o.Resync, 0.1, true)
			return nil
		})); err != nil {
			return err
		}
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	return mgr.Start(ctx)
}

// metricsOptions serves /metrics in the clear, or with TLS, authentication
// and authorization.
func metricsOptions(mo ManagerOptions) metricsserver.Options {
	o := metricsserver.Options{BindAddress: mo.MetricsBindAddress}
	if mo.MetricsSecure {
		o.SecureServing = true
		o.CertDir = mo.MetricsCertDir
		o.FilterProvider = filters.WithAuthenticationAndAuthorization
	}
	return o
}

// leaderRunnable runs fn on the leader only.
type leaderRunnable func(ctx context.Context) error

func (f leaderRunnable) Start(ctx context.Context) error { return f(ctx) }
func (leaderRunnable) NeedLeaderElection() bool          { return true }

// supervisorInventory reads the Supervisor side and exports its certificates.
func supervisorInventory(ctx context.Context, cfg *rest.Config, so supervisor.Options, m *Metrics, log logr.Logger) {
	rep, err := inventory.RunSupervisor(ctx, cfg, so)
	if err != nil {
		if ctx.Err() == nil {
			m.CheckErrorsTotal.WithLabelValues("", "").Inc()
			log.Error(err, "Reading the Supervisor's endpoints")
		}
		return
	}
	sup := rep.Supervisor
	for _, w := range sup.Warnings {
		log.V(2).Info("Supervisor inventory", "warning", w)
	}
	errs := len(sup.Errors)
	for _, ep := range sup.Endpoints {
		errs += len(ep.Errors)
		for _, e := range ep.Errors {
			log.V(2).Info("Supervisor endpoint not read", "endpoint", ep.Where(), "error", e)
		}
	}
	m.SetSupervisor(rep, errs)
}

func schemaGVK(apiVersion, kind string) schema.GroupVersionKind {
	return schema.FromAPIVersionAndKind(apiVersion, kind)
}
