package controller

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/events"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

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
	// Namespaces limits the scope to several namespaces (with Namespace "").
	Namespaces []string
	// Selector limits the scope to Clusters with matching labels.
	Selector labels.Selector
	// Resync is the time between two inventories of a cluster (jittered by
	// up to +10%).
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
	// for `tkgcert check`. Parallel bounds the nodes read at once
	// fleet-wide: it is the number of clusters reconciled at once, each
	// reading its nodes one after the other.
	Source      source.Kind
	Parallel    int
	SSH         remote.Options
	NodeTimeout time.Duration
	// RolloutTimeout bounds how long one rollout is followed.
	RolloutTimeout time.Duration
	// MaxFailedRotations failed rotations within FailedRotationsWindow
	// stop the controller from starting new ones until the oldest of them
	// leaves the window (a circuit breaker; defaults 3 and 24h).
	MaxFailedRotations    int
	FailedRotationsWindow time.Duration
	// ReconcileTimeout bounds one reconcile (an inventory of the cluster,
	// a decision, a trigger or a verification; default 15m), so that a node
	// or a Supervisor that stops answering cannot hold a worker for ever.
	ReconcileTimeout time.Duration
	// FollowResync is how often a rollout under way is looked at without
	// watch events (default 30s).
	FollowResync time.Duration
	// Supervisor, when set, also inventories the Supervisor's own
	// endpoints and the vCenter trust domain every Resync (as `tkgcert
	// supervisor check` does) and exports their certificates with empty
	// namespace and cluster labels.
	Supervisor *supervisor.Options
	// Log receives the controller's log; klog's by default.
	Log logr.Logger
	// KnownHostsSecret, when set, names the Secret (in the controller's
	// namespace) that keeps the SSH known_hosts file across restarts and
	// leader changes (see KnownHostsSecret).
	KnownHostsSecret string
}

func (o *Options) defaults() {
	if o.Resync <= 0 {
		o.Resync = 4 * time.Hour
	}
	if o.MaxConcurrentRotations < 1 {
		o.MaxConcurrentRotations = 1
	}
	if o.RolloutTimeout <= 0 {
		o.RolloutTimeout = 60 * time.Minute
	}
	if o.ReconcileTimeout <= 0 {
		o.ReconcileTimeout = 15 * time.Minute
	}
	if o.MaxFailedRotations < 1 {
		o.MaxFailedRotations = 3
	}
	if o.FailedRotationsWindow <= 0 {
		o.FailedRotationsWindow = 24 * time.Hour
	}
	if o.FollowResync <= 0 {
		o.FollowResync = 30 * time.Second
	}
	if o.Parallel <= 0 {
		o.Parallel = inventory.DefaultParallel
	}
	if o.Source == "" {
		o.Source = source.SSH
	}
	if o.Log.GetSink() == nil {
		o.Log = klog.Background()
	}
}

// Reconciler inventories one Cluster per reconcile, decides by policy,
// rotates when due with the rotation engine, and follows the rollouts under
// way. The workqueue gives one reconcile in flight per cluster; RequeueAfter
// schedules the next inventory, or the moment a threshold or the
// maintenance window is reached. Everything that must survive a restart is
// on the Cluster (its status annotation); what is in memory is only the
// latest inventory, for metrics and to spare the nodes.
type Reconciler struct {
	o        Options
	cfg      *rest.Config
	reader   *fleet.Reader
	engine   *rollout.Rotation
	metrics  *Metrics
	recorder events.EventRecorder
	limits   *Limits
	log      logr.Logger
	// exists tells whether the Cluster is still there (the manager's
	// metadata cache).
	exists func(ctx context.Context, key types.NamespacedName) (bool, error)

	// knownHosts keeps the known_hosts file in a Secret; nil without.
	knownHosts *KnownHostsSecret

	mu       sync.Mutex
	clusters map[string]*clusterState
	round    *round
}

// clusterState is what the reconciler keeps of a cluster between reconciles.
type clusterState struct {
	report      *inventory.ClusterReport
	inventoried time.Time
	// following is the rollout this process follows (its time).
	following time.Time
	// status is the last status written (or, in a dry run, that would have
	// been), so that a dry run follows its rollouts too.
	status *ClusterStatus
}

