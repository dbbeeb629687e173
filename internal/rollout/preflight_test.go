package rollout_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tkgcert/tkgcert/internal/capi"
	"github.com/tkgcert/tkgcert/internal/fleet"
	"github.com/tkgcert/tkgcert/internal/lock"
	"github.com/tkgcert/tkgcert/internal/remote"
	"github.com/tkgcert/tkgcert/internal/rollout"
	"github.com/tkgcert/tkgcert/internal/testenv"
)

// preflightCluster creates, in a namespace of its own, a Cluster with a
// three-replica KubeadmControlPlane reporting the given health conditions
// and three Running control-plane machines whose certificatesExpiryDate is
// expiry. The nodes cannot be reached (no SSH secret, no listener).
func preflightCluster(t *testing.T, c client.Client, ns string, health map[string]string, expiry time.Time) {
	t.Helper()
	create(t, c, map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}, nil)
	create(t, c, map[string]any{"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster", "metadata": map[string]any{"name": "c", "namespace": ns}}, nil)
	var conds []any
	for typ, status := range health {
		conds = append(conds, map[string]any{"type": typ, "status": status, "lastTransitionTime": "2026-01-01T00:00:00Z"})
	}
	create(t, c, map[string]any{"apiVersion": "controlplane.cluster.x-k8s.io/v1beta1", "kind": "KubeadmControlPlane",
		"metadata": map[string]any{"name": "c-control-plane", "namespace": ns, "labels": map[string]any{"cluster.x-k8s.io/cluster-name": "c"}},
		"spec": map[string]any{"replicas": int64(3), "version": "v1.21.6", "kubeadmConfigSpec": map[string]any{},
			"machineTemplate": map[string]any{"infrastructureRef": map[string]any{"apiVersion": "vmware.infrastructure.cluster.x-k8s.io/v1beta1", "kind": "VSphereMachineTemplate", "name": "t"}}}},
		map[string]any{"replicas": int64(3), "readyReplicas": int64(3), "updatedReplicas": int64(3), "conditions": conds})
	for i := 1; i <= 3; i++ {
		name := fmt.Sprintf("c-cp-%d", i)
		create(t, c, map[string]any{"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Machine",
			"metadata": map[string]any{"name": name, "namespace": ns, "labels": map[string]any{
				"cluster.x-k8s.io/cluster-name": "c", "cluster.x-k8s.io/control-plane": ""}},
			"spec": map[string]any{"clusterName": "c", "bootstrap": map[string]any{"dataSecretName": "x"},
				"infrastructureRef": map[string]any{"apiVersion": "vmware.infrastructure.cluster.x-k8s.io/v1beta1", "kind": "VSphereMachine", "name": name}}},
			map[string]any{"phase": "Running", "nodeRef": map[string]any{"kind": "Node", "name": name},
				"certificatesExpiryDate": expiry.UTC().Format(time.RFC3339),
				"addresses":              []any{map[string]any{"type": "InternalIP", "address": "127.0.0.1"}}})
	}
}

