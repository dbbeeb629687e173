package remote

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// runNode starts a node and returns a Client connected to it.
func runNode(t *testing.T, name string) *Client {
	t.Helper()
	n := startNode(t, name, "", hostA, pubOf(t, edKey))
	d := newDialer(t, clientPEM, Options{Port: n.port, KnownHostsFile: knownHostsIn(t)})
	return dial(t, d)
}

func TestRun(t *testing.T) {
	c := runNode(t, "node-run")
	binary := make([]byte, 256*3)
	for i := range binary {
		binary[i] = byte(i)
	}
	for _, tc := range []struct {
		name           string
		cmd            string
		stdin          []byte
		stdout, stderr string
		code           int
	}{
		{name: "stdout", cmd: "echo hello; hostname", stdout: "hello\nnode-run\n"},
		{name: "user", cmd: `echo "$USER"`, stdout: testUser + "\n"},
		{name: "exit code and stderr", cmd: "echo out; echo oops >&2; exit 3", stdout: "out\n", stderr: "oops\n", code: 3},
		{name: "stdin", cmd: "cat; echo done", stdin: []byte("line 1\nline 2\n"), stdout: "line 1\nline 2\ndone\n"},
		{name: "binary stdin", cmd: "cat", stdin: binary, stdout: string(binary)},
		{name: "no stdin reads EOF", cmd: "cat; echo eof", stdout: "eof\n"},
		{name: "killed by a signal", cmd: "kill -KILL $$", code: 128 + 9},
	} {
		t.Run(tc.name, func(t *testing.T) {
			stdout, stderr, code, err := c.Run(t.Context(), tc.cmd, tc.stdin)
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if string(stdout) != tc.stdout || string(stderr) != tc.stderr || code != tc.code {
				t.Errorf("Run(%q) = stdout %q, stderr %q, exit %d; want %q, %q, %d", tc.cmd, stdout, stderr, code, tc.stdout, tc.stderr, tc.code)
			}
		})
	}
}

// TestRunConcurrent runs several sessions on one Client at once.
func TestRunConcurrent(t *testing.T) {
	c := runNode(t, "node-concurrent")
	var wg sync.WaitGroup
	for i := range 5 {
		wg.Go(func() {
			want := strings.Repeat("x", i+1)
			stdout, _, code, err := c.Run(t.Context(), "cat", []byte(want))
			if err != nil || code != 0 || string(stdout) != want {
				t.Errorf("session %d: %q, exit %d, %v", i, stdout, code, err)
			}
		})
	}
	wg.Wait()
}

// TestRunCancel cancels a long command once it runs: Run returns with the
// context's error long before the command would end, the command is
// killed, and the Client stays usable.
func TestRunCancel(t *testing.T) {
	c := runNode(t, "node-cancel")
	marker := filepath.Join(t.TempDir(), "started") // /tmp is the host's in lab sessions
	const sleep = "sleep 30.4321"
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		defer cancel()
		for {
			if _, err := os.Stat(marker); err == nil {
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(10 * time.Millisecond):
			}
		}
	}()
	start := time.Now()
	_, _, code, err := c.Run(ctx, "touch "+marker+" && exec "+sleep, nil)
	elapsed := time.Since(start)
	if !errors.Is(err, context.Canceled) || code != -1 {
		t.Fatalf("Run = exit %d, %v; want -1, context.Canceled", code, err)
	}
	if !strings.Contains(err.Error(), `running "touch `) || !strings.Contains(err.Error(), "context canceled") {
		t.Errorf("error %q does not say what was cancelled", err)
	}
	if elapsed > 20*time.Second {
		t.Errorf("Run returned after %s, not promptly on cancel", elapsed)
	}
	// The session's end kills the command.
	deadline := time.Now().Add(20 * time.Second)
	for len(procsRunning(t, sleep)) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%q still runs after the cancelled session", sleep)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if stdout, _, code, err := c.Run(t.Context(), "echo still usable", nil); err != nil || code != 0 || string(stdout) != "still usable\n" {
		t.Errorf("Run after cancel: %q, %d, %v", stdout, code, err)
	}
	if _, _, _, err := c.Run(ctx, "echo never", nil); !errors.Is(err, context.Canceled) {
		t.Errorf("Run with a cancelled context: %v, want context.Canceled", err)
	}
}

// procsRunning lists the processes whose command line contains s.
func procsRunning(t *testing.T, s string) []string {
	t.Helper()
	entries, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, e := range entries {
		cmdline, err := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if err != nil || !bytes.Contains(bytes.ReplaceAll(cmdline, []byte{0}, []byte{' '}), []byte(s)) {
			continue
		}
		stat, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if i := bytes.LastIndexByte(stat, ')'); err != nil || (i > 0 && len(stat) > i+2 && stat[i+2] == 'Z') {
			continue // gone or a zombie
		}
		found = append(found, e.Name())
	}
	return found
}

func TestRunOutputLimit(t *testing.T) {
	c := runNode(t, "node-output")
	t.Run("at the limit", func(t *testing.T) {
		stdout, _, code, err := c.Run(t.Context(), "head -c 1048576 /dev/zero", nil)
		if err != nil || code != 0 || len(stdout) != MaxStdout {
			t.Errorf("Run = %d bytes, exit %d, %v; want %d bytes", len(stdout), code, err, MaxStdout)
		}
	})
	t.Run("beyond", func(t *testing.T) {
		stdout, _, code, err := c.Run(t.Context(), "head -c 1048577 /dev/zero; sleep 30", nil)
		if !errors.Is(err, ErrOutputTooLarge) || code != -1 || len(stdout) != MaxStdout {
			t.Fatalf("Run = %d bytes, exit %d, %v; want %d bytes and ErrOutputTooLarge", len(stdout), code, err, MaxStdout)
		}
		if want := `running "head -c 1048577 /dev/zero; sleep 30" on 127.0.0.1:`; !strings.HasPrefix(err.Error(), want) ||
			!strings.HasSuffix(err.Error(), ": command output too large: stdout exceeds 1 MiB") {
			t.Errorf("error %q", err)
		}
	})
}

func TestCapBuffer(t *testing.T) {
	b := &capBuffer{limit: 5, full: make(chan struct{})}
	for _, s := range []string{"ab", "cd", "efg", "h"} {
		if n, err := b.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	select {
	case <-b.full:
	default:
		t.Error("full not closed on overflow")
	}
	if got := string(b.snapshot()); got != "abcde" || !b.overflowed() {
		t.Errorf("kept %q (overflowed %v), want \"abcde\" and true", got, b.overflowed())
	}
}

func TestQuoteCommand(t *testing.T) {
	for in, want := range map[string]string{
		"hostname":                 `"hostname"`,
		"cat <<EOF\nsecret\nEOF":   `"cat <<EOF …"`,
		strings.Repeat("é", 70):    `"` + strings.Repeat("é", 60) + `…"`,
		"sudo kubeadm certs check": `"sudo kubeadm certs check"`,
	} {
		if got := quoteCommand(in); got != want {
			t.Errorf("quoteCommand(%q) = %s, want %s", in, got, want)
		}
	}
}
