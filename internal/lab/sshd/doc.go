// Package sshd is the SSH server of one simulated TKG node in the lab.
//
// A vendor's manual procedure logs in to every control-plane node with
// OpenSSH and runs, for example,
//
//	ssh -o StrictHostKeyChecking=no -i $CLUSTER_NAME-ssh-privatekey -q vmware-system-user@$i hostname
//	ssh ... vmware-system-user@$i sudo kubeadm certs check-expiration
//	ssh ... vmware-system-user@$i sudo grep rotate /var/lib/kubelet/config.yaml
//
// Start serves exactly that on one address per node (such as
// 127.10.0.11:22), so the procedure works verbatim against the lab with the
// real ssh client and the real kubeadm.
//
// # Protocol
//
// Only public-key authentication is offered, and only the configured user
// with the configured key gets in. Session channels support "exec",
// "shell", "pty-req", "window-change", "signal" and "env" (LANG and LC_*
// only, like Debian's AcceptEnv). stdout and stderr are kept apart without a
// pty; the client's EOF closes the command's stdin; the command's end is
// reported as "exit-status", or "exit-signal" when it was killed. Other
// channel types (port forwarding) and subsystems (sftp) are refused.
//
// # The node
//
// Every session runs as root in mount and UTS namespaces of its own
// (SysProcAttr.Unshareflags, which also makes all mounts private, so nothing
// propagates to the host). A setup script (nodeSetupScript) waits until the
// server has recorded the new namespace, then:
//
//   - mounts a tmpfs on an empty per-session directory under the server's
//     scratch directory, for the overlays' upper and work directories;
//   - mounts overlays on /etc and /var/lib whose lower layer is the host's
//     directory, creates /etc/kubernetes and /var/lib/kubelet in them and
//     binds the node's Root/etc/kubernetes and Root/var/lib/kubelet there;
//     what the overlays hide is bound again on top: mounts below /etc or
//     /var/lib (a container runtime's /etc/hosts) and Root itself when it
//     lies below them (a state directory in /var/lib);
//   - sets the hostname to the node's name, and binds /etc/hostname;
//   - adds /etc/profile.d/zz-tkgcert-lab-path.sh so that login shells, whose
//     /etc/profile resets PATH, keep the session's PATH;
//   - execs bash: `bash -c <command>` for "exec", a login shell for "shell".
//
// Nothing is created on the host outside Root and ScratchDir: writes to
// /etc/kubernetes and /var/lib/kubelet land in the node's directories, other
// writes to /etc and /var/lib stay in the session's tmpfs and are gone when
// the session ends. Other directories, /tmp included, are the host's.
//
// PATH is Options.PathDirs, a directory holding a sudo stand-in (the machine
// has no sudo; see sudoShim), then the usual system directories. HOME is
// Root/home/<user>, the working directory at login; USER and LOGNAME name the
// SSH user; SHELL is /bin/bash.
//
// # Process lifetime
//
// A session's process leads its own session and process group and gets
// SIGKILL if the server dies (Pdeathsig). When it exits, or the client
// closes the channel, or Server.Close runs, the whole process group and
// every process left in the session's mount namespace (background jobs,
// even those that called setsid) are killed; the namespaces, and with them
// all of the session's mounts, go away with the last process. Unlike a real
// node, nothing started in a session outlives it.
package sshd
