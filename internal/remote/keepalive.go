package remote

import (
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"
)

// Keepalives, as OpenSSH's ServerAliveInterval and ServerAliveCountMax=1: a
// node that stops answering (a network partition, a VM frozen mid-session)
// would otherwise hold a command, and the rotation or recovery step waiting
// for it, until the caller's deadline or for ever.
// They are atomic so that tests can shorten them while connections of
// other tests are open.
var keepAliveInterval, keepAliveTimeout atomic.Int64

func init() {
	keepAliveInterval.Store(int64(15 * time.Second))
	keepAliveTimeout.Store(int64(15 * time.Second))
}

// newClient wraps an authenticated connection and keeps it alive: every
// keepAliveInterval it asks the server for a reply, and closes the
// connection when none comes within keepAliveTimeout, which ends its
// sessions with an error.
func newClient(c *ssh.Client, addr string) *Client {
	closed := make(chan struct{})
	go func() {
		_ = c.Wait()
		close(closed)
	}()
	interval, timeout := time.Duration(keepAliveInterval.Load()), time.Duration(keepAliveTimeout.Load())
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-closed:
				return
			case <-t.C:
			}
			replied := make(chan error, 1)
			go func() {
				// Any reply, even a refusal of the request, shows the
				// server is there.
				_, _, err := c.SendRequest("keepalive@openssh.com", true, nil)
				replied <- err
			}()
			select {
			case <-closed:
				return
			case err := <-replied:
				if err != nil {
					_ = c.Close()
					return
				}
			case <-time.After(timeout):
				_ = c.Close()
				return
			}
		}
	}()
	return &Client{c: c, addr: addr}
}
