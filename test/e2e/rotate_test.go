package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func kcpState(sh *shell, ns, cluster string) string {
	return strings.TrimSpace(sh.run(fmt.Sprintf(`kubectl get kcp -n %s %s-control-plane -o jsonpath='{.metadata.resourceVersion}|{.spec.rolloutAfter}{.spec.rollout.after}'`, ns, cluster)))
}

func cpMachines(sh *shell, ns, cluster string) []string {
	names := strings.Fields(sh.run(fmt.Sprintf(`kubectl get machines -n %s -l cluster.x-k8s.io/cluster-name=%s,cluster.x-k8s.io/control-plane -o jsonpath='{.items[*].metadata.name}'`, ns, cluster)))
	slices.Sort(names)
	return names
}

func apiserverEnds(t *testing.T, sh *shell, kc, ns, cluster string) []time.Time {
	t.Helper()
	key := sshKeyFile(t, sh, kc, ns, cluster)
	var out []time.Time
	for _, addr := range strings.Fields(sh.run(fmt.Sprintf(`kubectl get machines -n %s -l cluster.x-k8s.io/cluster-name=%s,cluster.x-k8s.io/control-plane -o jsonpath='{.items[*].status.addresses[?(@.type=="InternalIP")].address}'`, ns, cluster))) {
		out = append(out, opensslEnd(t, sh, key, addr, "/etc/kubernetes/pki/apiserver.crt"))
	}
	return out
}

