package controller

import (
	"fmt"
	"strings"
	"time"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/duration"
	"github.com/tkgcert/tkgcert/internal/fleet"
	"github.com/tkgcert/tkgcert/internal/inventory"
	"github.com/tkgcert/tkgcert/internal/rollout"
)

// Annotations on a Cluster that the controller reads and writes.
const (
	// AutoRotateAnnotation set to "false" opts the cluster out of automatic
	// rotation; it is still inventoried, exported and alerted on.
	AutoRotateAnnotation = "tkgcert.io/auto-rotate"
	// RotateBeforeAnnotation overrides --rotate-before for the cluster
	// ("60d", "720h").
	RotateBeforeAnnotation = "tkgcert.io/rotate-before"
	// StatusAnnotation is the controller's short account of the cluster.
	StatusAnnotation = "tkgcert.io/status"
)

// State is what the controller makes of a cluster.
type State string

// The states, in the status annotation and the tkgcert_cluster_state metric.
const (
	// Healthy: every leaf certificate is valid for longer than the threshold.
	Healthy State = "Healthy"
	// RotationDue: a rotation should start now (subject to the concurrency
	// bound and preflight).
	RotationDue State = "RotationDue"
	// WaitingForWindow: a rotation is due but the maintenance window is closed.
	WaitingForWindow State = "WaitingForWindow"
	// Rotating: a control-plane rollout is under way.
	Rotating State = "Rotating"
	// RotationBlocked: a rotation is due but preflight refused it, or the
	// cluster's annotations are invalid.
	RotationBlocked State = "RotationBlocked"
	// Expired: certificates have expired; a rolling rotation cannot help
	// (use `tkgcert recover`).
	Expired State = "Expired"
	// RotatedRecently: a rotation would be due, but tkgcert rotated the
	// cluster less than the policy's MinInterval ago (the threshold is
	// longer than the certificates' lifetime, or the last rotation did not
	// renew them): it is not rotated again before then.
	RotatedRecently State = "RotatedRecently"
	// OptedOut: automatic rotation is off for this cluster.
	OptedOut State = "OptedOut"
	// Unknown: no certificate could be read.
	Unknown State = "Unknown"
)

// States lists every state, for metrics.
var States = []State{Healthy, RotationDue, WaitingForWindow, Rotating, RotationBlocked, Expired, RotatedRecently, OptedOut, Unknown}

// Policy decides when a cluster is rotated.
type Policy struct {
	// RotateBefore: rotate when the earliest leaf certificate expires
	// within this time.
	RotateBefore time.Duration
	// Window, when set, is the only time rotations start.
	Window *Window
	// MinInterval is the least time between two rotations of a cluster.
	MinInterval time.Duration
}

// Decision is the policy's verdict on one cluster.
type Decision struct {
	State State
	// Reason says why, in a sentence for the status annotation and Events.
	Reason string
	// Earliest is the earliest leaf certificate's expiry (zero if unknown),
	// EarliestName names it.
	Earliest     time.Time
	EarliestName string
	// Threshold is the RotateBefore that applies to the cluster.
	Threshold time.Duration
}

// Decide applies the policy to a cluster and its inventory at now. It does
// not run preflight: RotationDue means "due and allowed by the policy".
func (p Policy) Decide(cl *fleet.Cluster, cr *inventory.ClusterReport, now time.Time) Decision {
	d := Decision{Threshold: p.RotateBefore}
	if name, at, ok := cr.EarliestLeaf(); ok {
		d.EarliestName, d.Earliest = name, at
	} else if at, ok := cl.EarliestMachineExpiry(); ok {
		// No node could be read: the Supervisor's own record of the
		// control-plane certificates still tells when they expire.
		d.EarliestName, d.Earliest = "control-plane certificates (Machine status)", at
	}
	if rollout.InProgress(cl, now) {
		d.State, d.Reason = Rotating, "a control-plane rollout is under way"
		return d
	}
	if expired := cr.Expired(now); len(expired) > 0 {
		if len(expired) > 3 {
			expired = append(expired[:3], fmt.Sprintf("and %d more", len(expired)-3))
		}
		d.State = Expired
		d.Reason = fmt.Sprintf("certificates have expired (%s); a rolling rotation cannot help: run `tkgcert recover -n %s %s`",
			strings.Join(expired, ", "), cl.Namespace, cl.Name)
		return d
	}
	if v, ok := cl.Annotations[RotateBeforeAnnotation]; ok {
		t, err := duration.Parse(v)
		if err != nil {
			d.State = RotationBlocked
			d.Reason = fmt.Sprintf("annotation %s: %v; fix or remove it", RotateBeforeAnnotation, err)
			return d
		}
		d.Threshold = t
	}
	if d.Earliest.IsZero() {
		d.State, d.Reason = Unknown, "no certificate could be read (see the check errors)"
		return d
	}
	left := d.Earliest.Sub(now)
	expires := fmt.Sprintf("earliest certificate expires %s (%s)", d.Earliest.UTC().Format(time.RFC3339), d.EarliestName)
	switch v := cl.Annotations[AutoRotateAnnotation]; {
	case strings.EqualFold(v, "false"):
		d.State, d.Reason = OptedOut, fmt.Sprintf("automatic rotation is off (%s=false); %s", AutoRotateAnnotation, expires)
		return d
	case v != "" && !strings.EqualFold(v, "true"):
		d.State = RotationBlocked
		d.Reason = fmt.Sprintf("annotation %s=%q: want true or false; fix or remove it", AutoRotateAnnotation, v)
		return d
	}
	if left > d.Threshold {
		d.State = Healthy
		d.Reason = fmt.Sprintf("%s; rotation due at %s", expires, d.Earliest.Add(-d.Threshold).UTC().Format(time.RFC3339))
		return d
	}
	if last, ok := rollout.LastRotation(cl); ok && now.Sub(last) < p.MinInterval {
		d.State = RotatedRecently
		d.Reason = fmt.Sprintf("%s, within %s, but tkgcert rotated the cluster at %s: not again before %s",
			expires, duration.Format(d.Threshold), last.UTC().Format(time.RFC3339), last.Add(p.MinInterval).UTC().Format(time.RFC3339))
		return d
	}
	if p.Window != nil && !p.Window.Contains(now) {
		d.State = WaitingForWindow
		d.Reason = fmt.Sprintf("%s, within %s: rotation waits for the maintenance window %q, next at %s",
			expires, duration.Format(d.Threshold), p.Window, p.Window.Next(now).UTC().Format(time.RFC3339))
		return d
	}
	d.State = RotationDue
	d.Reason = fmt.Sprintf("%s, within %s (%s left)", expires, duration.Format(d.Threshold), certs.ResidualTime(left))
	return d
}
