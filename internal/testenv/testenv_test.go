package testenv

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tkgcert/tkgcert/internal/capi"
)

// alive reports whether pid is a live (not zombie) process.
func alive(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	// The state follows the parenthesised command name.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, os.ErrNotExist)
}

// waitGone waits until no pid is alive and dir is gone. The bound is a
// liveness guard, not a performance claim.
func waitGone(t *testing.T, pids []int, dir string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var left []string
		for _, p := range pids {
			if alive(p) {
				left = append(left, fmt.Sprintf("pid %d", p))
			}
		}
		if exists(dir) {
			left = append(left, dir)
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("left behind: %v", left)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestStartServesCRDsAndStopLeavesNothing(t *testing.T) {
	env, err := Start(context.Background(), Options{CAPIVersion: capi.V1Beta1})
	if err != nil {
		t.Fatal(err)
	}
	pids := []int{env.Server.Etcd.Pid(), env.Server.APIServer.Pid()}
	dir := env.Dir
	stopped := false
	defer func() {
		if !stopped {
			env.Stop()
		}
	}()
	for _, p := range pids {
		if !alive(p) {
			t.Fatalf("pid %d not running after Start", p)
		}
	}
	// The admin client works and the Cluster API types are there.
	var nss corev1.NamespaceList
	if err := env.Client.List(context.Background(), &nss); err != nil {
		t.Fatalf("listing namespaces: %v", err)
	}
	out, err := exec.Command("kubectl", "--kubeconfig", env.KubeconfigPath, "get", "clusters.cluster.x-k8s.io", "-A").CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl get clusters: %v\n%s", err, out)
	}
	ctxOut, err := exec.Command("kubectl", "--kubeconfig", env.KubeconfigPath, "config", "current-context").Output()
	if err != nil || strings.TrimSpace(string(ctxOut)) != ContextName {
		t.Fatalf("current context = %q, %v; want %s", ctxOut, err, ContextName)
	}
	env.Stop()
	stopped = true
	for _, p := range pids {
		if alive(p) {
			t.Errorf("pid %d still running after Stop", p)
		}
	}
	if exists(dir) {
		t.Errorf("%s still exists after Stop", dir)
	}
	env.Stop() // a second Stop is harmless
}

// TestPanickingTestLeavesNothing runs a child test binary that starts an
// environment and panics; its servers and temp dir must disappear.
func TestPanickingTestLeavesNothing(t *testing.T) {
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), "TKGCERT_TESTENV_PANIC=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var pids []int
	var dir string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "PID "); ok {
			p, _ := strconv.Atoi(v)
			pids = append(pids, p)
		}
		if v, ok := strings.CutPrefix(sc.Text(), "DIR "); ok {
			dir = v
		}
	}
	err = cmd.Wait()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
		t.Fatalf("the panicking child ended with %v, want a panic (exit status 2)", err)
	}
	if len(pids) != 2 || dir == "" {
		t.Fatalf("helper reported pids %v and dir %q; want two pids and a dir", pids, dir)
	}
	waitGone(t, pids, dir)
}

// TestMain doubles as the panicking child of TestPanickingTestLeavesNothing.
func TestMain(m *testing.M) {
	if os.Getenv("TKGCERT_TESTENV_PANIC") == "1" {
		panicWithEnvironment()
	}
	os.Exit(m.Run())
}

func panicWithEnvironment() {
	env, err := Start(context.Background(), Options{CAPIVersion: capi.V1Beta2})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(3)
	}
	fmt.Printf("PID %d\nPID %d\nDIR %s\n", env.Server.Etcd.Pid(), env.Server.APIServer.Pid(), env.Dir)
	_ = env.Client.List(context.Background(), &corev1.NamespaceList{}, client.Limit(1))
	panic("deliberate panic with a running environment")
}

func TestMissingBinariesSayMakeTools(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	_, err := Start(context.Background(), Options{BinDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "make tools") {
		t.Fatalf("Start without binaries: %v, want an error that says to run make tools", err)
	}
}
