package remote

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// hostLine is the known_hosts line for 127.0.0.1:port with key k.
func hostLine(port int, k ssh.Signer) string {
	return knownhosts.Line([]string{fmt.Sprintf("127.0.0.1:%d", port)}, k.PublicKey())
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestStrict(t *testing.T) {
	n := startNode(t, "node-strict", "", hostA, pubOf(t, edKey))
	host := fmt.Sprintf("[127.0.0.1]:%d", n.port)
	unknown := func(t *testing.T, path string) {
		t.Helper()
		d := newDialer(t, clientPEM, Options{Port: n.port, HostKeyPolicy: Strict, KnownHostsFile: path})
		_, err := d.Dial(t.Context(), "127.0.0.1")
		want := fmt.Sprintf("ssh to 127.0.0.1:%d as vmware-system-user: host key verification failed: %s (ssh-ed25519 key %s) is not in the known_hosts file %s "+
			"(host-key policy strict: add the host's key to that file, or use the accept-new policy)", n.port, host, ssh.FingerprintSHA256(hostA.PublicKey()), path)
		if err == nil || err.Error() != want {
			t.Fatalf("Dial: %v\nwant %s", err, want)
		}
		if !errors.Is(err, ErrHostKey) || errors.Is(err, ErrAuth) || errors.Is(err, ErrUnreachable) {
			t.Errorf("Dial error %v: not only ErrHostKey", err)
		}
	}
	t.Run("no file", func(t *testing.T) {
		path := knownHostsIn(t)
		unknown(t, path)
		if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("strict created %s: %v", path, err)
		}
	})
	t.Run("not in the file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "known_hosts")
		other := hostLine(n.port+1, hostA) + "\n" + knownhosts.Line([]string{"127.0.0.1"}, hostA.PublicKey()) + "\n"
		if err := os.WriteFile(path, []byte(other), 0o600); err != nil {
			t.Fatal(err)
		}
		unknown(t, path)
		if got := readFile(t, path); got != other {
			t.Errorf("strict changed the file to %q", got)
		}
	})
	t.Run("in the file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "known_hosts")
		if err := os.WriteFile(path, []byte("# tkgcert\n"+hostLine(n.port, hostA)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		d := newDialer(t, clientPEM, Options{Port: n.port, HostKeyPolicy: Strict, KnownHostsFile: path})
		if stdout, _, _, err := dial(t, d).Run(t.Context(), "hostname", nil); err != nil || string(stdout) != "node-strict\n" {
			t.Errorf("Run = %q, %v", stdout, err)
		}
	})
	t.Run("other key in the file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "known_hosts")
		if err := os.WriteFile(path, []byte("# tkgcert\n"+hostLine(n.port, hostB)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		d := newDialer(t, clientPEM, Options{Port: n.port, HostKeyPolicy: Strict, KnownHostsFile: path})
		_, err := d.Dial(t.Context(), "127.0.0.1")
		checkChanged(t, err, n.port, path, "line 2")
	})
}

// checkChanged checks err is the host-key-changed error for 127.0.0.1:port
// naming the line(s) where of path.
func checkChanged(t *testing.T, err error, port int, path, where string) {
	t.Helper()
	checkNoSecret(t, err)
	if !errors.Is(err, ErrHostKey) || errors.Is(err, ErrAuth) || errors.Is(err, ErrUnreachable) {
		t.Fatalf("Dial error %v: not only ErrHostKey", err)
	}
	host := fmt.Sprintf("[127.0.0.1]:%d", port)
	msg := err.Error()
	for _, want := range []string{
		fmt.Sprintf("ssh to 127.0.0.1:%d as vmware-system-user: REMOTE HOST IDENTIFICATION HAS CHANGED: %s ", port, host),
		fmt.Sprintf("%s of %s", where, path),
		fmt.Sprintf("if the change is expected, remove %s from %s (or run: ssh-keygen -R '%s' -f %s)", where, path, host, path),
	} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q\ndoes not contain %q", msg, want)
		}
	}
}

