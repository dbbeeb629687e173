package inventory

import (
	"fmt"
	"sort"
	"time"
)

// Exit codes of `tkgcert check`, for monitoring.
const (
	ExitOK         = 0
	ExitIncomplete = 1 // the check could not be completed for some cluster or node
	ExitWarning    = 2 // some certificate expires within the warning threshold
	ExitCritical   = 3 // some certificate expires within the critical threshold, or has expired
)

// Status of one certificate against the thresholds.
type Status string

// Statuses, least to most severe.
const (
	StatusOK       Status = "OK"
	StatusWarning  Status = "WARNING"
	StatusCritical Status = "CRITICAL"
	StatusExpired  Status = "EXPIRED"
)

// Finding is one certificate with where it lives.
type Finding struct {
	Namespace, Cluster string
	// Node is empty for the Supervisor's secrets.
	Node        string
	Certificate Certificate
	// Kind is "certificate", "ca", "kubelet-client" or "kubeconfig-secret";
	// for the Supervisor's section "endpoint" or "vmca-root".
	Kind   string
	Status Status
	// Endpoint is the Supervisor section's endpoint (nil otherwise): its
	// address, role, trust domain and rotation path.
	Endpoint *EndpointReport
}

// Residual is the time left.
func (f Finding) Residual() time.Duration {
	return time.Duration(f.Certificate.ResidualSeconds) * time.Second
}

// Verdict summarises a report against thresholds.
type Verdict struct {
	// Findings lists every certificate, soonest expiry first.
	Findings []Finding
	// Errors counts per-cluster and per-node errors.
	Errors int
	// Code is the exit code: critical (3) before warning (2) before
	// incomplete (1).
	Code int
}

// Evaluate classifies every certificate of the report.
func Evaluate(r *Report, warn, critical time.Duration) Verdict {
	var v Verdict
	grade := func(f Finding) {
		left := f.Residual()
		switch {
		case left <= 0:
			f.Status = StatusExpired
		case left <= critical:
			f.Status = StatusCritical
		case left <= warn:
			f.Status = StatusWarning
		default:
			f.Status = StatusOK
		}
		v.Findings = append(v.Findings, f)
	}
	add := func(cl *ClusterReport, node, kind string, c Certificate) {
		if c.Missing || c.NotAfter == nil {
			return
		}
		grade(Finding{Namespace: cl.Namespace, Cluster: cl.Name, Node: node, Certificate: c, Kind: kind})
	}
	if s := r.Supervisor; s != nil {
		v.Errors += len(s.Errors)
		for _, c := range s.VMCARoots {
			if c.NotAfter != nil {
				grade(Finding{Node: "vmca-root", Certificate: c, Kind: "vmca-root"})
			}
		}
		for i := range s.Endpoints {
			ep := &s.Endpoints[i]
			v.Errors += len(ep.Errors)
			if ep.Certificate != nil && ep.Certificate.NotAfter != nil {
				grade(Finding{Node: ep.Name, Certificate: *ep.Certificate, Kind: "endpoint", Endpoint: ep})
			}
		}
	}
	for i := range r.Clusters {
		cl := &r.Clusters[i]
		v.Errors += len(cl.Errors)
		for _, c := range cl.CertificateAuthorities {
			add(cl, "", "ca", c)
		}
		if cl.KubeconfigCertificate != nil {
			add(cl, "", "kubeconfig-secret", *cl.KubeconfigCertificate)
		}
		for _, n := range cl.Nodes {
			v.Errors += len(n.Errors)
			for _, c := range n.Certificates {
				add(cl, n.Name, "certificate", c)
			}
			for _, c := range n.CertificateAuthorities {
				add(cl, n.Name, "ca", c)
			}
			if n.Kubelet != nil && n.Kubelet.ClientCertificate != nil {
				add(cl, n.Name, "kubelet-client", *n.Kubelet.ClientCertificate)
			}
		}
	}
	sort.SliceStable(v.Findings, func(i, j int) bool {
		return v.Findings[i].Certificate.ResidualSeconds < v.Findings[j].Certificate.ResidualSeconds
	})
	worst := StatusOK
	for _, f := range v.Findings {
		if rank(f.Status) > rank(worst) {
			worst = f.Status
		}
	}
	switch {
	case worst == StatusExpired || worst == StatusCritical:
		v.Code = ExitCritical
	case worst == StatusWarning:
		v.Code = ExitWarning
	case v.Errors > 0:
		v.Code = ExitIncomplete
	}
	return v
}

func rank(s Status) int {
	switch s {
	case StatusWarning:
		return 1
	case StatusCritical:
		return 2
	case StatusExpired:
		return 3
	}
	return 0
}

// Count returns how many findings have the status.
func (v Verdict) Count(s Status) int {
	n := 0
	for _, f := range v.Findings {
		if f.Status == s {
			n++
		}
	}
	return n
}

// Summary is a one-line description of the verdict.
func (v Verdict) Summary() string {
	return fmt.Sprintf("%d certificates: %d expired, %d critical, %d warning; %d errors",
		len(v.Findings), v.Count(StatusExpired), v.Count(StatusCritical), v.Count(StatusWarning), v.Errors)
}
