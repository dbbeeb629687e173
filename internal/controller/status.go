package controller

import (
	"context"
	"encoding/json"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tkgcert/tkgcert/internal/fleet"
	"github.com/tkgcert/tkgcert/internal/rollout"
)

// StatusAPIVersion versions the status annotation's document.
const StatusAPIVersion = "tkgcert.io/v1alpha1"

// The status annotation's conditions.
const (
	// ConditionCertificatesValid is False when certificates have expired
	// (reason Expired), Unknown when none could be read, True otherwise.
	ConditionCertificatesValid = "CertificatesValid"
	// ConditionRotationNeeded is True while a rotation is due, waiting,
	// blocked or under way; its reason is the state.
	ConditionRotationNeeded = "RotationNeeded"
	// ConditionRotating is True while a rollout is followed; afterwards
	// False with reason Succeeded or Failed.
	ConditionRotating = "Rotating"
)

// Rotation outcomes.
const (
	OutcomeSucceeded = "Succeeded"
	OutcomeFailed    = "Failed"
	// OutcomeObserved ends a rollout someone else started without a
	// rollout time (an upgrade, a scale): it finished by the
	// KubeadmControlPlane's counts. It is no rotation of tkgcert's, neither
	// success nor failure.
	OutcomeObserved = "Observed"
	// OutcomeGaveUp ends the following of someone else's rollout (or of a
	// KubeadmControlPlane whose status never settles) after the rollout
	// timeout: its rotation slot is released, and it is not followed again.
	OutcomeGaveUp = "GaveUp"
)

// ClusterStatus is the controller's account of a cluster, kept as JSON in
// the Cluster's tkgcert.io/status annotation. It is what survives a
// restart or a change of leader: the rollout being followed and the state
// whose change raises an Event.
type ClusterStatus struct {
	APIVersion string `json:"apiVersion"`
	State      State  `json:"state"`
	// Message says why, in a sentence.
	Message string `json:"message"`
	// EarliestExpiry is the earliest leaf certificate's NotAfter.
	EarliestExpiry *metav1.Time       `json:"earliestExpiry,omitempty"`
	Conditions     []metav1.Condition `json:"conditions,omitempty"`
	// Rotation is the last rollout the controller followed.
	Rotation *RotationRecord `json:"rotation,omitempty"`
}

// RotationRecord is a rollout the controller followed or follows.
type RotationRecord struct {
	// After is the rollout's time (rolloutAfter / rollout.after).
	After time.Time `json:"after"`
	// Triggered: the controller started it (false: it attached).
	Triggered bool `json:"triggered,omitempty"`
	// External: a rollout without a rollout time, started by someone else
	// (an upgrade, a scale, a KubeadmControlPlane whose status is missing
	// or stale). After is when the controller first saw it; it is judged
	// by the KubeadmControlPlane's up-to-date counts, not by machine ages.
	External bool `json:"external,omitempty"`
	// TimedOut: the rollout was still under way after the rollout timeout;
	// it is not followed again.
	TimedOut bool `json:"timedOut,omitempty"`
	// Outcome is empty while under way, then Succeeded or Failed.
	Outcome string `json:"outcome,omitempty"`
	Message string `json:"message,omitempty"`
	// Baseline is what the rollout is verified against (dropped once it
	// concluded).
	Baseline *rollout.Baseline `json:"baseline,omitempty"`
}

// DeepCopy copies the status (nil stays nil... as an empty status).
func (s *ClusterStatus) DeepCopy() *ClusterStatus {
	out := &ClusterStatus{APIVersion: StatusAPIVersion}
	if s == nil {
		return out
	}
	b, _ := json.Marshal(s)
	_ = json.Unmarshal(b, out)
	return out
}

// ParseStatus reads a status annotation. Text that is not the versioned
// document (an older controller's "<State>: <reason>") reads as no status.
func ParseStatus(s string) (*ClusterStatus, bool) {
	st := &ClusterStatus{}
	if err := json.Unmarshal([]byte(s), st); err != nil || st.APIVersion != StatusAPIVersion {
		return &ClusterStatus{APIVersion: StatusAPIVersion}, false
	}
	return st, true
}

func readStatus(cl *fleet.Cluster) *ClusterStatus {
	st, _ := ParseStatus(cl.Annotations[StatusAnnotation])
	return st
}

// maxMessage bounds the status messages (a preflight refusal can list many
// problems).
const maxMessage = 1024

