package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"

	"github.com/tkgcert/tkgcert/internal/capi"
	"github.com/tkgcert/tkgcert/internal/remote"
	"github.com/tkgcert/tkgcert/internal/testenv"
)

func object(t *testing.T, c client.Client, obj, status map[string]any) *unstructured.Unstructured {
	t.Helper()
	u := &unstructured.Unstructured{Object: obj}
	if err := c.Create(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	if status != nil {
		u.Object["status"] = status
		if err := c.Status().Update(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
	return u
}

// rolloutCluster creates a Cluster whose three-replica control plane has
// three Running machines and the given KubeadmControlPlane status (no
// rolloutAfter): an upgrade under way when not every replica is up to date.
// The nodes cannot be read (nothing listens), which the reconciles below
// do not need.
func rolloutCluster(t *testing.T, c client.Client, ns string, kcpStatus map[string]any) *unstructured.Unstructured {
	t.Helper()
	object(t, c, map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}, nil)
	object(t, c, map[string]any{"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster", "metadata": map[string]any{"name": "c", "namespace": ns}}, nil)
	kcp := object(t, c, map[string]any{"apiVersion": "controlplane.cluster.x-k8s.io/v1beta1", "kind": "KubeadmControlPlane",
		"metadata": map[string]any{"name": "c-control-plane", "namespace": ns, "labels": map[string]any{"cluster.x-k8s.io/cluster-name": "c"}},
		"spec": map[string]any{"replicas": int64(3), "version": "v1.21.6", "kubeadmConfigSpec": map[string]any{},
			"machineTemplate": map[string]any{"infrastructureRef": map[string]any{"apiVersion": "vmware.infrastructure.cluster.x-k8s.io/v1beta1", "kind": "VSphereMachineTemplate", "name": "t"}}}},
		kcpStatus)
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("c-cp-%d", i)
		object(t, c, map[string]any{"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Machine",
			"metadata": map[string]any{"name": name, "namespace": ns, "labels": map[string]any{
				"cluster.x-k8s.io/cluster-name": "c", "cluster.x-k8s.io/control-plane": ""}},
			"spec": map[string]any{"clusterName": "c", "bootstrap": map[string]any{"dataSecretName": "x"},
				"infrastructureRef": map[string]any{"apiVersion": "vmware.infrastructure.cluster.x-k8s.io/v1beta1", "kind": "VSphereMachine", "name": name}}},
			map[string]any{"phase": "Running", "nodeRef": map[string]any{"kind": "Node", "name": name},
				"addresses": []any{map[string]any{"type": "InternalIP", "address": "127.0.0.1"}}})
	}
	return kcp
}

func testReconciler(t *testing.T, env *testenv.Environment, o Options) (*Reconciler, *events.FakeRecorder) {
	t.Helper()
	o.Log = logr.Discard()
	o.SSH = remote.Options{HostKeyPolicy: remote.Insecure, Port: 1}
	o.NodeTimeout = 2 * time.Second
	o.Policy = Policy{RotateBefore: 30 * 24 * time.Hour}
	rec := events.NewFakeRecorder(100)
	r, err := NewReconciler(env.Config, NewMetrics(prometheus.NewRegistry()), rec, o)
	if err != nil {
		t.Fatal(err)
	}
	r.exists = func(context.Context, types.NamespacedName) (bool, error) { return true, nil }
	return r, rec
}

func statusOf(t *testing.T, c client.Client, ns string) *ClusterStatus {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("cluster.x-k8s.io/v1beta1")
	u.SetKind("Cluster")
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "c"}, u); err != nil {
		t.Fatal(err)
	}
	st, ok := ParseStatus(u.GetAnnotations()[StatusAnnotation])
	if !ok {
		t.Fatalf("no status annotation on %s/c", ns)
	}
	return st
}

func drain(rec *events.FakeRecorder) []string {
	var out []string
	for {
		select {
		case e := <-rec.Events:
			out = append(out, e)
		default:
			return out
		}
	}
}

// TestExternalRolloutIsJudgedByCounts: an upgrade someone else started (no
// rollout time) is followed while under way and, once the
// KubeadmControlPlane reports every replica up to date, ends as Observed:
// no rotation failure is counted though its machines predate the moment
// the controller first saw it.
func TestExternalRolloutIsJudgedByCounts(t *testing.T) {
	env := testenv.Get(t, capi.V1Beta1)
	ctx := context.Background()
	kcp := rolloutCluster(t, env.Client, "external", map[string]any{"replicas": int64(3), "readyReplicas": int64(3), "updatedReplicas": int64(1)})
	r, rec := testReconciler(t, env, Options{})
	req := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "external", Name: "c"}}
	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatal(err)
	}
	st := statusOf(t, env.Client, "external")
	if st.Rotation == nil || !st.Rotation.External || st.Rotation.Outcome != "" || !r.limits.underWay["external/c"] {
		t.Fatalf("under way: rotation %+v, slot held %v", st.Rotation, r.limits.underWay["external/c"])
	}
	kcp.Object["status"] = map[string]any{"replicas": int64(3), "readyReplicas": int64(3), "updatedReplicas": int64(3)}
	if err := env.Client.Status().Update(ctx, kcp); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatal(err)
	}
	st = statusOf(t, env.Client, "external")
	if st.Rotation == nil || st.Rotation.Outcome != OutcomeObserved || r.limits.underWay["external/c"] {
		t.Errorf("finished: rotation %+v, slot held %v", st.Rotation, r.limits.underWay["external/c"])
	}
	if n := testutil.ToFloat64(r.metrics.RotationsFailed.WithLabelValues("external", "c")); n != 0 {
		t.Errorf("tkgcert_rotations_failed_total = %v for a rollout tkgcert did not start", n)
	}
	for _, e := range drain(rec) {
		if strings.Contains(e, "Failed") {
			t.Errorf("event %q", e)
		}
	}
}

