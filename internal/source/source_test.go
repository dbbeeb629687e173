package source

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"
	"k8s.io/client-go/util/cert"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/lab/sshd"
	"github.com/tkgcert/tkgcert/internal/pki"
	"github.com/tkgcert/tkgcert/internal/remote"
)

// node serves a generated node's files through the lab's SSH server and
// returns a dialer for it.
func node(t *testing.T, controlPlane bool, rotate bool) (root string, n Node, access ClusterAccess) {
	t.Helper()
	now := time.Now()
	cas, err := pki.NewClusterCAs(pki.CAOptions{Validity: pki.ValidFor(now.Add(-time.Hour), pki.CAValidityPeriod), KeyAlgorithm: pki.ECDSAP256})
	if err != nil {
		t.Fatal(err)
	}
	opts := pki.NodeOptions{NodeName: "node-a", Addresses: []net.IP{net.ParseIP("127.0.0.1")}, ControlPlaneEndpoint: "127.0.0.1:1",
		Validity: pki.ValidFor(now.Add(-time.Hour), 200*24*time.Hour), KeyAlgorithm: pki.ECDSAP256, RotateCertificates: rotate}
	var files pki.Files
	if controlPlane {
		files, err = pki.ControlPlaneNode(cas, opts)
	} else {
		files, err = pki.WorkerNode(cas, opts)
	}
	if err != nil {
		t.Fatal(err)
	}
	root = t.TempDir()
	if err := files.WriteTo(root); err != nil {
		t.Fatal(err)
	}
	_, hostPriv, _ := ed25519.GenerateKey(rand.Reader)
	hostKey, _ := ssh.NewSignerFromSigner(hostPriv)
	_, userPriv, _ := ed25519.GenerateKey(rand.Reader)
	userSigner, _ := ssh.NewSignerFromSigner(userPriv)
	srv, err := sshd.Start(sshd.Options{Address: "127.0.0.1:0", HostKey: hostKey, User: "vmware-system-user",
		AuthorizedKey: userSigner.PublicKey(), Hostname: "node-a", Root: root, ScratchDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	block, _ := ssh.MarshalPrivateKey(userPriv, "")
	d, err := remote.NewDialer(pem.EncodeToMemory(block), remote.Options{HostKeyPolicy: remote.Insecure})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	return root, Node{Name: "node-a", Address: srv.Addr(), ControlPlane: controlPlane}, ClusterAccess{Dialer: d}
}

func TestSSHReaderMatchesTheFilesAndCarriesNoKeys(t *testing.T) {
	root, n, access := node(t, true, true)
	// What crosses the wire: no private key material at all.
	c, err := access.Dialer.Dial(context.Background(), n.Address)
	if err != nil {
		t.Fatal(err)
	}
	raw, _, code, err := c.Run(context.Background(), bundleCommand, []byte(bundleScript))
	c.Close()
	if err != nil || code != 0 {
		t.Fatalf("bundle script: exit %d, %v", code, err)
	}
	for _, secret := range []string{"PRIVATE KEY", "client-key-data"} {
		if strings.Contains(string(raw), secret) {
			t.Fatalf("the node sent %q", secret)
		}
	}
	if !strings.Contains(string(raw), "@@tkgcert-key etc/kubernetes/pki/ca.key") {
		t.Error("the presence of ca.key was not reported")
	}

	res := New(SSH, 0).Read(context.Background(), access, n)
	if len(res.Errors) > 0 {
		t.Fatalf("errors: %v", res.Errors)
	}
	want, err := certs.ReadNode(os.DirFS(root))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, res.Expiration); diff != "" {
		t.Errorf("read over SSH vs read locally (-want +got):\n%s", diff)
	}
	if res.Kubelet == nil || res.Kubelet.RotateCertificates == nil || !*res.Kubelet.RotateCertificates || res.Kubelet.ClientCertificate == nil {
		t.Fatalf("kubelet: %+v", res.Kubelet)
	}
	pemData, _ := os.ReadFile(filepath.Join(root, "var/lib/kubelet/pki/kubelet-client-current.pem"))
	cs, _ := cert.ParseCertsPEM(pemData)
	if !res.Kubelet.ClientCertificate.NotAfter.Equal(cs[0].NotAfter) {
		t.Errorf("kubelet client certificate %v, file %v", res.Kubelet.ClientCertificate.NotAfter, cs[0].NotAfter)
	}
}

func TestSSHReaderOnAWorker(t *testing.T) {
	_, n, access := node(t, false, false)
	res := New(SSH, 0).Read(context.Background(), access, n)
	if len(res.Errors) > 0 {
		t.Fatalf("errors: %v", res.Errors)
	}
	if res.Expiration == nil || len(res.Expiration.Certificates) != 0 || len(res.Expiration.Authorities) != 1 || res.Expiration.Authorities[0].Name != "ca" {
		t.Errorf("worker catalogue: %+v", res.Expiration)
	}
	if res.Kubelet.RotateCertificates == nil || *res.Kubelet.RotateCertificates {
		t.Errorf("rotateCertificates = %v, want false", res.Kubelet.RotateCertificates)
	}
}

func TestKubeadmReaderFallsBackToText(t *testing.T) {
	// A kubeadm without -o json (before 1.30) answers with a flag error;
	// the reader then parses the text table.
	table := "CERTIFICATE   EXPIRES                  RESIDUAL TIME   CERTIFICATE AUTHORITY   EXTERNALLY MANAGED\n" +
		"apiserver     Oct 04, 2023 23:00 UTC   363d            ca                      no\n\n" +
		"CERTIFICATE AUTHORITY   EXPIRES                  RESIDUAL TIME   EXTERNALLY MANAGED\n" +
		"ca                      Oct 01, 2032 22:56 UTC   9y              no\n"
	var calls []string
	run := func(_ context.Context, cmd string, _ []byte) ([]byte, []byte, int, error) {
		calls = append(calls, cmd)
		if strings.HasSuffix(cmd, "-o json") {
			return nil, []byte("unknown shorthand flag: 'o' in -o"), 1, nil
		}
		return []byte(table), nil, 0, nil
	}
	e, err := runKubeadm(context.Background(), run)
	if err != nil {
		t.Fatal(err)
	}
	if len(calls) != 2 || e.Certificates[0].Name != "apiserver" || e.Certificates[0].NotAfter.Year() != 2023 {
		t.Errorf("calls %v, result %+v", calls, e)
	}
	// Any other failure is reported, not papered over by the fallback.
	_, err = runKubeadm(context.Background(), func(context.Context, string, []byte) ([]byte, []byte, int, error) {
		return nil, []byte("couldn't load the certificate file"), 1, nil
	})
	if err == nil || !strings.Contains(err.Error(), "couldn't load the certificate file") {
		t.Errorf("error: %v", err)
	}
}

func TestParseBundle(t *testing.T) {
	fsys, err := parseBundle([]byte("@@tkgcert-file a/b.crt\nline1\nline2\n@@tkgcert-key a/b.key\n@@tkgcert-end\n"))
	if err != nil {
		t.Fatal(err)
	}
	if string(fsys["a/b.crt"].Data) != "line1\nline2\n" || fsys["a/b.key"] == nil {
		t.Errorf("parsed %v", fsys)
	}
	if _, err := parseBundle([]byte("@@tkgcert-file a/b.crt\nline1\n")); err == nil {
		t.Error("a listing cut short was accepted")
	}
}

func TestParseKind(t *testing.T) {
	for _, k := range Kinds {
		if got, err := ParseKind(string(k)); err != nil || got != k {
			t.Errorf("ParseKind(%s) = %s, %v", k, got, err)
		}
	}
	if _, err := ParseKind("scp"); err == nil {
		t.Error("ParseKind(scp) accepted")
	}
}