// NewReconciler creates the reconciler against the Supervisor at cfg.
func NewReconciler(cfg *rest.Config, metrics *Metrics, recorder events.EventRecorder, o Options) (*Reconciler, error) {
	o.defaults()
	r, err := fleet.NewReader(cfg)
	if err != nil {
		return nil, err
	}
	if o.Namespace == "" {
		r.SetNamespaces(o.Namespaces)
	}
	engine := &rollout.Rotation{Reader: r, Config: cfg, SSH: o.SSH, Source: o.Source, Parallel: o.Parallel, NodeTimeout: o.NodeTimeout,
		Timeout: o.RolloutTimeout, FollowResync: o.FollowResync}
	log := o.Log.WithName("controller")
	engine.OnEvent = func(e rollout.Event) {
		ns, name, _ := strings.Cut(e.Cluster, "/")
		log.V(2).Info("Rotation progress", "cluster", klog.KRef(ns, name), "stage", e.Stage, "event", e.Message)
	}
	return &Reconciler{o: o, cfg: cfg, reader: r, engine: engine, metrics: metrics, recorder: recorder,
		limits: &Limits{Max: o.MaxConcurrentRotations, BreakerFailures: o.MaxFailedRotations, BreakerWindow: o.FailedRotationsWindow,
			reader: r, namespace: o.Namespace, selector: o.Selector},
		log: log, clusters: map[string]*clusterState{}, round: newRound(log, metrics)}, nil
}

func (c *Reconciler) state(key string) *clusterState {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.clusters[key]
	if !ok {
		s = &clusterState{}
		c.clusters[key] = s
	}
	return s
}

func (c *Reconciler) forget(key string) {
	c.mu.Lock()
	delete(c.clusters, key)
	c.mu.Unlock()
	c.metrics.Forget(key)
	c.round.done(key)
}

func (c *Reconciler) inScope(cl *fleet.Cluster) bool {
	if c.o.Namespace != "" && cl.Namespace != c.o.Namespace {
		return false
	}
	if c.o.Namespace == "" && len(c.o.Namespaces) > 0 && !slices.Contains(c.o.Namespaces, cl.Namespace) {
		return false
	}
	return c.o.Selector == nil || c.o.Selector.Empty() || c.o.Selector.Matches(labels.Set(cl.Labels))
}

// Reconcile brings one cluster up to date: read it, follow or conclude a
// rollout, inventory it when due, decide, rotate when due, publish.
func (c *Reconciler) Reconcile(ctx context.Context, req reconcile.Request) (reconcile.Result, error) {
	ctx, cancel := context.WithTimeout(ctx, c.o.ReconcileTimeout)
	defer cancel()
	key := req.String()
	log := c.log.WithValues("cluster", klog.KRef(req.Namespace, req.Name))
	if ok, err := c.exists(ctx, req.NamespacedName); err != nil {
		return reconcile.Result{}, err
	} else if !ok {
		log.V(2).Info("Cluster is gone; forgetting it")
		c.forget(key)
		return reconcile.Result{}, nil
	}
	cls, err := c.reader.Clusters(ctx, req.Namespace, []string{req.Name})
	if err != nil {
		if ok, _ := c.exists(ctx, req.NamespacedName); !ok {
			c.forget(key)
			return reconcile.Result{}, nil
		}
		if ctx.Err() != nil {
			return reconcile.Result{}, c.cutShort(req, ctx.Err())
		}
		c.metrics.CheckErrorsTotal.WithLabelValues(req.Namespace, req.Name).Inc()
		return reconcile.Result{}, fmt.Errorf("reading the cluster: %w", err)
	}
	cl := &cls[0]
	if !c.inScope(cl) {
		c.forget(key)
		return reconcile.Result{}, nil
	}
	if c.knownHosts != nil {
		// No node is dialled before the recorded host keys are in place:
		// accept-new would trust them all afresh.
		if err := c.knownHosts.Load(ctx); err != nil {
			log.Error(err, "Not reading the cluster's nodes: the known hosts could not be loaded")
			return reconcile.Result{}, err
		}
		defer c.saveKnownHosts(ctx, log)
	}
	st := c.state(key)
	if st.status == nil {
		st.status = readStatus(cl)
	}
	prev := st.status.DeepCopy()
	next := st.status.DeepCopy()
	now := c.engine.Now(ctx)

	var d Decision
	var requeue time.Duration
	if rollout.InProgress(cl, now) {
		d, requeue = c.underWay(ctx, log, cl, st, next, now)
	} else {
		c.limits.release(key)
		if next.Rotation != nil && next.Rotation.Outcome == "" {
			c.conclude(ctx, log, cl, st, next, now)
		}
		if st.report == nil || now.Sub(st.inventoried) >= c.o.Resync {
			c.inventory(ctx, cl, st, now)
		}
		d = c.o.Policy.Decide(cl, st.report, now)
		if d.State == RotationDue {
			requeue = c.rotate(ctx, log, cl, st, next, &d)
		}
	}
	if err := ctx.Err(); err != nil {
		return reconcile.Result{}, c.cutShort(req, err)
	}
	next.set(d, now)
	c.metrics.Set(cl.Namespace, cl.Name, st.report, d, st.inventoried, now)
	c.publish(ctx, log, cl, prev, next, d)
	st.status = next
	c.round.done(key)
	return reconcile.Result{RequeueAfter: c.requeueAfter(d, st, now, requeue)}, nil
}

