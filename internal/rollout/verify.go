package rollout

import (
	"context"
	"fmt"
	"io"
	"sort"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/certs/names"
	"github.com/tkgcert/tkgcert/internal/fleet"
	"github.com/tkgcert/tkgcert/internal/inventory"
	"github.com/tkgcert/tkgcert/internal/kubeconfig"
	"github.com/tkgcert/tkgcert/internal/printer"
)

// KubeletWarnWithin is how close to expiry a kubelet client certificate may
// get before verification warns.
const KubeletWarnWithin = 30 * 24 * time.Hour

// Row compares one certificate before and after the rollout.
type Row struct {
	Certificate   string
	Before, After time.Time // latest before, earliest after
	Later         bool
}

// Verification is the outcome of Verify.
type Verification struct {
	Rows []Row
	// Problems fail the rotation; Warnings do not.
	Problems, Warnings []string
}

// OK reports whether verification passed.
func (v Verification) OK() bool { return len(v.Problems) == 0 }

// Baseline is what verification compares a finished rollout with, taken
// from the inventory before it. It is small enough for the controller to
// keep in the cluster's status annotation, so that a restarted controller
// verifies a rollout it did not see start.
type Baseline struct {
	// Nodes are the control-plane nodes the rollout replaces; Addresses
	// are their addresses (whose host keys are forgotten afterwards).
	Nodes     []string `json:"nodes,omitempty"`
	Addresses []string `json:"addresses,omitempty"`
	// Workers and WorkerAddresses are the same for the worker nodes.
	Workers         []string `json:"workers,omitempty"`
	WorkerAddresses []string `json:"workerAddresses,omitempty"`
	// Leaves is, per control-plane certificate, its latest NotAfter.
	Leaves map[string]time.Time `json:"leaves,omitempty"`
	// Authorities is, per CA, its serial number and NotAfter.
	Authorities map[string]AuthorityID `json:"authorities,omitempty"`
}

// AuthorityID identifies a CA, to tell that a rollout kept it.
type AuthorityID struct {
	SerialNumber string    `json:"serialNumber"`
	NotAfter     time.Time `json:"notAfter"`
}

// BaselineOf takes the baseline from an inventory. When cl is given, only
// the nodes of machines created before `after` count: a rollout joined
// half-way is verified against the machines it replaces.
func BaselineOf(before *inventory.ClusterReport, cl *fleet.Cluster, after time.Time) Baseline {
	b := Baseline{Leaves: map[string]time.Time{}, Authorities: map[string]AuthorityID{}}
	old := func(string) bool { return true }
	if cl != nil {
		names := map[string]bool{}
		for _, m := range cl.Machines {
			if m.NodeName != "" && m.Created.Before(after) {
				names[m.NodeName] = true
			}
		}
		old = func(n string) bool { return names[n] }
	}
	for _, n := range before.Nodes {
		if !old(n.Name) {
			continue
		}
		if n.Role != names.RoleControlPlane {
			b.Workers = append(b.Workers, n.Name)
			if n.Address != "" {
				b.WorkerAddresses = append(b.WorkerAddresses, n.Address)
			}
			continue
		}
		b.Nodes = append(b.Nodes, n.Name)
		if n.Address != "" {
			b.Addresses = append(b.Addresses, n.Address)
		}
		for _, c := range n.Certificates {
			if !c.NotAfter.IsZero() && c.NotAfter.After(b.Leaves[c.Name]) {
				b.Leaves[c.Name] = c.NotAfter.UTC()
			}
		}
	}
	for _, c := range before.CertificateAuthorities {
		id := AuthorityID{SerialNumber: c.SerialNumber}
		if !c.NotAfter.IsZero() {
			id.NotAfter = c.NotAfter.UTC()
		}
		b.Authorities[c.Name] = id
	}
	return b
}

// Verify compares the cluster's inventory before and after the rollout.
func Verify(before, after *inventory.ClusterReport) Verification {
	return VerifyBaseline(BaselineOf(before, nil, time.Time{}), after)
}