func rotation(t *testing.T, env *testenv.Environment) *rollout.Rotation {
	t.Helper()
	r, err := fleet.NewReader(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	return &rollout.Rotation{Reader: r, Config: env.Config, By: "preflight-test", NodeTimeout: 2 * time.Second,
		SSH: remote.Options{HostKeyPolicy: remote.Insecure, Port: 1}}
}

func problems(p *rollout.Plan) string {
	var out []string
	for _, x := range p.Problems {
		out = append(out, x.String())
	}
	return strings.Join(out, "\n")
}

// TestPreflightHealth: a health condition that is Unknown blocks a rotation
// as False does; True does not.
func TestPreflightHealth(t *testing.T) {
	env := testenv.Get(t, capi.V1Beta1)
	later := time.Now().Add(200 * 24 * time.Hour)
	for i, tc := range []struct {
		health map[string]string
		want   string // "" for no health problem
	}{
		{map[string]string{"ControlPlaneComponentsHealthy": "True", "EtcdClusterHealthy": "True"}, ""},
		{map[string]string{"ControlPlaneComponentsHealthy": "True", "EtcdClusterHealthy": "Unknown"}, "reports EtcdClusterHealthy=Unknown (no reason given): Cluster API cannot tell"},
		{map[string]string{"ControlPlaneComponentsHealthy": "False", "EtcdClusterHealthy": "True"}, "reports ControlPlaneComponentsHealthy=False"},
	} {
		ns := fmt.Sprintf("preflight-health-%d", i)
		preflightCluster(t, env.Client, ns, tc.health, later)
		p, err := rotation(t, env).Prepare(context.Background(), ns, "c")
		if err != nil {
			t.Fatal(err)
		}
		got := problems(p)
		if tc.want == "" && strings.Contains(got, "Healthy") || tc.want != "" && !strings.Contains(got, tc.want) {
			t.Errorf("%v: problems\n%s\nwant one containing %q", tc.health, got, tc.want)
		}
	}
}

// TestPreflightExpiredOnMachines: when the nodes cannot be read, the
// machines' certificatesExpiryDate still tells that certificates expired,
// and a rolling replacement is refused.
func TestPreflightExpiredOnMachines(t *testing.T) {
	env := testenv.Get(t, capi.V1Beta1)
	healthy := map[string]string{"ControlPlaneComponentsHealthy": "True", "EtcdClusterHealthy": "True"}
	preflightCluster(t, env.Client, "preflight-expired", healthy, time.Now().Add(-time.Hour))
	p, err := rotation(t, env).Prepare(context.Background(), "preflight-expired", "c")
	if err != nil {
		t.Fatal(err)
	}
	if got := problems(p); !strings.Contains(got, "certificates have already expired: machine c-cp-1 (its certificatesExpiryDate") ||
		!strings.Contains(got, "tkgcert recover -n preflight-expired c") {
		t.Errorf("problems:\n%s", got)
	}
}

// TestRunRechecksAfterTheConfirmation: the Cluster is paused while the
// user reads the plan; the confirmed rotation is refused on a second look
// and the KubeadmControlPlane is not patched.
func TestRunRechecksAfterTheConfirmation(t *testing.T) {
	env := testenv.Get(t, capi.V1Beta1)
	ctx := context.Background()
	healthy := map[string]string{"ControlPlaneComponentsHealthy": "True", "EtcdClusterHealthy": "True"}
	preflightCluster(t, env.Client, "preflight-prompt", healthy, time.Now().Add(200*24*time.Hour))
	confirmed := false
	_, err := rotation(t, env).Run(ctx, "preflight-prompt", "c", func(p *rollout.Plan) error {
		if len(p.Problems) > 0 {
			t.Fatalf("problems before the prompt:\n%s", problems(p))
		}
		confirmed = true
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("cluster.x-k8s.io/v1beta1")
		u.SetKind("Cluster")
		u.SetNamespace("preflight-prompt")
		u.SetName("c")
		return env.Client.Patch(ctx, u, client.RawPatch(types.MergePatchType, []byte(`{"spec":{"paused":true}}`)))
	})
	var refused *rollout.RefusedError
	if !confirmed || !errors.As(err, &refused) || !strings.Contains(err.Error(), "the Cluster is paused") {
		t.Fatalf("Run = %v (confirmed %v), want a refusal naming the paused Cluster", err, confirmed)
	}
	kcp := &unstructured.Unstructured{}
	kcp.SetAPIVersion("controlplane.cluster.x-k8s.io/v1beta1")
	kcp.SetKind("KubeadmControlPlane")
	if err := env.Client.Get(ctx, types.NamespacedName{Namespace: "preflight-prompt", Name: "c-control-plane"}, kcp); err != nil {
		t.Fatal(err)
	}
	if after, found, _ := unstructured.NestedString(kcp.Object, "spec", "rolloutAfter"); found {
		t.Errorf("the KubeadmControlPlane was patched: rolloutAfter %s", after)
	}
}

// TestPreflightRespectsTheClusterLock: while another run (recover) holds
// the cluster's lock, rotating is refused and the holder named; the run
// that holds it (recover --then-rotate) is not refused by its own lock.
func TestPreflightRespectsTheClusterLock(t *testing.T) {
	env := testenv.Get(t, capi.V1Beta1)
	ctx := context.Background()
	healthy := map[string]string{"ControlPlaneComponentsHealthy": "True", "EtcdClusterHealthy": "True"}
	preflightCluster(t, env.Client, "preflight-lock", healthy, time.Now().Add(200*24*time.Hour))
	held, err := lock.Acquire(ctx, env.Client, "preflight-lock", "c", "tkgcert recover by someone", 0)
	if err != nil {
		t.Fatal(err)
	}
	p, err := rotation(t, env).Prepare(ctx, "preflight-lock", "c")
	if err != nil {
		t.Fatal(err)
	}
	if got := problems(p); !strings.Contains(got, `cluster preflight-lock/c is locked by "tkgcert recover by someone" (Lease preflight-lock/c-tkgcert-lock`) {
		t.Errorf("problems while another run holds the lock:\n%s", got)
	}
	own := rotation(t, env)
	own.LockHolder = "tkgcert recover by someone"
	if p, err = own.Prepare(ctx, "preflight-lock", "c"); err != nil {
		t.Fatal(err)
	}
	if got := problems(p); strings.Contains(got, "locked") {
		t.Errorf("the lock's own holder is refused:\n%s", got)
	}
	if err := held.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if p, err = rotation(t, env).Prepare(ctx, "preflight-lock", "c"); err != nil {
		t.Fatal(err)
	}
	if got := problems(p); strings.Contains(got, "locked") {
		t.Errorf("refused after the lock was released:\n%s", got)
	}
}
