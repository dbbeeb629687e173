package e2e

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/inventory"
)

// runTkgcert runs the binary and returns stdout, stderr and the exit code.
// Each run gets a fresh config directory (its own known_hosts).
func runTkgcert(t *testing.T, kubeconfig string, args ...string) (string, string, int) {
	t.Helper()
	return runTkgcertIn(t, t.TempDir(), kubeconfig, args...)
}

// runTkgcertIn runs the binary with configHome as XDG_CONFIG_HOME.
func runTkgcertIn(t *testing.T, configHome, kubeconfig string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(tkgcert, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "XDG_CONFIG_HOME="+configHome)
	var stdout, stderr strings.Builder
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running tkgcert %v: %v", args, err)
	}
	return stdout.String(), stderr.String(), code
}

func checkJSON(t *testing.T, kubeconfig string, args ...string) (*inventory.Report, string, int) {
	t.Helper()
	out, errOut, code := runTkgcert(t, kubeconfig, append([]string{"check", "-o", "json"}, args...)...)
	var r inventory.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("tkgcert check %v -o json printed no report (exit %d): %v\nstdout:\n%s\nstderr:\n%s", args, code, err, out, errOut)
	}
	if r.APIVersion != "tkgcert.io/v1alpha1" || r.Kind != "CertificateReport" {
		t.Errorf("report type %s %s", r.APIVersion, r.Kind)
	}
	if strings.Contains(out, "PRIVATE KEY") || strings.Contains(out, "client-key-data") {
		t.Fatal("the report contains private key material")
	}
	return &r, errOut, code
}

func cluster(t *testing.T, r *inventory.Report, ns, name string) *inventory.ClusterReport {
	t.Helper()
	for i := range r.Clusters {
		if r.Clusters[i].Namespace == ns && r.Clusters[i].Name == name {
			return &r.Clusters[i]
		}
	}
	t.Fatalf("cluster %s/%s not in the report", ns, name)
	return nil
}

// opensslEnd reads a certificate's end date on a node with openssl over SSH.
func opensslEnd(t *testing.T, sh *shell, key, addr, file string) time.Time {
	t.Helper()
	out := sh.run(fmt.Sprintf("ssh -o StrictHostKeyChecking=no -i %s -q vmware-system-user@%s sudo openssl x509 -enddate -noout -in %s", key, addr, file))
	end, err := time.Parse("Jan _2 15:04:05 2006 MST", strings.TrimPrefix(strings.TrimSpace(out), "notAfter="))
	if err != nil {
		t.Fatalf("openssl on %s %s: %q: %v", addr, file, out, err)
	}
	return end
}

// kubeadmFiles maps kubeadm's certificate names to their files on a node.
var kubeadmFiles = map[string]string{
	"apiserver":                "/etc/kubernetes/pki/apiserver.crt",
	"apiserver-etcd-client":    "/etc/kubernetes/pki/apiserver-etcd-client.crt",
	"apiserver-kubelet-client": "/etc/kubernetes/pki/apiserver-kubelet-client.crt",
	"etcd-healthcheck-client":  "/etc/kubernetes/pki/etcd/healthcheck-client.crt",
	"etcd-peer":                "/etc/kubernetes/pki/etcd/peer.crt",
	"etcd-server":              "/etc/kubernetes/pki/etcd/server.crt",
	"front-proxy-client":       "/etc/kubernetes/pki/front-proxy-client.crt",
}

// tlsFiles maps the TLS source's names to the files behind the ports.
var tlsFiles = map[string]string{
	"apiserver":       "/etc/kubernetes/pki/apiserver.crt",
	"etcd-server":     "/etc/kubernetes/pki/etcd/server.crt",
	"etcd-peer":       "/etc/kubernetes/pki/etcd/peer.crt",
	"kubelet-serving": "/var/lib/kubelet/pki/kubelet.crt",
}

func sshKeyFile(t *testing.T, sh *shell, kubeconfig, ns, name string) string {
	t.Helper()
	key := filepath.Join(sh.dir, ns+"-"+name+".key")
	sh.run(fmt.Sprintf(`kubectl --kubeconfig %s get secret -n %s %s-ssh -o jsonpath='{.data.ssh-privatekey}' | base64 -d > %s && chmod 600 %s`, kubeconfig, ns, name, key, key))
	return key
}

