package inventory

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/supervisor"
	"github.com/tkgcert/tkgcert/internal/trust"
)

func walkReport(now time.Time) *Report {
	day := 24 * time.Hour
	kc, kl := cert("c-kubeconfig", 300*day, now), cert("kubelet-client", 5*day, now)
	kc.CAName, kl.CAName = "ca", "ca"
	ep := cert("kube-apiserver", 20*day, now)
	root := cert("vmca-root", 3000*day, now)
	root.IsCA = true
	return &Report{
		Supervisor: &supervisor.Report{
			VMCARoots: []certs.Info{root},
			Endpoints: []supervisor.Endpoint{
				{Name: "4210aa", Service: "kube-apiserver", Address: "10.0.0.10:6443", Certificate: &ep,
					Trust: &trust.Result{Domain: trust.Kubernetes, Method: trust.ByClusterCA, Namespace: "ns", Cluster: "c"}},
				{Name: "esx-10", Service: "esxi-https", Address: "10.0.0.30:443", Errors: []string{"refused"}},
			},
		},
		Clusters: []ClusterReport{{
			Namespace: "ns", Name: "c",
			CertificateAuthorities: []certs.Info{cert("ca", 3000*day, now)},
			KubeconfigCertificate:  &kc,
			Nodes: []NodeReport{{Name: "cp", Certificates: []certs.Info{cert("apiserver", 20*day, now), {Name: "super-admin.conf", Missing: true}},
				CertificateAuthorities: []certs.Info{cert("etcd-ca", -day, now)},
				Kubelet:                &KubeletReport{ClientCertificate: &kl}}},
		}},
	}
}

func TestAll(t *testing.T) {
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	var got []string
	for l := range walkReport(now).All() {
		got = append(got, fmt.Sprintf("%s/%s %q %s %s ca=%q present=%v", l.Namespace, l.Cluster, l.Node, l.Kind, l.CertificateLabel(), l.CALabel(), l.Certificate.Present()))
	}
	want := []string{
		`/ "vmca-root" vmca-root vmca-root ca="" present=true`,
		`/ "4210aa" endpoint kube-apiserver ca="tkg:ns/c" present=true`,
		`ns/c "" ca ca ca="" present=true`,
		`ns/c "" kubeconfig-secret c-kubeconfig ca="ca" present=true`,
		`ns/c "cp" certificate apiserver ca="" present=true`,
		`ns/c "cp" certificate super-admin.conf ca="" present=false`,
		`ns/c "cp" ca etcd-ca ca="" present=true`,
		`ns/c "cp" kubelet-client kubelet-client ca="ca" present=true`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("All (-want +got):\n%s", diff)
	}
	n := 0
	for range walkReport(now).All() {
		if n++; n == 3 {
			break // stopping early must not panic
		}
	}
}

func TestWalkUsers(t *testing.T) {
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	r := walkReport(now)
	cr := &r.Clusters[0]
	if name, at, ok := cr.EarliestLeaf(); !ok || name != "apiserver on cp" || !at.Equal(now.Add(20*24*time.Hour)) {
		t.Errorf("EarliestLeaf = %q, %s, %v; want apiserver on cp in 20 days", name, at, ok)
	}
	if diff := cmp.Diff([]string{"etcd-ca on cp"}, cr.Expired(now)); diff != "" {
		t.Errorf("Expired (-want +got):\n%s", diff)
	}
	v := Evaluate(r, 30*24*time.Hour, 7*24*time.Hour)
	if v.Summary() != "7 certificates: 1 expired, 1 critical, 2 warning; 1 errors" {
		t.Errorf("Summary = %q", v.Summary())
	}
	if f := v.Findings[0]; f.Certificate.Name != "etcd-ca" || f.Node != "cp" || f.Status != StatusExpired {
		t.Errorf("first finding %+v, want the expired etcd-ca on cp", f)
	}
}

// The report document keeps the fields `check -o json` has always had.
func TestNodeReportJSON(t *testing.T) {
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	n := walkReport(now).Clusters[0].Nodes[0]
	n.Certificates[0].Subject = "CN=kube-apiserver"
	n.Certificates[0].Location = certs.Location{Kind: certs.NodeFile, Node: "cp"}
	b, err := json.Marshal(n)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"name":"cp","address":"","role":"",` +
		`"certificates":[{"name":"apiserver","notAfter":"2026-12-17T00:00:00Z","residualSeconds":1728000,"missing":false,"subject":"CN=kube-apiserver"},` +
		`{"name":"super-admin.conf","residualSeconds":0,"missing":true}],` +
		`"certificateAuthorities":[{"name":"etcd-ca","notAfter":"2026-11-26T00:00:00Z","residualSeconds":-86400,"missing":false}],` +
		`"kubelet":{"rotateCertificates":null,"clientCertificate":{"name":"kubelet-client","caName":"ca","notAfter":"2026-12-02T00:00:00Z","residualSeconds":432000,"missing":false}}}`
	if diff := cmp.Diff(want, string(b)); diff != "" {
		t.Errorf("JSON (-want +got):\n%s", diff)
	}
	var back NodeReport
	if err := json.Unmarshal(b, &back); err != nil || !back.Certificates[0].NotAfter.Equal(n.Certificates[0].NotAfter) || !back.Certificates[1].Missing {
		t.Errorf("round trip: %+v, %v", back, err)
	}
	if got := back.Expiration(); len(got.Certificates) != 2 || got.Authorities[0].Name != "etcd-ca" || !strings.HasPrefix(got.Certificates[0].Name, "apiserver") {
		t.Errorf("Expiration() = %+v", got)
	}
}
