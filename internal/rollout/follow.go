package rollout

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tkgcert/tkgcert/internal/fleet"
)

// ErrTimeout ends a Follow that ran out of time; the error wrapping it
// names the machines that held the rollout up.
var ErrTimeout = errors.New("the rollout did not finish in time")

// Done reports whether the control plane has finished rolling out after
// `after`: the desired number of machines, all created after it, Running
// with a node, none deleting, and the KCP's status agreeing.
func Done(cl *fleet.Cluster, after time.Time) bool {
	cp := cl.ControlPlane
	ms := cl.ControlPlaneMachines()
	if int32(len(ms)) != cp.Replicas {
		return false
	}
	for _, m := range ms {
		if m.Created.Before(after) || m.Phase != "Running" || m.NodeName == "" || m.Deleting {
			return false
		}
	}
	return cp.StatusReplicas == cp.Replicas && cp.ReadyReplicas == cp.Replicas && cp.UpToDateReplicas == cp.Replicas
}

// WorkersDone reports whether the worker pools have finished rolling out
// after `after`: as many worker machines as their MachineDeployments want,
// all created after it and Running with a node.
func WorkersDone(cl *fleet.Cluster, after time.Time) bool {
	var want int32
	for _, md := range cl.MachineDeployments {
		want += md.Replicas
	}
	ms := cl.WorkerMachines()
	if int32(len(ms)) != want {
		return false
	}
	for _, m := range ms {
		if m.Created.Before(after) || m.Phase != "Running" || m.NodeName == "" || m.Deleting {
			return false
		}
	}
	return true
}

// Follower watches one cluster's rollout.
type Follower struct {
	// Workers follows the worker machines instead of the control plane.
	Workers bool
	Reader  *fleet.Reader
	// Watcher opens watches on the Supervisor.
	Watcher client.WithWatch
	// Report receives one line per machine event (a machine appears,
	// changes phase, gets its node, is deleted).
	Report func(string)
	// Resync re-reads the cluster this often even without events (default 30s).
	Resync time.Duration
	// OnChange, when set, receives the cluster after every read (for a live
	// display).
	OnChange func(*fleet.Cluster)
}

// Follow returns when Done(cluster, after), when ctx ends, or after
// timeout with a diagnosis. A dropped watch is reopened.
func (f *Follower) Follow(ctx context.Context, namespace, name string, after time.Time, timeout time.Duration) (*fleet.Cluster, error) {
	if f.Resync == 0 {
		f.Resync = 30 * time.Second
	}
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	seen := map[string]fleet.Machine{}
	var last *fleet.Cluster
	events := make(chan struct{}, 1)
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go f.watchLoop(wctx, namespace, name, events)
	resync := time.NewTicker(f.Resync)
	defer resync.Stop()
	for {
		cls, err := f.Reader.Clusters(ctx, namespace, []string{name})
		if err == nil && len(cls) == 1 {
			last = &cls[0]
			f.report(seen, last)
			if f.OnChange != nil {
				f.OnChange(last)
			}
			if (!f.Workers && Done(last, after)) || (f.Workers && WorkersDone(last, after)) {
				return last, nil
			}
		} else if ctx.Err() == nil && err != nil {
			f.Report(fmt.Sprintf("reading the cluster failed, retrying: %v", err))
		}
		select {
		case <-ctx.Done():
			return last, ctx.Err()
		case <-deadline.C:
			return last, fmt.Errorf("%w after %s: %s", ErrTimeout, timeout, f.diagnose(last, after))
		case <-events:
		case <-resync.C:
		}
	}
}

// watchLoop watches the cluster's Machines and its KCP (each through an
// informer, which re-lists and re-watches after a dropped connection or an
// API server restart) and signals every event, until ctx ends.
func (f *Follower) watchLoop(ctx context.Context, namespace, name string, events chan<- struct{}) {
	v := string(f.Reader.Version())
	signal := func(watch.Event) (bool, error) {
		select {
		case events <- struct{}{}:
		default:
		}
		return false, nil
	}
	var wg sync.WaitGroup
	for _, gk := range [][2]string{{"cluster.x-k8s.io", "Machine"}, {fleet.ControlPlaneGroup, "KubeadmControlPlane"}} {
		lw, obj := f.listWatch(gk[0]+"/"+v, gk[1], namespace, name)
		wg.Go(func() { _, _ = watchtools.UntilWithSync(ctx, lw, obj, nil, signal) })
	}
	wg.Wait()
}

// listWatch lists and watches the cluster's objects of one kind.
func (f *Follower) listWatch(apiVersion, kind, namespace, name string) (cache.ListerWatcher, runtime.Object) {
	newList := func() *unstructured.UnstructuredList {
		l := &unstructured.UnstructuredList{}
		l.SetAPIVersion(apiVersion)
		l.SetKind(kind + "List")
		return l
	}
	opts := func(o metav1.ListOptions) []client.ListOption {
		return []client.ListOption{&client.ListOptions{Raw: &o}, client.InNamespace(namespace), client.MatchingLabels{fleet.ClusterNameLabel: name}}
	}
	obj := &unstructured.Unstructured{}
	obj.SetAPIVersion(apiVersion)
	obj.SetKind(kind)
	return &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			l := newList()
			return l, f.Watcher.List(ctx, l, opts(o)...)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			return f.Watcher.Watch(ctx, newList(), opts(o)...)
		},
	}, obj
}

