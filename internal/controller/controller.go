package controller

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tkgcert/tkgcert/internal/certs/names"
	"github.com/tkgcert/tkgcert/internal/fleet"
	"github.com/tkgcert/tkgcert/internal/inventory"
	"github.com/tkgcert/tkgcert/internal/remote"
	"github.com/tkgcert/tkgcert/internal/rollout"
	"github.com/tkgcert/tkgcert/internal/source"
	"github.com/tkgcert/tkgcert/internal/supervisor"
)

// Options configure the controller.
type Options struct {
	// Namespace limits the scope ("" for every namespace).
	Namespace string
	// Selector limits the scope to Clusters with matching labels.
	Selector labels.Selector
	// Resync is the time between inventory passes (jittered by up to +10%).
	Resync time.Duration
	// Policy decides when to rotate.
	Policy Policy
	// MaxConcurrentRotations bounds the rollouts under way at once,
	// whoever started them.
	MaxConcurrentRotations int
	// DryRun inventories and exports metrics but writes nothing to the
	// Supervisor: no rollout, no Event, no status annotation. Rollouts
	// started by others are still followed and counted.
	DryRun bool
	// Source, Parallel, SSH and NodeTimeout configure the inventory, as
	// for `tkgcert check`.
	Source      source.Kind
	Parallel    int
	SSH         remote.Options
	NodeTimeout time.Duration
	// RolloutTimeout bounds how long one rollout is followed.
	RolloutTimeout time.Duration
	// FollowResync is how often a followed rollout is re-read without
	// watch events (default 30s).
	FollowResync time.Duration
	// Supervisor, when set, also inventories the Supervisor's own
	// endpoints and the vCenter trust domain every pass (as `tkgcert
	// supervisor check` does) and exports their certificates with empty
	// namespace and cluster labels.
	Supervisor *supervisor.Options
	// Log receives the controller's log; klog's by default.
	Log logr.Logger
}

// Controller inventories the clusters in scope and rotates them by policy.
// It is a controller-runtime Runnable that runs only on the leader.
type Controller struct {
	o       Options
	cfg     *rest.Config
	reader  *fleet.Reader
	watcher client.WithWatch
	metrics *Metrics
	log     logr.Logger
	by      string

	mu        sync.Mutex
	following map[string]bool // namespace/name of rollouts being followed
	// concluded is, per namespace/name, the "after" time of the last
	// rollout followed to its end: a pass that read the cluster while that
	// rollout was still under way must not follow (and count) it again.
	concluded map[string]time.Time
	wg        sync.WaitGroup
}

// New creates a controller against the Supervisor at cfg, registering its
// metrics with reg.
func New(cfg *rest.Config, reg prometheus.Registerer, o Options) (*Controller, error) {
	if o.Resync <= 0 {
		o.Resync = 4 * time.Hour
	}
	if o.MaxConcurrentRotations < 1 {
		o.MaxConcurrentRotations = 1
	}
	if o.RolloutTimeout <= 0 {
		o.RolloutTimeout = 60 * time.Minute
	}
	if o.Source == "" {
		o.Source = source.SSH
	}
	if o.Log.GetSink() == nil {
		o.Log = klog.Background()
	}
	r, err := fleet.NewReader(cfg)
	if err != nil {
		return nil, err
	}
	w, err := client.NewWithWatch(cfg, client.Options{Scheme: r.Client().Scheme()})
	if err != nil {
		return nil, err
	}
	return &Controller{o: o, cfg: cfg, reader: r, watcher: w, metrics: NewMetrics(reg), log: o.Log.WithName("controller"),
		following: map[string]bool{}, concluded: map[string]time.Time{}}, nil
}

// NeedLeaderElection makes the manager run the controller on the leader only.
func (c *Controller) NeedLeaderElection() bool { return true }

// Start runs inventory passes until ctx ends, then waits for the rollouts it
// follows to stop following (the rollouts themselves go on; the next leader
// attaches to them).
func (c *Controller) Start(ctx context.Context) error {
	c.by = rollout.WhoAmI(ctx, c.reader.Client()) + " (tkgcert controller)"
	c.log.Info("Starting", "resync", c.o.Resync, "rotateBefore", c.o.Policy.RotateBefore, "maintenanceWindow", windowString(c.o.Policy.Window),
		"maxConcurrentRotations", c.o.MaxConcurrentRotations, "dryRun", c.o.DryRun, "namespace", c.o.Namespace, "clusterAPIVersion", c.reader.Version())
	defer c.wg.Wait()
	for {
		wait := c.o.Resync + time.Duration(rand.Int64N(int64(c.o.Resync/10)+1))
		if err := c.Pass(ctx); err != nil && ctx.Err() == nil {
			// A pass that could not read the fleet is retried soon, not
			// after a whole resync period.
			wait = min(wait, time.Minute)
			c.log.Error(err, "Inventory pass failed; retrying", "after", wait)
		}
		select {
		case <-ctx.Done():
			c.log.Info("Stopping; rollouts under way continue on the Supervisor")
			return nil
		case <-time.After(wait):
		}
	}
}

