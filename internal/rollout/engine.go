package rollout

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tkgcert/tkgcert/internal/capi"
	"github.com/tkgcert/tkgcert/internal/certs/names"
	"github.com/tkgcert/tkgcert/internal/fleet"
	"github.com/tkgcert/tkgcert/internal/inventory"
	"github.com/tkgcert/tkgcert/internal/lock"
	"github.com/tkgcert/tkgcert/internal/remote"
	"github.com/tkgcert/tkgcert/internal/source"
)

// Stage names a step of a rotation, in the Events it reports.
type Stage string

// The stages, in the order a rotation goes through them.
const (
	StageCheck    Stage = "Check"    // reading the cluster's certificates
	StageAttach   Stage = "Attach"   // a rollout is already under way: following it
	StageTrigger  Stage = "Trigger"  // patching the KubeadmControlPlane
	StageFollow   Stage = "Follow"   // following the rollout
	StageProgress Stage = "Progress" // a machine appeared, changed phase or went away
	StageWorkers  Stage = "Workers"  // rolling the MachineDeployments
	StageVerify   Stage = "Verify"   // reading and comparing the certificates again
	StageWarning  Stage = "Warning"  // something the user should know; the rotation goes on
)

// Event is one step of a rotation as it happens. The CLI prints them; the
// controller logs them.
type Event struct {
	// Cluster is namespace/name.
	Cluster string
	Stage   Stage
	Message string
}

// Rotation is the one rotation flow: preflight, begin (trigger or attach),
// follow, verify, forget the replaced machines' host keys, result. `tkgcert
// rotate` (one cluster or a fleet), `recover --then-rotate` and the
// controller all use it; the controller runs its steps one reconcile at a
// time, the CLI runs them in a row with Run.
type Rotation struct {
	// Reader reads the fleet on the Supervisor.
	Reader *fleet.Reader
	// Config reaches the Supervisor (its clock, watches).
	Config *rest.Config
	// Watcher opens watches (created from Config when nil).
	Watcher client.WithWatch
	// SSH, Source, Parallel and NodeTimeout read the nodes, as for check.
	SSH         remote.Options
	Source      source.Kind
	Parallel    int
	NodeTimeout time.Duration
	// By names who triggers, for the audit annotation and the Event
	// (WhoAmI's answer when empty).
	By string
	// Timeout bounds following one rollout (default 60m).
	Timeout time.Duration
	// FollowResync re-reads a followed rollout this often without watch
	// events (default 30s).
	FollowResync time.Duration
	// Workers also rolls the MachineDeployments after the control plane.
	Workers bool
	// OnEvent receives the rotation's progress (nil: dropped).
	OnEvent func(Event)
	// OnFollow, when set, is called with the rollout's time just before
	// following starts (a live display starts there).
	OnFollow func(after time.Time)
	// OnChange, when set, receives the cluster after every read while
	// following (for a live display).
	OnChange func(*fleet.Cluster)
	// LockHolder is the cluster lock this rotation runs under (recover
	// --then-rotate holds it); a lock held by anyone else is a preflight
	// problem (package lock).
	LockHolder string
}

// Plan is what a rotation found before changing anything: the cluster, its
// certificates, and either the patch it will send or the rollout under way
// it will attach to.
type Plan struct {
	Cluster *fleet.Cluster
	Before  *inventory.ClusterReport
	// Now is the Supervisor's time when the plan was made.
	Now time.Time
	// Attach: a rollout is already under way; After is its time.
	Attach bool
	After  time.Time
	// Field is the KubeadmControlPlane field the patch sets.
	Field string
	// Patch is the merge patch Begin sends (nil when attaching).
	Patch []byte
	// Problems are preflight's refusals; Begin refuses a plan with any.
	Problems []Problem
}

// RefusedError is a rotation preflight refused: nothing was changed.
type RefusedError struct {
	Namespace, Name string
	Problems        []Problem
}

func (e *RefusedError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "not rotating %s/%s, nothing was changed:", e.Namespace, e.Name)
	for _, p := range e.Problems {
		fmt.Fprintf(&b, "\n  - %s", p)
	}
	return b.String()
}

// Result is the outcome of a rotation that followed its rollout to the end.
type Result struct {
	Cluster      *fleet.Cluster
	After        *inventory.ClusterReport
	Verification Verification
	// Triggered: this rotation patched the KubeadmControlPlane (false: it
	// attached to a rollout under way).
	Triggered bool
	// RolloutAfter is the rollout's time.
	RolloutAfter time.Time
}

