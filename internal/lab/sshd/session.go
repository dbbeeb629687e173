package sshd

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/creack/pty"
	"golang.org/x/crypto/ssh"
	"golang.org/x/sys/unix"
)

// session is one SSH session channel and the process tree it runs.
type session struct {
	s    *Server
	conn *ssh.ServerConn
	ch   ssh.Channel
	log  *slog.Logger

	env      []string // accepted "env" requests, NAME=value
	ptyReq   *ptyRequest
	started  bool
	finished chan struct{} // closed when the process is reaped and the channel closed

	mu    sync.Mutex
	cmd   *exec.Cmd
	mntNS string // the session's mount namespace, /proc/PID/ns/mnt
	// nsRef holds the namespace open while the session lives: a namespace
	// whose last process exited is freed and its inode (what mntNS names)
	// can be given to the next session's namespace, whose processes the
	// final sweep would then kill. An open nsfs file keeps it from reuse.
	nsRef  *os.File
	ptmx   *os.File // the pty master, until the session ends
	reaped bool     // the leader was reaped: its PID (and process group ID) may be reused
}

// ptyRequest is the payload of "pty-req" (RFC 4254 section 6.2).
type ptyRequest struct {
	Term          string
	Columns, Rows uint32
	Width, Height uint32
	Modes         string
}

// windowChange is the payload of "window-change" (RFC 4254 section 6.7).
type windowChange struct {
	Columns, Rows uint32
	Width, Height uint32
}

// serve answers the session's requests until the channel is closed, then
// makes sure its processes are gone.
func (sess *session) serve(reqs <-chan *ssh.Request) {
	for req := range reqs {
		ok := sess.handle(req)
		if req.WantReply {
			_ = req.Reply(ok, nil)
		}
	}
	// The client closed the channel, or the connection is gone.
	sess.terminate()
	if sess.finished != nil {
		<-sess.finished
	}
}

// handle answers one channel request and says whether it succeeded.
func (sess *session) handle(req *ssh.Request) bool {
	switch req.Type {
	case "env":
		var kv struct{ Name, Value string }
		if err := ssh.Unmarshal(req.Payload, &kv); err != nil {
			return false
		}
		// Like Debian's sshd_config: AcceptEnv LANG LC_*.
		if kv.Name != "LANG" && !strings.HasPrefix(kv.Name, "LC_") || strings.ContainsAny(kv.Name, "=\x00") {
			return false
		}
		sess.env = append(sess.env, kv.Name+"="+kv.Value)
		return true
	case "pty-req":
		var p ptyRequest
		if sess.started || ssh.Unmarshal(req.Payload, &p) != nil {
			return false
		}
		sess.ptyReq = &p
		return true
	case "window-change":
		var w windowChange
		if sess.ptyReq == nil || ssh.Unmarshal(req.Payload, &w) != nil {
			return false
		}
		sess.ptyReq.Columns, sess.ptyReq.Rows, sess.ptyReq.Width, sess.ptyReq.Height = w.Columns, w.Rows, w.Width, w.Height
		sess.mu.Lock()
		defer sess.mu.Unlock()
		if sess.ptmx != nil {
			_ = setWinsize(sess.ptmx, sess.ptyReq)
		}
		return true
	case "shell", "exec":
		if sess.started {
			return false
		}
		var command *string
		if req.Type == "exec" {
			var c struct{ Command string }
			if err := ssh.Unmarshal(req.Payload, &c); err != nil {
				return false
			}
			command = &c.Command
		}
		if err := sess.start(command); err != nil {
			sess.log.Debug("Starting SSH session failed", "error", err)
			return false
		}
		return true
	case "signal":
		var sig struct{ Signal string }
		if ssh.Unmarshal(req.Payload, &sig) != nil {
			return false
		}
		return sess.signal(sig.Signal)
	default: // subsystem, x11-req, auth-agent-req@openssh.com, ...
		return false
	}
}

// openPTY allocates a pseudo-terminal. The master is non-blocking, so that
// reads wait in Go's poller and Close ends them.
func openPTY() (ptmx, tty *os.File, err error) {
	m, tty, err := pty.Open()
	if err != nil {
		return nil, nil, err
	}
	// pty.Open used m.Fd(), which leaves it in blocking mode for good: go on
	// with a non-blocking duplicate that os.NewFile hands to the poller.
	fd, err := unix.FcntlInt(m.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	name := m.Name()
	m.Close()
	if err == nil {
		err = unix.SetNonblock(fd, true)
	}
	if err != nil {
		tty.Close()
		return nil, nil, fmt.Errorf("duplicating the pty master: %w", err)
	}
	return os.NewFile(uintptr(fd), name), tty, nil
}

// setWinsize sets the terminal size of the pty master f to the client's.
func setWinsize(f *os.File, p *ptyRequest) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	ws := &unix.Winsize{Col: uint16(p.Columns), Row: uint16(p.Rows), Xpixel: uint16(p.Width), Ypixel: uint16(p.Height)}
	cerr := rc.Control(func(fd uintptr) { err = unix.IoctlSetWinsize(int(fd), unix.TIOCSWINSZ, ws) })
	if cerr != nil {
		return cerr
	}
	return err
}

