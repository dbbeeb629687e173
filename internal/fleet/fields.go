package fleet

import (
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/tkgcert/tkgcert/internal/capi"
)

// PausedAnnotation pauses reconciliation of a Cluster API object.
const PausedAnnotation = "cluster.x-k8s.io/paused"

// Fields of Cluster API objects whose path differs between versions.

// RolloutAfterPath is spec.rolloutAfter (v1beta1) or spec.rollout.after (v1beta2).
func RolloutAfterPath(v capi.APIVersion) []string {
	if v == capi.V1Beta1 {
		return []string{"spec", "rolloutAfter"}
	}
	return []string{"spec", "rollout", "after"}
}

// RolloutBeforeDaysPath is spec.rolloutBefore.certificatesExpiryDays (v1beta1)
// or spec.rollout.before.certificatesExpiryDays (v1beta2).
func RolloutBeforeDaysPath(v capi.APIVersion) []string {
	if v == capi.V1Beta1 {
		return []string{"spec", "rolloutBefore", "certificatesExpiryDays"}
	}
	return []string{"spec", "rollout", "before", "certificatesExpiryDays"}
}

// RolloutAfter reads the rollout trigger time of a KCP or MachineDeployment.
func RolloutAfter(u *unstructured.Unstructured, v capi.APIVersion) *time.Time {
	return timeField(u, RolloutAfterPath(v)...)
}

// RolloutBeforeDays reads a KCP's certificatesExpiryDays (0 when unset).
func RolloutBeforeDays(u *unstructured.Unstructured, v capi.APIVersion) int32 {
	return int32(int64Field(u, RolloutBeforeDaysPath(v)...))
}

// Paused reports whether an object carries the paused annotation or
// spec.paused (Cluster, MachineDeployment).
func Paused(u *unstructured.Unstructured) bool {
	if _, ok := u.GetAnnotations()[PausedAnnotation]; ok {
		return true
	}
	p, _, _ := unstructured.NestedBool(u.Object, "spec", "paused")
	return p
}

func timeField(u *unstructured.Unstructured, path ...string) *time.Time {
	s, ok, _ := unstructured.NestedString(u.Object, path...)
	if !ok || s == "" {
		return nil
	}
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return nil
	}
	return &t
}

func int64Field(u *unstructured.Unstructured, path ...string) int64 {
	v, _, _ := unstructured.NestedInt64(u.Object, path...)
	return v
}

func stringField(u *unstructured.Unstructured, path ...string) string {
	s, _, _ := unstructured.NestedString(u.Object, path...)
	return s
}
