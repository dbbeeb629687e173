package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tkgcert/tkgcert/internal/recovery"
)

// cpNodes lists a cluster's control-plane machines (named as their nodes)
// with their addresses, sorted by name: the order recover works in.
func cpNodes(sh *shell, ns, cluster string) (names, addrs []string) {
	out := sh.run(fmt.Sprintf(`kubectl get machines -n %s -l cluster.x-k8s.io/cluster-name=%s,cluster.x-k8s.io/control-plane -o jsonpath='{range .items[*]}{.metadata.name} {.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}' | sort`, ns, cluster))
	for _, l := range lines(out) {
		f := strings.Fields(l)
		names, addrs = append(names, f[0]), append(addrs, f[1])
	}
	return names, addrs
}

// onNode runs a shell command as root on a node with OpenSSH (the command
// on stdin, so that it reaches the node's shell unquoted once).
func onNode(sh *shell, key, addr, cmd string) string {
	return strings.TrimSpace(sh.run(fmt.Sprintf("ssh -o StrictHostKeyChecking=no -i %s -q vmware-system-user@%s sudo sh -s <<'TKGCERT_EOF'\n%s\nTKGCERT_EOF", key, addr, cmd)))
}

// servedSerial is the serial of the certificate the node's API server
// presents, read with openssl s_client.
func servedSerial(sh *shell, addr string) string {
	return strings.TrimSpace(sh.run(fmt.Sprintf("echo | openssl s_client -connect %s:6443 2>/dev/null | openssl x509 -noout -serial", addr)))
}

// secretKubeconfig writes the cluster's <cluster>-kubeconfig secret to a
// file and returns its path.
func secretKubeconfig(sh *shell, ns, cluster string) string {
	path := filepath.Join(sh.dir, ns+"-"+cluster+".kubeconfig")
	sh.run(fmt.Sprintf(`kubectl get secret -n %s %s-kubeconfig -o jsonpath='{.data.value}' | base64 -d > %s`, ns, cluster, path))
	return path
}

