// Package krew tests what `make release` writes (hack/release.sh) with krew
// itself: the manifest is checked by krew's validate-krew-manifest, and the
// archives are installed by `kubectl krew install` from a local HTTP server,
// as a user installs them from the release page.
//
// Measured on 2 idle cores: about 30 s with a warm build cache, about 9.5 min
// with an empty one (krew, and tkgcert for two platforms built with
// -trimpath, which shares nothing with the ordinary builds' cache), so run it
// cold with more than go test's default 10 min: go test -timeout 30m ./...
package krew

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"sigs.k8s.io/krew/pkg/index"
	"sigs.k8s.io/yaml"
)

// platforms is what the test releases: the machine's own, whose binary it
// runs, and windows, whose zip archive and .exe take the other path through
// the release script. Override with TKGCERT_RELEASE_PLATFORMS (e.g. all six).
func platforms() []string {
	if p := os.Getenv("TKGCERT_RELEASE_PLATFORMS"); p != "" {
		return strings.Fields(strings.ReplaceAll(p, ",", " "))
	}
	host := runtime.GOOS + "/" + runtime.GOARCH
	if runtime.GOOS == "windows" {
		return []string{host, "linux/" + runtime.GOARCH}
	}
	return []string{host, "windows/" + runtime.GOARCH}
}

// run runs name with args and env (added to the test's), returning stdout;
// the test fails with stderr when it fails.
func run(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n--- stdout\n%s\n--- stderr\n%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return string(out)
}

