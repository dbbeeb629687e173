package rollout

import (
	"context"
	"fmt"
	"io"
	"sort"
	"text/tabwriter"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/certs/names"
	"github.com/tkgcert/tkgcert/internal/inventory"
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

// Verify compares the cluster's inventory before and after the rollout.
func Verify(before, after *inventory.ClusterReport) Verification {
	var v Verification
	beforeNodes := map[string]bool{}
	for _, n := range before.Nodes {
		if n.Role == names.RoleControlPlane {
			beforeNodes[n.Name] = true
		}
	}
	for _, n := range after.Nodes {
		if len(n.Errors) > 0 {
			v.Problems = append(v.Problems, fmt.Sprintf("node %s could not be verified: %v", n.Name, n.Errors))
		}
		if n.Role == names.RoleControlPlane && beforeNodes[n.Name] {
			v.Problems = append(v.Problems, fmt.Sprintf("control-plane node %s was not replaced", n.Name))
		}
	}
	latest, earliest := map[string]time.Time{}, map[string]time.Time{}
	for _, n := range before.Nodes {
		for _, c := range n.Certificates {
			if n.Role == names.RoleControlPlane && !c.NotAfter.IsZero() && c.NotAfter.After(latest[c.Name]) {
				latest[c.Name] = c.NotAfter
			}
		}
	}
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
	var names []string
	for name := range latest {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		if _, ok := earliest[name]; !ok {
			// Present before, on no new node: super-admin.conf, which kubeadm
			// init writes and kubeadm join (every replacement machine) does not.
			v.Warnings = append(v.Warnings, fmt.Sprintf("%s is on none of the new control-plane nodes (kubeadm join does not create super-admin.conf)", name))
			continue
		}
		r := Row{Certificate: name, Before: latest[name], After: earliest[name]}
		r.Later = !r.After.IsZero() && r.After.After(r.Before)
		if !r.Later {
			v.Problems = append(v.Problems, fmt.Sprintf("%s did not move later (before %s, after %s)", name, date(r.Before), date(r.After)))
		}
		v.Rows = append(v.Rows, r)
	}
	cas := map[string]certs.Info{}
	for _, c := range before.CertificateAuthorities {
		cas[c.Name] = c
	}
	for _, c := range after.CertificateAuthorities {
		b, ok := cas[c.Name]
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
// still authenticates against the workload API.
func KubeconfigWorks(ctx context.Context, c client.Client, namespace, cluster string) error {
	sec := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: cluster + names.KubeconfigSecretSuffix}, sec); err != nil {
		return err
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(sec.Data["value"])
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
	tw := tabwriter.NewWriter(w, 10, 4, 3, ' ', 0)
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
