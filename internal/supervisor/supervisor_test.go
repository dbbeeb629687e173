package supervisor

import (
	"crypto/x509"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tkgcert/tkgcert/internal/trust"
)

func TestNodeTargets(t *testing.T) {
	node := func(name string, labels map[string]string, addrs ...corev1.NodeAddress) corev1.Node {
		return corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Status: corev1.NodeStatus{Addresses: addrs}}
	}
	internal := func(a string) corev1.NodeAddress { return corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: a} }
	sup := &Report{}
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
		ep   Endpoint
		want []string
		not  []string
	}{
		{"Supervisor control plane, VMCA", Endpoint{Role: RoleSupervisorControlPlane, Trust: &trust.Result{Domain: trust.VMCA}},
			[]string{"WCP Cert Manager", KBReplaceSupervisorCertificates, KBCertificateGuide, "changes nothing in vCenter"}, []string{"tkgcert rotate"}},
		{"vCenter, VMCA", Endpoint{Role: RoleVCenter, Trust: &trust.Result{Domain: trust.VMCA}},
			[]string{"vCenter's own certificate management", "changes nothing in vCenter"}, []string{"tkgcert rotate"}},
		{"ESXi, VMCA", Endpoint{Role: RoleESXi, Trust: &trust.Result{Domain: trust.VMCA}},
			[]string{"renew it from vCenter", "WCP Cert Manager"}, nil},
		{"Supervisor API, Supervisor CA", Endpoint{Role: RoleSupervisorAPI, Trust: &trust.Result{Domain: trust.Kubernetes, Method: trust.BySupervisorCA}},
			[]string{"Supervisor's own Kubernetes CA", "WCP Cert Manager"}, []string{"tkgcert rotate"}},
		{"TKG cluster", Endpoint{Role: RoleEndpoint, Trust: &trust.Result{Domain: trust.Kubernetes, Method: trust.ByClusterCA, Namespace: "ns", Cluster: "c"}},
			[]string{"tkgcert rotate -n ns c"}, []string{"WCP"}},
		{"other", Endpoint{Role: RoleESXi, Trust: &trust.Result{Domain: trust.Other, CA: "unknown CA CN=X"}},
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

func TestLabels(t *testing.T) {
	now := time.Now()
	c := infoOf("kube-apiserver", &x509.Certificate{NotAfter: now.Add(20 * 24 * time.Hour)}, now)
	sup := &Report{Endpoints: []Endpoint{
		{Name: "4210aa", Role: RoleSupervisorControlPlane, Address: "10.0.0.10:6443", Service: "kube-apiserver", Certificate: &c,
			Trust: &trust.Result{Domain: trust.VMCA, Method: trust.ByVMCARoot}},
		{Name: "4210aa", Role: RoleSupervisorControlPlane, Address: "10.0.0.10", File: "/etc/kubernetes/pki/apiserver.crt", Service: "apiserver", Certificate: &c,
			Trust: &trust.Result{Domain: trust.Kubernetes, Method: trust.BySupervisorCA}},
		{Name: "10.1.0.1:6443", Role: RoleEndpoint, Address: "10.1.0.1:6443", Service: "tls", Certificate: &c,
			Trust: &trust.Result{Domain: trust.Kubernetes, Method: trust.ByClusterCA, Namespace: "ns", Cluster: "c", CA: "TKG cluster ns/c ca"}},
		{Name: "esx-09", Role: RoleESXi, Address: "10.0.0.29:443", Service: "esxi-https", Certificate: &c, Trust: &trust.Result{Domain: trust.Other}},
		{Name: "esx-10", Role: RoleESXi, Address: "10.0.0.30:443", Service: "esxi-https", Errors: []string{"refused"}},
	}}
	var got []string
	for _, ep := range sup.Endpoints {
		got = append(got, strings.Join([]string{ep.Name, ep.CertificateLabel(), ep.CALabel(), ep.Where()}, " "))
	}
	want := []string{
		"4210aa kube-apiserver vmca 10.0.0.10:6443",
		"4210aa /etc/kubernetes/pki/apiserver.crt supervisor-ca 10.0.0.10:/etc/kubernetes/pki/apiserver.crt",
		"10.1.0.1:6443 tls tkg:ns/c 10.1.0.1:6443",
		"esx-09 esxi-https other 10.0.0.29:443",
		"esx-10 esxi-https  10.0.0.30:443",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("labels:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