func windowString(w *Window) string {
	if w == nil {
		return "always"
	}
	return w.String()
}

func (c *Controller) inventoryOptions() inventory.Options {
	return inventory.Options{Namespace: c.o.Namespace, Selector: c.o.Selector, Source: c.o.Source,
		Parallel: c.o.Parallel, SSH: c.o.SSH, Timeout: c.o.NodeTimeout}
}

// now is the Supervisor's time (rollouts are compared with machines'
// creation times, which it sets), or the local time if it cannot say.
func (c *Controller) now(ctx context.Context) time.Time {
	if t, err := rollout.ServerTime(ctx, c.cfg); err == nil {
		return t
	}
	return time.Now()
}

// item is one cluster of a pass.
type item struct {
	cl *fleet.Cluster
	cr *inventory.ClusterReport
	d  Decision
}

// Pass inventories every cluster in scope, exports the results, follows the
// rollouts under way and starts the rotations that are due.
func (c *Controller) Pass(ctx context.Context) error {
	start := time.Now()
	c.log.V(2).Info("Inventory pass starting")
	clusters, err := c.reader.Clusters(ctx, c.o.Namespace, nil)
	if err != nil {
		c.metrics.CheckErrorsTotal.WithLabelValues("", "").Inc()
		return fmt.Errorf("reading the clusters: %w", err)
	}
	if sel := c.o.Selector; sel != nil && !sel.Empty() {
		clusters = slices.DeleteFunc(clusters, func(cl fleet.Cluster) bool { return !sel.Matches(labels.Set(cl.Labels)) })
	}
	rep := inventory.RunFor(ctx, c.reader, clusters, c.inventoryOptions())
	if ctx.Err() != nil {
		return ctx.Err()
	}
	byKey := map[string]*fleet.Cluster{}
	for i := range clusters {
		byKey[clusters[i].Key()] = &clusters[i]
	}
	now := c.now(ctx)
	var items []*item
	keep := map[string]bool{}
	for i := range rep.Clusters {
		cr := &rep.Clusters[i]
		cl := byKey[cr.Namespace+"/"+cr.Name]
		if cl == nil {
			continue // deleted since
		}
		keep[cl.Key()] = true
		it := &item{cl: cl, cr: cr, d: c.o.Policy.Decide(cl, cr, now)}
		c.metrics.SetCluster(cr, it.d, now)
		items = append(items, it)
	}
	c.metrics.Forget(keep)
	if c.o.Supervisor != nil {
		c.supervisorPass(ctx)
	}

	// Rollouts under way, whoever started them: follow them (a restarted
	// controller picks up its own here) and count them against the bound.
	active := 0
	for _, it := range items {
		if it.d.State == Rotating {
			active++
			c.follow(ctx, it.cl, it.cr, rollout.AttachTime(it.cl, now), false)
		}
	}
	due := slices.DeleteFunc(slices.Clone(items), func(it *item) bool { return it.d.State != RotationDue })
	slices.SortStableFunc(due, func(a, b *item) int { return a.d.Earliest.Compare(b.d.Earliest) })
	for _, it := range due {
		c.rotate(ctx, it, now, &active)
		c.metrics.SetState(it.cl.Namespace, it.cl.Name, it.d.State)
	}
	if !c.o.DryRun {
		c.publishAll(ctx, items)
	}
	took := time.Since(start)
	c.metrics.LastInventory.Set(unix(time.Now()))
	c.metrics.InventoryDuration.Set(took.Seconds())
	c.metrics.Clusters.Set(float64(len(items)))
	counts := map[State]int{}
	for _, it := range items {
		counts[it.d.State]++
	}
	kv := []any{"clusters", len(items), "duration", took.Round(time.Millisecond)}
	for _, s := range States {
		if counts[s] > 0 {
			kv = append(kv, string(s), counts[s])
		}
	}
	c.log.Info("Inventory pass done", kv...)
	return nil
}

