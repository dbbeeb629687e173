package remote

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// insecureWarning is passed to Options.Warn for Insecure.
const insecureWarning = "WARNING: SSH host keys are not verified (host-key policy insecure): " +
	"anyone on the network path to the nodes can impersonate them and see what tkgcert reads"

// insecureWarned records that the insecure warning was given in this
// process.
var insecureWarned atomic.Bool

// warnInsecure calls warn with the insecure warning unless that already
// happened in this process.
func warnInsecure(warn func(string)) {
	if warn != nil && insecureWarned.CompareAndSwap(false, true) {
		warn(insecureWarning)
	}
}

// Test hooks, nil outside tests: hookUnknown runs when check found the
// host unknown, before record takes the locks; hookAppend runs in record,
// holding the locks, just before the file is written.
var hookUnknown, hookAppend func()

// hostID is what a host's keys are recorded under: a machine's alias
// (see MachineAlias), or, without one, its address.
type hostID struct {
	alias string // "" for hosts without a Machine (Supervisor nodes, jump hosts)
	addr  string // host:port dialled
}

// addrName is the address as known_hosts writes it: host, or [host]:port
// for ports other than 22.
func (id hostID) addrName() string { return knownhosts.Normalize(id.addr) }

// name is what the host's entries are recorded under.
func (id hostID) name() string {
	if id.alias != "" {
		return id.alias
	}
	return id.addrName()
}

// String names the host for people.
func (id hostID) String() string {
	if id.alias != "" {
		return fmt.Sprintf("machine %s (at %s)", id.alias, id.addr)
	}
	return id.addrName()
}

// hostKeys verifies host keys against a known_hosts file with the strict or
// accept-new policy.
type hostKeys struct {
	policy HostKeyPolicy
	path   string       // absolute
	warn   func(string) // Options.Warn; may be nil
	warned sync.Map     // malformed lines already reported
}

// load reads the file, reporting its malformed lines (once each).
func (h *hostKeys) load() (*khFile, error) {
	f, err := readKnownHostsShared(h.path)
	if err != nil {
		return nil, &hostKeyError{msg: err.Error(), err: err}
	}
	h.warnMalformed(f)
	return f, nil
}

// warnMalformed reports the file's malformed lines through Options.Warn,
// each once per Dialer; they are skipped, and kept in a rewrite.
func (h *hostKeys) warnMalformed(f *khFile) {
	if h.warn == nil {
		return
	}
	for _, l := range f.lines {
		if l.bad == "" {
			continue
		}
		if _, seen := h.warned.LoadOrStore(fmt.Sprintf("%d\x00%s", l.num, l.text), true); !seen {
			h.warn(fmt.Sprintf("WARNING: skipping line %d of the known_hosts file %s: %s (fix or remove that line)", l.num, f.path, l.bad))
		}
	}
}

// verdict is what a known_hosts file says about a host's key.
type verdict int

const (
	known     verdict = iota // recorded for the host
	knownAddr                // recorded for the machine's address only (migration)
	unknown                  // nothing recorded for the host
	changed                  // other keys recorded for the host
	revoked                  // the key is @revoked
)

// recorded returns the entries for id. A machine's entries are those under
// its alias; only when there is none are the entries of its address
// consulted (legacy is then true): files written before tkgcert recorded
// keys by machine keep their trust, but once a machine has its own entry,
// entries of its address no longer speak for it.
func recorded(f *khFile, id hostID) (lines []*khLine, legacy bool) {
	if id.alias != "" {
		if l := f.lookup(id.alias); len(l) > 0 {
			return l, false
		}
		l := f.lookup(id.addrName())
		return l, len(l) > 0
	}
	return f.lookup(id.addrName()), false
}

// judge checks key for id against f.
func judge(f *khFile, id hostID, key ssh.PublicKey) (verdict, []*khLine, bool) {
	if l := f.revoked(key); l != nil {
		return revoked, []*khLine{l}, false
	}
	lines, legacy := recorded(f, id)
	if len(lines) == 0 {
		return unknown, nil, false
	}
	for _, l := range lines {
		if keysEqual(l.key, key) {
			if legacy {
				return knownAddr, lines, true
			}
			return known, lines, false
		}
	}
	return changed, lines, legacy
}

// callback is the ssh.HostKeyCallback for id.
func (h *hostKeys) callback(id hostID) ssh.HostKeyCallback {
	return func(_ string, _ net.Addr, key ssh.PublicKey) error { return h.check(id, key) }
}

// check verifies key for id; with accept-new it records an unknown host,
// and moves a machine's trust from its address entry to its alias.
func (h *hostKeys) check(id hostID, key ssh.PublicKey) error {
	f, err := h.load()
	if err != nil {
		return err
	}
	v, lines, legacy := judge(f, id, key)
	switch {
	case v == known, v == knownAddr && h.policy != AcceptNew:
		return nil
	case v == knownAddr:
		return h.record(id, key)
	case v == unknown && h.policy == AcceptNew:
		if hookUnknown != nil {
			hookUnknown()
		}
		return h.record(id, key)
	}
	return h.refuse(v, id, key, lines, legacy)
}