// TestStaleStatusReleasesTheSlot: a KubeadmControlPlane with an empty
// status looks forever "in progress". After the rollout timeout it holds no
// rotation slot, is not counted as a failed rotation, and later reconciles
// do not follow it again.
func TestStaleStatusReleasesTheSlot(t *testing.T) {
	env := testenv.Get(t, capi.V1Beta1)
	ctx := context.Background()
	rolloutCluster(t, env.Client, "stale", nil)
	r, rec := testReconciler(t, env, Options{RolloutTimeout: time.Nanosecond})
	req := reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "stale", Name: "c"}}
	if _, err := r.Reconcile(ctx, req); err != nil {
		t.Fatal(err)
	}
	// The Supervisor's clock has second precision: reconcile until it has
	// passed the timeout, then twice more.
	deadline := time.Now().Add(30 * time.Second)
	for statusOf(t, env.Client, "stale").Rotation.Outcome == "" && time.Now().Before(deadline) {
		if _, err := r.Reconcile(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ {
		if _, err := r.Reconcile(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	st := statusOf(t, env.Client, "stale")
	if st.Rotation == nil || st.Rotation.Outcome != OutcomeGaveUp || !st.Rotation.TimedOut || r.limits.underWay["stale/c"] {
		b, _ := json.Marshal(st.Rotation)
		t.Errorf("rotation %s, slot held %v", b, r.limits.underWay["stale/c"])
	}
	if n := testutil.ToFloat64(r.metrics.RotationsFailed.WithLabelValues("stale", "c")); n != 0 {
		t.Errorf("tkgcert_rotations_failed_total = %v", n)
	}
	var given int
	for _, e := range drain(rec) {
		if strings.Contains(e, "RolloutNotFollowed") {
			given++
		}
	}
	if given != 1 {
		t.Errorf("%d RolloutNotFollowed events, want 1", given)
	}
}

// TestCircuitBreaker: after MaxFailedRotations failures in the window, a
// due rotation is blocked with the reason and the time it resumes, and the
// suspension is exported.
func TestCircuitBreaker(t *testing.T) {
	l := &Limits{BreakerFailures: 2, BreakerWindow: time.Hour}
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	if opened, _ := l.noteFailure(t0); opened {
		t.Fatal("opened after one failure")
	}
	opened, until := l.noteFailure(t0.Add(10 * time.Minute))
	if !opened || !until.Equal(t0.Add(time.Hour)) {
		t.Fatalf("second failure: opened %v until %v", opened, until)
	}
	if open, _ := l.breakerOpen(t0.Add(59 * time.Minute)); !open {
		t.Error("closed within the window")
	}
	if open, _ := l.breakerOpen(t0.Add(61 * time.Minute)); open {
		t.Error("still open once the first failure left the window")
	}

	env := testenv.Get(t, capi.V1Beta1)
	rolloutCluster(t, env.Client, "breaker", map[string]any{"replicas": int64(3), "readyReplicas": int64(3), "updatedReplicas": int64(3)})
	r, _ := testReconciler(t, env, Options{MaxFailedRotations: 1, FailedRotationsWindow: time.Hour})
	now := time.Now()
	r.limits.noteFailure(now)
	cls, err := r.reader.Clusters(context.Background(), "breaker", []string{"c"})
	if err != nil {
		t.Fatal(err)
	}
	d := Decision{State: RotationDue, Reason: "due"}
	next := &ClusterStatus{}
	wait := r.rotate(context.Background(), r.log, &cls[0], &clusterState{}, next, &d)
	if d.State != RotationBlocked || !strings.Contains(d.Reason, "1 rotations failed within 1h0m0s, new rotations resume at") || wait < 59*time.Minute || next.Rotation != nil {
		t.Errorf("decision %+v, wait %v, rotation %+v", d, wait, next.Rotation)
	}
}

// TestReconcileHasADeadline: a reconcile that outlasts ReconcileTimeout
// ends with an error that says so (the workqueue retries it with backoff)
// and writes nothing.
func TestReconcileHasADeadline(t *testing.T) {
	env := testenv.Get(t, capi.V1Beta1)
	rolloutCluster(t, env.Client, "deadline", map[string]any{"replicas": int64(3), "readyReplicas": int64(3), "updatedReplicas": int64(3)})
	r, _ := testReconciler(t, env, Options{ReconcileTimeout: time.Nanosecond})
	_, err := r.Reconcile(context.Background(), reconcile.Request{NamespacedName: types.NamespacedName{Namespace: "deadline", Name: "c"}})
	if err == nil || !strings.Contains(err.Error(), "the reconcile did not finish within 1ns") {
		t.Errorf("Reconcile = %v", err)
	}
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("cluster.x-k8s.io/v1beta1")
	u.SetKind("Cluster")
	if err := env.Client.Get(context.Background(), types.NamespacedName{Namespace: "deadline", Name: "c"}, u); err != nil {
		t.Fatal(err)
	}
	if a := u.GetAnnotations()[StatusAnnotation]; a != "" {
		t.Errorf("status written: %s", a)
	}
}
