package inventory

import (
	"context"
	"time"

	"k8s.io/client-go/rest"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/source"
	"github.com/tkgcert/tkgcert/internal/supervisor"
)

// The report document's type.
const (
	APIVersion = "tkgcert.io/v1alpha1"
	Kind       = "CertificateReport"
)

// Report is the result of one inventory: the document `check -o json|yaml`
// prints. It never contains a private key. Every certificate in it is a
// certs.Info; All walks them.
type Report struct {
	APIVersion  string          `json:"apiVersion"`
	Kind        string          `json:"kind"`
	GeneratedAt time.Time       `json:"generatedAt"`
	Source      string          `json:"source"`
	Clusters    []ClusterReport `json:"clusters"`
	// Supervisor is the vCenter trust domain and the Supervisor's own
	// certificates (`tkgcert supervisor check`); nil for `tkgcert check`.
	Supervisor *supervisor.Report `json:"supervisor,omitempty"`
	// Supervisors are the Supervisors (kubeconfig contexts) of a run over
	// more than one, each with the error that kept it from being read, if
	// any; empty for a run over one.
	Supervisors []SupervisorRun `json:"supervisors,omitempty"`
}

// SupervisorRun is one Supervisor of a run over several: its kubeconfig
// context and, when it could not be read at all, why.
type SupervisorRun struct {
	Context string `json:"context"`
	Error   string `json:"error,omitempty"`
}

// ClusterReport is one cluster.
type ClusterReport struct {
	// Supervisor is the kubeconfig context of the cluster's Supervisor in
	// a run over several; empty otherwise.
	Supervisor string `json:"supervisor,omitempty"`
	Namespace  string `json:"namespace"`
	Name       string `json:"name"`
	// ClusterAPIVersion is the API version the Supervisor serves (v1beta1, v1beta2).
	ClusterAPIVersion string `json:"clusterAPIVersion"`
	Phase             string `json:"phase,omitempty"`
	RolloutInProgress bool   `json:"rolloutInProgress"`
	// CertificateAuthorities are the cluster's CAs from the Supervisor's
	// secrets (<cluster>-ca, -etcd, -proxy).
	CertificateAuthorities []certs.Info `json:"certificateAuthorities"`
	// KubeconfigCertificate is the client certificate of <cluster>-kubeconfig.
	KubeconfigCertificate *certs.Info  `json:"kubeconfigCertificate,omitempty"`
	Nodes                 []NodeReport `json:"nodes"`
	Errors                []string     `json:"errors,omitempty"`
}

// NodeReport is one node.
type NodeReport struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	// HostKeyAlias is what the node's SSH host keys are recorded under in
	// known_hosts (remote.MachineAlias), if not its address.
	HostKeyAlias string `json:"hostKeyAlias,omitempty"`
	// Role is names.RoleControlPlane or names.RoleWorker.
	Role string `json:"role"`
	// Certificates and CertificateAuthorities are the node's catalogue as
	// read, in kubeadm's order (Expiration gives it kubeadm's type).
	Certificates           []certs.Info   `json:"certificates"`
	CertificateAuthorities []certs.Info   `json:"certificateAuthorities"`
	Kubelet                *KubeletReport `json:"kubelet,omitempty"`
	Errors                 []string       `json:"errors,omitempty"`
}

// Expiration is the node's catalogue as kubeadm's type, for kubeadm's
// tables; it shares the node's slices.
func (n *NodeReport) Expiration() *certs.Expiration {
	return &certs.Expiration{Certificates: n.Certificates, Authorities: n.CertificateAuthorities}
}

// KubeletReport is the node's kubelet certificate state (the seed's step 8).
type KubeletReport struct {
	// RotateCertificates is the kubelet's setting (null: unknown).
	RotateCertificates *bool       `json:"rotateCertificates"`
	ClientCertificate  *certs.Info `json:"clientCertificate,omitempty"`
}

// EarliestLeaf returns the node leaf certificate that expires first (CAs
// and the kubelet's client certificate excluded: rolling the control plane
// does not renew them), naming it "<certificate> on <node>".
func (cr *ClusterReport) EarliestLeaf() (name string, at time.Time, ok bool) {
	for l := range cr.All() {
		c := l.Certificate
		if l.Kind == KindCertificate && c.Present() && (at.IsZero() || c.NotAfter.Before(at)) {
			name, at = c.Name+" on "+l.Node, c.NotAfter
		}
	}
	return name, at, !at.IsZero()
}

// Expired lists the certificates that are no longer valid at now, as
// "<certificate> on <node or the Supervisor>": the CAs and the kubeconfig
// secret's client certificate on the Supervisor, then every node's
// certificates and CAs (the kubelet's client certificate, which the kubelet
// renews, is not counted).
func (cr *ClusterReport) Expired(now time.Time) []string {
	if cr == nil {
		return nil
	}
	var out []string
	for l := range cr.All() {
		c := l.Certificate
		if l.Kind == KindKubeletClient || !c.Present() || c.NotAfter.After(now) {
			continue
		}
		where := l.Node
		if where == "" {
			where = "the Supervisor"
		}
		out = append(out, c.Name+" on "+where)
	}
	return out
}

// RunSupervisor reads the Supervisor side with supervisor.Run and returns
// it as the supervisor section of a report document.
func RunSupervisor(ctx context.Context, cfg *rest.Config, o supervisor.Options) (*Report, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	now := o.Now()
	o.Now = func() time.Time { return now }
	sup, err := supervisor.Run(ctx, cfg, o)
	if err != nil {
		return nil, err
	}
	return &Report{APIVersion: APIVersion, Kind: Kind, GeneratedAt: now.UTC(), Source: string(source.TLS),
		Clusters: []ClusterReport{}, Supervisor: sup}, nil
}
