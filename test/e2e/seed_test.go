package e2e

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tkgcert/tkgcert/internal/certs"
)

func script(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "seed", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// loopSection is one node's part of the seed's SSH loop output.
type loopSection struct {
	host string
	body string
}

func parseLoop(t *testing.T, out string) []loopSection {
	t.Helper()
	var secs []loopSection
	for _, part := range strings.Split(out, "######")[1:] {
		part = strings.TrimLeft(part, "\n")
		host, body, _ := strings.Cut(part, "\n")
		secs = append(secs, loopSection{host: strings.TrimSpace(host), body: body})
	}
	return secs
}

// seedNames are the certificates the seed's table lists.
var seedNames = []string{"admin.conf", "apiserver", "apiserver-etcd-client", "apiserver-kubelet-client", "controller-manager.conf",
	"etcd-healthcheck-client", "etcd-peer", "etcd-server", "front-proxy-client", "scheduler.conf"}

// checkExpiration runs step 5 (or 7) and checks every node's kubeadm table
// against the certificate file on the node, read independently with openssl.
func checkExpiration(t *testing.T, sh *shell, step string, wantHosts []string) map[string]*certs.Expiration {
	t.Helper()
	out := sh.run(script(t, step))
	// kubectl get nodes -o wide: the seed's columns and roles.
	if !strings.Contains(out, "VMware Photon OS/Linux") || !strings.Contains(out, "containerd://1.4.11") || strings.Count(out, "control-plane,master") != 3 {
		t.Errorf("%s: kubectl get nodes -o wide does not look like the seed's:\n%s", step, out)
	}
	secs := parseLoop(t, out)
	var hosts []string
	tables := map[string]*certs.Expiration{}
	for _, s := range secs {
		hosts = append(hosts, s.host)
		if strings.Contains(s.body, "Falling back") || !strings.Contains(s.body, "Reading configuration from the") {
			t.Errorf("%s: kubeadm on %s did not read its configuration from the cluster:\n%s", step, s.host, s.body)
		}
		e, err := certs.ParseText(strings.NewReader(s.body), time.Now())
		if err != nil {
			t.Fatalf("%s: parsing kubeadm's table from %s: %v\n%s", step, s.host, err, s.body)
		}
		tables[s.host] = e
		for _, n := range seedNames {
			if c, ok := e.Certificate(n); !ok || c.Missing {
				t.Errorf("%s: %s: certificate %s missing from kubeadm's table", step, s.host, n)
			}
		}
	}
	slices.Sort(hosts)
	if !slices.Equal(hosts, wantHosts) {
		t.Fatalf("%s: the loop reached hosts %v, want the control-plane machines %v", step, hosts, wantHosts)
	}
	// Independent check: openssl on the node reads the same date kubeadm printed.
	addrs := strings.Fields(sh.run(`cat nodes`))
	for _, addr := range addrs {
		host := strings.TrimSpace(sh.run("ssh -o StrictHostKeyChecking=no -i $CLUSTER_NAME-ssh-privatekey -q vmware-system-user@" + addr + " hostname"))
		end := strings.TrimSpace(sh.run("ssh -o StrictHostKeyChecking=no -i $CLUSTER_NAME-ssh-privatekey -q vmware-system-user@" + addr + " sudo openssl x509 -enddate -noout -in /etc/kubernetes/pki/apiserver.crt"))
		notAfter, err := time.Parse("Jan _2 15:04:05 2006 MST", strings.TrimPrefix(end, "notAfter="))
		if err != nil {
			t.Fatalf("openssl on %s printed %q: %v", host, end, err)
		}
		if c, ok := tables[host].Certificate("apiserver"); !ok || !c.NotAfter.Equal(notAfter.Truncate(time.Minute)) {
			t.Errorf("%s: apiserver on %s: kubeadm says %v, openssl says %v", step, host, c, notAfter)
		}
	}
	return tables
}

func machineNames(t *testing.T, sh *shell, selector string) []string {
	t.Helper()
	names := strings.Fields(sh.run(`kubectl --kubeconfig "$SUPERVISOR_KUBECONFIG" get machines -n $CLUSTER_NAMESPACE -l '` + selector + `' -o jsonpath='{.items[*].metadata.name}'`))
	slices.Sort(names)
	return names
}

// TestSeedProcedure types the seed's steps 2–8 against `tkgcert-lab up`
// with the real kubectl, ssh and kubeadm, for the v1beta1 world of the seed
// and its v1beta2 equivalent.
func TestSeedProcedure(t *testing.T) {
	for _, tc := range []struct {
		version, block string
	}{
		{"v1beta1", "50"},
		{"v1beta2", "51"},
	} {
		t.Run(tc.version, func(t *testing.T) {
			lab := startLab(t, "--capi-version", tc.version, "--address-block", tc.block, "--provision-delay", "1s", "--ssh-port", "22")
			sh := newShell(t, "KUBECONFIG="+lab.kubeconfig(), "SUPERVISOR_KUBECONFIG="+lab.kubeconfig(),
				"CLUSTER_NAMESPACE=tkg-cluster-ns", "CLUSTER_NAME=tkg-cluster")

			// Step 2.
			out := sh.run(script(t, "step2.sh"))
			if l := lines(out); len(l) != 2 || !strings.HasPrefix(l[0], "NAME") || !strings.HasPrefix(l[1], "tkg-cluster ") || !strings.Contains(l[1], "Provisioned") {
				t.Errorf("step 2: kubectl get clusters:\n%s", out)
			}
			// Steps 3 and 4.
			sh.run(script(t, "step3.sh"))
			sh.run(script(t, "step4.sh"))
			if st, err := os.Stat(filepath.Join(sh.dir, "tkg-cluster-ssh-privatekey")); err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("step 4: key file: %v %v", st, err)
			}
			cpBefore := machineNames(t, sh, "cluster.x-k8s.io/control-plane")
			workers := machineNames(t, sh, "!cluster.x-k8s.io/control-plane")
			if len(cpBefore) != 3 || len(workers) != 1 {
				t.Fatalf("machines: control plane %v, workers %v", cpBefore, workers)
			}
			// Step 5.
			before := checkExpiration(t, sh, "step5.sh", cpBefore)

			// Step 6.
			out = sh.run(script(t, "step6.sh"))
			l := lines(out)
			if len(l) != 4 || l[0] != "kubernetes-admin@kubernetes" || l[1] != "controlplane.cluster.x-k8s.io/"+tc.version || !strings.HasPrefix(l[2], "NAME") {
				t.Fatalf("step 6:\n%s", out)
			}
			if tc.version == "v1beta1" && strings.Join(strings.Fields(l[3])[:8], " ") != "tkg-cluster-control-plane tkg-cluster true true 3 3 3 0" {
				t.Errorf("step 6: kubectl get kcp row %q, want the seed's 3 3 3 0", l[3])
			}
			out = sh.run(script(t, "step6-patch-"+tc.version+".sh"))
			if strings.TrimSpace(out) != "kubeadmcontrolplane.controlplane.cluster.x-k8s.io/tkg-cluster-control-plane patched" {
				t.Fatalf("step 6 patch: %q", out)
			}
			// The rollout, watched with the seed's `kubectl get machines`.
			var sawProvisioning, sawFour bool
			deadline := time.Now().Add(5 * time.Minute) // liveness guard
			for {
				out := sh.run(script(t, "step6-watch.sh"))
				rows := lines(out)[1:]
				cp := 0
				for _, r := range rows {
					f := strings.Fields(r)
					if strings.HasPrefix(f[0], "tkg-cluster-control-plane-") {
						cp++
					}
					// v1beta1 columns: NAME CLUSTER NODENAME PROVIDERID PHASE AGE VERSION;
					// a Provisioning machine has no NODENAME and no PROVIDERID.
					if slices.Contains(f, "Provisioning") && (tc.version != "v1beta1" || len(f) == 5) {
						sawProvisioning = true
					}
				}
				sawFour = sawFour || cp == 4
				now := machineNames(t, sh, "cluster.x-k8s.io/control-plane")
				running := strings.Count(out, "Running")
				fresh := len(now) == 3
				for _, n := range now {
					fresh = fresh && !slices.Contains(cpBefore, n)
				}
				if fresh && running == 4 {
					t.Logf("after the rollout:\n%s", out)
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("rollout did not finish:\n%s\n%s", out, lab.log())
				}
				time.Sleep(300 * time.Millisecond)
			}
			if !sawProvisioning || !sawFour {
				t.Errorf("rollout: saw a Provisioning machine without node: %v; saw four control-plane machines: %v", sawProvisioning, sawFour)
			}
			if got := machineNames(t, sh, "!cluster.x-k8s.io/control-plane"); !slices.Equal(got, workers) {
				t.Errorf("workers changed: %v -> %v", workers, got)
			}

			// Step 7: the same kubeconfig file still works; every certificate is later, CAs unchanged.
			cpAfter := machineNames(t, sh, "cluster.x-k8s.io/control-plane")
			after := checkExpiration(t, sh, "step7.sh", cpAfter)
			for _, n := range seedNames {
				var latestBefore, earliestAfter time.Time
				for _, e := range before {
					if c, ok := e.Certificate(n); ok && c.NotAfter.After(latestBefore) {
						latestBefore = c.NotAfter
					}
				}
				for _, e := range after {
					if c, ok := e.Certificate(n); ok && (earliestAfter.IsZero() || c.NotAfter.Before(earliestAfter)) {
						earliestAfter = c.NotAfter
					}
				}
				if !earliestAfter.After(latestBefore) {
					t.Errorf("certificate %s: after rotation %v, before %v: not later", n, earliestAfter, latestBefore)
				}
			}
			caBefore, caAfter := before[cpBefore[0]], after[cpAfter[0]]
			for _, ca := range []string{"ca", "etcd-ca", "front-proxy-ca"} {
				a, okA := caBefore.Authority(ca)
				b, okB := caAfter.Authority(ca)
				if !okA || !okB || !a.NotAfter.Equal(b.NotAfter) {
					t.Errorf("CA %s changed: %v -> %v", ca, a, b)
				}
			}

			// Step 8: the worker's kubelet rotates its certificates.
			secs := parseLoop(t, sh.run(script(t, "step8.sh")))
			if len(secs) != 1 || secs[0].host != workers[0] || strings.TrimSpace(secs[0].body) != "rotateCertificates: true" {
				t.Errorf("step 8: %+v, want %s with rotateCertificates: true", secs, workers[0])
			}
		})
	}
}