// rotate starts the rotation of a due cluster if the bound and preflight
// allow, updating its decision.
func (c *Controller) rotate(ctx context.Context, it *item, now time.Time, active *int) {
	log := c.log.WithValues("cluster", klog.KRef(it.cl.Namespace, it.cl.Name))
	if c.o.DryRun {
		log.Info("Rotation due; dry run, not rotating", "reason", it.d.Reason)
		it.d.Reason += " (dry run: not rotating)"
		return
	}
	if *active >= c.o.MaxConcurrentRotations {
		log.V(2).Info("Rotation due; waiting for a rotation slot", "underWay", *active)
		it.d.Reason += fmt.Sprintf("; waiting for a rotation slot (%d of %d under way)", *active, c.o.MaxConcurrentRotations)
		return
	}
	// The pass read the cluster before inventorying the fleet, which may
	// take minutes: decide again on a fresh read before acting.
	fresh, err := c.reader.Clusters(ctx, it.cl.Namespace, []string{it.cl.Name})
	if err != nil {
		it.d.State, it.d.Reason = RotationBlocked, "reading the cluster before rotating: "+err.Error()
		return
	}
	now = c.now(ctx)
	it.cl = &fresh[0]
	if it.d = c.o.Policy.Decide(it.cl, it.cr, now); it.d.State != RotationDue {
		if it.d.State == Rotating {
			*active++
			c.follow(ctx, it.cl, it.cr, rollout.AttachTime(it.cl, now), false)
		}
		return
	}
	if problems := rollout.Preflight(ctx, c.reader.Client(), it.cl, it.cr, now); len(problems) > 0 {
		reasons := make([]string, len(problems))
		for i, p := range problems {
			reasons[i] = p.String()
		}
		it.d.State, it.d.Reason = RotationBlocked, "rotation due but refused by preflight: "+strings.Join(reasons, "; ")
		log.Info("Not rotating: preflight refused", "problems", reasons)
		return
	}
	log.Info("Triggering rollout", "reason", it.d.Reason)
	after, attached, err := rollout.Begin(ctx, c.reader, it.cl, now, c.by)
	var evErr *rollout.EventError
	switch {
	case errors.As(err, &evErr):
		log.Error(err, "Rollout triggered; its Event was not recorded")
	case err != nil:
		it.d.State, it.d.Reason = RotationBlocked, "triggering the rollout failed: "+err.Error()
		log.Error(err, "Triggering rollout failed")
		return
	}
	if !attached {
		c.metrics.RotationsStarted.WithLabelValues(it.cl.Namespace, it.cl.Name).Inc()
	}
	*active++
	it.d.State, it.d.Reason = Rotating, "rollout triggered at "+after.UTC().Format(time.RFC3339)
	c.follow(ctx, it.cl, it.cr, after, !attached)
}

// follow follows the cluster's rollout in the background (once per
// cluster), then inventories and verifies it.
func (c *Controller) follow(ctx context.Context, cl *fleet.Cluster, before *inventory.ClusterReport, after time.Time, triggered bool) {
	key := cl.Key()
	c.mu.Lock()
	// rolloutAfter has second precision.
	if last, ok := c.concluded[key]; c.following[key] || (ok && last.Equal(after.Truncate(time.Second))) {
		c.mu.Unlock()
		return
	}
	c.following[key] = true
	c.mu.Unlock()
	if !triggered {
		c.log.Info("Following a rollout under way", "cluster", klog.KRef(cl.Namespace, cl.Name), "after", after.UTC().Format(time.RFC3339))
		before = oldNodesOnly(before, cl, after)
	}
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		concluded := c.finish(ctx, *cl, before, after)
		c.mu.Lock()
		delete(c.following, key)
		if concluded {
			c.concluded[key] = after.Truncate(time.Second)
		}
		c.mu.Unlock()
	}()
}

// oldNodesOnly keeps the nodes of machines created before the rollout, so a
// rollout joined half-way is verified against the machines it replaces.
func oldNodesOnly(cr *inventory.ClusterReport, cl *fleet.Cluster, after time.Time) *inventory.ClusterReport {
	old := map[string]bool{}
	for _, m := range cl.Machines {
		if m.NodeName != "" && m.Created.Before(after) {
			old[m.NodeName] = true
		}
	}
	out := *cr
	out.Nodes = slices.DeleteFunc(slices.Clone(cr.Nodes), func(n inventory.NodeReport) bool { return n.Role == names.RoleControlPlane && !old[n.Name] })
	return &out
}

