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
//	c, err := d.DialMachine(ctx, "10.244.0.54", remote.MachineAlias(ns, cluster, m.ProviderID, m.UID))
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
//     a host not in the file is added to it, a host whose key changed is
//     refused with an error naming the host, the file and the line to remove;
//   - insecure: any key is accepted (what the manual procedure's
//     StrictHostKeyChecking=no amounts to), and Options.Warn is called once
//     per process.
//
// # Trust follows the machine, not the address
//
// IPAM reuses addresses: a machine replaced by an upgrade, a remediation or
// a rollout anyone started gets a released address, and a second lab or
// Supervisor may use the same address block. So the keys of a Cluster API
// Machine are recorded under an alias of the machine, as OpenSSH's
// HostKeyAlias does (DialMachine, MachineAlias):
//
//	tkgcert/<namespace>/<cluster>/<providerID, e.g. vsphere-4210c8d1-...>
//	tkgcert/<namespace>/<cluster>/uid-<Machine UID>   (no providerID yet)
//
// A new machine at a reused address is a new host (recorded under
// accept-new); the same machine presenting another key is refused with
// "REMOTE HOST IDENTIFICATION HAS CHANGED". Hosts that are not Machines
// (Supervisor nodes, the jump host) are dialled with Dial and recorded
// under their address, as before.
//
// Migration: entries by address (what tkgcert wrote before, or ssh) are
// consulted for a machine only while the file has no entry under the
// machine's alias. If the machine presents the key its address entry
// records, it is accepted, and accept-new replaces the address entry by one
// under the alias (so the address can go to another machine later); strict
// accepts it and changes nothing. If it presents another key, it is
// refused, naming the address line to remove: it may be a new machine at a
// reused address, or an impostor, and the file cannot tell. Once a machine
// has its own entry, entries of its address are ignored for it.
//
// PruneMachines removes the entries of machines that no longer exist, only
// in the clusters whose Machines were all listed (inventory does this on
// every pass under accept-new); entries of clusters out of scope, entries
// by address and hashed entries are never pruned. ForgetHosts removes
// entries by address.
//
// # The file
//
// Every change (recording a host, pruning, forgetting) re-reads the file
// under an in-process lock and, on Unix, an flock(2) on the file, and
// replaces it atomically: a temporary file in the same directory, fsync,
// rename. Readers never see a half-written file and a crash cannot empty
// it; many goroutines (or processes) seeing the same new host at once
// record it exactly once. A malformed line is skipped and reported through
// Options.Warn with its line number (and kept in a rewrite): it does not
// make every host unknown. A file writable by group or others, or owned by
// another user (other than root), is refused: whoever can write it decides
// which hosts tkgcert trusts (chmod 600 it).
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
