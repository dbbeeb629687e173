package capi_test

import (
	"context"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/discovery"
	"k8s.io/utils/ptr"
	controlplanev1beta1 "sigs.k8s.io/cluster-api/api/controlplane/kubeadm/v1beta1"
	controlplanev1beta2 "sigs.k8s.io/cluster-api/api/controlplane/kubeadm/v1beta2"
	clusterv1beta2 "sigs.k8s.io/cluster-api/api/core/v1beta2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tkgcert/tkgcert/internal/capi"
	"github.com/tkgcert/tkgcert/internal/testenv"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, capi.V1Beta1, capi.V1Beta2))
}

func createNamespace(t *testing.T, c client.Client, name string) {
	t.Helper()
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
}

// TestServesOnlyTheChosenVersion checks through discovery that the control
// plane group offers exactly the environment's version.
func TestServesOnlyTheChosenVersion(t *testing.T) {
	for _, v := range capi.Versions {
		t.Run(string(v), func(t *testing.T) {
			env := testenv.Get(t, v)
			dc, err := discovery.NewDiscoveryClientForConfig(env.Config)
			if err != nil {
				t.Fatal(err)
			}
			groups, err := dc.ServerGroups()
			if err != nil {
				t.Fatal(err)
			}
			for _, g := range groups.Groups {
				if g.Name != "controlplane.cluster.x-k8s.io" && g.Name != "cluster.x-k8s.io" {
					continue
				}
				var got []string
				for _, gv := range g.Versions {
					got = append(got, gv.Version)
				}
				if diff := cmp.Diff([]string{string(v)}, got); diff != "" {
					t.Errorf("group %s versions (-want +got):\n%s", g.Name, diff)
				}
			}
		})
	}
}

func TestKubeadmControlPlaneV1Beta1RoundTrip(t *testing.T) {
	env := testenv.Get(t, capi.V1Beta1)
	ctx := context.Background()
	createNamespace(t, env.Client, "tkg-cluster-ns")
	after := metav1.NewTime(time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC))
	kcp := &controlplanev1beta1.KubeadmControlPlane{
		ObjectMeta: metav1.ObjectMeta{Namespace: "tkg-cluster-ns", Name: "tkg-cluster-control-plane"},
		Spec: controlplanev1beta1.KubeadmControlPlaneSpec{
			Replicas: ptr.To[int32](3),
			Version:  "v1.21.6+vmware.1",
			MachineTemplate: controlplanev1beta1.KubeadmControlPlaneMachineTemplate{
				InfrastructureRef: corev1.ObjectReference{APIVersion: "vmware.infrastructure.cluster.x-k8s.io/v1beta1", Kind: "VSphereMachineTemplate", Name: "tkg-cluster-control-plane"},
			},
			RolloutAfter:  &after,
			RolloutBefore: &controlplanev1beta1.RolloutBefore{CertificatesExpiryDays: ptr.To[int32](21)},
		},
	}
	if err := env.Client.Create(ctx, kcp); err != nil {
		t.Fatal(err)
	}
	kcp.Status = controlplanev1beta1.KubeadmControlPlaneStatus{Replicas: 3, ReadyReplicas: 3, UpdatedReplicas: 3, Initialized: true, Ready: true, Version: ptr.To("v1.21.6+vmware.1")}
	if err := env.Client.Status().Update(ctx, kcp); err != nil {
		t.Fatalf("updating status: %v", err)
	}
	got := &controlplanev1beta1.KubeadmControlPlane{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(kcp), got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.RolloutAfter == nil || !got.Spec.RolloutAfter.Equal(&after) {
		t.Errorf("spec.rolloutAfter = %v, want %v", got.Spec.RolloutAfter, after)
	}
	if got.Spec.RolloutBefore == nil || ptr.Deref(got.Spec.RolloutBefore.CertificatesExpiryDays, 0) != 21 {
		t.Errorf("spec.rolloutBefore = %+v, want certificatesExpiryDays 21", got.Spec.RolloutBefore)
	}
	if got.Status.UpdatedReplicas != 3 || !got.Status.Initialized {
		t.Errorf("status = %+v, want 3 updated replicas, initialized", got.Status)
	}

	// The seed's step 6 reads the apiVersion with kubectl and patches
	// rolloutAfter with a merge patch; both must work as written there.
	out := kubectl(t, env, "get", "kcp", "-n", "tkg-cluster-ns", "tkg-cluster-control-plane", "-o", "jsonpath={.apiVersion}{\"\\n\"}")
	if strings.TrimSpace(out) != "controlplane.cluster.x-k8s.io/v1beta1" {
		t.Errorf("kubectl apiVersion = %q", out)
	}
	kubectl(t, env, "patch", "kcp", "tkg-cluster-control-plane", "-n", "tkg-cluster-ns", "--type", "merge", "-p", `{"spec":{"rolloutAfter":"2026-11-27T06:00:00Z"}}`)
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(kcp), got); err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC); !got.Spec.RolloutAfter.Time.Equal(want) {
		t.Errorf("after kubectl patch, rolloutAfter = %v, want %v", got.Spec.RolloutAfter, want)
	}
}

