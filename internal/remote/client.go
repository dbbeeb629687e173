package remote

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/crypto/ssh"
)

// MaxStdout is the most stdout Run captures; a command writing more fails
// with ErrOutputTooLarge. A node's whole certificate bundle is about 100
// KiB; 1 MiB bounds what a node that floods its output can make tkgcert
// hold, 32 nodes read at once included.
const MaxStdout = 1 << 20

// maxStderr is the most stderr Run keeps; the rest is dropped silently.
const maxStderr = 64 << 10

// Client is an authenticated SSH connection to one node. It is safe for
// concurrent use: each Run opens a session of its own.
type Client struct {
	c    *ssh.Client
	addr string // host:port
}

// Run runs cmd (by the remote user's shell) in a new session with stdin as
// its standard input (none if nil) and returns what it wrote and its exit
// code: a non-zero exit (or 128+n for a death by signal n) is not an error.
// err is for transport failures, a cancelled ctx (which ends the session,
// asking the command to terminate) and stdout beyond MaxStdout
// (ErrOutputTooLarge, with the first MaxStdout bytes); exitCode is -1 then.
// stderr keeps the first 64 KiB.
func (c *Client) Run(ctx context.Context, cmd string, stdin []byte) (stdout, stderr []byte, exitCode int, err error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, -1, c.runError(cmd, err)
	}
	sess, err := c.c.NewSession()
	if err != nil {
		return nil, nil, -1, c.runError(cmd, fmt.Errorf("opening a session: %w", err))
	}
	defer sess.Close()
	out := &capBuffer{limit: MaxStdout, full: make(chan struct{})}
	errOut := &capBuffer{limit: maxStderr}
	sess.Stdout, sess.Stderr = out, errOut
	if stdin != nil {
		sess.Stdin = bytes.NewReader(stdin)
	}
	if err := sess.Start(cmd); err != nil {
		return nil, nil, -1, c.runError(cmd, fmt.Errorf("starting the command: %w", err))
	}
	done := make(chan error, 1)
	go func() { done <- sess.Wait() }()

	stop := func() {
		_ = sess.Signal(ssh.SIGTERM)
		_ = sess.Close()
	}
	select {
	case err = <-done:
	case <-ctx.Done():
		stop()
		return out.snapshot(), errOut.snapshot(), -1, c.runError(cmd, ctx.Err())
	case <-out.full:
		stop()
		return out.snapshot(), errOut.snapshot(), -1, c.runError(cmd, fmt.Errorf("%w: stdout exceeds %d MiB", ErrOutputTooLarge, MaxStdout>>20))
	}
	stdout, stderr = out.buf, errOut.buf // the session's copying has ended
	if out.overflowed() {
		return stdout, stderr, -1, c.runError(cmd, fmt.Errorf("%w: stdout exceeds %d MiB", ErrOutputTooLarge, MaxStdout>>20))
	}
	var exit *ssh.ExitError
	var missing *ssh.ExitMissingError
	switch {
	case err == nil:
		return stdout, stderr, 0, nil
	case errors.As(err, &exit):
		return stdout, stderr, exit.ExitStatus(), nil
	case errors.As(err, &missing):
		return stdout, stderr, -1, c.runError(cmd, errors.New("the command ended without an exit status (connection lost?)"))
	}
	return stdout, stderr, -1, c.runError(cmd, err)
}

// runError says which command failed where.
func (c *Client) runError(cmd string, err error) error {
	return fmt.Errorf("running %s on %s: %w", quoteCommand(cmd), c.addr, err)
}

// quoteCommand quotes cmd for messages, shortened to its first line and 60
// characters.
func quoteCommand(cmd string) string {
	short := cmd
	if i := strings.IndexByte(short, '\n'); i >= 0 {
		short = short[:i] + " …"
	}
	if utf8.RuneCountInString(short) > 60 {
		short = string([]rune(short)[:60]) + "…"
	}
	return fmt.Sprintf("%q", short)
}

// Close closes the connection, ending its sessions.
func (c *Client) Close() error {
	if err := c.c.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("closing the SSH connection to %s: %w", c.addr, err)
	}
	return nil
}

// capBuffer keeps the first limit bytes written to it and drops the rest;
// full, if not nil, is closed when it overflows.
type capBuffer struct {
	mu    sync.Mutex
	buf   []byte
	limit int
	over  bool
	full  chan struct{}
}

// Write never fails, so that the session keeps draining the channel.
func (b *capBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if room := b.limit - len(b.buf); len(p) > room {
		b.buf = append(b.buf, p[:room]...)
		if !b.over {
			b.over = true
			if b.full != nil {
				close(b.full)
			}
		}
		return len(p), nil
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// snapshot copies what was kept so far.
func (b *capBuffer) snapshot() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf)
}

// overflowed tells whether more than limit bytes were written.
func (b *capBuffer) overflowed() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.over
}
