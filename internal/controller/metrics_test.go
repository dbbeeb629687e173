package controller

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/inventory"
	"github.com/tkgcert/tkgcert/internal/supervisor"
	"github.com/tkgcert/tkgcert/internal/trust"
)

func TestMetricsAreTheLatestInventory(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	t1, t2, t3 := now.Add(100*24*time.Hour), now.Add(-time.Hour), now.Add(3650*24*time.Hour)
	cr := &inventory.ClusterReport{Namespace: "ns", Name: "c",
		CertificateAuthorities: []certs.Info{{Name: "ca", NotAfter: t3}},
		KubeconfigCertificate:  &certs.Info{Name: "c-kubeconfig", CAName: "ca", NotAfter: t2},
		Nodes: []inventory.NodeReport{{Name: "n-a", Role: "control-plane",
			Certificates: []certs.Info{{Name: "apiserver", CAName: "ca", NotAfter: t1}, {Name: "super-admin.conf", Missing: true}},
			Kubelet:      &inventory.KubeletReport{ClientCertificate: &certs.Info{Name: "kubelet-client", CAName: "ca", NotAfter: t1}},
			Errors:       []string{"reading etcd/peer.crt: permission denied"}}}}
	inventoried := now.Add(-time.Minute)
	m.Set("ns", "c", cr, Decision{State: Expired, Earliest: t1}, inventoried, now)

	// now is 1795766400 (2026-11-27T08:00:00Z): +100d, -1h, +3650d.
	want := `
# HELP tkgcert_certificate_expiry_timestamp_seconds NotAfter of each certificate, as Unix time. node is "supervisor" for the cluster's secrets; ca is the signing CA's name (empty for a CA). namespace and cluster are empty for the Supervisor's own endpoints and vCenter's (ca vmca, supervisor-ca, tkg:<namespace>/<cluster> or other).
# TYPE tkgcert_certificate_expiry_timestamp_seconds gauge
tkgcert_certificate_expiry_timestamp_seconds{ca="",certificate="ca",cluster="c",namespace="ns",node="supervisor"} 2.1111264e+09
tkgcert_certificate_expiry_timestamp_seconds{ca="ca",certificate="apiserver",cluster="c",namespace="ns",node="n-a"} 1.8044064e+09
tkgcert_certificate_expiry_timestamp_seconds{ca="ca",certificate="c-kubeconfig",cluster="c",namespace="ns",node="supervisor"} 1.7957628e+09
tkgcert_certificate_expiry_timestamp_seconds{ca="ca",certificate="kubelet-client",cluster="c",namespace="ns",node="n-a"} 1.8044064e+09
# HELP tkgcert_cluster_check_errors Errors reading the cluster's certificates in its last inventory (namespace and cluster empty for the Supervisor side).
# TYPE tkgcert_cluster_check_errors gauge
tkgcert_cluster_check_errors{cluster="c",namespace="ns"} 1
# HELP tkgcert_cluster_earliest_expiry_timestamp_seconds NotAfter of the cluster's earliest-expiring leaf certificate on its nodes, as Unix time.
# TYPE tkgcert_cluster_earliest_expiry_timestamp_seconds gauge
tkgcert_cluster_earliest_expiry_timestamp_seconds{cluster="c",namespace="ns"} 1.8044064e+09
# HELP tkgcert_cluster_expired_certificates Certificates of the cluster that have expired (a rolling rotation cannot help: use tkgcert recover).
# TYPE tkgcert_cluster_expired_certificates gauge
tkgcert_cluster_expired_certificates{cluster="c",namespace="ns"} 1
# HELP tkgcert_cluster_last_inventory_timestamp_seconds When the cluster was last inventoried, as Unix time.
# TYPE tkgcert_cluster_last_inventory_timestamp_seconds gauge
tkgcert_cluster_last_inventory_timestamp_seconds{cluster="c",namespace="ns"} 1.79576634e+09
# HELP tkgcert_clusters Clusters in scope that the controller has reconciled.
# TYPE tkgcert_clusters gauge
tkgcert_clusters 1
# HELP tkgcert_last_successful_inventory_timestamp_seconds When the stalest cluster in scope was last inventoried, as Unix time: every cluster was inventoried since.
# TYPE tkgcert_last_successful_inventory_timestamp_seconds gauge
tkgcert_last_successful_inventory_timestamp_seconds 1.79576634e+09
`
	names := []string{"tkgcert_certificate_expiry_timestamp_seconds", "tkgcert_cluster_check_errors", "tkgcert_cluster_earliest_expiry_timestamp_seconds",
		"tkgcert_cluster_expired_certificates", "tkgcert_cluster_last_inventory_timestamp_seconds", "tkgcert_clusters", "tkgcert_last_successful_inventory_timestamp_seconds"}
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	if got := stateSeries(t, reg, "ns", "c"); got != "Expired" {
		t.Errorf("the state series say %q", got)
	}

	// A new inventory replaces the cluster's series: the certificates that
	// are gone disappear; a cluster forgotten loses all of its series.
	cr.Nodes[0].Kubelet = nil
	cr.KubeconfigCertificate = nil
	m.Set("ns", "c", cr, Decision{State: Healthy, Earliest: t1}, now, now)
	if n, err := testutil.GatherAndCount(reg, "tkgcert_certificate_expiry_timestamp_seconds"); err != nil || n != 2 {
		t.Errorf("%d certificate series after the second inventory (%v), want 2", n, err)
	}
	if got := stateSeries(t, reg, "ns", "c"); got != "Healthy" {
		t.Errorf("the state series say %q", got)
	}
	m.Forget("ns/c")
	if n, err := testutil.GatherAndCount(reg, names...); err != nil || n != 1 { // tkgcert_clusters 0
		t.Errorf("%d series left of a forgotten cluster (%v)", n, err)
	}
}

