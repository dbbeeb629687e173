package trust

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/tkgcert/tkgcert/internal/pki"
)

var now = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

func leaf(t *testing.T, ca *pki.KeyPair, host string, notAfter time.Time) *x509.Certificate {
	t.Helper()
	kp, err := pki.NewVMCALeaf(ca, host, []net.IP{net.ParseIP("127.75.1.10")}, pki.Validity{NotBefore: now.Add(-24 * time.Hour), NotAfter: notAfter}, pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	return kp.Cert
}

func TestClassify(t *testing.T) {
	caV := pki.Validity{NotBefore: now.Add(-365 * 24 * time.Hour), NotAfter: now.Add(9 * 365 * 24 * time.Hour)}
	vmca := mustCA(t)(pki.NewVMCARoot("vcsa-01.lab.local", "", caV, pki.ECDSAP256))
	otherVMCA := mustCA(t)(pki.NewVMCARoot("vcsa-02.lab.local", "corp.example", caV, pki.ECDSAP256))
	sup := mustCA(t)(pki.NewCA("kubernetes-supervisor", caV, pki.ECDSAP256))
	tkg := mustCA(t)(pki.NewCA("kubernetes", caV, pki.ECDSAP256))
	etcd := mustCA(t)(pki.NewCA("etcd-ca", caV, pki.ECDSAP256))
	foreign := mustCA(t)(pki.NewCA("Foreign Root CA", caV, pki.ECDSAP256))
	selfKP := mustCA(t)(pki.NewCA("esx-03.lab.local", caV, pki.ECDSAP256))
	year := now.Add(300 * 24 * time.Hour)

	anchors := Anchors{
		VMCARoots:     []*x509.Certificate{vmca.Cert},
		SupervisorCAs: []*x509.Certificate{sup.Cert},
		Clusters: []ClusterCA{
			{Namespace: "tkg-cluster-ns", Cluster: "tkg-cluster", Name: "ca", Cert: tkg.Cert},
			{Namespace: "tkg-cluster-ns", Cluster: "tkg-cluster", Name: "etcd-ca", Cert: etcd.Cert},
		},
	}
	noRoot := anchors
	noRoot.VMCARoots = nil

	for _, tc := range []struct {
		name      string
		chain     []*x509.Certificate
		anchors   Anchors
		domain    Domain
		method    Method
		valid     bool
		status    string // prefix
		caContain string
		cluster   string
	}{
		{"vmca leaf verified by the given root", []*x509.Certificate{leaf(t, vmca, "vcsa-01.lab.local", year)}, anchors,
			VMCA, ByVMCARoot, true, "valid", "CN=CA, DC=vsphere, DC=local, C=US, ST=California, O=vcsa-01.lab.local, OU=VMware Engineering", ""},
		{"vmca leaf with its root in the presented chain", []*x509.Certificate{leaf(t, vmca, "esx-01.lab.local", year), vmca.Cert}, anchors,
			VMCA, ByVMCARoot, true, "valid", "--vmca-root", ""},
		{"expired vmca leaf is still vmca, chain invalid", []*x509.Certificate{leaf(t, vmca, "esx-02.lab.local", now.Add(-time.Hour))}, anchors,
			VMCA, ByVMCARoot, false, "invalid: expired", "VMCA", ""},
		{"vmca leaf without a root: recognised by issuer", []*x509.Certificate{leaf(t, vmca, "vcsa-01.lab.local", year)}, noRoot,
			VMCA, ByVMCAIssuer, false, "unverified: no --vmca-root", "recognised by its issuer", ""},
		{"another vCenter's VMCA: recognised by issuer, invalid against the given root", []*x509.Certificate{leaf(t, otherVMCA, "vcsa-02", year)}, anchors,
			VMCA, ByVMCAIssuer, false, "invalid: not signed by the --vmca-root", "DC=corp, DC=example", ""},
		{"supervisor CA", []*x509.Certificate{leaf(t, sup, "supervisor", year)}, anchors,
			Kubernetes, BySupervisorCA, true, "valid", "Supervisor Kubernetes CA CN=kubernetes-supervisor", ""},
		{"tkg cluster CA", []*x509.Certificate{leaf(t, tkg, "kube-apiserver", year)}, anchors,
			Kubernetes, ByClusterCA, true, "valid", "TKG cluster tkg-cluster-ns/tkg-cluster ca", "tkg-cluster"},
		{"tkg etcd CA", []*x509.Certificate{leaf(t, etcd, "etcd", year)}, anchors,
			Kubernetes, ByClusterCA, true, "valid", "etcd-ca", "tkg-cluster"},
		{"foreign CA is other, not hidden", []*x509.Certificate{leaf(t, foreign, "esx-03.lab.local", year)}, anchors,
			Other, Unknown, false, "unverified", "unknown CA CN=Foreign Root CA", ""},
		{"self-signed is other", []*x509.Certificate{selfKP.Cert}, anchors,
			Other, Unknown, false, "unverified", "self-signed CN=esx-03.lab.local", ""},
		{"no certificate", nil, anchors, Other, Unknown, false, "invalid", "no certificate", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := Classify(tc.chain, tc.anchors, now)
			if r.Domain != tc.domain || r.Method != tc.method || r.ChainValid != tc.valid {
				t.Errorf("got %s/%s valid=%v (%s), want %s/%s valid=%v", r.Domain, r.Method, r.ChainValid, r.ChainStatus, tc.domain, tc.method, tc.valid)
			}
			if !strings.HasPrefix(r.ChainStatus, tc.status) {
				t.Errorf("chain status %q, want prefix %q", r.ChainStatus, tc.status)
			}
			if !strings.Contains(r.CA, tc.caContain) {
				t.Errorf("CA %q, want it to contain %q", r.CA, tc.caContain)
			}
			if r.Cluster != tc.cluster {
				t.Errorf("cluster %q, want %q", r.Cluster, tc.cluster)
			}
		})
	}
}