// VerifyBaseline compares the cluster's inventory after a rollout with the
// baseline taken before it.
func VerifyBaseline(base Baseline, after *inventory.ClusterReport) Verification {
	var v Verification
	beforeNodes := map[string]bool{}
	for _, n := range base.Nodes {
		beforeNodes[n] = true
	}
	for _, n := range after.Nodes {
		if len(n.Errors) > 0 {
			v.Problems = append(v.Problems, fmt.Sprintf("node %s could not be verified: %v", n.Name, n.Errors))
		}
		if n.Role == names.RoleControlPlane && beforeNodes[n.Name] {
			v.Problems = append(v.Problems, fmt.Sprintf("control-plane node %s was not replaced", n.Name))
		}
	}
	earliest := map[string]time.Time{}
	for _, n := range after.Nodes {
		for _, c := range n.Certificates {
			if n.Role != names.RoleControlPlane || c.NotAfter.IsZero() {
				continue
			}
			if e, ok := earliest[c.Name]; !ok || c.NotAfter.Before(e) {
				earliest[c.Name] = c.NotAfter
			}
		}
	}
	var leaves []string
	for name := range base.Leaves {
		leaves = append(leaves, name)
	}
	sort.Strings(leaves)
	for _, name := range leaves {
		if _, ok := earliest[name]; !ok {
			// Present before, on no new node: super-admin.conf, which kubeadm
			// init writes and kubeadm join (every replacement machine) does not.
			v.Warnings = append(v.Warnings, fmt.Sprintf("%s is on none of the new control-plane nodes (kubeadm join does not create super-admin.conf)", name))
			continue
		}
		r := Row{Certificate: name, Before: base.Leaves[name], After: earliest[name]}
		r.Later = !r.After.IsZero() && r.After.After(r.Before)
		if !r.Later {
			v.Problems = append(v.Problems, fmt.Sprintf("%s did not move later (before %s, after %s)", name, date(r.Before), date(r.After)))
		}
		v.Rows = append(v.Rows, r)
	}
	for _, c := range after.CertificateAuthorities {
		b, ok := base.Authorities[c.Name]
		if !ok || b.SerialNumber != c.SerialNumber || b.NotAfter.IsZero() || c.NotAfter.IsZero() || !b.NotAfter.Equal(c.NotAfter) {
			v.Problems = append(v.Problems, fmt.Sprintf("CA %s changed", c.Name))
		}
	}
	for _, n := range after.Nodes {
		k := n.Kubelet
		switch {
		case k == nil:
		case k.RotateCertificates == nil || !*k.RotateCertificates:
			v.Warnings = append(v.Warnings, fmt.Sprintf("node %s: the kubelet does not rotate its certificates (rotateCertificates is not true): roll its machine or fix /var/lib/kubelet/config.yaml", n.Name))
		case k.ClientCertificate != nil && time.Duration(k.ClientCertificate.ResidualSeconds)*time.Second < KubeletWarnWithin:
			v.Warnings = append(v.Warnings, fmt.Sprintf("node %s: the kubelet's client certificate expires %s", n.Name, date(k.ClientCertificate.NotAfter)))
		}
	}
	return v
}

// KubeconfigWorks checks that the cluster's <cluster>-kubeconfig secret
// still authenticates against the workload API. The secret is used as data
// only (see package kubeconfig), and only towards the Cluster's
// spec.controlPlaneEndpoint.
func KubeconfigWorks(ctx context.Context, r *fleet.Reader, namespace, cluster string) error {
	endpoint, err := r.ControlPlaneEndpoint(ctx, namespace, cluster)
	if err != nil {
		return err
	}
	sec := &corev1.Secret{}
	if err := r.Client().Get(ctx, types.NamespacedName{Namespace: namespace, Name: cluster + names.KubeconfigSecretSuffix}, sec); err != nil {
		return err
	}
	cfg, err := kubeconfig.RESTConfig(sec.Data["value"], namespace+"/"+cluster+names.KubeconfigSecretSuffix, endpoint)
	if err != nil {
		return err
	}
	cfg.Timeout = 15 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	_, err = cs.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
	return err
}

// WriteTable prints the before/after comparison.
func WriteTable(w io.Writer, v Verification) error {
	tw := printer.NewTable(w)
	fmt.Fprintln(tw, "CERTIFICATE\tBEFORE\tAFTER\tRENEWED")
	for _, r := range v.Rows {
		ok := "yes"
		if !r.Later {
			ok = "NO"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Certificate, date(r.Before), date(r.After), ok)
	}
	return tw.Flush()
}

func date(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(certs.DateLayout)
}
