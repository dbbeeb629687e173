package remote

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1" //nolint:gosec // OpenSSH's hashed host names are HMAC-SHA1
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// maxKnownHostsSize bounds the known_hosts file tkgcert reads.
const maxKnownHostsSize = 64 << 20

// khLine is one line of a known_hosts file.
type khLine struct {
	text   string // as read, without the line end
	num    int    // 1-based
	marker string // "", "@cert-authority" or "@revoked"
	hosts  []string
	key    ssh.PublicKey // nil for blank lines, comments and malformed lines
	bad    string        // why the line is malformed; "" if it is not
}

// entry tells whether the line records a host key (not a comment, not
// malformed).
func (l *khLine) entry() bool { return l.key != nil }

// khFile is a known_hosts file as read: every line, kept verbatim for a
// rewrite, with the entries parsed. A malformed line is kept and reported,
// never fatal: one bad line must not make every host unknown.
type khFile struct {
	path  string
	lines []khLine
	mode  fs.FileMode // of the existing file; 0600 for a new one
}

// parseKnownHosts parses the content of the known_hosts file path.
func parseKnownHosts(path string, data []byte) *khFile {
	f := &khFile{path: path, mode: 0o600}
	if len(data) == 0 {
		return f
	}
	text := strings.TrimSuffix(string(data), "\n")
	for i, s := range strings.Split(text, "\n") {
		l := khLine{text: s, num: i + 1}
		trimmed := strings.TrimSpace(strings.TrimSuffix(s, "\r"))
		if trimmed != "" && !strings.HasPrefix(trimmed, "#") {
			marker, hosts, key, _, _, err := ssh.ParseKnownHosts([]byte(trimmed))
			switch {
			case err != nil:
				l.bad = err.Error()
			case len(hosts) == 0 || key == nil:
				l.bad = "no host pattern or key"
			default:
				l.marker, l.hosts, l.key = marker, hosts, key
			}
		}
		f.lines = append(f.lines, l)
	}
	return f
}

// malformed lists the malformed lines for people: "line 3: ...".
func (f *khFile) malformed() []string {
	var out []string
	for _, l := range f.lines {
		if l.bad != "" {
			out = append(out, fmt.Sprintf("line %d: %s", l.num, l.bad))
		}
	}
	return out
}

