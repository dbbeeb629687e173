package inventory

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tkgcert/tkgcert/internal/pki"
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

	r, err := RunSupervisor(context.Background(), nil, SupervisorOptions{
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
	if eps[0].Role != RoleVCenter || eps[0].Address != vc || eps[0].DiscoveredFrom != "--vcenter" {
		t.Errorf("first endpoint %+v, want the vCenter", eps[0])
	}
	byAddr := map[string]EndpointReport{}
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
	if _, err := RunSupervisor(context.Background(), nil, SupervisorOptions{}); err == nil || !strings.Contains(err.Error(), "--vcenter") {
		t.Errorf("no endpoints: %v", err)
	}
	if _, err := RunSupervisor(context.Background(), nil, SupervisorOptions{Discover: true}); err == nil {
		t.Error("discovery without a kubeconfig did not fail")
	}
	if _, err := RunSupervisor(context.Background(), nil, SupervisorOptions{Endpoints: []string{"10.0.0.1"}}); err == nil || !strings.Contains(err.Error(), "HOST:PORT") {
		t.Errorf("--endpoint without a port: %v", err)
	}
}

func TestNodeTargets(t *testing.T) {
	node := func(name string, labels map[string]string, addrs ...corev1.NodeAddress) corev1.Node {
		return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Status: corev1.NodeStatus{Addresses: addrs}}
	}
	internal := func(a string) corev1.NodeAddress { return corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: a} }
	sup := &SupervisorReport{}
	got := nodeTargets([]corev1.Node{
		node("4210aa", map[string]string{"node-role.kubernetes.io/control-plane": ""}, corev1.NodeAddress{Type: corev1.NodeHostName, Address: "4210aa"}, internal("10.0.0.10")),
		node("4210bb", map[string]string{"node-role.kubernetes.io/master": ""}, internal("10.0.0.11")),
		node("esx-01", map[string]string{"node-role.kubernetes.io/agent": ""}, internal("10.0.0.20")),
		node("esx-02", map[string]string{"kubernetes.io/role": "agent"}, internal("fd00::21")),
		node("plain", nil, internal("10.0.0.30")),
		node("nowhere", nil),
	}, sup)
	var rows []string
	for _, e := range got {
		rows = append(rows, e.Name+" "+e.Role+" "+e.Address+" "+e.Service)
	}
	want := []string{
		"4210aa supervisor-control-plane 10.0.0.10:6443 kube-apiserver",
		"4210bb supervisor-control-plane 10.0.0.11:6443 kube-apiserver",
		"esx-01 esxi 10.0.0.20:443 esxi-https",
		"esx-01 esxi 10.0.0.20:10250 spherelet",
		"esx-02 esxi [fd00::21]:443 esxi-https",
		"esx-02 esxi [fd00::21]:10250 spherelet",
		"plain node 10.0.0.30:10250 kubelet",
	}
	if strings.Join(rows, "\n") != strings.Join(want, "\n") {
		t.Errorf("targets:\n%s\nwant:\n%s", strings.Join(rows, "\n"), strings.Join(want, "\n"))
	}
	if len(sup.Errors) != 1 || !strings.Contains(sup.Errors[0], "nowhere") {
		t.Errorf("a Node without addresses: errors %v", sup.Errors)
	}
}

