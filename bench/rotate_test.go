package bench

import (
	"context"
	"os"
	"os/exec"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/tkgcert/tkgcert/internal/fleet"
	"github.com/tkgcert/tkgcert/internal/lab"
	"github.com/tkgcert/tkgcert/internal/rollout"
)

// BenchmarkRotateOverhead measures what `tkgcert rotate` adds on top of the
// rollout itself: from the moment the control plane is done (the last new
// machine Running with its node and the old ones gone, as seen on the
// Supervisor) until tkgcert has printed its verification and exited.
func BenchmarkRotateOverhead(b *testing.B) {
	_, kc := startLab(b, lab.Options{Clusters: []lab.ClusterSpec{{Namespace: "bench", Name: "rot", Scenario: lab.Healthy}},
		Workers: 1, AddressBlock: 61, ProvisionDelay: time.Second})
	cfg, err := clientcmd.BuildConfigFromFlags("", kc)
	if err != nil {
		b.Fatal(err)
	}
	r, err := fleet.NewReader(cfg)
	if err != nil {
		b.Fatal(err)
	}
	configHome := b.TempDir()
	for b.Loop() {
		start := time.Now().Truncate(time.Second) // rolloutAfter has second precision
		cmd := exec.Command(tkgcert, "rotate", "-n", "bench", "rot", "--yes")
		cmd.Env = append(os.Environ(), "KUBECONFIG="+kc, "XDG_CONFIG_HOME="+configHome)
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		// Watch from the outside, every 20 ms, for the rollout to be done.
		var done time.Time
		for done.IsZero() {
			cls, err := r.Clusters(context.Background(), "bench", []string{"rot"})
			if err == nil && rollout.Done(&cls[0], start) {
				done = time.Now()
			}
			select {
			case err := <-exited:
				b.Fatalf("rotate exited before the rollout was seen done: %v", err)
			case <-time.After(20 * time.Millisecond):
			}
		}
		if err := <-exited; err != nil {
			b.Fatalf("rotate: %v", err)
		}
		end := time.Now()
		b.ReportMetric(done.Sub(start).Seconds(), "rollout-s")
		b.ReportMetric(end.Sub(done).Seconds(), "overhead-s")
	}
}
