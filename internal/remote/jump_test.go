package remote

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// TestJump reaches a lab node through a jump host (the lab's server
// refuses port forwarding, so the jump host is a testServer) with a key of
// its own, sharing one connection to the jump host.
func TestJump(t *testing.T) {
	target := startNode(t, "node-behind-jump", "", hostA, pubOf(t, edKey))
	jump := startTestServer(t, "jumper", pubOf(t, rsaKey), hostB)
	path := knownHostsIn(t)
	jumpSpec := fmt.Sprintf("jumper@127.0.0.1:%d", jump.port())
	d := newDialer(t, clientPEM, Options{Port: target.port, Jump: jumpSpec, JumpKey: rsaPEM, KnownHostsFile: path})

	var wg sync.WaitGroup
	clients := make([]*Client, 3)
	for i := range clients {
		wg.Go(func() {
			c, err := d.Dial(t.Context(), "127.0.0.1")
			if err != nil {
				t.Errorf("Dial %d: %v", i, err)
				return
			}
			clients[i] = c
			stdout, _, code, err := c.Run(t.Context(), "hostname", nil)
			if err != nil || code != 0 || string(stdout) != "node-behind-jump\n" {
				t.Errorf("Run %d = %q, %d, %v", i, stdout, code, err)
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
	if conns, fwd := jump.conns.Load(), jump.forwards.Load(); conns != 1 || fwd != 3 {
		t.Errorf("jump host saw %d connections and %d forwards, want 1 and 3", conns, fwd)
	}
	// Both host keys are recorded.
	want := hostLine(jump.port(), hostB) + "\n" + hostLine(target.port, hostA) + "\n"
	if got := readFile(t, path); got != want {
		t.Errorf("known_hosts:\n%s\nwant\n%s", got, want)
	}

	// A closed port behind the jump host.
	port := closedPort(t)
	_, err := d.Dial(t.Context(), fmt.Sprintf("127.0.0.1:%d", port))
	wantErr := fmt.Sprintf("ssh to 127.0.0.1:%d as vmware-system-user via jump host %s: connection refused", port, jumpSpec)
	if err == nil || err.Error() != wantErr {
		t.Errorf("Dial of a closed port: %v\nwant %s", err, wantErr)
	}
	if !errors.Is(err, ErrUnreachable) {
		t.Errorf("Dial of a closed port: %v is not ErrUnreachable", err)
	}

	// The jump host drops its connections: the next Dial connects again.
	jump.dropConnections()
	c, err := d.Dial(t.Context(), "127.0.0.1")
	if err != nil {
		t.Fatalf("Dial after the jump host dropped the connection: %v", err)
	}
	if stdout, _, _, err := c.Run(t.Context(), "hostname", nil); err != nil || string(stdout) != "node-behind-jump\n" {
		t.Errorf("Run = %q, %v", stdout, err)
	}
	if n := jump.conns.Load(); n != 2 {
		t.Errorf("jump host saw %d connections, want 2", n)
	}

	// Close ends the jump connection, with it the Clients through it.
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := c.Run(t.Context(), "hostname", nil); err == nil {
		t.Error("Run through a closed jump connection succeeded")
	}
	if _, err := d.Dial(t.Context(), "127.0.0.1"); err == nil || !strings.Contains(err.Error(), "the SSH dialer is closed") {
		t.Errorf("Dial after Close: %v", err)
	}
}

// TestJumpSameKey authenticates to the jump host with the nodes' key, as
// its user by default.
func TestJumpSameKey(t *testing.T) {
	target := startNode(t, "node-same-key", "", hostA, pubOf(t, edKey))
	jump := startTestServer(t, testUser, pubOf(t, edKey), hostB)
	d := newDialer(t, clientPEM, Options{Port: target.port, Jump: fmt.Sprintf("127.0.0.1:%d", jump.port()), KnownHostsFile: knownHostsIn(t)})
	if stdout, _, _, err := dial(t, d).Run(t.Context(), "hostname", nil); err != nil || string(stdout) != "node-same-key\n" {
		t.Errorf("Run = %q, %v", stdout, err)
	}
}

// TestJumpErrors: failures at the jump host name it.
func TestJumpErrors(t *testing.T) {
	target := startNode(t, "node-jump-errors", "", hostA, pubOf(t, edKey))
	jump := startTestServer(t, "jumper", pubOf(t, rsaKey), hostB)

	d := newDialer(t, clientPEM, Options{Port: target.port, Jump: fmt.Sprintf("jumper@127.0.0.1:%d", jump.port()), JumpKey: wrongPEM, KnownHostsFile: knownHostsIn(t)})
	_, err := d.Dial(t.Context(), "127.0.0.1")
	checkNoSecret(t, err)
	want := fmt.Sprintf("ssh to jump host 127.0.0.1:%d as jumper: unable to authenticate (wrong key?)", jump.port())
	if err == nil || err.Error() != want || !errors.Is(err, ErrAuth) {
		t.Errorf("wrong jump key: %v\nwant %s", err, want)
	}

	port := closedPort(t)
	d = newDialer(t, clientPEM, Options{Port: target.port, Jump: fmt.Sprintf("127.0.0.1:%d", port), KnownHostsFile: knownHostsIn(t)})
	_, err = d.Dial(t.Context(), "127.0.0.1")
	want = fmt.Sprintf("ssh to jump host 127.0.0.1:%d as vmware-system-user: connection refused", port)
	if err == nil || err.Error() != want || !errors.Is(err, ErrUnreachable) {
		t.Errorf("closed jump port: %v\nwant %s", err, want)
	}

	// The target's key is checked through the jump host too.
	path := knownHostsIn(t)
	d = newDialer(t, clientPEM, Options{Port: target.port, Jump: fmt.Sprintf("jumper@127.0.0.1:%d", jump.port()), JumpKey: rsaPEM,
		HostKeyPolicy: Strict, KnownHostsFile: path})
	_, err = d.Dial(t.Context(), "127.0.0.1")
	if err == nil || !errors.Is(err, ErrHostKey) || !strings.Contains(err.Error(), "ssh to jump host ") {
		t.Errorf("strict, unknown jump host: %v", err)
	}
}
