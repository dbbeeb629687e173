package report

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/inventory"
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
	e := &certs.Expiration{
		Certificates: []certs.Certificate{{Name: "apiserver", CAName: "ca", NotAfter: soon}},
		Authorities:  []certs.Authority{{Name: "ca", NotAfter: ca}},
	}
	rep := &inventory.Report{Clusters: []inventory.ClusterReport{{
		Namespace: "ns", Name: "c", ClusterAPIVersion: "v1beta1", Phase: "Provisioned",
		CertificateAuthorities: []inventory.Certificate{{Name: "ca", NotAfter: &ca, ResidualSeconds: int64(ca.Sub(now) / time.Second)}},
		Nodes: []inventory.NodeReport{
			{Name: "cp", Address: "10.0.0.1", Role: "control-plane", Expiration: e,
				Certificates: []inventory.Certificate{{Name: "apiserver", CAName: "ca", NotAfter: &soon, ResidualSeconds: int64(soon.Sub(now) / time.Second)}}},
			{Name: "w", Address: "10.0.0.2", Role: "worker", Errors: []string{"node w: ssh to 10.0.0.2:22: connection refused"},
				CertificateAuthorities: []inventory.Certificate{{Name: "ca", NotAfter: &ca, ResidualSeconds: int64(ca.Sub(now) / time.Second)}}},
		},
	}}}
	v := inventory.Evaluate(rep, 30*24*time.Hour, 7*24*time.Hour)
	var b bytes.Buffer
	if err := CheckTable(&b, rep, v, now, Style{}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	var kubeadm bytes.Buffer
	if err := certs.WriteText(&kubeadm, e, now); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"=== Cluster ns/c (Cluster API v1beta1, phase Provisioned)",
		kubeadm.String(), // kubeadm's own tables, verbatim
		"--- Node w (10.0.0.2, worker)",
		"ca certificate (/etc/kubernetes/pki/ca.crt) expires",
		"error: node w: ssh to 10.0.0.2:22: connection refused",
		"3 certificates: 0 expired, 0 critical, 1 warning; 1 errors",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, row := range [][]string{
		{"c-ca", "ca", "Nov", "25,", "2035", "00:00", "UTC", "9y"},
		{"ns", "c", "Dec", "17,", "2026", "00:00", "UTC", "20d", "apiserver", "cp", "WARNING"},
	} {
		if !hasRow(out, row) {
			t.Errorf("no row %v in:\n%s", row, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("colour without a terminal")
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
