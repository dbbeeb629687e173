package controller

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tkgcert/tkgcert/internal/event"
	"github.com/tkgcert/tkgcert/internal/fleet"
)

// maxStatus bounds the status annotation (a preflight refusal can list many
// problems).
const maxStatus = 1024

// Status is the status annotation's text for a decision: "<State>: <reason>".
// It carries no timestamp of its own, so it changes (and is written) only
// when what it says changes.
func Status(d Decision) string {
	s := string(d.State) + ": " + d.Reason
	if len(s) > maxStatus {
		s = s[:maxStatus-3] + "..."
	}
	return s
}

// stateOf reads the state back from a status annotation.
func stateOf(status string) State {
	s, _, _ := strings.Cut(status, ":")
	return State(s)
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

// publishAll publishes the decisions, a few clusters at a time.
func (c *Controller) publishAll(ctx context.Context, items []*item) {
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, it := range items {
		if it.cl.Annotations[StatusAnnotation] == Status(it.d) {
			continue
		}
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c.publish(ctx, it.cl, it.d)
		}()
	}
	wg.Wait()
}

// publish writes the cluster's status annotation when it changed, and
// records an Event when the cluster entered a state users must hear of.
// The previous state is read back from the annotation, so a restarted
// controller does not repeat Events.
func (c *Controller) publish(ctx context.Context, cl *fleet.Cluster, d Decision) {
	status := Status(d)
	prev := cl.Annotations[StatusAnnotation]
	if prev == status {
		return
	}
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{StatusAnnotation: status}}})
	u := clusterObject(cl)
	if err := c.reader.Client().Patch(ctx, u, client.RawPatch(types.MergePatchType, patch)); err != nil {
		c.log.Error(err, "Writing the status annotation", "cluster", klog.KRef(cl.Namespace, cl.Name))
		return
	}
	if stateOf(prev) == d.State {
		return
	}
	if ev, ok := transitionEvents[d.State]; ok {
		c.event(ctx, cl, ev.typ, ev.reason, d.Reason)
	}
}

func clusterObject(cl *fleet.Cluster) *unstructured.Unstructured {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("cluster.x-k8s.io/" + string(cl.APIVersion))
	u.SetKind("Cluster")
	u.SetNamespace(cl.Namespace)
	u.SetName(cl.Name)
	return u
}

// event records an Event on the Cluster.
func (c *Controller) event(ctx context.Context, cl *fleet.Cluster, typ, reason, msg string) {
	ref := corev1.ObjectReference{APIVersion: "cluster.x-k8s.io/" + string(cl.APIVersion), Kind: "Cluster",
		Namespace: cl.Namespace, Name: cl.Name, UID: types.UID(cl.UID)}
	if err := event.Record(ctx, c.reader.Client(), ref, typ, reason, msg, time.Now()); err != nil {
		c.log.Error(err, "Recording an Event", "cluster", klog.KRef(cl.Namespace, cl.Name), "reason", reason)
	}
}
