// Package remote is the SSH client every tkgcert command uses to read
// certificates on TKG nodes, the way the vendor's manual procedure does with
//
//	ssh -o StrictHostKeyChecking=no -i $CLUSTER_NAME-ssh-privatekey vmware-system-user@$IP ...
//
// but without its shortcuts: the private key (the ssh-privatekey entry of
// the cluster's <cluster>-ssh secret) is parsed from memory and never written
// to disk, logged or quoted in errors, and host keys are checked.
//
// # Use
//
//	d, err := remote.NewDialer(secret.Data["ssh-privatekey"], remote.Options{})
//	...
//	defer d.Close()
//	c, err := d.Dial(ctx, "10.244.0.54")
//	...
//	defer c.Close()
//	stdout, stderr, code, err := c.Run(ctx, "sudo cat /etc/kubernetes/pki/apiserver.crt", nil)
//
// A Dialer holds the parsed key(s) and the host-key policy and is safe for
// concurrent use: one Dialer serves every node of a fleet. Through a jump
// host (Options.Jump: a bastion or a Supervisor node) it keeps one SSH
// connection to the jump host and opens a forwarded TCP connection
// ("direct-tcpip") through it for every node.
//
// # Host keys
//
// Options.HostKeyPolicy decides how node host keys are checked against an
// OpenSSH known_hosts file (Options.KnownHostsFile, by default
// DefaultKnownHostsPath):
//
//   - strict: the host must be in the file with the key it presents;
//   - accept-new (the default, like OpenSSH's StrictHostKeyChecking=accept-new):
//     a host not in the file is appended to it, a host whose key changed is
//     refused with an error naming the host, the file and the line to remove;
//   - insecure: any key is accepted (what the manual procedure's
//     StrictHostKeyChecking=no amounts to), and Options.Warn is called once
//     per process.
//
// accept-new appends under an in-process lock and, on Unix, an flock(2) on
// the file, re-reading the file before each append: many goroutines (or
// processes) seeing the same new host at once record it exactly once.
//
// # Errors
//
// Dial errors read like
//
//	ssh to 10.244.0.54:22 as vmware-system-user: unable to authenticate (wrong key?)
//	ssh to 10.244.0.54:22 as vmware-system-user: connection refused
//	ssh to 10.244.0.54:22 as vmware-system-user: timed out after 10s
//	ssh to 10.244.0.54:22 as vmware-system-user: REMOTE HOST IDENTIFICATION HAS CHANGED: ...
//
// and match ErrAuth, ErrUnreachable or ErrHostKey with errors.Is. A
// cancelled context is reported as such (errors.Is(err, context.Canceled)),
// not as an unreachable node.
//
// Client.Run reports a command's non-zero exit as its exit code, not as an
// error; errors are for transport failures, cancellation and output beyond
// MaxStdout.
package remote
