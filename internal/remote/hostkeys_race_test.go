package remote

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
)

// checkerEnv makes the test binary run runChecker instead of the tests:
// its value is the known_hosts path and the host key (authorized_keys
// format) on a second line.
const checkerEnv = "TKGCERT_REMOTE_TEST_CHECKER"

// checkManyAtOnce has n goroutines check key for 127.0.0.1:2222 against
// path with accept-new at once, after start is closed. All of them find
// the host unknown before any of them goes on to record it.
func checkManyAtOnce(path string, key ssh.PublicKey, n int, start <-chan struct{}) []error {
	var unknown sync.WaitGroup
	unknown.Add(n)
	hookUnknown = func() { unknown.Done(); unknown.Wait() }
	defer func() { hookUnknown = nil }()
	h := &hostKeys{policy: AcceptNew, path: path}
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			errs[i] = h.check(hostID{addr: "127.0.0.1:2222"}, key)
		})
	}
	wg.Wait()
	return errs
}

// TestAcceptNewSameHostAtOnce checks the host-key callback itself, without
// handshakes spreading the goroutines out: many goroutines seeing the same
// new host at the same instant record it once.
func TestAcceptNewSameHostAtOnce(t *testing.T) {
	path := knownHostsIn(t)
	start := make(chan struct{})
	var errs []error
	done := make(chan struct{})
	go func() { errs = checkManyAtOnce(path, hostA.PublicKey(), 50, start); close(done) }()
	close(start)
	<-done
	for i, err := range errs {
		if err != nil {
			t.Errorf("check %d: %v", i, err)
		}
	}
	if got, want := readFile(t, path), hostLine(2222, hostA)+"\n"; got != want {
		t.Errorf("known_hosts:\n%s\nwant exactly\n%s", got, want)
	}
}

// TestAcceptNewAcrossProcesses has four processes of 10 goroutines each
// record the same new host at once: flock keeps it to one line.
func TestAcceptNewAcrossProcesses(t *testing.T) {
	path := knownHostsIn(t)
	var stdins []io.WriteCloser
	var cmds []*exec.Cmd
	for range 4 {
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), checkerEnv+"="+path+"\n"+string(ssh.MarshalAuthorizedKey(hostA.PublicKey())))
		in, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
		stdins, cmds = append(stdins, in), append(cmds, cmd)
	}
	for _, in := range stdins {
		in.Close() // the start signal
	}
	for i, cmd := range cmds {
		if err := cmd.Wait(); err != nil {
			t.Errorf("checker %d: %v: %s", i, err, cmd.Stdout)
		}
	}
	if got, want := readFile(t, path), hostLine(2222, hostA)+"\n"; got != want {
		t.Errorf("known_hosts:\n%s\nwant exactly\n%s", got, want)
	}
}

// runChecker is a checker process: it waits for stdin's end, then checks
// like checkManyAtOnce, and exits non-zero on an error. The one goroutine
// that records the host waits a little, holding the locks, so that the
// other processes try at the same time.
func runChecker(env string) {
	hookAppend = func() { time.Sleep(100 * time.Millisecond) }
	path, authorized, _ := strings.Cut(env, "\n")
	key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(authorized))
	if err != nil {
		panic(err)
	}
	start := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(start) }()
	for _, err := range checkManyAtOnce(path, key, 10, start) {
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
	}
	os.Exit(0)
}