func (r *Rotation) emit(cluster string, st Stage, format string, args ...any) {
	if r.OnEvent != nil {
		r.OnEvent(Event{Cluster: cluster, Stage: st, Message: fmt.Sprintf(format, args...)})
	}
}

// Inventory reads one cluster's certificates, as check does.
func (r *Rotation) Inventory(ctx context.Context, ns, name string) (*inventory.ClusterReport, error) {
	rep, err := inventory.Run(ctx, r.Reader, inventory.Options{Namespace: ns, Clusters: []string{name}, Source: r.source(),
		SSH: r.SSH, Parallel: r.Parallel, Timeout: r.NodeTimeout})
	if err != nil {
		return nil, err
	}
	return &rep.Clusters[0], nil
}

func (r *Rotation) source() source.Kind {
	if r.Source == "" {
		return source.SSH
	}
	return r.Source
}

// Now is the Supervisor's time (rollouts are compared with machines'
// creation times, which it sets), or the local time when it cannot say.
func (r *Rotation) Now(ctx context.Context) time.Time {
	if t, err := ServerTime(ctx, r.Config); err == nil {
		return t
	}
	return time.Now()
}

func (r *Rotation) by(ctx context.Context) string {
	if r.By == "" {
		r.By = WhoAmI(ctx, r.Reader.Client())
	}
	return r.By
}

