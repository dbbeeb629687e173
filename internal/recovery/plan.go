package recovery

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"time"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/certs/names"
	"github.com/tkgcert/tkgcert/internal/inventory"
	"github.com/tkgcert/tkgcert/internal/printer"
)

// NodePlan is what recovery does on one node.
type NodePlan struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	// HostKeyAlias is what the node's SSH host keys are recorded under
	// (see inventory.NodeReport).
	HostKeyAlias string `json:"hostKeyAlias,omitempty"`
	Role         string `json:"role"`
	// Expired names the node's expired certificates.
	Expired []string `json:"expired"`
	// RenewPKI renews every kubeadm leaf certificate and kubeconfig of a
	// control-plane node (as `kubeadm certs renew all` does) and restarts its
	// static pods.
	RenewPKI bool `json:"renewPKI"`
	// RenewKubelet renews the kubelet's expired client certificate.
	RenewKubelet bool `json:"renewKubelet"`
}

// ControlPlane reports whether the node is a control-plane node.
func (n NodePlan) ControlPlane() bool { return n.Role == names.RoleControlPlane }

// Touched reports whether recovery changes anything on the node.
func (n NodePlan) Touched() bool { return n.RenewPKI || n.RenewKubelet }

// Plan is what recovery will do for one cluster.
type Plan struct {
	Namespace string `json:"namespace"`
	Cluster   string `json:"cluster"`
	// Nodes are the control-plane nodes, then the workers, in name order.
	Nodes []NodePlan `json:"nodes"`
	// RefreshSecret refreshes <cluster>-kubeconfig's client certificate.
	RefreshSecret bool `json:"refreshSecret"`
	// SecretExpired names the secret's certificate expiry when it expired.
	SecretNotAfter *time.Time `json:"secretNotAfter,omitempty"`
	// Problems keep recovery from starting.
	Problems []string `json:"problems,omitempty"`
}

// Empty reports that nothing has expired.
func (p Plan) Empty() bool {
	if p.RefreshSecret {
		return false
	}
	for _, n := range p.Nodes {
		if n.Touched() {
			return false
		}
	}
	return true
}

// BuildPlan works out from a cluster's inventory what has expired at now and
// what recovery must do about it.
func BuildPlan(cr *inventory.ClusterReport, now time.Time) Plan {
	p := Plan{Namespace: cr.Namespace, Cluster: cr.Name}
	expired := func(c certs.Info) bool {
		return !c.Missing && !c.NotAfter.IsZero() && !c.NotAfter.After(now)
	}
	for _, e := range cr.Errors {
		p.Problems = append(p.Problems, e)
	}
	for _, ca := range cr.CertificateAuthorities {
		if expired(ca) {
			p.Problems = append(p.Problems, fmt.Sprintf("CA %s expired on %s: renewing leaf certificates cannot help; the cluster needs new CAs", ca.Name, ca.NotAfter.Format(time.RFC3339)))
		}
	}
	if k := cr.KubeconfigCertificate; k != nil && expired(*k) {
		p.RefreshSecret = true
		at := k.NotAfter
		p.SecretNotAfter = &at
	}
	nodes := append([]inventory.NodeReport(nil), cr.Nodes...)
	sort.SliceStable(nodes, func(i, j int) bool {
		if (nodes[i].Role == names.RoleControlPlane) != (nodes[j].Role == names.RoleControlPlane) {
			return nodes[i].Role == names.RoleControlPlane
		}
		return nodes[i].Name < nodes[j].Name
	})
	supervisorCA := map[string]string{}
	for _, ca := range cr.CertificateAuthorities {
		supervisorCA[ca.Name] = ca.SerialNumber
	}
	for _, n := range nodes {
		np := NodePlan{Name: n.Name, Address: n.Address, HostKeyAlias: n.HostKeyAlias, Role: n.Role, Expired: []string{}}
		for _, e := range n.Errors {
			p.Problems = append(p.Problems, fmt.Sprintf("node %s could not be read: %s", n.Name, e))
		}
		for _, ca := range n.CertificateAuthorities {
			if s, ok := supervisorCA[ca.Name]; ok && !ca.Missing && ca.SerialNumber != s {
				p.Problems = append(p.Problems, fmt.Sprintf("node %s: CA %s is not the one in the Supervisor's secrets (serial %s, Supervisor %s): not signing for it", n.Name, ca.Name, ca.SerialNumber, s))
			}
		}
		for _, c := range n.Certificates {
			if expired(c) {
				np.Expired = append(np.Expired, c.Name)
			}
		}
		if len(np.Expired) > 0 && n.Role == names.RoleControlPlane {
			np.RenewPKI = true
		}
		if k := n.Kubelet; k != nil && k.ClientCertificate != nil && expired(*k.ClientCertificate) {
			np.Expired = append(np.Expired, "kubelet-client")
			np.RenewKubelet = true
		}
		p.Nodes = append(p.Nodes, np)
	}
	return p
}

// Action describes in words what recovery does on the node.
func (n NodePlan) Action() string {
	var a []string
	if n.RenewPKI {
		a = append(a, "renew leaf certificates and kubeconfigs, restart static pods")
	}
	if n.RenewKubelet {
		a = append(a, "renew kubelet client certificate")
	}
	if len(a) == 0 {
		return "none"
	}
	return "back up; " + strings.Join(a, "; ")
}

// WritePlan prints the plan as a table.
func WritePlan(w io.Writer, p Plan) error {
	fmt.Fprintf(w, "Recovery plan for %s/%s (one node at a time, in this order):\n", p.Namespace, p.Cluster)
	tw := printer.NewTable(w)
	fmt.Fprintln(tw, "NODE\tROLE\tEXPIRED\tACTION")
	for _, n := range p.Nodes {
		exp := "-"
		if len(n.Expired) > 0 {
			exp = summarize(n.Expired)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", n.Name, n.Role, exp, n.Action())
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if p.RefreshSecret {
		fmt.Fprintf(w, "Then refresh the client certificate of secret %s/%s-kubeconfig (expired %s), in place.\n", p.Namespace, p.Cluster, p.SecretNotAfter.UTC().Format(time.RFC3339))
	}
	fmt.Fprintln(w, "The CAs are kept; each node's backup stays on the node under /etc/kubernetes/tkgcert-backup-<time>.")
	return nil
}

// summarize lists up to four names and counts the rest.
func summarize(names []string) string {
	if len(names) <= 4 {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:4], ", "), len(names)-4)
}
