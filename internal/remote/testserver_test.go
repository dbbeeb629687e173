package remote

import (
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/ssh"
)

// testServer is a minimal SSH server for what the lab's server does not
// do: it forwards "direct-tcpip" channels (a jump host) and may present
// several host keys. It has no sessions.
type testServer struct {
	ln       net.Listener
	cfg      *ssh.ServerConfig
	conns    atomic.Int32 // SSH connections authenticated
	forwards atomic.Int32 // direct-tcpip channels opened

	mu   sync.Mutex
	open map[net.Conn]bool
	wg   sync.WaitGroup
}

// startTestServer serves user with key authorized on a free port of
// 127.0.0.1, presenting hostKeys.
func startTestServer(t *testing.T, user string, authorized ssh.PublicKey, hostKeys ...ssh.Signer) *testServer {
	t.Helper()
	s := &testServer{open: map[net.Conn]bool{}}
	s.cfg = &ssh.ServerConfig{
		PublicKeyCallback: func(md ssh.ConnMetadata, key ssh.PublicKey) (*ssh.Permissions, error) {
			if md.User() == user && string(key.Marshal()) == string(authorized.Marshal()) {
				return nil, nil
			}
			return nil, errUnauthorized
		},
	}
	for _, k := range hostKeys {
		s.cfg.AddHostKey(k)
	}
	var err error
	if s.ln, err = net.Listen("tcp", "127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(s.Close)
	return s
}

var errUnauthorized = io.ErrUnexpectedEOF // any error refuses the key

// port is the port the server listens on.
func (s *testServer) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *testServer) serve() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		s.open[c] = true
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.handle(c)
			s.mu.Lock()
			delete(s.open, c)
			s.mu.Unlock()
		}()
	}
}

func (s *testServer) handle(c net.Conn) {
	defer c.Close()
	_, chans, reqs, err := ssh.NewServerConn(c, s.cfg)
	if err != nil {
		return
	}
	s.conns.Add(1)
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "direct-tcpip" {
			nc.Reject(ssh.UnknownChannelType, "only direct-tcpip")
			continue
		}
		var to struct {
			Host     string
			Port     uint32
			OrigHost string
			OrigPort uint32
		}
		if err := ssh.Unmarshal(nc.ExtraData(), &to); err != nil {
			nc.Reject(ssh.Prohibited, "bad direct-tcpip request")
			continue
		}
		target, err := net.Dial("tcp", net.JoinHostPort(to.Host, strconv.Itoa(int(to.Port))))
		if err != nil {
			nc.Reject(ssh.ConnectionFailed, err.Error())
			continue
		}
		ch, chReqs, err := nc.Accept()
		if err != nil {
			target.Close()
			continue
		}
		s.forwards.Add(1)
		go ssh.DiscardRequests(chReqs)
		go func() { _, _ = io.Copy(ch, target); ch.Close() }()
		go func() { _, _ = io.Copy(target, ch); target.Close() }()
	}
}

// dropConnections closes every connection, like a jump host rebooting.
func (s *testServer) dropConnections() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.open {
		c.Close()
	}
}

// Close stops the server and its connections.
func (s *testServer) Close() {
	s.ln.Close()
	s.dropConnections()
	s.wg.Wait()
}