// environment is the session's environment, as sshd sets it for the user
// (whose shell is bash), plus the accepted "env" requests.
func (sess *session) environment() []string {
	user := sess.s.o.User
	env := []string{
		"PATH=" + sess.s.sessionPath(),
		"HOME=" + sess.s.home,
		"USER=" + user,
		"LOGNAME=" + user,
		"SHELL=" + loginShell,
		"MAIL=/var/mail/" + user,
	}
	rh, rp, _ := net.SplitHostPort(sess.conn.RemoteAddr().String())
	lh, lp, _ := net.SplitHostPort(sess.conn.LocalAddr().String())
	env = append(env,
		"SSH_CLIENT="+rh+" "+rp+" "+lp,
		"SSH_CONNECTION="+rh+" "+rp+" "+lh+" "+lp,
	)
	if sess.ptyReq != nil && sess.ptyReq.Term != "" {
		env = append(env, "TERM="+sess.ptyReq.Term)
	}
	return append(env, sess.env...)
}

// start runs the session's program (nil command: the login shell) on the
// node, wires it to the channel and starts waiting for it.
func (sess *session) start(command *string) (err error) {
	dir, err := os.MkdirTemp(sess.s.dir, "session-")
	if err != nil {
		return fmt.Errorf("creating a session directory: %w", err)
	}
	defer func() {
		if err != nil {
			os.Remove(dir)
		}
	}()
	env := sess.environment()
	gate, release, err := os.Pipe() // see nodeSetupScript
	if err != nil {
		return fmt.Errorf("creating pipes: %w", err)
	}
	defer release.Close()
	defer gate.Close()

	var (
		outputs sync.WaitGroup
		stdin   func() // copies the channel to the process
	)
	// copyOut forwards r to w until EOF; the pty master (close false) stays
	// open for window changes until wait closes it.
	copyOut := func(w io.Writer, r *os.File, close bool) {
		outputs.Add(1)
		go func() {
			defer outputs.Done()
			_, _ = io.Copy(w, r)
			if close {
				r.Close()
			}
		}()
	}

	var cmd *exec.Cmd
	if sess.ptyReq != nil {
		ptmx, tty, err := openPTY()
		if err != nil {
			return fmt.Errorf("allocating a pty: %w", err)
		}
		defer tty.Close()
		_ = setWinsize(ptmx, sess.ptyReq)
		cmd = sess.s.nodeCommand(dir, command, append(env, "SSH_TTY="+tty.Name()), gate)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = tty, tty, tty
		cmd.SysProcAttr.Setctty = true
		cmd.SysProcAttr.Ctty = 0
		if err := cmd.Start(); err != nil {
			ptmx.Close()
			return fmt.Errorf("starting the session shell: %w", err)
		}
		sess.mu.Lock()
		sess.ptmx = ptmx
		sess.mu.Unlock()
		stdin = func() { _, _ = io.Copy(ptmx, sess.ch) }
		copyOut(sess.ch, ptmx, false)
	} else {
		var files [6]*os.File // stdin r/w, stdout r/w, stderr r/w
		for i := 0; i < len(files); i += 2 {
			r, w, err := os.Pipe()
			if err != nil {
				for _, f := range files[:i] {
					f.Close()
				}
				return fmt.Errorf("creating pipes: %w", err)
			}
			files[i], files[i+1] = r, w
		}
		cmd = sess.s.nodeCommand(dir, command, env, gate)
		cmd.Stdin, cmd.Stdout, cmd.Stderr = files[0], files[3], files[5]
		err := cmd.Start()
		files[0].Close()
		files[3].Close()
		files[5].Close()
		if err != nil {
			files[1].Close()
			files[2].Close()
			files[4].Close()
			return fmt.Errorf("starting the session shell: %w", err)
		}
		stdinW := files[1]
		stdin = func() {
			_, _ = io.Copy(stdinW, sess.ch)
			stdinW.Close() // EOF from the client: EOF for the process
		}
		copyOut(sess.ch, files[2], true)
		copyOut(sess.ch.Stderr(), files[4], true)
	}

	// Start succeeded, so the process has already called unshare and exec'd
	// the setup script, which waits for the gate: its mount namespace is the
	// session's own, and nothing else runs in it yet.
	nsPath := fmt.Sprintf("/proc/%d/ns/mnt", cmd.Process.Pid)
	nsRef, refErr := os.Open(nsPath)
	ns, nsErr := os.Readlink(nsPath)
	if self, _ := os.Readlink("/proc/self/ns/mnt"); nsErr != nil || refErr != nil || ns == self {
		ns = "" // never sweep the server's own namespace (nor one we cannot pin)
	}
	sess.mu.Lock()
	sess.cmd, sess.mntNS, sess.nsRef = cmd, ns, nsRef
	sess.mu.Unlock()
	release.Close() // let the setup script go on
	sess.started = true
	sess.finished = make(chan struct{})

	what := "shell"
	if command != nil {
		what = redact(*command)
	}
	sess.log.Debug("Started SSH session", "command", what, "pty", sess.ptyReq != nil, "pid", cmd.Process.Pid)

	go stdin()
	go sess.wait(dir, &outputs)
	return nil
}