// cutShort is the error of a reconcile whose context ended: past its
// deadline, it says so and counts as a check error (the workqueue retries
// it with backoff); a cancelled one (the manager stopping) is left as is.
func (c *Reconciler) cutShort(req reconcile.Request, err error) error {
	if !errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	c.metrics.CheckErrorsTotal.WithLabelValues(req.Namespace, req.Name).Inc()
	return fmt.Errorf("the reconcile did not finish within %s (nodes or the Supervisor not answering?); retried with backoff: %w", c.o.ReconcileTimeout, err)
}

// saveKnownHosts writes host keys recorded or pruned by the reconcile to
// the Secret.
func (c *Reconciler) saveKnownHosts(ctx context.Context, log logr.Logger) {
	changed, err := c.knownHosts.Save(ctx)
	if err != nil {
		log.Error(err, "Saving the known hosts failed; trying again after the next reconcile")
	} else if changed {
		log.V(4).Info("Saved the known hosts", "secret", klog.KRef(c.knownHosts.namespace, c.knownHosts.name))
	}
}

// inventory reads the cluster's certificates, its nodes one at a time (the
// reconciles in flight bound the nodes read at once, fleet-wide).
func (c *Reconciler) inventory(ctx context.Context, cl *fleet.Cluster, st *clusterState, now time.Time) {
	o := inventory.Options{Source: c.o.Source, Parallel: 1, SSH: c.o.SSH, Timeout: c.o.NodeTimeout}
	rep := inventory.RunFor(ctx, c.reader, []fleet.Cluster{*cl}, o)
	if ctx.Err() != nil || len(rep.Clusters) != 1 {
		return
	}
	st.report, st.inventoried = &rep.Clusters[0], now
	n := errorCount(st.report)
	if n > 0 {
		c.metrics.CheckErrorsTotal.WithLabelValues(cl.Namespace, cl.Name).Add(float64(n))
	}
	c.log.V(2).Info("Cluster inventoried", "cluster", klog.KRef(cl.Namespace, cl.Name), "nodes", len(st.report.Nodes), "errors", n)
}

