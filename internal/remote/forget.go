package remote

import (
	"strings"

	"golang.org/x/crypto/ssh/knownhosts"
)

// aliasPrefix starts every machine alias.
const aliasPrefix = "tkgcert/"

// MachineAlias is the name a Cluster API Machine's host keys are recorded
// under in known_hosts, in place of its address (like OpenSSH's
// HostKeyAlias): tkgcert/<namespace>/<cluster>/<id>, where id is the
// Machine's spec.providerID (the VM, e.g. vsphere-4210c8d1-...) or, before
// it has one, uid-<the Machine's UID>. Characters other than a-z, 0-9, '.',
// '_' and '-' become '-', so the alias is a plain known_hosts host pattern
// (no wildcard, comma, bracket or space) that OpenSSH accepts too:
//
//	ssh -o HostKeyAlias=tkgcert/ns/cluster/vsphere-4210c8d1-... -o UserKnownHostsFile=...
//
// Namespace and cluster come first so that entries can be pruned cluster
// by cluster (PruneMachines). It is "" if the machine has neither a
// providerID nor a UID.
func MachineAlias(namespace, cluster, providerID, uid string) string {
	var id string
	switch {
	case providerID != "":
		id = sanitize(strings.Replace(providerID, "://", "-", 1))
	case uid != "":
		id = "uid-" + sanitize(uid)
	default:
		return ""
	}
	return aliasPrefix + sanitize(namespace) + "/" + sanitize(cluster) + "/" + id
}

// sanitize lowercases s and replaces what a host pattern must not hold.
func sanitize(s string) string {
	if s == "" {
		return "-"
	}
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9', r == '.', r == '_', r == '-':
			return r
		case r >= 'A' && r <= 'Z':
			return r + 'a' - 'A'
		}
		return '-'
	}, s)
}

// aliasCluster returns "namespace/cluster" of a machine alias, or "" if
// pattern is not one.
func aliasCluster(pattern string) string {
	rest, ok := strings.CutPrefix(pattern, aliasPrefix)
	if !ok {
		return ""
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || parts[2] == "" {
		return ""
	}
	return parts[0] + "/" + parts[1]
}

// ClusterKey is how PruneMachines names a cluster: its namespace and
// name, as MachineAlias writes them.
func ClusterKey(namespace, cluster string) string {
	return sanitize(namespace) + "/" + sanitize(cluster)
}

// PruneMachines removes from the known_hosts file at path the entries of
// machines that no longer exist: every entry recorded under a machine
// alias (MachineAlias) of one of clusters (ClusterKey values) that is not
// among live. clusters must be the clusters whose Machines were all listed
// (live then holds the aliases of all of them): entries of other clusters
// are never touched, nor are entries by address, hashed entries, or lines
// that also name other hosts. It returns how many lines it removed; a
// missing file is fine. The file is rewritten atomically, under the locks
// accept-new uses.
func PruneMachines(path string, clusters, live []string) (int, error) {
	if path == "" || len(clusters) == 0 {
		return 0, nil
	}
	inScope := map[string]bool{}
	for _, c := range clusters {
		inScope[c] = true
	}
	alive := map[string]bool{}
	for _, a := range live {
		alive[strings.ToLower(a)] = true
	}
	return removeEntries(path, func(l *khLine) bool {
		if l.marker != "" {
			return false
		}
		for _, h := range l.hosts {
			if c := aliasCluster(h); c == "" || !inScope[c] || alive[strings.ToLower(h)] {
				return false
			}
		}
		return true
	})
}

// ForgetHosts removes the known_hosts entries of the given addresses
// (host:port) from the file at path, under the same locks accept-new uses,
// and returns how many lines it removed. Entries recorded under machine
// aliases are not affected (PruneMachines removes those); this is for
// entries by address, which older versions of tkgcert wrote for every
// node, and which a later machine at the same address would find changed.
// Hashed entries and lines that also name other hosts are kept. A missing
// file is fine. The file is rewritten atomically.
func ForgetHosts(path string, addresses []string) (int, error) {
	if path == "" || len(addresses) == 0 {
		return 0, nil
	}
	forget := map[string]bool{}
	for _, a := range addresses {
		forget[knownhosts.Normalize(a)] = true
	}
	return removeEntries(path, func(l *khLine) bool {
		if l.marker != "" {
			return false
		}
		for _, h := range l.hosts {
			if !forget[h] {
				return false
			}
		}
		return true
	})
}

// removeEntries removes the entries drop selects from the file at path.
func removeEntries(path string, drop func(*khLine) bool) (int, error) {
	removed := 0
	err := updateKnownHosts(path, false, func(f *khFile) (bool, error) {
		removed = f.remove(drop)
		return removed > 0, nil
	})
	if err != nil {
		return 0, err
	}
	return removed, nil
}

// ReplaceKnownHosts replaces the content of the known_hosts file at path
// with data (creating the file, mode 0600, and its directory if needed),
// atomically and under the locks accept-new uses. The controller loads the
// known hosts it keeps in a Secret with it.
func ReplaceKnownHosts(path string, data []byte) error {
	return updateKnownHosts(path, true, func(f *khFile) (bool, error) {
		if string(f.bytes()) == string(parseKnownHosts(path, data).bytes()) {
			return false, nil
		}
		mode := f.mode
		*f = *parseKnownHosts(path, data)
		f.mode = mode
		return true, nil
	})
}
