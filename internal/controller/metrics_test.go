package controller

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/inventory"
)

func TestMetricsFollowTheReport(t *testing.T) {
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
	m.SetCluster(cr, Decision{State: Expired, Earliest: t1}, now)

	// now is 1795766400 (2026-11-27T08:00:00Z): +100d, -1h, +3650d.
	want := `
# HELP tkgcert_certificate_expiry_timestamp_seconds NotAfter of each certificate, as Unix time. node is "supervisor" for the cluster's secrets; ca is the signing CA's name (empty for a CA). namespace and cluster are empty for the Supervisor's own endpoints and vCenter's (ca vmca, supervisor-ca, tkg:<namespace>/<cluster> or other).
# TYPE tkgcert_certificate_expiry_timestamp_seconds gauge
tkgcert_certificate_expiry_timestamp_seconds{ca="",certificate="ca",cluster="c",namespace="ns",node="supervisor"} 2.1111264e+09
tkgcert_certificate_expiry_timestamp_seconds{ca="ca",certificate="apiserver",cluster="c",namespace="ns",node="n-a"} 1.8044064e+09
tkgcert_certificate_expiry_timestamp_seconds{ca="ca",certificate="c-kubeconfig",cluster="c",namespace="ns",node="supervisor"} 1.7957628e+09
tkgcert_certificate_expiry_timestamp_seconds{ca="ca",certificate="kubelet-client",cluster="c",namespace="ns",node="n-a"} 1.8044064e+09
`
	if err := testutil.CollectAndCompare(m.CertificateExpiry, strings.NewReader(want)); err != nil {
		t.Error(err)
	}
	for _, tc := range []struct {
		c    prometheus.Collector
		want float64
	}{
		{m.EarliestExpiry.WithLabelValues("ns", "c"), float64(t1.Unix())},
		{m.ExpiredCerts.WithLabelValues("ns", "c"), 1},
		{m.CheckErrors.WithLabelValues("ns", "c"), 1},
		{m.ClusterState.WithLabelValues("ns", "c", "Expired"), 1},
		{m.ClusterState.WithLabelValues("ns", "c", "Healthy"), 0},
	} {
		if got := testutil.ToFloat64(tc.c); got != tc.want {
			t.Errorf("%v = %v, want %v", tc.c, got, tc.want)
		}
	}

	// A second pass replaces the cluster's series: the certificate that is
	// gone disappears; a cluster that is gone loses all of its series.
	cr.Nodes[0].Kubelet = nil
	cr.KubeconfigCertificate = nil
	m.SetCluster(cr, Decision{State: Healthy, Earliest: t1}, now)
	if n := testutil.CollectAndCount(m.CertificateExpiry); n != 2 {
		t.Errorf("%d certificate series after the second pass, want 2", n)
	}
	if got := testutil.ToFloat64(m.ExpiredCerts.WithLabelValues("ns", "c")); got != 0 {
		t.Errorf("expired certificates %v, want 0", got)
	}
	m.Forget(map[string]bool{"ns/other": true})
	for _, v := range []prometheus.Collector{m.CertificateExpiry, m.EarliestExpiry, m.ClusterState, m.CheckErrors, m.ExpiredCerts} {
		if n := testutil.CollectAndCount(v); n != 0 {
			t.Errorf("%d series left of a forgotten cluster", n)
		}
	}
}
