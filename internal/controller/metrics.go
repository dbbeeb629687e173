package controller

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tkgcert/tkgcert/internal/inventory"
)

// SupervisorNode is the node label of certificates kept on the Supervisor
// (the cluster's CA secrets and the kubeconfig secret's client certificate).
const SupervisorNode = "supervisor"

// Metrics are the controller's Prometheus metrics. The certificate and
// cluster series are collected from the latest inventory of each cluster
// (a cluster that is gone is simply no longer there); the counters count
// what happened. Only the leader has inventories to export.
type Metrics struct {
	CheckErrorsTotal  *prometheus.CounterVec
	RotationsStarted  *prometheus.CounterVec
	RotationsOK       *prometheus.CounterVec
	RotationsFailed   *prometheus.CounterVec
	InventoryDuration prometheus.Gauge
	// RotationsSuspended is 1 while the circuit breaker stops new rotations.
	RotationsSuspended prometheus.Gauge

	store *store
}

var clusterLabels = []string{"namespace", "cluster"}

// NewMetrics creates the metrics and registers them with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		CheckErrorsTotal: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tkgcert_check_errors_total",
			Help: "Errors reading certificates, per cluster (namespace and cluster empty for the Supervisor side)."}, clusterLabels),
		RotationsStarted: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tkgcert_rotations_started_total",
			Help: "Control-plane rollouts the controller triggered."}, clusterLabels),
		RotationsOK: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tkgcert_rotations_succeeded_total",
			Help: "Rollouts followed to completion and verified."}, clusterLabels),
		RotationsFailed: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tkgcert_rotations_failed_total",
			Help: "Rollouts the controller followed that timed out or failed verification."}, clusterLabels),
		InventoryDuration: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tkgcert_inventory_duration_seconds",
			Help: "How long the controller took, once leading, to inventory every cluster in scope once."}),
		RotationsSuspended: prometheus.NewGauge(prometheus.GaugeOpts{Name: "tkgcert_rotations_suspended",
			Help: "1 while new rotations are suspended because too many failed within the window (--max-failed-rotations, --failed-rotations-window)."}),
		store: newStore(),
	}
	reg.MustRegister(m.CheckErrorsTotal, m.RotationsStarted, m.RotationsOK, m.RotationsFailed, m.InventoryDuration, m.RotationsSuspended, m.store)
	return m
}

// counters are the per-cluster counters.
func (m *Metrics) counters() []*prometheus.CounterVec {
	return []*prometheus.CounterVec{m.CheckErrorsTotal, m.RotationsStarted, m.RotationsOK, m.RotationsFailed}
}

// Set replaces what is exported of one cluster: its latest inventory (nil:
// none yet), the decision, and when it was inventoried. The cluster's
// counters are exported from 0 on, so that increase() sees their first
// increment (a series that appears at 1 has not increased).
func (m *Metrics) Set(ns, name string, cr *inventory.ClusterReport, d Decision, inventoried, now time.Time) {
	for _, c := range m.counters() {
		c.WithLabelValues(ns, name)
	}
	m.store.mu.Lock()
	defer m.store.mu.Unlock()
	m.store.clusters[ns+"/"+name] = clusterSeries{ns: ns, name: name, report: cr, decision: d, inventoried: inventoried, now: now}
}

// Leading notes that the leader has inventoried every cluster in scope once.
func (m *Metrics) Leading() {
	m.store.mu.Lock()
	defer m.store.mu.Unlock()
	m.store.leading = true
}

// Forget drops a cluster's series, its counters included.
func (m *Metrics) Forget(key string) {
	m.store.mu.Lock()
	defer m.store.mu.Unlock()
	if cs, ok := m.store.clusters[key]; ok {
		for _, c := range m.counters() {
			c.DeleteLabelValues(cs.ns, cs.name)
		}
	}
	delete(m.store.clusters, key)
}

// SetSupervisor replaces the Supervisor side's series (namespace and
// cluster empty; node is the Node, vCenter host or address; ca is vmca,
// supervisor-ca, tkg:<namespace>/<cluster> or other).
func (m *Metrics) SetSupervisor(rep *inventory.Report, errs int) {
	m.store.mu.Lock()
	defer m.store.mu.Unlock()
	m.store.supervisor, m.store.supervisorErrs, m.store.haveSupervisor = rep, errs, true
	m.CheckErrorsTotal.WithLabelValues("", "").Add(float64(errs))
}

type clusterSeries struct {
	ns, name         string
	report           *inventory.ClusterReport
	decision         Decision
	inventoried, now time.Time
}

// store is a prometheus.Collector over the latest inventories.
type store struct {
	mu             sync.Mutex
	clusters       map[string]clusterSeries
	supervisor     *inventory.Report
	supervisorErrs int
	haveSupervisor bool
	// leading is set once the leader inventoried every cluster in scope: an
	// empty fleet is then fresh, not unknown.
	leading bool

	certificate, earliest, expired, state, checkErrors, lastInventory, clusterInventory, clustersInScope *prometheus.Desc
}

