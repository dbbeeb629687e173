package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

// Files in a lab's state directory.
const (
	KubeconfigFile = "supervisor.kubeconfig"
	ReadyFile      = "ready"
	lockFile       = "lock"
	// hostKeySeedFile outlives runs: it keeps the nodes' host keys stable.
	hostKeySeedFile = "hostkey-seed"
	pidFile         = "pid"
)

// StateLock is the exclusive hold of a state directory by one running lab.
type StateLock struct {
	dir string
	f   *os.File
}

// LockStateDir creates dir if needed and takes its lock; when another lab
// holds it, the error names its pid and how to stop it. A lab that died
// without cleaning up leaves no lock behind (the kernel drops it).
func LockStateDir(dir string) (*StateLock, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating state directory: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			pid := "unknown"
			if b, err := os.ReadFile(filepath.Join(dir, pidFile)); err == nil {
				pid = strings.TrimSpace(string(b))
			}
			return nil, fmt.Errorf("a lab is already running in %s (pid %s): stop it with `tkgcert-lab down --state-dir %s`, or use another --state-dir", dir, pid, dir)
		}
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	// Leftovers of a lab that was killed: runtime files and node disks.
	for _, name := range []string{ReadyFile, KubeconfigFile, "clusters", "supervisor", "scratch", VMCARootFile, VSphereEndpointsFile, SupervisorSSHKeyFile, vsphereDir} {
		if err := os.RemoveAll(filepath.Join(dir, name)); err != nil {
			f.Close()
			return nil, err
		}
	}
	if err := os.WriteFile(filepath.Join(dir, pidFile), []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		f.Close()
		return nil, err
	}
	return &StateLock{dir: dir, f: f}, nil
}

// Ready writes the Supervisor kubeconfig, then the ready marker.
func (s *StateLock) Ready(kubeconfig []byte) error {
	if err := os.WriteFile(filepath.Join(s.dir, KubeconfigFile), kubeconfig, 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.dir, ReadyFile), []byte(time.Now().UTC().Format(time.RFC3339)+"\n"), 0o600)
}

// Release removes the runtime files and drops the lock.
func (s *StateLock) Release() {
	for _, name := range []string{ReadyFile, KubeconfigFile, pidFile, "clusters", "supervisor", "scratch"} {
		_ = os.RemoveAll(filepath.Join(s.dir, name))
	}
	_ = s.f.Close()
}

// Down asks the lab running in dir to stop and waits until it has.
func Down(dir string, timeout time.Duration) error {
	b, err := os.ReadFile(filepath.Join(dir, pidFile))
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("no lab is running in %s", dir)
	}
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("%s: bad pid file: %w", dir, err)
	}
	if !held(dir) {
		return fmt.Errorf("no lab is running in %s (stale pid file for %d)", dir, pid)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		return fmt.Errorf("stopping the lab (pid %d): %w", pid, err)
	}
	if err := wait.PollUntilContextTimeout(context.Background(), 100*time.Millisecond, timeout, true, func(context.Context) (bool, error) {
		return !held(dir), nil
	}); err != nil {
		return fmt.Errorf("the lab (pid %d) did not stop within %s", pid, timeout)
	}
	return nil
}

// held reports whether some process holds dir's lock.
func held(dir string) bool {
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR, 0)
	if err != nil {
		return false
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return true
	}
	_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return false
}
