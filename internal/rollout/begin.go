package rollout

import (
	"context"
	"errors"
	"fmt"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tkgcert/tkgcert/internal/fleet"
)

// Begin starts the rollout of cl's control plane at now (the Supervisor's
// time), or attaches to one already under way. It returns the rollout's
// "after" time, which Follow and Done measure machines against, and whether
// it attached. Callers run Preflight first.
//
// When the KubeadmControlPlane changed between reading and patching, Begin
// reads it again: if another rotation started a rollout, it attaches to that
// one (two concurrent rotations produce one rollout); otherwise it fails and
// changes nothing. An *EventError means the rollout started but its Event was
// not recorded.
func Begin(ctx context.Context, r *fleet.Reader, cl *fleet.Cluster, now time.Time, by string) (after time.Time, attached bool, err error) {
	if InProgress(cl, now) {
		return AttachTime(cl, now), true, nil
	}
	err = Trigger(ctx, r.Client(), cl, now, by)
	if !errors.Is(err, ErrConflict) {
		return now, false, err
	}
	cls, rerr := r.Clusters(ctx, cl.Namespace, []string{cl.Name})
	if rerr != nil {
		return time.Time{}, false, rerr
	}
	cur := &cls[0]
	if !InProgress(cur, now.Add(time.Second)) || cur.ControlPlane.RolloutAfter == nil {
		return time.Time{}, false, fmt.Errorf("the KubeadmControlPlane %s/%s changed while triggering and no rollout is under way: try again", cl.Namespace, cl.ControlPlane.Name)
	}
	return *cur.ControlPlane.RolloutAfter, true, nil
}

// AttachTime is the "after" time of the rollout under way: the KCP's
// rolloutAfter, or now when the rollout has another cause.
func AttachTime(cl *fleet.Cluster, now time.Time) time.Time {
	if cl.ControlPlane.RolloutAfter != nil {
		return *cl.ControlPlane.RolloutAfter
	}
	return now
}

// WhoAmI names the caller for the audit annotation and Event ("unknown"
// when the Supervisor cannot say).
func WhoAmI(ctx context.Context, c client.Client) string {
	r := &authenticationv1.SelfSubjectReview{}
	if err := c.Create(ctx, r); err != nil || r.Status.UserInfo.Username == "" {
		return "unknown"
	}
	return r.Status.UserInfo.Username
}
