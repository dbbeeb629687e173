package remote

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh/knownhosts"
)

// FuzzKnownHosts parses arbitrary known_hosts content, looks a machine
// and an address up in it, and prunes and forgets entries. Invariants:
// nothing panics; parsing keeps every line (a rewrite without a change
// reproduces the file, line ends aside); a line is removed only if it is
// an entry, and pruning removes only entries of the cluster in scope whose
// every host is an alias of a machine not alive; matching agrees with
// x/crypto/ssh/knownhosts on plain entries.
func FuzzKnownHosts(f *testing.F) {
	key := knownhosts.Line([]string{"x"}, hostA.PublicKey())[2:] // "ssh-ed25519 AAAA..."
	alias := MachineAlias("ns", "c", "vsphere://a", "")
	gone := MachineAlias("ns", "c", "vsphere://gone", "")
	for _, seed := range []string{
		"",
		"127.0.0.1 " + key + "\n",
		"[127.0.0.1]:2222 " + key + "\n# comment\n\n",
		alias + " " + key + "\n" + gone + " " + key + "\n",
		gone + ",127.0.0.1 " + key + "\n",
		"@revoked " + gone + " " + key + "\n",
		"@cert-authority *.example.com " + key + "\n",
		"*.0.0.1,!127.0.0.2 " + key + "\n",
		knownhosts.HashHostname("127.0.0.1") + " " + key + "\n",
		"127.0.0.1 ssh-ed25519 AAAA-not-base64\n" + alias + " " + key,
		"\r\n" + alias + " " + key + "\r\n",
		"tkgcert/ns/c/ " + key + "\ntkgcert/ns/c/a/b " + key + "\n",
		"?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*a " + key + "\n",
	} {
		f.Add(seed, "127.0.0.1:22")
	}
	f.Add(alias+" "+key+"\n", "[::1]:2222")
	f.Fuzz(func(t *testing.T, content, addr string) {
		file := parseKnownHosts("known_hosts", []byte(content))
		if got, want := string(file.bytes()), strings.TrimSuffix(content, "\n")+"\n"; content != "" && got != want {
			t.Fatalf("parse/print changed the file:\n%q\nwant\n%q", got, want)
		}
		for _, id := range []hostID{{alias: alias, addr: addr}, {addr: addr}} {
			v, lines, _ := judge(file, id, hostA.PublicKey())
			if (v == known || v == knownAddr || v == changed) != (len(lines) > 0) {
				t.Fatalf("verdict %d with %d lines", v, len(lines))
			}
		}
		// Plain host patterns match as x/crypto's knownhosts does.
		for _, l := range file.lines {
			if !l.entry() || l.marker != "" || len(l.hosts) != 1 || strings.ContainsAny(l.hosts[0], "*?!|[]") {
				continue
			}
			name := knownhosts.Normalize(addr)
			if hostsMatch(l.hosts, name) != strings.EqualFold(l.hosts[0], name) {
				t.Fatalf("pattern %q vs %q: match %v", l.hosts[0], name, hostsMatch(l.hosts, name))
			}
		}

		dir := t.TempDir()
		path := filepath.Join(dir, "known_hosts")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		removed, err := PruneMachines(path, []string{ClusterKey("ns", "c")}, []string{alias})
		if err != nil {
			t.Fatal(err)
		}
		after, err := readKnownHosts(path)
		if err != nil {
			t.Fatal(err)
		}
		if len(after.lines) != len(file.lines)-removed && removed > 0 {
			t.Fatalf("pruned %d of %d lines, %d left", removed, len(file.lines), len(after.lines))
		}
		for _, l := range file.lines {
			prunable := l.entry() && l.marker == ""
			for _, h := range l.hosts {
				prunable = prunable && aliasCluster(h) == "ns/c" && !strings.EqualFold(h, alias)
			}
			kept := false
			for _, a := range after.lines {
				kept = kept || a.text == l.text
			}
			if prunable == kept && removed > 0 {
				t.Fatalf("line %d %q: prunable %v, kept %v", l.num, l.text, prunable, kept)
			}
		}
		if _, err := ForgetHosts(path, []string{addr}); err != nil {
			t.Fatal(err)
		}
		final, err := readKnownHosts(path)
		if err != nil {
			t.Fatal(err)
		}
		if final.lookup(alias) == nil && after.lookup(alias) != nil {
			t.Fatalf("ForgetHosts(%q) removed the machine's entry", addr)
		}
	})
}
