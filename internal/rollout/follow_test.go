package rollout_test

import (
	"context"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/wait"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tkgcert/tkgcert/internal/capi"
	"github.com/tkgcert/tkgcert/internal/fleet"
	"github.com/tkgcert/tkgcert/internal/rollout"
	"github.com/tkgcert/tkgcert/internal/testenv"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, capi.V1Beta1))
}

func create(t *testing.T, c client.Client, obj map[string]any, status map[string]any) *unstructured.Unstructured {
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

func machine(t *testing.T, c client.Client, name string) *unstructured.Unstructured {
	return create(t, c, map[string]any{"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Machine",
		"metadata": map[string]any{"name": name, "namespace": "follow", "labels": map[string]any{
			"cluster.x-k8s.io/cluster-name": "c", "cluster.x-k8s.io/control-plane": ""}},
		"spec": map[string]any{"clusterName": "c", "bootstrap": map[string]any{"dataSecretName": "x"},
			"infrastructureRef": map[string]any{"apiVersion": "vmware.infrastructure.cluster.x-k8s.io/v1beta1", "kind": "VSphereMachine", "name": name}}},
		map[string]any{"phase": "Running", "nodeRef": map[string]any{"kind": "Node", "name": name},
			"addresses": []any{map[string]any{"type": "InternalIP", "address": "10.0.0.1"}}})
}

// TestFollowSurvivesAnAPIServerRestart restarts the Supervisor's API server
// in the middle of a rollout: the follower's watches drop, are reopened,
// and it still sees the rollout finish (the periodic resync is set far
// beyond the test's length, so the reopened watch is what does it).
func TestFollowSurvivesAnAPIServerRestart(t *testing.T) {
	env := testenv.Get(t, capi.V1Beta1)
	c := env.Client
	ctx := context.Background()
	create(t, c, map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": "follow"}}, nil)
	create(t, c, map[string]any{"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster", "metadata": map[string]any{"name": "c", "namespace": "follow"}}, nil)
	kcp := create(t, c, map[string]any{"apiVersion": "controlplane.cluster.x-k8s.io/v1beta1", "kind": "KubeadmControlPlane",
		"metadata": map[string]any{"name": "c-control-plane", "namespace": "follow", "labels": map[string]any{"cluster.x-k8s.io/cluster-name": "c"}},
		"spec": map[string]any{"replicas": int64(3), "version": "v1.21.6", "kubeadmConfigSpec": map[string]any{},
			"machineTemplate": map[string]any{"infrastructureRef": map[string]any{"apiVersion": "vmware.infrastructure.cluster.x-k8s.io/v1beta1", "kind": "VSphereMachineTemplate", "name": "t"}}}},
		map[string]any{"replicas": int64(3), "readyReplicas": int64(3), "updatedReplicas": int64(3)})
	var old []*unstructured.Unstructured
	for _, n := range []string{"old-1", "old-2", "old-3"} {
		old = append(old, machine(t, c, n))
	}
	// The rollout's time is the second after the old machines' creation
	// (timestamps have second precision); the new machines are created
	// once the clock has passed it.
	var after time.Time
	for _, m := range old {
		if ts := m.GetCreationTimestamp().Add(time.Second); ts.After(after) {
			after = ts
		}
	}

	r, err := fleet.NewReader(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	cw, err := client.NewWithWatch(env.Config, client.Options{Scheme: c.Scheme()})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var lines []string
	f := &rollout.Follower{Reader: r, Watcher: cw, Resync: time.Hour, Report: func(s string) {
		mu.Lock()
		lines = append(lines, s)
		mu.Unlock()
	}}
	done := make(chan error, 1)
	go func() {
		_, err := f.Follow(ctx, "follow", "c", after, 2*time.Minute)
		done <- err
	}()
	// Restart only once the follower has seen the old machines.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		mu.Lock()
		seen := strings.Contains(strings.Join(lines, "\n"), "machine old-3: Running")
		mu.Unlock()
		if seen {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the follower never reported the old machines")
		}
	}

	if err := env.Server.APIServer.Restart(ctx); err != nil {
		t.Fatalf("restarting the API server: %v", err)
	}
	// The rollout, as Cluster API would do it, while the follower reconnects.
	if err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, time.Minute, true, func(context.Context) (bool, error) {
		return time.Now().After(after), nil
	}); err != nil {
		t.Fatal(err)
	}
	for i, n := range []string{"new-1", "new-2", "new-3"} {
		machine(t, c, n)
		if err := c.Delete(ctx, old[i]); err != nil {
			t.Fatal(err)
		}
	}
	kcp.Object["status"] = map[string]any{"replicas": int64(3), "readyReplicas": int64(3), "updatedReplicas": int64(3)}
	if err := c.Status().Update(ctx, kcp); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Follow: %v", err)
		}
	case <-time.After(90 * time.Second): // liveness guard, far beyond reconnecting
		t.Fatal("Follow did not see the rollout finish after the API server restarted")
	}
	mu.Lock()
	defer mu.Unlock()
	got := strings.Join(lines, "\n")
	if !strings.Contains(got, "machine old-1: deleted") || !strings.Contains(got, "machine new-3: Running") {
		t.Errorf("reported:\n%s", got)
	}
}
