// Command image builds tkgcert's container image from the Go module, without a
// container engine: a static tkgcert per platform, a CA bundle and a passwd
// naming the non-root user 65532, in one OCI image index. It writes an OCI
// layout (OUT/oci, for `crane push` and `skopeo copy oci:`) and the same
// layout as a tar archive (OUT/tkgcert.oci.tar, for `skopeo copy
// oci-archive:`), and prints the index's digest.
//
// The build is reproducible: every timestamp is -epoch (the commit's time),
// files are in a fixed order with fixed owners, and the binaries are built
// with -trimpath, CGO_ENABLED=0 and an empty build ID. Two builds of one
// commit give one digest.
package main

import (
	"archive/tar"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// The image's user: distroless's "nonroot".
const (
	uid  = 65532
	user = "nonroot"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "image:", err)
		os.Exit(1)
	}
}

func run() error {
	var (
		repo      = flag.String("repo", "../..", "The tkgcert module's directory")
		out       = flag.String("out", "bin/image", "Output directory (OUT/oci, OUT/tkgcert.oci.tar, OUT/digest)")
		version   = flag.String("version", "dev", "tkgcert's version (org.opencontainers.image.version)")
		revision  = flag.String("revision", "", "Commit (org.opencontainers.image.revision)")
		source    = flag.String("source", "https://github.com/tkgcert/tkgcert", "org.opencontainers.image.source")
		epoch     = flag.Int64("epoch", -1, "Timestamp of every file and of the image, seconds since 1970 (default: $SOURCE_DATE_EPOCH)")
		platforms = flag.String("platforms", "linux/amd64,linux/arm64", "Platforms of the index, comma-separated")
		caBundle  = flag.String("ca-bundle", "/etc/ssl/certs/ca-certificates.crt", "PEM CA bundle to install as /etc/ssl/certs/ca-certificates.crt")
	)
	flag.Parse()
	if *epoch < 0 {
		s := os.Getenv("SOURCE_DATE_EPOCH")
		if s == "" {
			return fmt.Errorf("set -epoch or SOURCE_DATE_EPOCH (e.g. the commit's time: git log -1 --format=%%ct)")
		}
		if _, err := fmt.Sscan(s, epoch); err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH=%q: %w", s, err)
		}
	}
	created := time.Unix(*epoch, 0).UTC()
	ca, err := os.ReadFile(*caBundle)
	if err != nil {
		return fmt.Errorf("reading the CA bundle: %w", err)
	}
	repoDir, err := filepath.Abs(*repo)
	if err != nil {
		return err
	}
	labels := map[string]string{
		"org.opencontainers.image.source":   *source,
		"org.opencontainers.image.revision": *revision,
		"org.opencontainers.image.version":  *version,
		"org.opencontainers.image.title":    "tkgcert",
		"org.opencontainers.image.licenses": "Apache-2.0",
		"org.opencontainers.image.created":  created.Format(time.RFC3339),
	}

	base, err := layer(created, []entry{
		{name: "etc/", dir: true, mode: 0o755},
		{name: "etc/group", mode: 0o644, data: []byte(fmt.Sprintf("root:x:0:\n%s:x:%d:\n", user, uid))},
		{name: "etc/passwd", mode: 0o644, data: []byte(fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\n%s:x:%d:%d:%s:/home/%s:/sbin/nologin\n", user, uid, uid, user, user))},
		{name: "etc/ssl/", dir: true, mode: 0o755},
		{name: "etc/ssl/certs/", dir: true, mode: 0o755},
		{name: "etc/ssl/certs/ca-certificates.crt", mode: 0o644, data: ca},
		{name: "home/", dir: true, mode: 0o755},
		{name: "home/" + user + "/", dir: true, mode: 0o700, owner: uid},
		{name: "tmp/", dir: true, mode: 0o1777},
		{name: "var/", dir: true, mode: 0o755},
		{name: "var/lib/", dir: true, mode: 0o755},
		{name: "var/lib/tkgcert/", dir: true, mode: 0o700, owner: uid},
	})
	if err != nil {
		return err
	}

	tmp, err := os.MkdirTemp("", "tkgcert-image-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, p := range strings.Split(*platforms, ",") {
		goos, goarch, ok := strings.Cut(p, "/")
		if !ok {
			return fmt.Errorf("platform %q: want OS/ARCH", p)
		}
		bin := filepath.Join(tmp, "tkgcert-"+goos+"-"+goarch)
		if err := build(repoDir, goos, goarch, *version, bin); err != nil {
			return err
		}
		b, err := os.ReadFile(bin)
		if err != nil {
			return err
		}
		app, err := layer(created, []entry{{name: "tkgcert", mode: 0o755, data: b}})
		if err != nil {
			return err
		}
		img, err := mutate.Append(mutate.MediaType(empty.Image, types.OCIManifestSchema1),
			mutate.Addendum{Layer: base, History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "tkgcert hack/image: CA bundle, passwd", Comment: "ca-certificates from " + *caBundle}},
			mutate.Addendum{Layer: app, History: v1.History{Created: v1.Time{Time: created}, CreatedBy: "tkgcert hack/image: go build -trimpath ./cmd/tkgcert"}})
		if err != nil {
			return err
		}
		cf, err := img.ConfigFile()
		if err != nil {
			return err
		}
		cf = cf.DeepCopy()
		cf.Created = v1.Time{Time: created}
		cf.OS, cf.Architecture = goos, goarch
		cf.Config = v1.Config{
			Entrypoint: []string{"/tkgcert"},
			Cmd:        []string{"controller"},
			User:       fmt.Sprintf("%d:%d", uid, uid),
			WorkingDir: "/",
			Env:        []string{"PATH=/", "HOME=/home/" + user, "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt"},
			Labels:     labels,
		}
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			return err
		}
		img = mutate.ConfigMediaType(img, types.OCIConfigJSON)
		img = mutate.Annotations(img, labels).(v1.Image)
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: goos, Architecture: goarch}}})
	}
	idx = mutate.Annotations(idx, labels).(v1.ImageIndex)
	digest, err := idx.Digest()
	if err != nil {
		return err
	}

	dir := filepath.Join(*out, "oci")
	if err := os.RemoveAll(dir); err != nil {
		return err
	}
	lp, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	if err := lp.AppendIndex(idx, layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": *version})); err != nil {
		return err
	}
	if err := tarDir(dir, filepath.Join(*out, "tkgcert.oci.tar"), created); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(*out, "digest"), []byte(digest.String()+"\n"), 0o644); err != nil {
		return err
	}
	fmt.Println(digest)
	return nil
}

