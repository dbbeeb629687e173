package source

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"golang.org/x/crypto/ssh"
	"k8s.io/client-go/tools/clientcmd"
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
	fsys, err := parseBundle([]byte("@@tkgcert-file etc/kubernetes/pki/ca.crt\n-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n@@tkgcert-key etc/kubernetes/pki/ca.key\n@@tkgcert-end\n"))
	if err != nil {
		t.Fatal(err)
	}
	if string(fsys["etc/kubernetes/pki/ca.crt"].Data) != "-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n" || fsys["etc/kubernetes/pki/ca.key"] == nil {
		t.Errorf("parsed %v", fsys)
	}
	if _, err := parseBundle([]byte("@@tkgcert-file etc/kubernetes/pki/ca.crt\nline1\n")); err == nil {
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

// TestBundleCarriesOnlyTheAllowlist: a node whose files hold more than
// certificates (a token in a kubeconfig, a kubeconfig in JSON form, a
// header secret in the kubelet's config, a key block appended to a
// certificate) sends none of it, and the read still matches the files.
func TestBundleCarriesOnlyTheAllowlist(t *testing.T) {
	root, n, access := node(t, true, true)
	// admin.conf's user also carries a token.
	admin := filepath.Join(root, "etc/kubernetes/admin.conf")
	cfg, err := clientcmd.LoadFromFile(admin)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range cfg.AuthInfos {
		u.Token = "secret-token-in-yaml"
	}
	if err := clientcmd.WriteToFile(*cfg, admin); err != nil {
		t.Fatal(err)
	}
	// Another kubeconfig in JSON form, which a line denylist cannot see.
	v1cfg := map[string]any{"apiVersion": "v1", "kind": "Config", "current-context": "c",
		"users": []any{map[string]any{"name": "u", "user": map[string]any{
			"client-key-data": "c2VjcmV0LWtleS1pbi1qc29u", "token": "secret-token-in-json"}}}}
	js, _ := json.MarshalIndent(v1cfg, "", "  ")
	if err := os.WriteFile(filepath.Join(root, "etc/kubernetes/extra.conf"), js, 0o600); err != nil {
		t.Fatal(err)
	}
	// The kubelet's config with a secret header.
	kc := filepath.Join(root, "var/lib/kubelet/config.yaml")
	data, _ := os.ReadFile(kc)
	data = append(data, []byte("staticPodURLHeader:\n  Authorization:\n  - Bearer secret-header\n")...)
	if err := os.WriteFile(kc, data, 0o600); err != nil {
		t.Fatal(err)
	}
	// A key block in a certificate file, and stray text around its certificate.
	crt := filepath.Join(root, "etc/kubernetes/pki/apiserver.crt")
	data, _ = os.ReadFile(crt)
	data = append([]byte("secret-preamble\n"), data...)
	data = append(data, []byte("-----BEGIN SECRET-----\nc2VjcmV0LWJsb2Nr\n-----END SECRET-----\n")...)
	if err := os.WriteFile(crt, data, 0o600); err != nil {
		t.Fatal(err)
	}

	c, err := access.Dialer.Dial(context.Background(), n.Address)
	if err != nil {
		t.Fatal(err)
	}
	raw, stderr, code, err := c.Run(context.Background(), bundleCommand, []byte(bundleScript))
	c.Close()
	if err != nil || code != 0 {
		t.Fatalf("bundle script: exit %d, %v: %s", code, err, stderr)
	}
	for _, secret := range []string{"PRIVATE KEY", "client-key-data", "secret", "c2VjcmV0", "token:"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the node sent %q", secret)
		}
	}
	if !strings.Contains(string(raw), "@@tkgcert-file etc/kubernetes/extra.conf") || !strings.Contains(string(raw), "rotateCertificates: true") {
		t.Errorf("the bundle lost what it should carry:\n%s", raw)
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
}

// TestParseBundleAppliesTheAllowlist: whatever a node sends, tkgcert keeps
// only the allowlist, and refuses files it did not ask for.
func TestParseBundleAppliesTheAllowlist(t *testing.T) {
	in := "@@tkgcert-file etc/kubernetes/pki/ca.crt\nstray\n-----BEGIN CERTIFICATE-----\nQUJD\nnot base64!\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nS0VZ\n-----END PRIVATE KEY-----\n" +
		"@@tkgcert-file etc/kubernetes/admin.conf\nusers:\n- name: a\n  user:\n    client-certificate-data: QUJD\n    client-key-data: S0VZ\n    token: abc\n" +
		"@@tkgcert-file var/lib/kubelet/config.yaml\nrotateCertificates: true\nstaticPodURLHeader: {a: [b]}\n" +
		"@@tkgcert-end\n"
	fsys, err := parseBundle([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[string]string{
		"etc/kubernetes/pki/ca.crt":   "-----BEGIN CERTIFICATE-----\nQUJD\n-----END CERTIFICATE-----\n",
		"etc/kubernetes/admin.conf":   "users:\n- name: a\n  user:\n    client-certificate-data: QUJD\n",
		"var/lib/kubelet/config.yaml": "rotateCertificates: true\n",
	} {
		if got := string(fsys[p].Data); got != want {
			t.Errorf("%s kept %q, want %q", p, got, want)
		}
	}
	for _, bad := range []string{
		"@@tkgcert-file etc/shadow\nx\n@@tkgcert-end\n",
		"@@tkgcert-file etc/kubernetes/../../etc/shadow.conf\nx\n@@tkgcert-end\n",
		"@@tkgcert-key root/.ssh/id_rsa\n@@tkgcert-end\n",
		"@@tkgcert-end\n@@tkgcert-file etc/kubernetes/admin.conf\n",
	} {
		if _, err := parseBundle([]byte(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

// TestNodeFloodingItsOutput: a node whose files add up to more than
// remote.MaxStdout is an error for that node, naming the limit, and what
// was read of it is dropped.
func TestNodeFloodingItsOutput(t *testing.T) {
	root, n, access := node(t, true, true)
	crt := filepath.Join(root, "etc/kubernetes/pki/apiserver.crt")
	data, _ := os.ReadFile(crt)
	block := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: make([]byte, remote.MaxStdout)})
	if err := os.WriteFile(crt, append(data, block...), 0o600); err != nil {
		t.Fatal(err)
	}
	res := New(SSH, 0).Read(context.Background(), access, n)
	if res.Expiration != nil || res.Kubelet != nil || len(res.Errors) != 1 ||
		!strings.Contains(res.Errors[0], "node node-a") || !strings.Contains(res.Errors[0], "stdout exceeds 1 MiB") {
		t.Errorf("result %+v", res)
	}
}
