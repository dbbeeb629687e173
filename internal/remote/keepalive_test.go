package remote

import (
	"io"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"
)

// freezer forwards TCP to target until frozen; then it stops forwarding in
// both directions without closing anything, as a partitioned network does.
type freezer struct {
	ln     net.Listener
	mu     sync.Mutex
	frozen bool
}

func startFreezer(t *testing.T, target string) *freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &freezer{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			u, err := net.Dial("tcp", target)
			if err != nil {
				c.Close()
				continue
			}
			go f.pipe(c, u)
			go f.pipe(u, c)
		}
	}()
	return f
}

func (f *freezer) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		f.mu.Lock()
		frozen := f.frozen
		f.mu.Unlock()
		if frozen {
			select {} // swallow everything from now on, closing nothing
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if err != io.EOF {
				dst.Close()
			}
			return
		}
	}
}

func (f *freezer) freeze() {
	f.mu.Lock()
	f.frozen = true
	f.mu.Unlock()
}

// TestKeepAliveEndsAFrozenSession: a node that stops answering in the
// middle of a command makes Run fail once a keepalive goes unanswered,
// instead of waiting for the command for ever.
func TestKeepAliveEndsAFrozenSession(t *testing.T) {
	defer func(i, to time.Duration) { keepAliveInterval, keepAliveTimeout = i, to }(keepAliveInterval, keepAliveTimeout)
	keepAliveInterval, keepAliveTimeout = 200*time.Millisecond, 500*time.Millisecond

	n := startNode(t, "node-frozen", "", hostA, pubOf(t, edKey))
	f := startFreezer(t, "127.0.0.1:"+strconv.Itoa(n.port))
	port := f.ln.Addr().(*net.TCPAddr).Port
	d := newDialer(t, clientPEM, Options{Port: port, KnownHostsFile: knownHostsIn(t)})
	c := dial(t, d)

	done := make(chan error, 1)
	go func() {
		_, _, _, err := c.Run(t.Context(), "sleep 601", nil)
		done <- err
	}()
	// Freeze once the command runs on the node.
	for len(procsRunning(t, "sleep 601")) == 0 {
		select {
		case err := <-done:
			t.Fatalf("Run ended before the node was frozen: %v", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
	f.freeze()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Run succeeded on a frozen node")
		}
		t.Logf("Run: %v", err)
	case <-time.After(2 * time.Minute): // liveness guard: without keepalives Run waits 601 s
		t.Fatal("Run still waits on a node that stopped answering")
	}
}
