package remote

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"
	"sync"

	"golang.org/x/crypto/ssh/knownhosts"
)

// ForgetHosts removes the known_hosts lines of the given addresses
// (host:port) from the file at path, under the same locks accept-new uses,
// and returns how many lines it removed. tkgcert calls it for machines a
// rollout deleted: a later machine may get the same address with a new
// host key, which accept-new would otherwise refuse as a changed key.
// Hashed entries cannot be matched and are kept. A missing file is fine.
func ForgetHosts(path string, addresses []string) (int, error) {
	if path == "" || len(addresses) == 0 {
		return 0, nil
	}
	forget := map[string]bool{}
	for _, a := range addresses {
		forget[knownhosts.Normalize(a)] = true
	}
	mu, _ := fileLocks.LoadOrStore(path, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("opening the known_hosts file %s: %w", path, err)
	}
	defer f.Close()
	if err := lockFile(f); err != nil {
		return 0, fmt.Errorf("locking the known_hosts file %s: %w", path, err)
	}
	var kept bytes.Buffer
	removed := 0
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if matchesAny(line, forget) {
			removed++
			continue
		}
		kept.WriteString(line)
		kept.WriteByte('\n')
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("reading the known_hosts file %s: %w", path, err)
	}
	if removed == 0 {
		return 0, nil
	}
	// Rewrite in place: the inode others lock must stay the same.
	if err := f.Truncate(0); err != nil {
		return 0, err
	}
	if _, err := f.WriteAt(kept.Bytes(), 0); err != nil {
		return 0, fmt.Errorf("writing the known_hosts file %s: %w", path, err)
	}
	return removed, f.Close()
}

// matchesAny reports whether a known_hosts line names only forgotten hosts.
func matchesAny(line string, forget map[string]bool) bool {
	fields := strings.Fields(line)
	if len(fields) < 2 || strings.HasPrefix(fields[0], "#") || strings.HasPrefix(fields[0], "@") || strings.HasPrefix(fields[0], "|") {
		return false
	}
	hosts := strings.Split(fields[0], ",")
	for _, h := range hosts {
		if !forget[h] {
			return false
		}
	}
	return true
}
