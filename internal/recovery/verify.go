package recovery

import (
	"fmt"
	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/certs/names"
	"sort"
	"time"

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
	vr := &verifier{now: now, cas: casOf(before), renewed: renewedBy(res), rows: map[string]*span{}}
	for _, c := range after.CertificateAuthorities {
		vr.checkCA("Supervisor", c)
	}
	vr.latestBefore(before)
	for _, n := range after.Nodes {
		vr.checkNode(n)
	}
	vr.checkKubeconfig(before.KubeconfigCertificate, after.KubeconfigCertificate)
	vr.v.Rows = vr.table()
	return vr.v
}

// verifier collects Verify's problems and rows.
type verifier struct {
	v   rollout.Verification
	now time.Time
	// cas are the CAs before, by where/name.
	cas map[string]string
	// renewed are the certificates recovery renewed, by node and name.
	renewed map[string]map[string]bool
	rows    map[string]*span
}

// span is a certificate's latest expiry before and earliest after.
type span struct{ before, after time.Time }

// caKey identifies a CA by serial and end date.
func caKey(c certs.Info) string {
	if c.NotAfter.IsZero() {
		return c.SerialNumber
	}
	return c.SerialNumber + "/" + c.NotAfter.UTC().Format(time.RFC3339)
}

// casOf keys the Supervisor's and each node's CAs by where/name.
func casOf(r *inventory.ClusterReport) map[string]string {
	cas := map[string]string{}
	for _, c := range r.CertificateAuthorities {
		cas["Supervisor/"+c.Name] = caKey(c)
	}
	for _, n := range r.Nodes {
		for _, c := range n.CertificateAuthorities {
			cas[n.Name+"/"+c.Name] = caKey(c)
		}
	}
	return cas
}

// renewedBy lists what recovery renewed on the nodes it recovered.
func renewedBy(res *Result) map[string]map[string]bool {
	renewed := map[string]map[string]bool{}
	if res == nil {
		return renewed
	}
	for _, n := range res.Nodes {
		if n.Status == "recovered" {
			renewed[n.Name] = map[string]bool{}
			for _, c := range n.Renewed {
				renewed[n.Name][c] = true
			}
		}
	}
	return renewed
}

func (vr *verifier) problem(format string, args ...any) {
	vr.v.Problems = append(vr.v.Problems, fmt.Sprintf(format, args...))
}

func (vr *verifier) valid(c certs.Info) bool {
	return c.Missing || (!c.NotAfter.IsZero() && c.NotAfter.After(vr.now))
}

func (vr *verifier) checkCA(where string, c certs.Info) {
	if b, ok := vr.cas[where+"/"+c.Name]; ok && b != caKey(c) {
		vr.problem("CA %s on %s changed", c.Name, where)
	}
}

func (vr *verifier) row(name string) *span {
	if vr.rows[name] == nil {
		vr.rows[name] = &span{}
	}
	return vr.rows[name]
}

// latestBefore records each control-plane certificate's and the kubelets'
// latest expiry before recovery.
func (vr *verifier) latestBefore(before *inventory.ClusterReport) {
	for _, n := range before.Nodes {
		for _, c := range n.Certificates {
			if !c.NotAfter.IsZero() && n.Role == names.RoleControlPlane && c.NotAfter.After(vr.row(c.Name).before) {
				vr.row(c.Name).before = c.NotAfter
			}
		}
		if k := n.Kubelet; k != nil && k.ClientCertificate != nil && !k.ClientCertificate.NotAfter.IsZero() && k.ClientCertificate.NotAfter.After(vr.row("kubelet-client").before) {
			vr.row("kubelet-client").before = k.ClientCertificate.NotAfter
		}
	}
}

// checkNode checks one node after recovery: readable, its CAs unchanged,
// nothing expired, what was renewed valid for about a year.
func (vr *verifier) checkNode(n inventory.NodeReport) {
	if len(n.Errors) > 0 {
		vr.problem("node %s could not be verified: %v", n.Name, n.Errors)
	}
	for _, c := range n.CertificateAuthorities {
		vr.checkCA(n.Name, c)
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
			if s := vr.row(c.Name); s.after.IsZero() || c.NotAfter.Before(s.after) {
				s.after = c.NotAfter
			}
		}
		if !vr.valid(c) {
			vr.problem("%s on node %s is still expired (%s)", c.Name, n.Name, c.NotAfter.UTC().Format(time.RFC3339))
		} else if vr.renewed[n.Name][c.Name] && c.NotAfter.Sub(vr.now) < AboutAYear {
			vr.problem("%s on node %s was renewed but expires %s, not in about a year", c.Name, n.Name, c.NotAfter.UTC().Format(time.RFC3339))
		}
	}
}

// checkKubeconfig checks the kubeconfig secret's client certificate.
func (vr *verifier) checkKubeconfig(b, a *certs.Info) {
	if a == nil {
		vr.problem("the kubeconfig secret's client certificate could not be read")
		return
	}
	if a.NotAfter.IsZero() {
		return
	}
	s := vr.row(a.Name)
	if b != nil && !b.NotAfter.IsZero() {
		s.before = b.NotAfter
	}
	s.after = a.NotAfter
	if !vr.valid(*a) {
		vr.problem("the client certificate of secret %s is still expired", a.Name)
	}
}

// table is the rows in name order.
func (vr *verifier) table() []rollout.Row {
	names := make([]string, 0, len(vr.rows))
	for name := range vr.rows {
		names = append(names, name)
	}
	sort.Strings(names)
	var rows []rollout.Row
	for _, name := range names {
		s := vr.rows[name]
		rows = append(rows, rollout.Row{Certificate: name, Before: s.before, After: s.after, Later: !s.after.IsZero() && s.after.After(s.before)})
	}
	return rows
}
