package certs

import (
	"sort"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestCatalogueOrder(t *testing.T) {
	var names []string
	for _, s := range CertificateSpecs() {
		names = append(names, s.Name)
	}
	// The seed's ten rows (kubeadm 1.21) plus super-admin.conf (kubeadm
	// v1.29+), sorted by name as kubeadm's renewal manager sorts them.
	want := []string{
		"admin.conf", "apiserver", "apiserver-etcd-client", "apiserver-kubelet-client",
		"controller-manager.conf", "etcd-healthcheck-client", "etcd-peer", "etcd-server",
		"front-proxy-client", "scheduler.conf", "super-admin.conf",
	}
	if diff := cmp.Diff(want, names); diff != "" {
		t.Errorf("CertificateSpecs names (-want +got):\n%s", diff)
	}
	if !sort.StringsAreSorted(names) {
		t.Errorf("CertificateSpecs not sorted: %v", names)
	}
	var caNames []string
	for _, s := range AuthoritySpecs() {
		caNames = append(caNames, s.Name)
	}
	if diff := cmp.Diff([]string{"ca", "etcd-ca", "front-proxy-ca"}, caNames); diff != "" {
		t.Errorf("AuthoritySpecs names (-want +got):\n%s", diff)
	}

	paths := map[string][2]string{
		"admin.conf":              {"etc/kubernetes/admin.conf", ""},
		"apiserver":               {"etc/kubernetes/pki/apiserver.crt", "etc/kubernetes/pki/apiserver.key"},
		"etcd-healthcheck-client": {"etc/kubernetes/pki/etcd/healthcheck-client.crt", "etc/kubernetes/pki/etcd/healthcheck-client.key"},
		"etcd-ca":                 {"etc/kubernetes/pki/etcd/ca.crt", "etc/kubernetes/pki/etcd/ca.key"},
	}
	for _, s := range append(CertificateSpecs(), AuthoritySpecs()...) {
		if want, ok := paths[s.Name]; ok {
			if got := [2]string{s.CertPath(""), s.KeyPath("")}; got != want {
				t.Errorf("%s paths = %q, want %q", s.Name, got, want)
			}
		}
	}
	if got, want := certificateSpecs[1].CertPath("var/lib/pki"), "var/lib/pki/apiserver.crt"; got != want {
		t.Errorf("CertPath with certificatesDir = %q, want %q", got, want)
	}
	if got, want := certificateSpecs[0].CertPath("var/lib/pki"), "etc/kubernetes/admin.conf"; got != want {
		t.Errorf("kubeconfig CertPath with certificatesDir = %q, want %q (kubeadm hard-codes /etc/kubernetes)", got, want)
	}

	// The returned slices are copies.
	CertificateSpecs()[0].Name = "changed"
	if certificateSpecs[0].Name != "admin.conf" {
		t.Error("CertificateSpecs returned the package's slice")
	}
}

func TestExpirationHelpers(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	e := &Expiration{
		Certificates: []Info{
			{Name: "admin.conf", CAName: "ca", NotAfter: t0.Add(48 * time.Hour)},
			{Name: "apiserver", Missing: true},
			{Name: "etcd-peer", CAName: "etcd-ca", NotAfter: t0.Add(24 * time.Hour)},
			{Name: "etcd-server", CAName: "etcd-ca", NotAfter: t0.Add(24 * time.Hour)},
			{Name: "scheduler.conf", CAName: "ca", NotAfter: t0},
		},
		Authorities: []Info{
			{IsCA: true, Name: "ca", NotAfter: t0.Add(-time.Hour)},
			{IsCA: true, Name: "etcd-ca", Missing: true},
			{IsCA: true, Name: "front-proxy-ca", NotAfter: t0.Add(48 * time.Hour)},
		},
	}

	if name, at, ok := e.Earliest(); !ok || name != "scheduler.conf" || !at.Equal(t0) {
		t.Errorf("Earliest() = %q, %v, %v; want scheduler.conf, %v, true", name, at, ok, t0)
	}
	e.Certificates[4].NotAfter = t0.Add(72 * time.Hour)
	if name, _, _ := e.Earliest(); name != "etcd-peer" {
		t.Errorf("Earliest() on a tie = %q, want the first in kubeadm's order, etcd-peer", name)
	}
	if name, at, ok := e.EarliestAuthority(); !ok || name != "ca" || !at.Equal(t0.Add(-time.Hour)) {
		t.Errorf("EarliestAuthority() = %q, %v, %v", name, at, ok)
	}
	if diff := cmp.Diff([]string{"etcd-peer", "etcd-server", "ca"}, e.Expired(t0.Add(24*time.Hour))); diff != "" {
		t.Errorf("Expired (-want +got):\n%s", diff)
	}
	if got := e.Expired(t0.Add(-2 * time.Hour)); got != nil {
		t.Errorf("Expired before everything = %v, want nil", got)
	}
	if diff := cmp.Diff([]string{"apiserver", "etcd-ca"}, e.MissingNames()); diff != "" {
		t.Errorf("MissingNames (-want +got):\n%s", diff)
	}
	if c, ok := e.Certificate("etcd-server"); !ok || c.CAName != "etcd-ca" {
		t.Errorf("Certificate(etcd-server) = %+v, %v", c, ok)
	}
	if _, ok := e.Certificate("kubelet.conf"); ok {
		t.Error("Certificate(kubelet.conf) found")
	}
	if a, ok := e.Authority("etcd-ca"); !ok || !a.Missing {
		t.Errorf("Authority(etcd-ca) = %+v, %v", a, ok)
	}
	if _, ok := e.Authority("sa"); ok {
		t.Error("Authority(sa) found")
	}

	all := &Expiration{Certificates: []Info{{Name: "apiserver", Missing: true}}, Authorities: []Info{{IsCA: true, Name: "ca", Missing: true}}}
	if _, _, ok := all.Earliest(); ok {
		t.Error("Earliest() ok with only missing rows")
	}
	if _, _, ok := all.EarliestAuthority(); ok {
		t.Error("EarliestAuthority() ok with only missing rows")
	}
	var none *Expiration
	if _, _, ok := none.Earliest(); ok {
		t.Error("nil Earliest() ok")
	}
	if _, ok := none.Certificate("apiserver"); ok {
		t.Error("nil Certificate() ok")
	}

	unsorted := &Expiration{
		Certificates: []Info{{Name: "scheduler.conf"}, {Name: "admin.conf"}, {Name: "apiserver"}},
		Authorities:  []Info{{IsCA: true, Name: "front-proxy-ca"}, {IsCA: true, Name: "ca"}},
	}
	unsorted.Sort()
	want := &Expiration{
		Certificates: []Info{{Name: "admin.conf"}, {Name: "apiserver"}, {Name: "scheduler.conf"}},
		Authorities:  []Info{{IsCA: true, Name: "ca"}, {IsCA: true, Name: "front-proxy-ca"}},
	}
	if diff := cmp.Diff(want, unsorted); diff != "" {
		t.Errorf("Sort (-want +got):\n%s", diff)
	}
}
