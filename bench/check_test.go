package bench

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/client-go/tools/clientcmd"
	ctrllog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/tkgcert/tkgcert/internal/fleet"
	"github.com/tkgcert/tkgcert/internal/inventory"
	"github.com/tkgcert/tkgcert/internal/kubeserver"
	"github.com/tkgcert/tkgcert/internal/lab"
	"github.com/tkgcert/tkgcert/internal/remote"
	"github.com/tkgcert/tkgcert/internal/source"
)

var (
	generate = flag.Int("generate", 100, "light clusters in the benchmark's lab (3 control-plane nodes and 1 worker each)")
	seedLoop = flag.Bool("seed-loop", true, "also time the seed's serial SSH loop (minutes for 100 clusters)")
)

var (
	kubeconfig string // the fleet lab's, set by BenchmarkCheckFleet
	tkgcert    string
	workdir    string
)

func TestMain(m *testing.M) {
	flag.Parse()
	if f := flag.Lookup("test.bench"); f == nil || f.Value.String() == "" {
		os.Exit(m.Run()) // no benchmark asked for: nothing to build
	}
	os.Exit(run(m))
}

func run(m *testing.M) int {
	// The lab runs in this process; its API warnings need no stack traces.
	ctrllog.SetLogger(logr.Discard())
	var err error
	if workdir, err = os.MkdirTemp("", "tkgcert-bench-"); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(workdir)
	tkgcert = filepath.Join(workdir, "tkgcert")
	if out, err := exec.Command("go", "build", "-o", tkgcert, "github.com/tkgcert/tkgcert/cmd/tkgcert").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "building tkgcert: %v\n%s", err, out)
		return 1
	}
	code := m.Run()
	for _, l := range labs {
		l.Close()
	}
	return code
}

var labs []*lab.Lab

// startLab starts a lab for one benchmark and writes its kubeconfig.
func startLab(b *testing.B, o lab.Options) (*lab.Lab, string) {
	b.Helper()
	o.StateDir = filepath.Join(workdir, fmt.Sprintf("lab-%d", o.AddressBlock))
	o.BinDir = kubeserver.RepoBinDir()
	start := time.Now()
	l, err := lab.Up(context.Background(), o)
	if err != nil {
		b.Fatal("starting the lab:", err)
	}
	labs = append(labs, l)
	b.Logf("lab ready in %s", time.Since(start).Round(100*time.Millisecond))
	kc, _ := l.Kubeconfig()
	path := filepath.Join(o.StateDir, "supervisor.kubeconfig")
	if err := os.WriteFile(path, kc, 0o600); err != nil {
		b.Fatal(err)
	}
	return l, path
}

// timeCheck runs `tkgcert check -A` against kc as a user would and returns
// its time, after checking that the report covers wantCP control-plane nodes.
func timeCheck(b *testing.B, kc, configHome string, wantCP int) time.Duration {
	b.Helper()
	cmd := exec.Command(tkgcert, "check", "-A", "-o", "json")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kc, "XDG_CONFIG_HOME="+configHome)
	start := time.Now()
	out, err := cmd.Output()
	d := time.Since(start)
	if ee, ok := err.(*exec.ExitError); err != nil && (!ok || ee.ExitCode() == 1) {
		var stderr []byte
		if ok {
			stderr = ee.Stderr
		}
		b.Fatalf("tkgcert check -A: %v\nits stderr:\n%s\nits report's errors:\n%s\nits end:\n%s", err, tail(stderr), reportErrors(out), tail(out))
	}
	if n := strings.Count(string(out), `"role": "control-plane"`); n != wantCP {
		b.Fatalf("the report has %d control-plane nodes, want %d", n, wantCP)
	}
	return d
}

// timeFloor opens one SSH session per node (running `true`), with the
// same parallelism and library as tkgcert: what reading any node costs.
func timeFloor(b *testing.B) (time.Duration, int) {
	b.Helper()
	cfg, err := clientcmd.RESTConfigFromKubeConfig(mustRead(b, kubeconfig))
	if err != nil {
		b.Fatal(err)
	}
	r, err := fleet.NewReader(cfg)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	clusters, err := r.Clusters(ctx, "", nil)
	if err != nil {
		b.Fatal(err)
	}
	type target struct {
		d    *remote.Dialer
		addr string
	}
	var targets []target
	for _, c := range clusters {
		key, err := source.SSHKey(ctx, r.Client(), c.Namespace, c.Name)
		if err != nil {
			b.Fatal(err)
		}
		d, err := remote.NewDialer(key, remote.Options{HostKeyPolicy: remote.Insecure})
		if err != nil {
			b.Fatal(err)
		}
		defer d.Close()
		for _, m := range c.Machines {
			targets = append(targets, target{d, m.InternalIP})
		}
	}
	start := time.Now()
	sem := make(chan struct{}, inventory.DefaultParallel)
	var wg sync.WaitGroup
	for _, t := range targets {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			c, err := t.d.Dial(ctx, t.addr)
			if err != nil {
				b.Error(err)
				return
			}
			defer c.Close()
			if _, _, code, err := c.Run(ctx, "true", nil); err != nil || code != 0 {
				b.Errorf("%s: %d %v", t.addr, code, err)
			}
		}()
	}
	wg.Wait()
	return time.Since(start), len(targets)
}