func newStore() *store {
	d := prometheus.NewDesc
	return &store{
		clusters: map[string]clusterSeries{},
		certificate: d("tkgcert_certificate_expiry_timestamp_seconds",
			"NotAfter of each certificate, as Unix time. node is \"supervisor\" for the cluster's secrets; ca is the signing CA's name (empty for a CA). namespace and cluster are empty for the Supervisor's own endpoints and vCenter's (ca vmca, supervisor-ca, tkg:<namespace>/<cluster> or other).",
			[]string{"namespace", "cluster", "node", "certificate", "ca"}, nil),
		earliest: d("tkgcert_cluster_earliest_expiry_timestamp_seconds",
			"NotAfter of the cluster's earliest-expiring leaf certificate on its nodes, as Unix time.", clusterLabels, nil),
		expired: d("tkgcert_cluster_expired_certificates",
			"Certificates of the cluster that have expired (a rolling rotation cannot help: use tkgcert recover).", clusterLabels, nil),
		state: d("tkgcert_cluster_state",
			"1 for the cluster's current state (Healthy, RotationDue, WaitingForWindow, Rotating, RotationBlocked, Expired, RotatedRecently, OptedOut, Unknown), 0 for the others.",
			[]string{"namespace", "cluster", "state"}, nil),
		checkErrors: d("tkgcert_cluster_check_errors",
			"Errors reading the cluster's certificates in its last inventory (namespace and cluster empty for the Supervisor side).", clusterLabels, nil),
		lastInventory: d("tkgcert_last_successful_inventory_timestamp_seconds",
			"When the stalest cluster in scope was last inventoried, as Unix time: every cluster was inventoried since.", nil, nil),
		clusterInventory: d("tkgcert_cluster_last_inventory_timestamp_seconds",
			"When the cluster was last inventoried, as Unix time.", clusterLabels, nil),
		clustersInScope: d("tkgcert_clusters", "Clusters in scope that the controller has reconciled.", nil, nil),
	}
}

// Describe sends the descriptions of the series.
func (s *store) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{s.certificate, s.earliest, s.expired, s.state, s.checkErrors, s.lastInventory, s.clusterInventory, s.clustersInScope} {
		ch <- d
	}
}

// Collect sends the series of the latest inventories.
func (s *store) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	defer s.mu.Unlock()
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	// One series per label set: the last certificate of a name wins, as a
	// gauge's Set would.
	type certKey struct{ ns, cluster, node, name, ca string }
	certs := map[certKey]float64{}
	var stalest time.Time
	for _, cs := range s.clusters {
		if cr := cs.report; cr != nil {
			for l := range cr.All() {
				if !l.Certificate.Present() {
					continue
				}
				node := l.Node
				if node == "" {
					node = SupervisorNode
				}
				certs[certKey{cs.ns, cs.name, node, l.CertificateLabel(), l.CALabel()}] = unix(l.Certificate.NotAfter)
			}
			gauge(s.expired, float64(len(cr.Expired(cs.now))), cs.ns, cs.name)
			gauge(s.checkErrors, float64(errorCount(cr)), cs.ns, cs.name)
			gauge(s.clusterInventory, unix(cs.inventoried), cs.ns, cs.name)
			if stalest.IsZero() || cs.inventoried.Before(stalest) {
				stalest = cs.inventoried
			}
		}
		if !cs.decision.Earliest.IsZero() {
			gauge(s.earliest, unix(cs.decision.Earliest), cs.ns, cs.name)
		}
		for _, st := range States {
			v := 0.0
			if st == cs.decision.State {
				v = 1
			}
			gauge(s.state, v, cs.ns, cs.name, string(st))
		}
	}
	if s.supervisor != nil {
		for l := range s.supervisor.All() {
			if l.Endpoint == nil || l.Endpoint.Trust == nil || !l.Certificate.Present() {
				continue
			}
			certs[certKey{"", "", l.Node, l.CertificateLabel(), l.CALabel()}] = unix(l.Certificate.NotAfter)
		}
	}
	for k, v := range certs {
		gauge(s.certificate, v, k.ns, k.cluster, k.node, k.name, k.ca)
	}
	if s.haveSupervisor {
		gauge(s.checkErrors, float64(s.supervisorErrs), "", "")
	}
	switch {
	case !stalest.IsZero():
		gauge(s.lastInventory, unix(stalest))
	case s.leading && len(s.clusters) == 0:
		gauge(s.lastInventory, unix(time.Now()))
	}
	gauge(s.clustersInScope, float64(len(s.clusters)))
}

func unix(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }
