package remote

import (
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// BenchmarkHostKeyCheck is the known_hosts work of one dial in a fleet of
// 2000 machines (one entry each, under its alias): reading the file and
// judging the host's key, with the file parsed on every dial as before
// and with the shared parse, side by side:
//
//	go test -run '^$' -bench HostKeyCheck ./internal/remote/
func BenchmarkHostKeyCheck(b *testing.B) {
	const machines = 2000
	alias := func(i int) string {
		return MachineAlias("ns", fmt.Sprintf("c%d", i/2), fmt.Sprintf("vsphere://4203%04d-0000-0000-0000-000000000000", i), "")
	}
	var text strings.Builder
	keys := make([]ssh.PublicKey, machines)
	for i := range keys {
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			b.Fatal(err)
		}
		if keys[i], err = ssh.NewPublicKey(pub); err != nil {
			b.Fatal(err)
		}
		text.WriteString(knownhosts.Line([]string{alias(i)}, keys[i]) + "\n")
	}
	path := filepath.Join(b.TempDir(), "known_hosts")
	if err := os.WriteFile(path, []byte(text.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct {
		name string
		read func(string) (*khFile, error)
	}{{"parse-every-dial", readKnownHosts}, {"shared-parse", readKnownHostsShared}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				m := i % machines
				f, err := bc.read(path)
				if err != nil {
					b.Fatal(err)
				}
				id := hostID{alias: alias(m), addr: "10.0.0.1:22"}
				if v, _, _ := judge(f, id, keys[m]); v != known {
					b.Fatalf("machine %d: verdict %v", m, v)
				}
			}
		})
	}
}

// TestSharedParseSeesEveryChange: the shared parse is reused only for the
// same bytes. A file rewritten in place with a line of the same length
// (same size, likely the same modification time) is parsed again, and a
// file made writable by others is refused though its bytes are unchanged.
func TestSharedParseSeesEveryChange(t *testing.T) {
	key := func() ssh.PublicKey {
		pub, _, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			t.Fatal(err)
		}
		k, err := ssh.NewPublicKey(pub)
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	a, b := key(), key()
	id := hostID{alias: MachineAlias("ns", "c", "vsphere://1", ""), addr: "10.0.0.1:22"}
	path := filepath.Join(t.TempDir(), "known_hosts")
	write := func(k ssh.PublicKey) {
		if err := os.WriteFile(path, []byte(knownhosts.Line([]string{id.alias}, k)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	verdict := func() verdict {
		f, err := readKnownHostsShared(path)
		if err != nil {
			t.Fatal(err)
		}
		v, _, _ := judge(f, id, a)
		return v
	}
	write(a)
	if v := verdict(); v != known {
		t.Fatalf("key a recorded: verdict %v", v)
	}
	write(b) // in place, same size
	if v := verdict(); v != changed {
		t.Fatalf("key b written over key a in place: verdict %v, want changed", v)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		t.Fatal(err)
	}
	if _, err := readKnownHostsShared(path); err == nil || !strings.Contains(err.Error(), "writable by group or others") {
		t.Fatalf("a file writable by others, bytes unchanged: %v", err)
	}
}
