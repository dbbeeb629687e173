package controller

import (
	"k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"strings"
	"testing"
	"time"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/fleet"
	"github.com/tkgcert/tkgcert/internal/inventory"
	"github.com/tkgcert/tkgcert/internal/rollout"
)

var now = at("2026-11-27T08:00:00Z") // a Friday

// settled is a cluster of three Running control-plane machines created a
// year ago, with annotations on the Cluster and the KCP.
func settled(clusterAnn, kcpAnn map[string]string) *fleet.Cluster {
	cl := &fleet.Cluster{Namespace: "ns", Name: "c", Annotations: clusterAnn,
		ControlPlane: fleet.ControlPlane{Found: true, Name: "c-control-plane", Replicas: 3, StatusReplicas: 3,
			ReadyReplicas: 3, UpToDateReplicas: 3, Annotations: kcpAnn}}
	for _, n := range []string{"a", "b", "c"} {
		cl.Machines = append(cl.Machines, fleet.Machine{Name: "m-" + n, NodeName: "n-" + n, ControlPlane: true,
			Phase: "Running", Created: now.Add(-365 * 24 * time.Hour)})
	}
	return cl
}

// report has one node whose apiserver certificate expires in left.
func report(left time.Duration) *inventory.ClusterReport {
	na := now.Add(left)
	return &inventory.ClusterReport{Namespace: "ns", Name: "c", Nodes: []inventory.NodeReport{{Name: "n-a", Role: "control-plane",
		Certificates: []certs.Info{{Name: "apiserver", CAName: "ca", NotAfter: na}}}}}
}

func TestDecide(t *testing.T) {
	day := 24 * time.Hour
	sat, err := ParseWindow("Sat 02:00-06:00 UTC")
	if err != nil {
		t.Fatal(err)
	}
	fri, err := ParseWindow("Fri 06:00-10:00 UTC")
	if err != nil {
		t.Fatal(err)
	}
	rolling := settled(nil, nil)
	ra := now.Add(-time.Minute)
	rolling.ControlPlane.RolloutAfter = &ra
	for _, tc := range []struct {
		name   string
		policy Policy
		cl     *fleet.Cluster
		cr     *inventory.ClusterReport
		want   State
		reason string
		thresh time.Duration
	}{
		{name: "valid beyond the threshold", policy: Policy{RotateBefore: 30 * day}, cl: settled(nil, nil), cr: report(300 * day),
			want: Healthy, reason: "rotation due at 2027-08-24T08:00:00Z", thresh: 30 * day},
		{name: "within the threshold", policy: Policy{RotateBefore: 30 * day}, cl: settled(nil, nil), cr: report(20 * day),
			want: RotationDue, reason: "apiserver on n-a), within 30d (20d left)"},
		{name: "a threshold longer than the lifetime", policy: Policy{RotateBefore: 400 * day}, cl: settled(nil, nil), cr: report(364 * day),
			want: RotationDue, reason: "within 400d (364d left)"},
		{name: "the annotation raises the threshold", policy: Policy{RotateBefore: 30 * day}, cl: settled(map[string]string{RotateBeforeAnnotation: "400d"}, nil),
			cr: report(300 * day), want: RotationDue, reason: "within 400d (300d left)", thresh: 400 * day},
		{name: "the annotation lowers the threshold", policy: Policy{RotateBefore: 30 * day}, cl: settled(map[string]string{RotateBeforeAnnotation: "7d"}, nil),
			cr: report(20 * day), want: Healthy, reason: "rotation due at 2026-12-10T08:00:00Z", thresh: 7 * day},
		{name: "an invalid threshold annotation blocks", policy: Policy{RotateBefore: 30 * day}, cl: settled(map[string]string{RotateBeforeAnnotation: "soon"}, nil),
			cr: report(20 * day), want: RotationBlocked, reason: "annotation tkgcert.io/rotate-before"},
		{name: "an out-of-range threshold annotation blocks, not wraps around", policy: Policy{RotateBefore: 30 * day},
			cl: settled(map[string]string{RotateBeforeAnnotation: "213505d"}, nil), cr: report(20 * day), want: RotationBlocked,
			reason: "annotation tkgcert.io/rotate-before: invalid duration \"213505d\": longer than the maximum of 36500d"},
		{name: "opted out", policy: Policy{RotateBefore: 30 * day}, cl: settled(map[string]string{AutoRotateAnnotation: "false"}, nil),
			cr: report(20 * day), want: OptedOut, reason: "automatic rotation is off (tkgcert.io/auto-rotate=false)"},
		{name: "opted in explicitly", policy: Policy{RotateBefore: 30 * day}, cl: settled(map[string]string{AutoRotateAnnotation: "true"}, nil),
			cr: report(20 * day), want: RotationDue, reason: "within 30d (20d left)"},
		{name: "an invalid opt-out annotation blocks", policy: Policy{RotateBefore: 30 * day}, cl: settled(map[string]string{AutoRotateAnnotation: "no"}, nil),
			cr: report(20 * day), want: RotationBlocked, reason: `tkgcert.io/auto-rotate="no"`},
		{name: "outside the window", policy: Policy{RotateBefore: 30 * day, Window: sat}, cl: settled(nil, nil), cr: report(20 * day),
			want: WaitingForWindow, reason: "next at 2026-11-28T02:00:00Z"},
		{name: "inside the window", policy: Policy{RotateBefore: 30 * day, Window: fri}, cl: settled(nil, nil), cr: report(20 * day),
			want: RotationDue, reason: "within 30d (20d left)"},
		{name: "expired: recover, not rotate", policy: Policy{RotateBefore: 30 * day}, cl: settled(nil, nil), cr: report(-time.Hour),
			want: Expired, reason: "tkgcert recover -n ns c"},
		{name: "expired even when opted out", policy: Policy{RotateBefore: 30 * day}, cl: settled(map[string]string{AutoRotateAnnotation: "false"}, nil),
			cr: report(-time.Hour), want: Expired, reason: "tkgcert recover -n ns c"},
		{name: "a rollout under way", policy: Policy{RotateBefore: 30 * day}, cl: rolling, cr: report(20 * day), want: Rotating, reason: "a control-plane rollout is under way"},
		{name: "rotated recently", policy: Policy{RotateBefore: 400 * day, MinInterval: day},
			cl: settled(nil, map[string]string{rollout.RotatedAtAnnotation: now.Add(-time.Hour).Format(time.RFC3339)}), cr: report(364 * day),
			want: RotatedRecently, reason: "not again before 2026-11-28T07:00:00Z"},
		{name: "rotated long ago", policy: Policy{RotateBefore: 400 * day, MinInterval: day},
			cl: settled(nil, map[string]string{rollout.RotatedAtAnnotation: now.Add(-48 * time.Hour).Format(time.RFC3339)}), cr: report(364 * day),
			want: RotationDue, reason: "within 400d (364d left)"},
		{name: "nothing read: the Machines' record", policy: Policy{RotateBefore: 30 * day}, cl: func() *fleet.Cluster {
			cl := settled(nil, nil)
			e := now.Add(10 * day)
			cl.Machines[0].CertificatesExpiry = &e
			return cl
		}(), cr: &inventory.ClusterReport{}, want: RotationDue, reason: "Machine status"},
		{name: "nothing read at all", policy: Policy{RotateBefore: 30 * day}, cl: settled(nil, nil), cr: &inventory.ClusterReport{}, want: Unknown, reason: "no certificate could be read"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.reason == "" {
				t.Fatal("every case names the reason it expects")
			}
			d := tc.policy.Decide(tc.cl, tc.cr, now)
			if d.State != tc.want || !strings.Contains(d.Reason, tc.reason) {
				t.Errorf("Decide = %s: %q; want %s with %q", d.State, d.Reason, tc.want, tc.reason)
			}
			if tc.thresh != 0 && d.Threshold != tc.thresh {
				t.Errorf("threshold %v, want %v", d.Threshold, tc.thresh)
			}
		})
	}
}