func TestKubeadmControlPlaneV1Beta2RoundTrip(t *testing.T) {
	env := testenv.Get(t, capi.V1Beta2)
	ctx := context.Background()
	createNamespace(t, env.Client, "tkg-cluster-ns")
	after := metav1.NewTime(time.Date(2026, 11, 27, 5, 0, 0, 0, time.UTC))
	kcp := &controlplanev1beta2.KubeadmControlPlane{
		ObjectMeta: metav1.ObjectMeta{Namespace: "tkg-cluster-ns", Name: "tkg-cluster-control-plane"},
		Spec: controlplanev1beta2.KubeadmControlPlaneSpec{
			Replicas: ptr.To[int32](3),
			Version:  "v1.33.1+vmware.1",
			MachineTemplate: controlplanev1beta2.KubeadmControlPlaneMachineTemplate{
				Spec: controlplanev1beta2.KubeadmControlPlaneMachineTemplateSpec{
					InfrastructureRef: clusterv1beta2.ContractVersionedObjectReference{APIGroup: "vmware.infrastructure.cluster.x-k8s.io", Kind: "VSphereMachineTemplate", Name: "tkg-cluster-control-plane"},
				},
			},
			Rollout: controlplanev1beta2.KubeadmControlPlaneRolloutSpec{
				After:  after,
				Before: controlplanev1beta2.KubeadmControlPlaneRolloutBeforeSpec{CertificatesExpiryDays: 21},
			},
		},
	}
	if err := env.Client.Create(ctx, kcp); err != nil {
		t.Fatal(err)
	}
	got := &controlplanev1beta2.KubeadmControlPlane{}
	if err := env.Client.Get(ctx, client.ObjectKeyFromObject(kcp), got); err != nil {
		t.Fatal(err)
	}
	if !got.Spec.Rollout.After.Equal(&after) || got.Spec.Rollout.Before.CertificatesExpiryDays != 21 {
		t.Errorf("spec.rollout = %+v, want after %v and certificatesExpiryDays 21", got.Spec.Rollout, after)
	}
	// The real API server enforces Cluster API's validation: v1beta2 allows
	// no certificatesExpiryDays below 7.
	bad := got.DeepCopy()
	bad.Spec.Rollout.Before.CertificatesExpiryDays = 3
	if err := env.Client.Update(ctx, bad); err == nil {
		t.Error("update with rollout.before.certificatesExpiryDays=3 was accepted, want rejected (minimum 7)")
	}
	// v1beta1's field does not exist in v1beta2: a patch with it must not
	// silently set anything (it is pruned, or rejected by strict validation).
	kubectlAllowFail(env, "patch", "kcp", "tkg-cluster-control-plane", "-n", "tkg-cluster-ns", "--type", "merge", "-p", `{"spec":{"rolloutAfter":"2030-01-01T00:00:00Z"}}`)
	raw := kubectl(t, env, "get", "kcp", "-n", "tkg-cluster-ns", "tkg-cluster-control-plane", "-o", "jsonpath={.spec.rolloutAfter}|{.spec.rollout.after}")
	if raw != "|2026-11-27T05:00:00Z" {
		t.Errorf("after a v1beta1-style patch on v1beta2, rolloutAfter|rollout.after = %q, want %q", raw, "|2026-11-27T05:00:00Z")
	}
}

