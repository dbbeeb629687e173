package inventory

import (
	"time"

	"github.com/tkgcert/tkgcert/internal/certs"
)

// The report document's type.
const (
	APIVersion = "tkgcert.io/v1alpha1"
	Kind       = "CertificateReport"
)

// Report is the result of one inventory: the document `check -o json|yaml`
// prints. It never contains a private key.
type Report struct {
	APIVersion  string          `json:"apiVersion"`
	Kind        string          `json:"kind"`
	GeneratedAt time.Time       `json:"generatedAt"`
	Source      string          `json:"source"`
	Clusters    []ClusterReport `json:"clusters"`
	// Supervisor is the vCenter trust domain and the Supervisor's own
	// certificates (`tkgcert supervisor check`); nil for `tkgcert check`.
	Supervisor *SupervisorReport `json:"supervisor,omitempty"`
}

// ClusterReport is one cluster.
type ClusterReport struct {
	Namespace string `json:"namespace"`
	Name      string `json:"name"`
	// ClusterAPIVersion is the API version the Supervisor serves (v1beta1, v1beta2).
	ClusterAPIVersion string `json:"clusterAPIVersion"`
	Phase             string `json:"phase,omitempty"`
	RolloutInProgress bool   `json:"rolloutInProgress"`
	// CertificateAuthorities are the cluster's CAs from the Supervisor's
	// secrets (<cluster>-ca, -etcd, -proxy).
	CertificateAuthorities []Certificate `json:"certificateAuthorities"`
	// KubeconfigCertificate is the client certificate of <cluster>-kubeconfig.
	KubeconfigCertificate *Certificate `json:"kubeconfigCertificate,omitempty"`
	Nodes                 []NodeReport `json:"nodes"`
	Errors                []string     `json:"errors,omitempty"`
}

// NodeReport is one node.
type NodeReport struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	// Role is control-plane or worker.
	Role                   string         `json:"role"`
	Certificates           []Certificate  `json:"certificates"`
	CertificateAuthorities []Certificate  `json:"certificateAuthorities"`
	Kubelet                *KubeletReport `json:"kubelet,omitempty"`
	Errors                 []string       `json:"errors,omitempty"`

	// Expiration is the node's catalogue as read, for kubeadm-style tables.
	Expiration *certs.Expiration `json:"-"`
}

// KubeletReport is the node's kubelet certificate state (the seed's step 8).
type KubeletReport struct {
	// RotateCertificates is the kubelet's setting (null: unknown).
	RotateCertificates *bool        `json:"rotateCertificates"`
	ClientCertificate  *Certificate `json:"clientCertificate,omitempty"`
}

// Certificate is one certificate or CA, as reported.
type Certificate struct {
	Name              string     `json:"name"`
	CAName            string     `json:"caName,omitempty"`
	NotAfter          *time.Time `json:"notAfter,omitempty"`
	ResidualSeconds   int64      `json:"residualSeconds"`
	Missing           bool       `json:"missing"`
	ExternallyManaged bool       `json:"externallyManaged,omitempty"`
	Subject           string     `json:"subject,omitempty"`
	Issuer            string     `json:"issuer,omitempty"`
	SerialNumber      string     `json:"serialNumber,omitempty"`
}

func fromCertificate(c certs.Certificate, now time.Time) Certificate {
	out := Certificate{Name: c.Name, CAName: c.CAName, Missing: c.Missing, ExternallyManaged: c.ExternallyManaged,
		Subject: c.Subject, Issuer: c.Issuer, SerialNumber: c.SerialNumber}
	if !c.Missing && !c.NotAfter.IsZero() {
		t := c.NotAfter.UTC()
		out.NotAfter = &t
		out.ResidualSeconds = int64(t.Sub(now) / time.Second)
	}
	return out
}

func fromAuthority(a certs.Authority, now time.Time) Certificate {
	return fromCertificate(certs.Certificate{Name: a.Name, NotAfter: a.NotAfter, Missing: a.Missing,
		ExternallyManaged: a.ExternallyManaged, Subject: a.Subject, Issuer: a.Issuer, SerialNumber: a.SerialNumber}, now)
}

// EarliestLeaf returns the node leaf certificate that expires first (CAs
// excluded: rolling the control plane does not renew them), naming it
// "<certificate> on <node>".
func (cr *ClusterReport) EarliestLeaf() (name string, at time.Time, ok bool) {
	for _, n := range cr.Nodes {
		for _, c := range n.Certificates {
			if c.NotAfter != nil && (at.IsZero() || c.NotAfter.Before(at)) {
				name, at = c.Name+" on "+n.Name, *c.NotAfter
			}
		}
	}
	return name, at, !at.IsZero()
}

// Expired lists the certificates that are no longer valid at now, as
// "<certificate> on <node or the Supervisor>": the CAs and the kubeconfig
// secret's client certificate on the Supervisor, then every node's
// certificates and CAs.
func (cr *ClusterReport) Expired(now time.Time) []string {
	if cr == nil {
		return nil
	}
	var out []string
	add := func(where string, c Certificate) {
		if !c.Missing && c.NotAfter != nil && !c.NotAfter.After(now) {
			out = append(out, c.Name+" on "+where)
		}
	}
	for _, c := range cr.CertificateAuthorities {
		add("the Supervisor", c)
	}
	if cr.KubeconfigCertificate != nil {
		add("the Supervisor", *cr.KubeconfigCertificate)
	}
	for _, n := range cr.Nodes {
		for _, c := range n.Certificates {
			add(n.Name, c)
		}
		for _, c := range n.CertificateAuthorities {
			add(n.Name, c)
		}
	}
	return out
}
