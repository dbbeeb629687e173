package sshd

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
)

// DefaultPort is the port used when Options.Address has none.
const DefaultPort = "22"

// Options configure one node's SSH server.
type Options struct {
	// Address is the host:port to listen on, such as 127.10.0.11:22. Without
	// a port, DefaultPort is used; port 0 picks a free one (see Server.Addr).
	Address string
	// HostKey is the node's host key, presented to clients.
	HostKey ssh.Signer
	// User is the only user accepted, such as vmware-system-user.
	User string
	// AuthorizedKey is the only public key accepted.
	AuthorizedKey ssh.PublicKey
	// Hostname is the node's name, printed by `hostname` in sessions.
	Hostname string
	// Root is the node's root directory: sessions see Root/etc/kubernetes
	// at /etc/kubernetes and Root/var/lib/kubelet at /var/lib/kubelet. Both,
	// and the user's home Root/home/<User>, are created if missing.
	Root string
	// ScratchDir holds a private directory of this server (removed by Close)
	// with the sudo shim and per-session directories. It is created if
	// missing and may be shared by several servers.
	ScratchDir string
	// PathDirs are prepended to the sessions' PATH (e.g. the directory of
	// kubeadm).
	PathDirs []string
	// Logger receives connection, authentication and session events at
	// debug level; nil discards them.
	Logger *slog.Logger
}

// Server is a running SSH server of one simulated node.
type Server struct {
	o       Options
	log     *slog.Logger
	cfg     *ssh.ServerConfig
	ln      net.Listener
	root    string // absolute Options.Root
	home    string // the user's HOME in sessions
	dir     string // this server's private directory under ScratchDir
	shimDir string // holds the sudo shim

	mu       sync.Mutex
	closed   bool
	conns    map[net.Conn]struct{}
	sessions map[*session]struct{}
	wg       sync.WaitGroup // connection and session goroutines
}

// Start validates o, prepares the node's directories and the sudo shim, and
// starts serving. The server is listening when Start returns.
func Start(o Options) (*Server, error) {
	if err := o.validate(); err != nil {
		return nil, err
	}
	if _, _, err := net.SplitHostPort(o.Address); err != nil {
		o.Address = net.JoinHostPort(strings.Trim(o.Address, "[]"), DefaultPort)
	}
	root, err := filepath.Abs(o.Root)
	if err != nil {
		return nil, fmt.Errorf("resolving the root of node %s: %w", o.Hostname, err)
	}
	s := &Server{
		o:        o,
		log:      o.Logger,
		root:     root,
		home:     filepath.Join(root, "home", o.User),
		conns:    map[net.Conn]struct{}{},
		sessions: map[*session]struct{}{},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.log = s.log.With("node", o.Hostname)
	for _, d := range []string{
		filepath.Join(root, "etc", "kubernetes"),
		filepath.Join(root, "var", "lib", "kubelet"),
		s.home,
	} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return nil, fmt.Errorf("creating %s for node %s: %w", d, o.Hostname, err)
		}
	}
	if err := os.MkdirAll(o.ScratchDir, 0o755); err != nil {
		return nil, fmt.Errorf("creating the scratch directory %s: %w", o.ScratchDir, err)
	}
	s.dir, err = os.MkdirTemp(o.ScratchDir, "sshd-"+safeName(o.Hostname)+"-")
	if err != nil {
		return nil, fmt.Errorf("creating the SSH server directory of node %s: %w", o.Hostname, err)
	}
	s.shimDir = filepath.Join(s.dir, "bin")
	if err := writeSudoShim(s.shimDir); err != nil {
		os.RemoveAll(s.dir)
		return nil, err
	}

	s.cfg = &ssh.ServerConfig{
		PublicKeyCallback: s.checkKey,
		AuthLogCallback: func(md ssh.ConnMetadata, method string, err error) {
			if method == "none" {
				return // every client starts with it; not an attempt worth logging
			}
			if err != nil {
				s.log.Debug("Rejected SSH authentication", "user", md.User(), "method", method, "remote", md.RemoteAddr().String(), "error", err)
			}
		},
		ServerVersion: "SSH-2.0-tkgcert-lab",
	}
	s.cfg.AddHostKey(o.HostKey)

	s.ln, err = net.Listen("tcp", o.Address)
	if err != nil {
		os.RemoveAll(s.dir)
		return nil, fmt.Errorf("listening for SSH on node %s (%s): %w", o.Hostname, o.Address, err)
	}
	s.log.Debug("SSH server listening", "address", s.ln.Addr().String())
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// validate reports missing and invalid options.
func (o *Options) validate() error {
	var missing []string
	if o.Address == "" {
		missing = append(missing, "Address")
	}
	if o.HostKey == nil {
		missing = append(missing, "HostKey")
	}
	if o.User == "" {
		missing = append(missing, "User")
	}
	if o.AuthorizedKey == nil {
		missing = append(missing, "AuthorizedKey")
	}
	if o.Hostname == "" {
		missing = append(missing, "Hostname")
	}
	if o.Root == "" {
		missing = append(missing, "Root")
	}
	if o.ScratchDir == "" {
		missing = append(missing, "ScratchDir")
	}
	if len(missing) > 0 {
		return fmt.Errorf("starting the lab SSH server: missing options: %s", strings.Join(missing, ", "))
	}
	if len(o.Hostname) > 64 || strings.ContainsAny(o.Hostname, "/\x00 \t\n") {
		return fmt.Errorf("starting the lab SSH server: invalid hostname %q", o.Hostname)
	}
	if strings.ContainsAny(o.User, "/\x00 \t\n:") {
		return fmt.Errorf("starting the lab SSH server for node %s: invalid user %q", o.Hostname, o.User)
	}
	return nil
}

