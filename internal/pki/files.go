package pki

import (
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
)

// File is one file of a node's disk.
type File struct {
	// Data is the file's content; ignored for a symlink.
	Data []byte
	// Mode is the file's permission bits; zero means 0644.
	Mode fs.FileMode
	// Link, when not empty, makes the file a symlink to Link (a name relative
	// to the link's directory, e.g. "kubelet-client-2026-01-02-03-04-05.pem").
	Link string
}

// Files is a node's disk: file paths relative to the node's root,
// slash-separated, e.g. "etc/kubernetes/pki/apiserver.crt".
type Files map[string]File

// Paths returns the file paths in sorted order.
func (f Files) Paths() []string {
	return slices.Sorted(maps.Keys(f))
}

// addKeyPair adds base+".crt" (0644) and base+".key" (0600).
func (f Files) addKeyPair(base string, kp *KeyPair) error {
	keyPEM, err := kp.KeyPEM()
	if err != nil {
		return err
	}
	f[base+".crt"] = File{Data: kp.CertPEM(), Mode: modeCert}
	f[base+".key"] = File{Data: keyPEM, Mode: modeKey}
	return nil
}

// Resolve returns the content of the file at p, following a symlink within
// f (as kubelet-client-current.pem).
func (f Files) Resolve(p string) ([]byte, error) {
	for range 8 {
		file, ok := f[p]
		if !ok {
			return nil, fmt.Errorf("%s: %w", p, fs.ErrNotExist)
		}
		if file.Link == "" {
			return file.Data, nil
		}
		if path.IsAbs(file.Link) {
			p = strings.TrimPrefix(file.Link, "/")
		} else {
			p = path.Join(path.Dir(p), file.Link)
		}
	}
	return nil, fmt.Errorf("%s: too many levels of symbolic links", p)
}

// KeyPair parses the certificate at base+".crt" and the key at base+".key",
// e.g. f.KeyPair("etc/kubernetes/pki/apiserver").
func (f Files) KeyPair(base string) (*KeyPair, error) {
	crt, err := f.Resolve(base + ".crt")
	if err != nil {
		return nil, err
	}
	key, err := f.Resolve(base + ".key")
	if err != nil {
		return nil, err
	}
	kp, err := ParseKeyPair(crt, key)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", base, err)
	}
	return kp, nil
}

// KubeconfigClient returns the client certificate and key embedded in the
// kubeconfig at p, e.g. f.KubeconfigClient("etc/kubernetes/admin.conf").
func (f Files) KubeconfigClient(p string) (*KeyPair, error) {
	data, err := f.Resolve(p)
	if err != nil {
		return nil, err
	}
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	ctx, ok := cfg.Contexts[cfg.CurrentContext]
	if !ok {
		return nil, fmt.Errorf("%s: current context %q not found", p, cfg.CurrentContext)
	}
	auth, ok := cfg.AuthInfos[ctx.AuthInfo]
	if !ok || len(auth.ClientCertificateData) == 0 {
		return nil, fmt.Errorf("%s: user %q has no embedded client certificate", p, ctx.AuthInfo)
	}
	kp, err := ParseKeyPair(auth.ClientCertificateData, auth.ClientKeyData)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", p, err)
	}
	return kp, nil
}

// WriteTo writes the files under root: missing directories are created with
// mode 0755, files get their Mode (regardless of the umask) and symlinks are
// (re)created. Existing files are overwritten. Paths must be relative and
// must not leave root.
func (f Files) WriteTo(root string) error {
	if root == "" {
		return errors.New("writing node files: root directory is required")
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return fmt.Errorf("writing node files: %w", err)
	}
	for _, p := range f.Paths() {
		file := f[p]
		if !fs.ValidPath(p) || p == "." {
			return fmt.Errorf("writing node files: invalid path %q", p)
		}
		dst := filepath.Join(root, filepath.FromSlash(p))
		if err := mkdirAll(root, path.Dir(p)); err != nil {
			return fmt.Errorf("writing %s: %w", dst, err)
		}
		if file.Link != "" {
			if err := os.Remove(dst); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("replacing %s: %w", dst, err)
			}
			if err := os.Symlink(file.Link, dst); err != nil {
				return fmt.Errorf("writing %s: %w", dst, err)
			}
			continue
		}
		mode := file.Mode.Perm()
		if mode == 0 {
			mode = modeCert
		}
		if fi, err := os.Lstat(dst); err == nil && fi.Mode()&fs.ModeSymlink != 0 {
			if err := os.Remove(dst); err != nil {
				return fmt.Errorf("replacing %s: %w", dst, err)
			}
		}
		if err := os.WriteFile(dst, file.Data, mode); err != nil {
			return fmt.Errorf("writing %s: %w", dst, err)
		}
		if err := os.Chmod(dst, mode); err != nil {
			return fmt.Errorf("writing %s: %w", dst, err)
		}
	}
	return nil
}

// mkdirAll creates root/dir one level at a time, giving each new directory
// mode 0755 whatever the umask.
func mkdirAll(root, dir string) error {
	if dir == "." {
		return nil
	}
	cur := root
	for _, elem := range strings.Split(dir, "/") {
		cur = filepath.Join(cur, elem)
		err := os.Mkdir(cur, 0o755)
		switch {
		case err == nil:
			if err := os.Chmod(cur, 0o755); err != nil {
				return err
			}
		case errors.Is(err, fs.ErrExist):
		default:
			return err
		}
	}
	return nil
}
