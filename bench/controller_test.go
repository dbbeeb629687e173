package bench

import (
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tkgcert/tkgcert/internal/lab"
)

var (
	controllerFleet = flag.Int("controller-generate", 1000, "light clusters in BenchmarkControllerPass's lab")
	// One lab process holds every node's listeners (7 per control-plane
	// node): 1000 clusters of 3 control-plane nodes need about 26000 open
	// files, over this machine's hard limit of 20000, which needs
	// CAP_SYS_RESOURCE to raise.
	controllerCP   = flag.Int("controller-cp", 1, "control-plane nodes per cluster in BenchmarkControllerPass's lab")
	controllerHeap = flag.String("controller-heap-profile", "", "write the controller's heap profile (go tool pprof) after each pass to this file, suffixed with its arguments")
)

// BenchmarkControllerPass measures, side by side in one run on one fleet,
// the controller's "pass" (the time from its start until every cluster has
// been reconciled, that is inventoried, once) and `tkgcert check -A`, and
// the controller's peak memory. Run with -benchtime 1x.
func BenchmarkControllerPass(b *testing.B) {
	n := *controllerFleet
	cp := *controllerCP
	_, kc := startLab(b, lab.Options{Generate: n, Workers: 1, ControlPlaneReplicas: cp, AddressBlock: 62})
	configHome := b.TempDir()
	knownHosts := filepath.Join(configHome, "tkgcert", "known_hosts")
	timeCheck(b, kc, configHome, cp*n) // first contact: accept-new records the host keys
	for b.Loop() {
		c := timeCheck(b, kc, configHome, cp*n)
		dry := runControllerPass(b, kc, knownHosts, n, "--dry-run")
		// A first pass that writes: every cluster's status annotation (and
		// its Events); --rotate-before 0d so that nothing is rotated.
		first := runControllerPass(b, kc, knownHosts, n, "--rotate-before", "0d")
		b.ReportMetric(float64(n), "clusters")
		b.ReportMetric(float64(n*(cp+1)), "nodes")
		b.ReportMetric(c.Seconds(), "check-s")
		b.ReportMetric(dry.pass.Seconds(), "pass-s")
		b.ReportMetric(dry.pass.Seconds()/c.Seconds(), "pass/check")
		b.ReportMetric(dry.peakRSS, "peak-rss-MiB")
		b.ReportMetric(first.pass.Seconds(), "first-pass-writing-s")
		b.ReportMetric(first.peakRSS, "first-pass-peak-rss-MiB")
	}
}

type passResult struct {
	pass    time.Duration
	peakRSS float64 // MiB
}

// runControllerPass starts the controller, waits until it has inventoried
// every cluster once, reads that duration from its metrics and its peak RSS from /proc, and
// stops it.
func runControllerPass(b *testing.B, kc, knownHosts string, n int, args ...string) passResult {
	b.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	logFile := filepath.Join(b.TempDir(), "controller.log")
	log, err := os.Create(logFile)
	if err != nil {
		b.Fatal(err)
	}
	defer log.Close()
	pprofAddr := "0"
	if *controllerHeap != "" {
		pl, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		pprofAddr = pl.Addr().String()
		pl.Close()
	}
	cmd := exec.Command(tkgcert, append([]string{"controller", "--kubeconfig", kc, "--leader-elect=false",
		"--metrics-bind-address", addr, "--metrics-secure=false", "--health-probe-bind-address", "0", "--pprof-bind-address", pprofAddr,
		"--resync", "1h", "--known-hosts", knownHosts}, args...)...)
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Kill()
		<-exited
	}()
	deadline := time.After(30 * time.Minute) // liveness guard
	for {
		data, _ := os.ReadFile(logFile)
		if strings.Contains(string(data), "Every cluster inventoried") {
			break
		}
		select {
		case err := <-exited:
			exited <- err // for the deferred wait
			b.Fatalf("the controller exited (%v) before inventorying every cluster:\n%s", err, tail(data))
		case <-deadline:
			b.Fatalf("the controller did not inventory every cluster:\n%s", tail(data))
		case <-time.After(100 * time.Millisecond):
		}
	}
	peak := peakRSS(b, cmd.Process.Pid)
	if *controllerHeap != "" {
		saveHeapProfile(b, pprofAddr, *controllerHeap+"."+strings.Join(args, ""))
	}
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		b.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	secs := metric(b, string(body), "tkgcert_inventory_duration_seconds")
	if got := metric(b, string(body), "tkgcert_clusters"); int(got) != n {
		b.Fatalf("the pass covered %v clusters, want %d", got, n)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	return passResult{pass: time.Duration(secs * float64(time.Second)), peakRSS: peak}
}

// saveHeapProfile writes the controller's heap profile to file.
func saveHeapProfile(b *testing.B, addr, file string) {
	resp, err := http.Get("http://" + addr + "/debug/pprof/heap")
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(file, data, 0o644); err != nil {
		b.Fatal(err)
	}
	b.Logf("heap profile: %s", file)
}

// peakRSS reads the process's peak resident set (VmHWM) in MiB.
func peakRSS(b *testing.B, pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatal(err)
	}
	for _, l := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseFloat(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 64)
			if err != nil {
				b.Fatal(err)
			}
			return kb / 1024
		}
	}
	b.Fatal("no VmHWM in /proc status")
	return 0
}

func metric(b *testing.B, body, name string) float64 {
	for _, l := range strings.Split(body, "\n") {
		if v, ok := strings.CutPrefix(l, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				b.Fatal(err)
			}
			return f
		}
	}
	b.Fatalf("no metric %s", name)
	return 0
}