// build compiles a static, reproducible tkgcert for one platform.
func build(repo, goos, goarch, version, out string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false",
		"-ldflags", "-s -w -buildid= -X github.com/tkgcert/tkgcert/internal/version.Version="+version,
		"-o", out, "./cmd/tkgcert")
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+goos, "GOARCH="+goarch, "GOFLAGS=")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("building tkgcert for %s/%s: %w", goos, goarch, err)
	}
	return nil
}

type entry struct {
	name  string
	dir   bool
	mode  int64
	owner int
	data  []byte
}

// layer is a gzip-compressed OCI layer of entries, in name order, every
// timestamp at created.
func layer(created time.Time, entries []entry) (v1.Layer, error) {
	sort.Slice(entries, func(i, j int) bool { return entries[i].name < entries[j].name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		h := &tar.Header{Name: e.name, Mode: e.mode, Uid: e.owner, Gid: e.owner, ModTime: created, Format: tar.FormatPAX, Typeflag: tar.TypeReg, Size: int64(len(e.data))}
		if e.dir {
			h.Typeflag, h.Size = tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(e.data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil },
		tarball.WithMediaType(types.OCILayer))
}

// tarDir archives an OCI layout directory, files in name order, every
// timestamp at created (an oci-archive).
func tarDir(dir, out string, created time.Time) error {
	var names []string
	err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		if p != dir {
			names = append(names, p)
		}
		return nil
	})
	if err != nil {
		return err
	}
	sort.Strings(names)
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer f.Close()
	tw := tar.NewWriter(f)
	for _, p := range names {
		fi, err := os.Stat(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		h := &tar.Header{Name: filepath.ToSlash(rel), ModTime: created, Format: tar.FormatPAX, Mode: 0o644, Typeflag: tar.TypeReg, Size: fi.Size()}
		if fi.IsDir() {
			h.Name, h.Mode, h.Typeflag, h.Size = h.Name+"/", 0o755, tar.TypeDir, 0
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if !fi.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			if _, err := tw.Write(b); err != nil {
				return err
			}
		}
	}
	return tw.Close()
}
