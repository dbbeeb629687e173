package sshd

import (
	"fmt"
	"os"
	"path/filepath"
)

// sudoShim is the sudo(8) stand-in written onto every session's PATH. The
// lab machine has no sudo, and session processes already run as root, so the
// shim only has to accept the options people and scripts pass to sudo and
// then run the command the way sudo would:
//
//	sudo cmd args...          runs cmd (looked up on PATH)
//	sudo -i [cmd args...]     a login shell (bash -l), or cmd run by one
//	sudo -s [cmd args...]     $SHELL, or cmd run by it
//	-E -n -H -S -k -K -P -A --preserve-env[=..] --non-interactive --set-home
//	                          accepted and ignored (-k/-K/-v alone exit 0)
//	-u root, -u '#0', --user=root
//	                          accepted; any other user is refused, since a
//	                          simulated node has no other accounts
//	-p PROMPT, --prompt=PROMPT accepted and ignored
//	--                        ends the options
//
// Like sudo it sets USER and LOGNAME to root and SUDO_USER, SUDO_UID,
// SUDO_GID and SUDO_COMMAND. Unlike sudo it keeps PATH (so the lab's kubeadm
// stays reachable) and HOME (so nothing is written to the host's /root).
const sudoShim = `#!/bin/sh
# sudo stand-in written by tkgcert's lab SSH server (internal/lab/sshd).
# Sessions on a simulated node already run as root: accept sudo's usual
# options, then run the command.
usage() {
	echo "usage: sudo [-EHiknsS] [-u user] [--] command [arg ...]" >&2
	exit 1
}
check_user() {
	case $1 in
	root | '#0') ;;
	*)
		echo "sudo: unknown user $1 (only root exists on this simulated node)" >&2
		exit 1
		;;
	esac
}
# join prints its arguments as one shell command line, each argument
# single-quoted, the way sudo -i and -s hand a command to the shell.
join() {
	line=
	for a in "$@"; do
		line="$line${line:+ }'$(printf '%s' "$a" | sed "s/'/'\\\\''/g")'"
	done
	printf '%s' "$line"
}
login= shell= validate=
while [ $# -gt 0 ]; do
	case $1 in
	--) shift; break ;;
	--user=*) check_user "${1#--user=}"; shift ;;
	--user) [ $# -ge 2 ] || usage; check_user "$2"; shift 2 ;;
	--prompt=*) shift ;;
	--prompt) [ $# -ge 2 ] || usage; shift 2 ;;
	--login) login=1; shift ;;
	--shell) shell=1; shift ;;
	--validate) validate=1; shift ;;
	--preserve-env | --preserve-env=* | --non-interactive | --set-home | --stdin | --reset-timestamp | --remove-timestamp) shift ;;
	--*) echo "sudo: unrecognized option '$1'" >&2; usage ;;
	-?*)
		opts=${1#-}
		shift
		while [ -n "$opts" ]; do
			c=${opts%"${opts#?}"}
			opts=${opts#?}
			case $c in
			E | n | H | S | k | K | P | A) ;;
			i) login=1 ;;
			s) shell=1 ;;
			v) validate=1 ;;
			u | p)
				if [ -n "$opts" ]; then
					arg=$opts
					opts=
				else
					[ $# -ge 1 ] || usage
					arg=$1
					shift
				fi
				[ "$c" = u ] && check_user "$arg"
				;;
			*) echo "sudo: invalid option -- '$c'" >&2; usage ;;
			esac
		done
		;;
	*) break ;;
	esac
done
if [ -n "$validate" ] && [ $# -eq 0 ]; then
	exit 0
fi
SUDO_USER=${LOGNAME:-root}
SUDO_UID=$(id -u)
SUDO_GID=$(id -g)
SUDO_COMMAND="$*"
USER=root
LOGNAME=root
export SUDO_USER SUDO_UID SUDO_GID SUDO_COMMAND USER LOGNAME
if [ -n "$login" ]; then
	[ $# -eq 0 ] && exec /bin/bash -l
	exec /bin/bash -l -c "$(join "$@")"
fi
if [ -n "$shell" ]; then
	[ $# -eq 0 ] && exec "${SHELL:-/bin/bash}"
	exec "${SHELL:-/bin/bash}" -c "$(join "$@")"
fi
[ $# -gt 0 ] || usage
case $1 in
*/*) ;;
*)
	# Like sudo, look for an executable on PATH (no shell builtins).
	found=
	save_ifs=$IFS
	IFS=:
	for d in $PATH; do
		if [ -f "${d:-.}/$1" ] && [ -x "${d:-.}/$1" ]; then
			found=1
			break
		fi
	done
	IFS=$save_ifs
	if [ -z "$found" ]; then
		echo "sudo: $1: command not found" >&2
		exit 1
	fi
	;;
esac
exec "$@"
`

// writeSudoShim writes the sudo stand-in as dir/sudo, executable.
func writeSudoShim(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating the sudo shim directory %s: %w", dir, err)
	}
	p := filepath.Join(dir, "sudo")
	if err := os.WriteFile(p, []byte(sudoShim), 0o755); err != nil {
		return fmt.Errorf("writing the sudo shim %s: %w", p, err)
	}
	// WriteFile keeps an existing file's mode; make sure it is executable.
	if err := os.Chmod(p, 0o755); err != nil {
		return fmt.Errorf("making the sudo shim %s executable: %w", p, err)
	}
	return nil
}