// Addr is the address the server listens on, with the actual port.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// Close stops accepting connections, ends every session (killing all of its
// processes), waits for them and removes the server's scratch directory.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	err := s.ln.Close()
	for c := range s.conns {
		c.Close()
	}
	for sess := range s.sessions {
		sess.terminate()
	}
	s.mu.Unlock()
	s.wg.Wait()
	if rerr := os.RemoveAll(s.dir); rerr != nil {
		err = errors.Join(err, fmt.Errorf("removing the SSH server directory of node %s: %w", s.o.Hostname, rerr))
	}
	s.log.Debug("SSH server stopped")
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// checkKey accepts exactly the configured user with the configured key.
func (s *Server) checkKey(md ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
	if md.User() != s.o.User {
		return nil, fmt.Errorf("user %q is not allowed", md.User())
	}
	if !bytes.Equal(key.Marshal(), s.o.AuthorizedKey.Marshal()) {
		return nil, fmt.Errorf("public key %s is not authorized for %s", ssh.FingerprintSHA256(key), md.User())
	}
	return &ssh.Permissions{Extensions: map[string]string{"pubkey-fp": ssh.FingerprintSHA256(key)}}, nil
}

// serve accepts connections until the listener is closed.
func (s *Server) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Debug("Stopped accepting SSH connections", "error", err)
			}
			return
		}
		if !s.track(c) {
			c.Close()
			return
		}
		go s.handleConn(c)
	}
}

// track registers c and counts its goroutine, unless the server is closed.
func (s *Server) track(c net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	return true
}

// handleConn runs the SSH protocol on one connection.
func (s *Server) handleConn(c net.Conn) {
	defer s.wg.Done()
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		c.Close()
	}()
	remote := c.RemoteAddr().String()
	sc, chans, reqs, err := ssh.NewServerConn(c, s.cfg)
	if err != nil {
		s.log.Debug("SSH handshake failed", "remote", remote, "error", err)
		return
	}
	log := s.log.With("remote", remote, "user", sc.User())
	log.Debug("Accepted SSH connection", "key", sc.Permissions.Extensions["pubkey-fp"])
	go ssh.DiscardRequests(reqs)
	var sessions sync.WaitGroup
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(ssh.UnknownChannelType, "only session channels are supported")
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			log.Debug("Accepting SSH session failed", "error", err)
			continue
		}
		sess := &session{s: s, conn: sc, ch: ch, log: log}
		if !s.addSession(sess) {
			ch.Close()
			continue
		}
		sessions.Add(1)
		go func() {
			defer sessions.Done()
			defer s.wg.Done()
			defer s.removeSession(sess)
			sess.serve(chReqs)
		}()
	}
	sessions.Wait()
	log.Debug("SSH connection closed")
}

// addSession registers sess and counts its goroutine, unless the server is
// closed.
func (s *Server) addSession(sess *session) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.sessions[sess] = struct{}{}
	s.wg.Add(1)
	return true
}

// removeSession forgets sess, which has ended.
func (s *Server) removeSession(sess *session) {
	s.mu.Lock()
	delete(s.sessions, sess)
	s.mu.Unlock()
}

// safeName keeps letters, digits, '-' and '.' of name, for file names.
func safeName(name string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '.' {
			return r
		}
		return '_'
	}, name)
}