func TestCheck(t *testing.T) {
	lab := startLab(t, "--address-block", "52", "--provision-delay", "0",
		"--cluster", "s/healthy",
		"--cluster", "s/expiring:expiring,light",
		"--cluster", "s/expired:expired,light",
		"--cluster", "f/down,light",
		"--cluster", "f/badkey,light",
		"--cluster", "f/badcert,light",
		"--cluster", "f/nosecret,light")
	kc := lab.kubeconfig()
	sh := newShell(t, "KUBECONFIG="+kc)

	t.Run("every source agrees with openssl and kubeadm", func(t *testing.T) {
		key := sshKeyFile(t, sh, kc, "s", "healthy")
		for _, src := range []string{"ssh", "kubeadm", "tls"} {
			r, errOut, code := checkJSON(t, kc, "-n", "s", "healthy", "--source", src)
			if code != 0 {
				t.Errorf("--source %s: exit %d, want 0\n%s", src, code, errOut)
			}
			cl := cluster(t, r, "s", "healthy")
			if len(cl.Nodes) != 4 || len(cl.CertificateAuthorities) != 3 || cl.KubeconfigCertificate == nil {
				t.Fatalf("--source %s: %d nodes, %d CAs, kubeconfig %v", src, len(cl.Nodes), len(cl.CertificateAuthorities), cl.KubeconfigCertificate)
			}
			for _, n := range cl.Nodes {
				if len(n.Errors) > 0 {
					t.Errorf("--source %s: node %s errors: %v", src, n.Name, n.Errors)
				}
				files := kubeadmFiles
				if src == "tls" {
					files = tlsFiles
				}
				if n.Role == "worker" {
					files = map[string]string{}
					if src == "tls" {
						files = map[string]string{"kubelet-serving": "/var/lib/kubelet/pki/kubelet.crt"}
					}
				}
				seen := 0
				for _, c := range n.Certificates {
					file, ok := files[c.Name]
					if !ok {
						continue
					}
					seen++
					want := opensslEnd(t, sh, key, n.Address, file)
					got := c.NotAfter.UTC()
					if src == "kubeadm" {
						want = want.Truncate(time.Second) // kubeadm's JSON has seconds
					}
					if !got.Equal(want) {
						t.Errorf("--source %s: node %s %s: report %v, openssl %v", src, n.Name, c.Name, got, want)
					}
				}
				if seen != len(files) {
					t.Errorf("--source %s: node %s: compared %d certificates, want %d", src, n.Name, seen, len(files))
				}
				if src != "tls" {
					if n.Kubelet == nil || n.Kubelet.RotateCertificates == nil || !*n.Kubelet.RotateCertificates || n.Kubelet.ClientCertificate == nil {
						t.Errorf("--source %s: node %s kubelet %+v", src, n.Name, n.Kubelet)
					} else if want := opensslEnd(t, sh, key, n.Address, "/var/lib/kubelet/pki/kubelet-client-current.pem"); !n.Kubelet.ClientCertificate.NotAfter.Equal(want) {
						t.Errorf("--source %s: node %s kubelet client %v, openssl %v", src, n.Name, n.Kubelet.ClientCertificate.NotAfter, want)
					}
				}
				if src == "kubeadm" && n.Role == "control-plane" {
					// The same as the real kubeadm prints on that node.
					raw := sh.run(fmt.Sprintf("ssh -o StrictHostKeyChecking=no -i %s -q vmware-system-user@%s sudo kubeadm certs check-expiration -o json", key, n.Address))
					e, err := certs.ParseJSON([]byte(raw))
					if err != nil {
						t.Fatal(err)
					}
					for _, kc := range e.Certificates {
						var found bool
						for _, c := range n.Certificates {
							if c.Name == kc.Name {
								found = true
								if c.Missing != kc.Missing || (!kc.Missing && !c.NotAfter.Equal(kc.NotAfter)) || c.CAName != kc.CAName {
									t.Errorf("node %s %s: report %+v, kubeadm %+v", n.Name, kc.Name, c, kc)
								}
							}
						}
						if !found {
							t.Errorf("node %s: kubeadm's %s not in the report", n.Name, kc.Name)
						}
					}
				}
			}
		}
	})

	t.Run("exit codes follow the thresholds", func(t *testing.T) {
		for _, tc := range []struct {
			name string
			code int
		}{{"healthy", 0}, {"expiring", 2}, {"expired", 3}} {
			out, errOut, code := runTkgcert(t, kc, "check", "-n", "s", tc.name)
			if code != tc.code {
				t.Errorf("check %s: exit %d, want %d\n%s\n%s", tc.name, code, tc.code, out, errOut)
			}
			// The table shows kubeadm's own headers for each control-plane node.
			if strings.Count(out, "CERTIFICATE                  EXPIRES") < 1 && strings.Count(out, "CERTIFICATE                EXPIRES") < 1 {
				t.Errorf("check %s: no kubeadm table in:\n%s", tc.name, out)
			}
		}
		// Thresholds move the verdict: 20 days left is fine with --warn 10d.
		if _, _, code := runTkgcert(t, kc, "check", "-n", "s", "expiring", "--warn", "10d", "--critical", "5d"); code != 0 {
			t.Errorf("expiring with --warn 10d: exit %d, want 0", code)
		}
	})

	t.Run("faults are reported where they happen", func(t *testing.T) {
		// A node that cannot be reached: its Machine's address leads nowhere.
		m := strings.Fields(sh.run(`kubectl get machines -n f -l cluster.x-k8s.io/cluster-name=down,cluster.x-k8s.io/control-plane -o jsonpath='{.items[0].metadata.name}'`))[0]
		sh.run(`kubectl patch machine -n f ` + m + ` --subresource=status --type merge -p '{"status":{"addresses":[{"type":"InternalIP","address":"127.52.3.250"}]}}'`)
		// A wrong key in <cluster>-ssh.
		_, other, _ := ed25519.GenerateKey(rand.Reader)
		block, _ := ssh.MarshalPrivateKey(other, "")
		if err := os.WriteFile(filepath.Join(sh.dir, "other.key"), pem.EncodeToMemory(block), 0o600); err != nil {
			t.Fatal(err)
		}
		sh.run(`kubectl create secret generic -n f badkey-ssh --from-file=ssh-privatekey=other.key --dry-run=client -o yaml | kubectl apply -f - >/dev/null`)
		// A malformed certificate on one node.
		key := sshKeyFile(t, sh, kc, "f", "badcert")
		addr := strings.Fields(sh.run(`kubectl get machines -n f -l cluster.x-k8s.io/cluster-name=badcert,cluster.x-k8s.io/control-plane -o jsonpath='{.items[0].status.addresses[0].address}'`))[0]
		sh.run(fmt.Sprintf(`ssh -o StrictHostKeyChecking=no -i %s -q vmware-system-user@%s "sudo sh -c 'echo not-a-certificate > /etc/kubernetes/pki/front-proxy-client.crt'"`, key, addr))
		// A missing CA secret.
		sh.run(`kubectl delete secret -n f nosecret-etcd >/dev/null`)

		r, errOut, code := checkJSON(t, kc, "-A")
		if code != 3 {
			t.Errorf("check -A: exit %d, want 3 (the expired cluster)", code)
		}
		if len(r.Clusters) != 7 {
			t.Fatalf("%d clusters in the report, want 7", len(r.Clusters))
		}
		if !strings.Contains(errOut, "errors") {
			t.Errorf("stderr does not mention the errors: %q", errOut)
		}
		nodeErrors := func(cl *inventory.ClusterReport) (bad, good int, msgs []string) {
			for _, n := range cl.Nodes {
				if len(n.Errors) > 0 {
					bad++
					msgs = append(msgs, n.Errors...)
				} else if len(n.Certificates) > 0 || n.Role == "worker" {
					good++
				}
			}
			return
		}
		if bad, good, msgs := nodeErrors(cluster(t, r, "f", "down")); bad != 1 || good != 3 || !strings.Contains(strings.Join(msgs, ";"), "127.52.3.250:22") {
			t.Errorf("down: %d bad, %d good nodes; errors %v", bad, good, msgs)
		}
		if bad, _, msgs := nodeErrors(cluster(t, r, "f", "badkey")); bad != 4 || !strings.Contains(strings.Join(msgs, ";"), "unable to authenticate") {
			t.Errorf("badkey: %d bad nodes; errors %v", bad, msgs)
		}
		if cl := cluster(t, r, "f", "badkey"); len(cl.CertificateAuthorities) != 3 {
			t.Errorf("badkey: the CAs from the Supervisor are still reported, got %d", len(cl.CertificateAuthorities))
		}
		if bad, good, msgs := nodeErrors(cluster(t, r, "f", "badcert")); bad != 1 || good != 3 || !strings.Contains(strings.Join(msgs, ";"), "front-proxy-client") {
			t.Errorf("badcert: %d bad, %d good nodes; errors %v", bad, good, msgs)
		}
		ns := cluster(t, r, "f", "nosecret")
		if len(ns.Errors) != 1 || !strings.Contains(ns.Errors[0], "secret f/nosecret-etcd not found") || len(ns.CertificateAuthorities) != 2 {
			t.Errorf("nosecret: errors %v, %d CAs", ns.Errors, len(ns.CertificateAuthorities))
		}
		if bad, good, _ := nodeErrors(ns); bad != 0 || good != 4 {
			t.Errorf("nosecret: nodes %d bad %d good; a missing CA secret must not hide the nodes", bad, good)
		}
		// The healthy cluster is untouched by the others' faults.
		if bad, good, _ := nodeErrors(cluster(t, r, "s", "healthy")); bad != 0 || good != 4 {
			t.Errorf("healthy: %d bad, %d good", bad, good)
		}
		// The table form lists the errors next to the node they belong to.
		out, _, _ := runTkgcert(t, kc, "check", "-n", "f", "badcert")
		if !strings.Contains(out, "error: node ") || !strings.Contains(out, "front-proxy-client") {
			t.Errorf("table output does not show the node's error:\n%s", out)
		}
	})

	t.Run("clusters lists the fleet from the Supervisor", func(t *testing.T) {
		out, errOut, code := runTkgcert(t, kc, "clusters", "-A")
		if code != 0 {
			t.Fatalf("clusters -A: exit %d\n%s", code, errOut)
		}
		l := lines(out)
		if len(l) != 8 || !strings.HasPrefix(l[0], "NAMESPACE") {
			t.Fatalf("clusters -A:\n%s", out)
		}
		for _, row := range l[1:] {
			if f := strings.Fields(row); len(f) < 4 || f[2] != "v1beta1" || f[3] != "Provisioned" {
				t.Errorf("row %q", row)
			}
		}
		if !strings.Contains(errOut, "f/nosecret: secret f/nosecret-etcd not found") {
			t.Errorf("clusters does not warn about the missing secret: %q", errOut)
		}
		js, _, code := runTkgcert(t, kc, "clusters", "-n", "s", "-o", "json")
		var list inventory.ClusterList
		if err := json.Unmarshal([]byte(js), &list); err != nil || code != 0 || len(list.Items) != 3 {
			t.Fatalf("clusters -o json: %v, exit %d, %d items", err, code, len(list.Items))
		}
		for _, it := range list.Items {
			if it.EarliestLeafExpiry == nil || it.EarliestCAExpiry == nil || it.ControlPlane.Ready != 3 {
				t.Errorf("%s: %+v", it.Name, it)
			}
		}
		if _, errOut, code := runTkgcert(t, kc, "clusters", "-n", "s", "nope"); code != 1 || !strings.Contains(errOut, `cluster "nope" not found in namespace s`) {
			t.Errorf("unknown cluster: exit %d, %q", code, errOut)
		}
	})
}

