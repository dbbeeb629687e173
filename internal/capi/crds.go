package capi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"
)

// crdDirs are the directories of the Cluster API module that hold the CRDs
// of the core, the kubeadm bootstrap provider and the kubeadm control plane.
var crdDirs = []string{
	"core/config/crd/bases",
	"bootstrap/kubeadm/config/crd/bases",
	"controlplane/kubeadm/config/crd/bases",
}

// ModuleDirEnv names an environment variable that, when set, points at an
// unpacked sigs.k8s.io/cluster-api module and skips the Go module cache.
const ModuleDirEnv = "TKGCERT_CAPI_DIR"

// ModuleDir returns the directory of the sigs.k8s.io/cluster-api module at
// ReleaseVersion, from the Go module cache; `go mod download` fetches it
// through the module proxy when the cache lacks it.
func ModuleDir(ctx context.Context) (string, error) {
	if dir := os.Getenv(ModuleDirEnv); dir != "" {
		return dir, nil
	}
	mod := "sigs.k8s.io/cluster-api@" + ReleaseVersion()
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", mod)
	cmd.Dir = os.TempDir() // outside any module: do not touch a go.mod
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	runErr := cmd.Run()
	var info struct{ Dir, Error string }
	_ = json.Unmarshal(stdout.Bytes(), &info)
	if runErr != nil || info.Dir == "" {
		msg := strings.TrimSpace(info.Error + " " + stderr.String())
		if msg == "" && runErr != nil {
			msg = runErr.Error()
		}
		return "", fmt.Errorf("locating Cluster API CRDs (%s) with `go mod download`: %s: run `make tools`, or set %s to an unpacked cluster-api module", mod, msg, ModuleDirEnv)
	}
	return info.Dir, nil
}

// ReleaseCRDs locates the Cluster API release this binary is built against
// (ModuleDir) and loads its CRDs to serve exactly version (LoadCRDs).
func ReleaseCRDs(ctx context.Context, version APIVersion) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	dir, err := ModuleDir(ctx)
	if err != nil {
		return nil, err
	}
	return LoadCRDs(dir, version)
}

// LoadCRDs reads Cluster API's CRDs from moduleDir and rewrites each to serve
// exactly one version: the one asked for becomes the served storage version,
// the others and any conversion webhook are dropped. CRDs that lack that
// version (for example runtime extensions, which have no v1beta1) are left out.
func LoadCRDs(moduleDir string, version APIVersion) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	var out []*apiextensionsv1.CustomResourceDefinition
	for _, d := range crdDirs {
		files, err := filepath.Glob(filepath.Join(moduleDir, d, "*.yaml"))
		if err != nil {
			return nil, err
		}
		if len(files) == 0 {
			return nil, fmt.Errorf("no CRDs in %s: is %s an unpacked sigs.k8s.io/cluster-api module?", filepath.Join(moduleDir, d), moduleDir)
		}
		sort.Strings(files)
		for _, f := range files {
			crds, err := readCRDFile(f)
			if err != nil {
				return nil, err
			}
			for _, crd := range crds {
				if onlyVersion(crd, string(version)) {
					out = append(out, crd)
				}
			}
		}
	}
	return out, nil
}

func readCRDFile(path string) ([]*apiextensionsv1.CustomResourceDefinition, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []*apiextensionsv1.CustomResourceDefinition
	r := utilyaml.NewYAMLReader(bufio.NewReader(f))
	for {
		doc, err := r.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		if len(bytes.TrimSpace(doc)) == 0 || bytes.Equal(bytes.TrimSpace(doc), []byte("---")) {
			continue
		}
		crd := &apiextensionsv1.CustomResourceDefinition{}
		if err := yaml.UnmarshalStrict(doc, crd); err != nil {
			return nil, fmt.Errorf("decoding CRD in %s: %w", path, err)
		}
		if crd.Kind != "CustomResourceDefinition" {
			continue
		}
		out = append(out, crd)
	}
}

// onlyVersion keeps only the named version, served and stored; it reports
// false when the CRD does not have it.
func onlyVersion(crd *apiextensionsv1.CustomResourceDefinition, version string) bool {
	for _, v := range crd.Spec.Versions {
		if v.Name == version {
			// The one version served is the cluster's current API (as v1beta1
			// is on a TKG Supervisor), so it is not announced as deprecated.
			v.Served, v.Storage = true, true
			v.Deprecated, v.DeprecationWarning = false, nil
			crd.Spec.Versions = []apiextensionsv1.CustomResourceDefinitionVersion{v}
			crd.Spec.Conversion = &apiextensionsv1.CustomResourceConversion{Strategy: apiextensionsv1.NoneConverter}
			return true
		}
	}
	return false
}
