package inventory

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tkgcert/tkgcert/internal/pki"
	"github.com/tkgcert/tkgcert/internal/supervisor"
	"github.com/tkgcert/tkgcert/internal/trust"
)

// serve presents kp (and the extra chain) on a loopback port until the test ends.
func serve(t *testing.T, kp *pki.KeyPair, chain ...*x509.Certificate) string {
	t.Helper()
	c := tls.Certificate{Certificate: [][]byte{kp.Cert.Raw}, PrivateKey: kp.Key}
	for _, x := range chain {
		c.Certificate = append(c.Certificate, x.Raw)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{c}, MinVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				_ = conn.(*tls.Conn).Handshake()
				conn.Close()
			}()
		}
	}()
	return ln.Addr().String()
}

func TestRunSupervisorNamedEndpoints(t *testing.T) {
	now := time.Now().Truncate(time.Second)
	day := 24 * time.Hour
	must := func(kp *pki.KeyPair, err error) *pki.KeyPair {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return kp
	}
	root := must(pki.NewVMCARoot("vcsa-01.example.com", "", pki.Validity{}, pki.ECDSAP256))
	foreign := must(pki.NewCA("Foreign Root CA", pki.Validity{}, pki.ECDSAP256))
	ip := []net.IP{net.ParseIP("127.0.0.1")}
	vc := serve(t, must(pki.NewVMCALeaf(root, "vcsa-01.example.com", ip, pki.ValidFor(now.Add(-day), 600*day), pki.ECDSAP256)))
	soon := must(pki.NewVMCALeaf(root, "42aa", ip, pki.ValidFor(now.Add(-day), 21*day), pki.ECDSAP256))
	cp := serve(t, soon)
	other := serve(t, must(pki.NewVMCALeaf(foreign, "esx-09", ip, pki.ValidFor(now.Add(-day), 600*day), pki.ECDSAP256)))
	closed := func() string { // a port nobody listens on
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer ln.Close()
		return ln.Addr().String()
	}()

	r, err := RunSupervisor(context.Background(), nil, supervisor.Options{
		VCenters: []string{vc}, Endpoints: []string{cp, other, closed, vc}, VMCARoots: []*x509.Certificate{root.Cert},
		Timeout: 5 * time.Second, Now: func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	eps := r.Supervisor.Endpoints
	if len(eps) != 4 {
		t.Fatalf("%d endpoints, want 4 (the vCenter named twice counts once): %+v", len(eps), eps)
	}
	if eps[0].Role != supervisor.RoleVCenter || eps[0].Address != vc || eps[0].DiscoveredFrom != "--vcenter" {
		t.Errorf("first endpoint %+v, want the vCenter", eps[0])
	}
	byAddr := map[string]supervisor.Endpoint{}
	for _, ep := range eps {
		byAddr[ep.Address] = ep
	}
	for _, tc := range []struct {
		addr   string
		domain trust.Domain
		method trust.Method
		errors int
	}{
		{vc, trust.VMCA, trust.ByVMCARoot, 0},
		{cp, trust.VMCA, trust.ByVMCARoot, 0},
		{other, trust.Other, trust.Unknown, 0},
		{closed, "", "", 1},
	} {
		ep := byAddr[tc.addr]
		if len(ep.Errors) != tc.errors {
			t.Errorf("%s: errors %v, want %d", tc.addr, ep.Errors, tc.errors)
		}
		if tc.errors > 0 {
			if ep.Certificate != nil || ep.Trust != nil || !strings.Contains(ep.Errors[0], tc.addr) {
				t.Errorf("%s: unreadable endpoint reported as %+v", tc.addr, ep)
			}
			continue
		}
		if ep.Trust == nil || ep.Trust.Domain != tc.domain || ep.Trust.Method != tc.method {
			t.Errorf("%s: trust %+v, want %s by %s", tc.addr, ep.Trust, tc.domain, tc.method)
		}
		if !ep.HostMatches || ep.ChainLength != 1 || ep.Rotation == "" {
			t.Errorf("%s: hostMatches %v chain %d rotation %q", tc.addr, ep.HostMatches, ep.ChainLength, ep.Rotation)
		}
	}
	if got := byAddr[cp].Certificate.NotAfter; !got.Equal(soon.Cert.NotAfter) {
		t.Errorf("NotAfter %s, want %s", got, soon.Cert.NotAfter)
	}
	if s := byAddr[vc].Certificate.Issuer; s != "CN=CA, DC=vsphere, DC=local, C=US, ST=California, O=vcsa-01.example.com, OU=VMware Engineering" {
		t.Errorf("issuer %q", s)
	}

	v := Evaluate(r, 30*day, 7*day)
	if v.Code != ExitWarning || v.Errors != 1 || v.Count(StatusWarning) != 1 {
		t.Errorf("verdict %s code %d, want one warning, one error, exit 2", v.Summary(), v.Code)
	}
	// The VMCA root and the three certificates read.
	if len(v.Findings) != 4 || v.Findings[0].Endpoint == nil || v.Findings[0].Endpoint.Address != cp {
		t.Errorf("findings %+v, want the expiring endpoint first", v.Findings)
	}
	if v = Evaluate(r, 10*day, 7*day); v.Code != ExitIncomplete {
		t.Errorf("--warn 10d: exit %d, want 1 (an endpoint could not be read)", v.Code)
	}
}

func TestRunSupervisorRefusesNothingToRead(t *testing.T) {
	if _, err := RunSupervisor(context.Background(), nil, supervisor.Options{}); err == nil || !strings.Contains(err.Error(), "--vcenter") {
		t.Errorf("no endpoints: %v", err)
	}
	if _, err := RunSupervisor(context.Background(), nil, supervisor.Options{Discover: true}); err == nil {
		t.Error("discovery without a kubeconfig did not fail")
	}
	if _, err := RunSupervisor(context.Background(), nil, supervisor.Options{Endpoints: []string{"10.0.0.1"}}); err == nil || !strings.Contains(err.Error(), "HOST:PORT") {
		t.Errorf("--endpoint without a port: %v", err)
	}
}
