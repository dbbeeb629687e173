package fleet_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/tkgcert/tkgcert/internal/capi"
	"github.com/tkgcert/tkgcert/internal/fleet"
	"github.com/tkgcert/tkgcert/internal/testenv"
)

// A fleet larger than a page is read whole, each cluster with its own
// objects; named clusters get only theirs.
func TestReaderPagesAndNamedClusters(t *testing.T) {
	defer fleet.SetPageSize(2)()
	env := testenv.Get(t, capi.V1Beta1)
	ns := "pages"
	apply(t, env, map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}, nil)
	for i := range 5 {
		c := fmt.Sprintf("c%d", i)
		apply(t, env, map[string]any{"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster",
			"metadata": map[string]any{"name": c, "namespace": ns}}, nil)
		apply(t, env, map[string]any{"apiVersion": "controlplane.cluster.x-k8s.io/v1beta1", "kind": "KubeadmControlPlane",
			"metadata": map[string]any{"name": c + "-control-plane", "namespace": ns, "labels": map[string]any{fleet.ClusterNameLabel: c}},
			"spec": map[string]any{"replicas": int64(1), "version": "v1.36.3", "kubeadmConfigSpec": map[string]any{},
				"machineTemplate": map[string]any{"infrastructureRef": map[string]any{"apiVersion": "vmware.infrastructure.cluster.x-k8s.io/v1beta1", "kind": "VSphereMachineTemplate", "name": "t"}}}}, nil)
		for j := range 2 {
			m := fmt.Sprintf("%s-m%d", c, j)
			apply(t, env, map[string]any{"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Machine",
				"metadata": map[string]any{"name": m, "namespace": ns, "labels": map[string]any{fleet.ClusterNameLabel: c, fleet.ControlPlaneLabel: ""}},
				"spec": map[string]any{"clusterName": c, "bootstrap": map[string]any{"dataSecretName": "x"},
					"infrastructureRef": map[string]any{"apiVersion": "vmware.infrastructure.cluster.x-k8s.io/v1beta1", "kind": "VSphereMachine", "name": m}}}, nil)
		}
	}
	r, err := fleet.NewReader(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	all, err := r.Clusters(context.Background(), ns, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 5 {
		t.Fatalf("read %d clusters in pages of 2, want 5", len(all))
	}
	for i, c := range all {
		if want := fmt.Sprintf("c%d", i); c.Name != want || !c.ControlPlane.Found || len(c.Machines) != 2 || c.Machines[0].Name != want+"-m0" {
			t.Errorf("cluster %d: %s, KCP found %v, machines %v", i, c.Name, c.ControlPlane.Found, c.Machines)
		}
	}
	named, err := r.Clusters(context.Background(), ns, []string{"c1", "c4"})
	if err != nil {
		t.Fatal(err)
	}
	if len(named) != 2 || named[0].Name != "c1" || named[1].Name != "c4" || len(named[0].Machines) != 2 || len(named[1].Machines) != 2 {
		t.Errorf("named clusters: %+v", named)
	}
	if _, err := r.Clusters(context.Background(), ns, []string{"c9"}); err == nil {
		t.Error("an unknown cluster name is not an error")
	}
}
