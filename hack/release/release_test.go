package main

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

var allPlatforms = []string{"linux/amd64", "linux/arm64", "darwin/amd64", "darwin/arm64", "windows/amd64", "windows/arm64"}

// fakeRelease lays out stand-in binaries for every platform and a README,
// and returns a config that packs them into a fresh output directory.
func fakeRelease(t *testing.T) config {
	t.Helper()
	dir := t.TempDir()
	for _, p := range allPlatforms {
		goos, arch, _ := strings.Cut(p, "/")
		d := filepath.Join(dir, "bin", goos+"_"+arch)
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, binName(goos)), []byte("binary for "+p), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	readme := filepath.Join(dir, "README.md")
	if err := os.WriteFile(readme, []byte("# tkgcert\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return config{version: "v1.2.3", binDir: filepath.Join(dir, "bin"), out: t.TempDir(), baseURL: "https://example.com/dl/",
		platforms: allPlatforms, docs: []string{readme}, mtime: time.Unix(1700000000, 0).UTC()}
}

type member struct {
	name    string
	mode    os.FileMode
	mtime   time.Time
	content string
}

func tarMembers(t *testing.T, file string) []member {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	if gz.Name != "" || !gz.ModTime.IsZero() {
		t.Errorf("%s: gzip header has name %q, time %v", file, gz.Name, gz.ModTime)
	}
	var ms []member
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return ms
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" {
			t.Errorf("%s: %s has owner %d:%d (%q:%q)", file, h.Name, h.Uid, h.Gid, h.Uname, h.Gname)
		}
		b, _ := io.ReadAll(tr)
		ms = append(ms, member{h.Name, h.FileInfo().Mode(), h.ModTime.UTC(), string(b)})
	}
}

func zipMembers(t *testing.T, file string) []member {
	t.Helper()
	zr, err := zip.OpenReader(file)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var ms []member
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		ms = append(ms, member{f.Name, f.Mode(), f.Modified.UTC(), string(b)})
	}
	return ms
}

func TestRelease(t *testing.T) {
	c := fakeRelease(t)
	if err := run(c); err != nil {
		t.Fatal(err)
	}
	sums, err := os.ReadFile(filepath.Join(c.out, "checksums.txt"))
	if err != nil {
		t.Fatal(err)
	}
	manifest, err := os.ReadFile(filepath.Join(c.out, "plugins", "tkgcert.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, p := range allPlatforms {
		goos, arch, _ := strings.Cut(p, "/")
		name := archiveName("v1.2.3", goos, arch)
		t.Run(p, func(t *testing.T) {
			file := filepath.Join(c.out, name)
			var ms []member
			if goos == "windows" {
				if !strings.HasSuffix(name, ".zip") {
					t.Errorf("windows archive %s is not a zip", name)
				}
				ms = zipMembers(t, file)
			} else {
				ms = tarMembers(t, file)
			}
			wantMembers := []member{
				{"README.md", 0o644, c.mtime, "# tkgcert\n"},
				{binName(goos), 0o755, c.mtime, "binary for " + p},
			}
			if !slices.Equal(ms, wantMembers) {
				t.Errorf("%s holds\n%+v\nwant\n%+v", name, ms, wantMembers)
			}
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			sum := sha256.Sum256(b)
			line := hex.EncodeToString(sum[:]) + "  " + name
			if !strings.Contains(string(sums), line+"\n") {
				t.Errorf("checksums.txt has no line %q:\n%s", line, sums)
			}
			platform := fmt.Sprintf(`  - selector:
      matchLabels:
        os: %s
        arch: %s
    uri: https://example.com/dl/%s
    sha256: %s
    bin: %s
    files:
    - from: %[5]s
      to: .
    - from: README.md
      to: .
`, goos, arch, name, hex.EncodeToString(sum[:]), binName(goos))
			if !strings.Contains(string(manifest), platform) {
				t.Errorf("the manifest has no platform\n%s\nin\n%s", platform, manifest)
			}
		})
		want = append(want, name)
	}
	slices.Sort(want)
	var got []string
	for _, l := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		_, name, _ := strings.Cut(l, "  ")
		got = append(got, name)
	}
	if !slices.Equal(got, want) {
		t.Errorf("checksums.txt lists %v, want %v (sorted)", got, want)
	}
	for _, s := range []string{"apiVersion: krew.googlecontainertools.github.com/v1alpha2\nkind: Plugin\nmetadata:\n  name: tkgcert\nspec:\n  version: v1.2.3\n"} {
		if !strings.Contains(string(manifest), s) {
			t.Errorf("the manifest has no %q:\n%s", s, manifest)
		}
	}
}

// TestReproducible packs the same input twice, at different times and from
// files with other modes and times: the bytes must not change.
func TestReproducible(t *testing.T) {
	c := fakeRelease(t)
	if err := run(c); err != nil {
		t.Fatal(err)
	}
	first := c.out
	c.out = t.TempDir()
	for _, p := range allPlatforms {
		goos, arch, _ := strings.Cut(p, "/")
		f := filepath.Join(c.binDir, goos+"_"+arch, binName(goos))
		if err := os.Chtimes(f, time.Now(), time.Now().Add(-time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(f, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := run(c); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(first)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(allPlatforms)+2 { // archives, checksums.txt, plugins/
		t.Errorf("%d entries in the output, want %d", len(entries), len(allPlatforms)+2)
	}
	for _, e := range append(entries, nil) {
		name := filepath.Join("plugins", "tkgcert.yaml")
		if e != nil {
			if e.IsDir() {
				continue
			}
			name = e.Name()
		}
		a, errA := os.ReadFile(filepath.Join(first, name))
		b, errB := os.ReadFile(filepath.Join(c.out, name))
		if errA != nil || errB != nil || !bytes.Equal(a, b) {
			t.Errorf("%s differs between two runs on the same input (%v, %v)", name, errA, errB)
		}
	}
}

func TestVersionAndPlatformErrors(t *testing.T) {
	for _, tc := range []struct {
		version, platform, want string
	}{
		{"1.2.3", "linux/amd64", `version "1.2.3" is not a semantic version`},
		{"v1.2", "linux/amd64", `version "v1.2" is not a semantic version`},
		{"v0.0.0-0123456", "linux/amd64", "not a semantic version"}, // a numeric identifier takes no leading zero
		{"v1.2.3", "linux", `platform "linux" is not os/arch`},
		{"v1.2.3", "plan9/386", "plan9_386/kubectl-tkgcert: no such file"},
	} {
		t.Run(tc.version+" "+tc.platform, func(t *testing.T) {
			c := fakeRelease(t)
			c.version, c.platforms = tc.version, []string{tc.platform}
			err := run(c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("run: %v, want an error with %q", err, tc.want)
			}
		})
	}
	for _, v := range []string{"v0.0.0-g0123abc", "v0.0.0-g0123abc.dirty", "v1.0.0-rc.1", "v10.20.30"} {
		c := fakeRelease(t)
		c.version = v
		if err := run(c); err != nil {
			t.Errorf("version %s: %v", v, err)
		}
	}
}
