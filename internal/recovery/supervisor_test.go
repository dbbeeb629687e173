package recovery

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tkgcert/tkgcert/internal/capi"
	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/pki"
	"github.com/tkgcert/tkgcert/internal/testenv"
)

var nsCounter int

// clusterSecrets creates a namespace with cluster c's CA secrets and an
// expired <c>-kubeconfig owned by a Cluster, as Cluster API makes them.
func clusterSecrets(t *testing.T, c client.Client) string {
	t.Helper()
	ctx := context.Background()
	nsCounter++
	ns := fmt.Sprintf("recovery-%d", nsCounter)
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	secrets, err := testCAs.Secrets(ns, "c")
	if err != nil {
		t.Fatal(err)
	}
	kc, err := pki.KubeconfigSecret(ns, "c", "https://10.0.0.1:6443", testCAs.CA, expired, pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	kc.Labels = map[string]string{"cluster.x-k8s.io/cluster-name": "c"}
	kc.OwnerReferences = []metav1.OwnerReference{{APIVersion: "controlplane.cluster.x-k8s.io/v1beta1", Kind: "KubeadmControlPlane", Name: "c-control-plane", UID: "8d1f0a52-0000-4000-8000-000000000001", Controller: ptr(true)}}
	for _, s := range append(secrets, kc) {
		if err := c.Create(ctx, s); err != nil {
			t.Fatal(err)
		}
	}
	return ns
}

func getKubeconfigSecret(t *testing.T, c client.Client, ns string) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: "c-kubeconfig"}, s); err != nil {
		t.Fatal(err)
	}
	return s
}

// prepared returns a run that has read the secrets, as Run does before the nodes.
func prepared(t *testing.T, c client.Client, ns string) *run {
	t.Helper()
	cas, err := LoadCAs(context.Background(), c, ns, "c")
	if err != nil {
		t.Fatal(err)
	}
	r := &run{o: Options{Client: c, ControlPlaneEndpoint: "10.0.0.1:6443", Now: func() time.Time { return now }, Log: t.Logf},
		plan: Plan{Namespace: ns, Cluster: "c", RefreshSecret: true}, cas: cas}
	if err := r.prepareSecret(context.Background()); err != nil {
		t.Fatal(err)
	}
	return r
}

func clientCertEnd(t *testing.T, s *corev1.Secret) time.Time {
	t.Helper()
	cert, err := certs.KubeconfigClientCert(s.Data["value"])
	if err != nil {
		t.Fatal(err)
	}
	return cert.NotAfter
}

func TestSecretRefreshedInPlace(t *testing.T) {
	c := testenv.Get(t, capi.V1Beta2).Client
	ctx := context.Background()

	t.Run("only data.value changes", func(t *testing.T) {
		ns := clusterSecrets(t, c)
		before := getKubeconfigSecret(t, c, ns)
		r := prepared(t, c, ns)
		if err := r.updateSecret(ctx); err != nil {
			t.Fatal(err)
		}
		after := getKubeconfigSecret(t, c, ns)
		if end := clientCertEnd(t, after); !end.Equal(now.Add(RenewedValidity)) {
			t.Errorf("client certificate ends %v", end)
		}
		if diff := cmp.Diff([]any{before.Type, before.Labels, before.OwnerReferences, before.UID},
			[]any{after.Type, after.Labels, after.OwnerReferences, after.UID}); diff != "" {
			t.Errorf("metadata changed (-before +after):\n%s", diff)
		}
		if after.ResourceVersion == before.ResourceVersion {
			t.Error("the secret was not updated")
		}
	})

	t.Run("a secret renewed meanwhile is left alone", func(t *testing.T) {
		ns := clusterSecrets(t, c)
		r := prepared(t, c, ns)
		fresh, err := pki.KubeconfigSecret(ns, "c", "https://10.0.0.1:6443", testCAs.CA, pki.ValidFor(now, 180*24*time.Hour), pki.ECDSAP256)
		if err != nil {
			t.Fatal(err)
		}
		s := getKubeconfigSecret(t, c, ns)
		s.Data["value"] = fresh.Data["value"]
		if err := c.Update(ctx, s); err != nil {
			t.Fatal(err)
		}
		if err := r.updateSecret(ctx); err != nil {
			t.Fatal(err)
		}
		if got := getKubeconfigSecret(t, c, ns); string(got.Data["value"]) != string(fresh.Data["value"]) {
			t.Error("the secret renewed by someone else was overwritten")
		}
	})

	t.Run("a secret changed meanwhile but still expired is renewed from what is there", func(t *testing.T) {
		ns := clusterSecrets(t, c)
		r := prepared(t, c, ns)
		s := getKubeconfigSecret(t, c, ns)
		s.Annotations = map[string]string{"example.com/touched": "yes"}
		if err := c.Update(ctx, s); err != nil {
			t.Fatal(err)
		}
		if err := r.updateSecret(ctx); err != nil {
			t.Fatal(err)
		}
		got := getKubeconfigSecret(t, c, ns)
		if got.Annotations["example.com/touched"] != "yes" || !clientCertEnd(t, got).After(now) {
			t.Errorf("annotations %v, certificate ends %v", got.Annotations, clientCertEnd(t, got))
		}
	})
}