// bytes is the file's content: its lines, each ended by a newline.
func (f *khFile) bytes() []byte {
	var b bytes.Buffer
	for _, l := range f.lines {
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	return b.Bytes()
}

// lookup returns the host-key lines (not @revoked, not @cert-authority)
// whose host patterns match name.
func (f *khFile) lookup(name string) []*khLine {
	var out []*khLine
	for i := range f.lines {
		l := &f.lines[i]
		if l.entry() && l.marker == "" && hostsMatch(l.hosts, name) {
			out = append(out, l)
		}
	}
	return out
}

// revoked returns the @revoked line of key, if any: a revoked key is
// refused for every host, as OpenSSH (and x/crypto/ssh/knownhosts) does.
func (f *khFile) revoked(key ssh.PublicKey) *khLine {
	for i := range f.lines {
		l := &f.lines[i]
		if l.entry() && l.marker == "@revoked" && keysEqual(l.key, key) {
			return l
		}
	}
	return nil
}

// add appends an entry for name with key.
func (f *khFile) add(name string, key ssh.PublicKey) {
	f.lines = append(f.lines, khLine{text: knownhosts.Line([]string{name}, key), num: len(f.lines) + 1,
		hosts: []string{name}, key: key})
}

// remove drops the entries for which drop is true and returns how many.
// Comments, blank and malformed lines are kept.
func (f *khFile) remove(drop func(*khLine) bool) int {
	kept := f.lines[:0]
	n := 0
	for i := range f.lines {
		if f.lines[i].entry() && drop(&f.lines[i]) {
			n++
			continue
		}
		kept = append(kept, f.lines[i])
	}
	f.lines = kept
	return n
}

func keysEqual(a, b ssh.PublicKey) bool { return bytes.Equal(a.Marshal(), b.Marshal()) }

// hostsMatch applies a known_hosts host-pattern list to name as OpenSSH
// does: any pattern matches (plain, with * and ? wildcards, or hashed
// |1|salt|hash), and no negated (!) pattern matches. Names compare without
// regard to case.
func hostsMatch(patterns []string, name string) bool {
	name = strings.ToLower(name)
	matched := false
	for _, p := range patterns {
		neg := strings.HasPrefix(p, "!")
		if neg {
			p = p[1:]
		}
		var ok bool
		if strings.HasPrefix(p, "|1|") {
			ok = hashedMatch(p, name)
		} else {
			ok = wildcardMatch(strings.ToLower(p), name)
		}
		if ok && neg {
			return false
		}
		matched = matched || ok
	}
	return matched
}

// hashedMatch matches an OpenSSH hashed host name, |1|base64(salt)|base64(hmac).
func hashedMatch(pattern, name string) bool {
	parts := strings.Split(pattern, "|")
	if len(parts) != 4 {
		return false
	}
	salt, err1 := base64.StdEncoding.DecodeString(parts[2])
	want, err2 := base64.StdEncoding.DecodeString(parts[3])
	if err1 != nil || err2 != nil {
		return false
	}
	mac := hmac.New(sha1.New, salt)
	mac.Write([]byte(name))
	return hmac.Equal(mac.Sum(nil), want)
}

// wildcardMatch matches name against pattern, where * matches any run of
// characters and ? any one character. It runs in O(len(pattern)*len(name)).
func wildcardMatch(pattern, name string) bool {
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == name[n]):
			p++
			n++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case star >= 0:
			p = star + 1
			mark++
			n = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// readKnownHosts reads and parses the known_hosts file at path after
// checking who may write it; a missing file knows no host.
func readKnownHosts(path string) (*khFile, error) {
	var buf bytes.Buffer
	mode, err := loadKnownHosts(path, &buf)
	if err != nil {
		return nil, err
	}
	f := parseKnownHosts(path, buf.Bytes())
	if mode != 0 {
		f.mode = mode
	}
	return f, nil
}

// loadKnownHosts reads the file at path into buf after checking who may
// write it and its size, and returns its permissions (0 and nothing read
// for a missing file).
func loadKnownHosts(path string, buf *bytes.Buffer) (fs.FileMode, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading the known_hosts file %s: %w", path, err)
	}
	if err := checkSafe(path, fi); err != nil {
		return 0, err
	}
	tooLarge := fmt.Errorf("the known_hosts file %s is larger than %d MiB: refusing to read it (remove the entries of hosts that are gone, e.g. with ssh-keygen -R)", path, maxKnownHostsSize>>20)
	if fi.Size() > maxKnownHostsSize {
		return 0, tooLarge
	}
	fh, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("reading the known_hosts file %s: %w", path, err)
	}
	defer fh.Close()
	if _, err := buf.ReadFrom(io.LimitReader(fh, maxKnownHostsSize+1)); err != nil {
		return 0, fmt.Errorf("reading the known_hosts file %s: %w", path, err)
	}
	if buf.Len() > maxKnownHostsSize {
		return 0, tooLarge
	}
	return fi.Mode().Perm(), nil
}

// parsed holds the last parse of each known_hosts file, for the checks that
// only read it: every dial reads the file twice, and a fleet of 2000 nodes
// parsed a 2000-line file 4000 times, most of a controller pass's
// allocations. The file is still read and its safety checked on every
// call; only when its bytes are those parsed last is the parse reused.
var parsed sync.Map // absolute path -> parsedFile

type parsedFile struct {
	data []byte
	f    *khFile
}

var readBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// readKnownHostsShared is readKnownHosts for readers. The result may be
// shared with other callers: it must not be modified (updateKnownHosts
// parses its own copy).
func readKnownHostsShared(path string) (*khFile, error) {
	buf := readBuffers.Get().(*bytes.Buffer)
	defer readBuffers.Put(buf)
	buf.Reset()
	mode, err := loadKnownHosts(path, buf)
	if err != nil {
		return nil, err
	}
	if p, ok := parsed.Load(path); ok && bytes.Equal(p.(parsedFile).data, buf.Bytes()) {
		return p.(parsedFile).f, nil
	}
	data := bytes.Clone(buf.Bytes())
	f := parseKnownHosts(path, data)
	if mode != 0 {
		f.mode = mode
	}
	parsed.Store(path, parsedFile{data: data, f: f})
	return f, nil
}

