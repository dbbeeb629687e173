package rollout

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/tkgcert/tkgcert/internal/capi"
	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/fleet"
	"github.com/tkgcert/tkgcert/internal/inventory"
)

func TestPatchPerVersion(t *testing.T) {
	at := time.Date(2026, 11, 27, 6, 0, 0, 0, time.FixedZone("JST", 9*3600))
	for _, tc := range []struct {
		v    capi.APIVersion
		want string
	}{
		{capi.V1Beta1, `{"metadata":{"annotations":{"tkgcert.io/rotated-at":"2026-11-26T21:00:00Z","tkgcert.io/rotated-by":"alice"},"resourceVersion":"42"},"spec":{"rolloutAfter":"2026-11-26T21:00:00Z"}}`},
		{capi.V1Beta2, `{"metadata":{"annotations":{"tkgcert.io/rotated-at":"2026-11-26T21:00:00Z","tkgcert.io/rotated-by":"alice"},"resourceVersion":"42"},"spec":{"rollout":{"after":"2026-11-26T21:00:00Z"}}}`},
	} {
		got, err := Patch(tc.v, "42", at, "alice")
		if err != nil || string(got) != tc.want {
			t.Errorf("%s: %s, %v\nwant %s", tc.v, got, err, tc.want)
		}
		var m map[string]any
		if err := json.Unmarshal(got, &m); err != nil {
			t.Error(err)
		}
	}
}

func at(d time.Duration) time.Time {
	return time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC).Add(d)
}

func TestVerify(t *testing.T) {
	ca := []certs.Info{{Name: "ca", NotAfter: at(3650 * 24 * time.Hour), SerialNumber: "01"}}
	yes := true
	before := &inventory.ClusterReport{CertificateAuthorities: ca, Nodes: []inventory.NodeReport{
		{Name: "cp-old", Role: "control-plane", Certificates: []certs.Info{{Name: "apiserver", NotAfter: at(0)}, {Name: "super-admin.conf", NotAfter: at(0)}}},
		{Name: "w", Role: "worker"},
	}}
	good := &inventory.ClusterReport{CertificateAuthorities: ca, Nodes: []inventory.NodeReport{
		{Name: "cp-new", Role: "control-plane", Certificates: []certs.Info{{Name: "apiserver", NotAfter: at(time.Hour)}},
			Kubelet: &inventory.KubeletReport{RotateCertificates: &yes}},
		{Name: "w", Role: "worker", Kubelet: &inventory.KubeletReport{}},
	}}
	v := Verify(before, good)
	if !v.OK() || len(v.Rows) != 1 || !v.Rows[0].Later || len(v.Warnings) != 2 {
		t.Errorf("good rollout: %+v", v)
	}
	if !strings.Contains(strings.Join(v.Warnings, ";"), "super-admin.conf") || !strings.Contains(strings.Join(v.Warnings, ";"), "node w: the kubelet does not rotate") {
		t.Errorf("warnings %v", v.Warnings)
	}

	// Not replaced, not later, CA changed: each is a problem.
	bad := &inventory.ClusterReport{
		CertificateAuthorities: []certs.Info{{Name: "ca", NotAfter: at(3650 * 24 * time.Hour), SerialNumber: "02"}},
		Nodes:                  []inventory.NodeReport{{Name: "cp-old", Role: "control-plane", Certificates: []certs.Info{{Name: "apiserver", NotAfter: at(0)}}}},
	}
	v = Verify(before, bad)
	got := strings.Join(v.Problems, "\n")
	for _, want := range []string{"control-plane node cp-old was not replaced", "apiserver did not move later", "CA ca changed"} {
		if !strings.Contains(got, want) {
			t.Errorf("problems lack %q:\n%s", want, got)
		}
	}
}

func TestDoneAndDiagnose(t *testing.T) {
	after := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	old, fresh := after.Add(-time.Hour), after.Add(time.Minute)
	cl := &fleet.Cluster{ControlPlane: fleet.ControlPlane{Name: "kcp", Replicas: 3, StatusReplicas: 3, ReadyReplicas: 3, UpToDateReplicas: 3}}
	for _, n := range []string{"a", "b", "c"} {
		cl.Machines = append(cl.Machines, fleet.Machine{Name: n, ControlPlane: true, Phase: "Running", NodeName: n, Created: fresh})
	}
	if !Done(cl, after) {
		t.Fatal("three fresh running machines: not done")
	}
	cl.Machines[2].Created = old
	if Done(cl, after) {
		t.Fatal("an old machine left: done")
	}
	cl.Machines[2] = fleet.Machine{Name: "stuck-1", ControlPlane: true, Phase: "Provisioning", Created: fresh,
		Conditions: []fleet.Condition{{Type: "InfrastructureReady", Status: "False", Reason: "WaitingForInfrastructure"}, {Type: "BootstrapReady", Status: "True"}}}
	d := Diagnose(cl, after)
	if !strings.Contains(d, "machine stuck-1 is Provisioning, no node; conditions InfrastructureReady=False (WaitingForInfrastructure)") || strings.Contains(d, "BootstrapReady") {
		t.Errorf("diagnosis: %s", d)
	}
	if diff := cmp.Diff("the cluster could not be read", Diagnose(nil, after)); diff != "" {
		t.Error(diff)
	}
}

func TestStatusLines(t *testing.T) {
	after := time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC)
	cl := &fleet.Cluster{Namespace: "ns", Name: "c", ControlPlane: fleet.ControlPlane{Replicas: 3}, Machines: []fleet.Machine{
		{Name: "c-old", ControlPlane: true, Phase: "Running", NodeName: "c-old", InternalIP: "10.0.0.1", Created: after.Add(-time.Hour), Deleting: true},
		{Name: "c-new", ControlPlane: true, Phase: "Running", NodeName: "c-new", InternalIP: "10.0.0.2", Created: after.Add(time.Minute)},
		{Name: "c-prov", ControlPlane: true, Phase: "Provisioning", Created: after.Add(2 * time.Minute)},
		{Name: "w", Phase: "Running", NodeName: "w", Created: after.Add(-time.Hour)},
	}}
	got := StatusLines(cl, after, after, after.Add(95*time.Second), false)
	want := []string{
		"Rolling out the control plane of ns/c: 1/3 machines new and running, 1m35s elapsed",
		"  c-old                                    old  Deleting    ",
		"  c-new                                    new  Running      (node c-new, 10.0.0.2)",
		"  c-prov                                   new  Provisioning",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}