func TestWithDefaultPort(t *testing.T) {
	for in, want := range map[string]string{
		"vcsa.example.com": "vcsa.example.com:443", "vcsa.example.com:8443": "vcsa.example.com:8443",
		"10.0.0.1": "10.0.0.1:443", "fd00::1": "[fd00::1]:443", "[fd00::1]:9443": "[fd00::1]:9443",
	} {
		if got, err := withDefaultPort(in, 443); err != nil || got != want {
			t.Errorf("withDefaultPort(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := withDefaultPort("", 443); err == nil {
		t.Error("an empty host was accepted")
	}
}

func TestRotation(t *testing.T) {
	for _, tc := range []struct {
		name string
		ep   EndpointReport
		want []string
		not  []string
	}{
		{"Supervisor control plane, VMCA", EndpointReport{Role: RoleSupervisorControlPlane, Trust: &trust.Result{Domain: trust.VMCA}},
			[]string{"WCP Cert Manager", KBReplaceSupervisorCertificates, KBCertificateGuide, "changes nothing in vCenter"}, []string{"tkgcert rotate"}},
		{"vCenter, VMCA", EndpointReport{Role: RoleVCenter, Trust: &trust.Result{Domain: trust.VMCA}},
			[]string{"vCenter's own certificate management", "changes nothing in vCenter"}, []string{"tkgcert rotate"}},
		{"ESXi, VMCA", EndpointReport{Role: RoleESXi, Trust: &trust.Result{Domain: trust.VMCA}},
			[]string{"renew it from vCenter", "WCP Cert Manager"}, nil},
		{"Supervisor API, Supervisor CA", EndpointReport{Role: RoleSupervisorAPI, Trust: &trust.Result{Domain: trust.Kubernetes, Method: trust.BySupervisorCA}},
			[]string{"Supervisor's own Kubernetes CA", "WCP Cert Manager"}, []string{"tkgcert rotate"}},
		{"TKG cluster", EndpointReport{Role: RoleEndpoint, Trust: &trust.Result{Domain: trust.Kubernetes, Method: trust.ByClusterCA, Namespace: "ns", Cluster: "c"}},
			[]string{"tkgcert rotate -n ns c"}, []string{"WCP"}},
		{"other", EndpointReport{Role: RoleESXi, Trust: &trust.Result{Domain: trust.Other, CA: "unknown CA CN=X"}},
			[]string{"outside both trust domains", "CN=X"}, []string{"WCP", "tkgcert rotate"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Rotation(tc.ep)
			for _, w := range tc.want {
				if !strings.Contains(got, w) {
					t.Errorf("%q lacks %q", got, w)
				}
			}
			for _, n := range tc.not {
				if strings.Contains(got, n) {
					t.Errorf("%q contains %q", got, n)
				}
			}
		})
	}
}

func TestSeries(t *testing.T) {
	now := time.Now()
	c := cert("kube-apiserver", 20*24*time.Hour, now)
	f := cert("apiserver", 20*24*time.Hour, now)
	sup := &SupervisorReport{Endpoints: []EndpointReport{
		{Name: "4210aa", Role: RoleSupervisorControlPlane, Address: "10.0.0.10:6443", Service: "kube-apiserver", Certificate: &c,
			Trust: &trust.Result{Domain: trust.VMCA, Method: trust.ByVMCARoot}},
		{Name: "4210aa", Role: RoleSupervisorControlPlane, Address: "10.0.0.10", File: "/etc/kubernetes/pki/apiserver.crt", Service: "apiserver", Certificate: &f,
			Trust: &trust.Result{Domain: trust.Kubernetes, Method: trust.BySupervisorCA}},
		{Name: "10.1.0.1:6443", Role: RoleEndpoint, Address: "10.1.0.1:6443", Service: "tls", Certificate: &c,
			Trust: &trust.Result{Domain: trust.Kubernetes, Method: trust.ByClusterCA, Namespace: "ns", Cluster: "c", CA: "TKG cluster ns/c ca"}},
		{Name: "esx-09", Role: RoleESXi, Address: "10.0.0.29:443", Service: "esxi-https", Certificate: &c, Trust: &trust.Result{Domain: trust.Other}},
		{Name: "esx-10", Role: RoleESXi, Address: "10.0.0.30:443", Service: "esxi-https", Errors: []string{"refused"}},
	}}
	var got []string
	for _, s := range sup.Series() {
		got = append(got, strings.Join([]string{s.Node, s.Certificate, s.CA, s.TrustDomain, s.Role, s.Address}, " "))
		if !s.NotAfter.Equal(*c.NotAfter) && !s.NotAfter.Equal(*f.NotAfter) {
			t.Errorf("%s: NotAfter %s", s.Certificate, s.NotAfter)
		}
	}
	want := []string{
		"4210aa kube-apiserver vmca vmca supervisor-control-plane 10.0.0.10:6443",
		"4210aa /etc/kubernetes/pki/apiserver.crt supervisor-ca kubernetes supervisor-control-plane 10.0.0.10:/etc/kubernetes/pki/apiserver.crt",
		"10.1.0.1:6443 tls tkg:ns/c kubernetes endpoint 10.1.0.1:6443",
		"esx-09 esxi-https other other esxi 10.0.0.29:443",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("series:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
