package remote

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// HostKeyPolicy decides how the host keys of nodes (and of the jump host)
// are verified.
type HostKeyPolicy string

// The host-key policies.
const (
	// Strict accepts a host only if the known_hosts file lists it
	// with the key it presents.
	Strict HostKeyPolicy = "strict"
	// AcceptNew records hosts not yet in the known_hosts file and
	// refuses hosts whose key changed. It is the default.
	AcceptNew HostKeyPolicy = "accept-new"
	// Insecure accepts every host key. Options.Warn is called once
	// per process when a Dialer with this policy is made.
	Insecure HostKeyPolicy = "insecure"
)

// ParseHostKeyPolicy parses a policy name as given on a command line:
// "strict", "accept-new" or "insecure".
func ParseHostKeyPolicy(s string) (HostKeyPolicy, error) {
	switch p := HostKeyPolicy(strings.TrimSpace(s)); p {
	case Strict, AcceptNew, Insecure:
		return p, nil
	}
	return "", fmt.Errorf("unknown host-key policy %q (want strict, accept-new or insecure)", s)
}

// Defaults applied to zero Options fields.
const (
	// DefaultUser is the SSH user of TKG nodes.
	DefaultUser = "vmware-system-user"
	// DefaultPort is the SSH port of nodes and of the jump host.
	DefaultPort = 22
	// DefaultTimeout bounds connecting and the SSH handshake.
	DefaultTimeout = 10 * time.Second
)

// Options configure a Dialer. The zero value is usable: user
// vmware-system-user, port 22, a 10s timeout, no jump host and the
// accept-new policy with DefaultKnownHostsPath.
type Options struct {
	// User is the SSH user on the nodes; DefaultUser if empty.
	User string
	// Port is the nodes' SSH port; DefaultPort if zero.
	Port int
	// Timeout bounds the TCP connection plus the SSH handshake of one Dial
	// (and, separately, of connecting to the jump host); DefaultTimeout if
	// zero.
	Timeout time.Duration
	// Jump is an optional jump host, "[user@]host[:port]" (a bastion or a
	// Supervisor node). Its user defaults to User, its port to 22.
	Jump string
	// JumpKey is the PEM private key for the jump host; the nodes' key is
	// used if it is empty.
	JumpKey []byte
	// HostKeyPolicy is how host keys are checked; AcceptNew if empty.
	HostKeyPolicy HostKeyPolicy
	// KnownHostsFile is the OpenSSH known_hosts file for the strict and
	// accept-new policies; DefaultKnownHostsPath if empty.
	KnownHostsFile string
	// Warn receives the warning about Insecure, at most once per
	// process, and the malformed lines of the known_hosts file (each once
	// per Dialer). It may be nil (then nothing is warned, and a later
	// Dialer with a Warn still gets the insecure warning).
	Warn func(string)
}

// DefaultKnownHostsPath is tkgcert's own known_hosts file:
// $XDG_CONFIG_HOME/tkgcert/known_hosts, or ~/.config/tkgcert/known_hosts
// (on Linux; os.UserConfigDir elsewhere).
func DefaultKnownHostsPath() (string, error) {
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("finding the default known_hosts file: %w", err)
	}
	return filepath.Join(dir, "tkgcert", "known_hosts"), nil
}

// withDefaults fills in the zero fields of o and validates it.
func (o Options) withDefaults() (Options, error) {
	if o.User == "" {
		o.User = DefaultUser
	}
	if o.Port == 0 {
		o.Port = DefaultPort
	}
	if o.Port < 1 || o.Port > 65535 {
		return o, fmt.Errorf("invalid SSH port %d", o.Port)
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.Timeout < 0 {
		return o, fmt.Errorf("invalid SSH timeout %s", o.Timeout)
	}
	if o.HostKeyPolicy == "" {
		o.HostKeyPolicy = AcceptNew
	}
	p, err := ParseHostKeyPolicy(string(o.HostKeyPolicy))
	if err != nil {
		return o, err
	}
	o.HostKeyPolicy = p
	if p != Insecure {
		if o.KnownHostsFile == "" {
			if o.KnownHostsFile, err = DefaultKnownHostsPath(); err != nil {
				return o, err
			}
		}
		if o.KnownHostsFile, err = filepath.Abs(o.KnownHostsFile); err != nil {
			return o, fmt.Errorf("resolving the known_hosts file: %w", err)
		}
	}
	return o, nil
}

// jumpHost is a parsed Options.Jump.
type jumpHost struct {
	user string
	addr string // host:port
}

// String is the jump host as user@host:port.
func (j jumpHost) String() string { return j.user + "@" + j.addr }

// parseJump parses "[user@]host[:port]".
func parseJump(s, defaultUser string) (jumpHost, error) {
	bad := func(why string) (jumpHost, error) {
		return jumpHost{}, fmt.Errorf("invalid jump host %q: %s (want [user@]host[:port])", s, why)
	}
	rest, user := strings.TrimSpace(s), defaultUser
	if i := strings.LastIndex(rest, "@"); i >= 0 {
		user, rest = rest[:i], rest[i+1:]
		if user == "" {
			return bad("empty user")
		}
	}
	addr, err := hostPort(rest, DefaultPort)
	if err != nil {
		return bad(err.Error())
	}
	return jumpHost{user: user, addr: addr}, nil
}

// hostPort makes host:port from "host", "[v6]", "v6" or "host:port".
func hostPort(s string, defaultPort int) (string, error) {
	if s == "" {
		return "", errors.New("empty host")
	}
	host, port := s, strconv.Itoa(defaultPort)
	if h, p, err := net.SplitHostPort(s); err == nil {
		host, port = h, p
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return "", fmt.Errorf("invalid port %q", p)
		}
	} else if strings.HasPrefix(s, "[") && !strings.HasSuffix(s, "]") {
		return "", err
	} else if strings.Count(s, ":") == 1 {
		return "", err // "host:" or similar
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	// Brackets left over after trimming one pair ("[a]]", "[[a]") would make
	// an address that net.SplitHostPort and the dialer cannot read.
	if host == "" || strings.ContainsAny(host, " \t\n/@[]") {
		return "", fmt.Errorf("invalid host %q", host)
	}
	return net.JoinHostPort(host, port), nil
}
