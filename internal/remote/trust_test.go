package remote

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// dialMachine connects to 127.0.0.1 as the machine alias.
func dialMachine(t *testing.T, d *Dialer, alias string) (*Client, error) {
	t.Helper()
	c, err := d.DialMachine(t.Context(), "127.0.0.1", alias)
	checkNoSecret(t, err)
	if err == nil {
		t.Cleanup(func() { _ = c.Close() })
	}
	return c, err
}

// TestAddressReusedByNewMachine: a machine replaced by one that gets its
// address (IPAM reuses released addresses) and a new host key is a new
// host, accepted under accept-new; the old machine presenting another key
// is still refused.
func TestAddressReusedByNewMachine(t *testing.T) {
	n := startNode(t, "machine-a", "", hostA, pubOf(t, edKey))
	path := knownHostsIn(t)
	d := newDialer(t, clientPEM, Options{Port: n.port, KnownHostsFile: path})
	a := MachineAlias("ns", "c", "vsphere://a", "")
	b := MachineAlias("ns", "c", "vsphere://b", "")
	if _, err := dialMachine(t, d, a); err != nil {
		t.Fatal(err)
	}
	if got, want := readFile(t, path), knownhosts.Line([]string{a}, hostA.PublicKey())+"\n"; got != want {
		t.Fatalf("known_hosts:\n%s\nwant\n%s", got, want)
	}

	// Machine a is replaced by b, at the same address, with another key.
	addr := n.Addr()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	startNode(t, "machine-b", addr, hostB, pubOf(t, edKey))
	if _, err := dialMachine(t, d, b); err != nil {
		t.Fatalf("the new machine at the reused address: %v", err)
	}
	want := knownhosts.Line([]string{a}, hostA.PublicKey()) + "\n" + knownhosts.Line([]string{b}, hostB.PublicKey()) + "\n"
	if got := readFile(t, path); got != want {
		t.Fatalf("known_hosts:\n%s\nwant\n%s", got, want)
	}

	// The same machine with another key: refused, naming the line.
	_, err := dialMachine(t, d, a)
	if !errors.Is(err, ErrHostKey) {
		t.Fatalf("machine a with b's key: %v; want a host key error", err)
	}
	for _, s := range []string{
		fmt.Sprintf("REMOTE HOST IDENTIFICATION HAS CHANGED: machine %s (at 127.0.0.1:%d) presents ssh-ed25519 key %s, but line 1 of %s recorded a different key",
			a, n.port, ssh.FingerprintSHA256(hostB.PublicKey()), path),
		fmt.Sprintf("remove line 1 from %s (or run: ssh-keygen -R '%s' -f %s)", path, a, path),
	} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q\ndoes not contain %q", err, s)
		}
	}
	// With strict, b is known and a is not.
	strict := newDialer(t, clientPEM, Options{Port: n.port, KnownHostsFile: path, HostKeyPolicy: Strict})
	if _, err := dialMachine(t, strict, b); err != nil {
		t.Errorf("strict, machine b: %v", err)
	}
	if got := readFile(t, path); got != want {
		t.Errorf("known_hosts changed on refusals:\n%s\nwant\n%s", got, want)
	}
}

