package sshd

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

func TestHostname(t *testing.T) {
	n := startNode(t, "127.10.0.11", "tkg-cluster-control-plane-k8bqh", nil, Options{})
	key := writeKey(t, clientKey)

	if got := mustSSH(t, n, key, "", "hostname"); got != n.name+"\n" {
		t.Errorf("hostname printed %q, want %q", got, n.name+"\n")
	}
	if got := mustSSH(t, n, key, "", "cat /etc/hostname; uname -n"); got != n.name+"\n"+n.name+"\n" {
		t.Errorf("/etc/hostname and uname -n gave %q, want the node name twice", got)
	}
	if h, err := os.Hostname(); err != nil || h != hostBefore {
		t.Errorf("host's hostname is %q (%v) after the session, want %q", h, err, hostBefore)
	}
	if b, err := os.ReadFile("/etc/hostname"); err == nil && strings.Contains(string(b), n.name) {
		t.Errorf("host's /etc/hostname was changed to %q", b)
	}
}

// TestProcedureLoop runs the vendor's check loop (procedure steps 5 and 8)
// verbatim, apart from the port and the known-hosts file.
func TestProcedureLoop(t *testing.T) {
	files := map[string]string{
		"var/lib/kubelet/config.yaml": "apiVersion: kubelet.config.k8s.io/v1beta1\nkind: KubeletConfiguration\nrotateCertificates: true\n",
	}
	n := startNode(t, "127.10.0.12", "tkg-cluster-control-plane-abcde", files, Options{})
	host, port := splitAddr(t, n.Addr())
	dir := t.TempDir()
	key := writeKey(t, clientKey)
	if err := os.WriteFile(filepath.Join(dir, "nodes"), []byte(host+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf(`for i in `+"`cat nodes`"+`; do
    printf "\n######\n"
    ssh -o "StrictHostKeyChecking=no" -o UserKnownHostsFile=/dev/null -p %s -i %s -q vmware-system-user@$i hostname
    ssh -o "StrictHostKeyChecking=no" -o UserKnownHostsFile=/dev/null -p %s -i %s -q vmware-system-user@$i sudo grep rotate /var/lib/kubelet/config.yaml
done;`, port, key, port, key)
	cmd := execCommand(t, dir, "bash", "-c", script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("loop: %v\n%s", err, out)
	}
	want := "\n######\n" + n.name + "\nrotateCertificates: true\n"
	if string(out) != want {
		t.Errorf("loop printed %q, want %q", out, want)
	}
}

func TestNodeDirectoriesArePerServer(t *testing.T) {
	a := startNode(t, "127.10.0.21", "node-a", map[string]string{
		"etc/kubernetes/marker":       "I am node a\n",
		"var/lib/kubelet/config.yaml": "rotateCertificates: true\n",
	}, Options{})
	b := startNode(t, "127.10.0.22", "node-b", map[string]string{
		"etc/kubernetes/marker":       "I am node b\n",
		"var/lib/kubelet/config.yaml": "rotateCertificates: false\n",
	}, Options{})
	key := writeKey(t, clientKey)

	for _, tc := range []struct {
		n                  *node
		marker, kubeletCfg string
	}{
		{a, "I am node a\n", "rotateCertificates: true\n"},
		{b, "I am node b\n", "rotateCertificates: false\n"},
	} {
		t.Run(tc.n.name, func(t *testing.T) {
			if got := mustSSH(t, tc.n, key, "", "sudo cat /etc/kubernetes/marker"); got != tc.marker {
				t.Errorf("/etc/kubernetes/marker is %q, want %q", got, tc.marker)
			}
			if got := mustSSH(t, tc.n, key, "", "sudo grep rotate /var/lib/kubelet/config.yaml"); got != tc.kubeletCfg {
				t.Errorf("grep rotate printed %q, want %q", got, tc.kubeletCfg)
			}
			// Writes land in the node's directory, and only there.
			mustSSH(t, tc.n, key, "written by "+tc.n.name, "sudo tee /etc/kubernetes/from-session >/dev/null")
			got, err := os.ReadFile(filepath.Join(tc.n.root, "etc/kubernetes/from-session"))
			if err != nil || string(got) != "written by "+tc.n.name {
				t.Errorf("node file from-session is %q (%v), want %q", got, err, "written by "+tc.n.name)
			}
			// The rest of /etc is the host's, and changing it does not reach the host.
			if got := mustSSH(t, tc.n, key, "", "grep -c . /etc/os-release >/dev/null && touch /etc/tkgcert-sshd-test /var/lib/tkgcert-sshd-test && echo ok"); got != "ok\n" {
				t.Errorf("touching /etc and /var/lib printed %q", got)
			}
		})
	}
	for _, p := range []string{"/etc/kubernetes", "/var/lib/kubelet", "/etc/tkgcert-sshd-test", "/var/lib/tkgcert-sshd-test"} {
		if _, err := os.Lstat(p); err == nil {
			t.Errorf("%s exists on the host", p)
		}
	}
}

func TestEnvironment(t *testing.T) {
	n := startNode(t, "127.0.0.1", "env-node", nil, Options{PathDirs: []string{"/opt/first", "/opt/second"}})
	key := writeKey(t, clientKey)
	out := mustSSH(t, n, key, "", `echo "$USER $LOGNAME $HOME $SHELL"; echo "$PATH"; pwd; ps -o comm= -p $$; echo "$SSH_CONNECTION"`)
	lines := strings.Split(out, "\n")
	home := filepath.Join(n.root, "home", testUser)
	if want := fmt.Sprintf("%s %s %s /bin/bash", testUser, testUser, home); lines[0] != want {
		t.Errorf("USER LOGNAME HOME SHELL = %q, want %q", lines[0], want)
	}
	if !strings.HasPrefix(lines[1], "/opt/first:/opt/second:") || !strings.HasSuffix(lines[1], ":/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin") {
		t.Errorf("PATH = %q, want the extra dirs, the sudo shim, then the system dirs", lines[1])
	}
	if lines[2] != home {
		t.Errorf("working directory is %q, want %q", lines[2], home)
	}
	if lines[3] != "bash" {
		t.Errorf("the command runs under %q, want bash", lines[3])
	}
	if !strings.HasPrefix(lines[4], "127.0.0.1 ") {
		t.Errorf("SSH_CONNECTION = %q", lines[4])
	}
}

// TestEnvRequests checks that LANG and LC_* are taken from the client, like
// Debian's AcceptEnv, and other variables are refused.
func TestEnvRequests(t *testing.T) {
	n := startNode(t, "127.0.0.1", "lang-node", nil, Options{})
	c := dial(t, n, testUser, clientKey)
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Setenv("LANG", "C.UTF-8"); err != nil {
		t.Errorf("Setenv LANG: %v", err)
	}
	if err := s.Setenv("LC_TIME", "C"); err != nil {
		t.Errorf("Setenv LC_TIME: %v", err)
	}
	if err := s.Setenv("PATH", "/evil"); err == nil {
		t.Error("Setenv PATH accepted, want refused")
	}
	out, err := s.Output(`echo "$LANG $LC_TIME $PATH"`)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(out); !strings.HasPrefix(got, "C.UTF-8 C ") || strings.Contains(got, "/evil") {
		t.Errorf("environment %q, want LANG and LC_TIME from the client and PATH from the server", got)
	}
}

// TestShellWithoutPTY feeds a script to the login shell, as `ssh node <
// script` does.
func TestShellWithoutPTY(t *testing.T) {
	n := startNode(t, "127.0.0.1", "script-node", nil, Options{})
	key := writeKey(t, clientKey)
	r := runSSH(t, n, key, "shopt -q login_shell && echo login\nhostname\nexit 4\n", "-T")
	if r.code != 4 || r.stdout != "login\nscript-node\n" {
		t.Errorf("got status %d, stdout %q, stderr %q; want 4 and login, script-node", r.code, r.stdout, r.stderr)
	}
}

func TestExitStatus(t *testing.T) {
	n := startNode(t, "127.0.0.1", "exit-node", nil, Options{})
	key := writeKey(t, clientKey)
	for _, tc := range []struct {
		command string
		want    int
	}{
		{"true", 0},
		{"false", 1},
		{"exit 7", 7},
		{"sudo sh -c 'exit 42'", 42},
		{"no-such-command-on-the-node", 127},
		{"sudo no-such-command-on-the-node", 1},
		{"kill -TERM $$", 255}, // OpenSSH reports a remote signal as 255
	} {
		t.Run(tc.command, func(t *testing.T) {
			if r := runSSH(t, n, key, "", tc.command); r.code != tc.want {
				t.Errorf("exit status %d, want %d (stderr %q)", r.code, tc.want, r.stderr)
			}
		})
	}
}

// TestExitSignal checks the exit-signal message and the signal request
// with the Go client, which reports them precisely (OpenSSH's ssh exits 255).
func TestExitSignal(t *testing.T) {
	n := startNode(t, "127.0.0.1", "signal-node", nil, Options{})
	c := dial(t, n, testUser, clientKey)

	sess, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	err = sess.Run("kill -KILL $$")
	if !isSignal(err, "KILL") {
		t.Errorf("kill -KILL $$: %v, want an exit-signal KILL", err)
	}

	sess, err = c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	out, err := sess.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Start("echo started; exec sleep 1000"); err != nil {
		t.Fatal(err)
	}
	if _, err := bufio.NewReader(out).ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	if err := sess.Signal(ssh.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := sess.Wait(); !isSignal(err, "TERM") {
		t.Errorf("after a TERM signal request: %v, want an exit-signal TERM", err)
	}
}

func TestStdoutStderrAndStdin(t *testing.T) {
	n := startNode(t, "127.0.0.1", "io-node", nil, Options{})
	key := writeKey(t, clientKey)

	r := runSSH(t, n, key, "", "echo to-stdout; echo to-stderr >&2; exit 3")
	if r.stdout != "to-stdout\n" || r.stderr != "to-stderr\n" || r.code != 3 {
		t.Errorf("got stdout %q, stderr %q, status %d; want to-stdout, to-stderr, 3", r.stdout, r.stderr, r.code)
	}

	// `ssh node cat` must end when the input does, with every byte back.
	var big strings.Builder
	for i := range 100000 {
		fmt.Fprintf(&big, "line %d\n", i)
	}
	if got := mustSSH(t, n, key, big.String(), "cat"); got != big.String() {
		t.Errorf("cat returned %d bytes, want %d", len(got), big.Len())
	}
	sum := fmt.Sprintf("%x", sha256.Sum256([]byte(big.String())))
	if got := mustSSH(t, n, key, big.String(), "cat > ~/upload && sha256sum < ~/upload"); !strings.HasPrefix(got, sum) {
		t.Errorf("uploaded file hashes to %q, want %s", got, sum)
	}
	if b, err := os.ReadFile(filepath.Join(n.root, "home", testUser, "upload")); err != nil || string(b) != big.String() {
		t.Errorf("uploaded file in the node's home: %d bytes (%v), want %d", len(b), err, big.Len())
	}
}

func TestAuthentication(t *testing.T) {
	n := startNode(t, "127.0.0.1", "auth-node", nil, Options{})
	good, bad := writeKey(t, clientKey), writeKey(t, wrongKey)
	for _, tc := range []struct {
		name, user, key string
		ok              bool
	}{
		{"right user and key", testUser, good, true},
		{"wrong key", testUser, bad, false},
		{"wrong user", "root", good, false},
		{"wrong user and key", "root", bad, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runSSHAs(t, n, tc.user, tc.key, "", "echo in")
			if tc.ok && (r.code != 0 || r.stdout != "in\n") {
				t.Errorf("got status %d, stdout %q, stderr %q; want to get in", r.code, r.stdout, r.stderr)
			}
			if !tc.ok && (r.code != 255 || r.stdout != "" || !strings.Contains(r.stderr, "Permission denied (publickey)")) {
				t.Errorf("got status %d, stdout %q, stderr %q; want Permission denied (publickey)", r.code, r.stdout, r.stderr)
			}
		})
	}
}

func TestHostKeyChecking(t *testing.T) {
	n := startNode(t, "127.10.0.31", "hostkey-node", nil, Options{})
	key := writeKey(t, clientKey)
	host, port := splitAddr(t, n.Addr())
	for _, tc := range []struct {
		name  string
		known ssh.PublicKey
		ok    bool
	}{
		{"known host key", hostKey.PublicKey(), true},
		{"changed host key", otherHost.PublicKey(), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			kh := filepath.Join(t.TempDir(), "known_hosts")
			line := fmt.Sprintf("[%s]:%s %s", host, port, ssh.MarshalAuthorizedKey(tc.known))
			if err := os.WriteFile(kh, []byte(line), 0o600); err != nil {
				t.Fatal(err)
			}
			r := runSSH(t, n, key, "", "-o", "StrictHostKeyChecking=yes", "-o", "UserKnownHostsFile="+kh, "hostname")
			if tc.ok != (r.code == 0) || !tc.ok && !strings.Contains(r.stderr, "Host key verification failed") {
				t.Errorf("status %d, stderr %q; want success %v", r.code, r.stderr, tc.ok)
			}
		})
	}
}

func TestConcurrentSessions(t *testing.T) {
	n := startNode(t, "127.10.0.41", "busy-node", map[string]string{"etc/kubernetes/marker": "busy\n"}, Options{})
	key := writeKey(t, clientKey)
	const sessions = 10
	var wg sync.WaitGroup
	results := make([]result, sessions)
	for i := range sessions {
		wg.Go(func() {
			results[i] = runSSH(t, n, key, fmt.Sprint(i), fmt.Sprintf("hostname; sudo cat /etc/kubernetes/marker; cat; sleep 0.2; exit %d", i))
		})
	}
	wg.Wait()
	for i, r := range results {
		want := fmt.Sprintf("busy-node\nbusy\n%d", i)
		if r.stdout != want || r.code != i {
			t.Errorf("session %d: stdout %q, status %d, stderr %q; want %q, %d", i, r.stdout, r.code, r.stderr, want, i)
		}
	}
}

// TestSessionsOnOneConnection opens several sessions on one connection at
// once, as OpenSSH's connection sharing does.
func TestSessionsOnOneConnection(t *testing.T) {
	n := startNode(t, "127.0.0.1", "mux-node", nil, Options{})
	c := dial(t, n, testUser, clientKey)
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			s, err := c.NewSession()
			if err != nil {
				t.Error(err)
				return
			}
			defer s.Close()
			out, err := s.Output(fmt.Sprintf("sleep 0.2; echo %d $(hostname)", i))
			if want := fmt.Sprintf("%d mux-node\n", i); err != nil || string(out) != want {
				t.Errorf("session %d: %q, %v; want %q", i, out, err, want)
			}
		})
	}
	wg.Wait()
}

