package netsim

import (
	"errors"
	"io"
	"net"
	"sync"
	"time"
)

// Balancer forwards TCP connections to one of its backends, round robin,
// without terminating TLS: clients see the backends' own certificates, as
// behind the load balancer of a real control-plane endpoint.
type Balancer struct {
	ln       net.Listener
	mu       sync.Mutex
	backends []string
	next     int
	conns    map[net.Conn]struct{}
	closed   bool
	wg       sync.WaitGroup
}

// ListenBalancer starts a balancer on addr with no backends yet.
func ListenBalancer(addr string) (*Balancer, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	b := &Balancer{ln: ln, conns: map[net.Conn]struct{}{}}
	b.wg.Add(1)
	go b.serve()
	return b, nil
}

// Addr is the listening address.
func (b *Balancer) Addr() string { return b.ln.Addr().String() }

// SetBackends replaces the backend addresses (host:port).
func (b *Balancer) SetBackends(addrs []string) {
	b.mu.Lock()
	b.backends = append([]string(nil), addrs...)
	b.mu.Unlock()
}

// Backends returns the current backend addresses.
func (b *Balancer) Backends() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.backends...)
}

func (b *Balancer) serve() {
	defer b.wg.Done()
	for {
		c, err := b.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		if !b.track(c, true) {
			c.Close()
			return
		}
		b.wg.Add(1)
		go func() {
			defer b.wg.Done()
			defer b.track(c, false)
			b.forward(c)
		}()
	}
}

func (b *Balancer) track(c net.Conn, add bool) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if add {
		if b.closed {
			return false
		}
		b.conns[c] = struct{}{}
	} else {
		delete(b.conns, c)
	}
	return true
}

// pick returns the backends in the order to try for one connection.
func (b *Balancer) pick() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := len(b.backends)
	out := make([]string, 0, n)
	for i := 0; i < n; i++ {
		out = append(out, b.backends[(b.next+i)%n])
	}
	if n > 0 {
		b.next = (b.next + 1) % n
	}
	return out
}

func (b *Balancer) forward(client net.Conn) {
	defer client.Close()
	var upstream net.Conn
	for _, addr := range b.pick() {
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err == nil {
			upstream = c
			break
		}
	}
	if upstream == nil {
		return // no live backend: the client sees the connection close, as with a real LB
	}
	if !b.track(upstream, true) {
		upstream.Close()
		return
	}
	defer b.track(upstream, false)
	defer upstream.Close()
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn) {
		_, _ = io.Copy(dst, src)
		if tc, ok := dst.(*net.TCPConn); ok {
			_ = tc.CloseWrite()
		}
		done <- struct{}{}
	}
	go pipe(upstream, client)
	go pipe(client, upstream)
	<-done
	<-done
}

// Close stops listening and cuts every forwarded connection.
func (b *Balancer) Close() error {
	b.mu.Lock()
	b.closed = true
	for c := range b.conns {
		c.Close()
	}
	b.mu.Unlock()
	err := b.ln.Close()
	b.wg.Wait()
	return err
}
