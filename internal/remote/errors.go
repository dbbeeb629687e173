package remote

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"
	"time"

	"golang.org/x/crypto/ssh"
)

// Sentinel errors for errors.Is, telling a caller why a Dial failed.
var (
	// ErrAuth: the server refused the key (or the user).
	ErrAuth = errors.New("ssh authentication failed")
	// ErrUnreachable: the connection was refused, timed out, or could not
	// be made or kept up to the end of the handshake.
	ErrUnreachable = errors.New("ssh host unreachable")
	// ErrHostKey: the host key is unknown (strict policy), changed, revoked,
	// or the known_hosts file could not be read or written.
	ErrHostKey = errors.New("ssh host key verification failed")
	// ErrOutputTooLarge: a command wrote more than MaxStdout to stdout.
	ErrOutputTooLarge = errors.New("command output too large")
)

// errDialTimeout is the cause of a Dial's context when Options.Timeout
// expires.
var errDialTimeout = errors.New("ssh dial timeout")

// dialError is a failed Dial: what was dialled, what went wrong, its kind
// (one of the sentinels, or nil) and the underlying error.
type dialError struct {
	target string // "10.0.0.1:22 as vmware-system-user[ via jump host ...]"
	msg    string
	kind   error
	err    error
	// jumpBroken: the connection to the jump host failed (not the jump
	// host's attempt to reach the target).
	jumpBroken bool
}

func (e *dialError) Error() string { return "ssh to " + e.target + ": " + e.msg }

// Unwrap exposes the sentinel and the underlying error to errors.Is/As.
func (e *dialError) Unwrap() []error {
	var errs []error
	for _, err := range []error{e.kind, e.err} {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

// hostKeyError is a host-key verification failure, with a message meant
// for people; it matches ErrHostKey.
type hostKeyError struct {
	msg string
	err error
}

func (e *hostKeyError) Error() string { return e.msg }

// Unwrap exposes ErrHostKey and the knownhosts error.
func (e *hostKeyError) Unwrap() []error {
	if e.err == nil {
		return []error{ErrHostKey}
	}
	return []error{ErrHostKey, e.err}
}

// ctxError returns the error for a Dial whose context ctx is done, or nil:
// the expiry of timeout (Options.Timeout) is ErrUnreachable, anything else
// the context's own error.
func ctxError(ctx context.Context, target string, timeout time.Duration) error {
	if ctx.Err() == nil {
		return nil
	}
	if context.Cause(ctx) == errDialTimeout {
		return &dialError{target: target, msg: "timed out after " + timeout.String(), kind: ErrUnreachable, err: context.DeadlineExceeded}
	}
	return &dialError{target: target, msg: ctx.Err().Error(), err: ctx.Err()}
}

// connectError classifies an error of the TCP connection (made directly
// or through a jump host).
func connectError(target string, err error) *dialError {
	var oce *ssh.OpenChannelError
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return &dialError{target: target, msg: "connection refused", kind: ErrUnreachable, err: err}
	case errors.As(err, &oce):
		// A jump host's answer to direct-tcpip: OpenSSH says "Connection
		// refused", a Go server may pass on "dial tcp ...: connection refused".
		if oce.Reason == ssh.ConnectionFailed && strings.Contains(strings.ToLower(oce.Message), "refused") {
			return &dialError{target: target, msg: "connection refused", kind: ErrUnreachable, err: err}
		}
		return &dialError{target: target, msg: fmt.Sprintf("the jump host could not connect: %s (%s)", oce.Message, oce.Reason), kind: ErrUnreachable, err: err}
	case errors.As(err, &ne) && ne.Timeout():
		return &dialError{target: target, msg: "connection timed out", kind: ErrUnreachable, err: err}
	}
	return &dialError{target: target, msg: err.Error(), kind: ErrUnreachable, err: err}
}

// handshakeError classifies an error of ssh.NewClientConn. mismatch, if
// not nil, explains a host that offers none of the host-key algorithms the
// client was limited to (those of its known_hosts entries).
func handshakeError(target string, err error, mismatch func() error) error {
	var hk *hostKeyError
	msg := err.Error()
	switch {
	case errors.As(err, &hk):
		return &dialError{target: target, msg: hk.msg, err: hk}
	case strings.Contains(msg, "unable to authenticate"):
		return &dialError{target: target, msg: "unable to authenticate (wrong key?)", kind: ErrAuth, err: err}
	case strings.Contains(msg, "no common algorithm for host key") && mismatch != nil:
		// Limited to the algorithms of the recorded keys, and the host
		// offers none of them: its keys changed.
		if merr := mismatch(); merr != nil {
			return &dialError{target: target, msg: merr.Error(), err: merr}
		}
	case errors.Is(err, io.EOF), errors.Is(err, syscall.ECONNRESET), errors.Is(err, net.ErrClosed):
		return &dialError{target: target, msg: "connection closed during the SSH handshake", kind: ErrUnreachable, err: err}
	}
	return &dialError{target: target, msg: strings.TrimPrefix(msg, "ssh: "), err: err}
}
