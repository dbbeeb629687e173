package report

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"sigs.k8s.io/yaml"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/certs/names"
	"github.com/tkgcert/tkgcert/internal/inventory"
	"github.com/tkgcert/tkgcert/internal/printer"
	"github.com/tkgcert/tkgcert/internal/supervisor"
	"github.com/tkgcert/tkgcert/internal/trust"
)

// Format is an output format.
type Format string

// Output formats.
const (
	Table Format = "table"
	JSON  Format = "json"
	YAML  Format = "yaml"
)

// ParseFormat validates -o.
func ParseFormat(s string) (Format, error) {
	switch Format(s) {
	case Table, JSON, YAML:
		return Format(s), nil
	case "":
		return Table, nil
	}
	return "", fmt.Errorf("unknown output format %q: use table, json or yaml", s)
}

// Document writes v as indented JSON or YAML.
func Document(w io.Writer, f Format, v any) error {
	if f == YAML {
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// Style colours statuses when writing to a terminal.
type Style struct{ Color bool }

func (s Style) status(st inventory.Status) string {
	if !s.Color {
		return string(st)
	}
	code := "32" // green
	switch st {
	case inventory.StatusWarning:
		code = "33"
	case inventory.StatusCritical, inventory.StatusExpired:
		code = "31"
	}
	return "\x1b[" + code + "m" + string(st) + "\x1b[0m"
}

// CheckTable writes the report for people: per cluster, the Supervisor's
// secrets; per node, kubeadm's two tables exactly as kubeadm prints them and
// the kubelet's state; then the fleet summary.
func CheckTable(w io.Writer, r *inventory.Report, v inventory.Verdict, now time.Time, s Style) error {
	for _, cl := range r.Clusters {
		fmt.Fprintf(w, "=== Cluster %s%s/%s (Cluster API %s, phase %s", supPrefix(cl.Supervisor), cl.Namespace, cl.Name, cl.ClusterAPIVersion, cl.Phase)
		if cl.RolloutInProgress {
			fmt.Fprint(w, ", rollout in progress")
		}
		fmt.Fprintln(w, ")")
		fmt.Fprintln(w)
		tw := printer.NewTable(w)
		fmt.Fprintln(tw, "SUPERVISOR SECRET\tCERTIFICATE\tEXPIRES\tRESIDUAL TIME")
		for _, c := range cl.CertificateAuthorities {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", names.SecretName(cl.Name, c.Name), c.Name, date(c), residual(c, now))
		}
		if k := cl.KubeconfigCertificate; k != nil {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Name, "client (admin kubeconfig)", date(*k), residual(*k, now))
		}
		tw.Flush()
		for _, e := range cl.Errors {
			fmt.Fprintf(w, "error: %s\n", e)
		}
		for _, n := range cl.Nodes {
			fmt.Fprintf(w, "\n--- Node %s (%s, %s)\n", n.Name, n.Address, n.Role)
			switch {
			case len(n.Certificates) > 0:
				fmt.Fprintln(w)
				if err := certs.WriteText(w, n.Expiration(), now); err != nil {
					return err
				}
			case len(n.CertificateAuthorities) > 0:
				// A worker carries only the cluster CA's certificate.
				for _, c := range n.CertificateAuthorities {
					fmt.Fprintf(w, "\n%s certificate (/etc/kubernetes/pki/ca.crt) expires %s (%s)\n", c.Name, date(c), residual(c, now))
				}
			}
			if k := n.Kubelet; k != nil {
				rot := "unknown"
				if k.RotateCertificates != nil {
					rot = fmt.Sprint(*k.RotateCertificates)
				}
				line := "\nkubelet: rotateCertificates: " + rot
				if c := k.ClientCertificate; c != nil {
					line += fmt.Sprintf("; client certificate expires %s (%s)", date(*c), residual(*c, now))
				}
				fmt.Fprintln(w, line)
			}
			for _, e := range n.Errors {
				fmt.Fprintf(w, "error: %s\n", e)
			}
		}
		fmt.Fprintln(w)
	}
	for _, sup := range r.Supervisors {
		if sup.Error != "" {
			fmt.Fprintf(w, "=== Supervisor %s\nerror: %s\n\n", sup.Context, sup.Error)
		}
	}
	return summary(w, v, r.Supervisors, s)
}

// Summary writes the fleet summary: per cluster its soonest-expiring
// certificate, soonest first, and the totals.
func Summary(w io.Writer, v inventory.Verdict, s Style) error { return summary(w, v, nil, s) }

// summary is Summary over several Supervisors: a SUPERVISOR column, and a
// row for each Supervisor that could not be read.
func summary(w io.Writer, v inventory.Verdict, runs []inventory.SupervisorRun, s Style) error {
	multi := len(runs) > 0
	type row struct {
		f     inventory.Finding
		worst inventory.Status
	}
	seen := map[string]bool{}
	var rows []row
	for _, f := range v.Findings { // soonest first
		k := clusterID(f.Supervisor, f.Namespace, f.Cluster)
		if seen[k] {
			continue
		}
		seen[k] = true
		rows = append(rows, row{f: f, worst: f.Status})
	}
	tw := printer.NewTable(w)
	if multi {
		fmt.Fprint(tw, "SUPERVISOR\t")
	}
	fmt.Fprintln(tw, "NAMESPACE\tCLUSTER\tEARLIEST EXPIRY\tRESIDUAL TIME\tCERTIFICATE\tWHERE\tSTATUS")
	for _, r := range rows {
		where := "Supervisor secret"
		if r.f.Node != "" {
			where = r.f.Node
		}
		c := r.f.Certificate
		if multi {
			fmt.Fprintf(tw, "%s\t", r.f.Supervisor)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.f.Namespace, r.f.Cluster, date(c), certs.ResidualTime(r.f.Residual()), c.Name, where, s.status(r.worst))
	}
	for _, run := range runs {
		if run.Error != "" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\t-\t-\t-\t%s\n", run.Context, StatusError)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	_, err := fmt.Fprintf(w, "\n%s\n", v.Summary())
	return err
}

func date(c certs.Info) string {
	if c.NotAfter.IsZero() {
		return "-"
	}
	return c.NotAfter.UTC().Format(certs.DateLayout)
}

func residual(c certs.Info, now time.Time) string {
	if c.NotAfter.IsZero() {
		return "-"
	}
	return certs.ResidualTime(c.NotAfter.Sub(now))
}

// SupervisorTable writes the Supervisor section for people: one row per
// endpoint with its trust domain and chain, the errors, the rotation path
// of every certificate near expiry, and the summary.
func SupervisorTable(w io.Writer, r *inventory.Report, v inventory.Verdict, now time.Time, s Style) error {
	sup := r.Supervisor
	if sup == nil {
		return fmt.Errorf("the report has no Supervisor section")
	}
	title := "=== Supervisor and vCenter trust domain"
	if sup.Server != "" {
		title += " (Supervisor API " + sup.Server + ")"
	}
	fmt.Fprintln(w, title)
	for _, c := range sup.VMCARoots {
		fmt.Fprintf(w, "VMCA root (--vmca-root): %s, expires %s (%s)\n", c.Subject, date(c), residual(c, now))
	}
	fmt.Fprintln(w)
	if err := endpointTable(w, sup, v, now, s); err != nil {
		return err
	}
	for _, e := range sup.Errors {
		fmt.Fprintf(w, "error: %s\n", e)
	}
	for _, ep := range sup.Endpoints {
		for _, e := range ep.Errors {
			fmt.Fprintf(w, "error: %s\n", e)
		}
	}
	notIssuedAsExpected(w, sup)
	toRenew(w, v, s)
	_, err := fmt.Fprintf(w, "\n%s\n", v.Summary())
	return err
}

// endpointTable writes one row per endpoint, with the status its finding
// got (ERROR for an endpoint that could not be read).
func endpointTable(w io.Writer, sup *supervisor.Report, v inventory.Verdict, now time.Time, s Style) error {
	status := map[*supervisor.Endpoint]inventory.Status{}
	for _, f := range v.Findings {
		if f.Endpoint != nil {
			status[f.Endpoint] = f.Status
		}
	}
	tw := printer.NewTable(w)
	fmt.Fprintln(tw, "NAME\tROLE\tENDPOINT\tCERTIFICATE\tEXPIRES\tRESIDUAL TIME\tTRUST DOMAIN\tISSUER/CA\tCHAIN\tSANS\tSTATUS")
	for i := range sup.Endpoints {
		ep := &sup.Endpoints[i]
		if ep.Certificate == nil {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t-\t-\t-\t-\t-\t-\tERROR\n", ep.Name, ep.Role, ep.Where(), ep.Service)
			continue
		}
		c := *ep.Certificate
		domain, ca, chain := "-", "-", "-"
		if t := ep.Trust; t != nil {
			domain, ca, chain = string(t.Domain), shortCA(t), shortChain(t.ChainStatus)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", ep.Name, ep.Role, ep.Where(), ep.Service,
			date(c), residual(c, now), domain, ca, chain, sans(ep), s.status(status[ep]))
	}
	return tw.Flush()
}

// notIssuedAsExpected lists the certificates outside both trust domains and
// the chains that do not verify.
func notIssuedAsExpected(w io.Writer, sup *supervisor.Report) {
	var notes []string
	for _, ep := range sup.Endpoints {
		t := ep.Trust
		switch {
		case t == nil:
		case t.Domain == trust.Other:
			notes = append(notes, fmt.Sprintf("  %s %s (%s) is outside both trust domains: %s", ep.Name, ep.Service, ep.Where(), t.CA))
		case strings.HasPrefix(t.ChainStatus, "invalid"):
			notes = append(notes, fmt.Sprintf("  %s %s (%s): chain %s", ep.Name, ep.Service, ep.Where(), t.ChainStatus))
		}
	}
	if len(notes) > 0 {
		fmt.Fprintln(w, "\nNot issued as expected:")
		for _, n := range notes {
			fmt.Fprintln(w, n)
		}
	}
}

// toRenew lists the endpoints' certificates that are not OK, soonest
// first, with how each is renewed.
func toRenew(w io.Writer, v inventory.Verdict, s Style) {
	var todo []inventory.Finding
	for _, f := range v.Findings {
		if f.Status != inventory.StatusOK && f.Endpoint != nil {
			todo = append(todo, f)
		}
	}
	if len(todo) > 0 {
		fmt.Fprintln(w, "\nTo renew (soonest first):")
		for _, f := range todo {
			fmt.Fprintf(w, "  %s %s (%s, %s, %s): %s\n", f.Endpoint.Name, f.Endpoint.Service, f.Endpoint.Where(),
				s.status(f.Status), certs.ResidualTime(f.Residual()), f.Endpoint.Rotation)
		}
	}
}

// shortCA names the issuer in a table cell.
func shortCA(t *trust.Result) string {
	switch t.Method {
	case trust.ByVMCARoot:
		return "VMCA (verified by --vmca-root)"
	case trust.ByVMCAIssuer:
		return "VMCA (by issuer name)"
	case trust.BySupervisorCA:
		return "Supervisor CA"
	case trust.ByClusterCA:
		return "TKG " + t.Namespace + "/" + t.Cluster + " " + strings.TrimPrefix(t.CA, "TKG cluster "+t.Namespace+"/"+t.Cluster+" ")
	}
	return t.CA
}

func shortChain(status string) string {
	head, _, _ := strings.Cut(status, ":")
	return head
}

func sans(ep *supervisor.Endpoint) string {
	all := append(append([]string(nil), ep.DNSNames...), ep.IPAddresses...)
	if len(all) == 0 {
		return "-"
	}
	// The table shows the first few; -o json has them all.
	if len(all) > 3 {
		return strings.Join(all[:3], ",") + fmt.Sprintf(",+%d", len(all)-3)
	}
	return strings.Join(all, ",")
}
