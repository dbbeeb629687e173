package sshd

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

const (
	testUser = "vmware-system-user"
	sshBin   = "/usr/bin/ssh"
)

// Keys generated once for the whole package.
var (
	hostKey    ssh.Signer         // the servers' host key
	clientKey  ed25519.PrivateKey // the authorized key
	clientPub  ssh.PublicKey
	wrongKey   ed25519.PrivateKey // a key nobody authorized
	otherHost  ssh.Signer         // a host key no server uses
	hostBefore string             // the host's hostname before any test
)

func TestMain(m *testing.M) {
	newSigner := func() ssh.Signer {
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		s, err := ssh.NewSignerFromKey(k)
		if err != nil {
			panic(err)
		}
		return s
	}
	hostKey, otherHost = newSigner(), newSigner()
	var err error
	if _, clientKey, err = ed25519.GenerateKey(rand.Reader); err != nil {
		panic(err)
	}
	if _, wrongKey, err = ed25519.GenerateKey(rand.Reader); err != nil {
		panic(err)
	}
	if clientPub, err = ssh.NewPublicKey(clientKey.Public()); err != nil {
		panic(err)
	}
	if hostBefore, err = os.Hostname(); err != nil {
		panic(err)
	}
	if os.Getenv(helperEnv) != "" {
		runHelperServer()
		return
	}
	os.Exit(m.Run())
}

// writeKey writes k in OpenSSH format to a 0600 file for the ssh binary.
func writeKey(t *testing.T, k ed25519.PrivateKey) string {
	t.Helper()
	block, err := ssh.MarshalPrivateKey(k, "")
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "id_ed25519")
	if err := os.WriteFile(p, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// node is a server under test with its directories.
type node struct {
	*Server
	name, root, scratch string
}

// startNode starts a server for node name on a free port of ip, with the
// given files (relative to the node root) and o's non-zero fields.
func startNode(t *testing.T, ip, name string, files map[string]string, o Options) *node {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		p = filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if o.Address == "" {
		o.Address = net.JoinHostPort(ip, "0")
	}
	o.HostKey, o.User, o.AuthorizedKey = hostKey, testUser, clientPub
	o.Hostname, o.Root = name, root
	if o.ScratchDir == "" {
		o.ScratchDir = t.TempDir()
	}
	s, err := Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return &node{Server: s, name: name, root: root, scratch: o.ScratchDir}
}

// result is what one ssh invocation did.
type result struct {
	stdout, stderr string
	code           int
}

// sshArgs are the OpenSSH client arguments to reach n as user with key,
// followed by extra (options, then the remote command).
func sshArgs(t *testing.T, n *node, user, key string, extra ...string) []string {
	t.Helper()
	host, port, err := net.SplitHostPort(n.Addr())
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for i < len(extra) && strings.HasPrefix(extra[i], "-") {
		switch extra[i] {
		case "-o", "-p", "-i", "-l", "-F":
			i++ // the option's argument
		}
		i++
	}
	// ssh keeps the first value of an option: the caller's come first.
	args := append([]string{"-F", "/dev/null"}, extra[:i]...)
	args = append(args,
		"-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
		"-o", "BatchMode=yes", "-o", "IdentitiesOnly=yes", "-o", "LogLevel=ERROR",
		"-i", key, "-p", port, user+"@"+host)
	return append(args, extra[i:]...)
}

// runSSH runs the real OpenSSH client against n with stdin and returns what
// it did. extra holds client options (starting with "-") then the command.
func runSSH(t *testing.T, n *node, key, stdin string, extra ...string) result {
	t.Helper()
	return runSSHAs(t, n, testUser, key, stdin, extra...)
}

func runSSHAs(t *testing.T, n *node, user, key, stdin string, extra ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute) // a hang is a failure, not a stuck run
	defer cancel()
	cmd := exec.CommandContext(ctx, sshBin, sshArgs(t, n, user, key, extra...)...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	r := result{stdout: out.String(), stderr: errb.String()}
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok || ctx.Err() != nil {
			t.Fatalf("ssh %v: %v (stderr %q)", extra, err, r.stderr)
		}
		r.code = ee.ExitCode()
	}
	return r
}

// mustSSH runs ssh and fails the test unless the command exits 0.
func mustSSH(t *testing.T, n *node, key, stdin string, extra ...string) string {
	t.Helper()
	r := runSSH(t, n, key, stdin, extra...)
	if r.code != 0 {
		t.Fatalf("ssh %q: exit status %d, stdout %q, stderr %q", extra, r.code, r.stdout, r.stderr)
	}
	return r.stdout
}

// procsMatching lists the live (non-zombie) processes whose command line
// contains s.
func procsMatching(t *testing.T, s string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(cmdline, []byte(s)) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ...
		if i := bytes.LastIndexByte(stat, ')'); i > 0 && len(stat) > i+2 && stat[i+2] == 'Z' {
			continue
		}
		found = append(found, fmt.Sprintf("%s: %q", e.Name(), bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '})))
	}
	return found
}

// execCommand is exec.Command in dir.
func execCommand(t *testing.T, dir, name string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	return cmd
}
