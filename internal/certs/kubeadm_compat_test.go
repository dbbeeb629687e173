package certs_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/crypto/ssh"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/kubeserver"
	"github.com/tkgcert/tkgcert/internal/lab/sshd"
	"github.com/tkgcert/tkgcert/internal/pki"
)

// compatKubeadmVersion is the kubeadm release package certs models.
const compatKubeadmVersion = "v1.36.3"

// compatUser is the SSH user of a TKG node.
const compatUser = "vmware-system-user"

// compatCase is one node on which the real kubeadm and package certs must
// agree.
type compatCase struct {
	name string
	// alg is the key algorithm of the CAs and of every node key.
	alg pki.KeyAlgorithm
	// joined makes the node one that ran "kubeadm join" (no super-admin.conf).
	joined bool
	// mutate changes the generated node before it is written.
	mutate func(t *testing.T, files pki.Files, cas *pki.ClusterCAs, t0 time.Time)

	// What kubeadm must report, so that a scenario that silently did not
	// happen cannot pass: names of missing rows, of rows expired at the
	// moment kubeadm ran, and of externally managed rows (certificates
	// first, then CAs).
	wantMissing, wantExpired, wantExternal []string
}

// TestKubeadmCompat runs the real kubeadm v1.36.3 "on" simulated nodes
// through the lab's SSH server, as the TKG procedure does
// (`ssh vmware-system-user@node sudo kubeadm certs check-expiration`), and
// checks row by row that ReadNode reads the node's files as kubeadm does,
// that ParseJSON and ParseText parse kubeadm's output to the same catalogue,
// and that WriteJSON and WriteText render ReadNode's catalogue byte for byte
// as kubeadm prints it.
func TestKubeadmCompat(t *testing.T) {
	bins, err := kubeserver.FindBinaries(kubeserver.RepoBinDir())
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(bins.Kubeadm, "version", "-o", "short").Output()
	if err != nil {
		t.Fatalf("running %s version: %v", bins.Kubeadm, err)
	}
	if v := strings.TrimSpace(string(out)); v != compatKubeadmVersion {
		t.Fatalf("%s is kubeadm %s, want %s: run `make tools`", bins.Kubeadm, v, compatKubeadmVersion)
	}

	hostKey, clientKey, clientPub := compatSSHKeys(t)
	tests := []compatCase{
		{
			name: "init node RSA-2048",
			alg:  pki.RSA2048,
		},
		{
			name:        "joined node ECDSA",
			alg:         pki.ECDSAP256,
			joined:      true,
			wantMissing: []string{"super-admin.conf"},
		},
		{
			name: "expired apiserver",
			alg:  pki.ECDSAP256,
			mutate: func(t *testing.T, files pki.Files, cas *pki.ClusterCAs, t0 time.Time) {
				// Expired 35 days ago, re-signed by the same CA.
				replaceLeaf(t, files, "etc/kubernetes/pki/apiserver", cas.CA, pki.LeafSpec{
					CommonName: "kube-apiserver",
					Usages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
					DNSNames:   []string{"compat-node", "kubernetes"},
					IPs:        []net.IP{net.ParseIP("10.96.0.1"), net.ParseIP("10.244.0.54")},
				}, pki.Validity{NotBefore: t0.Add(-400 * 24 * time.Hour), NotAfter: t0.Add(-35*24*time.Hour - 17*time.Minute)}, pki.ECDSAP256)
				// Expiring in a few hours (kubeadm prints "3h5m").
				replaceLeaf(t, files, "etc/kubernetes/pki/apiserver-kubelet-client", cas.CA, pki.LeafSpec{
					CommonName: "kube-apiserver-kubelet-client",
					Usages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
				}, pki.Validity{NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(3*time.Hour + 5*time.Minute + 30*time.Second)}, pki.ECDSAP256)
			},
			wantExpired: []string{"apiserver"},
		},
		{
			name: "external front-proxy CA",
			alg:  pki.ECDSAP256,
			mutate: func(t *testing.T, files pki.Files, _ *pki.ClusterCAs, _ time.Time) {
				const key = "etc/kubernetes/pki/front-proxy-ca.key"
				if _, ok := files[key]; !ok {
					t.Fatalf("generated node has no %s", key)
				}
				delete(files, key)
			},
			wantExternal: []string{"front-proxy-client", "front-proxy-ca"},
		},
		{
			name: "external cluster CA, missing etcd-peer",
			alg:  pki.ECDSAP256,
			mutate: func(t *testing.T, files pki.Files, _ *pki.ClusterCAs, _ time.Time) {
				for _, p := range []string{"etc/kubernetes/pki/ca.key", "etc/kubernetes/pki/etcd/peer.crt", "etc/kubernetes/pki/etcd/peer.key"} {
					if _, ok := files[p]; !ok {
						t.Fatalf("generated node has no %s", p)
					}
					delete(files, p)
				}
			},
			wantMissing: []string{"etcd-peer"},
			wantExternal: []string{"admin.conf", "apiserver", "apiserver-kubelet-client", "controller-manager.conf",
				"scheduler.conf", "super-admin.conf", "ca"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			root := compatNode(t, tc)
			srv, err := sshd.Start(sshd.Options{
				Address:       "127.0.0.1:0",
				HostKey:       hostKey,
				User:          compatUser,
				AuthorizedKey: clientPub,
				Hostname:      "compat-node",
				Root:          root,
				ScratchDir:    t.TempDir(),
				PathDirs:      []string{filepath.Dir(bins.Kubeadm)},
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() {
				if err := srv.Close(); err != nil {
					t.Errorf("closing the SSH server: %v", err)
				}
			})
			client := compatDial(t, srv.Addr(), hostKey.PublicKey(), clientKey)
			checkCompat(t, tc, client, root)
		})
	}
}

// compatNode generates a control-plane node for tc, writes it to a new
// directory and returns that directory (the node's root).
func compatNode(t *testing.T, tc compatCase) string {
	t.Helper()
	t0 := time.Now()
	cas, err := pki.NewClusterCAs(pki.CAOptions{
		// Residual time "9y".
		Validity:     pki.Validity{NotBefore: t0.Add(-24 * time.Hour), NotAfter: t0.Add(10*365*24*time.Hour - 3*24*time.Hour - 41*time.Minute)},
		KeyAlgorithm: tc.alg,
	})
	if err != nil {
		t.Fatal(err)
	}
	files, err := pki.ControlPlaneNode(cas, pki.NodeOptions{
		NodeName:  "compat-node",
		Addresses: []net.IP{net.ParseIP("10.244.0.54")},
		// Nothing listens there: kubeadm's attempt to read its
		// configuration from the cluster fails at once and it falls back
		// to the defaults, reading the files.
		ControlPlaneEndpoint: "127.0.0.1:1",
		// Residual time "300d", far from a day boundary.
		Validity:           pki.Validity{NotBefore: t0.Add(-time.Hour), NotAfter: t0.Add(300*24*time.Hour + 7*time.Hour + 13*time.Minute + 27*time.Second)},
		KeyAlgorithm:       tc.alg,
		RotateCertificates: true,
		Joined:             tc.joined,
	})
	if err != nil {
		t.Fatal(err)
	}
	if tc.mutate != nil {
		tc.mutate(t, files, cas, t0)
	}
	root := t.TempDir()
	if err := files.WriteTo(root); err != nil {
		t.Fatal(err)
	}
	return root
}

// replaceLeaf replaces base.crt and base.key with a new key pair signed by
// ca.
func replaceLeaf(t *testing.T, files pki.Files, base string, ca *pki.KeyPair, spec pki.LeafSpec, v pki.Validity, alg pki.KeyAlgorithm) {
	t.Helper()
	if _, ok := files[base+".crt"]; !ok {
		t.Fatalf("generated node has no %s.crt", base)
	}
	kp, err := pki.NewLeaf(ca, spec, v, alg)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := kp.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	files[base+".crt"] = pki.File{Data: kp.CertPEM(), Mode: 0o644}
	files[base+".key"] = pki.File{Data: keyPEM, Mode: 0o600}
}

// kubeadmRun is the stdout of one pair of back-to-back kubeadm runs.
type kubeadmRun struct {
	text, json []byte
}

// checkCompat runs kubeadm on the node behind client and compares its output
// with what package certs reads from root and renders.
func checkCompat(t *testing.T, tc compatCase, client *ssh.Client, root string) {
	run := runCheckExpiration(t, client)
	t.Logf("kubeadm certs check-expiration:\n%s", run.text)

	// Read the node the way tkgcert does, after kubeadm (which does not
	// write anything) ran on it.
	read, err := certs.ReadNode(os.DirFS(root))
	if err != nil {
		t.Fatalf("ReadNode: %v", err)
	}
	// kubeadm succeeded, so strict mode, which fails wherever kubeadm
	// fails, must succeed with the same result.
	strict, err := certs.ReadNodeWithOptions(os.DirFS(root), certs.ReadOptions{Strict: true})
	if err != nil {
		t.Errorf("ReadNodeWithOptions(Strict) failed where kubeadm succeeded: %v", err)
	} else if diff := cmp.Diff(read, strict); diff != "" {
		t.Errorf("strict and lenient ReadNode differ (-lenient +strict):\n%s", diff)
	}

	// JSON: ParseJSON(kubeadm) against ReadNode, to the second.
	fromJSON, err := certs.ParseJSON(run.json)
	if err != nil {
		t.Fatalf("ParseJSON(kubeadm): %v\n%s", err, run.json)
	}
	if diff := cmp.Diff(fromJSON, rowsOnly(read)); diff != "" {
		t.Errorf("ReadNode differs from kubeadm -o json (-kubeadm +ReadNode):\n%s", diff)
	}

	// The scenario really happened, as kubeadm sees it.
	jsonNow := kubeadmJSONNow(t, run.json)
	if diff := cmp.Diff(tc.wantMissing, fromJSON.MissingNames(), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("kubeadm's missing rows (-want +kubeadm):\n%s", diff)
	}
	if diff := cmp.Diff(tc.wantExpired, fromJSON.Expired(jsonNow), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("kubeadm's expired rows (-want +kubeadm):\n%s", diff)
	}
	if diff := cmp.Diff(tc.wantExternal, externalNames(fromJSON), cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("kubeadm's externally managed rows (-want +kubeadm):\n%s", diff)
	}
	if len(tc.wantExpired) > 0 && !bytes.Contains(run.text, []byte("<invalid>")) {
		t.Errorf("kubeadm's table has no <invalid> residual time:\n%s", run.text)
	}
	for _, name := range tc.wantMissing {
		if !bytes.Contains(run.text, []byte("!MISSING! "+name)) {
			t.Errorf("kubeadm's table has no !MISSING! %s row:\n%s", name, run.text)
		}
	}

	// Text: ParseText(kubeadm) against ReadNode, to the minute.
	fromText, err := certs.ParseText(bytes.NewReader(run.text), jsonNow)
	if err != nil {
		t.Fatalf("ParseText(kubeadm): %v\n%s", err, run.text)
	}
	if diff := cmp.Diff(fromText, truncateRows(rowsOnly(read))); diff != "" {
		t.Errorf("ReadNode differs from kubeadm's table (-kubeadm +ReadNode):\n%s", diff)
	}

	// Rendering: WriteJSON at the moment kubeadm ran, byte for byte.
	var got bytes.Buffer
	if err := certs.WriteJSON(&got, read, jsonNow); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(lines(string(run.json)), lines(got.String())); diff != "" {
		t.Errorf("WriteJSON(ReadNode) differs from kubeadm -o json (-kubeadm +WriteJSON):\n%s", diff)
	}

	// WriteText, byte for byte from the first table header on. The text
	// ran just before the JSON; should a residual time have crossed a
	// boundary between the two runs, the pair is run once more.
	diff := textDiff(t, run, read)
	if diff != "" {
		t.Logf("WriteText differs from kubeadm's table; running the pair again in case a residual time crossed a boundary between the runs:\n%s", diff)
		diff = textDiff(t, runCheckExpiration(t, client), read)
	}
	if diff != "" {
		t.Errorf("WriteText(ReadNode) differs from kubeadm's table (-kubeadm +WriteText):\n%s", diff)
	}
}

// textDiff renders e with WriteText at the moment kubeadm's JSON run was
// made and returns its difference from the tables of kubeadm's text run.
func textDiff(t *testing.T, run kubeadmRun, e *certs.Expiration) string {
	t.Helper()
	text := string(run.text)
	i := strings.Index(text, "CERTIFICATE ")
	if i < 0 {
		t.Fatalf("kubeadm printed no table:\n%s", text)
	}
	var got strings.Builder
	if err := certs.WriteText(&got, e, kubeadmJSONNow(t, run.json)); err != nil {
		t.Fatal(err)
	}
	return cmp.Diff(lines(text[i:]), lines(got.String()))
}

// lines splits s into lines, each with its line end, so that a difference
// shows as whole lines (trailing blanks included, as kubeadm prints them).
func lines(s string) []string {
	return strings.SplitAfter(s, "\n")
}

// runCheckExpiration runs `sudo kubeadm certs check-expiration` and then
// the same with -o json, each in its own SSH session, and returns their
// stdout.
func runCheckExpiration(t *testing.T, client *ssh.Client) kubeadmRun {
	t.Helper()
	return kubeadmRun{
		text: runSSH(t, client, "sudo kubeadm certs check-expiration"),
		json: runSSH(t, client, "sudo kubeadm certs check-expiration -o json"),
	}
}

// runSSH runs cmd in a new session and returns its stdout; a failure
// reports stderr.
func runSSH(t *testing.T, client *ssh.Client, cmd string) []byte {
	t.Helper()
	sess, err := client.NewSession()
	if err != nil {
		t.Fatalf("opening an SSH session for %q: %v", cmd, err)
	}
	defer sess.Close()
	var stdout, stderr bytes.Buffer
	sess.Stdout, sess.Stderr = &stdout, &stderr
	if err := sess.Run(cmd); err != nil {
		t.Fatalf("%s: %v\nstdout:\n%s\nstderr:\n%s", cmd, err, stdout.Bytes(), stderr.Bytes())
	}
	return stdout.Bytes()
}

// rowsOnly returns a copy of e with only the fields kubeadm prints: those
// ReadNode fills from the certificate itself are cleared.
func rowsOnly(e *certs.Expiration) *certs.Expiration {
	out := &certs.Expiration{}
	for _, c := range e.Certificates {
		out.Certificates = append(out.Certificates, certs.Info{
			Name:              c.Name,
			CAName:            c.CAName,
			NotAfter:          c.NotAfter,
			ExternallyManaged: c.ExternallyManaged,
			Missing:           c.Missing,
		})
	}
	for _, a := range e.Authorities {
		out.Authorities = append(out.Authorities, certs.Info{IsCA: true,
			Name:              a.Name,
			NotAfter:          a.NotAfter,
			ExternallyManaged: a.ExternallyManaged,
			Missing:           a.Missing,
		})
	}
	return out
}

// truncateRows truncates every NotAfter of e to the minute, the precision
// of kubeadm's table.
func truncateRows(e *certs.Expiration) *certs.Expiration {
	for i := range e.Certificates {
		e.Certificates[i].NotAfter = e.Certificates[i].NotAfter.Truncate(time.Minute)
	}
	for i := range e.Authorities {
		e.Authorities[i].NotAfter = e.Authorities[i].NotAfter.Truncate(time.Minute)
	}
	return e
}

// externalNames returns the names of the externally managed rows,
// certificates first.
func externalNames(e *certs.Expiration) []string {
	var names []string
	for _, c := range e.Certificates {
		if c.ExternallyManaged {
			names = append(names, c.Name)
		}
	}
	for _, a := range e.Authorities {
		if a.ExternallyManaged {
			names = append(names, a.Name)
		}
	}
	return names
}

// kubeadmJSONNow returns the moment, to within half a second, at which
// kubeadm computed residualTime in its JSON output: expirationDate minus
// residualTime minus half a second, from a row expiring in the future
// (kubeadm truncates the residual time toward zero, so the moment lies in
// the second before expirationDate - residualTime).
func kubeadmJSONNow(t *testing.T, data []byte) time.Time {
	t.Helper()
	type row struct {
		Name           string    `json:"name"`
		ExpirationDate time.Time `json:"expirationDate"`
		ResidualTime   int64     `json:"residualTime"`
		Missing        bool      `json:"missing"`
	}
	var info struct {
		Certificates           []row `json:"certificates"`
		CertificateAuthorities []row `json:"certificateAuthorities"`
	}
	if err := json.Unmarshal(data, &info); err != nil {
		t.Fatalf("decoding kubeadm's JSON: %v\n%s", err, data)
	}
	for _, r := range append(info.CertificateAuthorities, info.Certificates...) {
		if !r.Missing && r.ResidualTime > 0 {
			return r.ExpirationDate.Add(-time.Duration(r.ResidualTime)*time.Second - 500*time.Millisecond)
		}
	}
	t.Fatalf("kubeadm's JSON has no row with a positive residual time:\n%s", data)
	return time.Time{}
}

// compatSSHKeys generates the servers' host key and the client's key.
func compatSSHKeys(t *testing.T) (hostKey ssh.Signer, clientKey ssh.Signer, clientPub ssh.PublicKey) {
	t.Helper()
	signer := func() ssh.Signer {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		s, err := ssh.NewSignerFromKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	hostKey, clientKey = signer(), signer()
	return hostKey, clientKey, clientKey.PublicKey()
}

// compatDial connects to a node's SSH server as the TKG node user.
func compatDial(t *testing.T, addr string, hostKey ssh.PublicKey, key ssh.Signer) *ssh.Client {
	t.Helper()
	c, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{
		User:            compatUser,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(key)},
		HostKeyCallback: ssh.FixedHostKey(hostKey),
		Timeout:         30 * time.Second,
	})
	if err != nil {
		t.Fatalf("connecting to the node's SSH server %s: %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