func TestForgetRecordedExpiry(t *testing.T) {
	for _, v := range capi.Versions {
		t.Run(string(v), func(t *testing.T) {
			c := testenv.Get(t, v).Client
			ctx := context.Background()
			ns := clusterSecrets(t, c)
			ref := func(group, kind, name string) map[string]any {
				if v == capi.V1Beta1 {
					return map[string]any{"apiVersion": group + "/" + string(v), "kind": kind, "name": name}
				}
				return map[string]any{"apiGroup": group, "kind": kind, "name": name}
			}
			m := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "cluster.x-k8s.io/" + string(v), "kind": "Machine",
				"metadata": map[string]any{"name": "c-control-plane-abcde", "namespace": ns, "labels": map[string]any{"cluster.x-k8s.io/cluster-name": "c"}},
				"spec": map[string]any{
					"clusterName":       "c",
					"bootstrap":         map[string]any{"configRef": ref("bootstrap.cluster.x-k8s.io", "KubeadmConfig", "c-control-plane-xyz")},
					"infrastructureRef": ref("infrastructure.cluster.x-k8s.io", "VSphereMachine", "c-control-plane-abcde"),
				},
			}}
			if err := c.Create(ctx, m); err != nil {
				t.Fatal(err)
			}
			kc := &unstructured.Unstructured{Object: map[string]any{
				"apiVersion": "bootstrap.cluster.x-k8s.io/" + string(v), "kind": "KubeadmConfig",
				"metadata": map[string]any{"name": "c-control-plane-xyz", "namespace": ns,
					"annotations": map[string]any{CertificatesExpiryAnnotation: "2026-11-26T08:00:00Z", "keep": "me"}},
			}}
			if err := c.Create(ctx, kc); err != nil {
				t.Fatal(err)
			}
			removed, err := forgetRecordedExpiry(ctx, c, string(v), ns, "c", "c-control-plane-abcde")
			if err != nil || !removed {
				t.Fatalf("removed %v, err %v", removed, err)
			}
			if err := c.Get(ctx, client.ObjectKeyFromObject(kc), kc); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(map[string]string{"keep": "me"}, kc.GetAnnotations()); diff != "" {
				t.Errorf("annotations (-want +got):\n%s", diff)
			}
			if removed, err := forgetRecordedExpiry(ctx, c, string(v), ns, "c", "c-control-plane-abcde"); err != nil || removed {
				t.Errorf("second time: removed %v, err %v", removed, err)
			}
			if _, err := forgetRecordedExpiry(ctx, c, string(v), ns, "c", "no-such-node"); err == nil {
				t.Error("no error for a node without a machine")
			}
		})
	}
}

// TestPrepareSecretRefusesAHostileSecret: recovery signs a new certificate
// for the <cluster>-kubeconfig secret and probes every node with it. A
// secret rewritten by a namespace owner (a token file, an exec plugin, a
// server of their choosing) is refused before anything is signed or sent,
// with the secret and the field named; so is a Cluster without endpoint.
func TestPrepareSecretRefusesAHostileSecret(t *testing.T) {
	c := testenv.Get(t, capi.V1Beta2).Client
	ctx := context.Background()
	for _, tc := range []struct {
		name     string
		endpoint string
		edit     func(*clientcmdapi.Config)
		field    string
	}{
		{"tokenFile", "10.0.0.1:6443", func(cfg *clientcmdapi.Config) {
			for _, u := range cfg.AuthInfos {
				u.TokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
			}
		}, "tokenFile"},
		{"exec", "10.0.0.1:6443", func(cfg *clientcmdapi.Config) {
			for _, u := range cfg.AuthInfos {
				u.Exec = &clientcmdapi.ExecConfig{APIVersion: "client.authentication.k8s.io/v1", Command: "/bin/true"}
			}
		}, "exec"},
		{"a foreign server", "10.0.0.1:6443", func(cfg *clientcmdapi.Config) {
			for _, cl := range cfg.Clusters {
				cl.Server = "https://collector.example:6443"
			}
		}, "spec.controlPlaneEndpoint 10.0.0.1:6443"},
		{"a Cluster without endpoint", "", func(*clientcmdapi.Config) {}, "the Cluster has no spec.controlPlaneEndpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ns := clusterSecrets(t, c)
			s := getKubeconfigSecret(t, c, ns)
			cfg, err := clientcmd.Load(s.Data["value"])
			if err != nil {
				t.Fatal(err)
			}
			tc.edit(cfg)
			if s.Data["value"], err = clientcmd.Write(*cfg); err != nil {
				t.Fatal(err)
			}
			if err := c.Update(ctx, s); err != nil {
				t.Fatal(err)
			}
			cas, err := LoadCAs(ctx, c, ns, "c")
			if err != nil {
				t.Fatal(err)
			}
			r := &run{o: Options{Client: c, ControlPlaneEndpoint: tc.endpoint, Now: func() time.Time { return now }, Log: t.Logf},
				plan: Plan{Namespace: ns, Cluster: "c", RefreshSecret: true}, cas: cas}
			err = r.prepareSecret(ctx)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, want := range []string{"secret " + ns + "/c-kubeconfig", tc.field} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if r.probe != nil || r.newKC != nil {
				t.Error("a refused secret was prepared for use")
			}
		})
	}
}
