package testenv

import (
	"io"
	"net"
	"sync"
	"testing"
)

// Freezer forwards TCP connections to a target until Freeze; from then on
// it forwards nothing in either direction and closes nothing, as a network
// that drops packets does (not one that refuses them). For fault tests.
type Freezer struct {
	ln     net.Listener
	mu     sync.Mutex
	frozen bool
}

// NewFreezer listens on a free port of 127.0.0.1 and forwards to target
// (host:port) until the test ends.
func NewFreezer(t testing.TB, target string) *Freezer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &Freezer{ln: ln}
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

// Addr is the address to connect to instead of the target.
func (f *Freezer) Addr() string { return f.ln.Addr().String() }

// Freeze stops forwarding on every connection, open and future.
func (f *Freezer) Freeze() {
	f.mu.Lock()
	f.frozen = true
	f.mu.Unlock()
}

func (f *Freezer) isFrozen() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.frozen
}

func (f *Freezer) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if f.isFrozen() {
			_, _ = io.Copy(io.Discard, src) // swallow everything, close nothing
			return
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