// TestBackToBackSessionsSurvive guards against a session's final sweep
// killing the next session: a freed mount namespace's inode number can be
// handed to the next namespace, so the sweep must pin the namespace it
// sweeps. Many short sessions in a row, from several connections at once,
// must all end normally.
func TestBackToBackSessionsSurvive(t *testing.T) {
	n := startNode(t, "127.0.0.1", "seq-node", nil, Options{})
	var wg sync.WaitGroup
	for w := range 4 {
		c := dial(t, n, testUser, clientKey)
		wg.Go(func() {
			for i := range 40 {
				s, err := c.NewSession()
				if err != nil {
					t.Error(err)
					return
				}
				out, err := s.Output("sudo cat /etc/hostname")
				s.Close()
				if err != nil || string(out) != "seq-node\n" {
					t.Errorf("connection %d, session %d: %q, %v", w, i, out, err)
					return
				}
			}
		})
	}
	wg.Wait()
}

func TestKubeadm(t *testing.T) {
	bin, err := filepath.Abs("../../../bin")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(bin, "kubeadm")); err != nil {
		t.Skipf("no kubeadm built in %s: %v", bin, err)
	}
	n := startNode(t, "127.0.0.1", "kubeadm-node", nil, Options{PathDirs: []string{bin}})
	key := writeKey(t, clientKey)
	if got := mustSSH(t, n, key, "", "sudo kubeadm version -o short"); got != "v1.36.3\n" {
		t.Errorf("sudo kubeadm version printed %q, want v1.36.3", got)
	}
	// A login shell resets PATH in /etc/profile; kubeadm must stay reachable.
	if got := mustSSH(t, n, key, "", "sudo -i kubeadm version -o short"); got != "v1.36.3\n" {
		t.Errorf("sudo -i kubeadm version printed %q, want v1.36.3", got)
	}
}

