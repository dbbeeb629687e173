package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/inventory"
	"github.com/tkgcert/tkgcert/internal/supervisor"
	"github.com/tkgcert/tkgcert/internal/trust"
)

func TestParseFormat(t *testing.T) {
	for in, want := range map[string]Format{"": Table, "table": Table, "json": JSON, "yaml": YAML} {
		if got, err := ParseFormat(in); err != nil || got != want {
			t.Errorf("ParseFormat(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseFormat("wide"); err == nil {
		t.Error("ParseFormat(wide) accepted")
	}
}

func TestCheckTable(t *testing.T) {
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	soon := now.Add(20 * 24 * time.Hour)
	ca := now.Add(9 * 365 * 24 * time.Hour)
	info := func(name, caName string, at time.Time) certs.Info {
		return certs.Info{Name: name, CAName: caName, IsCA: caName == "", NotAfter: at, ResidualSeconds: int64(at.Sub(now) / time.Second)}
	}
	rep := &inventory.Report{Clusters: []inventory.ClusterReport{{
		Namespace: "ns", Name: "c", ClusterAPIVersion: "v1beta1", Phase: "Provisioned",
		CertificateAuthorities: []certs.Info{info("ca", "", ca)},
		Nodes: []inventory.NodeReport{
			{Name: "cp", Address: "10.0.0.1", Role: "control-plane",
				Certificates:           []certs.Info{info("apiserver", "ca", soon), {Name: "super-admin.conf", Missing: true}},
				CertificateAuthorities: []certs.Info{info("ca", "", ca)},
			},
			{Name: "w", Address: "10.0.0.2", Role: "worker", Errors: []string{"node w: ssh to 10.0.0.2:22: connection refused"},
				CertificateAuthorities: []certs.Info{info("ca", "", ca)}},
		},
	}}}
	v := inventory.Evaluate(rep, 30*24*time.Hour, 7*24*time.Hour)
	var b bytes.Buffer
	if err := CheckTable(&b, rep, v, now, Style{}); err != nil {
		t.Fatal(err)
	}
	// The node's tables are kubeadm v1.36's, blanks at line ends included.
	want := "=== Cluster ns/c (Cluster API v1beta1, phase Provisioned)\n" +
		"\n" +
		"SUPERVISOR SECRET   CERTIFICATE   EXPIRES                  RESIDUAL TIME\n" +
		"c-ca                ca            Nov 25, 2035 00:00 UTC   9y\n" +
		"\n" +
		"--- Node cp (10.0.0.1, control-plane)\n" +
		"\n" +
		"CERTIFICATE                  EXPIRES                  RESIDUAL TIME   CERTIFICATE AUTHORITY   EXTERNALLY MANAGED\n" +
		"apiserver                    Dec 17, 2026 00:00 UTC   20d             ca                      no      \n" +
		"!MISSING! super-admin.conf" + strings.Repeat(" ", 3+25+16+24) + "\n" +
		"\n" +
		"CERTIFICATE AUTHORITY   EXPIRES                  RESIDUAL TIME   EXTERNALLY MANAGED\n" +
		"ca                      Nov 25, 2035 00:00 UTC   9y              no      \n" +
		"\n" +
		"--- Node w (10.0.0.2, worker)\n" +
		"\n" +
		"ca certificate (/etc/kubernetes/pki/ca.crt) expires Nov 25, 2035 00:00 UTC (9y)\n" +
		"error: node w: ssh to 10.0.0.2:22: connection refused\n" +
		"\n" +
		"NAMESPACE   CLUSTER   EARLIEST EXPIRY          RESIDUAL TIME   CERTIFICATE   WHERE     STATUS\n" +
		"ns          c         Dec 17, 2026 00:00 UTC   20d             apiserver     cp        WARNING\n" +
		"\n" +
		"4 certificates: 0 expired, 0 critical, 1 warning; 1 errors\n"
	if diff := cmp.Diff(want, b.String()); diff != "" {
		t.Errorf("CheckTable (-want +got):\n%s", diff)
	}
	b.Reset()
	_ = Summary(&b, v, Style{Color: true})
	if !strings.Contains(b.String(), "\x1b[33mWARNING\x1b[0m") {
		t.Errorf("no colour on a terminal:\n%s", b.String())
	}
}

func hasRow(out string, fields []string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.Join(strings.Fields(l), " ") == strings.Join(fields, " ") {
			return true
		}
	}
	return false
}

func TestSupervisorTable(t *testing.T) {
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	at := func(d time.Duration) certs.Info {
		return certs.Info{Name: "kube-apiserver", NotAfter: now.Add(d), ResidualSeconds: int64(d / time.Second)}
	}
	soon, later, tkgSoon := at(20*24*time.Hour), at(600*24*time.Hour), at(3*24*time.Hour)
	rep := &inventory.Report{Supervisor: &supervisor.Report{Server: "https://10.0.0.5:6443", Endpoints: []supervisor.Endpoint{
		{Name: "vcsa", Role: supervisor.RoleVCenter, Address: "10.0.0.2:443", Service: "vcenter-https", Certificate: &later,
			IPAddresses: []string{"10.0.0.2"}, Trust: &trust.Result{Domain: trust.VMCA, Method: trust.ByVMCAIssuer, ChainStatus: "unverified: no --vmca-root given"}},
		{Name: "4210aa", Role: supervisor.RoleSupervisorControlPlane, Address: "10.0.0.10:6443", Service: "kube-apiserver", Certificate: &soon,
			DNSNames: []string{"a", "b", "c", "d"}, Trust: &trust.Result{Domain: trust.VMCA, Method: trust.ByVMCARoot, ChainValid: true, ChainStatus: "valid"},
			Rotation: "a Supervisor certificate signed by VMCA: WCP Cert Manager"},
		{Name: "esx-02", Role: supervisor.RoleESXi, Address: "10.0.0.21:443", Service: "esxi-https", Certificate: &later,
			Trust: &trust.Result{Domain: trust.Other, Method: trust.Unknown, CA: "unknown CA CN=Foreign", ChainStatus: "unverified: outside"}},
		{Name: "10.1.0.1:6443", Role: supervisor.RoleEndpoint, Address: "10.1.0.1:6443", Service: "tls", Certificate: &tkgSoon,
			Trust:    &trust.Result{Domain: trust.Kubernetes, Method: trust.ByClusterCA, Namespace: "ns", Cluster: "c", CA: "TKG cluster ns/c ca", ChainValid: true, ChainStatus: "valid"},
			Rotation: "a TKG cluster's certificate: tkgcert rotate -n ns c"},
		{Name: "esx-03", Role: supervisor.RoleESXi, Address: "10.0.0.22:443", Service: "esxi-https", Errors: []string{"esxi esx-03 (10.0.0.22:443): connection refused"}},
	}}}
	v := inventory.Evaluate(rep, 30*24*time.Hour, 7*24*time.Hour)
	var b bytes.Buffer
	if err := SupervisorTable(&b, rep, v, now, Style{}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{
		"=== Supervisor and vCenter trust domain (Supervisor API https://10.0.0.5:6443)",
		"NAME            ROLE                       ENDPOINT         CERTIFICATE      EXPIRES                  RESIDUAL TIME   TRUST DOMAIN   ISSUER/CA                        CHAIN        SANS       STATUS\n" +
			"vcsa            vcenter                    10.0.0.2:443     vcenter-https    Jul 19, 2028 00:00 UTC   600d            vmca           VMCA (by issuer name)            unverified   10.0.0.2   OK\n" +
			"4210aa          supervisor-control-plane   10.0.0.10:6443   kube-apiserver   Dec 17, 2026 00:00 UTC   20d             vmca           VMCA (verified by --vmca-root)   valid        a,b,c,+1   WARNING\n" +
			"esx-02          esxi                       10.0.0.21:443    esxi-https       Jul 19, 2028 00:00 UTC   600d            other          unknown CA CN=Foreign            unverified   -          OK\n" +
			"10.1.0.1:6443   endpoint                   10.1.0.1:6443    tls              Nov 30, 2026 00:00 UTC   3d              kubernetes     TKG ns/c ca                      valid        -          CRITICAL\n" +
			"esx-03          esxi                       10.0.0.22:443    esxi-https       -                        -               -              -                                -            -          ERROR\n",
		"TKG ns/c ca",
		"error: esxi esx-03 (10.0.0.22:443): connection refused",
		"Not issued as expected:\n  esx-02 esxi-https (10.0.0.21:443) is outside both trust domains: unknown CA CN=Foreign\n",
		"To renew (soonest first):\n  10.1.0.1:6443 tls (10.1.0.1:6443, CRITICAL, 3d): a TKG cluster's certificate: tkgcert rotate -n ns c\n  4210aa kube-apiserver (10.0.0.10:6443, WARNING, 20d): a Supervisor certificate signed by VMCA: WCP Cert Manager\n",
		"4 certificates: 0 expired, 1 critical, 1 warning; 1 errors",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}

	// The same report as a page: the endpoints as rows of the Supervisor
	// section, the unread one an error, one card for the section.
	b.Reset()
	if err := HTML(&b, rep, v, HTMLOptions{Command: "supervisor check", Warn: 30 * 24 * time.Hour, Critical: 7 * 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, m := range rowRE.FindAllStringSubmatch(b.String(), -1) {
		rows = append(rows, strings.Join(m[1:], "|"))
	}
	want := []string{
		"status-ok|||Supervisor and vCenter|vcsa|vcenter-https|VMCA (by issuer name)|OK",
		"status-warning|||Supervisor and vCenter|4210aa|kube-apiserver|VMCA (verified by --vmca-root)|WARNING",
		"status-ok|||Supervisor and vCenter|esx-02|esxi-https|unknown CA CN=Foreign|OK",
		"status-critical|||Supervisor and vCenter|10.1.0.1:6443|tls|TKG ns/c ca|CRITICAL",
		"status-error|||Supervisor and vCenter|esx-03|esxi-https|-|ERROR",
	}
	if d := cmp.Diff(want, rows); d != "" {
		t.Errorf("page rows (-want +got):\n%s", d)
	}
	if !strings.Contains(b.String(), `<li class="card status-critical" data-cluster="Supervisor and vCenter" data-status="CRITICAL">`) {
		t.Error("the page has no card for the Supervisor section")
	}
}
