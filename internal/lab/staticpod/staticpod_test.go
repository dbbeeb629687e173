package staticpod

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tkgcert/tkgcert/internal/kubeserver"
	"github.com/tkgcert/tkgcert/internal/pki"
)

func TestArgsMapTheManifestToThisHost(t *testing.T) {
	r := New(Options{NodeName: "cp-1", Root: "/lab/nodes/cp-1", EtcdServers: "http://127.0.0.1:2379", EtcdPrefix: "/clusters/ns/c", Address: "127.10.0.10"})
	args, err := r.args(Manifest("127.10.0.10", "v1.21.6+vmware.1"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"--tls-cert-file=/lab/nodes/cp-1/etc/kubernetes/pki/apiserver.crt",
		"--client-ca-file=/lab/nodes/cp-1/etc/kubernetes/pki/ca.crt",
		"--etcd-servers=http://127.0.0.1:2379",
		"--etcd-prefix=/clusters/ns/c",
		"--bind-address=127.10.0.10",
		"--advertise-address=127.10.0.10",
		"--secure-port=6443",
	} {
		if !slices.Contains(args, want) {
			t.Errorf("args lack %s:\n%s", want, strings.Join(args, "\n"))
		}
	}
	for _, a := range args {
		if strings.HasPrefix(a, "--etcd-cafile") || strings.HasPrefix(a, "--etcd-certfile") || strings.Contains(a, "=/etc/kubernetes") {
			t.Errorf("unmapped argument %s", a)
		}
	}
	for _, bad := range []string{"not: [yaml", "apiVersion: v1\nkind: Pod\nspec:\n  containers:\n  - name: x\n    command: [etcd]\n"} {
		if _, err := r.args([]byte(bad)); err == nil {
			t.Errorf("manifest %q accepted", bad)
		}
	}
}

// TestManifestMovedOutAndBackRestarts runs a real kube-apiserver from a
// node's files: moving the manifest away stops it, moving it back starts it
// with what is on disk then (here, a renewed serving certificate).
func TestManifestMovedOutAndBackRestarts(t *testing.T) {
	bins, err := kubeserver.FindBinaries(kubeserver.RepoBinDir())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	dir := t.TempDir()
	etcd, err := kubeserver.StartEtcd(ctx, kubeserver.EtcdOptions{Binary: bins.Etcd, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer etcd.Stop()

	addr := "127.0.0.1"
	now := time.Now()
	cas, err := pki.NewClusterCAs(pki.CAOptions{Validity: pki.ValidFor(now.Add(-time.Hour), pki.CAValidityPeriod), KeyAlgorithm: pki.ECDSAP256})
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "node")
	write := func(notAfter time.Time) {
		files, err := pki.ControlPlaneNode(cas, pki.NodeOptions{
			NodeName: "cp-1", Addresses: []net.IP{net.ParseIP(addr)}, ControlPlaneEndpoint: "127.0.0.1:6443",
			Validity: pki.Validity{NotBefore: now.Add(-time.Hour), NotAfter: notAfter}, KeyAlgorithm: pki.ECDSAP256,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := files.WriteTo(root); err != nil {
			t.Fatal(err)
		}
	}
	first := now.Add(30 * 24 * time.Hour).Truncate(time.Second)
	write(first)
	manifest := filepath.Join(root, ManifestPath)
	if err := os.MkdirAll(filepath.Dir(manifest), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(manifest, Manifest(addr, "v1.21.6"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := New(Options{NodeName: "cp-1", Root: root, Binary: bins.KubeAPIServer, LogDir: dir, EtcdServers: etcd.Endpoint, EtcdPrefix: "/t", Address: addr})
	defer r.Stop()

	served := func() time.Time {
		t.Helper()
		pool := x509.NewCertPool()
		pool.AddCert(cas.CA.Cert)
		c, err := tls.Dial("tcp", net.JoinHostPort(addr, "6443"), &tls.Config{RootCAs: pool, ServerName: addr})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0].NotAfter
	}
	if err := r.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Running(); !ok {
		t.Fatal("not running after the first sync")
	}
	if got := served(); !got.Equal(first) {
		t.Fatalf("serving certificate until %v, want %v", got, first)
	}

	// kubeadm's documented restart: move the manifest out ...
	aside := filepath.Join(dir, "kube-apiserver.yaml")
	if err := os.Rename(manifest, aside); err != nil {
		t.Fatal(err)
	}
	if err := r.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := r.Running(); ok {
		t.Fatal("still running with the manifest moved out")
	}
	if _, err := net.DialTimeout("tcp", net.JoinHostPort(addr, "6443"), time.Second); err == nil {
		t.Fatal("port 6443 still answers with the manifest moved out")
	}
	// ... renew the certificates, and move it back.
	second := now.Add(365 * 24 * time.Hour).Truncate(time.Second)
	write(second)
	if err := os.Rename(aside, manifest); err != nil {
		t.Fatal(err)
	}
	if err := r.SyncOnce(ctx); err != nil {
		t.Fatal(err)
	}
	if got := served(); !got.Equal(second) {
		t.Fatalf("after the restart the serving certificate is until %v, want the renewed %v", got, second)
	}
}
