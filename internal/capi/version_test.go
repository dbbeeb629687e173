package capi

import "testing"

func TestParseAPIVersion(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    APIVersion
		wantErr bool
	}{
		{"v1beta1", V1Beta1, false},
		{"v1beta2", V1Beta2, false},
		{"v1alpha4", "", true},
		{"", "", true},
		{"V1BETA1", "", true},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseAPIVersion(tc.in)
			if (err != nil) != tc.wantErr || got != tc.want {
				t.Fatalf("ParseAPIVersion(%q) = %q, %v; want %q, error %v", tc.in, got, err, tc.want, tc.wantErr)
			}
		})
	}
}

func TestReleaseVersionComesFromGoMod(t *testing.T) {
	// The test binary links sigs.k8s.io/cluster-api/api, so the version must
	// come from its build info, never from the fallback constant by accident.
	got := ReleaseVersion()
	if got == "" || got[0] != 'v' {
		t.Fatalf("ReleaseVersion() = %q, want a module version", got)
	}
}
