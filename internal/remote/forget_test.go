package remote

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh/knownhosts"
)

func TestForgetHosts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_hosts")
	line := func(hosts ...string) string { return knownhosts.Line(hosts, hostA.PublicKey()) + "\n" }
	hashed := knownhosts.HashHostname("127.10.0.10")
	content := line("127.10.0.10") +
		line("127.10.0.11") +
		line("[127.0.0.1]:2222") +
		line("127.10.0.10", "127.10.0.12") +
		line(hashed) +
		"# a comment\n" +
		"127.10.0.10 not-a-key\n" +
		line("tkgcert/ns/c/vsphere-1")
	if err := os.WriteFile(path, []byte(content), 0o640); err != nil {
		t.Fatal(err)
	}
	n, err := ForgetHosts(path, []string{"127.10.0.10:22", "127.0.0.1:2222", "127.10.0.99:22"})
	if err != nil || n != 2 {
		t.Fatalf("ForgetHosts = %d, %v; want 2 lines removed", n, err)
	}
	want := line("127.10.0.11") +
		line("127.10.0.10", "127.10.0.12") +
		line(hashed) +
		"# a comment\n" +
		"127.10.0.10 not-a-key\n" +
		line("tkgcert/ns/c/vsphere-1")
	if got := readFile(t, path); got != want {
		t.Errorf("file after:\n%s\nwant:\n%s", got, want)
	}
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o640 {
		t.Errorf("mode after the rewrite: %v, %v; want 0640 kept", fi.Mode(), err)
	}
	if n, err := ForgetHosts(filepath.Join(t.TempDir(), "none"), []string{"127.10.0.10:22"}); n != 0 || err != nil {
		t.Errorf("missing file: %d, %v", n, err)
	}
}

func TestMachineAlias(t *testing.T) {
	for _, tc := range []struct {
		ns, cluster, providerID, uid, want string
	}{
		{"ns1", "prod", "vsphere://4210C8D1-aaaa-bbbb", "u-1", "tkgcert/ns1/prod/vsphere-4210c8d1-aaaa-bbbb"},
		{"ns1", "prod", "", "0b4e-11", "tkgcert/ns1/prod/uid-0b4e-11"},
		{"ns1", "prod.eu", "weird id,with*[chars] ", "", "tkgcert/ns1/prod.eu/weird-id-with--chars--"},
		{"ns1", "prod", "", "", ""},
	} {
		got := MachineAlias(tc.ns, tc.cluster, tc.providerID, tc.uid)
		if got != tc.want {
			t.Errorf("MachineAlias(%q, %q, %q, %q) = %q, want %q", tc.ns, tc.cluster, tc.providerID, tc.uid, got, tc.want)
		}
		if got == "" {
			continue
		}
		if c := aliasCluster(got); c != ClusterKey(tc.ns, tc.cluster) {
			t.Errorf("aliasCluster(%q) = %q, want %q", got, c, ClusterKey(tc.ns, tc.cluster))
		}
		// A plain host pattern: it matches itself and nothing else.
		if !hostsMatch([]string{got}, got) || hostsMatch([]string{got}, got+"x") || strings.ContainsAny(got, ",*?![] \t") {
			t.Errorf("alias %q is not a plain host pattern", got)
		}
	}
}

// TestPruneMachines removes the entries of machines gone from the clusters
// listed, and nothing else.
func TestPruneMachines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_hosts")
	line := func(hosts ...string) string { return knownhosts.Line(hosts, hostA.PublicKey()) + "\n" }
	live := MachineAlias("ns", "a", "vsphere://live", "")
	gone := MachineAlias("ns", "a", "vsphere://gone", "")
	goneUID := MachineAlias("ns", "a", "", "uid-gone")
	otherCluster := MachineAlias("ns", "b", "vsphere://gone", "")
	otherNS := MachineAlias("ns2", "a", "vsphere://gone", "")
	content := "# tkgcert\n" +
		line(live) + line(gone) + line(goneUID) + line(otherCluster) + line(otherNS) +
		line("127.10.0.10") + line(gone, "127.10.0.11") +
		"@revoked " + line(gone) +
		"garbage line\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := PruneMachines(path, []string{ClusterKey("ns", "a")}, []string{live})
	if err != nil || n != 2 {
		t.Fatalf("PruneMachines = %d, %v; want 2 lines removed", n, err)
	}
	want := "# tkgcert\n" +
		line(live) + line(otherCluster) + line(otherNS) +
		line("127.10.0.10") + line(gone, "127.10.0.11") +
		"@revoked " + line(gone) +
		"garbage line\n"
	if got := readFile(t, path); got != want {
		t.Errorf("file after:\n%s\nwant:\n%s", got, want)
	}
	// Nothing in scope, nothing pruned.
	if n, err := PruneMachines(path, nil, nil); n != 0 || err != nil {
		t.Errorf("no cluster in scope: %d, %v", n, err)
	}
	if n, err := PruneMachines(filepath.Join(t.TempDir(), "none"), []string{"ns/a"}, nil); n != 0 || err != nil {
		t.Errorf("missing file: %d, %v", n, err)
	}
}
