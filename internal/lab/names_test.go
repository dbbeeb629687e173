package lab

import (
	"regexp"
	"testing"
)

func TestGeneratedNamesHaveClusterAPIShapes(t *testing.T) {
	suffix := regexp.MustCompile(`^[bcdfghjklmnpqrstvwxz2456789]{5}$`)
	hash := regexp.MustCompile(`^[0-9a-f]{9}$`)
	uuid := regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
	// Enough draws that short random values (leading zeros) certainly occur.
	for i := 0; i < 2000; i++ {
		if s := randomSuffix(5); !suffix.MatchString(s) {
			t.Fatalf("randomSuffix(5) = %q", s)
		}
		if h := machineSetHash(); !hash.MatchString(h) {
			t.Fatalf("machineSetHash() = %q", h)
		}
		if u := vsphereUUID(); !uuid.MatchString(u) {
			t.Fatalf("vsphereUUID() = %q", u)
		}
	}
}

func TestAddressPlan(t *testing.T) {
	if got := clusterEndpointIP(10, 0).String(); got != "127.10.0.1" {
		t.Errorf("endpoint of cluster 0 = %s", got)
	}
	if got := clusterEndpointIP(10, 257).String(); got != "127.11.1.1" {
		t.Errorf("endpoint of cluster 257 = %s", got)
	}
	if ip, err := nodeIP(10, 3, firstNodeHost); err != nil || ip.String() != "127.10.3.10" {
		t.Errorf("first node of cluster 3 = %v, %v", ip, err)
	}
	if _, err := nodeIP(10, 0, lastNodeHost+1); err == nil {
		t.Error("a node address past .254 was handed out")
	}
}

func TestParseClusterSpec(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    ClusterSpec
		wantErr bool
	}{
		{in: "tkg-cluster-ns/tkg-cluster", want: ClusterSpec{Namespace: "tkg-cluster-ns", Name: "tkg-cluster", Scenario: Healthy}},
		{in: "prod/old:expired", want: ClusterSpec{Namespace: "prod", Name: "old", Scenario: Expired}},
		{in: "prod/x:kubelet-rotation-off", want: ClusterSpec{Namespace: "prod", Name: "x", Scenario: KubeletRotationOff}},
		{in: "prod/old:broken", wantErr: true},
		{in: "f/x:expired,light", want: ClusterSpec{Namespace: "f", Name: "x", Scenario: Expired, Light: true}},
		{in: "f/x,light", want: ClusterSpec{Namespace: "f", Name: "x", Scenario: Healthy, Light: true}},
		{in: "f/x:healthy,heavy", wantErr: true},
		{in: "justaname", wantErr: true},
		{in: "/name", wantErr: true},
		{in: "Prod/Name", wantErr: true},
	} {
		got, err := ParseClusterSpec(tc.in)
		if (err != nil) != tc.wantErr || (!tc.wantErr && got != tc.want) {
			t.Errorf("ParseClusterSpec(%q) = %+v, %v", tc.in, got, err)
		}
	}
}
