package controller

import (
	"context"
	"fmt"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"

	"github.com/tkgcert/tkgcert/internal/capi"
)

// LeaderElectionID names the Lease the replicas compete for.
const LeaderElectionID = "tkgcert-controller"

// ManagerOptions are the process-level settings: endpoints and leader election.
type ManagerOptions struct {
	// MetricsBindAddress serves /metrics ("0" disables it).
	MetricsBindAddress string
	// HealthProbeBindAddress serves /healthz and /readyz ("0" disables them).
	HealthProbeBindAddress string
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

// Run runs the controller in a controller-runtime manager until ctx ends.
func Run(ctx context.Context, cfg *rest.Config, mo ManagerOptions, o Options) error {
	scheme, err := capi.NewScheme()
	if err != nil {
		return err
	}
	opts := manager.Options{
		Scheme:                        scheme,
		Logger:                        o.Log,
		Metrics:                       metricsserver.Options{BindAddress: mo.MetricsBindAddress},
		HealthProbeBindAddress:        mo.HealthProbeBindAddress,
		LeaderElection:                mo.LeaderElection,
		LeaderElectionID:              LeaderElectionID,
		LeaderElectionNamespace:       mo.LeaderElectionNamespace,
		LeaderElectionReleaseOnCancel: true,
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
	c, err := New(cfg, ctrlmetrics.Registry, o)
	if err != nil {
		return err
	}
	if err := mgr.Add(c); err != nil {
		return err
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	if err := mgr.AddReadyzCheck("ping", healthz.Ping); err != nil {
		return err
	}
	return mgr.Start(ctx)
}
