package remote

import (
	"net"
	"strconv"
	"strings"
	"testing"
)

// checkAddr fails unless addr is host:port with a host and a port from 1
// to 65535 that net.SplitHostPort reads back, and hostPort leaves it as it
// is.
func checkAddr(t *testing.T, in, addr string) {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("%q became %q, which is not host:port: %v", in, addr, err)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		t.Fatalf("%q became %q, with port %q", in, addr, port)
	}
	if host == "" || strings.ContainsAny(host, " \t\n/@") {
		t.Fatalf("%q became %q, with host %q", in, addr, host)
	}
	if again, err := hostPort(addr, DefaultPort); err != nil || again != addr {
		t.Fatalf("hostPort(%q) = %q, %v; want it unchanged", addr, again, err)
	}
}

// FuzzHostPort: a node address or jump host's host[:port] is refused or
// becomes a host:port that dials as given.
func FuzzHostPort(f *testing.F) {
	for _, s := range []string{"10.0.0.1", "10.0.0.1:2222", "node", "node:", ":22", "[fd00::1]", "fd00::1", "[fd00::1]:2022",
		"[fd00::1", "fd00::1]", "[a]]", "[[a]", "a]:22", "host:0", "host:65536", "host:+22", "host:022", "fe80::1%eth0", "[fe80::1%eth0]:22",
		"a b", "a/b", "@", "[]", "[]:22", "[:]", ":"} {
		f.Add(s, uint16(DefaultPort))
	}
	f.Add("node", uint16(65535))
	f.Fuzz(func(t *testing.T, s string, defaultPort uint16) {
		if defaultPort == 0 {
			return // Options.withDefaults refuses port 0
		}
		addr, err := hostPort(s, int(defaultPort))
		if err != nil {
			return
		}
		checkAddr(t, s, addr)
	})
}

// FuzzParseJump: an accepted jump host has a user and a host:port, and
// its String form parses back to it.
func FuzzParseJump(f *testing.F) {
	for _, s := range []string{"bastion", "admin@bastion:2222", "a@b@10.0.0.1", "root@[fd00::1]:2022", "fd00::1", "[fd00::1]",
		"supervisor.local:222", "@bastion", "bastion:x", " admin@bastion ", "admin@", "admin@:22", "a@b c", "\tx@y\n"} {
		f.Add(s, "vmware-system-user")
	}
	f.Add("bastion", "")
	f.Fuzz(func(t *testing.T, s, defaultUser string) {
		if defaultUser != strings.TrimSpace(defaultUser) {
			return // Options.User is a login name, not blanks around one
		}
		j, err := parseJump(s, defaultUser)
		if err != nil {
			return
		}
		if j.user == "" && defaultUser != "" {
			t.Fatalf("parseJump(%q) has no user", s)
		}
		checkAddr(t, s, j.addr)
		if j.user == "" {
			return // String would start with "@", which parseJump refuses
		}
		back, err := parseJump(j.String(), "other-user")
		if err != nil || back != j {
			t.Fatalf("parseJump(%q) = %+v; its String %q parses to %+v, %v", s, j, j.String(), back, err)
		}
	})
}
