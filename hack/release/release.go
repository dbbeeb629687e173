package main

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"time"
)

// pluginName is the plugin's name in krew and, with kubectl-, its binary's.
const pluginName = "tkgcert"

// semverRE is the semantic version krew accepts (it parses the version with
// a leading v), without build metadata, which a release does not need.
var semverRE = regexp.MustCompile(`^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)(\.(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*))*)?$`)

type config struct {
	version   string
	binDir    string
	out       string
	baseURL   string
	platforms []string // os/arch
	docs      []string // files put next to the binary
	mtime     time.Time
}

// artifact is one platform's archive.
type artifact struct {
	OS, Arch string
	Name     string // file name in out
	SHA256   string
	Bin      string // the binary's name in the archive
	Docs     []string
}

// binName is the binary in the archives: what kubectl looks for on PATH, so
// that unpacking an archive by hand onto PATH gives a working plugin too.
func binName(goos string) string {
	if goos == "windows" {
		return "kubectl-" + pluginName + ".exe"
	}
	return "kubectl-" + pluginName
}

// archiveName is the archive of one platform.
func archiveName(version, goos, arch string) string {
	ext := ".tar.gz"
	if goos == "windows" {
		ext = ".zip"
	}
	return fmt.Sprintf("%s_%s_%s_%s%s", pluginName, version, goos, arch, ext)
}

func run(c config) error {
	if !semverRE.MatchString(c.version) {
		return fmt.Errorf("version %q is not a semantic version vX.Y.Z[-pre] as krew needs", c.version)
	}
	if c.binDir == "" || c.baseURL == "" || len(c.platforms) == 0 {
		return fmt.Errorf("-bin-dir, -url and -platforms are required")
	}
	var docs []string
	for _, d := range c.docs {
		if slices.Contains(docs, filepath.Base(d)) {
			return fmt.Errorf("document %s given twice", filepath.Base(d))
		}
		docs = append(docs, filepath.Base(d))
	}
	if err := os.MkdirAll(filepath.Join(c.out, "plugins"), 0o755); err != nil {
		return err
	}
	var arts []artifact
	for _, p := range c.platforms {
		goos, arch, ok := strings.Cut(p, "/")
		if !ok || goos == "" || arch == "" {
			return fmt.Errorf("platform %q is not os/arch", p)
		}
		a := artifact{OS: goos, Arch: arch, Name: archiveName(c.version, goos, arch), Bin: binName(goos), Docs: docs}
		files := []entry{{name: a.Bin, src: filepath.Join(c.binDir, goos+"_"+arch, a.Bin), mode: 0o755}}
		for _, d := range c.docs {
			files = append(files, entry{name: filepath.Base(d), src: d, mode: 0o644})
		}
		slices.SortFunc(files, func(x, y entry) int { return strings.Compare(x.name, y.name) })
		sum, err := writeArchive(filepath.Join(c.out, a.Name), files, c.mtime)
		if err != nil {
			return fmt.Errorf("packing %s: %w", a.Name, err)
		}
		a.SHA256 = sum
		arts = append(arts, a)
	}
	slices.SortFunc(arts, func(x, y artifact) int { return strings.Compare(x.Name, y.Name) })
	if err := os.WriteFile(filepath.Join(c.out, "checksums.txt"), checksums(arts), 0o644); err != nil {
		return err
	}
	manifest, err := krewManifest(c.version, strings.TrimSuffix(c.baseURL, "/"), arts)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(c.out, "plugins", pluginName+".yaml"), manifest, 0o644)
}

// checksums is checksums.txt, as `sha256sum` writes it and `sha256sum -c` reads it.
func checksums(arts []artifact) []byte {
	var b strings.Builder
	for _, a := range arts {
		fmt.Fprintf(&b, "%s  %s\n", a.SHA256, a.Name)
	}
	return []byte(b.String())
}

// entry is one file in an archive.
type entry struct {
	name string // name in the archive
	src  string // file on disk
	mode int64
}

// writeArchive writes files, in order, to a .tar.gz or .zip (by file's
// extension), every file with mtime, no owner, and returns its SHA-256.
func writeArchive(file string, files []entry, mtime time.Time) (string, error) {
	f, err := os.Create(file)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	w := io.MultiWriter(f, h)
	if strings.HasSuffix(file, ".zip") {
		err = writeZip(w, files, mtime)
	} else {
		err = writeTarGz(w, files, mtime)
	}
	if err != nil {
		return "", err
	}
	if err := f.Close(); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func writeTarGz(w io.Writer, files []entry, mtime time.Time) error {
	// No name, no time in the gzip header: the same input gives the same bytes.
	gz, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(gz)
	for _, e := range files {
		data, err := os.ReadFile(e.src)
		if err != nil {
			return err
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: e.name, Mode: e.mode, Size: int64(len(data)),
			ModTime: mtime, Format: tar.FormatUSTAR}
		if err := tw.WriteHeader(hdr); err != nil {
			return fmt.Errorf("%s: %w", e.name, err)
		}
		if _, err := tw.Write(data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

func writeZip(w io.Writer, files []entry, mtime time.Time) error {
	zw := zip.NewWriter(w)
	for _, e := range files {
		data, err := os.ReadFile(e.src)
		if err != nil {
			return err
		}
		hdr := &zip.FileHeader{Name: e.name, Method: zip.Deflate, Modified: mtime}
		hdr.SetMode(os.FileMode(e.mode))
		fw, err := zw.CreateHeader(hdr)
		if err != nil {
			return fmt.Errorf("%s: %w", e.name, err)
		}
		if _, err := fw.Write(data); err != nil {
			return err
		}
	}
	return zw.Close()
}

var manifestTemplate = template.Must(template.New("manifest").Parse(
	`# Generated by hack/release.sh (make release) for {{.Version}}: do not edit.
apiVersion: krew.googlecontainertools.github.com/v1alpha2
kind: Plugin
metadata:
  name: {{.Name}}
spec:
  version: {{.Version}}
  homepage: https://github.com/tkgcert/tkgcert
  shortDescription: Keep TKG cluster certificates from expiring
  description: |
    tkgcert keeps the TLS certificates of TKG Service clusters (Cluster API
    clusters with a kubeadm control plane) from expiring. Pointed at the
    Supervisor, it shows every expiry date across the fleet, rotates a
    cluster's certificates safely by rolling its control plane, and recovers
    clusters whose certificates already expired.

      kubectl tkgcert clusters -A
      kubectl tkgcert check -n tkg-cluster-ns tkg-cluster
      kubectl tkgcert rotate -n tkg-cluster-ns tkg-cluster
  platforms:
{{- range .Artifacts}}
  - selector:
      matchLabels:
        os: {{.OS}}
        arch: {{.Arch}}
    uri: {{$.BaseURL}}/{{.Name}}
    sha256: {{.SHA256}}
    bin: {{.Bin}}
    files:
    - from: {{.Bin}}
      to: .
{{- range .Docs}}
    - from: {{.}}
      to: .
{{- end}}
{{- end}}
`))

// krewManifest is plugins/tkgcert.yaml: one platform per archive.
func krewManifest(version, baseURL string, arts []artifact) ([]byte, error) {
	var b strings.Builder
	err := manifestTemplate.Execute(&b, struct {
		Name, Version, BaseURL string
		Artifacts              []artifact
	}{pluginName, version, baseURL, arts})
	return []byte(b.String()), err
}