// seedScript is the seed's step 5 loop for every cluster. The light
// clusters have no workload API, so the control-plane addresses come from
// the Supervisor's Machines instead of `kubectl get nodes`.
const seedScript = `
for c in $(kubectl get clusters -n tkg-fleet -o jsonpath='{.items[*].metadata.name}'); do
  export CLUSTER_NAMESPACE=tkg-fleet CLUSTER_NAME=$c
  kubectl get secrets -n $CLUSTER_NAMESPACE $CLUSTER_NAME-ssh -o jsonpath='{.data.ssh-privatekey}' | base64 -d > $CLUSTER_NAME-ssh-privatekey
  chmod 600 $CLUSTER_NAME-ssh-privatekey
  kubectl get machines -n $CLUSTER_NAMESPACE -l cluster.x-k8s.io/cluster-name=$c,cluster.x-k8s.io/control-plane \
    -o jsonpath='{.items[*].status.addresses[?(@.type=="InternalIP")].address}' > nodes
  for i in ` + "`cat nodes`" + `; do
    printf "\n######\n"
    ssh -o "StrictHostKeyChecking=no" -o UserKnownHostsFile=/dev/null -i $CLUSTER_NAME-ssh-privatekey -q vmware-system-user@$i hostname
    ssh -o "StrictHostKeyChecking=no" -o UserKnownHostsFile=/dev/null -i $CLUSTER_NAME-ssh-privatekey -q vmware-system-user@$i sudo kubeadm certs check-expiration
  done
done
`

func timeSeedLoop(b *testing.B) time.Duration {
	b.Helper()
	dir := b.TempDir()
	cmd := exec.Command("bash", "-e", "-c", seedScript)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "HOME="+dir)
	start := time.Now()
	out, err := cmd.CombinedOutput()
	d := time.Since(start)
	if err != nil {
		b.Fatalf("seed loop: %v\n%s", err, tail(out))
	}
	if n := strings.Count(string(out), "######"); n != 3**generate {
		b.Fatalf("the seed loop visited %d nodes, want %d", n, 3**generate)
	}
	return d
}

// BenchmarkCheckFleet times, side by side in one run, `tkgcert check -A`,
// the floor of one SSH session per node, and the seed's serial loop.
// Run with -benchtime 1x: each iteration is minutes long.
func BenchmarkCheckFleet(b *testing.B) {
	_, kubeconfig = startLab(b, lab.Options{Generate: *generate, Workers: 1, AddressBlock: 60})
	configHome := b.TempDir()
	timeCheck(b, kubeconfig, configHome, 3**generate) // first contact: accept-new records 400 host keys
	for b.Loop() {
		floor, nodes := timeFloor(b)
		check := timeCheck(b, kubeconfig, configHome, 3**generate)
		b.ReportMetric(float64(nodes), "nodes")
		b.ReportMetric(floor.Seconds(), "floor-s")
		b.ReportMetric(check.Seconds(), "tkgcert-s")
		b.ReportMetric(check.Seconds()/floor.Seconds(), "tkgcert/floor")
		if *seedLoop {
			seed := timeSeedLoop(b)
			b.ReportMetric(seed.Seconds(), "seed-s")
			b.ReportMetric(seed.Seconds()/check.Seconds(), "seed/tkgcert")
		}
	}
}

func mustRead(b *testing.B, path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// reportErrors lists every "errors" entry of a JSON report with the name
// of the object that holds it, so that a failed run says why.
func reportErrors(out []byte) string {
	var doc any
	if err := json.Unmarshal(out, &doc); err != nil {
		return fmt.Sprintf("(not JSON: %v)", err)
	}
	var lines []string
	var walk func(v any, where string)
	walk = func(v any, where string) {
		switch v := v.(type) {
		case map[string]any:
			if name, ok := v["name"].(string); ok {
				where += "/" + name
			}
			if errs, ok := v["errors"].([]any); ok {
				for _, e := range errs {
					lines = append(lines, fmt.Sprintf("%s: %v", where, e))
				}
			}
			for k, c := range v {
				if k != "errors" {
					walk(c, where)
				}
			}
		case []any:
			for _, c := range v {
				walk(c, where)
			}
		}
	}
	walk(doc, "")
	if len(lines) > 50 {
		lines = append(lines[:50], fmt.Sprintf("... and %d more", len(lines)-50))
	}
	return strings.Join(lines, "\n")
}

func tail(out []byte) string {
	s := string(out)
	if len(s) > 2000 {
		s = s[len(s)-2000:]
	}
	return s
}