// underWay handles a cluster whose control plane is rolling out, whoever
// started it: it records the rollout to verify it once it ends, and gives
// up following it after the rollout timeout. A rollout holds a rotation
// slot only while it is followed: one that outlasts the timeout (stuck, or
// a KubeadmControlPlane whose status is missing or stale) releases it and
// is not followed again.
func (c *Reconciler) underWay(ctx context.Context, log logr.Logger, cl *fleet.Cluster, st *clusterState, next *ClusterStatus, now time.Time) (Decision, time.Duration) {
	key := cl.Key()
	rec := next.Rotation
	if !sameRollout(rec, cl, now) {
		// A rollout this controller has no record of: started by someone
		// else, or by a leader that died before writing the record.
		if st.report == nil {
			c.inventory(ctx, cl, st, now)
		}
		timed := timedRollout(cl, now)
		rec = &RotationRecord{After: now.Truncate(time.Second).UTC(), External: !timed}
		if timed {
			rec.After = cl.ControlPlane.RolloutAfter.Truncate(time.Second).UTC()
		}
		if st.report != nil && timed {
			base := rollout.BaselineOf(st.report, cl, rec.After)
			rec.Baseline = &base
		}
		next.Rotation = rec
	}
	if !st.following.Equal(rec.After) && rec.Outcome == "" {
		log.Info("Following a rollout under way", "after", rec.After.UTC().Format(time.RFC3339), "triggered", rec.Triggered, "external", rec.External)
		st.following = rec.After
	}
	d := c.o.Policy.Decide(cl, st.report, now)
	if now.Sub(rec.After) > c.o.RolloutTimeout && rec.Outcome == "" {
		if rec.External {
			rec.Outcome, rec.TimedOut, rec.Baseline = OutcomeGaveUp, true, nil
			rec.Message = fmt.Sprintf("a rollout not started by tkgcert (or a KubeadmControlPlane status that never settles) was still under way after %s; no longer followed, its rotation slot is released: %s",
				c.o.RolloutTimeout, rollout.Diagnose(cl, rec.After))
			log.Info("Giving up following a rollout", "reason", rec.Message)
			c.event(cl, "Warning", "RolloutNotFollowed", rec.Message)
		} else {
			c.failed(ctx, log, cl, next, fmt.Sprintf("the rollout did not finish in time (%s): %s", c.o.RolloutTimeout, rollout.Diagnose(cl, rec.After)))
			rec.TimedOut = true
		}
	}
	if rec.Outcome != "" {
		c.limits.release(key)
		return d, 0
	}
	c.limits.hold(key)
	return d, c.o.FollowResync
}

// timedRollout tells whether the rollout under way is the one of the
// KubeadmControlPlane's rollout time: some control-plane machine predates
// a rollout time that has passed. Any other is external (an upgrade, a
// scale, a status that is missing or stale), judged by the counts.
func timedRollout(cl *fleet.Cluster, now time.Time) bool {
	for _, m := range cl.ControlPlaneMachines() {
		if cl.Outdated(m, now) {
			return true
		}
	}
	return false
}

// sameRollout tells whether rec is the rollout under way: one followed
// still, or one that timed out, which is not followed again.
func sameRollout(rec *RotationRecord, cl *fleet.Cluster, now time.Time) bool {
	if rec == nil || (rec.Outcome != "" && !rec.TimedOut) {
		return false
	}
	if rec.External {
		return !timedRollout(cl, now)
	}
	ra := cl.ControlPlane.RolloutAfter
	return ra != nil && rec.After.Equal(ra.Truncate(time.Second))
}

// conclude verifies a rollout the controller followed, once it ended.
func (c *Reconciler) conclude(ctx context.Context, log logr.Logger, cl *fleet.Cluster, st *clusterState, next *ClusterStatus, now time.Time) {
	rec := next.Rotation
	if rec.External {
		// Not tkgcert's rotation: it ended when the KubeadmControlPlane's
		// counts settled (the rollout is no longer in progress). Its machines
		// may be new: inventory again.
		cp := cl.ControlPlane
		rec.Outcome, rec.Baseline = OutcomeObserved, nil
		rec.Message = fmt.Sprintf("a rollout not started by tkgcert finished: the KubeadmControlPlane reports %d of %d machines up to date", cp.UpToDateReplicas, cp.Replicas)
		st.report = nil
		log.Info("A rollout not started by tkgcert finished", "upToDate", cp.UpToDateReplicas, "replicas", cp.Replicas)
		return
	}
	if !rollout.Done(cl, rec.After) {
		c.failed(ctx, log, cl, next, "the rollout ended without replacing every control-plane machine: "+rollout.Diagnose(cl, rec.After))
		return
	}
	var base rollout.Baseline
	if rec.Baseline != nil {
		base = *rec.Baseline
	}
	res, err := c.engine.Conclude(ctx, cl.Namespace, cl.Name, base)
	if ctx.Err() != nil {
		return
	}
	if err != nil {
		c.failed(ctx, log, cl, next, err.Error())
		return
	}
	st.report, st.inventoried = res.After, now
	if !res.Verification.OK() {
		c.failed(ctx, log, cl, next, "the rollout finished but verification failed: "+strings.Join(res.Verification.Problems, "; "))
		return
	}
	c.metrics.RotationsOK.WithLabelValues(cl.Namespace, cl.Name).Inc()
	rec.Outcome, rec.Message = OutcomeSucceeded, "every control-plane machine was replaced; certificates renewed, CAs unchanged"
	d := c.o.Policy.Decide(cl, st.report, now)
	if !d.Earliest.IsZero() {
		rec.Message += "; earliest certificate now expires " + d.Earliest.UTC().Format(time.RFC3339)
	}
	rec.Baseline = nil
	log.Info("Rotation succeeded", "earliestExpiry", d.Earliest.UTC().Format(time.RFC3339))
	c.event(cl, "Normal", "CertificateRotationSucceeded", rec.Message)
}