// TestAcceptNew records a new host, accepts it again, and refuses it
// once the same address presents another host key.
func TestAcceptNew(t *testing.T) {
	for _, tc := range []struct {
		name     string
		before   string     // the file's content before, "" for no file
		changed  ssh.Signer // the host key of the node's replacement
		lineWant string
	}{
		{name: "new file, ed25519 key changed", changed: hostB, lineWant: "line 1"},
		// The file's last line lacks its newline; the new line is the 4th.
		// The replacement offers only RSA: the handshake, limited to the
		// recorded ed25519, finds no common algorithm.
		{name: "existing file, key type changed", before: "# tkgcert known hosts\n\n" + knownhosts.Line([]string{"example.com"}, hostB.PublicKey()), changed: hostRSA, lineWant: "line 4"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startNode(t, "node-accept", "", hostA, pubOf(t, edKey))
			dir := filepath.Join(t.TempDir(), "config", "tkgcert")
			path := filepath.Join(dir, "known_hosts")
			if tc.before != "" {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(tc.before), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			o := Options{Port: n.port, HostKeyPolicy: AcceptNew, KnownHostsFile: path}
			d := newDialer(t, clientPEM, o)
			dial(t, d)
			want := tc.before
			if want != "" {
				want += "\n"
			}
			want += hostLine(n.port, hostA) + "\n"
			if got := readFile(t, path); got != want {
				t.Fatalf("known_hosts after the first dial:\n%s\nwant\n%s", got, want)
			}
			if tc.before == "" {
				for p, mode := range map[string]os.FileMode{dir: 0o700 | os.ModeDir, path: 0o600} {
					if fi, err := os.Stat(p); err != nil || fi.Mode() != mode {
						t.Errorf("%s: mode %v (%v), want %v", p, fi.Mode(), err, mode)
					}
				}
			}
			// Known now: accepted again, by this and another Dialer,
			// without another line.
			dial(t, d)
			dial(t, newDialer(t, clientPEM, o))
			if got := readFile(t, path); got != want {
				t.Fatalf("known_hosts after more dials:\n%s\nwant\n%s", got, want)
			}

			// The node is replaced: same address, another host key.
			addr := n.Addr()
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
			startNode(t, "node-accept", addr, tc.changed, pubOf(t, edKey))
			_, err := d.Dial(t.Context(), "127.0.0.1")
			checkChanged(t, err, n.port, path, tc.lineWant)
			if got := readFile(t, path); got != want {
				t.Errorf("known_hosts changed on a refused host:\n%s\nwant\n%s", got, want)
			}
		})
	}
}

// TestAcceptNewConcurrent has 20 goroutines, each with its Dialer or
// sharing one, see the same new host at once: it is recorded once.
func TestAcceptNewConcurrent(t *testing.T) {
	n := startNode(t, "node-race", "", hostA, pubOf(t, edKey))
	other := startNode(t, "node-race-2", "", hostB, pubOf(t, edKey))
	path := knownHostsIn(t)
	o := Options{Port: n.port, KnownHostsFile: path}
	shared := newDialer(t, clientPEM, o)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range 20 {
		d := shared
		if i%2 == 0 {
			d = newDialer(t, clientPEM, o)
		}
		wg.Go(func() {
			<-start
			c, err := d.Dial(t.Context(), "127.0.0.1")
			if err != nil {
				t.Errorf("Dial %d: %v", i, err)
				return
			}
			c.Close()
		})
	}
	close(start)
	wg.Wait()
	if got, want := readFile(t, path), hostLine(n.port, hostA)+"\n"; got != want {
		t.Fatalf("known_hosts:\n%s\nwant exactly\n%s", got, want)
	}

	// Two new hosts at once, ten goroutines each: a line each.
	start = make(chan struct{})
	for i := range 20 {
		addr := n.Addr()
		if i%2 == 1 {
			addr = other.Addr()
		}
		wg.Go(func() {
			<-start
			c, err := shared.Dial(t.Context(), addr)
			if err != nil {
				t.Errorf("Dial %d: %v", i, err)
				return
			}
			c.Close()
		})
	}
	close(start)
	wg.Wait()
	if got, want := readFile(t, path), hostLine(n.port, hostA)+"\n"+hostLine(other.port, hostB)+"\n"; got != want {
		t.Fatalf("known_hosts:\n%s\nwant exactly\n%s", got, want)
	}
}

