// Package event records Kubernetes Events on the Supervisor for what tkgcert
// does to a cluster, so that `kubectl describe` and `kubectl get events` show
// it next to Cluster API's own Events.
package event

import (
	"context"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Component is the Events' source.
const Component = "tkgcert"

// Record creates one Event about obj. The object's namespace holds it.
func Record(ctx context.Context, c client.Client, obj corev1.ObjectReference, typ, reason, message string, at time.Time) error {
	ev := &corev1.Event{
		ObjectMeta:     metav1.ObjectMeta{Namespace: obj.Namespace, GenerateName: obj.Name + ".tkgcert-"},
		InvolvedObject: obj,
		Reason:         reason,
		Message:        message,
		Type:           typ,
		Source:         corev1.EventSource{Component: Component},
		FirstTimestamp: metav1.NewTime(at),
		LastTimestamp:  metav1.NewTime(at),
		Count:          1,
	}
	return c.Create(ctx, ev)
}