func mustCA(t *testing.T) func(*pki.KeyPair, error) *pki.KeyPair {
	return func(kp *pki.KeyPair, err error) *pki.KeyPair {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return kp
	}
}

func TestSignedByWalksIntermediates(t *testing.T) {
	caV := pki.Validity{NotBefore: now.Add(-time.Hour), NotAfter: now.Add(1000 * 24 * time.Hour)}
	root := mustCA(t)(pki.NewVMCARoot("vcsa-01.lab.local", "", caV, pki.ECDSAP256))
	inter := mustCA(t)(pki.NewSubordinateCA(root, "Issuing CA", caV, pki.ECDSAP256))
	l := leaf(t, inter, "esx-01.lab.local", now.Add(100*24*time.Hour))
	r := Classify([]*x509.Certificate{l, inter.Cert}, Anchors{VMCARoots: []*x509.Certificate{root.Cert}}, now)
	if r.Domain != VMCA || r.Method != ByVMCARoot || !r.ChainValid {
		t.Errorf("leaf <- intermediate <- VMCA root: got %+v", r)
	}
	// Without the intermediate the chain does not lead to the root.
	r = Classify([]*x509.Certificate{l}, Anchors{VMCARoots: []*x509.Certificate{root.Cert}}, now)
	if r.Method == ByVMCARoot {
		t.Errorf("a chain missing its intermediate was attributed to the root: %+v", r)
	}
}

func TestLooksLikeVMCA(t *testing.T) {
	root := mustCA(t)(pki.NewVMCARoot("vcsa-01.lab.local", "vsphere.local", pki.Validity{}, pki.ECDSAP256))
	for _, tc := range []struct {
		name string
		n    pkix.Name
		want bool
	}{
		{"VMCA root as generated", root.Cert.Subject, true},
		{"OU only", pkix.Name{CommonName: "CA", OrganizationalUnit: []string{"VMware Engineering"}}, true},
		{"CN=CA without VMCA's attributes", pkix.Name{CommonName: "CA", Organization: []string{"Acme"}}, false},
		{"kubernetes", pkix.Name{CommonName: "kubernetes"}, false},
		{"VMware Engineering but another CN", pkix.Name{CommonName: "Foreign", OrganizationalUnit: []string{"VMware Engineering"}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := LooksLikeVMCA(tc.n); got != tc.want {
				t.Errorf("LooksLikeVMCA(%s) = %v, want %v", tc.n, got, tc.want)
			}
		})
	}
	if got, want := Subject(root.Cert), "CN=CA, DC=vsphere, DC=local, C=US, ST=California, O=vcsa-01.lab.local, OU=VMware Engineering"; got != want {
		t.Errorf("VMCA root subject %q, want %q", got, want)
	}
}