func TestRecover(t *testing.T) {
	lab := startLab(t, "--address-block", "70", "--provision-delay", "1s",
		"--cluster", "s/old:expired", "--cluster", "s/faulty:expired")
	kc := lab.kubeconfig()

	t.Run("expired cluster is recovered, then rotates", func(t *testing.T) {
		sh := newShell(t, "KUBECONFIG="+kc)
		key := sshKeyFile(t, sh, kc, "s", "old")
		names, addrs := cpNodes(sh, "s", "old")
		caBefore := onNode(sh, key, addrs[0], "openssl x509 -noout -fingerprint -sha256 -in /etc/kubernetes/pki/ca.crt")
		secretMeta := `kubectl get secret -n s old-kubeconfig -o jsonpath='{.type}|{.metadata.labels}|{.metadata.ownerReferences}|{.metadata.uid}'`
		metaBefore := sh.run(secretMeta)
		serialsBefore := map[string]string{}
		for _, a := range addrs {
			serialsBefore[a] = servedSerial(sh, a)
		}

		// Cluster API's record of each machine's expiry, which recover
		// removes so that KCP reads the renewed certificate again.
		expiryRecord := func() string {
			return strings.TrimSpace(sh.run(`kubectl get kubeadmconfig -n s -l cluster.x-k8s.io/cluster-name=old,cluster.x-k8s.io/control-plane -o jsonpath='{range .items[*]}{.metadata.annotations.machine\.cluster\.x-k8s\.io/certificates-expiry}{"\n"}{end}'`))
		}
		if got := lines(expiryRecord()); len(got) != 3 {
			t.Fatalf("KubeadmConfig expiry annotations before recovery: %q", got)
		}

		// Before: the workload API rejects the Supervisor's kubeconfig.
		out, err := sh.try("kubectl --kubeconfig " + secretKubeconfig(sh, "s", "old") + " get ns kube-system")
		if err == nil || !strings.Contains(out, "certificate has expired") {
			t.Fatalf("before recovery the workload API answered (or failed otherwise): %v\n%s", err, out)
		}

		// kubeadm on the node reads the cluster's configuration with
		// admin.conf, and falls back to defaults when the API rejects it.
		kubeadmReads := func() (string, bool) {
			out := onNode(sh, key, addrs[0], "kubeadm certs check-expiration 2>&1")
			return out, !strings.Contains(out, "Falling back") && strings.Contains(out, `Reading configuration from the "kubeadm-config" ConfigMap`)
		}
		if out, ok := kubeadmReads(); ok {
			t.Fatalf("before recovery kubeadm read the cluster with admin.conf:\n%s", out)
		}

		// A dry run shows the plan and changes nothing.
		out, errOut, code := runTkgcert(t, kc, "recover", "-n", "s", "old", "--dry-run")
		if code != 0 || !strings.Contains(out, "Dry run: nothing was changed.") || !strings.Contains(out, "renew leaf certificates and kubeconfigs, restart static pods") ||
			!strings.Contains(out, "refresh the client certificate of secret s/old-kubeconfig") {
			t.Fatalf("dry run: exit %d\n%s\n%s", code, out, errOut)
		}
		out, _, code = runTkgcert(t, kc, "recover", "-n", "s", "old", "--dry-run", "-o", "json")
		var doc struct {
			Plan   recovery.Plan    `json:"plan"`
			Result *recovery.Result `json:"result"`
		}
		if err := json.Unmarshal([]byte(out), &doc); code != 0 || err != nil {
			t.Fatalf("dry run -o json: exit %d, %v\n%s", code, err, out)
		}
		if len(doc.Plan.Nodes) != 4 || !doc.Plan.RefreshSecret || !doc.Plan.Nodes[0].RenewPKI || !doc.Plan.Nodes[3].RenewKubelet || doc.Result != nil {
			t.Errorf("dry run -o json: %+v", doc)
		}
		for _, a := range addrs {
			if got := servedSerial(sh, a); got != serialsBefore[a] {
				t.Errorf("dry run changed the certificate on %s", a)
			}
			if got := onNode(sh, key, a, "ls -d /etc/kubernetes/tkgcert-* 2>/dev/null || true"); got != "" {
				t.Errorf("dry run left %s on %s", got, a)
			}
		}

		// Two runs at once: the first holds the cluster's lock; the
		// second, started while the first works, is refused before it
		// reads anything, naming the first.
		start := time.Now()
		first := exec.Command(tkgcert, "recover", "-n", "s", "old", "--yes")
		first.Env = append(os.Environ(), "KUBECONFIG="+kc, "XDG_CONFIG_HOME="+t.TempDir())
		var firstOut strings.Builder
		firstErrFile := filepath.Join(t.TempDir(), "stderr")
		ef, err := os.Create(firstErrFile)
		if err != nil {
			t.Fatal(err)
		}
		first.Stdout, first.Stderr = &firstOut, ef
		if err := first.Start(); err != nil {
			t.Fatal(err)
		}
		firstDone := make(chan error, 1)
		go func() { firstDone <- first.Wait(); ef.Close() }()
		firstErr := func() string { b, _ := os.ReadFile(firstErrFile); return string(b) }
		for deadline := time.Now().Add(2 * time.Minute); !strings.Contains(firstErr(), "Locked s/old for this run"); time.Sleep(100 * time.Millisecond) {
			if time.Now().After(deadline) { // liveness guard
				t.Fatalf("the first recover did not take the lock:\n%s", firstErr())
			}
		}
		out2, errOut2, code2 := runTkgcert(t, kc, "recover", "-n", "s", "old", "--yes")
		if code2 == 0 || !strings.Contains(errOut2, "not recovering s/old, nothing was changed: cluster s/old is locked by \"tkgcert recover by ") ||
			!strings.Contains(errOut2, "kubectl delete lease -n s old-tkgcert-lock") || strings.Contains(errOut2, "Checking the certificates") {
			t.Errorf("a second recover while the first runs: exit %d\n%s\n%s", code2, out2, errOut2)
		}
		if err := <-firstDone; err != nil {
			t.Fatalf("recover: %v\n%s\n%s", err, firstOut.String(), firstErr())
		}
		out, errOut, code = firstOut.String(), firstErr(), 0
		t.Logf("recover took %s", time.Since(start).Round(time.Second))
		if got, err := sh.try("kubectl get lease -n s old-tkgcert-lock -o name"); err == nil || !strings.Contains(got, "NotFound") {
			t.Errorf("the lock is still there after recover: %v %s", err, got)
		}
		if code != 0 || !strings.Contains(out, "s/old: recovered") || !strings.Contains(out, "tkgcert rotate -n s old") {
			t.Fatalf("recover: exit %d\n%s\n%s", code, out, errOut)
		}
		if strings.Contains(out+errOut, "PRIVATE KEY") || strings.Contains(out+errOut, "client-key-data") {
			t.Fatal("recover printed private key material")
		}
		for _, n := range names {
			if !regexp.MustCompile(n + ` +recovered +/etc/kubernetes/tkgcert-backup-\d{8}T\d{6}Z`).MatchString(out) {
				t.Errorf("node %s not reported recovered with its backup:\n%s", n, out)
			}
		}

		// After: the API answers with the kubeconfig from the Supervisor's
		// (refreshed) secret, through the cluster endpoint and on each node.
		skc := secretKubeconfig(sh, "s", "old")
		sh.run("kubectl --kubeconfig " + skc + " get ns kube-system")
		for _, a := range addrs {
			sh.run(fmt.Sprintf("kubectl --kubeconfig %s --server https://%s:6443 get --raw /readyz", skc, a))
			if servedSerial(sh, a) == serialsBefore[a] {
				t.Errorf("%s still serves its old certificate", a)
			}
			for _, f := range []string{"/etc/kubernetes/pki/apiserver.crt", "/etc/kubernetes/pki/etcd/peer.crt", "/var/lib/kubelet/pki/kubelet-client-current.pem"} {
				if end := opensslEnd(t, sh, key, a, f); end.Before(time.Now().Add(364 * 24 * time.Hour)) {
					t.Errorf("%s on %s expires %v, not in a year", f, a, end)
				}
			}
			if got := onNode(sh, key, a, "openssl x509 -noout -fingerprint -sha256 -in /etc/kubernetes/pki/ca.crt"); got != caBefore {
				t.Errorf("the CA on %s changed: %s -> %s", a, caBefore, got)
			}
			if got := onNode(sh, key, a, "ls -d /etc/kubernetes/tkgcert-backup-*/kubernetes/pki/apiserver.crt"); got == "" {
				t.Errorf("no backup on %s", a)
			}
		}
		if out, ok := kubeadmReads(); !ok {
			t.Errorf("after recovery kubeadm cannot read the cluster with the renewed admin.conf:\n%s", out)
		}
		if got := sh.run(secretMeta); got != metaBefore {
			t.Errorf("the secret's type, labels or owners changed:\n%s\n%s", metaBefore, got)
		}
		if got := expiryRecord(); got != "" || !strings.Contains(errOut, "removed machine.cluster.x-k8s.io/certificates-expiry from its KubeadmConfig") {
			t.Errorf("KubeadmConfig expiry annotations after recovery: %q\n%s", got, errOut)
		}
		if out, errOut, code := runTkgcert(t, kc, "check", "-n", "s", "old"); code != 0 {
			t.Errorf("check after recovery: exit %d\n%s\n%s", code, out, errOut)
		}

		// Recovering again finds nothing to do.
		if out, _, code := runTkgcert(t, kc, "recover", "-n", "s", "old", "--yes"); code != 0 || !strings.Contains(out, "Nothing has expired") {
			t.Errorf("second recover: exit %d\n%s", code, out)
		}

		out, errOut, code = runTkgcert(t, kc, "rotate", "-n", "s", "old", "--yes")
		if code != 0 || !strings.Contains(out, "every control-plane node is new") {
			t.Fatalf("rotate after recovery: exit %d\n%s\n%s", code, out, errOut)
		}
		sh.run("kubectl --kubeconfig " + secretKubeconfig(sh, "s", "old") + " get ns kube-system")
	})

	t.Run("a failing node is restored from its backup and the recovery stops there", func(t *testing.T) {
		sh := newShell(t, "KUBECONFIG="+kc)
		key := sshKeyFile(t, sh, kc, "s", "faulty")
		names, addrs := cpNodes(sh, "s", "faulty")
		fileSerial := func(a string) string {
			return onNode(sh, key, a, "openssl x509 -noout -serial -in /etc/kubernetes/pki/apiserver.crt")
		}
		var before []string
		for _, a := range addrs {
			before = append(before, fileSerial(a))
		}
		secretBefore := sh.run(`kubectl get secret -n s faulty-kubeconfig -o jsonpath='{.data.value}'`)

		// The second node's API server is made to fail as it comes back
		// with the renewed certificates.
		out, errOut, code := runTkgcert(t, kc, "recover", "-n", "s", "faulty", "--yes", "--node-timeout", "20s", "--inject-fault", names[1]+":apiserver")
		if code != 1 {
			t.Fatalf("exit %d, want 1\n%s\n%s", code, out, errOut)
		}
		m := regexp.MustCompile(`error: stopped at step "apiserver" on node ` + names[1] + ` \(` + regexp.QuoteMeta(addrs[1]) + `\): the API server on \S+ did not come back within 20s .*; backup restored from (/etc/kubernetes/tkgcert-backup-\d{8}T\d{6}Z)`).FindStringSubmatch(errOut)
		if m == nil {
			t.Fatalf("the error does not name the step, node and backup:\n%s", errOut)
		}
		backup := m[1]
		for _, want := range []string{names[0] + " +recovered", names[1] + " +restored +" + regexp.QuoteMeta(backup), names[2] + " +untouched +-"} {
			if !regexp.MustCompile(want).MatchString(out) {
				t.Errorf("node table lacks %q:\n%s", want, out)
			}
		}

		// The failed node is exactly its backup again, serving its old certificate.
		if got := onNode(sh, key, addrs[1], fmt.Sprintf("diff -r -x 'tkgcert-*' /etc/kubernetes %s/kubernetes && diff -r /var/lib/kubelet/pki %s/kubelet-pki && echo identical", backup, backup)); got != "identical" {
			t.Errorf("node %s differs from its backup:\n%s", names[1], got)
		}
		if got := fileSerial(addrs[1]); got != before[1] {
			t.Errorf("node %s: apiserver.crt %s, want the old %s", names[1], got, before[1])
		}
		if got := servedSerial(sh, addrs[1]); !strings.EqualFold(strings.TrimPrefix(got, "serial="), strings.TrimPrefix(before[1], "serial=")) {
			t.Errorf("node %s serves %s, want the old %s", names[1], got, before[1])
		}
		// The node before it stays recovered; the one after is untouched.
		if got := fileSerial(addrs[0]); got == before[0] {
			t.Errorf("node %s is no longer recovered", names[0])
		}
		if got := servedSerial(sh, addrs[0]); !strings.EqualFold(got, fileSerial(addrs[0])) {
			t.Errorf("node %s serves %s, not its renewed certificate", names[0], got)
		}
		if got := fileSerial(addrs[2]); got != before[2] {
			t.Errorf("node %s was touched", names[2])
		}
		if got := onNode(sh, key, addrs[2], "ls -d /etc/kubernetes/tkgcert-* 2>/dev/null || true"); got != "" {
			t.Errorf("node %s has %s", names[2], got)
		}
		if got := sh.run(`kubectl get secret -n s faulty-kubeconfig -o jsonpath='{.data.value}'`); got != secretBefore {
			t.Error("the kubeconfig secret was changed although the recovery stopped")
		}

		// Run again without the fault: it picks up where it stopped, and
		// --then-rotate rotates the recovered cluster.
		out, errOut, code = runTkgcert(t, kc, "recover", "-n", "s", "faulty", "--yes", "--then-rotate")
		if code != 0 || !regexp.MustCompile(names[0]+` +untouched`).MatchString(out) || !regexp.MustCompile(names[1]+` +recovered`).MatchString(out) ||
			!strings.Contains(out, "s/faulty: recovered") || !strings.Contains(out, "every control-plane node is new") {
			t.Fatalf("second run: exit %d\n%s\n%s", code, out, errOut)
		}
		if after, _ := cpNodes(sh, "s", "faulty"); slices.ContainsFunc(after, func(n string) bool { return slices.Contains(names, n) }) {
			t.Errorf("--then-rotate did not replace the control plane: %v -> %v", names, after)
		}
		sh.run("kubectl --kubeconfig " + secretKubeconfig(sh, "s", "faulty") + " get ns kube-system")
		if strings.Contains(errOut, "error:") {
			t.Errorf("errors in the second run:\n%s", errOut)
		}
	})
}