func (c *Reconciler) failed(ctx context.Context, log logr.Logger, cl *fleet.Cluster, next *ClusterStatus, msg string) {
	c.metrics.RotationsFailed.WithLabelValues(cl.Namespace, cl.Name).Inc()
	log.Info("Rotation failed", "reason", msg)
	next.Rotation.Outcome, next.Rotation.Message, next.Rotation.Baseline = OutcomeFailed, msg, nil
	c.event(cl, "Warning", "CertificateRotationFailed", msg)
	if opened, until := c.limits.noteFailure(time.Now()); opened {
		c.metrics.RotationsSuspended.Set(1)
		bmsg := fmt.Sprintf("%d rotations failed within %s: the controller starts no new rotation until %s (rollouts under way are still followed); find the cause in the CertificateRotationFailed Events",
			c.limits.BreakerFailures, c.limits.BreakerWindow, until.UTC().Format(time.RFC3339))
		log.Info("Rotations suspended", "reason", bmsg)
		c.event(cl, "Warning", "CertificateRotationsSuspended", bmsg)
	}
}

// rotate starts the rotation of a due cluster when the fleet-wide bound and
// preflight allow, updating its decision.
func (c *Reconciler) rotate(ctx context.Context, log logr.Logger, cl *fleet.Cluster, st *clusterState, next *ClusterStatus, d *Decision) time.Duration {
	if c.o.DryRun {
		log.Info("Rotation due; dry run, not rotating", "reason", d.Reason)
		d.Reason += " (dry run: not rotating)"
		return 0
	}
	if open, until := c.limits.breakerOpen(time.Now()); open {
		d.State = RotationBlocked
		d.Reason += fmt.Sprintf("; not rotating: %d rotations failed within %s, new rotations resume at %s", c.limits.BreakerFailures, c.limits.BreakerWindow, until.UTC().Format(time.RFC3339))
		return time.Until(until) + time.Second
	}
	c.metrics.RotationsSuspended.Set(0)
	var wait time.Duration
	err := c.limits.start(ctx, cl.Key(), func(underWay int) (bool, error) {
		if underWay >= c.limits.Max {
			log.V(2).Info("Rotation due; waiting for a rotation slot", "underWay", underWay)
			d.Reason += fmt.Sprintf("; waiting for a rotation slot (%d of %d under way)", underWay, c.limits.Max)
			wait = time.Minute
			return false, nil
		}
		// The decision may rest on an inventory hours old and a read of a
		// moment ago: read and decide again before acting.
		fresh, err := c.reader.Clusters(ctx, cl.Namespace, []string{cl.Name})
		if err != nil {
			d.State, d.Reason = RotationBlocked, "reading the cluster before rotating: "+err.Error()
			return false, nil
		}
		cur := &fresh[0]
		if *d = c.o.Policy.Decide(cur, st.report, c.engine.Now(ctx)); d.State != RotationDue {
			return false, nil
		}
		plan, err := c.engine.PlanFor(ctx, cur, st.report)
		if err != nil {
			d.State, d.Reason = RotationBlocked, "planning the rotation: "+err.Error()
			return false, nil
		}
		if len(plan.Problems) > 0 {
			reasons := make([]string, len(plan.Problems))
			for i, p := range plan.Problems {
				reasons[i] = p.String()
			}
			d.State, d.Reason = RotationBlocked, "rotation due but refused by preflight: "+strings.Join(reasons, "; ")
			log.Info("Not rotating: preflight refused", "problems", reasons)
			wait = 5 * time.Minute
			return false, nil
		}
		log.Info("Triggering rollout", "reason", d.Reason)
		c.engine.By = c.by(ctx)
		after, triggered, err := c.engine.Begin(ctx, plan)
		if err != nil {
			d.State, d.Reason = RotationBlocked, "triggering the rollout failed: "+err.Error()
			log.Error(err, "Triggering rollout failed")
			return false, nil
		}
		if triggered {
			c.metrics.RotationsStarted.WithLabelValues(cl.Namespace, cl.Name).Inc()
		}
		base := rollout.BaselineOf(st.report, nil, after)
		next.Rotation = &RotationRecord{After: after.Truncate(time.Second).UTC(), Triggered: triggered, Baseline: &base}
		st.following = next.Rotation.After
		d.State, d.Reason = Rotating, "rollout triggered at "+after.UTC().Format(time.RFC3339)
		wait = c.o.FollowResync
		return true, nil
	})
	if err != nil {
		d.State, d.Reason = RotationBlocked, "counting the rollouts under way: "+err.Error()
		wait = time.Minute
	}
	return wait
}

