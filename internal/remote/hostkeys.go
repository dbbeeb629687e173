package remote

import (
	"crypto/ed25519"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
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
// host unknown, before acceptNew takes the locks; hookAppend runs in
// acceptNew, holding the locks, just before appending.
var hookUnknown, hookAppend func()

// fileLocks holds a *sync.Mutex per known_hosts path: appends to one file
// are serialized within the process (and, on Unix, with flock across
// processes).
var fileLocks sync.Map

// hostKeys verifies host keys against a known_hosts file with the strict or
// accept-new policy.
type hostKeys struct {
	policy HostKeyPolicy
	path   string // absolute
}

// load reads the file; a missing file knows no host.
func (h *hostKeys) load() (ssh.HostKeyCallback, error) {
	cb, err := knownhosts.New(h.path)
	if errors.Is(err, fs.ErrNotExist) {
		return knownhosts.New()
	}
	if err != nil {
		return nil, &hostKeyError{msg: fmt.Sprintf("reading the known_hosts file %s: %v", h.path, err), err: err}
	}
	return cb, nil
}

// check is the ssh.HostKeyCallback: address is the host:port dialled.
func (h *hostKeys) check(address string, remote net.Addr, key ssh.PublicKey) error {
	cb, err := h.load()
	if err != nil {
		return err
	}
	err = cb(address, remote, key)
	if err == nil || h.policy != AcceptNew || !isUnknown(err) {
		return h.explain(address, key, err)
	}
	if hookUnknown != nil {
		hookUnknown()
	}
	return h.acceptNew(address, remote, key)
}

// acceptNew records key for address unless, re-reading the file under the
// lock, the host turns out to be known by now.
func (h *hostKeys) acceptNew(address string, remote net.Addr, key ssh.PublicKey) error {
	failed := func(what string, err error) error {
		return &hostKeyError{msg: fmt.Sprintf("%s the known_hosts file %s: %v", what, h.path, err), err: err}
	}
	mu, _ := fileLocks.LoadOrStore(h.path, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	if err := os.MkdirAll(filepath.Dir(h.path), 0o700); err != nil {
		return failed("creating the directory of", err)
	}
	f, err := os.OpenFile(h.path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return failed("opening", err)
	}
	defer f.Close()
	if err := lockFile(f); err != nil {
		return failed("locking", err)
	}
	cb, err := h.load()
	if err != nil {
		return err
	}
	if err := cb(address, remote, key); err == nil || !isUnknown(err) {
		return h.explain(address, key, err)
	}
	if hookAppend != nil {
		hookAppend()
	}
	line := knownhosts.Line([]string{address}, key) + "\n"
	if fi, err := f.Stat(); err != nil {
		return failed("reading", err)
	} else if fi.Size() > 0 {
		last := make([]byte, 1)
		if _, err := f.ReadAt(last, fi.Size()-1); err != nil {
			return failed("reading", err)
		}
		if last[0] != '\n' {
			line = "\n" + line
		}
	}
	if _, err := f.WriteString(line); err != nil {
		return failed("writing", err)
	}
	if err := f.Close(); err != nil {
		return failed("writing", err)
	}
	return nil
}

// isUnknown tells whether err says the host is not in the file at all.
func isUnknown(err error) bool {
	var ke *knownhosts.KeyError
	return errors.As(err, &ke) && len(ke.Want) == 0
}

// explain turns a knownhosts error into a hostKeyError for people.
func (h *hostKeys) explain(address string, key ssh.PublicKey, err error) error {
	if err == nil {
		return nil
	}
	host := knownhosts.Normalize(address)
	presented := key.Type() + " key " + ssh.FingerprintSHA256(key)
	var ke *knownhosts.KeyError
	var re *knownhosts.RevokedError
	switch {
	case errors.As(err, &re):
		return &hostKeyError{msg: fmt.Sprintf("host key verification failed: the %s of %s is marked @revoked at line %d of %s",
			presented, host, re.Revoked.Line, re.Revoked.Filename), err: err}
	case errors.As(err, &ke) && len(ke.Want) == 0:
		return &hostKeyError{msg: fmt.Sprintf("host key verification failed: %s (%s) is not in the known_hosts file %s "+
			"(host-key policy strict: add the host's key to that file, or use the accept-new policy)", host, presented, h.path), err: err}
	case errors.As(err, &ke):
		return changedError(host, presented, ke.Want, err)
	}
	var hk *hostKeyError
	if errors.As(err, &hk) {
		return err
	}
	return &hostKeyError{msg: fmt.Sprintf("host key verification failed for %s: %v", host, err), err: err}
}

// changedError is OpenSSH's "REMOTE HOST IDENTIFICATION HAS CHANGED" for
// host, naming the known_hosts lines to remove. presented describes the key
// the host presented ("ssh-ed25519 key SHA256:..."); empty means it offered
// none of the recorded key types.
func changedError(host, presented string, want []knownhosts.KnownKey, err error) error {
	var lines, types []string
	file := want[0].Filename
	for _, k := range want {
		lines = append(lines, strconv.Itoa(k.Line))
		if t := k.Key.Type(); !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	where := "line " + lines[0]
	if len(lines) > 1 {
		where = "lines " + strings.Join(lines[:len(lines)-1], ", ") + " and " + lines[len(lines)-1]
	}
	var what string
	if presented != "" {
		what = fmt.Sprintf("%s presents %s, but %s of %s recorded a different key", host, presented, where, file)
	} else {
		what = fmt.Sprintf("%s offers none of the key types (%s) that %s of %s recorded", host, strings.Join(types, ", "), where, file)
	}
	msg := fmt.Sprintf("REMOTE HOST IDENTIFICATION HAS CHANGED: %s "+
		"(the node was rebuilt with a new host key, or someone is intercepting the connection); "+
		"if the change is expected, remove %s from %s (or run: ssh-keygen -R '%s' -f %s)",
		what, where, file, host, file)
	return &hostKeyError{msg: msg, err: err}
}

// probeKey is a public key no host has: checking it against the file
// yields the host's recorded keys.
var probeKey = func() ssh.PublicKey {
	k, err := ssh.NewPublicKey(ed25519.PublicKey(make([]byte, ed25519.PublicKeySize)))
	if err != nil {
		panic(err)
	}
	return k
}()

// known returns the keys the file records for address (nil if none or if
// the file cannot be read; check reports that).
func (h *hostKeys) known(address string) []knownhosts.KnownKey {
	cb, err := h.load()
	if err != nil {
		return nil
	}
	var ke *knownhosts.KeyError
	if errors.As(cb(address, &net.TCPAddr{IP: net.IPv4zero}, probeKey), &ke) {
		return ke.Want
	}
	return nil
}

// algorithms lists the host-key algorithms that can present keys, in
// preference order: limiting the handshake to them makes a host with
// several keys present the recorded one instead of another type.
func algorithms(keys []knownhosts.KnownKey) []string {
	var algos []string
	add := func(a ...string) {
		for _, x := range a {
			if !slices.Contains(algos, x) {
				algos = append(algos, x)
			}
		}
	}
	for _, k := range keys {
		if t := k.Key.Type(); t == ssh.KeyAlgoRSA {
			add(ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA)
		} else {
			add(t)
		}
	}
	return algos
}

// knownhostsName is address as known_hosts writes it: host, or [host]:port
// for ports other than 22.
func knownhostsName(address string) string { return knownhosts.Normalize(address) }
