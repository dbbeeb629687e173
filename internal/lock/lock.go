// Package lock keeps two tkgcert runs from changing one cluster at once.
//
// The lock is a coordination.k8s.io Lease named <cluster>-tkgcert-lock in
// the cluster's namespace. A run that changes the cluster's nodes (recover)
// takes it before it reads the cluster and holds it, renewing it every
// third of its duration, until it ends; a run killed on the way leaves a
// Lease that expires after its duration. Rotation's preflight refuses a
// cluster whose lock another run holds.
//
// Expiry is judged by the Lease's renewTime against the local clock, as
// client-go's leader election records it; clocks that disagree by more
// than a fraction of the duration weaken the lock.
package lock

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Suffix makes a cluster's Lease name.
const Suffix = "-tkgcert-lock"

// DefaultDuration is how long a Lease outlives the last renewal of a run
// that died.
const DefaultDuration = time.Minute

// Name is the Lease of a cluster.
func Name(cluster string) string { return cluster + Suffix }

// Holder names this process for a Lease: what it does, the user and host,
// its pid and a random suffix, so that two runs never share a name.
func Holder(what string) string {
	host, _ := os.Hostname()
	user := os.Getenv("USER")
	if user == "" {
		user = "uid" + fmt.Sprint(os.Getuid())
	}
	b := make([]byte, 3)
	_, _ = rand.Read(b)
	return fmt.Sprintf("%s by %s@%s pid %d (%s)", what, user, host, os.Getpid(), hex.EncodeToString(b))
}

// HeldError says that another run holds the cluster's lock.
type HeldError struct {
	Namespace, Cluster, Holder string
	Renewed                    time.Time
	Duration                   time.Duration
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("cluster %s/%s is locked by %q (Lease %s/%s, renewed %s, expires after %s without renewal): another tkgcert run is working on it; "+
		"wait for it to finish, or, if that run was killed, run again once the Lease has expired, or delete it: kubectl delete lease -n %s %s",
		e.Namespace, e.Cluster, e.Holder, e.Namespace, Name(e.Cluster), e.Renewed.UTC().Format(time.RFC3339), e.Duration, e.Namespace, Name(e.Cluster))
}

// Lock is a held cluster lock.
type Lock struct {
	c        client.Client
	key      types.NamespacedName
	holder   string
	duration time.Duration
	stop     context.CancelFunc
	done     chan struct{}

	mu      sync.Mutex
	lost    error     // the last renewal's error
	taken   bool      // another holder took the Lease
	renewed time.Time // the last successful write
}

// Acquire takes the lock of namespace/cluster for holder, valid for d
// (DefaultDuration when zero), and renews it until Release. It fails with
// a *HeldError when another holder's Lease has not expired.
func Acquire(ctx context.Context, c client.Client, namespace, cluster, holder string, d time.Duration) (*Lock, error) {
	if d <= 0 {
		d = DefaultDuration
	}
	l := &Lock{c: c, key: types.NamespacedName{Namespace: namespace, Name: Name(cluster)}, holder: holder, duration: d}
	for attempt := 0; ; attempt++ {
		err := l.take(ctx, cluster)
		if err == nil {
			break
		}
		if attempt < 3 && (apierrors.IsConflict(err) || apierrors.IsAlreadyExists(err)) {
			continue // someone else wrote the Lease between our read and write: read it again
		}
		if apierrors.IsForbidden(err) {
			return nil, fmt.Errorf("taking the lock of cluster %s/%s: %w; tkgcert needs get, create, update and delete on leases.coordination.k8s.io in %s", namespace, cluster, err, namespace)
		}
		return nil, err
	}
	rctx, stop := context.WithCancel(context.Background())
	l.stop, l.done, l.renewed = stop, make(chan struct{}), time.Now()
	go l.renew(rctx)
	return l, nil
}

// take creates the Lease, or takes over an expired one, in one write.
func (l *Lock) take(ctx context.Context, cluster string) error {
	now := metav1.NowMicro()
	lease := &coordinationv1.Lease{}
	err := l.c.Get(ctx, l.key, lease)
	if apierrors.IsNotFound(err) {
		lease = &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: l.key.Namespace, Name: l.key.Name,
			Labels: map[string]string{"app.kubernetes.io/managed-by": "tkgcert", "cluster.x-k8s.io/cluster-name": cluster}}}
		l.fill(lease, now, true)
		return l.c.Create(ctx, lease)
	}
	if err != nil {
		return err
	}
	if held := heldByOther(lease, l.holder, now.Time); held != nil {
		held.Namespace, held.Cluster = l.key.Namespace, cluster
		return held
	}
	l.fill(lease, now, true)
	return l.c.Update(ctx, lease) // carries the resourceVersion read: a conflict if it moved
}