func (c *Reconciler) by(ctx context.Context) string {
	if c.engine.By == "" {
		return rollout.WhoAmI(ctx, c.reader.Client()) + " (tkgcert controller)"
	}
	return c.engine.By
}

// requeueAfter schedules the next reconcile: the next inventory, or earlier
// when the cluster crosses its threshold, the maintenance window opens, or
// something under way needs a look (extra).
func (c *Reconciler) requeueAfter(d Decision, st *clusterState, now time.Time, extra time.Duration) time.Duration {
	next := st.inventoried.Add(c.o.Resync + time.Duration(rand.Int64N(int64(c.o.Resync/10)+1))).Sub(now)
	switch d.State {
	case Healthy:
		if due := d.Earliest.Add(-d.Threshold).Sub(now); due > 0 {
			next = min(next, due)
		}
	case WaitingForWindow:
		if w := c.o.Policy.Window; w != nil {
			next = min(next, w.Next(now).Sub(now))
		}
	}
	if extra > 0 {
		next = min(next, extra)
	}
	return max(next, time.Second)
}

// round notes when every cluster in scope at the start has been reconciled
// once: the controller's first full inventory, logged and exported.
type round struct {
	mu      sync.Mutex
	started time.Time
	// seen are the clusters reconciled so far; pending, once listed, those
	// still to be.
	seen    map[string]bool
	pending map[string]bool
	closed  bool
	log     logr.Logger
	metrics *Metrics
}

func newRound(log logr.Logger, m *Metrics) *round {
	return &round{started: time.Now(), seen: map[string]bool{}, log: log, metrics: m}
}

func (r *round) done(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return
	}
	r.seen[key] = true
	if r.pending != nil {
		delete(r.pending, key)
		r.check()
	}
}

// listed sets the clusters the round waits for.
func (r *round) listed(keys []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.pending = map[string]bool{}
	for _, k := range keys {
		if !r.seen[k] {
			r.pending[k] = true
		}
	}
	r.check()
}

func (r *round) check() {
	if len(r.pending) > 0 || r.closed {
		return
	}
	r.closed = true
	took := time.Since(r.started)
	r.metrics.InventoryDuration.Set(took.Seconds())
	r.metrics.Leading()
	r.log.Info("Every cluster inventoried", "clusters", len(r.seen), "duration", took.Round(time.Millisecond))
}

// startRound lists the clusters in scope (metadata only) when the
// controller starts leading, and logs its settings.
func (c *Reconciler) startRound(ctx context.Context, list func(ctx context.Context) ([]metav1.PartialObjectMetadata, error)) error {
	items, err := list(ctx)
	if err != nil {
		return err
	}
	var keys []string
	for _, it := range items {
		if c.o.Selector == nil || c.o.Selector.Matches(labels.Set(it.Labels)) {
			keys = append(keys, it.Namespace+"/"+it.Name)
		}
	}
	c.log.Info("Starting", "clusters", len(keys), "resync", c.o.Resync, "rotateBefore", c.o.Policy.RotateBefore,
		"maintenanceWindow", windowString(c.o.Policy.Window), "maxConcurrentRotations", c.o.MaxConcurrentRotations,
		"dryRun", c.o.DryRun, "namespace", c.o.Namespace, "namespaces", c.o.Namespaces, "clusterAPIVersion", c.reader.Version())
	c.round.listed(keys)
	return nil
}

func windowString(w *Window) string {
	if w == nil {
		return "always"
	}
	return w.String()
}

func errorCount(cr *inventory.ClusterReport) int {
	if cr == nil {
		return 0
	}
	n := len(cr.Errors)
	for _, node := range cr.Nodes {
		n += len(node.Errors)
	}
	return n
}
