package kubeserver

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Binaries holds the paths of the server binaries built by `make tools`.
type Binaries struct {
	Etcd          string
	KubeAPIServer string
	Kubeadm       string
}

// FindBinaries looks for etcd, kube-apiserver and kubeadm first in binDir
// (when not empty) and then on PATH. The error names every missing binary
// and says how to build them.
func FindBinaries(binDir string) (Binaries, error) {
	var b Binaries
	var missing []string
	for _, t := range []struct {
		name string
		dst  *string
	}{{"etcd", &b.Etcd}, {"kube-apiserver", &b.KubeAPIServer}, {"kubeadm", &b.Kubeadm}} {
		p, err := findBinary(binDir, t.name)
		if err != nil {
			missing = append(missing, t.name)
			continue
		}
		*t.dst = p
	}
	if len(missing) > 0 {
		where := "PATH"
		if binDir != "" {
			where = binDir + " or PATH"
		}
		return b, fmt.Errorf("%v not found in %s: run `make tools` in the tkgcert repository to build them into bin/", missing, where)
	}
	return b, nil
}

func findBinary(binDir, name string) (string, error) {
	if binDir != "" {
		p := filepath.Join(binDir, name)
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return filepath.Abs(p)
		}
	}
	return exec.LookPath(name)
}

// RepoBinDir walks up from the working directory to the directory holding
// go.mod and returns its bin/ directory, or "" when there is none. Tests run
// in their package directory; this finds the repository's bin/ from there.
func RepoBinDir() string {
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "bin")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}