func TestPTY(t *testing.T) {
	n := startNode(t, "127.0.0.1", "pty-node", nil, Options{})
	key := writeKey(t, clientKey)

	if got := mustSSH(t, n, key, "", "-tt", "tty; echo $TERM $SSH_TTY"); !regexp.MustCompile(`^/dev/pts/(\d+)\r\n\S+ /dev/pts/\d+\r\n$`).MatchString(got) {
		t.Errorf("ssh -tt tty printed %q, want /dev/pts/N and TERM, SSH_TTY", got)
	}
	if got := runSSH(t, n, key, "", "tty"); got.stdout != "not a tty\n" {
		t.Errorf("ssh tty without a pty printed %q, want not a tty", got.stdout)
	}
	// All output arrives, even right before the shell exits.
	if got := mustSSH(t, n, key, "", "-tt", "seq 1 20000"); strings.Count(got, "\r\n") != 20000 || !strings.HasSuffix(got, "\r\n20000\r\n") {
		t.Errorf("seq through the pty lost output: %d lines, ends with %q", strings.Count(got, "\r\n"), got[max(0, len(got)-20):])
	}

	// An interactive login shell, driven through its terminal.
	r := runSSH(t, n, key, "hostname\necho \"sudo=$(sudo -i sh -c 'echo $USER')\"\nexit 5\n", "-tt")
	if r.code != 5 || !strings.Contains(r.stdout, "pty-node\r\n") || !strings.Contains(r.stdout, "sudo=root\r\n") {
		t.Errorf("interactive shell: status %d, output %q; want the node name, sudo=root and status 5", r.code, r.stdout)
	}
}