func (l *Lock) fill(lease *coordinationv1.Lease, now metav1.MicroTime, acquire bool) {
	lease.Spec.HolderIdentity = ptr.To(l.holder)
	lease.Spec.LeaseDurationSeconds = ptr.To(int32(l.duration.Seconds()))
	lease.Spec.RenewTime = &now
	if acquire {
		lease.Spec.AcquireTime = &now
	}
}

// The Lease lives in the cluster's namespace, and anyone who may write
// Leases there may write it: it is read as untrusted input.
const (
	// maxDuration bounds the duration a Lease claims, so that a hand-made
	// Lease cannot hold a cluster for years.
	maxDuration = 10 * time.Minute
	// maxHolder bounds the holder repeated in errors.
	maxHolder = 200
)

// heldByOther is a *HeldError when the Lease names a holder other than
// self whose renewal has not expired at now. A duration over maxDuration
// counts as maxDuration; a renewal more than maxDuration ahead of the
// clock was not written by a run and holds nothing.
func heldByOther(lease *coordinationv1.Lease, self string, now time.Time) *HeldError {
	holder := ptr.Deref(lease.Spec.HolderIdentity, "")
	if holder == "" || holder == self || lease.Spec.RenewTime == nil {
		return nil
	}
	renewed := lease.Spec.RenewTime.Time
	d := min(time.Duration(ptr.Deref(lease.Spec.LeaseDurationSeconds, 0))*time.Second, maxDuration)
	if !now.Before(renewed.Add(d)) || renewed.After(now.Add(maxDuration)) {
		return nil
	}
	if len(holder) > maxHolder {
		holder = holder[:maxHolder] + "…"
	}
	return &HeldError{Holder: holder, Renewed: renewed, Duration: d}
}

// renew writes renewTime every third of the duration until stopped.
func (l *Lock) renew(ctx context.Context) {
	defer close(l.done)
	t := time.NewTicker(l.duration / 3)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		lease := &coordinationv1.Lease{}
		err := l.c.Get(ctx, l.key, lease)
		if err == nil {
			if ptr.Deref(lease.Spec.HolderIdentity, "") != l.holder {
				l.mu.Lock()
				l.lost, l.taken = fmt.Errorf("the lock %s was taken by %q", l.key, ptr.Deref(lease.Spec.HolderIdentity, "")), true
				l.mu.Unlock()
				return
			}
			l.fill(lease, metav1.NowMicro(), false)
			err = l.c.Update(ctx, lease)
		}
		l.mu.Lock()
		if err != nil {
			// Keep trying: a passing API error loses the lock only when
			// it lasts the whole duration (Err).
			l.lost = fmt.Errorf("renewing the lock %s: %w", l.key, err)
		} else {
			l.lost, l.renewed = nil, time.Now()
		}
		l.mu.Unlock()
	}
}

// Err says why the lock may no longer be this run's: another holder took
// it, or it was not renewed for a whole duration (it may have expired).
// nil while it is held.
func (l *Lock) Err() error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.lost == nil || l.taken || time.Since(l.renewed) >= l.duration {
		return l.lost
	}
	return nil
}

// Holder is the holder the lock was taken for ("" for no lock).
func (l *Lock) Holder() string {
	if l == nil {
		return ""
	}
	return l.holder
}

// Release stops renewing and deletes the Lease if it is still this
// holder's (a precondition on its UID and resourceVersion).
func (l *Lock) Release(ctx context.Context) error {
	l.stop()
	<-l.done
	lease := &coordinationv1.Lease{}
	if err := l.c.Get(ctx, l.key, lease); err != nil {
		return client.IgnoreNotFound(err)
	}
	if ptr.Deref(lease.Spec.HolderIdentity, "") != l.holder {
		return nil
	}
	err := l.c.Delete(ctx, lease, client.Preconditions{UID: &lease.UID, ResourceVersion: &lease.ResourceVersion})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("releasing the lock %s: %w (it expires on its own after %s)", l.key, err, l.duration)
	}
	return nil
}

// Check returns a *HeldError when a holder other than self holds the lock
// of namespace/cluster now, nil when it is free or self's.
func Check(ctx context.Context, c client.Client, namespace, cluster, self string) error {
	lease := &coordinationv1.Lease{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: Name(cluster)}, lease); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	}
	if held := heldByOther(lease, self, time.Now()); held != nil {
		held.Namespace, held.Cluster = namespace, cluster
		return held
	}
	return nil
}

// IsHeld reports whether err says the lock is held by another run.
func IsHeld(err error) bool {
	var h *HeldError
	return errors.As(err, &h)
}
