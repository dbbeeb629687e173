package remote

import (
	"bytes"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
)

// errClosed is returned by Dial after Close.
var errClosed = errors.New("the SSH dialer is closed")

// Dialer connects to nodes with one private key and one host-key policy. It
// is safe for concurrent use. Through a jump host, it keeps one connection
// to the jump host for all Dials (re-established if it breaks) until Close.
type Dialer struct {
	o          Options // with defaults
	signer     ssh.Signer
	jumpSigner ssh.Signer
	jump       *jumpHost // nil without a jump host
	hostKeys   *hostKeys // nil with Insecure

	jumpSem chan struct{} // one slot: one goroutine at a time connects to the jump host

	mu         sync.Mutex
	jumpClient *ssh.Client
	closed     bool
}

// NewDialer parses the PEM private key (OpenSSH, PKCS#1 or PKCS#8; ed25519,
// RSA or ECDSA; not passphrase-protected) and o. The key is kept in memory
// only, as an ssh.Signer; errors never quote it.
func NewDialer(privateKeyPEM []byte, o Options) (*Dialer, error) {
	o, err := o.withDefaults()
	if err != nil {
		return nil, err
	}
	d := &Dialer{o: o, jumpSem: make(chan struct{}, 1)}
	if d.signer, err = parseKey(privateKeyPEM, "the SSH private key"); err != nil {
		return nil, err
	}
	if o.Jump != "" {
		j, err := parseJump(o.Jump, o.User)
		if err != nil {
			return nil, err
		}
		d.jump = &j
		d.jumpSigner = d.signer
		if len(o.JumpKey) > 0 {
			if d.jumpSigner, err = parseKey(o.JumpKey, "the jump host's SSH private key"); err != nil {
				return nil, err
			}
		}
	}
	if o.HostKeyPolicy == Insecure {
		warnInsecure(o.Warn)
	} else {
		d.hostKeys = &hostKeys{policy: o.HostKeyPolicy, path: o.KnownHostsFile, warn: o.Warn}
	}
	return d, nil
}

// parseKey parses a PEM private key; what names it in errors, which never
// include the key's text.
func parseKey(pemBytes []byte, what string) (ssh.Signer, error) {
	if len(bytes.TrimSpace(pemBytes)) == 0 {
		return nil, fmt.Errorf("%s is empty", what)
	}
	signer, err := ssh.ParsePrivateKey(pemBytes)
	if err == nil {
		return signer, nil
	}
	var pm *ssh.PassphraseMissingError
	if errors.As(err, &pm) {
		return nil, fmt.Errorf("%s is passphrase-protected; an unencrypted key is needed (like ssh-privatekey in the cluster's <cluster>-ssh secret)", what)
	}
	block, _ := pem.Decode(pemBytes)
	if block == nil {
		return nil, fmt.Errorf("%s is not PEM-encoded (want an OpenSSH, PKCS#1 or PKCS#8 private key)", what)
	}
	typ := block.Type
	if len(typ) > 40 || strings.ContainsFunc(typ, func(r rune) bool { return r < ' ' || r > '~' }) {
		typ = "?"
	}
	if strings.Contains(typ, "PUBLIC") {
		return nil, fmt.Errorf("%s is a public key (PEM block %q); the private key is needed", what, typ)
	}
	return nil, fmt.Errorf("%s cannot be parsed: the PEM block %q is malformed or not an ed25519, RSA or ECDSA private key", what, typ)
}

// endpoint is one SSH server to connect to.
type endpoint struct {
	addr   string // host:port
	alias  string // what its host keys are recorded under, if not addr
	user   string
	signer ssh.Signer
	label  string // for errors: "host:port as user[ via jump host ...]"
}

// Dial connects to host (an IP or a name; the port is Options.Port unless
// host is host:port) and authenticates, within Options.Timeout. It honours
// ctx cancellation while connecting and during the handshake; once Dial
// returns, ctx no longer matters for the Client. The host's key is checked
// against the known_hosts entries of its address: Dial is for hosts that
// are not Cluster API Machines (Supervisor nodes); DialMachine for those
// that are.
func (d *Dialer) Dial(ctx context.Context, host string) (*Client, error) {
	return d.DialMachine(ctx, host, "")
}

// DialMachine is Dial for a machine whose host keys are recorded under
// alias (see MachineAlias) rather than under its address, as OpenSSH's
// HostKeyAlias does: addresses are reused, machines are not. An empty
// alias is Dial.
func (d *Dialer) DialMachine(ctx context.Context, host, alias string) (*Client, error) {
	addr, err := hostPort(host, d.o.Port)
	if err != nil {
		return nil, fmt.Errorf("ssh to %q: %w", host, err)
	}
	ep := endpoint{addr: addr, alias: alias, user: d.o.User, signer: d.signer, label: addr + " as " + d.o.User}
	if d.jump != nil {
		ep.label += " via jump host " + d.jump.String()
	}
	if err := d.checkOpen(ep.label); err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		var via *ssh.Client
		if d.jump != nil {
			if via, err = d.jumpConn(ctx); err != nil {
				return nil, err
			}
		}
		c, err := d.connect(ctx, ep, via)
		var de *dialError
		if err != nil && attempt == 1 && errors.As(err, &de) && de.jumpBroken {
			// The shared connection to the jump host died (its end was not
			// noticed yet): connect again, once.
			d.forgetJump(via)
			continue
		}
		if err != nil {
			return nil, err
		}
		return newClient(c, addr), nil
	}
}

