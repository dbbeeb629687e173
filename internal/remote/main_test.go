package remote

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/tkgcert/tkgcert/internal/lab/sshd"
)

const testUser = "vmware-system-user"

// Keys generated once for the whole package.
var (
	edKey  ed25519.PrivateKey
	rsaKey *rsa.PrivateKey
	ecKey  *ecdsa.PrivateKey

	clientPEM []byte // edKey, OpenSSH: the nodes' authorized key
	wrongPEM  []byte // an ed25519 key nobody authorized
	rsaPEM    []byte // rsaKey, PKCS#1

	hostA, hostB ssh.Signer // ed25519 host keys
	hostRSA      ssh.Signer

	// secrets are fragments of every private key made by the tests (PEM
	// body lines, hex of the key bytes): no error may contain one.
	secrets []string
)

func TestMain(m *testing.M) {
	var err error
	must := func(err error) {
		if err != nil {
			panic(err)
		}
	}
	_, edKey, err = ed25519.GenerateKey(rand.Reader)
	must(err)
	rsaKey, err = rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	ecKey, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	must(err)
	_, wrong, err := ed25519.GenerateKey(rand.Reader)
	must(err)
	clientPEM = openSSHPEM(edKey)
	wrongPEM = openSSHPEM(wrong)
	rsaPEM = pemOf("RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(rsaKey))

	newHostKey := func(k crypto.Signer) ssh.Signer {
		s, err := ssh.NewSignerFromSigner(k)
		must(err)
		return s
	}
	_, a, err := ed25519.GenerateKey(rand.Reader)
	must(err)
	_, b, err := ed25519.GenerateKey(rand.Reader)
	must(err)
	r, err := rsa.GenerateKey(rand.Reader, 2048)
	must(err)
	hostA, hostB, hostRSA = newHostKey(a), newHostKey(b), newHostKey(r)
	if path := os.Getenv(checkerEnv); path != "" {
		runChecker(path)
	}
	os.Exit(m.Run())
}

// pemOf encodes der as a PEM block of type typ and records it as secret.
func pemOf(typ string, der []byte) []byte {
	p := pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
	addSecret(p)
	return p
}

// openSSHPEM is k in OpenSSH format, recorded as secret.
func openSSHPEM(k crypto.PrivateKey) []byte {
	block, err := ssh.MarshalPrivateKey(k, "")
	if err != nil {
		panic(err)
	}
	p := pem.EncodeToMemory(block)
	addSecret(p)
	return p
}

// addSecret records the body lines of PEM text p and hex of its bytes.
func addSecret(p []byte) {
	if block, _ := pem.Decode(p); block != nil && len(block.Bytes) >= 48 {
		secrets = append(secrets, hex.EncodeToString(block.Bytes[16:48]), fmt.Sprint(block.Bytes[16:32])[1:40])
	}
	for _, line := range strings.Split(string(p), "\n") {
		if line = strings.TrimSpace(line); len(line) >= 16 && !strings.HasPrefix(line, "-----") {
			secrets = append(secrets, line)
		}
	}
}

// checkNoSecret fails if err's text contains key material.
func checkNoSecret(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	msg := err.Error()
	for _, s := range secrets {
		if strings.Contains(msg, s) {
			t.Errorf("error contains key material %q: %s", s, msg)
		}
	}
}

// node is a lab SSH server under test.
type node struct {
	*sshd.Server
	name string
	port int
}

// startNode starts the lab's SSH server for node name on 127.0.0.1 (addr
// "127.0.0.1:0" for a free port, or a port to reuse), with host key hk and
// authorized key pub.
func startNode(t *testing.T, name, addr string, hk ssh.Signer, pub ssh.PublicKey) *node {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	s, err := sshd.Start(sshd.Options{
		Address:       addr,
		HostKey:       hk,
		User:          testUser,
		AuthorizedKey: pub,
		Hostname:      name,
		Root:          t.TempDir(),
		ScratchDir:    t.TempDir(),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	_, port, err := net.SplitHostPort(s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return &node{Server: s, name: name, port: n}
}

// pubOf is the SSH public key of a private key.
func pubOf(t *testing.T, k crypto.Signer) ssh.PublicKey {
	t.Helper()
	p, err := ssh.NewPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// newDialer is NewDialer(key, o), failing the test on error.
func newDialer(t *testing.T, key []byte, o Options) *Dialer {
	t.Helper()
	d, err := NewDialer(key, o)
	checkNoSecret(t, err)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	return d
}

// dial connects to 127.0.0.1 with d, failing the test on error.
func dial(t *testing.T, d *Dialer) *Client {
	t.Helper()
	c, err := d.Dial(t.Context(), "127.0.0.1")
	checkNoSecret(t, err)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// knownHostsIn is a known_hosts path in a fresh directory (not created).
func knownHostsIn(t *testing.T) string {
	return t.TempDir() + "/tkgcert/known_hosts"
}