// wait waits for the session's process, ends whatever it left running,
// forwards the remaining output, reports the exit status and closes the
// channel.
func (sess *session) wait(dir string, outputs *sync.WaitGroup) {
	defer close(sess.finished)
	pid := sess.cmd.Process.Pid
	// Wait without reaping, so the process group ID cannot be reused while
	// the group is killed.
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if !errors.Is(err, unix.EINTR) {
			break
		}
	}
	sess.mu.Lock()
	sess.killAll()
	sess.reaped = true
	if sess.nsRef != nil {
		sess.nsRef.Close() // the sweep is done: the namespace may go
		sess.nsRef = nil
	}
	sess.mu.Unlock()
	_ = sess.cmd.Wait()

	// The host only sees an empty directory: the session's tmpfs on it
	// lived in the session's namespace and went with it.
	if err := os.RemoveAll(dir); err != nil {
		sess.log.Debug("Removing the session directory failed", "dir", dir, "error", err)
	}
	outputs.Wait()
	sess.mu.Lock()
	if sess.ptmx != nil {
		sess.ptmx.Close()
		sess.ptmx = nil
	}
	sess.mu.Unlock()
	_ = sess.ch.CloseWrite()
	ws, _ := sess.cmd.ProcessState.Sys().(syscall.WaitStatus)
	if ws.Signaled() {
		name := signalName(ws.Signal())
		_, _ = sess.ch.SendRequest("exit-signal", false, ssh.Marshal(struct {
			Signal     string
			CoreDumped bool
			Error      string
			Lang       string
		}{name, ws.CoreDump(), "", ""}))
		sess.log.Debug("SSH session ended", "signal", name)
	} else {
		_, _ = sess.ch.SendRequest("exit-status", false, ssh.Marshal(struct{ Status uint32 }{uint32(ws.ExitStatus())}))
		sess.log.Debug("SSH session ended", "status", ws.ExitStatus())
	}
	_ = sess.ch.Close()
}

// terminate kills all of the session's processes, if it has any.
func (sess *session) terminate() {
	sess.mu.Lock()
	defer sess.mu.Unlock()
	sess.killAll()
}

// killAll kills the session's process group and every process left in its
// mount namespace (a background job that started its own session or
// process group). sess.mu is held.
func (sess *session) killAll() {
	if sess.cmd == nil || sess.reaped {
		return
	}
	_ = syscall.Kill(-sess.cmd.Process.Pid, syscall.SIGKILL)
	if sess.mntNS != "" {
		killNamespace(sess.mntNS)
	}
}

// signal forwards a "signal" request to the session's process.
func (sess *session) signal(name string) bool {
	sig, ok := signalsByName[name]
	if !ok {
		return false
	}
	sess.mu.Lock()
	defer sess.mu.Unlock()
	if sess.cmd == nil || sess.reaped {
		return false
	}
	return syscall.Kill(sess.cmd.Process.Pid, sig) == nil
}

// killNamespace SIGKILLs every process whose mount namespace is ns, until
// none is left.
func killNamespace(ns string) {
	for range 1000 {
		found := false
		entries, _ := os.ReadDir("/proc")
		for _, e := range entries {
			pid, err := strconv.Atoi(e.Name())
			if err != nil {
				continue
			}
			if l, err := os.Readlink("/proc/" + e.Name() + "/ns/mnt"); err == nil && l == ns {
				_ = syscall.Kill(pid, syscall.SIGKILL)
				found = true
			}
		}
		if !found {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// signalsByName maps the signal names of RFC 4254 section 6.10.
var signalsByName = map[string]syscall.Signal{
	"ABRT": syscall.SIGABRT, "ALRM": syscall.SIGALRM, "FPE": syscall.SIGFPE,
	"HUP": syscall.SIGHUP, "ILL": syscall.SIGILL, "INT": syscall.SIGINT,
	"KILL": syscall.SIGKILL, "PIPE": syscall.SIGPIPE, "QUIT": syscall.SIGQUIT,
	"SEGV": syscall.SIGSEGV, "TERM": syscall.SIGTERM, "USR1": syscall.SIGUSR1,
	"USR2": syscall.SIGUSR2,
}

// signalName is sig's name in an "exit-signal" message: RFC 4254's names,
// and like OpenSSH NAME@openssh.com for the others.
func signalName(sig syscall.Signal) string {
	for name, s := range signalsByName {
		if s == sig {
			return name
		}
	}
	name := strings.TrimPrefix(unix.SignalName(sig), "SIG")
	if name == "" {
		name = strconv.Itoa(int(sig))
	}
	return name + "@openssh.com"
}

// redact keeps private keys out of logged commands.
func redact(command string) string {
	if strings.Contains(command, "PRIVATE KEY") {
		return "<redacted: contains a private key>"
	}
	return command
}
