package inventory

import (
	"iter"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/supervisor"
)

// Kinds of certificate in a report, as Located.Kind names them.
const (
	// KindCertificate is a leaf of a node's kubeadm catalogue (kubeconfig
	// client certificates included, and serving certificates read over TLS).
	KindCertificate = "certificate"
	// KindCA is a CA: a node's CA file or a cluster's CA secret.
	KindCA = "ca"
	// KindKubeletClient is a node's kubelet-client-current.pem.
	KindKubeletClient = "kubelet-client"
	// KindKubeconfigSecret is the client certificate of <cluster>-kubeconfig.
	KindKubeconfigSecret = "kubeconfig-secret"
	// KindEndpoint is a certificate of the Supervisor section: served by an
	// endpoint or read from a Supervisor control-plane node's file.
	KindEndpoint = "endpoint"
	// KindVMCARoot is a VMCA root given with --vmca-root.
	KindVMCARoot = "vmca-root"
)

// Located is one certificate of a report with its place in the report.
type Located struct {
	// Supervisor is the cluster's Supervisor in a run over several.
	Supervisor string
	// Namespace and Cluster name the cluster; empty in the Supervisor
	// section.
	Namespace, Cluster string
	// Node is the node's name, or "" for the cluster's Supervisor secrets;
	// in the Supervisor section the endpoint's Name, or "vmca-root".
	Node string
	// Kind is one of the Kind constants.
	Kind string
	// Certificate is the certificate; Certificate.Location says where it
	// was found.
	Certificate certs.Info
	// Endpoint is the Supervisor section's endpoint (nil otherwise): its
	// address, role, trust domain and rotation path.
	Endpoint *supervisor.Endpoint
}

// CALabel is the certificate's CA as metrics label it: the kubeadm CA name
// (empty for a CA) in a cluster, the trust-domain label of an endpoint
// (vmca, supervisor-ca, tkg:<namespace>/<cluster>, other).
func (l Located) CALabel() string {
	if l.Endpoint != nil {
		return l.Endpoint.CALabel()
	}
	return l.Certificate.CAName
}

// CertificateLabel is the certificate's name as metrics label it: its name,
// or an endpoint's service (or file path).
func (l Located) CertificateLabel() string {
	if l.Endpoint != nil {
		return l.Endpoint.CertificateLabel()
	}
	return l.Certificate.Name
}

// All walks every certificate of the report, missing ones included (see
// certs.Info.Present): the Supervisor section (VMCA roots, then endpoints
// that were read) first, then each cluster as ClusterReport.All does.
// Evaluate, the tables and the controller's metrics all use it.
func (r *Report) All() iter.Seq[Located] {
	return func(yield func(Located) bool) {
		if r == nil {
			return
		}
		if s := r.Supervisor; s != nil {
			for _, c := range s.VMCARoots {
				if !yield(Located{Node: KindVMCARoot, Kind: KindVMCARoot, Certificate: c}) {
					return
				}
			}
			for i := range s.Endpoints {
				ep := &s.Endpoints[i]
				if ep.Certificate == nil {
					continue
				}
				if !yield(Located{Node: ep.Name, Kind: KindEndpoint, Certificate: *ep.Certificate, Endpoint: ep}) {
					return
				}
			}
		}
		for i := range r.Clusters {
			for l := range r.Clusters[i].All() {
				if !yield(l) {
					return
				}
			}
		}
	}
}

// All walks every certificate of the cluster, missing ones included: its
// CA secrets and the kubeconfig secret's client certificate (Node ""), then
// per node its certificates, its CAs and the kubelet's client certificate.
func (cr *ClusterReport) All() iter.Seq[Located] {
	return func(yield func(Located) bool) {
		if cr == nil {
			return
		}
		at := func(node, kind string, c certs.Info) Located {
			return Located{Supervisor: cr.Supervisor, Namespace: cr.Namespace, Cluster: cr.Name, Node: node, Kind: kind, Certificate: c}
		}
		for _, c := range cr.CertificateAuthorities {
			if !yield(at("", KindCA, c)) {
				return
			}
		}
		if cr.KubeconfigCertificate != nil && !yield(at("", KindKubeconfigSecret, *cr.KubeconfigCertificate)) {
			return
		}
		for _, n := range cr.Nodes {
			for _, c := range n.Certificates {
				if !yield(at(n.Name, KindCertificate, c)) {
					return
				}
			}
			for _, c := range n.CertificateAuthorities {
				if !yield(at(n.Name, KindCA, c)) {
					return
				}
			}
			if n.Kubelet != nil && n.Kubelet.ClientCertificate != nil && !yield(at(n.Name, KindKubeletClient, *n.Kubelet.ClientCertificate)) {
				return
			}
		}
	}
}
