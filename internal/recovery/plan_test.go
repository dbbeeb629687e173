package recovery

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/inventory"
)

func cert(name string, notAfter time.Time) certs.Info {
	return certs.Info{Name: name, NotAfter: notAfter, SerialNumber: "1"}
}

func ca(name, serial string, notAfter time.Time) certs.Info {
	c := cert(name, notAfter)
	c.SerialNumber = serial
	return c
}

// report is a cluster with two control-plane nodes and a worker; ends sets
// each node's leaf expiry, kubelet its kubelet client certificate's.
func report(cp1, cp2, kubelet1, kubelet2, worker, secret time.Time) *inventory.ClusterReport {
	caEnd := now.Add(8 * 365 * 24 * time.Hour)
	cas := []certs.Info{ca("ca", "10", caEnd), ca("etcd-ca", "11", caEnd), ca("front-proxy-ca", "12", caEnd)}
	kc := cert("c-kubeconfig", secret)
	node := func(name, role string, leaves, kubelet time.Time) inventory.NodeReport {
		n := inventory.NodeReport{Name: name, Address: "10.0.0." + name[len(name)-1:], Role: role, CertificateAuthorities: cas[:1],
			Kubelet: &inventory.KubeletReport{ClientCertificate: &certs.Info{Name: "kubelet-client", NotAfter: kubelet}}}
		if role == "control-plane" {
			n.CertificateAuthorities = cas
			for _, c := range []string{"admin.conf", "apiserver", "etcd-server"} {
				n.Certificates = append(n.Certificates, cert(c, leaves))
			}
			n.Certificates = append(n.Certificates, certs.Info{Name: "super-admin.conf", Missing: true})
		}
		return n
	}
	return &inventory.ClusterReport{Namespace: "ns", Name: "c", CertificateAuthorities: cas, KubeconfigCertificate: &kc,
		Nodes: []inventory.NodeReport{
			node("w-3", "worker", time.Time{}, worker),
			node("cp-2", "control-plane", cp2, kubelet2),
			node("cp-1", "control-plane", cp1, kubelet1),
		}}
}

func TestBuildPlan(t *testing.T) {
	past, future := now.Add(-time.Hour), now.Add(200*24*time.Hour)
	t.Run("everything expired", func(t *testing.T) {
		p := BuildPlan(report(past, past, past, past, past, past), now)
		if len(p.Problems) > 0 || !p.RefreshSecret || p.Empty() {
			t.Fatalf("plan %+v", p)
		}
		var order []string
		for _, n := range p.Nodes {
			order = append(order, n.Name)
			if !n.RenewKubelet || n.RenewPKI != n.ControlPlane() {
				t.Errorf("node %s: %+v", n.Name, n)
			}
		}
		if !slices.Equal(order, []string{"cp-1", "cp-2", "w-3"}) {
			t.Errorf("order %v: control plane first, by name", order)
		}
		if want := []string{"admin.conf", "apiserver", "etcd-server", "kubelet-client"}; !slices.Equal(p.Nodes[0].Expired, want) {
			t.Errorf("expired %v, want %v (a missing file is not expired)", p.Nodes[0].Expired, want)
		}
	})
	t.Run("only what expired is planned", func(t *testing.T) {
		p := BuildPlan(report(past, future, future, past, future, future), now)
		if p.RefreshSecret || len(p.Problems) > 0 {
			t.Fatalf("plan %+v", p)
		}
		want := map[string][2]bool{"cp-1": {true, false}, "cp-2": {false, true}, "w-3": {false, false}}
		for _, n := range p.Nodes {
			if got := [2]bool{n.RenewPKI, n.RenewKubelet}; got != want[n.Name] {
				t.Errorf("%s: pki, kubelet = %v, want %v", n.Name, got, want[n.Name])
			}
		}
		if p.Nodes[2].Touched() || p.Nodes[2].Action() != "none" {
			t.Errorf("worker: %+v", p.Nodes[2])
		}
	})
	t.Run("nothing expired", func(t *testing.T) {
		if p := BuildPlan(report(future, future, future, future, future, future), now); !p.Empty() {
			t.Errorf("plan %+v", p)
		}
	})
	t.Run("problems keep it from starting", func(t *testing.T) {
		cr := report(past, past, past, past, past, past)
		cr.CertificateAuthorities[1].NotAfter = past
		cr.Nodes[1].Errors = []string{"dial tcp: connection refused"}
		cr.Nodes[2].CertificateAuthorities = []certs.Info{ca("ca", "99", future)}
		p := BuildPlan(cr, now)
		all := strings.Join(p.Problems, "\n")
		for _, want := range []string{"CA etcd-ca expired", "node cp-2 could not be read", "node cp-1: CA ca is not the one in the Supervisor's secrets"} {
			if !strings.Contains(all, want) {
				t.Errorf("problems lack %q:\n%s", want, all)
			}
		}
	})
}

