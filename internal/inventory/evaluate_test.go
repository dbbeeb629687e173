package inventory

import (
	"testing"
	"time"

	"github.com/tkgcert/tkgcert/internal/certs"
)

func cert(name string, left time.Duration, now time.Time) certs.Info {
	return certs.Info{Name: name, NotAfter: now.Add(left), ResidualSeconds: int64(left / time.Second)}
}

func TestEvaluateExitCodes(t *testing.T) {
	now := time.Now()
	day := 24 * time.Hour
	for _, tc := range []struct {
		name     string
		leaf     time.Duration
		kubelet  time.Duration
		errs     []string
		wantCode int
		want     Status
	}{
		{"all fine", 300 * day, 300 * day, nil, ExitOK, StatusOK},
		{"warning", 20 * day, 300 * day, nil, ExitWarning, StatusWarning},
		{"critical", 3 * day, 300 * day, nil, ExitCritical, StatusCritical},
		{"expired", -day, 300 * day, nil, ExitCritical, StatusExpired},
		{"expiring kubelet client certificate counts", 300 * day, 5 * day, nil, ExitCritical, StatusCritical},
		{"errors only", 300 * day, 300 * day, []string{"node x: unreachable"}, ExitIncomplete, StatusOK},
		{"warning outranks errors", 20 * day, 300 * day, []string{"node x: unreachable"}, ExitWarning, StatusWarning},
		{"exactly at the warning threshold warns", 30 * day, 300 * day, nil, ExitWarning, StatusWarning},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kc := cert("kubelet-client", tc.kubelet, now)
			r := &Report{Clusters: []ClusterReport{{
				Namespace: "ns", Name: "c",
				CertificateAuthorities: []certs.Info{cert("ca", 3000*day, now)},
				Nodes: []NodeReport{{Name: "n", Certificates: []certs.Info{cert("apiserver", tc.leaf, now), {Name: "super-admin.conf", Missing: true}},
					Kubelet: &KubeletReport{ClientCertificate: &kc}, Errors: tc.errs}},
			}}}
			v := Evaluate(r, 30*day, 7*day)
			if v.Code != tc.wantCode {
				t.Errorf("code %d, want %d (%s)", v.Code, tc.wantCode, v.Summary())
			}
			if len(v.Findings) != 3 {
				t.Fatalf("%d findings, want 3 (missing certificates are not findings)", len(v.Findings))
			}
			if v.Findings[0].Status != tc.want {
				t.Errorf("soonest finding %s is %s, want %s", v.Findings[0].Certificate.Name, v.Findings[0].Status, tc.want)
			}
			for i := 1; i < len(v.Findings); i++ {
				if v.Findings[i].Certificate.ResidualSeconds < v.Findings[i-1].Certificate.ResidualSeconds {
					t.Error("findings are not sorted soonest first")
				}
			}
		})
	}
}