// stateSeries returns the one state whose series is 1, after checking that
// every state has a series.
func stateSeries(t *testing.T, reg *prometheus.Registry, ns, name string) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var one []string
	n := 0
	for _, mf := range mfs {
		if mf.GetName() != "tkgcert_cluster_state" {
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["namespace"] != ns || labels["cluster"] != name {
				continue
			}
			n++
			if m.GetGauge().GetValue() == 1 {
				one = append(one, labels["state"])
			}
		}
	}
	if n != len(States) || len(one) != 1 {
		t.Fatalf("%d state series, %v at 1; want %d and one", n, one, len(States))
	}
	return one[0]
}

func TestSupervisorSeriesShareTheCertificateMetric(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	rep := &inventory.Report{Supervisor: &supervisor.Report{Endpoints: []supervisor.Endpoint{
		{Name: "vc.example.com", Role: supervisor.RoleVCenter, Address: "vc.example.com:443", Service: "vcenter-https",
			Certificate: &certs.Info{Name: "vcenter-https", NotAfter: now}, Trust: &trust.Result{Domain: trust.VMCA, Method: trust.ByVMCARoot}},
		{Name: "esx-1", Role: supervisor.RoleESXi, Address: "10.0.0.9:443", Service: "esxi-https", Errors: []string{"refused"}},
	}}}
	m.SetSupervisor(rep, 2)
	want := `
# HELP tkgcert_cluster_check_errors Errors reading the cluster's certificates in its last inventory (namespace and cluster empty for the Supervisor side).
# TYPE tkgcert_cluster_check_errors gauge
tkgcert_cluster_check_errors{cluster="",namespace=""} 2
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "tkgcert_cluster_check_errors"); err != nil {
		t.Error(err)
	}
	if v := testutil.ToFloat64(m.CheckErrorsTotal.WithLabelValues("", "")); v != 2 {
		t.Errorf("check errors total %v", v)
	}
	want = `
# HELP tkgcert_certificate_expiry_timestamp_seconds NotAfter of each certificate, as Unix time. node is "supervisor" for the cluster's secrets; ca is the signing CA's name (empty for a CA). namespace and cluster are empty for the Supervisor's own endpoints and vCenter's (ca vmca, supervisor-ca, tkg:<namespace>/<cluster> or other).
# TYPE tkgcert_certificate_expiry_timestamp_seconds gauge
tkgcert_certificate_expiry_timestamp_seconds{ca="vmca",certificate="vcenter-https",cluster="",namespace="",node="vc.example.com"} 1.7957664e+09
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "tkgcert_certificate_expiry_timestamp_seconds"); err != nil {
		t.Error(err)
	}
}

// A cluster's counters are exported from 0 on, so that increase() over them
// sees the first rotation or error; they go with the cluster.
func TestCountersStartAtZero(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	counters := []string{"tkgcert_check_errors_total", "tkgcert_rotations_started_total", "tkgcert_rotations_succeeded_total", "tkgcert_rotations_failed_total"}
	m.Set("ns", "c", nil, Decision{State: Unknown}, time.Time{}, now)
	for _, name := range counters {
		if n, err := testutil.GatherAndCount(reg, name); err != nil || n != 1 {
			t.Errorf("%d %s series for a new cluster (%v), want 1", n, name, err)
		}
	}
	m.RotationsFailed.WithLabelValues("ns", "c").Inc()
	if v := testutil.ToFloat64(m.RotationsFailed.WithLabelValues("ns", "c")); v != 1 {
		t.Errorf("tkgcert_rotations_failed_total is %v after one failure", v)
	}
	m.Forget("ns/c")
	if n, err := testutil.GatherAndCount(reg, counters...); err != nil || n != 0 {
		t.Errorf("%d counter series left of a forgotten cluster (%v)", n, err)
	}
}
