package sshd

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// helperEnv makes the test binary run a server (runHelperServer) instead of
// the tests: its value is the node root, then the scratch directory, then
// the authorized key, separated by newlines.
const helperEnv = "TKGCERT_SSHD_TEST_HELPER"

// runHelperServer serves until killed, after printing the address.
func runHelperServer() {
	parts := strings.SplitN(os.Getenv(helperEnv), "\n", 3)
	pub, _, _, _, err := ssh.ParseAuthorizedKey([]byte(parts[2]))
	if err != nil {
		panic(err)
	}
	s, err := Start(Options{Address: "127.0.0.1:0", HostKey: hostKey, User: testUser, AuthorizedKey: pub,
		Hostname: "orphan-node", Root: parts[0], ScratchDir: parts[1]})
	if err != nil {
		panic(err)
	}
	fmt.Println(s.Addr())
	select {}
}

// startHelper runs a server for node orphan-node in a child process: the
// test binary, behind the command prefix wrap (which ends by exec'ing the
// arguments it is given after it). It returns the child and the server's
// host and port.
func startHelper(t *testing.T, root, scratch string, wrap ...string) (helper *exec.Cmd, host, port string) {
	t.Helper()
	args := append(wrap, os.Args[0], "-test.run=^$")
	helper = exec.Command(args[0], args[1:]...)
	helper.Env = append(os.Environ(), helperEnv+"="+root+"\n"+scratch+"\n"+string(ssh.MarshalAuthorizedKey(clientPub)))
	helper.Stderr = os.Stderr
	out, err := helper.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := helper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = helper.Process.Kill()
		_ = helper.Wait()
	})
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the helper's address: %v", err)
	}
	host, port = splitAddr(t, strings.TrimSpace(addr))
	return helper, host, port
}

// TestServerDeathKillsSession checks Pdeathsig: when the server process
// dies without Close, its sessions' processes die too.
func TestServerDeathKillsSession(t *testing.T) {
	scratch := t.TempDir()
	helper, host, port := startHelper(t, t.TempDir(), scratch)

	key := writeKey(t, clientKey)
	client := exec.Command(sshBin, "-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-i", key, "-p", port, testUser+"@"+host, "echo $$; exec sleep 1000")
	sshOut, err := client.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := client.Start(); err != nil {
		t.Fatal(err)
	}
	defer client.Process.Kill()
	line, err := bufio.NewReader(sshOut).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the session's PID: %v", err)
	}
	pids := parsePIDs(t, "0 0 "+strings.TrimSpace(line))
	pid := pids[2]
	if !alive(pid) {
		t.Fatalf("session process %d is not running", pid)
	}

	if err := helper.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	// The kernel delivers the death signal asynchronously; a generous bound
	// only keeps a failure from hanging the run.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	for alive(pid) {
		if ctx.Err() != nil {
			t.Fatalf("session process %d survived the server", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
	_ = client.Wait()
	// The session directory stays (nobody removed it), but it is empty: the
	// tmpfs on it lived in the session's namespace.
	dirs, _ := filepath.Glob(filepath.Join(scratch, "sshd-*", "session-*", "*"))
	if len(dirs) != 0 {
		t.Errorf("files left in session directories: %q", dirs)
	}
}

// TestMountsBelowAreKept checks that mounts below /etc and /var/lib (a
// container runtime's /etc/hosts, say) stay visible in sessions. The server
// runs in a private mount namespace where such mounts exist.
func TestMountsBelowAreKept(t *testing.T) {
	entries, err := os.ReadDir("/var/lib")
	if err != nil {
		t.Fatal(err)
	}
	varLibDir := ""
	for _, e := range entries {
		if e.IsDir() {
			varLibDir = filepath.Join("/var/lib", e.Name())
			break
		}
	}
	if varLibDir == "" {
		t.Skip("no directory in /var/lib to mount over")
	}
	src := t.TempDir()
	hosts := filepath.Join(src, "hosts")
	if err := os.WriteFile(hosts, []byte("127.0.0.1 mounted-hosts\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "marker"), []byte("mounted below /var/lib\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "etc", "kubernetes"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc", "kubernetes", "marker"), []byte("node\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, host, port := startHelper(t, root, t.TempDir(), "unshare", "--mount", "--propagation", "private", "sh", "-c",
		`mount --bind "$1" /etc/hosts && mount --bind "$2" "$3" && shift 3 && exec "$@"`,
		"wrap", hosts, src, varLibDir)

	key := writeKey(t, clientKey)
	out, err := helperSSH(host, port, key, "", "cat /etc/hosts "+varLibDir+"/marker /etc/kubernetes/marker; hostname")
	if want := "127.0.0.1 mounted-hosts\nmounted below /var/lib\nnode\norphan-node\n"; err != nil || string(out) != want {
		t.Errorf("session saw %q (%v), want %q", out, err, want)
	}
}

// TestNodeBelowVarLib runs a server whose node root and scratch directory
// lie below /var/lib, as with a lab state directory /var/lib/tkgcert-lab:
// writes to the node's home must reach the node's directory, not the
// session's overlay. The host's /var is replaced by a tmpfs in a private
// mount namespace for this.
func TestNodeBelowVarLib(t *testing.T) {
	_, host, port := startHelper(t, "/var/lib/lab/node", "/var/lib/lab/scratch", "unshare", "--mount", "--propagation", "private", "sh", "-c",
		`mount -t tmpfs lab-var /var && mkdir -p /var/lib/lab/node /var/lib/lab/scratch && exec "$@"`, "wrap")
	key := writeKey(t, clientKey)
	if out, err := helperSSH(host, port, key, "rotateCertificates: true\n",
		"sudo tee /var/lib/kubelet/config.yaml >/dev/null && echo at-home > ~/f && hostname"); err != nil || string(out) != "orphan-node\n" {
		t.Fatalf("first session: %q, %v", out, err)
	}
	out, err := helperSSH(host, port, key, "", "cat ~/f /var/lib/kubelet/config.yaml /var/lib/lab/node/var/lib/kubelet/config.yaml; echo $HOME")
	if want := "at-home\nrotateCertificates: true\nrotateCertificates: true\n/var/lib/lab/node/home/" + testUser + "\n"; err != nil || string(out) != want {
		t.Errorf("second session saw %q (%v), want %q", out, err, want)
	}
}

// helperSSH runs command on a helper's server with the OpenSSH client.
func helperSSH(host, port, key, stdin, command string) ([]byte, error) {
	cmd := exec.Command(sshBin, "-F", "/dev/null", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR", "-i", key, "-p", port, testUser+"@"+host, command)
	cmd.Stdin = strings.NewReader(stdin)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		err = fmt.Errorf("%w: %s", err, stderr.String())
	}
	return out, err
}