// TestKubectlShowsClusterAPIPrinterColumns runs the real kubectl against the
// environment: `kubectl get kcp` must print Cluster API's own columns (for
// v1beta1, exactly the header of the seed's step 6).
func TestKubectlShowsClusterAPIPrinterColumns(t *testing.T) {
	for _, v := range capi.Versions {
		t.Run(string(v), func(t *testing.T) {
			env := testenv.Get(t, v)
			ns := "printer-" + string(v)
			createNamespace(t, env.Client, ns)
			kubectl(t, env, "apply", "-n", ns, "-f", "-", "--input-string", kcpManifest(v))
			out := kubectl(t, env, "get", "kcp", "-n", ns)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			if len(lines) != 2 {
				t.Fatalf("kubectl get kcp printed %d lines, want header and one row:\n%s", len(lines), out)
			}
			header := regexp.MustCompile(`\s{2,}`).Split(strings.TrimSpace(lines[0]), -1)
			want := []string{"NAME"}
			crd := &apiextensionsv1.CustomResourceDefinition{}
			if err := env.Client.Get(context.Background(), client.ObjectKey{Name: "kubeadmcontrolplanes.controlplane.cluster.x-k8s.io"}, crd); err != nil {
				t.Fatal(err)
			}
			for _, c := range crd.Spec.Versions[0].AdditionalPrinterColumns {
				if c.Priority == 0 {
					want = append(want, strings.ToUpper(c.Name))
				}
			}
			if diff := cmp.Diff(want, header); diff != "" {
				t.Errorf("kubectl header vs the CRD's printer columns (-want +got):\n%s", diff)
			}
			if v == capi.V1Beta1 {
				seed := []string{"NAME", "CLUSTER", "INITIALIZED", "API SERVER AVAILABLE", "REPLICAS", "READY", "UPDATED", "UNAVAILABLE", "AGE", "VERSION"}
				if diff := cmp.Diff(seed, header); diff != "" {
					t.Errorf("v1beta1 header vs the seed's step 6 (-want +got):\n%s", diff)
				}
			}
			if !strings.HasPrefix(lines[1], "tkg-cluster-control-plane ") {
				t.Errorf("row = %q, want the KCP's name first", lines[1])
			}
		})
	}
}

func kcpManifest(v capi.APIVersion) string {
	if v == capi.V1Beta1 {
		return `apiVersion: controlplane.cluster.x-k8s.io/v1beta1
kind: KubeadmControlPlane
metadata:
  name: tkg-cluster-control-plane
  labels: {cluster.x-k8s.io/cluster-name: tkg-cluster}
spec:
  replicas: 3
  version: v1.21.6+vmware.1
  machineTemplate:
    infrastructureRef: {apiVersion: vmware.infrastructure.cluster.x-k8s.io/v1beta1, kind: VSphereMachineTemplate, name: tkg-cluster-control-plane}
  kubeadmConfigSpec: {}
`
	}
	return `apiVersion: controlplane.cluster.x-k8s.io/v1beta2
kind: KubeadmControlPlane
metadata:
  name: tkg-cluster-control-plane
  labels: {cluster.x-k8s.io/cluster-name: tkg-cluster}
spec:
  replicas: 3
  version: v1.33.1+vmware.1
  machineTemplate:
    spec:
      infrastructureRef: {apiGroup: vmware.infrastructure.cluster.x-k8s.io, kind: VSphereMachineTemplate, name: tkg-cluster-control-plane}
`
}

func kubectlCmd(env *testenv.Environment, args ...string) *exec.Cmd {
	var input string
	for i, a := range args {
		if a == "--input-string" {
			input = args[i+1]
			args = append(args[:i:i], args[i+2:]...)
			break
		}
	}
	cmd := exec.Command("kubectl", append([]string{"--kubeconfig", env.KubeconfigPath}, args...)...)
	cmd.Env = append(os.Environ(), "KUBECONFIG=")
	if input != "" {
		cmd.Stdin = strings.NewReader(input)
	}
	return cmd
}

func kubectl(t *testing.T, env *testenv.Environment, args ...string) string {
	t.Helper()
	out, err := kubectlCmd(env, args...).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("kubectl %v: %v\n%s", args, err, stderr)
	}
	return string(out)
}

func kubectlAllowFail(env *testenv.Environment, args ...string) {
	_ = kubectlCmd(env, args...).Run()
}
