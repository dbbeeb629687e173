package source

import (
	"context"
	"crypto/x509"
	"fmt"
	"time"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/certs/names"
	"github.com/tkgcert/tkgcert/internal/remote"
)

// Kind names a source.
type Kind string

// The sources.
const (
	SSH     Kind = "ssh"
	Kubeadm Kind = "kubeadm"
	TLS     Kind = "tls"
)

// Kinds lists the sources, default first.
var Kinds = []Kind{SSH, Kubeadm, TLS}

// ParseKind validates a --source value.
func ParseKind(s string) (Kind, error) {
	for _, k := range Kinds {
		if string(k) == s {
			return k, nil
		}
	}
	return "", fmt.Errorf("unknown source %q: use ssh, kubeadm or tls", s)
}

// Node identifies one node to read.
type Node struct {
	// Name is the node (and machine) name.
	Name string
	// Address is where to reach it.
	Address string
	// HostKeyAlias is what the node's SSH host keys are recorded under:
	// its Machine's remote.MachineAlias, or "" for nodes that are not
	// Machines (Supervisor nodes), recorded under Address.
	HostKeyAlias string
	// ControlPlane nodes carry the kubeadm PKI; workers only the kubelet's.
	ControlPlane bool
}

// Role is names.RoleControlPlane or names.RoleWorker.
func (n Node) Role() string { return names.Role(n.ControlPlane) }

// Kubelet is what a node says about its kubelet's certificates.
type Kubelet struct {
	// RotateCertificates is the kubelet config's setting (nil: unknown).
	RotateCertificates *bool
	// ClientCertificate is kubelet-client-current.pem (nil: not read).
	ClientCertificate *certs.Info
}

// Result is what a source read from one node.
type Result struct {
	// Expiration is kubeadm's catalogue (control-plane nodes; from TLS only
	// the serving certificates).
	Expiration *certs.Expiration
	Kubelet    *Kubelet
	// Errors are per-node problems; the other fields hold what was read.
	Errors []string
}

// ClusterAccess is what a source needs from its cluster.
type ClusterAccess struct {
	// Dialer opens SSH connections with the cluster's key (SSH and kubeadm sources).
	Dialer *remote.Dialer
	// CAs are the cluster's CA certificates from the Supervisor by kubeadm
	// name, to attribute certificates read over TLS.
	CAs map[string]*x509.Certificate
}

// Reader reads nodes.
type Reader interface {
	// Kind names the source.
	Kind() Kind
	// Read reads one node; it never fails as a whole: problems go to
	// Result.Errors so one node cannot hide the others.
	Read(ctx context.Context, cluster ClusterAccess, n Node) Result
}

// New returns the reader for a kind.
func New(k Kind, timeout time.Duration) Reader {
	switch k {
	case Kubeadm:
		return kubeadmReader{}
	case TLS:
		return tlsReader{timeout: timeout}
	default:
		return sshReader{}
	}
}