func TestWritePlan(t *testing.T) {
	past := now.Add(-time.Hour)
	var b bytes.Buffer
	if err := WritePlan(&b, BuildPlan(report(past, past, past, past, past, past), now)); err != nil {
		t.Fatal(err)
	}
	// Columns are aligned by tabwriter; compare words.
	var norm []string
	for _, l := range strings.Split(b.String(), "\n") {
		norm = append(norm, strings.Join(strings.Fields(l), " "))
	}
	out := strings.Join(norm, "\n")
	for _, want := range []string{
		"\nNODE ROLE EXPIRED ACTION\n",
		"\ncp-1 control-plane admin.conf, apiserver, etcd-server, kubelet-client back up; renew leaf certificates and kubeconfigs, restart static pods; renew kubelet client certificate\n",
		"\nw-3 worker kubelet-client back up; renew kubelet client certificate\n",
		"refresh the client certificate of secret ns/c-kubeconfig",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("plan lacks %q:\n%s", want, out)
		}
	}
}

func TestVerify(t *testing.T) {
	past, year := now.Add(-time.Hour), now.Add(365*24*time.Hour)
	before := report(past, past, past, past, past, past)
	res := &Result{Nodes: []NodeResult{
		{Name: "cp-1", Status: "recovered", Renewed: []string{"admin.conf", "apiserver", "etcd-server", "kubelet-client"}},
		{Name: "cp-2", Status: "recovered", Renewed: []string{"admin.conf", "apiserver", "etcd-server", "kubelet-client"}},
		{Name: "w-3", Status: "recovered", Renewed: []string{"kubelet-client"}},
	}}
	t.Run("recovered", func(t *testing.T) {
		v := Verify(before, report(year, year, year, year, year, year), res, now)
		if !v.OK() {
			t.Fatalf("problems: %v", v.Problems)
		}
		var names []string
		for _, r := range v.Rows {
			names = append(names, r.Certificate)
			if !r.Later || !r.After.Equal(year) {
				t.Errorf("row %+v", r)
			}
		}
		if want := []string{"admin.conf", "apiserver", "c-kubeconfig", "etcd-server", "kubelet-client"}; !slices.Equal(names, want) {
			t.Errorf("rows %v, want %v", names, want)
		}
	})
	t.Run("failures are named", func(t *testing.T) {
		after := report(year, past, year, year, past, past)
		after.Nodes[1].Certificates[0].NotAfter = now.Add(30 * 24 * time.Hour) // cp-2 admin.conf: renewed for a month only
		after.CertificateAuthorities[0].SerialNumber = "77"
		after.Nodes[2].CertificateAuthorities = []certs.Info{ca("ca", "78", year)}
		v := Verify(before, after, res, now)
		all := strings.Join(v.Problems, "\n")
		for _, want := range []string{
			"CA ca on Supervisor changed",
			"CA ca on cp-1 changed",
			"apiserver on node cp-2 is still expired",
			"admin.conf on node cp-2 was renewed but expires",
			"kubelet-client on node w-3 is still expired",
			"the client certificate of secret c-kubeconfig is still expired",
		} {
			if !strings.Contains(all, want) {
				t.Errorf("problems lack %q:\n%s", want, all)
			}
		}
	})
}

func ptr[T any](v T) *T { return &v }

func TestRunRefusesBeforeTouchingAnything(t *testing.T) {
	past := now.Add(-time.Hour)
	p := BuildPlan(report(past, past, past, past, past, past), now)
	// Neither a Supervisor client nor a dialer: nothing may be reached.
	if _, err := Run(context.Background(), Options{Fault: Fault{Node: "cp-9", Step: StepAPIServer}}, p); err == nil || !strings.Contains(err.Error(), "name a node of the plan") {
		t.Errorf("fault on an unknown node: %v", err)
	}
	p.Problems = []string{"node cp-2 could not be read: timeout"}
	if _, err := Run(context.Background(), Options{}, p); err == nil || !strings.Contains(err.Error(), "nothing was changed:\n  - node cp-2 could not be read") {
		t.Errorf("plan with problems: %v", err)
	}
}
