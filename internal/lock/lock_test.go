package lock_test

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/retry"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tkgcert/tkgcert/internal/capi"
	"github.com/tkgcert/tkgcert/internal/lock"
	"github.com/tkgcert/tkgcert/internal/testenv"
)

func TestMain(m *testing.M) {
	os.Exit(testenv.Main(m, capi.V1Beta2))
}

func namespace(t *testing.T, c client.Client, name string) {
	t.Helper()
	if err := c.Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}); err != nil {
		t.Fatal(err)
	}
}

func lease(t *testing.T, c client.Client, ns, cluster string) *coordinationv1.Lease {
	t.Helper()
	l := &coordinationv1.Lease{}
	if err := c.Get(context.Background(), types.NamespacedName{Namespace: ns, Name: lock.Name(cluster)}, l); err != nil {
		if apierrors.IsNotFound(err) {
			return nil
		}
		t.Fatal(err)
	}
	return l
}

// TestOneHolderAtATime: a second run is refused with the holder, the Lease
// and what to do named; once the first releases, the Lease is gone and the
// second gets it.
func TestOneHolderAtATime(t *testing.T) {
	env := testenv.Get(t, capi.V1Beta2)
	ctx := context.Background()
	namespace(t, env.Client, "one")
	a, err := lock.Acquire(ctx, env.Client, "one", "c", "run A", 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = lock.Acquire(ctx, env.Client, "one", "c", "run B", 0)
	var held *lock.HeldError
	if !errors.As(err, &held) || held.Holder != "run A" ||
		!strings.Contains(err.Error(), `cluster one/c is locked by "run A" (Lease one/c-tkgcert-lock`) ||
		!strings.Contains(err.Error(), "kubectl delete lease -n one c-tkgcert-lock") {
		t.Fatalf("second Acquire: %v", err)
	}
	if err := lock.Check(ctx, env.Client, "one", "c", "run B"); !lock.IsHeld(err) {
		t.Errorf("Check by B while A holds it: %v", err)
	}
	if err := lock.Check(ctx, env.Client, "one", "c", "run A"); err != nil {
		t.Errorf("Check by A, the holder: %v", err)
	}
	// Another cluster in the namespace is not locked.
	if err := lock.Check(ctx, env.Client, "one", "other", "run B"); err != nil {
		t.Errorf("Check of another cluster: %v", err)
	}
	if l := lease(t, env.Client, "one", "c"); l == nil || l.Labels["cluster.x-k8s.io/cluster-name"] != "c" {
		t.Errorf("the Lease: %+v", l)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if l := lease(t, env.Client, "one", "c"); l != nil {
		t.Errorf("the Lease is still there after Release: %+v", l.Spec)
	}
	b, err := lock.Acquire(ctx, env.Client, "one", "c", "run B", 0)
	if err != nil {
		t.Fatalf("Acquire after release: %v", err)
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestExpiredLockIsTakenOver: the Lease of a run that was killed expires
// after its duration, and the next run takes it over.
func TestExpiredLockIsTakenOver(t *testing.T) {
	env := testenv.Get(t, capi.V1Beta2)
	ctx := context.Background()
	namespace(t, env.Client, "expired")
	old := metav1.NewMicroTime(time.Now().Add(-2 * time.Minute))
	if err := env.Client.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "expired", Name: lock.Name("c")},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To("a killed run"), LeaseDurationSeconds: ptr.To(int32(60)), RenewTime: &old, AcquireTime: &old}}); err != nil {
		t.Fatal(err)
	}
	if err := lock.Check(ctx, env.Client, "expired", "c", "me"); err != nil {
		t.Errorf("Check of an expired Lease: %v", err)
	}
	l, err := lock.Acquire(ctx, env.Client, "expired", "c", "me", 0)
	if err != nil {
		t.Fatalf("Acquire of an expired Lease: %v", err)
	}
	if got := ptr.Deref(lease(t, env.Client, "expired", "c").Spec.HolderIdentity, ""); got != "me" {
		t.Errorf("holder after the takeover: %q", got)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

// TestRenewedUntilReleased: a lock held longer than its duration is still
// held (renewed); when someone else takes the Lease, Err says so, and
// Release leaves the other holder's Lease alone.
func TestRenewedUntilReleased(t *testing.T) {
	env := testenv.Get(t, capi.V1Beta2)
	ctx := context.Background()
	namespace(t, env.Client, "renew")
	l, err := lock.Acquire(ctx, env.Client, "renew", "c", "long run", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(5 * time.Second) // past the duration: only renewals keep it
	if err := lock.Check(ctx, env.Client, "renew", "c", "other"); !lock.IsHeld(err) {
		t.Fatalf("Check after the duration: %v, want held (renewed)", err)
	}
	if err := l.Err(); err != nil {
		t.Errorf("Err while held: %v", err)
	}
	// Someone takes it (as after an expiry the holder missed).
	if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		le := lease(t, env.Client, "renew", "c")
		le.Spec.HolderIdentity = ptr.To("thief")
		return env.Client.Update(ctx, le)
	}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute) // liveness guard
	for l.Err() == nil && time.Now().Before(deadline) {
		time.Sleep(100 * time.Millisecond)
	}
	if err := l.Err(); err == nil || !strings.Contains(err.Error(), `taken by "thief"`) {
		t.Errorf("Err after a takeover: %v", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if got := lease(t, env.Client, "renew", "c"); got == nil || ptr.Deref(got.Spec.HolderIdentity, "") != "thief" {
		t.Errorf("Release touched another holder's Lease: %+v", got)
	}
}

// TestHostileLease: a Lease written by hand in the cluster's namespace
// cannot hold the cluster beyond maxDuration, nor flood the error.
func TestHostileLease(t *testing.T) {
	env := testenv.Get(t, capi.V1Beta2)
	ctx := context.Background()
	namespace(t, env.Client, "hostile")
	put := func(cluster, holder string, renewed time.Time, seconds int32) {
		t.Helper()
		at := metav1.NewMicroTime(renewed)
		if err := env.Client.Create(ctx, &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Namespace: "hostile", Name: lock.Name(cluster)},
			Spec: coordinationv1.LeaseSpec{HolderIdentity: ptr.To(holder), LeaseDurationSeconds: ptr.To(seconds), RenewTime: &at}}); err != nil {
			t.Fatal(err)
		}
	}
	// A duration of 68 years, renewed 11 minutes ago: expired.
	put("forever", "squatter", time.Now().Add(-11*time.Minute), 1<<31-1)
	if err := lock.Check(ctx, env.Client, "hostile", "forever", "me"); err != nil {
		t.Errorf("a Lease claiming 68 years, renewed 11 minutes ago: %v", err)
	}
	// Renewed in the year 9999: holds nothing.
	put("future", "squatter", time.Date(9999, 1, 1, 0, 0, 0, 0, time.UTC), 60)
	if err := lock.Check(ctx, env.Client, "hostile", "future", "me"); err != nil {
		t.Errorf("a Lease renewed in 9999: %v", err)
	}
	// A live Lease with a 100 KB holder: held, and the error stays short.
	put("long", strings.Repeat("x", 100<<10), time.Now(), 60)
	err := lock.Check(ctx, env.Client, "hostile", "long", "me")
	if !lock.IsHeld(err) || len(err.Error()) > 1000 {
		t.Errorf("a live Lease with a 100 KB holder: held %v, error of %d bytes", lock.IsHeld(err), len(err.Error()))
	}
}
