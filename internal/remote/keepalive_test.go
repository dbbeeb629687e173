package remote

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/tkgcert/tkgcert/internal/testenv"
)

// TestKeepAliveEndsAFrozenSession: a node that stops answering in the
// middle of a command makes Run fail once a keepalive goes unanswered,
// instead of waiting for the command for ever.
func TestKeepAliveEndsAFrozenSession(t *testing.T) {
	defer func(i, to int64) { keepAliveInterval.Store(i); keepAliveTimeout.Store(to) }(keepAliveInterval.Load(), keepAliveTimeout.Load())
	keepAliveInterval.Store(int64(200 * time.Millisecond))
	keepAliveTimeout.Store(int64(500 * time.Millisecond))

	n := startNode(t, "node-frozen", "", hostA, pubOf(t, edKey))
	f := testenv.NewFreezer(t, "127.0.0.1:"+strconv.Itoa(n.port))
	_, ps, _ := net.SplitHostPort(f.Addr())
	port, _ := strconv.Atoi(ps)
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
	f.Freeze()
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