func TestRotate(t *testing.T) {
	lab := startLab(t, "--address-block", "54", "--provision-delay", "1s",
		"--cluster", "s/a", "--cluster", "s/b",
		"--cluster", "s/expired:expired,light", "--cluster", "s/paused:paused,light", "--cluster", "s/stuck:stuck,light")
	kc := lab.kubeconfig()
	sh := newShell(t, "KUBECONFIG="+kc)

	t.Run("refuses expired and paused clusters, changing nothing", func(t *testing.T) {
		for _, tc := range []struct{ cluster, want string }{
			{"expired", "recover it first with `tkgcert recover -n s expired`"},
			{"paused", "the KubeadmControlPlane is paused"},
		} {
			before := kcpState(sh, "s", tc.cluster)
			_, errOut, code := runTkgcert(t, kc, "rotate", "-n", "s", tc.cluster, "--yes")
			if code != 1 || !strings.Contains(errOut, "nothing was changed") || !strings.Contains(errOut, tc.want) {
				t.Errorf("rotate %s: exit %d\n%s", tc.cluster, code, errOut)
			}
			if after := kcpState(sh, "s", tc.cluster); after != before {
				t.Errorf("rotate %s changed the KCP: %q -> %q", tc.cluster, before, after)
			}
		}
	})

	t.Run("a stuck rollout times out naming the machine", func(t *testing.T) {
		_, errOut, code := runTkgcert(t, kc, "rotate", "-n", "s", "stuck", "--yes", "--timeout", "6s")
		if code != 1 || !strings.Contains(errOut, "did not finish in time") || !strings.Contains(errOut, "is Provisioning, no node") {
			t.Errorf("exit %d\n%s", code, errOut)
		}
	})

	t.Run("rotates a healthy cluster and verifies it", func(t *testing.T) {
		before, workers := cpMachines(sh, "s", "a"), machineNamesOf(sh, "s", "a", false)
		endsBefore := apiserverEnds(t, sh, kc, "s", "a")
		out, errOut, code := runTkgcert(t, kc, "rotate", "-n", "s", "a", "--yes")
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		if !strings.Contains(out, "every control-plane node is new") || !strings.Contains(errOut, "Provisioning -> Running") || !strings.Contains(errOut, ": deleted") {
			t.Errorf("output:\n%s\n%s", out, errOut)
		}
		after := cpMachines(sh, "s", "a")
		if len(after) != 3 {
			t.Fatalf("control plane after: %v", after)
		}
		for _, m := range after {
			if slices.Contains(before, m) {
				t.Errorf("machine %s was not replaced", m)
			}
		}
		if got := machineNamesOf(sh, "s", "a", false); !slices.Equal(got, workers) {
			t.Errorf("workers changed: %v -> %v", workers, got)
		}
		// Independently of tkgcert: openssl on the new nodes.
		latest := slices.MaxFunc(endsBefore, func(a, b time.Time) int { return a.Compare(b) })
		for _, e := range apiserverEnds(t, sh, kc, "s", "a") {
			if !e.After(latest) {
				t.Errorf("a new node's apiserver certificate expires %v, not after %v", e, latest)
			}
		}
		// Who and when are recorded on the KCP, and as an Event.
		ann := sh.run(`kubectl get kcp -n s a-control-plane -o jsonpath='{.metadata.annotations.tkgcert\.io/rotated-by}'`)
		events := sh.run(`kubectl get events -n s --field-selector reason=CertificateRotationTriggered,involvedObject.name=a-control-plane -o name | wc -l`)
		if strings.TrimSpace(ann) != "kubernetes-admin" || strings.TrimSpace(events) != "1" {
			t.Errorf("rotated-by %q, %s events", ann, events)
		}
	})

	t.Run("two concurrent rotations cause one rollout", func(t *testing.T) {
		before := cpMachines(sh, "s", "b")
		var wg sync.WaitGroup
		codes := make([]int, 2)
		outs := make([]string, 2)
		for i := range 2 {
			wg.Go(func() {
				_, errOut, code := runTkgcert(t, kc, "rotate", "-n", "s", "b", "--yes")
				codes[i], outs[i] = code, errOut
			})
		}
		wg.Wait()
		if codes[0] != 0 || codes[1] != 0 {
			t.Errorf("exit codes %v\n%s\n---\n%s", codes, outs[0], outs[1])
		}
		events := strings.TrimSpace(sh.run(`kubectl get events -n s --field-selector reason=CertificateRotationTriggered,involvedObject.name=b-control-plane -o name | wc -l`))
		if events != "1" {
			t.Errorf("%s rollouts triggered, want 1", events)
		}
		after := cpMachines(sh, "s", "b")
		for _, m := range after {
			if slices.Contains(before, m) {
				t.Errorf("machine %s was not replaced", m)
			}
		}
		if len(after) != 3 {
			t.Errorf("control plane after: %v", after)
		}
	})

	t.Run("--workers also replaces the workers", func(t *testing.T) {
		workers := machineNamesOf(sh, "s", "b", false)
		out, errOut, code := runTkgcert(t, kc, "rotate", "-n", "s", "b", "--yes", "--workers")
		if code != 0 {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		after := machineNamesOf(sh, "s", "b", false)
		if len(after) != len(workers) {
			t.Fatalf("workers %v -> %v", workers, after)
		}
		for _, w := range after {
			if slices.Contains(workers, w) {
				t.Errorf("worker %s was not replaced", w)
			}
		}
	})

	t.Run("an interrupted run leaves the rollout running and a second run attaches", func(t *testing.T) {
		cmd := exec.Command(tkgcert, "rotate", "-n", "s", "a", "--yes")
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kc, "XDG_CONFIG_HOME="+t.TempDir())
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		deadline := time.Now().Add(2 * time.Minute)
		for !strings.Contains(sh.run(`kubectl get machines -n s -l cluster.x-k8s.io/cluster-name=a`), "Provisioning") {
			if time.Now().After(deadline) {
				t.Fatal("no machine started provisioning")
			}
			time.Sleep(100 * time.Millisecond)
		}
		_ = cmd.Process.Signal(syscall.SIGINT)
		err := cmd.Wait()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(stderr.String(), "the rollout continues on the Supervisor") {
			t.Fatalf("interrupted run: %v\n%s", err, stderr.String())
		}
		out, errOut, code := runTkgcert(t, kc, "rotate", "-n", "s", "a", "--yes")
		if code != 0 || !strings.Contains(errOut, "already under way") || !strings.Contains(out, "every control-plane node is new") {
			t.Errorf("second run: exit %d\n%s\n%s", code, out, errOut)
		}
	})
}

func machineNamesOf(sh *shell, ns, cluster string, controlPlane bool) []string {
	sel := "!cluster.x-k8s.io/control-plane"
	if controlPlane {
		sel = "cluster.x-k8s.io/control-plane"
	}
	names := strings.Fields(sh.run(fmt.Sprintf(`kubectl get machines -n %s -l 'cluster.x-k8s.io/cluster-name=%s,%s' -o jsonpath='{.items[*].metadata.name}'`, ns, cluster, sel)))
	slices.Sort(names)
	return names
}