func sha256File(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func TestReleaseManifest(t *testing.T) {
	for _, tool := range []string{"go", "bash", "git", "kubectl"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Fatalf("the release test needs %s on PATH (kubectl to run krew as a plugin): %v", tool, err)
		}
	}
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	tools := filepath.Join(tmp, "tools")
	// krew as kubectl runs it, and krew's manifest validator, from the module
	// this test's go.mod pins.
	run(t, nil, "go", "build", "-o", filepath.Join(tools, "kubectl-krew"), "sigs.k8s.io/krew/cmd/krew")
	run(t, nil, "go", "build", "-o", filepath.Join(tools, "validate-krew-manifest"), "sigs.k8s.io/krew/cmd/validate-krew-manifest")

	// The release, for the platforms the test needs.
	dist := filepath.Join(tmp, "dist")
	if err := os.MkdirAll(dist, 0o755); err != nil {
		t.Fatal(err)
	}
	// A local "release page": RELEASE_URL is its /download, and it records
	// what is downloaded.
	var mu sync.Mutex
	var served []string
	files := http.FileServer(http.Dir(dist))
	srv := httptest.NewServer(http.StripPrefix("/download", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		served = append(served, r.URL.Path)
		mu.Unlock()
		files.ServeHTTP(w, r)
	})))
	defer srv.Close()
	baseURL := srv.URL + "/download"
	downloads := func() []string {
		mu.Lock()
		defer mu.Unlock()
		d := served
		served = nil
		return d
	}
	plats := platforms()
	release := exec.Command(filepath.Join(repo, "hack", "release.sh"))
	release.Env = append(os.Environ(), "DIST="+dist, "RELEASE_URL="+baseURL, "PLATFORMS="+strings.Join(plats, " "))
	release.Env = slices.DeleteFunc(release.Env, func(e string) bool { return strings.HasPrefix(e, "VERSION=") })
	if out, err := release.CombinedOutput(); err != nil {
		t.Fatalf("hack/release.sh: %v\n%s", err, out)
	}
	manifestFile := filepath.Join(dist, "plugins", "tkgcert.yaml")

	// krew's own validation: structure, semantic version, selectors that
	// match a platform krew knows and do not overlap. Its install step is
	// done below instead, with kubectl: it also demands a LICENSE file in
	// the archive, which the repository does not have yet.
	run(t, nil, filepath.Join(tools, "validate-krew-manifest"), "-manifest", manifestFile, "-skip-install")

	raw, err := os.ReadFile(manifestFile)
	if err != nil {
		t.Fatal(err)
	}
	var plugin index.Plugin
	if err := yaml.UnmarshalStrict(raw, &plugin); err != nil {
		t.Fatalf("%s: %v", manifestFile, err)
	}

	// checksums.txt names every archive once, with its SHA-256, and the
	// manifest points at the same archives with the same sums.
	sums := map[string]string{}
	f, err := os.Open(filepath.Join(dist, "checksums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		sum, name, ok := strings.Cut(sc.Text(), "  ")
		if !ok || sums[name] != "" {
			t.Errorf("checksums.txt: line %q is not \"<sha256>  <file>\" or names a file twice", sc.Text())
			continue
		}
		sums[name] = sum
		if got := sha256File(t, filepath.Join(dist, name)); got != sum {
			t.Errorf("checksums.txt: %s has SHA-256 %s, the file %s", name, sum, got)
		}
	}
	f.Close()
	archives, _ := filepath.Glob(filepath.Join(dist, "tkgcert_*"))
	if len(archives) != len(plats) || len(sums) != len(plats) || len(plugin.Spec.Platforms) != len(plats) {
		t.Errorf("%d platforms released, %d archives, %d in checksums.txt, %d in the manifest",
			len(plats), len(archives), len(sums), len(plugin.Spec.Platforms))
	}
	for i, p := range plugin.Spec.Platforms {
		name := path.Base(p.URI)
		if p.URI != baseURL+"/"+name {
			t.Errorf("platform %d: uri %s is not under RELEASE_URL %s", i, p.URI, baseURL)
		}
		if sums[name] == "" || p.Sha256 != sums[name] {
			t.Errorf("platform %d: sha256 %s of %s, checksums.txt has %q", i, p.Sha256, name, sums[name])
		}
	}

	// Install every platform with krew, as a user on that platform would
	// (KREW_OS/KREW_ARCH, as validate-krew-manifest does): downloaded from
	// the URI, checked against the sha256, unpacked, linked into KREW_ROOT/bin.
	host := runtime.GOOS + "/" + runtime.GOARCH
	for _, p := range plats {
		goos, arch, _ := strings.Cut(p, "/")
		t.Run("krew install "+p, func(t *testing.T) {
			root := filepath.Join(tmp, "krew-"+goos+"-"+arch)
			env := []string{"KREW_ROOT=" + root, "KREW_OS=" + goos, "KREW_ARCH=" + arch, "KREW_NO_UPGRADE_CHECK=1", "HOME=" + tmp,
				"PATH=" + filepath.Join(root, "bin") + string(os.PathListSeparator) + tools + string(os.PathListSeparator) + os.Getenv("PATH")}
			downloads()
			run(t, env, "kubectl", "krew", "install", "--manifest="+manifestFile)
			served := downloads()
			want := fmt.Sprintf("/tkgcert_%s_%s_%s", plugin.Spec.Version, goos, arch) // under /download
			if len(served) != 1 || !strings.HasPrefix(served[0], want) {
				t.Errorf("krew downloaded %v, want the one archive %s*", served, want)
			}
			bin := "kubectl-tkgcert"
			if goos == "windows" {
				bin += ".exe"
			}
			installed := filepath.Join(root, "bin", bin)
			b, err := os.ReadFile(installed)
			if err != nil {
				t.Fatalf("krew installed no %s: %v", bin, err)
			}
			if readme := filepath.Join(root, "store", "tkgcert", plugin.Spec.Version, "README.md"); !fileExists(readme) {
				t.Errorf("no README.md installed at %s", readme)
			}
			if receipt := filepath.Join(root, "receipts", "tkgcert.yaml"); !fileExists(receipt) {
				t.Errorf("krew kept no receipt %s: it does not know tkgcert is installed", receipt)
			}
			if p != host {
				// Not runnable here: check it is the right kind of executable.
				magic := map[string]string{"windows": "MZ", "linux": "\x7fELF", "darwin": "\xcf\xfa\xed\xfe"}[goos]
				if !strings.HasPrefix(string(b), magic) {
					t.Errorf("%s does not start like a %s executable (%q)", installed, goos, b[:min(4, len(b))])
				}
				return
			}
			// kubectl finds the plugin in KREW_ROOT/bin, and it is the release.
			var v struct{ Version, Platform string }
			out := run(t, env, "kubectl", "tkgcert", "version", "-o", "json")
			if err := json.Unmarshal([]byte(out), &v); err != nil {
				t.Fatalf("kubectl tkgcert version -o json: %v\n%s", err, out)
			}
			if v.Version != plugin.Spec.Version || v.Platform != p {
				t.Errorf("kubectl tkgcert version: %s on %s, want the manifest's %s on %s", v.Version, v.Platform, plugin.Spec.Version, p)
			}
		})
	}
}

func fileExists(name string) bool {
	_, err := os.Stat(name)
	return err == nil
}
