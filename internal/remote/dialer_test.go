package remote

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// TestKeyFormats logs in with each format a <cluster>-ssh secret may hold.
func TestKeyFormats(t *testing.T) {
	pkcs8 := func(k crypto.PrivateKey) []byte {
		der, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		return pemOf("PRIVATE KEY", der)
	}
	sec1, err := x509.MarshalECPrivateKey(ecKey)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		pem  []byte
		key  crypto.Signer
	}{
		{"ed25519 OpenSSH", clientPEM, edKey},
		{"ed25519 PKCS#8", pkcs8(edKey), edKey},
		{"RSA PKCS#1", rsaPEM, rsaKey},
		{"RSA PKCS#8", pkcs8(rsaKey), rsaKey},
		{"RSA OpenSSH", openSSHPEM(rsaKey), rsaKey},
		{"ECDSA SEC1", pemOf("EC PRIVATE KEY", sec1), ecKey},
		{"ECDSA PKCS#8", pkcs8(ecKey), ecKey},
		{"ECDSA OpenSSH", openSSHPEM(ecKey), ecKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			n := startNode(t, "node-keys", "", hostA, pubOf(t, tc.key))
			d := newDialer(t, tc.pem, Options{Port: n.port, KnownHostsFile: knownHostsIn(t)})
			stdout, _, code, err := dial(t, d).Run(t.Context(), "hostname", nil)
			if err != nil || code != 0 || string(stdout) != "node-keys\n" {
				t.Errorf("Run = %q, %d, %v", stdout, code, err)
			}
		})
	}
}

// TestKeyErrors checks the errors for keys that cannot be used: clear, and
// never quoting the key.
func TestKeyErrors(t *testing.T) {
	encrypted, err := ssh.MarshalPrivateKeyWithPassphrase(edKey, "", []byte("passphrase"))
	if err != nil {
		t.Fatal(err)
	}
	encryptedPEM := pem.EncodeToMemory(encrypted)
	addSecret(encryptedPEM)
	legacy, err := x509.EncryptPEMBlock(strings.NewReader(strings.Repeat("r", 64)), "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey), []byte("passphrase"), x509.PEMCipherAES256) //nolint:staticcheck // SA1019: legacy encrypted PEM, as older tools write it
	if err != nil {
		t.Fatal(err)
	}
	legacyPEM := pem.EncodeToMemory(legacy)
	addSecret(legacyPEM)
	block, _ := pem.Decode(rsaPEM)
	truncated := pemOf("RSA PRIVATE KEY", block.Bytes[:len(block.Bytes)/2])
	corruptOpenSSH := func() []byte {
		b, _ := pem.Decode(clientPEM)
		der := append([]byte(nil), b.Bytes...)
		der[len(der)-1] ^= 0xff // the padding
		return pemOf("OPENSSH PRIVATE KEY", der)
	}()
	pubDER, err := x509.MarshalPKIXPublicKey(rsaKey.Public())
	if err != nil {
		t.Fatal(err)
	}
	bareBase64 := []byte(base64.StdEncoding.EncodeToString(block.Bytes))
	addSecret([]byte(strings.Join(splitEvery(string(bareBase64), 64), "\n")))

	for _, tc := range []struct {
		name string
		key  []byte
		want string
	}{
		{"empty", nil, "the SSH private key is empty"},
		{"not PEM", bareBase64, "the SSH private key is not PEM-encoded (want an OpenSSH, PKCS#1 or PKCS#8 private key)"},
		{"passphrase OpenSSH", encryptedPEM, "the SSH private key is passphrase-protected; an unencrypted key is needed (like ssh-privatekey in the cluster's <cluster>-ssh secret)"},
		{"passphrase PEM", legacyPEM, "the SSH private key is passphrase-protected; an unencrypted key is needed (like ssh-privatekey in the cluster's <cluster>-ssh secret)"},
		{"truncated", truncated, `the SSH private key cannot be parsed: the PEM block "RSA PRIVATE KEY" is malformed or not an ed25519, RSA or ECDSA private key`},
		{"corrupt OpenSSH", corruptOpenSSH, `the SSH private key cannot be parsed: the PEM block "OPENSSH PRIVATE KEY" is malformed or not an ed25519, RSA or ECDSA private key`},
		{"public key", pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), `the SSH private key is a public key (PEM block "PUBLIC KEY"); the private key is needed`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewDialer(tc.key, Options{HostKeyPolicy: Insecure})
			checkNoSecret(t, err)
			if err == nil || err.Error() != tc.want {
				t.Errorf("NewDialer: %v\nwant %s", err, tc.want)
			}
			_, err = NewDialer(clientPEM, Options{HostKeyPolicy: Insecure, Jump: "bastion", JumpKey: tc.key})
			checkNoSecret(t, err)
			if tc.key != nil && (err == nil || !strings.HasPrefix(err.Error(), "the jump host's SSH private key ")) {
				t.Errorf("NewDialer with the jump key: %v", err)
			}
		})
	}
}

