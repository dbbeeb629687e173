package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tkgcert/tkgcert/internal/inventory"
)

// cpAddresses maps the control-plane machines of a cluster to their
// InternalIP, once every one of them is Running.
func cpAddresses(sh *shell, ns, cluster string) map[string]string {
	out := sh.run(fmt.Sprintf(`kubectl get machines -n %s -l cluster.x-k8s.io/cluster-name=%s,cluster.x-k8s.io/control-plane -o jsonpath='{range .items[*]}{.metadata.name} {.status.phase} {.status.addresses[?(@.type=="InternalIP")].address}{"\n"}{end}'`, ns, cluster))
	m := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 || f[1] != "Running" {
			return nil
		}
		m[f[0]] = f[2]
	}
	return m
}

// aliasLines returns the known_hosts lines recorded under the machine
// aliases of namespace/cluster.
func aliasLines(t *testing.T, path, ns, cluster string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "tkgcert/"+ns+"/"+cluster+"/") {
			out = append(out, l)
		}
	}
	return out
}

// TestTrustFollowsMachine: host keys are recorded per Machine. After a
// rollout started by hand (not by tkgcert), new machines that got released
// addresses present new host keys there, and `tkgcert check` accepts them
// and prunes the replaced machines' keys (of that cluster only); a changed
// key of the same machine is still refused.
func TestTrustFollowsMachine(t *testing.T) {
	lab := startLab(t, "--address-block", "112", "--provision-delay", "1s", "--workers", "0",
		"--cluster", "s/a", "--cluster", "s/b:healthy,light")
	kc := lab.kubeconfig()
	sh := newShell(t, "KUBECONFIG="+kc)
	home := t.TempDir()
	knownHosts := filepath.Join(home, "tkgcert", "known_hosts")
	check := func(t *testing.T, cluster string) (*inventory.Report, string) {
		t.Helper()
		out, errOut, _ := runTkgcertIn(t, home, kc, "check", "-n", "s", cluster, "-o", "json")
		var r inventory.Report
		if err := json.Unmarshal([]byte(out), &r); err != nil || len(r.Clusters) != 1 {
			t.Fatalf("check %s printed no report: %v\n%s\n%s", cluster, err, out, errOut)
		}
		return &r, errOut
	}
	nodeErrors := func(r *inventory.Report) []string {
		var errs []string
		for _, n := range r.Clusters[0].Nodes {
			errs = append(errs, n.Errors...)
		}
		return errs
	}

	before := cpAddresses(sh, "s", "a")
	for _, c := range []string{"a", "b"} {
		if r, errOut := check(t, c); len(nodeErrors(r)) > 0 {
			t.Fatalf("first check of %s: %v\n%s", c, nodeErrors(r), errOut)
		}
	}
	if got := aliasLines(t, knownHosts, "s", "a"); len(got) != 3 {
		t.Fatalf("known_hosts of a after the first check: %q", got)
	}
	linesB := aliasLines(t, knownHosts, "s", "b")
	if len(linesB) == 0 {
		t.Fatalf("no known_hosts entry for b")
	}

	// A rollout started by hand, as an upgrade or an operator would.
	sh.run(fmt.Sprintf(`kubectl patch kcp -n s a-control-plane --type merge -p '{"spec":{"rolloutAfter":"%s"}}' >/dev/null`, time.Now().UTC().Format(time.RFC3339)))
	var after map[string]string
	deadline := time.Now().Add(4 * time.Minute) // liveness guard
	for {
		after = cpAddresses(sh, "s", "a")
		replaced := len(after) == 3
		for m := range after {
			if _, old := before[m]; old {
				replaced = false
			}
		}
		if replaced {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the rollout did not finish: before %v, now %v", before, after)
		}
		time.Sleep(time.Second)
	}
	var oldAddrs, reused []string
	for _, a := range before {
		oldAddrs = append(oldAddrs, a)
	}
	for m, a := range after {
		if slices.Contains(oldAddrs, a) {
			reused = append(reused, m+"@"+a)
		}
	}
	if len(reused) == 0 {
		t.Fatalf("no new machine got a released address (before %v, after %v): the test shows nothing", before, after)
	}
	t.Logf("new machines at released addresses: %v", reused)

	t.Run("new machines at released addresses are accepted; the replaced ones are pruned", func(t *testing.T) {
		r, errOut := check(t, "a")
		if errs := nodeErrors(r); len(errs) > 0 {
			t.Fatalf("check after the rollout: %v\n%s", errs, errOut)
		}
		if len(r.Clusters[0].Nodes) != 3 {
			t.Errorf("nodes read: %d", len(r.Clusters[0].Nodes))
		}
		got := aliasLines(t, knownHosts, "s", "a")
		if len(got) != 3 {
			t.Errorf("known_hosts of a after the rollout: %d entries, want the 3 current machines':\n%s", len(got), strings.Join(got, "\n"))
		}
		for _, n := range r.Clusters[0].Nodes {
			found := false
			for _, l := range got {
				found = found || strings.HasPrefix(l, n.HostKeyAlias+" ")
			}
			if n.HostKeyAlias == "" || !found {
				t.Errorf("node %s (alias %q) has no entry", n.Name, n.HostKeyAlias)
			}
		}
		if gotB := aliasLines(t, knownHosts, "s", "b"); !slices.Equal(gotB, linesB) {
			t.Errorf("entries of b, not in scope, changed: %q -> %q", linesB, gotB)
		}
	})

	t.Run("a changed key of the same machine is still refused", func(t *testing.T) {
		// The file records another key for one machine: as if the
		// machine presented a key other than the one recorded.
		b, err := os.ReadFile(knownHosts)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		victim, lineNo := "", 0
		for i, l := range lines {
			if strings.HasPrefix(l, "tkgcert/s/a/") {
				host, _, _ := strings.Cut(l, " ")
				_, key, _ := strings.Cut(linesB[0], " ")
				lines[i], victim, lineNo = host+" "+key, host, i+1
				break
			}
		}
		if err := os.WriteFile(knownHosts, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r, _ := check(t, "a")
		errs := nodeErrors(r)
		if len(errs) != 1 {
			t.Fatalf("node errors %q; want one, for the machine %s", errs, victim)
		}
		for _, want := range []string{"REMOTE HOST IDENTIFICATION HAS CHANGED: machine " + victim,
			fmt.Sprintf("remove line %d from %s", lineNo, knownHosts), "ssh-keygen -R '" + victim + "'"} {
			if !strings.Contains(errs[0], want) {
				t.Errorf("error %q\ndoes not contain %q", errs[0], want)
			}
		}
		if b2, _ := os.ReadFile(knownHosts); string(b2) != strings.Join(lines, "\n")+"\n" {
			t.Errorf("a refused check changed known_hosts")
		}
	})
}
