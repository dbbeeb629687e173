package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tkgcert/tkgcert/internal/kubeserver"
)

var (
	tkgcert    string // the binary under test
	tkgcertLab string // the lab's command, which starts the world the tests run against
	binDir     string // the repository's bin/ with kube-apiserver, etcd, kubeadm
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	binDir = kubeserver.RepoBinDir()
	if _, err := kubeserver.FindBinaries(binDir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, tool := range []string{"kubectl", "ssh", "bash", "base64"} {
		if _, err := exec.LookPath(tool); err != nil {
			fmt.Fprintf(os.Stderr, "the end-to-end tests drive the real %s, which is not on PATH\n", tool)
			return 1
		}
	}
	dir, err := os.MkdirTemp("", "tkgcert-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	tkgcert = filepath.Join(dir, "tkgcert")
	tkgcertLab = filepath.Join(dir, "tkgcert-lab")
	for bin, pkg := range map[string]string{tkgcert: "cmd/tkgcert", tkgcertLab: "cmd/tkgcert-lab"} {
		build := exec.Command("go", "build", "-o", bin, "github.com/tkgcert/tkgcert/"+pkg)
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			fmt.Fprintf(os.Stderr, "building %s: %v\n", filepath.Base(bin), err)
			return 1
		}
	}
	return m.Run()
}

// labProcess is a `tkgcert-lab up` running for one test.
type labProcess struct {
	stateDir string
	cmd      *exec.Cmd
	done     chan error
	stderr   *os.File
}

// startLab runs `tkgcert-lab up` with args and waits for its ready file.
func startLab(t *testing.T, args ...string) *labProcess {
	t.Helper()
	state := t.TempDir()
	errFile, err := os.Create(filepath.Join(state, "..", filepath.Base(state)+".stderr"))
	if err != nil {
		t.Fatal(err)
	}
	args = append([]string{"up", "--state-dir", state, "--bin-dir", binDir}, args...)
	cmd := exec.Command(tkgcertLab, args...)
	cmd.Stderr = errFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	p := &labProcess{stateDir: state, cmd: cmd, done: make(chan error, 1), stderr: errFile}
	go func() { p.done <- cmd.Wait() }()
	t.Cleanup(func() { p.stop(t) })
	deadline := time.Now().Add(5 * time.Minute) // liveness guard
	for {
		if _, err := os.Stat(filepath.Join(state, "ready")); err == nil {
			return p
		}
		select {
		case err := <-p.done:
			p.done <- err
			t.Fatalf("tkgcert-lab up exited before ready: %v\n%s", err, p.log())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("tkgcert-lab up not ready:\n%s", p.log())
		}
	}
}

func (p *labProcess) log() string {
	b, _ := os.ReadFile(p.stderr.Name())
	return string(b)
}

func (p *labProcess) kubeconfig() string { return filepath.Join(p.stateDir, "supervisor.kubeconfig") }

// stop ends the lab with `tkgcert-lab down`, as a user would.
func (p *labProcess) stop(t *testing.T) {
	select {
	case <-p.done:
		return
	default:
	}
	out, err := exec.Command(tkgcertLab, "down", "--state-dir", p.stateDir).CombinedOutput()
	if err != nil {
		t.Errorf("tkgcert-lab down: %v\n%s", err, out)
		_ = p.cmd.Process.Kill()
	}
	select {
	case <-p.done:
	case <-time.After(2 * time.Minute):
		_ = p.cmd.Process.Kill()
		t.Errorf("the lab did not exit after tkgcert-lab down")
	}
	p.stderr.Close()
	os.Remove(p.stderr.Name())
}

// shell runs a bash script in dir with env, returning stdout; stderr is
// appended to the test log on failure.
type shell struct {
	t   *testing.T
	dir string
	env []string
}

func newShell(t *testing.T, env ...string) *shell {
	dir := t.TempDir()
	// OpenSSH writes known hosts to the user's home (not $HOME); keep the
	// seed's StrictHostKeyChecking=no from touching it: a wrapper puts the
	// known_hosts file in the test's directory. ssh takes the first value of
	// an option, so the wrapper's comes first.
	shim := filepath.Join(dir, ".bin")
	if err := os.MkdirAll(shim, 0o755); err != nil {
		t.Fatal(err)
	}
	realSSH, _ := exec.LookPath("ssh")
	wrapper := fmt.Sprintf("#!/bin/sh\nexec %s -o UserKnownHostsFile=%s \"$@\"\n", realSSH, filepath.Join(dir, ".known_hosts"))
	if err := os.WriteFile(filepath.Join(shim, "ssh"), []byte(wrapper), 0o755); err != nil {
		t.Fatal(err)
	}
	base := []string{"PATH=" + shim + ":" + os.Getenv("PATH"), "HOME=" + dir, "TZ=UTC", "LC_ALL=C"}
	return &shell{t: t, dir: dir, env: append(base, env...)}
}

func (s *shell) run(script string) string {
	s.t.Helper()
	out, err := s.try(script)
	if err != nil {
		s.t.Fatalf("script failed: %v\n--- script\n%s\n--- output\n%s", err, script, out)
	}
	return out
}

func (s *shell) try(script string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", "-e", "-o", "pipefail", "-c", script)
	cmd.Dir = s.dir
	cmd.Env = s.env
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return string(out) + stderr.String(), err
	}
	return string(out), nil
}

// lines splits output into trimmed, non-empty lines.
func lines(s string) []string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if l := strings.TrimSpace(sc.Text()); l != "" {
			out = append(out, l)
		}
	}
	return out
}