// TestCheckV1Beta2 runs the same checks against a Supervisor serving
// current Cluster API (v1beta2).
func TestCheckV1Beta2(t *testing.T) {
	lab := startLab(t, "--capi-version", "v1beta2", "--address-block", "53", "--provision-delay", "0",
		"--cluster", "s/healthy,light", "--cluster", "s/expiring:expiring,light", "--cluster", "s/expired:expired,light")
	kc := lab.kubeconfig()
	sh := newShell(t, "KUBECONFIG="+kc)
	for _, tc := range []struct {
		name string
		code int
	}{{"healthy", 0}, {"expiring", 2}, {"expired", 3}} {
		r, errOut, code := checkJSON(t, kc, "-n", "s", tc.name)
		if code != tc.code {
			t.Errorf("check %s: exit %d, want %d\n%s", tc.name, code, tc.code, errOut)
		}
		cl := cluster(t, r, "s", tc.name)
		if cl.ClusterAPIVersion != "v1beta2" || len(cl.Nodes) != 4 {
			t.Fatalf("%s: API %s, %d nodes", tc.name, cl.ClusterAPIVersion, len(cl.Nodes))
		}
		key := sshKeyFile(t, sh, kc, "s", tc.name)
		for _, n := range cl.Nodes {
			if len(n.Errors) > 0 {
				t.Errorf("%s: node %s: %v", tc.name, n.Name, n.Errors)
			}
			for _, c := range n.Certificates {
				if c.Name != "apiserver" {
					continue
				}
				if want := opensslEnd(t, sh, key, n.Address, kubeadmFiles["apiserver"]); !c.NotAfter.Equal(want) {
					t.Errorf("%s: node %s apiserver: report %v, openssl %v", tc.name, n.Name, c.NotAfter, want)
				}
			}
		}
	}
	out, _, code := runTkgcert(t, kc, "clusters", "-n", "s")
	if code != 0 || strings.Count(out, " v1beta2 ") != 3 {
		t.Errorf("clusters: exit %d\n%s", code, out)
	}
}
