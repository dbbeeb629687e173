package fleet_test

import (
	"context"
	"os"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/client-go/discovery"

	"github.com/tkgcert/tkgcert/internal/capi"
	"github.com/tkgcert/tkgcert/internal/fleet"
	"github.com/tkgcert/tkgcert/internal/testenv"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, capi.V1Beta1, capi.V1Beta2))
}

func apply(t *testing.T, env *testenv.Environment, obj map[string]any, status map[string]any) {
	t.Helper()
	u := &unstructured.Unstructured{Object: obj}
	if err := env.Client.Create(context.Background(), u); err != nil {
		t.Fatal(err)
	}
	if status != nil {
		u.Object["status"] = status
		if err := env.Client.Status().Update(context.Background(), u); err != nil {
			t.Fatal(err)
		}
	}
}

func TestReaderAcrossVersions(t *testing.T) {
	for _, v := range capi.Versions {
		t.Run(string(v), func(t *testing.T) {
			env := testenv.Get(t, v)
			dc, _ := discovery.NewDiscoveryClientForConfig(env.Config)
			got, err := fleet.DetectVersion(dc)
			if err != nil || got != v {
				t.Fatalf("DetectVersion = %s, %v; want %s", got, err, v)
			}
			ns := "fleet-" + string(v)
			apply(t, env, map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}, nil)
			gv := func(g string) string { return g + "/" + string(v) }
			apply(t, env, map[string]any{"apiVersion": gv("cluster.x-k8s.io"), "kind": "Cluster",
				"metadata": map[string]any{"name": "c1", "namespace": ns},
				"spec":     map[string]any{"controlPlaneEndpoint": map[string]any{"host": "10.0.0.1", "port": int64(6443)}}},
				map[string]any{"phase": "Provisioned"})
			after := "2026-11-27T05:00:00Z"
			kcpSpec := map[string]any{"replicas": int64(3), "version": "v1.21.6+vmware.1"}
			ref := map[string]any{"apiGroup": "vmware.infrastructure.cluster.x-k8s.io", "kind": "VSphereMachineTemplate", "name": "t"}
			if v == capi.V1Beta1 {
				kcpSpec["machineTemplate"] = map[string]any{"infrastructureRef": map[string]any{"apiVersion": "vmware.infrastructure.cluster.x-k8s.io/v1beta1", "kind": "VSphereMachineTemplate", "name": "t"}}
				kcpSpec["kubeadmConfigSpec"] = map[string]any{}
				kcpSpec["rolloutAfter"] = after
				kcpSpec["rolloutBefore"] = map[string]any{"certificatesExpiryDays": int64(21)}
			} else {
				kcpSpec["machineTemplate"] = map[string]any{"spec": map[string]any{"infrastructureRef": ref}}
				kcpSpec["rollout"] = map[string]any{"after": after, "before": map[string]any{"certificatesExpiryDays": int64(21)}}
			}
			kcpStatus := map[string]any{"replicas": int64(4), "readyReplicas": int64(3)}
			if v == capi.V1Beta1 {
				kcpStatus["updatedReplicas"] = int64(1)
			} else {
				kcpStatus["upToDateReplicas"] = int64(1)
			}
			apply(t, env, map[string]any{"apiVersion": gv("controlplane.cluster.x-k8s.io"), "kind": "KubeadmControlPlane",
				"metadata": map[string]any{"name": "c1-control-plane", "namespace": ns, "labels": map[string]any{"cluster.x-k8s.io/cluster-name": "c1"},
					"annotations": map[string]any{"cluster.x-k8s.io/paused": ""}},
				"spec": kcpSpec}, kcpStatus)
			expiry := "2027-09-23T06:10:00Z"
			for i, name := range []string{"c1-control-plane-b", "c1-control-plane-a", "c1-workers-x"} {
				labels := map[string]any{"cluster.x-k8s.io/cluster-name": "c1"}
				if i < 2 {
					labels["cluster.x-k8s.io/control-plane"] = ""
				}
				mspec := map[string]any{"clusterName": "c1", "bootstrap": map[string]any{"dataSecretName": "x"}}
				if v == capi.V1Beta1 {
					mspec["infrastructureRef"] = map[string]any{"apiVersion": "vmware.infrastructure.cluster.x-k8s.io/v1beta1", "kind": "VSphereMachine", "name": name}
				} else {
					mspec["infrastructureRef"] = map[string]any{"apiGroup": "vmware.infrastructure.cluster.x-k8s.io", "kind": "VSphereMachine", "name": name}
				}
				status := map[string]any{"phase": "Running", "addresses": []any{map[string]any{"type": "Hostname", "address": name}, map[string]any{"type": "InternalIP", "address": "10.0.0." + string(rune('5'+i))}}}
				if i < 2 {
					status["certificatesExpiryDate"] = expiry
				}
				if i == 1 {
					status["certificatesExpiryDate"] = "2027-01-01T00:00:00Z"
					status["addresses"] = []any{} // no address: the workload API would be asked
				}
				apply(t, env, map[string]any{"apiVersion": gv("cluster.x-k8s.io"), "kind": "Machine",
					"metadata": map[string]any{"name": name, "namespace": ns, "labels": labels}, "spec": mspec}, status)
			}

			r, err := fleet.NewReader(env.Config)
			if err != nil {
				t.Fatal(err)
			}
			cls, err := r.Clusters(context.Background(), ns, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(cls) != 1 {
				t.Fatalf("%d clusters", len(cls))
			}
			c := cls[0]
			if c.APIVersion != v || c.Phase != "Provisioned" || c.Endpoint != "10.0.0.1:6443" {
				t.Errorf("cluster %+v", c)
			}
			cp := c.ControlPlane
			if !cp.Found || cp.Replicas != 3 || cp.StatusReplicas != 4 || cp.UpToDateReplicas != 1 || !cp.Paused || cp.RolloutBeforeDays != 21 ||
				cp.RolloutAfter == nil || !cp.RolloutAfter.Equal(time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC)) {
				t.Errorf("control plane %+v", cp)
			}
			if !c.RolloutInProgress() {
				t.Error("4 machines for 3 replicas, 1 up to date: a rollout is in progress")
			}
			if len(c.Machines) != 3 || c.Machines[0].Name != "c1-control-plane-a" || !c.Machines[1].ControlPlane || c.Machines[2].ControlPlane {
				t.Errorf("machines (control plane first, by name): %+v", c.Machines)
			}
			if c.Machines[1].InternalIP != "10.0.0.5" || c.Machines[0].InternalIP != "" {
				t.Errorf("addresses: %q %q", c.Machines[0].InternalIP, c.Machines[1].InternalIP)
			}
			if e, ok := c.EarliestMachineExpiry(); !ok || !e.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
				t.Errorf("earliest machine expiry %v", e)
			}
			if _, err := r.Clusters(context.Background(), ns, []string{"c1", "nope"}); err == nil {
				t.Error("an unknown cluster name was not an error")
			}
		})
	}
}