// set records the decision: state, message, earliest expiry, conditions.
func (s *ClusterStatus) set(d Decision, now time.Time) {
	d.Reason = truncate(d.Reason, maxMessage)
	s.APIVersion, s.State, s.Message = StatusAPIVersion, d.State, d.Reason
	s.EarliestExpiry = nil
	if !d.Earliest.IsZero() {
		t := metav1.NewTime(d.Earliest.UTC())
		s.EarliestExpiry = &t
	}
	at := metav1.NewTime(now.UTC().Truncate(time.Second))
	valid := metav1.Condition{Type: ConditionCertificatesValid, Status: metav1.ConditionTrue, Reason: string(d.State), Message: d.Reason, LastTransitionTime: at}
	switch d.State {
	case Expired:
		valid.Status = metav1.ConditionFalse
	case Unknown:
		valid.Status = metav1.ConditionUnknown
	}
	meta.SetStatusCondition(&s.Conditions, valid)
	needed := metav1.Condition{Type: ConditionRotationNeeded, Status: metav1.ConditionFalse, Reason: string(d.State), Message: d.Reason, LastTransitionTime: at}
	switch d.State {
	case RotationDue, WaitingForWindow, RotationBlocked, Rotating:
		needed.Status = metav1.ConditionTrue
	}
	meta.SetStatusCondition(&s.Conditions, needed)
	if r := s.Rotation; r != nil {
		c := metav1.Condition{Type: ConditionRotating, Status: metav1.ConditionTrue, Reason: "Attached", LastTransitionTime: at,
			Message: "following the rollout after " + r.After.UTC().Format(time.RFC3339)}
		if r.Triggered {
			c.Reason = "Triggered"
		}
		if r.Outcome != "" {
			c.Status, c.Reason, c.Message = metav1.ConditionFalse, r.Outcome, truncate(r.Message, maxMessage)
		}
		meta.SetStatusCondition(&s.Conditions, c)
	}
}

// Annotation is the status as the annotation's value.
func (s *ClusterStatus) Annotation() string {
	b, _ := json.Marshal(s)
	return string(b)
}

// transitionEvents are the Events recorded when a cluster enters a state.
// Rotations record their own (triggered, succeeded, failed).
var transitionEvents = map[State]struct{ typ, reason string }{
	Expired:          {corev1.EventTypeWarning, "CertificatesExpired"},
	RotationBlocked:  {corev1.EventTypeWarning, "CertificateRotationBlocked"},
	WaitingForWindow: {corev1.EventTypeNormal, "CertificateRotationWaiting"},
	RotatedRecently:  {corev1.EventTypeNormal, "CertificateRotationDeferred"},
	Unknown:          {corev1.EventTypeWarning, "CertificatesUnreadable"},
}

// publish writes the status annotation when it changed, and records an
// Event when the cluster entered a state users must hear of. The previous
// state is read back from the annotation, so a restarted controller does
// not repeat Events. A dry run writes nothing.
func (c *Reconciler) publish(ctx context.Context, log logr.Logger, cl *fleet.Cluster, prev, next *ClusterStatus, d Decision) {
	if c.o.DryRun {
		return
	}
	value := next.Annotation()
	if cl.Annotations[StatusAnnotation] == value {
		return
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{StatusAnnotation: value}}})
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("cluster.x-k8s.io/" + string(cl.APIVersion))
	u.SetKind("Cluster")
	u.SetNamespace(cl.Namespace)
	u.SetName(cl.Name)
	if err := c.reader.Client().Patch(ctx, u, client.RawPatch(types.MergePatchType, patch)); err != nil {
		log.Error(err, "Writing the status annotation")
		return
	}
	if prev.State == d.State {
		return
	}
	if ev, ok := transitionEvents[d.State]; ok {
		c.event(cl, ev.typ, ev.reason, d.Reason)
	}
}

// event records an Event on the Cluster through the recorder (none in a
// dry run).
func (c *Reconciler) event(cl *fleet.Cluster, typ, reason, msg string) {
	if c.o.DryRun || c.recorder == nil {
		return
	}
	ref := &corev1.ObjectReference{APIVersion: "cluster.x-k8s.io/" + string(cl.APIVersion), Kind: "Cluster",
		Namespace: cl.Namespace, Name: cl.Name, UID: types.UID(cl.UID)}
	c.recorder.Eventf(ref, nil, typ, reason, reason, "%s", truncate(msg, maxMessage))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}
