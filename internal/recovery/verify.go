package recovery

import (
	"fmt"
	"sort"
	"time"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/certs/names"
	"github.com/tkgcert/tkgcert/internal/inventory"
	"github.com/tkgcert/tkgcert/internal/rollout"
)

// AboutAYear is the least remaining validity a renewed certificate must show.
const AboutAYear = 360 * 24 * time.Hour

// Verify compares the cluster's inventory before and after recovery at now:
// every node readable; the CAs unchanged, on the Supervisor and on every
// node; no certificate expired any more; every certificate recovery renewed
// valid for about a year; the kubeconfig secret's certificate valid. Rows
// compare each certificate's latest expiry before with its earliest after.
func Verify(before, after *inventory.ClusterReport, res *Result, now time.Time) rollout.Verification {
	var v rollout.Verification
	valid := func(c certs.Info) bool { return c.Missing || (!c.NotAfter.IsZero() && c.NotAfter.After(now)) }

	// CAs: the Supervisor's and each node's, by serial and end date.
	key := func(c certs.Info) string {
		if c.NotAfter.IsZero() {
			return c.SerialNumber
		}
		return c.SerialNumber + "/" + c.NotAfter.UTC().Format(time.RFC3339)
	}
	cas := map[string]string{}
	for _, c := range before.CertificateAuthorities {
		cas["Supervisor/"+c.Name] = key(c)
	}
	for _, n := range before.Nodes {
		for _, c := range n.CertificateAuthorities {
			cas[n.Name+"/"+c.Name] = key(c)
		}
	}
	check := func(where string, c certs.Info) {
		if b, ok := cas[where+"/"+c.Name]; ok && b != key(c) {
			v.Problems = append(v.Problems, fmt.Sprintf("CA %s on %s changed", c.Name, where))
		}
	}
	for _, c := range after.CertificateAuthorities {
		check("Supervisor", c)
	}

	renewed := map[string]map[string]bool{}
	if res != nil {
		for _, n := range res.Nodes {
			if n.Status == "recovered" {
				renewed[n.Name] = map[string]bool{}
				for _, c := range n.Renewed {
					renewed[n.Name][c] = true
				}
			}
		}
	}
	type span struct{ before, after time.Time }
	rows := map[string]*span{}
	row := func(name string) *span {
		if rows[name] == nil {
			rows[name] = &span{}
		}
		return rows[name]
	}
	for _, n := range before.Nodes {
		for _, c := range n.Certificates {
			if !c.NotAfter.IsZero() && n.Role == names.RoleControlPlane && c.NotAfter.After(row(c.Name).before) {
				row(c.Name).before = c.NotAfter
			}
		}
		if k := n.Kubelet; k != nil && k.ClientCertificate != nil && !k.ClientCertificate.NotAfter.IsZero() && k.ClientCertificate.NotAfter.After(row("kubelet-client").before) {
			row("kubelet-client").before = k.ClientCertificate.NotAfter
		}
	}
	earliest := func(s *span, t time.Time) {
		if s.after.IsZero() || t.Before(s.after) {
			s.after = t
		}
	}
	for _, n := range after.Nodes {
		if len(n.Errors) > 0 {
			v.Problems = append(v.Problems, fmt.Sprintf("node %s could not be verified: %v", n.Name, n.Errors))
		}
		for _, c := range n.CertificateAuthorities {
			check(n.Name, c)
		}
		certsOf := append([]certs.Info(nil), n.Certificates...)
		if k := n.Kubelet; k != nil && k.ClientCertificate != nil {
			certsOf = append(certsOf, *k.ClientCertificate)
		}
		for _, c := range certsOf {
			if c.Missing || c.NotAfter.IsZero() {
				continue
			}
			if n.Role == names.RoleControlPlane || c.Name == "kubelet-client" {
				earliest(row(c.Name), c.NotAfter)
			}
			if !valid(c) {
				v.Problems = append(v.Problems, fmt.Sprintf("%s on node %s is still expired (%s)", c.Name, n.Name, c.NotAfter.UTC().Format(time.RFC3339)))
			} else if renewed[n.Name][c.Name] && c.NotAfter.Sub(now) < AboutAYear {
				v.Problems = append(v.Problems, fmt.Sprintf("%s on node %s was renewed but expires %s, not in about a year", c.Name, n.Name, c.NotAfter.UTC().Format(time.RFC3339)))
			}
		}
	}
	if b, a := before.KubeconfigCertificate, after.KubeconfigCertificate; a == nil {
		v.Problems = append(v.Problems, "the kubeconfig secret's client certificate could not be read")
	} else if !a.NotAfter.IsZero() {
		s := row(a.Name)
		if b != nil && !b.NotAfter.IsZero() {
			s.before = b.NotAfter
		}
		s.after = a.NotAfter
		if !valid(*a) {
			v.Problems = append(v.Problems, fmt.Sprintf("the client certificate of secret %s is still expired", a.Name))
		}
	}
	names := make([]string, 0, len(rows))
	for name := range rows {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		s := rows[name]
		v.Rows = append(v.Rows, rollout.Row{Certificate: name, Before: s.before, After: s.after, Later: !s.after.IsZero() && s.after.After(s.before)})
	}
	return v
}
