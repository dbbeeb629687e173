package sshd

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
)

// systemPath is the part of a session's PATH after the caller's directories
// and the sudo shim: Debian's default for root.
const systemPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// loginShell is the node user's shell, as in /etc/passwd on a TKG node.
const loginShell = "/bin/bash"

// nodeSetupScript turns a fresh process, already alone in new mount and UTS
// namespaces (Go's SysProcAttr.Unshareflags, which also makes every mount
// private so nothing below propagates to the host), into a shell "on the
// node", then execs the session's program.
//
// The script first waits for fd 3 to reach EOF: the server closes it once it
// has recorded the new mount namespace, so that everything the session will
// start can be found by it. Arguments: $1 the session directory (an empty directory on the host),
// $2 the node's root, $3 its hostname, $4 "login" for an interactive login
// shell or "exec" to run $5...
//
// A tmpfs on the session directory holds the overlays' upper and work
// directories, so they are never shared by two mounts and vanish with the
// namespace; the host only ever sees the empty directory. The script works
// in that tmpfs by relative paths, so it stays reachable even when the
// scratch directory lies below /etc or /var/lib. /etc and /var/lib get
// overlays whose lower layer is the host's directory, so the node's
// directories can be bind-mounted at /etc/kubernetes and /var/lib/kubelet
// without creating anything on the host. What the overlays would hide is
// bound again on top of them: mounts below /etc or /var/lib (such as a
// container runtime's /etc/hosts), and the node's root if it lies below one
// of them, so that writes there still reach the host directory.
// /etc/hostname gets the node's name and /etc/profile.d a snippet that
// restores the session's PATH after /etc/profile resets it in login shells
// (sudo -i, ssh without a command).
const nodeSetupScript = `
# Wait until the server has recorded this namespace (it closes fd 3).
read -r -u 3 _
exec 3<&-
session_path=$PATH
PATH=/usr/sbin:/usr/bin:/sbin:/bin
t=$1 root=$2 name=$3 mode=$4
shift 4
fail() {
	echo "tkgcert-lab: preparing node $name: $*" >&2
	exit 255
}

mount -t tmpfs -o mode=0700,size=256m tkgcert-lab-session "$t" || fail "mounting a tmpfs on $t"
cd "$t" || fail "entering $t"
# The node's directories as the host has them, before any overlay.
mkdir node-k8s node-kubelet &&
	mount --bind "$root/etc/kubernetes" node-k8s &&
	mount --bind "$root/var/lib/kubelet" node-kubelet || fail "binding the node's directories"

# overlay DIR ID: a writable overlay over DIR that keeps what is below it.
overlay() {
	local dir=$1 id=$2 m
	local -a keep=()
	while read -r _ _ _ _ m _; do
		case $m in
		*\\*) ;; # escaped characters in the path: leave alone
		"$dir"/*) keep+=("$m") ;;
		esac
	done </proc/self/mountinfo
	case $root in "$dir"/*) keep+=("$root") ;; esac
	mkdir -p "$id/upper" "$id/work" "$id/orig" || fail "creating overlay directories in $t/$id"
	if ((${#keep[@]})); then
		mount --rbind "$dir" "$id/orig" || fail "keeping what is below $dir"
	fi
	mount -t overlay tkgcert-lab-node -o "lowerdir=$dir,upperdir=$id/upper,workdir=$id/work" "$dir" ||
		fail "mounting an overlay on $dir"
	for m in "${keep[@]}"; do
		mount --rbind "$id/orig${m#"$dir"}" "$m" || fail "binding $m again"
	done
}

overlay /etc etc
mkdir -p /etc/kubernetes && mount --bind node-k8s /etc/kubernetes || fail "binding /etc/kubernetes"
overlay /var/lib var-lib
mkdir -p /var/lib/kubelet && mount --bind node-kubelet /var/lib/kubelet || fail "binding /var/lib/kubelet"

printf '%s' "$name" >/proc/sys/kernel/hostname || fail "setting the hostname"
printf '%s\n' "$name" >hostname && { [ -e /etc/hostname ] || : >/etc/hostname; } &&
	mount --bind hostname /etc/hostname || fail "binding /etc/hostname"
if [ -d /etc/profile.d ] && [ "$(stat -c %m /etc/profile.d)" = /etc ]; then
	printf 'PATH=%q\nexport PATH\n' "$session_path" >/etc/profile.d/zz-tkgcert-lab-path.sh ||
		fail "writing /etc/profile.d/zz-tkgcert-lab-path.sh"
fi

PATH=$session_path
cd "$HOME" 2>/dev/null || cd /
unset -f fail overlay
if [ "$mode" = login ]; then
	exec -a -bash ` + loginShell + `
fi
exec "$@"
`

// nodeCommand is a session's program as a command ready to start: a shell
// that prepares the node's namespaces (see nodeSetupScript) and then execs
// the login shell (command == nil) or `bash -c command`. sessionDir is an
// empty directory for the session's tmpfs; env is the whole environment;
// gate becomes the script's fd 3.
func (s *Server) nodeCommand(sessionDir string, command *string, env []string, gate *os.File) *exec.Cmd {
	args := []string{"bash", "-c", nodeSetupScript, "tkgcert-lab-node", sessionDir, s.root, s.o.Hostname}
	if command == nil {
		args = append(args, "login")
	} else {
		args = append(args, "exec", loginShell, "-c", *command)
	}
	return &exec.Cmd{
		Path:       loginShell,
		Args:       args,
		Env:        env,
		Dir:        "/",
		ExtraFiles: []*os.File{gate},
		SysProcAttr: &syscall.SysProcAttr{
			Unshareflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWUTS,
			Setsid:       true, // own session and process group, like sshd's children
			Pdeathsig:    syscall.SIGKILL,
		},
	}
}

// sessionPath is the PATH of every session: the caller's directories, the
// sudo shim, then the system directories.
func (s *Server) sessionPath() string {
	dirs := append([]string{}, s.o.PathDirs...)
	dirs = append(dirs, s.shimDir, systemPath)
	return strings.Join(dirs, string(os.PathListSeparator))
}
