package controller

import (
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tkgcert/tkgcert/internal/inventory"
)

// SupervisorNode is the node label of certificates kept on the Supervisor
// (the cluster's CA secrets and the kubeconfig secret's client certificate).
const SupervisorNode = "supervisor"

// Metrics are the controller's Prometheus metrics. Only the leader exports
// certificate and cluster series; every replica exports the process's own.
type Metrics struct {
	CertificateExpiry *prometheus.GaugeVec
	EarliestExpiry    *prometheus.GaugeVec
	ExpiredCerts      *prometheus.GaugeVec
	ClusterState      *prometheus.GaugeVec
	CheckErrors       *prometheus.GaugeVec
	CheckErrorsTotal  *prometheus.CounterVec
	RotationsStarted  *prometheus.CounterVec
	RotationsOK       *prometheus.CounterVec
	RotationsFailed   *prometheus.CounterVec
	LastInventory     prometheus.Gauge
	InventoryDuration prometheus.Gauge
	Clusters          prometheus.Gauge

	mu    sync.Mutex
	known map[string]bool // namespace/name of clusters with series
}

var clusterLabels = []string{"namespace", "cluster"}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		CertificateExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tkgcert_certificate_expiry_timestamp_seconds",
			Help: "NotAfter of each certificate, as Unix time. node is \"supervisor\" for the cluster's secrets; ca is the signing CA's name (empty for a CA). namespace and cluster are empty for the Supervisor's own endpoints and vCenter's (ca vmca, supervisor-ca, tkg:<namespace>/<cluster> or other)."},
			[]string{"namespace", "cluster", "node", "certificate", "ca"}),
		EarliestExpiry: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tkgcert_cluster_earliest_expiry_timestamp_seconds",
			Help: "NotAfter of the cluster's earliest-expiring leaf certificate on its nodes, as Unix time."}, clusterLabels),
		ExpiredCerts: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tkgcert_cluster_expired_certificates",
			Help: "Certificates of the cluster that have expired (a rolling rotation cannot help: use tkgcert recover)."}, clusterLabels),
		ClusterState: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tkgcert_cluster_state",
			Help: "1 for the cluster's current state (Healthy, RotationDue, WaitingForWindow, Rotating, RotationBlocked, Expired, RotatedRecently, OptedOut, Unknown), 0 for the others."},
			[]string{"namespace", "cluster", "state"}),
		CheckErrors: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "tkgcert_cluster_check_errors",
			Help: "Errors reading the cluster's certificates in the last inventory."}, clusterLabels),
		CheckErrorsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tkgcert_check_errors_total",
			Help: "Errors reading certificates, per cluster (namespace and cluster empty for a failed inventory)."}, clusterLabels),
		RotationsStarted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tkgcert_rotations_started_total",
			Help: "Control-plane rollouts the controller triggered."}, clusterLabels),
		RotationsOK: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tkgcert_rotations_succeeded_total",
			Help: "Rollouts followed to completion and verified."}, clusterLabels),
		RotationsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tkgcert_rotations_failed_total",
			Help: "Rollouts the controller followed that timed out or failed verification."}, clusterLabels),
		LastInventory: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tkgcert_last_successful_inventory_timestamp_seconds",
			Help: "When the last full inventory pass completed, as Unix time."}),
		InventoryDuration: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tkgcert_inventory_duration_seconds",
			Help: "How long the last full inventory pass took."}),
		Clusters: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tkgcert_clusters",
			Help: "Clusters in scope in the last inventory."}),
		known: map[string]bool{},
	}
	reg.MustRegister(m.CertificateExpiry, m.EarliestExpiry, m.ExpiredCerts, m.ClusterState, m.CheckErrors, m.CheckErrorsTotal,
		m.RotationsStarted, m.RotationsOK, m.RotationsFailed, m.LastInventory, m.InventoryDuration, m.Clusters)
	return m
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// errorCount counts a cluster report's errors, its nodes' included.
func errorCount(cr *inventory.ClusterReport) int {
	n := len(cr.Errors)
	for _, node := range cr.Nodes {
		n += len(node.Errors)
	}
	return n
}

// SetCluster replaces the cluster's series with what cr and d say.
func (m *Metrics) SetCluster(cr *inventory.ClusterReport, d Decision, now time.Time) {
	ns, name := cr.Namespace, cr.Name
	m.mu.Lock()
	m.known[ns+"/"+name] = true
	m.mu.Unlock()
	m.CertificateExpiry.DeletePartialMatch(prometheus.Labels{"namespace": ns, "cluster": name})
	for l := range cr.All() {
		node := l.Node
		if node == "" {
			node = SupervisorNode
		}
		if l.Certificate.Present() {
			m.CertificateExpiry.WithLabelValues(ns, name, node, l.CertificateLabel(), l.CALabel()).Set(unix(l.Certificate.NotAfter))
		}
	}
	if d.Earliest.IsZero() {
		m.EarliestExpiry.DeleteLabelValues(ns, name)
	} else {
		m.EarliestExpiry.WithLabelValues(ns, name).Set(unix(d.Earliest))
	}
	m.ExpiredCerts.WithLabelValues(ns, name).Set(float64(len(cr.Expired(now))))
	m.SetState(ns, name, d.State)
	errs := errorCount(cr)
	m.CheckErrors.WithLabelValues(ns, name).Set(float64(errs))
	m.CheckErrorsTotal.WithLabelValues(ns, name).Add(float64(errs))
}

// SetState sets the cluster's tkgcert_cluster_state series.
func (m *Metrics) SetState(ns, name string, s State) {
	for _, st := range States {
		v := 0.0
		if st == s {
			v = 1
		}
		m.ClusterState.WithLabelValues(ns, name, string(st)).Set(v)
	}
}

// Forget removes the series of clusters that are no longer in scope (after a
// full pass that saw only keep).
func (m *Metrics) Forget(keep map[string]bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for key := range m.known {
		if keep[key] {
			continue
		}
		delete(m.known, key)
		ns, name, _ := strings.Cut(key, "/")
		l := prometheus.Labels{"namespace": ns, "cluster": name}
		for _, v := range []*prometheus.GaugeVec{m.CertificateExpiry, m.EarliestExpiry, m.ExpiredCerts, m.ClusterState, m.CheckErrors} {
			v.DeletePartialMatch(l)
		}
	}
}

// SetSupervisor replaces the Supervisor side's series (namespace and
// cluster empty; node is the Node, vCenter host or address; ca is vmca,
// supervisor-ca, tkg:<namespace>/<cluster> or other).
func (m *Metrics) SetSupervisor(rep *inventory.Report, errs int) {
	m.CertificateExpiry.DeletePartialMatch(prometheus.Labels{"namespace": "", "cluster": ""})
	for l := range rep.All() {
		if l.Endpoint == nil || l.Endpoint.Trust == nil || !l.Certificate.Present() {
			continue
		}
		m.CertificateExpiry.WithLabelValues("", "", l.Node, l.CertificateLabel(), l.CALabel()).Set(unix(l.Certificate.NotAfter))
	}
	m.CheckErrors.WithLabelValues("", "").Set(float64(errs))
	m.CheckErrorsTotal.WithLabelValues("", "").Add(float64(errs))
}