func TestWindowChange(t *testing.T) {
	n := startNode(t, "127.0.0.1", "window-node", nil, Options{})
	c := dial(t, n, testUser, clientKey)
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RequestPty("xterm", 24, 80, ssh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	in, err := s.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	s.Stdout = &out
	if err := s.Start("read _; stty size"); err != nil {
		t.Fatal(err)
	}
	// OpenSSH sends window-change without asking for a reply; asking for one
	// here makes sure the server handled it before the shell reads its line.
	ok, err := s.SendRequest("window-change", true, ssh.Marshal(windowChange{Columns: 132, Rows: 50}))
	if err != nil || !ok {
		t.Fatalf("window-change: %v, %v", ok, err)
	}
	if _, err := in.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	if err := s.Wait(); err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(out.String(), "50 132\r\n") {
		t.Errorf("stty size printed %q, want 50 132", out.String())
	}
}

func TestRejectedRequests(t *testing.T) {
	n := startNode(t, "127.0.0.1", "reject-node", nil, Options{})
	c := dial(t, n, testUser, clientKey)
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.RequestSubsystem("sftp"); err == nil {
		t.Error("sftp subsystem accepted, want refused")
	}
	if _, err := c.Dial("tcp", "127.0.0.1:1"); err == nil {
		t.Error("port forwarding accepted, want refused")
	}
	// The connection stays usable.
	s2, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	if out, err := s2.Output("echo fine"); err != nil || string(out) != "fine\n" {
		t.Errorf("session after refusals: %q, %v", out, err)
	}
}

func TestStartValidation(t *testing.T) {
	full := Options{Address: "127.0.0.1:0", HostKey: hostKey, User: testUser, AuthorizedKey: clientPub,
		Hostname: "n", Root: t.TempDir(), ScratchDir: t.TempDir()}
	for _, tc := range []struct {
		name   string
		change func(*Options)
		want   string
	}{
		{"no host key", func(o *Options) { o.HostKey = nil }, "missing options: HostKey"},
		{"no user, no key", func(o *Options) { o.User, o.AuthorizedKey = "", nil }, "missing options: User, AuthorizedKey"},
		{"bad hostname", func(o *Options) { o.Hostname = "a/b" }, `invalid hostname "a/b"`},
		{"address in use", func(o *Options) { o.Address = "127.0.0.1:1" }, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := full
			tc.change(&o)
			if tc.name == "address in use" {
				s, err := Start(full)
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				o.Address = s.Addr()
				tc.want = "listening for SSH on node n (" + s.Addr() + ")"
			}
			s, err := Start(o)
			if err == nil {
				s.Close()
				t.Fatal("Start succeeded")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func splitAddr(t *testing.T, addr string) (host, port string) {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	if i < 0 {
		t.Fatalf("address %q has no port", addr)
	}
	return addr[:i], addr[i+1:]
}

// dial connects with the Go client, checking the host key.
func dial(t *testing.T, n *node, user string, key any) *ssh.Client {
	t.Helper()
	signer, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := ssh.Dial("tcp", n.Addr(), &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(hostKey.PublicKey()),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// isSignal reports whether err is an exit-signal sig.
func isSignal(err error, sig string) bool {
	ee, ok := err.(*ssh.ExitError)
	return ok && ee.Signal() == sig
}