// record adds an entry for id with key, under the file's locks and after
// reading it again (a concurrent check may have recorded the host by now).
// For a machine whose key its address entry recorded, it replaces that
// entry by one under the machine's alias: the address may later belong to
// another machine.
func (h *hostKeys) record(id hostID, key ssh.PublicKey) error {
	var refusal error
	err := updateKnownHosts(h.path, true, func(f *khFile) (bool, error) {
		v, lines, legacy := judge(f, id, key)
		switch v {
		case known:
			return false, nil
		case changed, revoked:
			refusal = h.refuse(v, id, key, lines, legacy)
			return false, nil
		}
		if hookAppend != nil {
			hookAppend()
		}
		if v == knownAddr {
			addr := id.addrName()
			f.remove(func(l *khLine) bool {
				return l.marker == "" && !slices.ContainsFunc(l.hosts, func(p string) bool { return p != addr })
			})
		}
		f.add(id.name(), key)
		return true, nil
	})
	if err != nil {
		var hk *hostKeyError
		if errors.As(err, &hk) {
			return err
		}
		return &hostKeyError{msg: err.Error(), err: err}
	}
	return refusal
}

// refuse explains a refused key.
func (h *hostKeys) refuse(v verdict, id hostID, key ssh.PublicKey, lines []*khLine, legacy bool) error {
	presented := key.Type() + " key " + ssh.FingerprintSHA256(key)
	switch v {
	case revoked:
		return &hostKeyError{msg: fmt.Sprintf("host key verification failed: the %s of %s is marked @revoked at line %d of %s",
			presented, id, lines[0].num, h.path), err: ErrHostKey}
	case changed:
		return changedError(id, presented, h.path, lines, legacy)
	}
	return &hostKeyError{msg: fmt.Sprintf("host key verification failed: %s (%s) is not in the known_hosts file %s "+
		"(host-key policy strict: add the host's key to that file, or use the accept-new policy)", id, presented, h.path)}
}

// changedError is OpenSSH's "REMOTE HOST IDENTIFICATION HAS CHANGED" for
// id, naming the known_hosts lines to remove. presented describes the key
// the host presented ("ssh-ed25519 key SHA256:..."); empty means it offered
// none of the recorded key types. legacy says the lines are entries of the
// machine's address, not of the machine.
func changedError(id hostID, presented, file string, want []*khLine, legacy bool) error {
	var lines, types []string
	for _, k := range want {
		lines = append(lines, strconv.Itoa(k.num))
		if t := k.key.Type(); !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	where := "line " + lines[0]
	if len(lines) > 1 {
		where = "lines " + strings.Join(lines[:len(lines)-1], ", ") + " and " + lines[len(lines)-1]
	}
	recordedFor, name := "", id.name()
	if legacy {
		name = id.addrName()
		recordedFor = fmt.Sprintf(" for the address %s (an entry by address, written before tkgcert recorded keys by machine: "+
			"the machine there now may be a new one that got a released address)", name)
	}
	var what string
	if presented != "" {
		what = fmt.Sprintf("%s presents %s, but %s of %s recorded a different key%s", id, presented, where, file, recordedFor)
	} else {
		what = fmt.Sprintf("%s offers none of the key types (%s) that %s of %s recorded%s", id, strings.Join(types, ", "), where, file, recordedFor)
	}
	msg := fmt.Sprintf("REMOTE HOST IDENTIFICATION HAS CHANGED: %s "+
		"(the node was rebuilt with a new host key, or someone is intercepting the connection); "+
		"if the change is expected, remove %s from %s (or run: ssh-keygen -R '%s' -f %s)",
		what, where, file, name, file)
	return &hostKeyError{msg: msg}
}

// known returns the entries recorded for id (nil if none or if the file
// cannot be read; check reports that), and whether they are its address's
// (see recorded).
func (h *hostKeys) known(id hostID) ([]*khLine, bool) {
	f, err := readKnownHostsShared(h.path)
	if err != nil {
		return nil, false
	}
	return recorded(f, id)
}

// algorithms lists the host-key algorithms that can present keys, in
// preference order: limiting the handshake to them makes a host with
// several keys present the recorded one instead of another type.
func algorithms(keys []*khLine) []string {
	var algos []string
	add := func(a ...string) {
		for _, x := range a {
			if !slices.Contains(algos, x) {
				algos = append(algos, x)
			}
		}
	}
	for _, k := range keys {
		if t := k.key.Type(); t == ssh.KeyAlgoRSA {
			add(ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		} else {
			add(t)
		}
	}
	return algos
}