// errUnsafeFile marks a known_hosts file that others could write.
var errUnsafeFile = errors.New("known_hosts file writable by others")

// checkSafe refuses a known_hosts file that someone else could have
// written: a host key in it is trusted.
func checkSafe(path string, fi fs.FileInfo) error {
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("the known_hosts file %s is not a regular file (%s): %w; point --known-hosts at a file", path, fi.Mode().Type(), errUnsafeFile)
	}
	if perm := fi.Mode().Perm(); perm&0o022 != 0 {
		return fmt.Errorf("refusing the known_hosts file %s: it is writable by group or others (mode %04o), so anyone could make tkgcert trust their host: %w; run: chmod 600 %s",
			path, perm, errUnsafeFile, path)
	}
	if uid, ok := fileOwner(fi); ok && uid != os.Geteuid() && uid != 0 {
		return fmt.Errorf("refusing the known_hosts file %s: it is owned by uid %d, not by this user (uid %d) or root: %w; copy it to a file of your own and run: chmod 600 on it",
			path, uid, os.Geteuid(), errUnsafeFile)
	}
	return nil
}

// fileLocks holds a *sync.Mutex per known_hosts path: changes to one file
// are serialized within the process (and, on Unix, with flock across
// processes).
var fileLocks sync.Map

// updateKnownHosts runs change on the file at path under the in-process
// mutex and an flock(2) of the file, re-reading the file first; if change
// reports a change, the file is replaced atomically (a temporary file in
// the same directory, fsync, rename), so readers never see a half-written
// file and a crash cannot empty it. create makes the file (and its
// directory) if it is missing; otherwise a missing file is left missing
// and change is not called.
func updateKnownHosts(path string, create bool, change func(*khFile) (bool, error)) error {
	if p, err := filepath.EvalSymlinks(path); err == nil {
		path = p // rewrite the file a symlink points to, not the link
	}
	mu, _ := fileLocks.LoadOrStore(path, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()

	if fi, err := os.Stat(path); err == nil {
		if err := checkSafe(path, fi); err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading the known_hosts file %s: %w", path, err)
	} else if !create {
		return nil
	} else if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("creating the directory of the known_hosts file %s: %w", path, err)
	}
	// Lock the file itself. A writer replaces it by rename, so whoever
	// gets the lock checks the path still names the file it locked.
	for {
		lf, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE, 0o600)
		if err != nil {
			return fmt.Errorf("opening the known_hosts file %s: %w", path, err)
		}
		if err := lockFile(lf); err != nil {
			lf.Close()
			return fmt.Errorf("locking the known_hosts file %s: %w", path, err)
		}
		locked, err1 := lf.Stat()
		current, err2 := os.Stat(path)
		if err1 != nil || err2 != nil || !os.SameFile(locked, current) {
			lf.Close() // replaced meanwhile: lock the new one
			continue
		}
		err = func() error {
			f, err := readKnownHosts(path)
			if err != nil {
				return err
			}
			changed, err := change(f)
			if err != nil || !changed {
				return err
			}
			return writeAtomic(path, f.bytes(), f.mode)
		}()
		lf.Close()
		return err
	}
}

// hookRename, nil outside tests, runs in writeAtomic before the rename; an
// error stands for a crash or a failed write.
var hookRename func() error

// writeAtomic replaces the file at path with data: a temporary file in the
// same directory, written and fsynced, renamed over path, and the
// directory fsynced.
func writeAtomic(path string, data []byte, mode fs.FileMode) (err error) {
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("writing the known_hosts file %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
			err = fmt.Errorf("writing the known_hosts file %s: %w (the file is unchanged)", path, err)
		}
	}()
	if err := tmp.Chmod(mode &^ 0o022); err != nil {
		return err
	}
	if _, err := tmp.Write(data); err != nil {
		return err
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	if hookRename != nil {
		if err := hookRename(); err != nil {
			return err
		}
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	if d, derr := os.Open(dir); derr == nil {
		_ = d.Sync() // the rename itself is durable once the directory is
		d.Close()
	}
	return nil
}
