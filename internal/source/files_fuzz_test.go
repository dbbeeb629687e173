package source

import (
	"net"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/tkgcert/tkgcert/internal/pki"
)

// FuzzParseBundle: whatever a node sends, parseBundle either refuses it or
// holds only what the allowlist lets through: files under fileGlobs, key
// placeholders under keyGlobs, and in each file only the lines its kind
// allows (CERTIFICATE blocks of base64, kubeconfig structure lines, the
// kubelet's rotation setting). No private key, client key or token
// survives, neither as text nor once a kept kubeconfig is loaded.
func FuzzParseBundle(f *testing.F) {
	f.Add([]byte("@@tkgcert-end\n"))
	f.Add([]byte("@@tkgcert-file etc/kubernetes/pki/ca.crt\nline1\n"))
	f.Add([]byte("@@tkgcert-file etc/kubernetes/pki/ca.crt\nstray\n-----BEGIN CERTIFICATE-----\nQUJD\nnot base64!\n-----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\nS0VZ\n-----END PRIVATE KEY-----\n" +
		"@@tkgcert-file etc/kubernetes/admin.conf\nusers:\n- name: a\n  user:\n    client-certificate-data: QUJD\n    client-key-data: S0VZ\n    token: abc\n" +
		"@@tkgcert-file var/lib/kubelet/config.yaml\nrotateCertificates: true\nstaticPodURLHeader: {a: [b]}\n" +
		"@@tkgcert-key etc/kubernetes/pki/ca.key\n@@tkgcert-end\n"))
	f.Add([]byte("@@tkgcert-file etc/kubernetes/admin.conf\r\napiVersion: v1\r\npreferences: {}\r\nusers:\r\n- name: a\r\n  user:\r\n    client-certificate: /x.crt\r\n@@tkgcert-end\r\n"))
	for _, bad := range []string{
		"@@tkgcert-file etc/shadow\nx\n@@tkgcert-end\n",
		"@@tkgcert-file etc/kubernetes/../../etc/shadow.conf\nx\n@@tkgcert-end\n",
		"@@tkgcert-key root/.ssh/id_rsa\n@@tkgcert-end\n",
		"@@tkgcert-end\n@@tkgcert-file etc/kubernetes/admin.conf\n",
		"@@tkgcert-file /etc/kubernetes/admin.conf\n@@tkgcert-end\n",
	} {
		f.Add([]byte(bad))
	}
	// A real node's files as they are on disk, private keys and
	// client-key-data included: what a node without the awk filter would send.
	f.Add(unfilteredBundle(f))

	f.Fuzz(func(t *testing.T, out []byte) {
		fsys, err := parseBundle(out)
		if err != nil {
			return
		}
		for p, file := range fsys {
			if matchesAny(p, keyGlobs) {
				if string(file.Data) != string(keyPlaceholder) {
					t.Fatalf("key %s carries %q", p, file.Data)
				}
				continue
			}
			if !matchesAny(p, fileGlobs) {
				t.Fatalf("kept %s, which is under neither fileGlobs nor keyGlobs", p)
			}
			data := string(file.Data)
			for _, secret := range []string{"PRIVATE KEY", "client-key-data", "token:"} {
				if strings.Contains(data, secret) {
					t.Fatalf("%s keeps %q:\n%s", p, secret, data)
				}
			}
			if data != "" && !strings.HasSuffix(data, "\n") {
				t.Fatalf("%s does not end in a newline: %q", p, data)
			}
			inPEM := false
			for line := range strings.SplitSeq(strings.TrimSuffix(data, "\n"), "\n") {
				if data == "" {
					break
				}
				ok := false
				switch kindOf(p) {
				case pemFile:
					switch {
					case line == "-----BEGIN CERTIFICATE-----":
						ok, inPEM = true, true
					case line == "-----END CERTIFICATE-----":
						ok, inPEM = inPEM, false
					default:
						ok = inPEM && pemLine.MatchString(line)
					}
				case confFile:
					ok = confLine.MatchString(line)
				case kubeletFile:
					ok = kubeletLine.MatchString(line)
				}
				if !ok {
					t.Fatalf("%s keeps a line outside the allowlist: %q", p, line)
				}
			}
			if kindOf(p) != confFile {
				continue
			}
			// What the lines say once loaded: no credential but the
			// client certificate.
			cfg, err := clientcmd.Load(file.Data)
			if err != nil {
				continue
			}
			for name, u := range cfg.AuthInfos {
				if len(u.ClientKeyData) > 0 || u.ClientKey != "" || u.Token != "" || u.TokenFile != "" ||
					u.Password != "" || u.Exec != nil || u.AuthProvider != nil {
					t.Fatalf("%s keeps credentials of user %q: %+v\n%s", p, name, u, data)
				}
			}
		}
	})
}

// unfilteredBundle is a control-plane node's files, unfiltered, in the
// bundle's framing.
func unfilteredBundle(f *testing.F) []byte {
	v := pki.ValidFor(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), 365*24*time.Hour)
	cas, err := pki.NewClusterCAs(pki.CAOptions{Validity: v, KeyAlgorithm: pki.ECDSAP256})
	if err != nil {
		f.Fatal(err)
	}
	files, err := pki.ControlPlaneNode(cas, pki.NodeOptions{NodeName: "node-a", Addresses: []net.IP{net.ParseIP("10.0.0.1")},
		ControlPlaneEndpoint: "10.0.0.2:6443", Validity: v, KeyAlgorithm: pki.ECDSAP256, RotateCertificates: true})
	if err != nil {
		f.Fatal(err)
	}
	var b strings.Builder
	for _, p := range files.Paths() {
		data, err := files.Resolve(p)
		if err != nil {
			continue
		}
		switch {
		case matchesAny(p, fileGlobs):
			b.WriteString("@@tkgcert-file " + p + "\n")
			b.Write(data)
		case matchesAny(p, keyGlobs):
			b.WriteString("@@tkgcert-key " + p + "\n")
		}
	}
	b.WriteString("@@tkgcert-end\n")
	return []byte(b.String())
}