// Prepare inventories the cluster and makes the plan: preflight, and the
// patch or the rollout to attach to. It changes nothing.
func (r *Rotation) Prepare(ctx context.Context, ns, name string) (*Plan, error) {
	r.emit(ns+"/"+name, StageCheck, "Checking the certificates of %s/%s", ns, name)
	before, err := r.Inventory(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	cls, err := r.Reader.Clusters(ctx, ns, []string{name})
	if err != nil {
		return nil, err
	}
	return r.PlanFor(ctx, &cls[0], before)
}

// PlanFor makes the plan for a cluster already read and inventoried.
func (r *Rotation) PlanFor(ctx context.Context, cl *fleet.Cluster, before *inventory.ClusterReport) (*Plan, error) {
	now, err := ServerTime(ctx, r.Config)
	if err != nil {
		return nil, err
	}
	p := &Plan{Cluster: cl, Before: before, Now: now, Field: rolloutField(cl.APIVersion)}
	p.Problems = Preflight(ctx, r.Reader.Client(), cl, before, now)
	if err := lock.Check(ctx, r.Reader.Client(), cl.Namespace, cl.Name, r.LockHolder); err != nil {
		switch {
		case lock.IsHeld(err):
			p.Problems = append(p.Problems, Problem{Reason: err.Error()})
		case apierrors.IsForbidden(err):
			r.emit(cl.Namespace+"/"+cl.Name, StageWarning, "cannot tell whether another tkgcert run (recover) works on the cluster now: %v; grant get on leases.coordination.k8s.io in %s", err, cl.Namespace)
		default:
			p.Problems = append(p.Problems, Problem{Reason: "reading the cluster's lock: " + err.Error()})
		}
	}
	p.Attach = InProgress(cl, now)
	p.After = AttachTime(cl, now)
	if !p.Attach && cl.ControlPlane.Found {
		if p.Patch, err = Patch(cl.APIVersion, cl.ControlPlane.ResourceVersion, now, r.by(ctx)); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Recheck reads the plan's cluster again and makes the plan anew with the
// certificates read before (preflight's other gates are what can change in
// a moment). A plan that now has problems is a *RefusedError.
func (r *Rotation) Recheck(ctx context.Context, p *Plan) (*Plan, error) {
	cl := p.Cluster
	cls, err := r.Reader.Clusters(ctx, cl.Namespace, []string{cl.Name})
	if err != nil {
		return nil, err
	}
	np, err := r.PlanFor(ctx, &cls[0], p.Before)
	if err != nil {
		return nil, err
	}
	if len(np.Problems) > 0 {
		return nil, &RefusedError{Namespace: cl.Namespace, Name: cl.Name, Problems: np.Problems}
	}
	return np, nil
}

// Begin triggers the plan's rollout, or attaches to the one under way. It
// refuses a plan with problems (a *RefusedError; nothing changed). The
// returned time is the rollout's, which Follow measures machines against.
func (r *Rotation) Begin(ctx context.Context, p *Plan) (after time.Time, triggered bool, err error) {
	cl := p.Cluster
	key := cl.Key()
	if len(p.Problems) > 0 {
		return time.Time{}, false, &RefusedError{Namespace: cl.Namespace, Name: cl.Name, Problems: p.Problems}
	}
	if p.Attach {
		r.emit(key, StageAttach, "A rollout of %s is already under way (rollout after %s): attaching to it", key, p.After.UTC().Format(time.RFC3339))
		return p.After, false, nil
	}
	r.emit(key, StageTrigger, "Triggering the rollout of KubeadmControlPlane %s/%s", cl.Namespace, cl.ControlPlane.Name)
	after, attached, err := Begin(ctx, r.Reader, cl, p.Now, r.by(ctx))
	var evErr *EventError
	switch {
	case errors.As(err, &evErr):
		r.emit(key, StageWarning, "%v", err)
	case err != nil:
		return time.Time{}, false, err
	case attached:
		r.emit(key, StageAttach, "Another rotation triggered the rollout first: attaching to it")
	}
	return after, !attached, nil
}

func (r *Rotation) watcher() (client.WithWatch, error) {
	if r.Watcher == nil {
		w, err := client.NewWithWatch(r.Config, client.Options{Scheme: r.Reader.Client().Scheme()})
		if err != nil {
			return nil, err
		}
		r.Watcher = w
	}
	return r.Watcher, nil
}

func (r *Rotation) timeout() time.Duration {
	if r.Timeout <= 0 {
		return 60 * time.Minute
	}
	return r.Timeout
}

// Follow follows the control plane's rollout after `after` to its end (and
// the workers' when Workers is set). A cancelled ctx stops following, not
// the rollout.
func (r *Rotation) Follow(ctx context.Context, ns, name string, after time.Time) (*fleet.Cluster, error) {
	w, err := r.watcher()
	if err != nil {
		return nil, err
	}
	key := ns + "/" + name
	if r.OnFollow != nil {
		r.OnFollow(after)
	}
	r.emit(key, StageFollow, "Following the rollout (timeout %s; Ctrl-C stops following, not the rollout)", r.timeout())
	report := func(s string) { r.emit(key, StageProgress, "%s", s) }
	f := &Follower{Reader: r.Reader, Watcher: w, Report: report, OnChange: r.OnChange, Resync: r.FollowResync}
	done, err := f.Follow(ctx, ns, name, after, r.timeout())
	if err != nil {
		if errors.Is(err, context.Canceled) {
			return done, fmt.Errorf("stopped following; the rollout continues on the Supervisor: run `tkgcert rotate -n %s %s` again to attach and verify: %w", ns, name, err)
		}
		return done, err
	}
	if !r.Workers {
		return done, nil
	}
	return r.followWorkers(ctx, w, done)
}

// followWorkers triggers and follows the rollout of every MachineDeployment.
func (r *Rotation) followWorkers(ctx context.Context, w client.WithWatch, cl *fleet.Cluster) (*fleet.Cluster, error) {
	key := cl.Key()
	if len(cl.MachineDeployments) == 0 {
		r.emit(key, StageWorkers, "The cluster has no MachineDeployments: no workers to roll")
		return cl, nil
	}
	now, err := ServerTime(ctx, r.Config)
	if err != nil {
		return cl, err
	}
	r.emit(key, StageWorkers, "Triggering the rollout of %d MachineDeployments", len(cl.MachineDeployments))
	if err := TriggerWorkers(ctx, r.Reader.Client(), cl, now, r.by(ctx)); err != nil {
		return cl, err
	}
	report := func(s string) { r.emit(key, StageProgress, "%s", s) }
	f := &Follower{Reader: r.Reader, Watcher: w, Workers: true, Report: report, Resync: r.FollowResync}
	done, err := f.Follow(ctx, cl.Namespace, cl.Name, now, r.timeout())
	if errors.Is(err, context.Canceled) {
		return done, fmt.Errorf("stopped following the workers; their rollout continues on the Supervisor: %w", err)
	}
	return done, err
}

// Conclude verifies a finished rollout against the baseline taken before
// it: it forgets the replaced machines' host keys, inventories the cluster
// again, compares, and checks that the kubeconfig secret still works.
func (r *Rotation) Conclude(ctx context.Context, ns, name string, base Baseline) (*Result, error) {
	key := ns + "/" + name
	r.forgetReplaced(key, base)
	r.emit(key, StageVerify, "Rollout done; verifying")
	after, err := r.Inventory(ctx, ns, name)
	if err != nil {
		return nil, fmt.Errorf("the rollout finished but the cluster could not be inventoried: %w", err)
	}
	v := VerifyBaseline(base, after)
	if r.Workers {
		old := map[string]bool{}
		for _, n := range base.Workers {
			old[n] = true
		}
		for _, n := range after.Nodes {
			if n.Role == names.RoleWorker && old[n.Name] {
				v.Problems = append(v.Problems, fmt.Sprintf("worker node %s was not replaced", n.Name))
			}
		}
	}
	if err := KubeconfigWorks(ctx, r.Reader, ns, name); err != nil {
		v.Problems = append(v.Problems, fmt.Sprintf("the %s-kubeconfig secret does not authenticate against the cluster: %v", name, err))
	}
	return &Result{After: after, Verification: v}, nil
}

// forgetReplaced removes entries by address of the replaced machines from
// the known_hosts file accept-new maintains. Keys are recorded under each
// machine's alias now, and the inventory that follows prunes the replaced
// machines' alias entries (as every inventory does, whoever replaced
// them); this only clears entries an older tkgcert (or ssh) wrote by
// address, which a new machine at one of those addresses would find
// changed until it has an entry of its own.
func (r *Rotation) forgetReplaced(key string, base Baseline) {
	if r.SSH.HostKeyPolicy != remote.AcceptNew || r.SSH.KnownHostsFile == "" {
		return
	}
	port := r.SSH.Port
	if port == 0 {
		port = remote.DefaultPort
	}
	addrs := base.Addresses
	if r.Workers {
		addrs = append(addrs, base.WorkerAddresses...)
	}
	hosts := make([]string, 0, len(addrs))
	for _, a := range addrs {
		hosts = append(hosts, net.JoinHostPort(a, strconv.Itoa(port)))
	}
	if n, err := remote.ForgetHosts(r.SSH.KnownHostsFile, hosts); err != nil {
		r.emit(key, StageWarning, "forgetting the host keys of the replaced machines: %v", err)
	} else if n > 0 {
		r.emit(key, StageVerify, "Forgot %d host keys of replaced machines in %s", n, r.SSH.KnownHostsFile)
	}
}

// Run rotates one cluster from start to end: Prepare, confirm (when set:
// an error stops with nothing changed), Begin, Follow, Conclude. A plan
// that only attaches is not confirmed: it changes nothing. The result is
// nil with a nil error when confirm returned ErrDryRun.
func (r *Rotation) Run(ctx context.Context, ns, name string, confirm func(*Plan) error) (*Result, error) {
	p, err := r.Prepare(ctx, ns, name)
	if err != nil {
		return nil, err
	}
	if len(p.Problems) > 0 {
		return nil, &RefusedError{Namespace: ns, Name: name, Problems: p.Problems}
	}
	if !p.Attach && confirm != nil {
		if err := confirm(p); err != nil {
			if errors.Is(err, ErrDryRun) {
				return nil, nil
			}
			return nil, err
		}
		// A prompt can last: what was confirmed is judged again on a fresh
		// read, and the patch carries the resource version of that read, so
		// that a cluster paused, or a rollout started, meanwhile is caught.
		if p, err = r.Recheck(ctx, p); err != nil {
			return nil, err
		}
	}
	base := BaselineOf(p.Before, p.Cluster, p.After)
	after, triggered, err := r.Begin(ctx, p)
	if err != nil {
		return nil, err
	}
	done, err := r.Follow(ctx, ns, name, after)
	if err != nil {
		return nil, err
	}
	res, err := r.Conclude(ctx, ns, name, base)
	if err != nil {
		return nil, err
	}
	res.Cluster, res.Triggered, res.RolloutAfter = done, triggered, after
	return res, nil
}

// ErrDryRun, returned by Run's confirm, stops after the plan.
var ErrDryRun = errors.New("dry run")

// FieldOf names the KubeadmControlPlane field a rollout is triggered with.
func FieldOf(v capi.APIVersion) string { return rolloutField(v) }