func TestStatusRoundTripsAndKeepsTransitionTimes(t *testing.T) {
	s := &ClusterStatus{}
	s.set(Decision{State: Healthy, Reason: "fine", Earliest: now.Add(300 * 24 * time.Hour)}, now)
	s.set(Decision{State: Healthy, Reason: "still fine", Earliest: now.Add(300 * 24 * time.Hour)}, now.Add(time.Hour))
	valid := meta.FindStatusCondition(s.Conditions, ConditionCertificatesValid)
	if valid == nil || valid.Status != metav1.ConditionTrue || valid.Message != "still fine" || !valid.LastTransitionTime.Time.Equal(now) {
		t.Errorf("CertificatesValid after two Healthy decisions: %+v", valid)
	}
	s.set(Decision{State: Expired, Reason: "expired"}, now.Add(2*time.Hour))
	valid = meta.FindStatusCondition(s.Conditions, ConditionCertificatesValid)
	if valid.Status != metav1.ConditionFalse || valid.Reason != "Expired" || !valid.LastTransitionTime.Time.Equal(now.Add(2*time.Hour)) {
		t.Errorf("CertificatesValid once expired: %+v", valid)
	}
	s.Rotation = &RotationRecord{After: now, Triggered: true}
	s.set(Decision{State: Rotating, Reason: "rolling"}, now)
	if c := meta.FindStatusCondition(s.Conditions, ConditionRotating); c == nil || c.Status != metav1.ConditionTrue || c.Reason != "Triggered" {
		t.Errorf("Rotating while a triggered rollout is followed: %+v", c)
	}
	got, ok := ParseStatus(s.Annotation())
	if !ok || got.State != Rotating || got.Rotation == nil || !got.Rotation.After.Equal(now) || len(got.Conditions) != 3 {
		t.Errorf("ParseStatus(Annotation()) = %+v, %v", got, ok)
	}
	// An older controller's text, or garbage, is no status: its state is
	// empty, so the next decision is a transition.
	for _, text := range []string{"Healthy: fine", "", "{", `{"apiVersion":"other/v1","state":"Healthy"}`} {
		if got, ok := ParseStatus(text); ok || got.State != "" {
			t.Errorf("ParseStatus(%q) = %+v, %v", text, got, ok)
		}
	}
}

func TestStatusMessageIsBounded(t *testing.T) {
	s := &ClusterStatus{}
	s.set(Decision{State: RotationBlocked, Reason: strings.Repeat("x", 5000)}, now)
	if len(s.Message) != maxMessage || !strings.HasSuffix(s.Message, "...") {
		t.Errorf("message of %d bytes", len(s.Message))
	}
	for _, c := range s.Conditions {
		if len(c.Message) > maxMessage {
			t.Errorf("condition %s has a message of %d bytes", c.Type, len(c.Message))
		}
	}
}
