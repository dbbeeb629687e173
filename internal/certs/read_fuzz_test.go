package certs

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/tkgcert/tkgcert/internal/pki"
)

// outsider is a certificate that lives outside every fuzzed node tree; a
// read that finds it has left the tree.
var outsider struct {
	once   sync.Once
	pem    []byte
	serial string
	err    error
}

func outsiderPEM(t testing.TB) ([]byte, string) {
	outsider.once.Do(func() {
		v := pki.Validity{NotBefore: time.Date(2090, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)}
		kp, err := pki.NewCA("outsider", v, pki.ECDSAP256)
		if err != nil {
			outsider.err = err
			return
		}
		outsider.pem = kp.CertPEM()
		outsider.serial = serialHex(kp.Cert)
	})
	if outsider.err != nil {
		t.Fatal(outsider.err)
	}
	return outsider.pem, outsider.serial
}

// watchFS is os.DirFS with symbolic links (fs.ReadLinkFS) that fails the
// test when it is asked for a name that is not a valid path inside it,
// and counts the calls.
type watchFS struct {
	t     *testing.T
	fsys  fs.FS
	mu    sync.Mutex
	calls int
	// beside are the files outside the tree.
	beside []os.FileInfo
}

func (w *watchFS) check(op, name string) {
	w.mu.Lock()
	w.calls++
	w.mu.Unlock()
	// fs.ValidPath also wants UTF-8, which a Linux file name need not be:
	// only "..", "." and empty elements or a leading slash leave the tree.
	if !fs.ValidPath(strings.ToValidUTF8(name, "_")) {
		w.t.Errorf("%s %q: not a path inside the node's root", op, name)
	}
}

// outside fails the test if fi is one of the files beside the tree.
func (w *watchFS) outside(op, name string, fi fs.FileInfo) {
	for _, o := range w.beside {
		if fi != nil && os.SameFile(fi, o) {
			w.t.Errorf("%s %q reached %s, outside the node's root", op, name, o.Name())
		}
	}
}

func (w *watchFS) Open(name string) (fs.File, error) {
	w.check("open", name)
	f, err := w.fsys.Open(name)
	if err == nil {
		fi, _ := f.Stat()
		w.outside("open", name, fi)
	}
	return f, err
}

func (w *watchFS) Stat(name string) (fs.FileInfo, error) {
	w.check("stat", name)
	fi, err := fs.Stat(w.fsys, name)
	w.outside("stat", name, fi)
	return fi, err
}
func (w *watchFS) Lstat(name string) (fs.FileInfo, error) {
	w.check("lstat", name)
	return w.fsys.(fs.ReadLinkFS).Lstat(name)
}
func (w *watchFS) ReadLink(name string) (string, error) {
	w.check("readlink", name)
	return w.fsys.(fs.ReadLinkFS).ReadLink(name)
}

// buildTree makes a node's file tree under root from a script, one entry
// a line (fields separated by blanks):
//
//	d PATH           a directory
//	f PATH =P        a file with the content of the fixture node's file P
//	f PATH x         a file with the outsider certificate
//	f PATH k:TARGET  admin.conf with client-certificate TARGET instead of data
//	f PATH TEXT      a file holding TEXT
//	l PATH TARGET    a symbolic link
//
// In TARGET, @ROOT and @OUT stand for the absolute paths of the tree and
// of a directory beside it that holds the outsider certificate. Entries
// that would be created through a symbolic link are skipped, so that the
// script never writes outside root.
func buildTree(t *testing.T, root, out string, script []byte) {
	pemData, _ := outsiderPEM(t)
	expand := func(s string) string {
		return strings.NewReplacer("@ROOT", root, "@OUT", out).Replace(s)
	}
	lines := strings.Split(string(script), "\n")
	if len(lines) > 64 {
		lines = lines[:64]
	}
	for _, line := range lines {
		f := strings.Fields(line)
		if len(f) < 2 || !fs.ValidPath(f[1]) || f[1] == "." || len(f[1]) > 200 {
			continue
		}
		p := filepath.Join(root, filepath.FromSlash(f[1]))
		if !realDirs(root, path.Dir(f[1])) {
			continue
		}
		switch f[0] {
		case "d":
			_ = os.Mkdir(p, 0o755)
		case "f":
			var data []byte
			if len(f) > 2 {
				src := f[2]
				switch {
				case strings.HasPrefix(src, "="):
					data, _ = cpFiles.Resolve(strings.TrimPrefix(src, "="))
				case src == "x":
					data = pemData
				case strings.HasPrefix(src, "k:"):
					data = kubeconfigPointingAt(t, expand(strings.TrimPrefix(src, "k:")))
				default:
					data = []byte(strings.Join(f[2:], " "))
				}
			}
			_ = os.WriteFile(p, data, 0o644)
		case "l":
			if len(f) > 2 {
				_ = os.Symlink(expand(f[2]), p)
			}
		}
	}
}