// report prints what changed since the last look.
func (f *Follower) report(seen map[string]fleet.Machine, cl *fleet.Cluster) {
	now := map[string]fleet.Machine{}
	for _, m := range f.machines(cl) {
		now[m.Name] = m
		old, known := seen[m.Name]
		switch {
		case !known:
			f.Report(fmt.Sprintf("machine %s: %s%s", m.Name, phase(m), nodeText(m)))
		case phase(old) != phase(m) || old.NodeName != m.NodeName:
			f.Report(fmt.Sprintf("machine %s: %s -> %s%s", m.Name, phase(old), phase(m), nodeText(m)))
		}
	}
	var gone []string
	for n := range seen {
		if _, ok := now[n]; !ok {
			gone = append(gone, n)
		}
	}
	sort.Strings(gone)
	for _, n := range gone {
		f.Report(fmt.Sprintf("machine %s: deleted", n))
	}
	for k := range seen {
		delete(seen, k)
	}
	for k, v := range now {
		seen[k] = v
	}
}

func phase(m fleet.Machine) string {
	if m.Deleting {
		return "Deleting"
	}
	if m.Phase == "" {
		return "Pending"
	}
	return m.Phase
}

func nodeText(m fleet.Machine) string {
	if m.NodeName == "" || m.Deleting {
		return ""
	}
	s := " (node " + m.NodeName
	if m.InternalIP != "" {
		s += ", " + m.InternalIP
	}
	return s + ")"
}

func (f *Follower) machines(cl *fleet.Cluster) []fleet.Machine {
	if f.Workers {
		return cl.WorkerMachines()
	}
	return cl.ControlPlaneMachines()
}

func (f *Follower) diagnose(cl *fleet.Cluster, after time.Time) string {
	if f.Workers {
		if cl == nil {
			return "the cluster could not be read"
		}
		return strings.Join(stuckMachines(cl.WorkerMachines(), after), "; ")
	}
	return Diagnose(cl, after)
}

// Diagnose names the control-plane machines holding a rollout up, with
// their phase and the conditions that are not True.
func Diagnose(cl *fleet.Cluster, after time.Time) string {
	if cl == nil {
		return "the cluster could not be read"
	}
	parts := stuckMachines(cl.ControlPlaneMachines(), after)
	cp := cl.ControlPlane
	parts = append(parts, fmt.Sprintf("KubeadmControlPlane %s: %d replicas desired, %d current, %d ready, %d up to date",
		cp.Name, cp.Replicas, cp.StatusReplicas, cp.ReadyReplicas, cp.UpToDateReplicas))
	return strings.Join(parts, "; ")
}

func stuckMachines(ms []fleet.Machine, after time.Time) []string {
	var parts []string
	for _, m := range ms {
		if !m.Created.Before(after) && m.Phase == "Running" && m.NodeName != "" && !m.Deleting {
			continue
		}
		why := fmt.Sprintf("machine %s is %s", m.Name, phase(m))
		if m.Created.Before(after) && !m.Deleting {
			why += " and still awaits replacement"
		}
		if m.NodeName == "" {
			why += ", no node"
		}
		var bad []string
		for _, c := range m.Conditions {
			if c.Status != "True" {
				s := c.Type + "=" + c.Status
				if c.Reason != "" {
					s += " (" + c.Reason
					if c.Message != "" {
						s += ": " + c.Message
					}
					s += ")"
				}
				bad = append(bad, s)
			}
		}
		if len(bad) > 0 {
			why += "; conditions " + strings.Join(bad, ", ")
		}
		parts = append(parts, why)
	}
	return parts
}

// StatusLines renders the rollout's state for a live display: a headline
// with progress, then one line per machine, old or new.
func StatusLines(cl *fleet.Cluster, after, started, now time.Time, workers bool) []string {
	ms := cl.ControlPlaneMachines()
	want := cl.ControlPlane.Replicas
	what := "control plane"
	if workers {
		ms, what, want = cl.WorkerMachines(), "workers", 0
		for _, md := range cl.MachineDeployments {
			want += md.Replicas
		}
	}
	fresh := 0
	for _, m := range ms {
		if !m.Created.Before(after) && m.Phase == "Running" && m.NodeName != "" && !m.Deleting {
			fresh++
		}
	}
	el := now.Sub(started).Round(time.Second)
	lines := []string{fmt.Sprintf("Rolling out the %s of %s/%s: %d/%d machines new and running, %s elapsed", what, cl.Namespace, cl.Name, fresh, want, el)}
	for _, m := range ms {
		age := "old"
		if !m.Created.Before(after) {
			age = "new"
		}
		lines = append(lines, fmt.Sprintf("  %-40s %-4s %-12s%s", m.Name, age, phase(m), nodeText(m)))
	}
	return lines
}
