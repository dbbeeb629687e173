package rollout

import (
	"context"
	"fmt"
	"strings"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tkgcert/tkgcert/internal/fleet"
	"github.com/tkgcert/tkgcert/internal/inventory"
)

// Problem is one reason not to rotate, with what to do about it.
type Problem struct {
	Reason, Hint string
}

func (p Problem) String() string {
	if p.Hint == "" {
		return p.Reason
	}
	return p.Reason + ": " + p.Hint
}

// InProgress reports whether the cluster's control plane is already rolling
// out (or about to: a past rolloutAfter that some machine predates).
func InProgress(cl *fleet.Cluster, now time.Time) bool {
	if cl.RolloutInProgress() {
		return true
	}
	for _, m := range cl.ControlPlaneMachines() {
		if cl.Outdated(m, now) {
			return true
		}
	}
	return false
}

// Preflight lists the reasons not to start a rollout now. before is the
// cluster's inventory, read just before. A rollout already in progress is
// not a problem: the caller attaches to it, and only expired certificates
// and pausing (which would keep it from finishing) are checked then.
func Preflight(ctx context.Context, c client.Client, cl *fleet.Cluster, before *inventory.ClusterReport, now time.Time) []Problem {
	var ps []Problem
	ref := fmt.Sprintf("-n %s %s", cl.Namespace, cl.Name)
	if !cl.ControlPlane.Found {
		return []Problem{{Reason: "the cluster has no KubeadmControlPlane", Hint: "tkgcert rotates clusters with a kubeadm control plane only"}}
	}
	if expired := expiredCertificates(cl, before, now); len(expired) > 0 {
		ps = append(ps, Problem{
			Reason: "certificates have already expired: " + strings.Join(expired, ", "),
			Hint:   "a rolling replacement needs a working control plane; recover it first with `tkgcert recover " + ref + "`",
		})
	}
	if cl.Paused {
		ps = append(ps, Problem{Reason: "the Cluster is paused", Hint: "unpause it (spec.paused or the cluster.x-k8s.io/paused annotation) before rotating"})
	}
	if cl.ControlPlane.Paused {
		ps = append(ps, Problem{Reason: "the KubeadmControlPlane is paused", Hint: fmt.Sprintf("remove the annotation: kubectl annotate kcp -n %s %s %s-", cl.Namespace, cl.ControlPlane.Name, fleet.PausedAnnotation)})
	}
	if InProgress(cl, now) {
		// Attaching starts nothing: a machine still provisioning and the
		// transient health conditions of a rollout under way are expected,
		// and no patch is needed.
		return ps
	}
	{
		for _, m := range cl.ControlPlaneMachines() {
			if m.Phase != "Running" || m.NodeName == "" || m.Deleting {
				ps = append(ps, Problem{Reason: fmt.Sprintf("control-plane machine %s is %s (node %q)", m.Name, m.Phase, m.NodeName),
					Hint: "wait until every control-plane machine is Running with a node, or fix it first"})
			}
		}
		if n := len(cl.ControlPlaneMachines()); int32(n) != cl.ControlPlane.Replicas {
			ps = append(ps, Problem{Reason: fmt.Sprintf("the control plane has %d machines for %d replicas", n, cl.ControlPlane.Replicas), Hint: "wait until it has settled"})
		}
	}
	// A health condition that is not True blocks: Unknown means Cluster API
	// could not tell (an unreachable control plane, a controller that is
	// behind), which is no ground to replace machines on. A condition the
	// KubeadmControlPlane does not carry at all (etcd external) is no claim.
	for _, typ := range []string{"ControlPlaneComponentsHealthy", "EtcdClusterHealthy"} {
		if cond, ok := cl.ControlPlane.Condition(typ); ok && cond.Status != "True" {
			msg := cond.Reason
			if cond.Message != "" {
				msg += ": " + cond.Message
			}
			if msg == "" {
				msg = "no reason given"
			}
			hint := "fix the control plane's health before replacing its machines"
			if cond.Status != "False" {
				hint = "Cluster API cannot tell whether the control plane is healthy; find out why (kubectl describe kcp -n " + cl.Namespace + " " + cl.ControlPlane.Name + ") before replacing its machines"
			}
			ps = append(ps, Problem{Reason: fmt.Sprintf("the KubeadmControlPlane reports %s=%s (%s)", typ, cond.Status, msg), Hint: hint})
		}
	}
	if ok, err := canPatch(ctx, c, cl); err != nil {
		ps = append(ps, Problem{Reason: "checking permissions: " + err.Error()})
	} else if !ok {
		ps = append(ps, Problem{Reason: fmt.Sprintf("you may not patch kubeadmcontrolplanes in namespace %s", cl.Namespace),
			Hint: "ask for patch on kubeadmcontrolplanes.controlplane.cluster.x-k8s.io there (check with: kubectl auth can-i patch kcp -n " + cl.Namespace + ")"})
	}
	return ps
}

// expiredCertificates lists what has expired: certificates read from the
// nodes, and for a control-plane machine whose node gave no certificates,
// the certificatesExpiryDate Cluster API recorded for it.
func expiredCertificates(cl *fleet.Cluster, cr *inventory.ClusterReport, now time.Time) []string {
	out := cr.Expired(now)
	read := map[string]bool{}
	if cr != nil {
		for _, n := range cr.Nodes {
			if len(n.Certificates) > 0 {
				read[n.Name] = true
			}
		}
	}
	for _, m := range cl.ControlPlaneMachines() {
		if m.CertificatesExpiry == nil || m.CertificatesExpiry.After(now) || read[m.Name] || (m.NodeName != "" && read[m.NodeName]) {
			continue
		}
		out = append(out, fmt.Sprintf("machine %s (its certificatesExpiryDate %s; the node could not be read)", m.Name, m.CertificatesExpiry.UTC().Format(time.RFC3339)))
	}
	if len(out) > 5 {
		out = append(out[:5], fmt.Sprintf("and %d more", len(out)-5))
	}
	return out
}

// canPatch asks the Supervisor whether the caller may patch the KCP.
func canPatch(ctx context.Context, c client.Client, cl *fleet.Cluster) (bool, error) {
	r := &authorizationv1.SelfSubjectAccessReview{Spec: authorizationv1.SelfSubjectAccessReviewSpec{
		ResourceAttributes: &authorizationv1.ResourceAttributes{
			Namespace: cl.Namespace, Verb: "patch", Group: fleet.ControlPlaneGroup,
			Resource: "kubeadmcontrolplanes", Name: cl.ControlPlane.Name,
		},
	}}
	if err := c.Create(ctx, r); err != nil {
		return false, err
	}
	return r.Status.Allowed, nil
}