// realDirs makes dir (a slash path under root) of real directories,
// and reports false if a component is something else.
func realDirs(root, dir string) bool {
	cur := root
	if dir == "." {
		return true
	}
	for part := range strings.SplitSeq(dir, "/") {
		cur = filepath.Join(cur, part)
		fi, err := os.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) {
			if os.Mkdir(cur, 0o755) != nil {
				return false
			}
			continue
		}
		if err != nil || !fi.IsDir() {
			return false
		}
	}
	return true
}

func kubeconfigPointingAt(t *testing.T, target string) []byte {
	cfg, err := clientcmd.Load(cpFiles["etc/kubernetes/admin.conf"].Data)
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range cfg.AuthInfos {
		u.ClientCertificateData, u.ClientKeyData = nil, nil
		u.ClientCertificate = target
	}
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

// treeScript is a fixture node's files as a buildTree script.
func treeScript(files pki.Files) string {
	var b strings.Builder
	for _, p := range files.Paths() {
		if l := files[p].Link; l != "" {
			fmt.Fprintf(&b, "l %s %s\n", p, l)
		} else {
			fmt.Fprintf(&b, "f %s =%s\n", p, p)
		}
	}
	return b.String()
}

// FuzzReadNode: over any file tree, symbolic links included (loops, links
// out of the tree, relative and absolute), ReadNode terminates without a
// panic, never asks its file system for a name outside the tree, and never
// reads the certificate that lives beside the tree.
func FuzzReadNode(f *testing.F) {
	cp := treeScript(cpFiles)
	worker := treeScript(workerFiles)
	f.Add([]byte(cp), false)
	f.Add([]byte(cp), true)
	f.Add([]byte(worker), false)
	for _, extra := range []string{
		// Loops.
		"l etc/kubernetes/pki/ca.crt ca.crt\n",
		"l etc/kubernetes/pki/ca.crt a\nl etc/kubernetes/pki/a etc/kubernetes/pki/ca.crt\n",
		"l etc/kubernetes/pki ../kubernetes/pki\n",
		"l etc/kubernetes/pki .\n",
		// Out of the tree: relative, absolute, through a missing directory.
		"l etc/kubernetes/pki/ca.crt ../../../../../../../../@OUT/ca.crt\n",
		"l etc/kubernetes/pki/ca.crt @OUT/ca.crt\n",
		"l etc/kubernetes/pki @OUT\n",
		"l etc/kubernetes/pki/ca.crt nonexistent/../evil\nl etc/kubernetes/pki/evil @OUT/ca.crt\n",
		"l etc/kubernetes/pki/ca.crt @ROOT/etc/kubernetes/pki/front-proxy-ca.crt\n",
		"f etc/kubernetes/admin.conf k:@OUT/ca.crt\n",
		"f etc/kubernetes/admin.conf k:../../../@OUT/ca.crt\n",
		"f etc/kubernetes/admin.conf k:missing/../../evil.crt\nl etc/evil.crt @OUT/ca.crt\n",
		// Directories and garbage where files belong.
		"d etc/kubernetes/pki/apiserver.crt\n",
		"f etc/kubernetes/pki/apiserver.crt not a certificate\n",
		"f etc/kubernetes/pki/ca.crt x\n",
	} {
		f.Add([]byte(cp+extra), false)
		f.Add([]byte(extra), false)
		f.Add([]byte(extra), true)
	}
	f.Fuzz(func(t *testing.T, script []byte, strict bool) {
		pemData, _ := outsiderPEM(t)
		dir := t.TempDir()
		root, out := filepath.Join(dir, "root"), filepath.Join(dir, "out")
		for _, p := range []string{"ca.crt", "etc/kubernetes/pki/ca.crt", "etc/kubernetes/pki/apiserver.crt", "etc/kubernetes/pki/etcd/ca.crt"} {
			p = filepath.Join(out, filepath.FromSlash(p))
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, pemData, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if err := os.Mkdir(root, 0o755); err != nil {
			t.Fatal(err)
		}
		buildTree(t, root, out, script)

		w := &watchFS{t: t, fsys: os.DirFS(root)}
		err := filepath.WalkDir(out, func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() {
				fi, err := os.Stat(p)
				if err != nil {
					return err
				}
				w.beside = append(w.beside, fi)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		type result struct {
			e   *Expiration
			err error
		}
		done := make(chan result, 1)
		go func() {
			e, err := ReadNodeWithOptions(w, ReadOptions{Strict: strict, Now: fuzzNow})
			done <- result{e, err}
		}()
		var res result
		select {
		case res = <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("ReadNode has not returned after 20s")
		}
		if w.calls > 10000 {
			t.Errorf("ReadNode made %d file system calls", w.calls)
		}
		if res.err == nil && res.e == nil {
			t.Fatal("no catalogue and no error")
		}
	})
}