func TestRotateV1Beta2(t *testing.T) {
	lab := startLab(t, "--capi-version", "v1beta2", "--address-block", "55", "--provision-delay", "1s", "--cluster", "s/a",
		"--cluster", "s/norot:kubelet-rotation-off,light")
	kc := lab.kubeconfig()
	sh := newShell(t, "KUBECONFIG="+kc)

	// The seed's step 8 alone: the worker without rotation is flagged.
	out, _, code := runTkgcert(t, kc, "kubelet", "-n", "s", "norot")
	if code != 2 || strings.Count(out, "NO ROTATION") != 1 || strings.Count(out, " OK") != 3 {
		t.Errorf("kubelet norot: exit %d\n%s", code, out)
	}
	if out, _, code := runTkgcert(t, kc, "kubelet", "-n", "s", "a"); code != 0 || strings.Count(out, " OK") != 4 {
		t.Errorf("kubelet a: exit %d\n%s", code, out)
	}
	before := cpMachines(sh, "s", "a")
	endsBefore := apiserverEnds(t, sh, kc, "s", "a")
	oldAddrs := strings.Fields(sh.run(`kubectl get machines -n s -l cluster.x-k8s.io/cluster-name=a,cluster.x-k8s.io/control-plane -o jsonpath='{.items[*].status.addresses[?(@.type=="InternalIP")].address}'`))
	oldIDs := strings.Fields(sh.run(`kubectl get machines -n s -l cluster.x-k8s.io/cluster-name=a,cluster.x-k8s.io/control-plane -o jsonpath='{.items[*].spec.providerID}'`))
	configHome := t.TempDir()
	out, errOut, code := runTkgcertIn(t, configHome, kc, "rotate", "-n", "s", "a", "--yes")
	if code != 0 || !strings.Contains(out, "every control-plane node is new") {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	latest := slices.MaxFunc(endsBefore, func(a, b time.Time) int { return a.Compare(b) })
	for _, e := range apiserverEnds(t, sh, kc, "s", "a") {
		if !e.After(latest) {
			t.Errorf("a new node's apiserver certificate expires %v, not after %v (openssl)", e, latest)
		}
	}
	// Host keys are recorded per machine: the replaced machines' keys are
	// pruned (by the inventory that verifies the rollout), the new ones
	// are known, and no entry is by address.
	kh, err := os.ReadFile(filepath.Join(configHome, "tkgcert", "known_hosts"))
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range oldAddrs {
		if strings.Contains(string(kh), a+" ") {
			t.Errorf("known_hosts has an entry by address %s:\n%s", a, kh)
		}
	}
	for _, id := range oldIDs {
		if alias := "tkgcert/s/a/" + strings.ToLower(strings.Replace(id, "://", "-", 1)); strings.Contains(string(kh), alias+" ") {
			t.Errorf("known_hosts still has replaced machine %s:\n%s", alias, kh)
		}
	}
	if len(oldIDs) != 3 || strings.Count(string(kh), "\n") != 4 || strings.Count(string(kh), "tkgcert/s/a/") != 4 {
		t.Errorf("known_hosts after rotation (want the 3 new control-plane nodes and the worker):\n%s\n%s", kh, errOut)
	}
	if after := sh.run(`kubectl get kcp -n s a-control-plane -o jsonpath='{.spec.rollout.after}'`); after == "" {
		t.Error("spec.rollout.after not set")
	}
	for _, m := range cpMachines(sh, "s", "a") {
		if slices.Contains(before, m) {
			t.Errorf("machine %s was not replaced", m)
		}
	}
}

// TestRotateFleet rotates only the clusters inside --expiring-within, most
// urgent first, and goes on past a cluster it must refuse.
func TestRotateFleet(t *testing.T) {
	lab := startLab(t, "--address-block", "56", "--provision-delay", "1s",
		"--cluster", "s/soon:expiring", "--cluster", "s/fine", "--cluster", "s/old:expired,light")
	kc := lab.kubeconfig()
	sh := newShell(t, "KUBECONFIG="+kc)
	soon, fine := cpMachines(sh, "s", "soon"), cpMachines(sh, "s", "fine")

	out, _, code := runTkgcert(t, kc, "rotate", "-A", "--expiring-within", "60d", "--dry-run")
	if code != 0 || !strings.Contains(out, "Dry run") || strings.Index(out, "old") > strings.Index(out, "soon") || strings.Contains(out, "fine") {
		t.Fatalf("dry run: exit %d\n%s", code, out)
	}

	out, errOut, code := runTkgcert(t, kc, "rotate", "-A", "--expiring-within", "60d", "--yes")
	if code != 1 || !strings.Contains(errOut, "1 of 2 clusters were not rotated") {
		t.Errorf("exit %d, want 1 (the expired cluster is refused)\n%s\n%s", code, out, errOut)
	}
	summary := out[strings.Index(out, "Summary:"):]
	if !strings.Contains(summary, "s           old       FAILED: not rotating s/old, nothing was changed") ||
		!strings.Contains(summary, "s           soon      rotated and verified") {
		t.Errorf("summary:\n%s", summary)
	}
	for _, m := range cpMachines(sh, "s", "soon") {
		if slices.Contains(soon, m) {
			t.Errorf("soon: machine %s was not replaced", m)
		}
	}
	if got := cpMachines(sh, "s", "fine"); !slices.Equal(got, fine) {
		t.Errorf("fine (outside --expiring-within) changed: %v -> %v", fine, got)
	}
}