// forgetJump drops jc, a broken connection to the jump host, so that the
// next jumpConn connects again.
func (d *Dialer) forgetJump(jc *ssh.Client) {
	d.mu.Lock()
	if d.jumpClient == jc {
		d.jumpClient = nil
	}
	d.mu.Unlock()
	_ = jc.Close()
}

// checkOpen fails after Close.
func (d *Dialer) checkOpen(label string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return &dialError{target: label, msg: errClosed.Error(), err: errClosed}
	}
	return nil
}

// jumpConn returns the connection to the jump host, connecting if there is
// none (or it broke).
func (d *Dialer) jumpConn(ctx context.Context) (*ssh.Client, error) {
	ep := endpoint{addr: d.jump.addr, user: d.jump.user, signer: d.jumpSigner,
		label: "jump host " + d.jump.addr + " as " + d.jump.user}
	current := func() (*ssh.Client, error) {
		d.mu.Lock()
		defer d.mu.Unlock()
		if d.closed {
			return nil, &dialError{target: ep.label, msg: errClosed.Error(), err: errClosed}
		}
		return d.jumpClient, nil
	}
	if jc, err := current(); jc != nil || err != nil {
		return jc, err
	}
	select {
	case d.jumpSem <- struct{}{}:
		defer func() { <-d.jumpSem }()
	case <-ctx.Done():
		return nil, &dialError{target: ep.label, msg: ctx.Err().Error(), err: ctx.Err()}
	}
	if jc, err := current(); jc != nil || err != nil {
		return jc, err // another goroutine connected meanwhile
	}
	jc, err := d.connect(ctx, ep, nil)
	if err != nil {
		return nil, err
	}
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		jc.Close()
		return nil, &dialError{target: ep.label, msg: errClosed.Error(), err: errClosed}
	}
	d.jumpClient = jc
	d.mu.Unlock()
	go func() {
		_ = jc.Wait()
		d.forgetJump(jc)
	}()
	return jc, nil
}

// connect opens a TCP connection to ep (directly, or forwarded by via) and
// runs the SSH handshake, within Options.Timeout.
func (d *Dialer) connect(ctx context.Context, ep endpoint, via *ssh.Client) (*ssh.Client, error) {
	ctx, cancel := context.WithTimeoutCause(ctx, d.o.Timeout, errDialTimeout)
	defer cancel()

	var conn net.Conn
	var err error
	if via != nil {
		conn, err = via.DialContext(ctx, "tcp", ep.addr)
	} else {
		var nd net.Dialer
		conn, err = nd.DialContext(ctx, "tcp", ep.addr)
	}
	if err != nil {
		if cerr := ctxError(ctx, ep.label, d.o.Timeout); cerr != nil {
			return nil, cerr
		}
		cerr := connectError(ep.label, err)
		var oce *ssh.OpenChannelError
		if via != nil && !errors.As(err, &oce) {
			// Not the jump host's answer: its connection failed.
			cerr.jumpBroken = true
		}
		return nil, cerr
	}

	cfg := &ssh.ClientConfig{
		User: ep.user,
		Auth: []ssh.AuthMethod{ssh.PublicKeys(ep.signer)},
	}
	var mismatch func() error
	if d.hostKeys != nil {
		id := hostID{alias: ep.alias, addr: ep.addr}
		cfg.HostKeyCallback = d.hostKeys.callback(id)
		if known, legacy := d.hostKeys.known(id); len(known) > 0 {
			cfg.HostKeyAlgorithms = algorithms(known)
			mismatch = func() error { return changedError(id, "", d.hostKeys.path, known, legacy) }
		}
	} else {
		cfg.HostKeyCallback = ssh.InsecureIgnoreHostKey() //nolint:gosec // Insecure, warned about in NewDialer
	}

	type result struct {
		conn  ssh.Conn
		chans <-chan ssh.NewChannel
		reqs  <-chan *ssh.Request
		err   error
	}
	done := make(chan result, 1)
	go func() {
		var r result
		r.conn, r.chans, r.reqs, r.err = ssh.NewClientConn(conn, ep.addr, cfg)
		done <- r
	}()
	select {
	case r := <-done:
		if r.err != nil {
			if cerr := ctxError(ctx, ep.label, d.o.Timeout); cerr != nil {
				return nil, cerr
			}
			return nil, handshakeError(ep.label, r.err, mismatch)
		}
		return ssh.NewClient(r.conn, r.chans, r.reqs), nil
	case <-ctx.Done():
		conn.Close()
		// Closing a forwarded connection waits for the jump host: finish
		// in the background.
		go func() {
			if r := <-done; r.err == nil {
				r.conn.Close()
			}
		}()
		return nil, ctxError(ctx, ep.label, d.o.Timeout)
	}
}

// Close closes the shared connection to the jump host (which ends the
// Clients dialled through it); Dial fails afterwards. Clients dialled
// directly stay open.
func (d *Dialer) Close() error {
	d.mu.Lock()
	d.closed = true
	jc := d.jumpClient
	d.jumpClient = nil
	d.mu.Unlock()
	if jc == nil {
		return nil
	}
	if err := jc.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("closing the SSH connection to jump host %s: %w", d.jump, err)
	}
	return nil
}