func splitEvery(s string, n int) []string {
	var parts []string
	for len(s) > n {
		parts, s = append(parts, s[:n]), s[n:]
	}
	return append(parts, s)
}

func TestOptions(t *testing.T) {
	for _, tc := range []struct {
		o    Options
		want string
	}{
		{Options{Port: 70000}, "invalid SSH port 70000"},
		{Options{Timeout: -time.Second}, "invalid SSH timeout -1s"},
		{Options{HostKeyPolicy: "yes"}, `unknown host-key policy "yes" (want strict, accept-new or insecure)`},
		{Options{Jump: "@bastion"}, `invalid jump host "@bastion": empty user (want [user@]host[:port])`},
		{Options{Jump: "bastion:x"}, `invalid jump host "bastion:x": invalid port "x" (want [user@]host[:port])`},
	} {
		_, err := NewDialer(clientPEM, tc.o)
		if err == nil || err.Error() != tc.want {
			t.Errorf("NewDialer(%+v) = %v, want %s", tc.o, err, tc.want)
		}
	}

	for in, want := range map[string]jumpHost{
		"bastion":              {"vmware-system-user", "bastion:22"},
		"admin@bastion:2222":   {"admin", "bastion:2222"},
		"a@b@10.0.0.1":         {"a@b", "10.0.0.1:22"},
		"root@[fd00::1]:2022":  {"root", "[fd00::1]:2022"},
		"fd00::1":              {"vmware-system-user", "[fd00::1]:22"},
		"[fd00::1]":            {"vmware-system-user", "[fd00::1]:22"},
		"supervisor.local:222": {"vmware-system-user", "supervisor.local:222"},
	} {
		if got, err := parseJump(in, "vmware-system-user"); err != nil || got != want {
			t.Errorf("parseJump(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
}

func TestParseHostKeyPolicy(t *testing.T) {
	for _, s := range []string{"strict", "accept-new", "insecure"} {
		if p, err := ParseHostKeyPolicy(s); err != nil || string(p) != s {
			t.Errorf("ParseHostKeyPolicy(%q) = %q, %v", s, p, err)
		}
	}
	for _, s := range []string{"", "no", "Strict", "accept_new"} {
		if _, err := ParseHostKeyPolicy(s); err == nil {
			t.Errorf("ParseHostKeyPolicy(%q) succeeded", s)
		}
	}
}

func TestWrongKey(t *testing.T) {
	n := startNode(t, "node-auth", "", hostA, pubOf(t, edKey))
	for _, tc := range []struct {
		name string
		key  []byte
		user string
	}{
		{"wrong key", wrongPEM, testUser},
		{"other key type", rsaPEM, testUser},
		{"wrong user", clientPEM, "root"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := newDialer(t, tc.key, Options{Port: n.port, User: tc.user, KnownHostsFile: knownHostsIn(t)})
			_, err := d.Dial(t.Context(), "127.0.0.1")
			checkNoSecret(t, err)
			want := fmt.Sprintf("ssh to 127.0.0.1:%d as %s: unable to authenticate (wrong key?)", n.port, tc.user)
			if err == nil || err.Error() != want {
				t.Fatalf("Dial: %v\nwant %s", err, want)
			}
			if !errors.Is(err, ErrAuth) || errors.Is(err, ErrUnreachable) || errors.Is(err, ErrHostKey) {
				t.Errorf("Dial error %v: not only ErrAuth", err)
			}
		})
	}
}

// closedPort is a port of 127.0.0.1 nobody listens on.
func closedPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	return port
}

func TestConnectionRefused(t *testing.T) {
	port := closedPort(t)
	d := newDialer(t, clientPEM, Options{Port: port, KnownHostsFile: knownHostsIn(t)})
	_, err := d.Dial(t.Context(), "127.0.0.1")
	want := fmt.Sprintf("ssh to 127.0.0.1:%d as vmware-system-user: connection refused", port)
	if err == nil || err.Error() != want {
		t.Fatalf("Dial: %v\nwant %s", err, want)
	}
	if !errors.Is(err, ErrUnreachable) || errors.Is(err, ErrAuth) || errors.Is(err, ErrHostKey) {
		t.Errorf("Dial error %v: not only ErrUnreachable", err)
	}
}

// silentServer accepts TCP connections and never speaks SSH.
func silentServer(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { close(done); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { <-done; c.Close() }()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

func TestHandshakeTimeout(t *testing.T) {
	port := silentServer(t)
	d := newDialer(t, clientPEM, Options{Port: port, Timeout: 200 * time.Millisecond, KnownHostsFile: knownHostsIn(t)})
	_, err := d.Dial(t.Context(), "127.0.0.1")
	want := fmt.Sprintf("ssh to 127.0.0.1:%d as vmware-system-user: timed out after 200ms", port)
	if err == nil || err.Error() != want {
		t.Fatalf("Dial: %v\nwant %s", err, want)
	}
	if !errors.Is(err, ErrUnreachable) || errors.Is(err, context.Canceled) {
		t.Errorf("Dial error %v: not ErrUnreachable", err)
	}
}

// TestDialCancel cancels a Dial stuck in the handshake: it returns the
// context's error, not ErrUnreachable.
func TestDialCancel(t *testing.T) {
	port := silentServer(t)
	d := newDialer(t, clientPEM, Options{Port: port, Timeout: time.Hour, KnownHostsFile: knownHostsIn(t)})
	ctx, cancel := context.WithCancel(t.Context())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err := d.Dial(ctx, "127.0.0.1")
	want := fmt.Sprintf("ssh to 127.0.0.1:%d as vmware-system-user: context canceled", port)
	if err == nil || err.Error() != want {
		t.Fatalf("Dial: %v\nwant %s", err, want)
	}
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrUnreachable) {
		t.Errorf("Dial error %v: want context.Canceled only", err)
	}
}

func TestDialHostPort(t *testing.T) {
	n := startNode(t, "node-hostport", "", hostA, pubOf(t, edKey))
	d := newDialer(t, clientPEM, Options{Port: closedPort(t), KnownHostsFile: knownHostsIn(t)})
	c, err := d.Dial(t.Context(), n.Addr()) // host:port overrides Options.Port
	if err != nil {
		t.Fatal(err)
	}
	c.Close()
	if _, err := d.Dial(t.Context(), ""); err == nil {
		t.Error("Dial of an empty host succeeded")
	}
}

func TestDialAfterClose(t *testing.T) {
	n := startNode(t, "node-closed", "", hostA, pubOf(t, edKey))
	d := newDialer(t, clientPEM, Options{Port: n.port, KnownHostsFile: knownHostsIn(t)})
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	_, err := d.Dial(t.Context(), "127.0.0.1")
	if want := fmt.Sprintf("ssh to 127.0.0.1:%d as vmware-system-user: the SSH dialer is closed", n.port); err == nil || err.Error() != want {
		t.Errorf("Dial after Close: %v, want %s", err, want)
	}
}
