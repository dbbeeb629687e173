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

// Finding is one certificate of a report, graded.
type Finding struct {
	Located
	Status Status
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

// Evaluate classifies every certificate of the report (missing ones are
// not findings) and counts the errors.
func Evaluate(r *Report, warn, critical time.Duration) Verdict {
	var v Verdict
	for l := range r.All() {
		if !l.Certificate.Present() {
			continue
		}
		f := Finding{Located: l, Status: StatusOK}
		switch left := f.Residual(); {
		case left <= 0:
			f.Status = StatusExpired
		case left <= critical:
			f.Status = StatusCritical
		case left <= warn:
			f.Status = StatusWarning
		}
		v.Findings = append(v.Findings, f)
	}
	v.Errors = errorCount(r)
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

// errorCount counts the report's errors: the Supervisors that could not
// be read, the Supervisor section's and its
// endpoints', each cluster's and each node's.
func errorCount(r *Report) int {
	n := 0
	for _, s := range r.Supervisors {
		if s.Error != "" {
			n++
		}
	}
	if s := r.Supervisor; s != nil {
		n += len(s.Errors)
		for _, ep := range s.Endpoints {
			n += len(ep.Errors)
		}
	}
	for _, cl := range r.Clusters {
		n += len(cl.Errors)
		for _, node := range cl.Nodes {
			n += len(node.Errors)
		}
	}
	return n
}