// TestAddressEntriesMigrate: an entry by address (as tkgcert wrote before
// recording keys by machine) is consulted for a machine only while the
// machine has no entry of its own. A matching key moves to the machine's
// alias (accept-new), a different one is refused naming the address line.
func TestAddressEntriesMigrate(t *testing.T) {
	n := startNode(t, "machine-a", "", hostA, pubOf(t, edKey))
	a := MachineAlias("ns", "c", "vsphere://a", "")
	addrLine := func(k ssh.Signer) string { return hostLine(n.port, k) + "\n" }
	write := func(t *testing.T, content string) string {
		path := filepath.Join(t.TempDir(), "known_hosts")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	t.Run("same key, accept-new: moved to the alias", func(t *testing.T) {
		other := knownhosts.Line([]string{"127.0.0.9"}, hostB.PublicKey()) + "\n"
		path := write(t, "# mine\n"+addrLine(hostA)+other)
		d := newDialer(t, clientPEM, Options{Port: n.port, KnownHostsFile: path})
		if _, err := dialMachine(t, d, a); err != nil {
			t.Fatal(err)
		}
		want := "# mine\n" + other + knownhosts.Line([]string{a}, hostA.PublicKey()) + "\n"
		if got := readFile(t, path); got != want {
			t.Errorf("known_hosts:\n%s\nwant\n%s", got, want)
		}
	})
	t.Run("same key, strict: accepted, file unchanged", func(t *testing.T) {
		path := write(t, addrLine(hostA))
		d := newDialer(t, clientPEM, Options{Port: n.port, KnownHostsFile: path, HostKeyPolicy: Strict})
		if _, err := dialMachine(t, d, a); err != nil {
			t.Fatal(err)
		}
		if got := readFile(t, path); got != addrLine(hostA) {
			t.Errorf("strict changed the file to %q", got)
		}
	})
	t.Run("other key: refused, naming the address line", func(t *testing.T) {
		path := write(t, "# mine\n"+addrLine(hostB))
		d := newDialer(t, clientPEM, Options{Port: n.port, KnownHostsFile: path})
		_, err := dialMachine(t, d, a)
		host := fmt.Sprintf("[127.0.0.1]:%d", n.port)
		for _, s := range []string{
			"REMOTE HOST IDENTIFICATION HAS CHANGED: machine " + a,
			fmt.Sprintf("line 2 of %s recorded a different key for the address %s (an entry by address", path, host),
			fmt.Sprintf("remove line 2 from %s (or run: ssh-keygen -R '%s' -f %s)", path, host, path),
		} {
			if err == nil || !strings.Contains(err.Error(), s) {
				t.Errorf("error %v\ndoes not contain %q", err, s)
			}
		}
		if got := readFile(t, path); got != "# mine\n"+addrLine(hostB) {
			t.Errorf("file changed on a refusal: %q", got)
		}
	})
	t.Run("the machine's own entry wins over its address's", func(t *testing.T) {
		path := write(t, addrLine(hostB)+knownhosts.Line([]string{a}, hostA.PublicKey())+"\n")
		d := newDialer(t, clientPEM, Options{Port: n.port, KnownHostsFile: path, HostKeyPolicy: Strict})
		if _, err := dialMachine(t, d, a); err != nil {
			t.Fatal(err)
		}
	})
}

// TestMalformedLineSkipped: one malformed line does not make every host
// unknown; it is reported by line number, and kept when the file is
// rewritten.
func TestMalformedLineSkipped(t *testing.T) {
	n := startNode(t, "node-malformed", "", hostA, pubOf(t, edKey))
	path := filepath.Join(t.TempDir(), "known_hosts")
	bad := "10.0.0.1 ssh-ed25519 AAAA-not-base64\n"
	if err := os.WriteFile(path, []byte("# x\n"+bad+hostLine(n.port, hostA)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var warnings []string
	warn := func(s string) { mu.Lock(); warnings = append(warnings, s); mu.Unlock() }
	d := newDialer(t, clientPEM, Options{Port: n.port, KnownHostsFile: path, HostKeyPolicy: Strict, Warn: warn})
	dial(t, d)
	dial(t, d)
	if len(warnings) != 1 || !strings.Contains(warnings[0], "skipping line 2 of the known_hosts file "+path) {
		t.Errorf("warnings %q; want one about line 2", warnings)
	}
	// accept-new moves the address entry to the machine's alias and keeps
	// the bad line.
	d = newDialer(t, clientPEM, Options{Port: n.port, KnownHostsFile: path})
	a := MachineAlias("ns", "c", "vsphere://a", "")
	if _, err := dialMachine(t, d, a); err != nil {
		t.Fatal(err)
	}
	want := "# x\n" + bad + knownhosts.Line([]string{a}, hostA.PublicKey()) + "\n"
	if got := readFile(t, path); got != want {
		t.Errorf("known_hosts:\n%s\nwant\n%s", got, want)
	}
}

// TestUnsafeKnownHosts refuses a file others could write.
func TestUnsafeKnownHosts(t *testing.T) {
	n := startNode(t, "node-unsafe", "", hostA, pubOf(t, edKey))
	path := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(path, []byte(hostLine(n.port, hostA)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	d := newDialer(t, clientPEM, Options{Port: n.port, KnownHostsFile: path, HostKeyPolicy: Strict})
	_, err := d.Dial(t.Context(), "127.0.0.1")
	want := fmt.Sprintf("refusing the known_hosts file %s: it is writable by group or others (mode 0666)", path)
	if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "run: chmod 600 "+path) || !errors.Is(err, ErrHostKey) {
		t.Errorf("group/world-writable file: %v\nwant %q and the chmod hint", err, want)
	}
	if _, err := ForgetHosts(path, []string{fmt.Sprintf("127.0.0.1:%d", n.port)}); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("ForgetHosts on a world-writable file: %v", err)
	}
	if got := readFile(t, path); got != hostLine(n.port, hostA)+"\n" {
		t.Errorf("the refused file changed: %q", got)
	}
	if os.Geteuid() != 0 {
		t.Log("not root: a file owned by another user is not tried")
		return
	}
	if err := os.Chmod(path, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(path, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	_, err = d.Dial(t.Context(), "127.0.0.1")
	if err == nil || !strings.Contains(err.Error(), "it is owned by uid 65534") {
		t.Errorf("file of another user: %v", err)
	}
}

// TestRewriteAtomic: a rewrite replaces the file (a new inode, renamed in
// place, no temporary file left); a rewrite that cannot be done leaves the
// file as it was.
func TestRewriteAtomic(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "known_hosts")
	content := knownhosts.Line([]string{"127.10.0.10"}, hostA.PublicKey()) + "\n" + knownhosts.Line([]string{"127.10.0.11"}, hostB.PublicKey()) + "\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	// A reader holding the old file still reads it whole.
	old, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if n, err := ForgetHosts(path, []string{"127.10.0.10:22"}); n != 1 || err != nil {
		t.Fatalf("ForgetHosts = %d, %v", n, err)
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if os.SameFile(before, after) {
		t.Errorf("the file was rewritten in place, not replaced")
	}
	if b := make([]byte, len(content)+1); true {
		if n, _ := old.Read(b); string(b[:n]) != content {
			t.Errorf("a reader of the old file read %q", b[:n])
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("files left in %s: %v", dir, entries)
	}

	// A write that fails before the rename (a crash, a full disk)
	// leaves the file as it was, and no temporary file.
	hookRename = func() error { return errors.New("disk full") }
	t.Cleanup(func() { hookRename = nil })
	kept := readFile(t, path)
	if _, err := ForgetHosts(path, []string{"127.10.0.11:22"}); err == nil || !strings.Contains(err.Error(), "disk full (the file is unchanged)") {
		t.Errorf("ForgetHosts with a failing write: %v", err)
	}
	if got := readFile(t, path); got != kept {
		t.Errorf("file after a failed rewrite: %q, want %q", got, kept)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 1 {
		t.Errorf("files left in %s: %v", dir, entries)
	}
}

// TestRecordWhilePruning: machines recorded while another goroutine
// rewrites the file are not lost to the rename (the lock follows the
// file).
func TestRecordWhilePruning(t *testing.T) {
	path := knownHostsIn(t)
	h := &hostKeys{policy: AcceptNew, path: path}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			gone := MachineAlias("ns", "c", fmt.Sprintf("vsphere://gone-%d", i), "")
			_ = h.check(hostID{alias: gone, addr: "127.0.0.1:22"}, hostB.PublicKey())
			if _, err := PruneMachines(path, []string{ClusterKey("ns", "c")}, nil); err != nil {
				t.Error(err)
				return
			}
		}
	})
	var live []string
	for i := range 40 {
		a := MachineAlias("ns", "keep", fmt.Sprintf("vsphere://%d", i), "")
		live = append(live, a)
		if err := h.check(hostID{alias: a, addr: "127.0.0.1:22"}, hostA.PublicKey()); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	f, err := readKnownHosts(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range live {
		if len(f.lookup(a)) != 1 {
			t.Errorf("%s: %d entries, want 1", a, len(f.lookup(a)))
		}
	}
}