// TestInsecure accepts any host key, writes no file, and warns once per
// process however many Dialers there are.
func TestInsecure(t *testing.T) {
	insecureWarned.Store(false)
	t.Cleanup(func() { insecureWarned.Store(false) })
	n := startNode(t, "node-insecure", "", hostA, pubOf(t, edKey))
	path := knownHostsIn(t)
	newDialer(t, clientPEM, Options{Port: n.port, HostKeyPolicy: Insecure}) // no Warn: warns nobody
	var warnings atomic.Int32
	var warning atomic.Value
	warn := func(s string) { warnings.Add(1); warning.Store(s) }
	for range 3 {
		d := newDialer(t, clientPEM, Options{Port: n.port, HostKeyPolicy: Insecure, KnownHostsFile: path, Warn: warn})
		dial(t, d)
	}
	// A replaced node is accepted too.
	addr := n.Addr()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	startNode(t, "node-insecure", addr, hostRSA, pubOf(t, edKey))
	d := newDialer(t, clientPEM, Options{Port: n.port, HostKeyPolicy: Insecure, Warn: warn})
	dial(t, d)

	if warnings.Load() != 1 {
		t.Errorf("warned %d times, want once", warnings.Load())
	}
	if s, _ := warning.Load().(string); !strings.Contains(s, "host keys are not verified (host-key policy insecure)") {
		t.Errorf("warning %q", s)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("insecure created %s: %v", path, err)
	}
}

// TestRecordedKeyTypePreferred: a host with ed25519 and RSA host keys whose
// ed25519 key alone is recorded is accepted, although the client prefers
// RSA when it knows nothing.
func TestRecordedKeyTypePreferred(t *testing.T) {
	s := startTestServer(t, testUser, pubOf(t, edKey), hostRSA, hostA)
	path := filepath.Join(t.TempDir(), "known_hosts")
	if err := os.WriteFile(path, []byte(hostLine(s.port(), hostA)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	d := newDialer(t, clientPEM, Options{Port: s.port(), HostKeyPolicy: Strict, KnownHostsFile: path})
	dial(t, d)

	// The check itself: without the limit, the RSA key is presented.
	addr := fmt.Sprintf("127.0.0.1:%d", s.port())
	cfg := &ssh.ClientConfig{User: testUser, Auth: []ssh.AuthMethod{ssh.PublicKeys(d.signer)}, HostKeyCallback: d.hostKeys.callback(hostID{addr: addr})}
	_, err := ssh.Dial("tcp", addr, cfg)
	if err == nil || !strings.Contains(err.Error(), "REMOTE HOST IDENTIFICATION HAS CHANGED") {
		t.Errorf("unrestricted handshake: %v; want a mismatch (the test no longer shows the point)", err)
	}
}

func TestDefaultKnownHostsPath(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", dir)
	if got, err := DefaultKnownHostsPath(); err != nil || got != filepath.Join(dir, "tkgcert", "known_hosts") {
		t.Errorf("with XDG_CONFIG_HOME: %q, %v", got, err)
	}
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("HOME", dir)
	if got, err := DefaultKnownHostsPath(); err != nil || got != filepath.Join(dir, ".config", "tkgcert", "known_hosts") {
		t.Errorf("with HOME: %q, %v", got, err)
	}
	d := newDialer(t, clientPEM, Options{})
	if d.hostKeys.path != filepath.Join(dir, ".config", "tkgcert", "known_hosts") || d.hostKeys.policy != AcceptNew {
		t.Errorf("default policy %q with %s", d.hostKeys.policy, d.hostKeys.path)
	}
}
