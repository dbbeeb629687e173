package controller

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tkgcert/tkgcert/internal/capi"
	"github.com/tkgcert/tkgcert/internal/remote"
	"github.com/tkgcert/tkgcert/internal/testenv"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, capi.V1Beta1))
}

// Lines of a known_hosts file (the keys are public host keys).
const (
	lineA = "tkgcert/ns/c/vsphere-a ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIDSmBWjQy1s0Yp3lY7uEJ8T6qbZ4Hkz0m7oV8kqkq0ZB\n"
	lineB = "tkgcert/ns/c/vsphere-b ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHc0Kz3bLbc5Q3W0ZuKq9F8hE0yZ5QHn1a1bJ3o8JHxT\n"
	lineC = "tkgcert/ns/c/vsphere-c ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPq7b2yQbV1N2yR5c0f0JcH1iF7kQx1b1cN1vQmR2y1Q\n"
)

// applyConfig creates the objects of config/manager/known_hosts.yaml in
// namespace ns (the file's namespace replaced), with the service account
// it binds.
func applyConfig(t *testing.T, c client.Client, ns string) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "config", "manager", "known_hosts.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	data = bytes.ReplaceAll(data, []byte("namespace: tkgcert-system"), []byte("namespace: "+ns))
	ctx := context.Background()
	if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
		t.Fatal(err)
	}
	if err := c.Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "tkgcert-controller", Namespace: ns}}); err != nil {
		t.Fatal(err)
	}
	dec := yaml.NewYAMLOrJSONDecoder(bytes.NewReader(data), 4096)
	for {
		u := &unstructured.Unstructured{}
		if err := dec.Decode(&u.Object); err != nil {
			break
		}
		if len(u.Object) == 0 {
			continue
		}
		if err := c.Create(ctx, u); err != nil {
			t.Fatalf("creating %s %s: %v", u.GetKind(), u.GetName(), err)
		}
	}
}

// asController is a clientset that acts as the controller's service account.
func asController(t *testing.T, cfg *rest.Config, ns string) *kubernetes.Clientset {
	t.Helper()
	cfg = rest.CopyConfig(cfg)
	cfg.Impersonate = rest.ImpersonationConfig{UserName: "system:serviceaccount:" + ns + ":tkgcert-controller"}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

func secretData(t *testing.T, cs kubernetes.Interface, ns, name string) string {
	t.Helper()
	s, err := cs.CoreV1().Secrets(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return string(s.Data[KnownHostsKey])
}

// TestKnownHostsSecret: with config/manager's Secret and Role, the host
// keys a controller recorded are there for the next one (a restart, a new
// leader); concurrent writers keep each other's entries; and the Role
// allows nothing else.
func TestKnownHostsSecret(t *testing.T) {
	env := testenv.Get(t, capi.V1Beta1)
	ctx := t.Context()
	ns := "kh-config"
	applyConfig(t, env.Client, ns)
	admin, err := kubernetes.NewForConfig(env.Config)
	if err != nil {
		t.Fatal(err)
	}
	cs := asController(t, env.Config, ns)

	// The first controller: nothing recorded yet.
	path1 := filepath.Join(t.TempDir(), "known_hosts")
	first := NewKnownHostsSecret(cs.CoreV1(), ns, DefaultKnownHostsSecret, path1)
	if err := first.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if changed, err := first.Save(ctx); changed || err != nil {
		t.Fatalf("Save with nothing recorded = %v, %v", changed, err)
	}
	if err := remote.ReplaceKnownHosts(path1, []byte(lineA)); err != nil { // accept-new records a node
		t.Fatal(err)
	}
	if changed, err := first.Save(ctx); !changed || err != nil {
		t.Fatalf("Save = %v, %v", changed, err)
	}
	if got := secretData(t, admin, ns, DefaultKnownHostsSecret); got != lineA {
		t.Fatalf("Secret after Save: %q", got)
	}

	// A restarted (or newly elected) controller starts from the Secret.
	path2 := filepath.Join(t.TempDir(), "known_hosts")
	second := NewKnownHostsSecret(cs.CoreV1(), ns, DefaultKnownHostsSecret, path2)
	if err := second.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(path2); err != nil || string(b) != lineA {
		t.Fatalf("known_hosts loaded from the Secret: %q, %v", b, err)
	}
	if fi, err := os.Stat(path2); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("loaded file mode %v, %v", fi.Mode(), err)
	}

	// Both record a host; the second writes first: the first's write
	// conflicts (resourceVersion) and keeps both.
	if err := remote.ReplaceKnownHosts(path2, []byte(lineA+lineB)); err != nil {
		t.Fatal(err)
	}
	if _, err := second.Save(ctx); err != nil {
		t.Fatal(err)
	}
	if err := remote.ReplaceKnownHosts(path1, []byte(lineA+lineC)); err != nil {
		t.Fatal(err)
	}
	if changed, err := first.Save(ctx); !changed || err != nil {
		t.Fatalf("Save after a conflict = %v, %v", changed, err)
	}
	if got := secretData(t, admin, ns, DefaultKnownHostsSecret); got != lineA+lineC+lineB {
		t.Errorf("Secret after concurrent saves:\n%s\nwant\n%s", got, lineA+lineC+lineB)
	}

	// Least privilege: that Secret only, get and update only.
	for _, tc := range []struct {
		what string
		do   func() error
	}{
		{"get another Secret", func() error {
			_, err := cs.CoreV1().Secrets(ns).Get(ctx, "other", metav1.GetOptions{})
			return err
		}},
		{"list Secrets", func() error { _, err := cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{}); return err }},
		{"delete the Secret", func() error {
			return cs.CoreV1().Secrets(ns).Delete(ctx, DefaultKnownHostsSecret, metav1.DeleteOptions{})
		}},
		{"create a Secret", func() error {
			_, err := cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "x"}}, metav1.CreateOptions{})
			return err
		}},
	} {
		if err := tc.do(); !apierrors.IsForbidden(err) {
			t.Errorf("%s: %v, want forbidden", tc.what, err)
		}
	}

	// Without the Secret (deleted by someone), the controller cannot
	// create it and says what to do.
	if err := admin.CoreV1().Secrets(ns).Delete(ctx, DefaultKnownHostsSecret, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	third := NewKnownHostsSecret(cs.CoreV1(), ns, DefaultKnownHostsSecret, filepath.Join(t.TempDir(), "known_hosts"))
	if err := third.Load(ctx); err != nil {
		t.Fatal(err)
	}
	if err := remote.ReplaceKnownHosts(third.path, []byte(lineA)); err != nil {
		t.Fatal(err)
	}
	_, err = third.Save(ctx)
	if err == nil || !strings.Contains(err.Error(), "kubectl create secret generic tkgcert-known-hosts -n "+ns) {
		t.Errorf("Save without the Secret and the right to create it: %v", err)
	}
	if err != nil && strings.Contains(err.Error(), "AAAAC3") {
		t.Errorf("the error quotes the file: %v", err)
	}
}
