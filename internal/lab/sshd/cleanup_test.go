package sshd

import (
	"bufio"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// backgroundJobs starts two background jobs on the node (one in a session
// of its own, one in the shell's process group), prints their PIDs and the
// shell's, then keeps the session open unless end is set.
func backgroundJobs(end bool) string {
	s := `rm -f ~/p1 ~/p2
setsid sh -c 'echo $$ > ~/p1; exec sleep 1000' </dev/null >/dev/null 2>&1 &
sh -c 'echo $$ > ~/p2; exec sleep 1000' </dev/null >/dev/null 2>&1 &
until [ -s ~/p1 ] && [ -s ~/p2 ]; do sleep 0.01; done
echo $(cat ~/p1 ~/p2) $$
`
	if !end {
		s += "exec sleep 1000\n"
	}
	return s
}

// alive reports whether pid is a live (non-zombie) process.
func alive(pid int) bool {
	stat, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	i := strings.LastIndexByte(string(stat), ')')
	return i > 0 && len(stat) > i+2 && stat[i+2] != 'Z'
}

func parsePIDs(t *testing.T, line string) []int {
	t.Helper()
	var pids []int
	for _, f := range strings.Fields(line) {
		pid, err := strconv.Atoi(f)
		if err != nil {
			t.Fatalf("bad PID line %q", line)
		}
		pids = append(pids, pid)
	}
	if len(pids) != 3 {
		t.Fatalf("bad PID line %q", line)
	}
	return pids
}

func TestSessionEndKillsItsProcesses(t *testing.T) {
	n := startNode(t, "127.0.0.1", "end-node", nil, Options{})
	key := writeKey(t, clientKey)
	pids := parsePIDs(t, mustSSH(t, n, key, "", backgroundJobs(true)))
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("process %d of the ended session is still running", pid)
		}
	}
	// Only the shim is left in the server's directory.
	dirs, _ := filepath.Glob(filepath.Join(n.scratch, "sshd-*", "*"))
	if len(dirs) != 1 || filepath.Base(dirs[0]) != "bin" {
		t.Errorf("server directory holds %q after the session, want only bin", dirs)
	}
}

func TestCloseLeavesNothingBehind(t *testing.T) {
	scratch := filepath.Join(t.TempDir(), "scratch") // created by Start
	n := startNode(t, "127.10.0.51", "close-node", map[string]string{"etc/kubernetes/marker": "x"}, Options{ScratchDir: scratch})
	key := writeKey(t, clientKey)

	cmd := exec.Command(sshBin, sshArgs(t, n, testUser, key, backgroundJobs(false))...)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the PIDs: %v", err)
	}
	pids := parsePIDs(t, line)
	for _, pid := range pids {
		if !alive(pid) {
			t.Fatalf("session process %d is not running", pid)
		}
	}
	// The node's mounts exist only in the session's namespace.
	mounts, err := os.ReadFile("/proc/" + strconv.Itoa(pids[2]) + "/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(mounts), " /etc/kubernetes ") || !strings.Contains(string(mounts), "tkgcert-lab-session") {
		t.Errorf("session mounts lack /etc/kubernetes or the session tmpfs:\n%s", mounts)
	}
	if own, _ := os.ReadFile("/proc/self/mountinfo"); strings.Contains(string(own), "tkgcert-lab") || strings.Contains(string(own), "/etc/kubernetes") {
		t.Errorf("session mounts leaked to the host:\n%s", own)
	}

	if err := n.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_, _ = io.Copy(io.Discard, stdout)
	if err := cmd.Wait(); err == nil {
		t.Error("ssh exited 0 after the server closed, want a failure")
	}
	for _, pid := range pids {
		if alive(pid) {
			t.Errorf("session process %d still runs after Close", pid)
		}
	}
	left, err := os.ReadDir(scratch)
	if err != nil || len(left) != 0 {
		t.Errorf("scratch directory holds %v (%v) after Close, want nothing", left, err)
	}
	for _, p := range []string{"/etc/kubernetes", "/var/lib/kubelet"} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s exists on the host", p)
		}
	}
	// Closing twice is fine.
	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}
