package pki

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWriteTo(t *testing.T) {
	old := syscall.Umask(0o077) // modes must not depend on the umask
	defer syscall.Umask(old)

	root := filepath.Join(t.TempDir(), "node")
	if err := cpFiles.WriteTo(root); err != nil {
		t.Fatal(err)
	}

	type entry struct {
		Mode fs.FileMode
		Link string
	}
	want := map[string]entry{}
	for p, f := range cpFiles {
		if f.Link != "" {
			want[p] = entry{Mode: fs.ModeSymlink, Link: f.Link}
		} else {
			want[p] = entry{Mode: f.Mode}
		}
	}
	for _, d := range []string{"etc", "etc/kubernetes", "etc/kubernetes/pki", "etc/kubernetes/pki/etcd", "var", "var/lib", "var/lib/kubelet", "var/lib/kubelet/pki"} {
		want[d] = entry{Mode: fs.ModeDir | 0o755}
	}
	got := map[string]entry{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == root {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		fi, err := os.Lstat(path)
		if err != nil {
			return err
		}
		e := entry{Mode: fi.Mode()}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			e.Mode = fs.ModeSymlink
			if e.Link, err = os.Readlink(path); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			data, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			if !bytes.Equal(data, cpFiles[filepath.ToSlash(rel)].Data) {
				t.Errorf("%s: content differs", rel)
			}
		}
		got[filepath.ToSlash(rel)] = e
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("written tree (-want +got):\n%s", diff)
	}

	// The symlink resolves to the kubelet's pem.
	data, err := os.ReadFile(filepath.Join(root, "var/lib/kubelet/pki/kubelet-client-current.pem"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(data, cpFiles["var/lib/kubelet/pki/"+pemName].Data) {
		t.Error("kubelet-client-current.pem does not resolve to the pem file")
	}
}

func TestWriteToOverwrites(t *testing.T) {
	root := t.TempDir()
	first := Files{
		"a/file":    {Data: []byte("one"), Mode: 0o644},
		"a/current": {Link: "old"},
		"a/old":     {Data: []byte("old"), Mode: 0o600},
	}
	if err := first.WriteTo(root); err != nil {
		t.Fatal(err)
	}
	second := Files{
		"a/file":    {Data: []byte("two"), Mode: 0o600},
		"a/current": {Link: "new"},
		"a/new":     {Data: []byte("new")},
	}
	if err := second.WriteTo(root); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path     string
		wantData string
		wantMode fs.FileMode
	}{
		{"a/file", "two", 0o600},
		{"a/current", "new", 0o644}, // through the replaced symlink; Mode 0 means 0644
		{"a/old", "old", 0o600},     // untouched
	}
	for _, tt := range tests {
		data, err := os.ReadFile(filepath.Join(root, tt.path))
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(filepath.Join(root, tt.path))
		if err != nil {
			t.Fatal(err)
		}
		if string(data) != tt.wantData || fi.Mode().Perm() != tt.wantMode {
			t.Errorf("%s = %q mode %v, want %q mode %v", tt.path, data, fi.Mode().Perm(), tt.wantData, tt.wantMode)
		}
	}
}

func TestWriteToRejectsBadPaths(t *testing.T) {
	for _, p := range []string{"/etc/passwd", "../escape", "a/../../b", "a//b", ""} {
		t.Run(p, func(t *testing.T) {
			root := t.TempDir()
			err := Files{p: {Data: []byte("x")}}.WriteTo(root)
			if err == nil || !strings.Contains(err.Error(), "invalid path") {
				t.Fatalf("WriteTo(%q) error = %v, want invalid path", p, err)
			}
		})
	}
	if err := (Files{}).WriteTo(""); err == nil {
		t.Error("WriteTo(\"\") succeeded, want an error")
	}
}

func TestResolve(t *testing.T) {
	f := Files{
		"d/target": {Data: []byte("data")},
		"d/rel":    {Link: "target"},
		"d/abs":    {Link: "/d/target"},
		"d/chain":  {Link: "rel"},
		"d/loop":   {Link: "loop"},
		"d/broken": {Link: "missing"},
	}
	tests := []struct {
		path    string
		want    string
		wantErr error
	}{
		{"d/target", "data", nil},
		{"d/rel", "data", nil},
		{"d/abs", "data", nil},
		{"d/chain", "data", nil},
		{"d/broken", "", fs.ErrNotExist},
		{"nope", "", fs.ErrNotExist},
	}
	for _, tt := range tests {
		got, err := f.Resolve(tt.path)
		if !errors.Is(err, tt.wantErr) || string(got) != tt.want {
			t.Errorf("Resolve(%q) = %q, %v; want %q, %v", tt.path, got, err, tt.want, tt.wantErr)
		}
	}
	if _, err := f.Resolve("d/loop"); err == nil || !strings.Contains(err.Error(), "too many levels") {
		t.Errorf("Resolve(loop) error = %v, want too many levels", err)
	}
}