// finish follows a rollout to its end, then inventories, verifies and
// records the outcome. It returns false when ctx ended first (the next
// leader attaches).
func (c *Controller) finish(ctx context.Context, cl fleet.Cluster, before *inventory.ClusterReport, after time.Time) bool {
	log := c.log.WithValues("cluster", klog.KRef(cl.Namespace, cl.Name))
	f := &rollout.Follower{Reader: c.reader, Watcher: c.watcher, Resync: c.o.FollowResync,
		Report: func(s string) { log.V(2).Info("Rollout progress", "event", s) }}
	done, err := f.Follow(ctx, cl.Namespace, cl.Name, after, c.o.RolloutTimeout)
	if ctx.Err() != nil {
		return false
	}
	fail := func(msg string) {
		c.metrics.RotationsFailed.WithLabelValues(cl.Namespace, cl.Name).Inc()
		log.Info("Rotation failed", "reason", msg)
		if !c.o.DryRun {
			c.event(ctx, &cl, "Warning", "CertificateRotationFailed", msg)
		}
	}
	if err != nil {
		fail(err.Error())
		return true
	}
	c.forgetReplaced(before)
	o := c.inventoryOptions()
	o.Namespace, o.Clusters, o.Selector = cl.Namespace, []string{cl.Name}, nil
	rep, err := inventory.Run(ctx, c.reader, o)
	if err != nil {
		if ctx.Err() != nil {
			return false
		}
		fail("the rollout finished but the cluster could not be inventoried: " + err.Error())
		return true
	}
	cr := &rep.Clusters[0]
	v := rollout.Verify(before, cr)
	if err := rollout.KubeconfigWorks(ctx, c.reader.Client(), cl.Namespace, cl.Name); err != nil {
		v.Problems = append(v.Problems, fmt.Sprintf("the %s-kubeconfig secret does not authenticate against the cluster: %v", cl.Name, err))
	}
	now := c.now(ctx)
	d := c.o.Policy.Decide(done, cr, now)
	c.metrics.SetCluster(cr, d, now)
	if !v.OK() {
		fail("the rollout finished but verification failed: " + strings.Join(v.Problems, "; "))
		return true
	}
	c.metrics.RotationsOK.WithLabelValues(cl.Namespace, cl.Name).Inc()
	msg := "every control-plane machine was replaced; certificates renewed, CAs unchanged"
	if !d.Earliest.IsZero() {
		msg += "; earliest certificate now expires " + d.Earliest.UTC().Format(time.RFC3339)
	}
	log.Info("Rotation succeeded", "earliestExpiry", d.Earliest.UTC().Format(time.RFC3339))
	if !c.o.DryRun {
		c.event(ctx, done, "Normal", "CertificateRotationSucceeded", msg)
		c.publish(ctx, done, d)
	}
	return true
}

// forgetReplaced drops the replaced nodes' host keys from accept-new's
// known_hosts, as `tkgcert rotate` does.
func (c *Controller) forgetReplaced(before *inventory.ClusterReport) {
	if c.o.SSH.HostKeyPolicy != remote.AcceptNew || c.o.SSH.KnownHostsFile == "" {
		return
	}
	port := c.o.SSH.Port
	if port == 0 {
		port = remote.DefaultPort
	}
	var addrs []string
	for _, n := range before.Nodes {
		if n.Role == names.RoleControlPlane && n.Address != "" {
			addrs = append(addrs, net.JoinHostPort(n.Address, strconv.Itoa(port)))
		}
	}
	if _, err := remote.ForgetHosts(c.o.SSH.KnownHostsFile, addrs); err != nil {
		c.log.Error(err, "Forgetting the host keys of replaced machines")
	}
}

// supervisorPass reads the Supervisor side and exports its certificates.
func (c *Controller) supervisorPass(ctx context.Context) {
	rep, err := inventory.RunSupervisor(ctx, c.cfg, *c.o.Supervisor)
	if err != nil {
		c.metrics.CheckErrorsTotal.WithLabelValues("", "").Inc()
		c.log.Error(err, "Reading the Supervisor's endpoints")
		return
	}
	sup := rep.Supervisor
	for _, w := range sup.Warnings {
		c.log.V(2).Info("Supervisor inventory", "warning", w)
	}
	errs := len(sup.Errors)
	for _, ep := range sup.Endpoints {
		errs += len(ep.Errors)
		for _, e := range ep.Errors {
			c.log.V(2).Info("Supervisor endpoint not read", "endpoint", ep.Where(), "error", e)
		}
	}
	c.metrics.SetSupervisor(rep, errs)
}
