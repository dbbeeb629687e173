package rollout

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tkgcert/tkgcert/internal/capi"
	"github.com/tkgcert/tkgcert/internal/event"
	"github.com/tkgcert/tkgcert/internal/fleet"
)

// Annotations tkgcert leaves on a KubeadmControlPlane it rotated.
const (
	RotatedAtAnnotation = "tkgcert.io/rotated-at"
	RotatedByAnnotation = "tkgcert.io/rotated-by"
)

// ErrConflict means someone else changed the KubeadmControlPlane between
// reading it and patching it: typically another rotation of the same cluster.
var ErrConflict = errors.New("the KubeadmControlPlane changed while triggering")

// Patch builds the merge patch that triggers a rollout at `at`: the rollout
// field of the served version, the audit annotations, and the resource
// version it was planned against (a merge patch carrying resourceVersion
// fails with a conflict when the object changed: optimistic concurrency).
func Patch(v capi.APIVersion, resourceVersion string, at time.Time, by string) ([]byte, error) {
	stamp := at.UTC().Format(time.RFC3339)
	spec := map[string]any{}
	if v == capi.V1Beta1 {
		spec["rolloutAfter"] = stamp
	} else {
		spec["rollout"] = map[string]any{"after": stamp}
	}
	meta := map[string]any{"annotations": map[string]any{RotatedAtAnnotation: stamp, RotatedByAnnotation: by}}
	if resourceVersion != "" {
		meta["resourceVersion"] = resourceVersion
	}
	return json.Marshal(map[string]any{"metadata": meta, "spec": spec})
}

// Trigger patches the cluster's KubeadmControlPlane and records an Event.
func Trigger(ctx context.Context, c client.Client, cl *fleet.Cluster, at time.Time, by string) error {
	data, err := Patch(cl.APIVersion, cl.ControlPlane.ResourceVersion, at, by)
	if err != nil {
		return err
	}
	u := &unstructured.Unstructured{}
	u.SetAPIVersion(fleet.ControlPlaneGroup + "/" + string(cl.APIVersion))
	u.SetKind("KubeadmControlPlane")
	u.SetNamespace(cl.Namespace)
	u.SetName(cl.ControlPlane.Name)
	if err := c.Patch(ctx, u, client.RawPatch(types.MergePatchType, data)); err != nil {
		if apierrors.IsConflict(err) {
			return ErrConflict
		}
		return fmt.Errorf("patching KubeadmControlPlane %s/%s: %w", cl.Namespace, cl.ControlPlane.Name, err)
	}
	ref := corev1.ObjectReference{APIVersion: u.GetAPIVersion(), Kind: "KubeadmControlPlane",
		Namespace: cl.Namespace, Name: cl.ControlPlane.Name, UID: u.GetUID(), ResourceVersion: u.GetResourceVersion()}
	msg := fmt.Sprintf("tkgcert set %s to %s to renew the control plane's certificates (requested by %s)", rolloutField(cl.APIVersion), at.UTC().Format(time.RFC3339), by)
	if err := event.Record(ctx, c, ref, corev1.EventTypeNormal, "CertificateRotationTriggered", msg, at); err != nil {
		// The rollout is triggered; a missing Event must not fail it.
		return &EventError{Err: err}
	}
	return nil
}

// EventError reports that the rollout was triggered but its Event could not
// be recorded.
type EventError struct{ Err error }

func (e *EventError) Error() string { return "recording the rotation Event: " + e.Err.Error() }

func rolloutField(v capi.APIVersion) string {
	if v == capi.V1Beta1 {
		return "spec.rolloutAfter"
	}
	return "spec.rollout.after"
}

// TriggerWorkers sets rolloutAfter (v1beta1) or rollout.after (v1beta2) on
// every MachineDeployment of the cluster, with optimistic concurrency.
func TriggerWorkers(ctx context.Context, c client.Client, cl *fleet.Cluster, at time.Time, by string) error {
	for _, md := range cl.MachineDeployments {
		data, err := Patch(cl.APIVersion, md.ResourceVersion, at, by)
		if err != nil {
			return err
		}
		u := &unstructured.Unstructured{}
		u.SetAPIVersion("cluster.x-k8s.io/" + string(cl.APIVersion))
		u.SetKind("MachineDeployment")
		u.SetNamespace(cl.Namespace)
		u.SetName(md.Name)
		if err := c.Patch(ctx, u, client.RawPatch(types.MergePatchType, data)); err != nil {
			if apierrors.IsConflict(err) {
				return ErrConflict
			}
			return fmt.Errorf("patching MachineDeployment %s/%s: %w", cl.Namespace, md.Name, err)
		}
	}
	return nil
}

// LastRotation returns when tkgcert last triggered a rollout of the
// cluster's control plane (its RotatedAtAnnotation), if it ever did.
func LastRotation(cl *fleet.Cluster) (time.Time, bool) {
	t, err := time.Parse(time.RFC3339, cl.ControlPlane.Annotations[RotatedAtAnnotation])
	return t, err == nil
}
