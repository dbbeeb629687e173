package netsim

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tkgcert/tkgcert/internal/pki"
)

func backend(t *testing.T, name string) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) }))
	t.Cleanup(s.Close)
	return s
}

func get(t *testing.T, url string) (string, error) {
	t.Helper()
	c := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	resp, err := c.Get(url)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

func TestBalancerRoundRobinAndFailover(t *testing.T) {
	a, b := backend(t, "a"), backend(t, "b")
	lb, err := ListenBalancer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lb.Close()
	url := "http://" + lb.Addr()

	if _, err := get(t, url); err == nil {
		t.Fatal("a balancer without backends answered")
	}
	lb.SetBackends([]string{a.Listener.Addr().String(), b.Listener.Addr().String()})
	seen := map[string]int{}
	for i := 0; i < 6; i++ {
		got, err := get(t, url)
		if err != nil {
			t.Fatal(err)
		}
		seen[got]++
	}
	if seen["a"] != 3 || seen["b"] != 3 {
		t.Fatalf("round robin over 6 requests gave %v, want 3 each", seen)
	}
	// A dead backend is skipped.
	deadAddr := a.Listener.Addr().String()
	a.Close()
	for i := 0; i < 4; i++ {
		got, err := get(t, url)
		if err != nil || got != "b" {
			t.Fatalf("with %s down: got %q, %v; want b", deadAddr, got, err)
		}
	}
}

func TestBalancerCloseCutsConnections(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go io.Copy(io.Discard, c) // holds the connection open
		}
	}()
	lb, err := ListenBalancer("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lb.SetBackends([]string{ln.Addr().String()})
	c, err := net.Dial("tcp", lb.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := c.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- lb.Close() }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return while a connection was open")
	}
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection still open after Close")
	}
}

func TestTLSEndpointPresentsTheFileOnDisk(t *testing.T) {
	now := time.Now()
	ca, err := pki.NewCA("etcd-ca", pki.ValidFor(now.Add(-time.Hour), 24*time.Hour), pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "server.crt"), filepath.Join(dir, "server.key")
	write := func(notAfter time.Time) {
		leaf, err := pki.NewLeaf(ca, pki.LeafSpec{CommonName: "node-a", Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, IPs: []net.IP{net.ParseIP("127.0.0.1")}},
			pki.Validity{NotBefore: now.Add(-time.Minute), NotAfter: notAfter}, pki.ECDSAP256)
		if err != nil {
			t.Fatal(err)
		}
		key, _ := leaf.KeyPEM()
		if err := os.WriteFile(certFile, leaf.CertPEM(), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(keyFile, key, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	first := now.Add(2 * time.Hour).Truncate(time.Second)
	write(first)
	e, err := ListenTLS("127.0.0.1:0", FileCert(certFile, keyFile))
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	peer := func() *x509.Certificate {
		pool := x509.NewCertPool()
		pool.AddCert(ca.Cert)
		c, err := tls.Dial("tcp", e.Addr(), &tls.Config{RootCAs: pool, ServerName: "127.0.0.1"})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().PeerCertificates[0]
	}
	if got := peer(); !got.NotAfter.Equal(first) || got.Subject.CommonName != "node-a" {
		t.Fatalf("peer certificate %s until %v, want node-a until %v", got.Subject, got.NotAfter, first)
	}
	second := now.Add(5 * time.Hour).Truncate(time.Second)
	write(second)
	if got := peer(); !got.NotAfter.Equal(second) {
		t.Fatalf("after renewal on disk, peer NotAfter = %v, want %v", got.NotAfter, second)
	}
}
