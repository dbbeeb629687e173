package e2e

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

// The image's user, as config/manager's Deployment runs it.
const imageUID = 65532

// imageEpoch stamps the test images (any fixed time would do).
const imageEpoch = "1767225600"

var (
	imageOnce   sync.Once
	imageOut    string
	imageDigest string
	imageErr    error
)

// buildImage runs `make image`'s builder into out and returns the index digest.
func buildImage(out string) (string, error) {
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "run", ".", "-repo", repo, "-out", out, "-version", "e2e", "-revision", "0000000000000000000000000000000000000000")
	cmd.Dir = filepath.Join(repo, "hack", "image")
	cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH="+imageEpoch)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	b, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("building the image: %v\n%s", err, stderr.String())
	}
	return strings.TrimSpace(string(b)), nil
}

// theImage builds the image once for the tests.
func theImage(t *testing.T) (string, string) {
	t.Helper()
	imageOnce.Do(func() {
		imageOut, imageErr = os.MkdirTemp("", "tkgcert-image-")
		if imageErr == nil {
			imageDigest, imageErr = buildImage(imageOut)
		}
	})
	if imageErr != nil {
		t.Fatal(imageErr)
	}
	return filepath.Join(imageOut, "oci"), imageDigest
}

func TestImageReproducible(t *testing.T) {
	layout, first := theImage(t)
	if !strings.HasPrefix(first, "sha256:") {
		t.Fatalf("make image printed %q, not a digest", first)
	}
	out := t.TempDir()
	second, err := buildImage(out)
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Errorf("two builds of one commit: %s and %s", first, second)
	}
	a, _ := os.ReadFile(filepath.Join(layout, "index.json"))
	b, _ := os.ReadFile(filepath.Join(out, "oci", "index.json"))
	if string(a) != string(b) {
		t.Errorf("index.json differs:\n%s\n%s", a, b)
	}
	// The index: both platforms, labels, a non-root user.
	idx := readIndex(t, layout)
	var platforms []string
	for _, m := range idx.Manifests {
		platforms = append(platforms, m.Platform.OS+"/"+m.Platform.Architecture)
		var man ociManifest
		readBlob(t, layout, m.Digest, &man)
		var cfg ociConfig
		readBlob(t, layout, man.Config.Digest, &cfg)
		if cfg.Config.User != "65532:65532" || strings.Join(cfg.Config.Entrypoint, " ") != "/tkgcert" {
			t.Errorf("%s: user %q, entrypoint %v", m.Platform.Architecture, cfg.Config.User, cfg.Config.Entrypoint)
		}
		for _, l := range []string{"org.opencontainers.image.source", "org.opencontainers.image.revision", "org.opencontainers.image.version"} {
			if cfg.Config.Labels[l] == "" {
				t.Errorf("%s: no label %s", m.Platform.Architecture, l)
			}
		}
	}
	if strings.Join(platforms, ",") != "linux/amd64,linux/arm64" {
		t.Errorf("platforms %v", platforms)
	}
	if fi, err := os.Stat(filepath.Join(out, "tkgcert.oci.tar")); err != nil || fi.Size() == 0 {
		t.Errorf("no oci-archive: %v", err)
	}
}

type ociDescriptor struct {
	MediaType string `json:"mediaType"`
	Digest    string `json:"digest"`
	Platform  *struct {
		OS           string `json:"os"`
		Architecture string `json:"architecture"`
	} `json:"platform"`
}

type ociIndex struct {
	Manifests []ociDescriptor `json:"manifests"`
}

type ociManifest struct {
	Config ociDescriptor   `json:"config"`
	Layers []ociDescriptor `json:"layers"`
}

type ociConfig struct {
	Config struct {
		User       string            `json:"User"`
		Entrypoint []string          `json:"Entrypoint"`
		Env        []string          `json:"Env"`
		Labels     map[string]string `json:"Labels"`
	} `json:"config"`
}

func blobPath(layout, digest string) string {
	alg, hex, _ := strings.Cut(digest, ":")
	return filepath.Join(layout, "blobs", alg, hex)
}

func readBlob(t *testing.T, layout, digest string, v any) {
	t.Helper()
	b, err := os.ReadFile(blobPath(layout, digest))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatal(err)
	}
}

// readIndex is the image index the layout's index.json points at.
func readIndex(t *testing.T, layout string) ociIndex {
	t.Helper()
	var top ociIndex
	b, err := os.ReadFile(filepath.Join(layout, "index.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &top); err != nil || len(top.Manifests) != 1 {
		t.Fatalf("index.json: %v %s", err, b)
	}
	var idx ociIndex
	readBlob(t, layout, top.Manifests[0].Digest, &idx)
	return idx
}

// unpackImage extracts the layers of this machine's platform into a new
// root filesystem, owners and modes as in the image, and returns it with
// the image's environment.
func unpackImage(t *testing.T, layout string) (string, []string) {
	t.Helper()
	root := t.TempDir()
	if err := os.Chmod(root, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, m := range readIndex(t, layout).Manifests {
		if m.Platform.Architecture != runtime.GOARCH {
			continue
		}
		var man ociManifest
		readBlob(t, layout, m.Digest, &man)
		var cfg ociConfig
		readBlob(t, layout, man.Config.Digest, &cfg)
		for _, l := range man.Layers {
			extractLayer(t, blobPath(layout, l.Digest), root)
		}
		return root, cfg.Config.Env
	}
	t.Fatalf("the image has no linux/%s", runtime.GOARCH)
	return "", nil
}

func extractLayer(t *testing.T, file, root string) {
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
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(root, filepath.Clean("/"+h.Name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
		case tar.TypeReg:
			w, err := os.OpenFile(p, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(w, tr); err != nil {
				t.Fatal(err)
			}
			w.Close()
		default:
			t.Fatalf("unexpected entry %s in a layer", h.Name)
		}
		if err := os.Chmod(p, os.FileMode(h.Mode).Perm()|os.FileMode(h.Mode)&os.ModeSticky|modeBits(h.Mode)); err != nil {
			t.Fatal(err)
		}
		if err := os.Lchown(p, h.Uid, h.Gid); err != nil {
			t.Fatal(err)
		}
	}
}

func modeBits(m int64) os.FileMode {
	if m&0o1000 != 0 {
		return os.ModeSticky
	}
	return 0
}

// podController runs tkgcert from the image's root filesystem as a pod
// would: chrooted, as uid 65532, with the service account's token, CA and
// namespace at /var/run/secrets/kubernetes.io/serviceaccount and
// KUBERNETES_SERVICE_HOST and _PORT set; args are the Deployment's, then
// extra (later flags win).
func podController(t *testing.T, lab *labProcess, sh *shell, layout, ns, sa string, extra ...string) *controllerProcess {
	t.Helper()
	root, env := unpackImage(t, layout)
	cfg, err := clientcmd.LoadFromFile(lab.kubeconfig())
	if err != nil {
		t.Fatal(err)
	}
	cluster := cfg.Clusters[cfg.Contexts[cfg.CurrentContext].Cluster]
	u, err := url.Parse(cluster.Server)
	if err != nil {
		t.Fatal(err)
	}
	ca := cluster.CertificateAuthorityData
	if len(ca) == 0 {
		if ca, err = os.ReadFile(cluster.CertificateAuthority); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(root, "var/run/secrets/kubernetes.io/serviceaccount")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	token := sh.run(fmt.Sprintf(`kubectl create token %s -n %s --duration 2h`, sa, ns))
	for name, data := range map[string]string{"token": strings.TrimSpace(token), "ca.crt": string(ca), "namespace": ns} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var args []string
	raw := sh.run(fmt.Sprintf(`kubectl get deployment -n %s tkgcert-controller -o jsonpath='{.spec.template.spec.containers[0].args}'`, ns))
	if err := json.Unmarshal([]byte(raw), &args); err != nil {
		t.Fatalf("the Deployment's args %q: %v", raw, err)
	}
	p := &controllerProcess{t: t, logFile: filepath.Join(t.TempDir(), "controller.log"), metrics: freePort(t), done: make(chan error, 1),
		token: scraperToken(t, sh, ns)}
	args = append(args, "--metrics-bind-address="+p.metrics, "--health-probe-bind-address=0", "-v=2")
	args = append(args, extra...)
	log, err := os.Create(p.logFile)
	if err != nil {
		t.Fatal(err)
	}
	p.cmd = exec.Command("/tkgcert", args...)
	p.cmd.Dir = "/"
	p.cmd.Env = append(env, "KUBERNETES_SERVICE_HOST="+u.Hostname(), "KUBERNETES_SERVICE_PORT="+u.Port())
	p.cmd.Stdout, p.cmd.Stderr = log, log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Chroot: root, Credential: &syscall.Credential{Uid: imageUID, Gid: imageUID}, Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait(); log.Close() }()
	t.Cleanup(func() { p.kill() })
	// It runs as the image's user, not root.
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err == nil && !strings.Contains(string(status), fmt.Sprintf("\nUid:\t%d\t%d", imageUID, imageUID)) {
		t.Errorf("the controller does not run as uid %d:\n%s", imageUID, status)
	}
	return p
}

// scraperToken is a token of a scraper as config/manager's
// metrics_reader_role.yaml says to make one: a service account in ns bound
// to tkgcert-metrics-reader (both made once).
func scraperToken(t *testing.T, sh *shell, ns string) string {
	t.Helper()
	sh.run(fmt.Sprintf(`kubectl get serviceaccount -n %[1]s metrics-scraper >/dev/null 2>&1 || { kubectl create serviceaccount -n %[1]s metrics-scraper && `+
		`kubectl create clusterrolebinding metrics-scraper --clusterrole tkgcert-metrics-reader --serviceaccount %[1]s:metrics-scraper; } >/dev/null`, ns))
	return strings.TrimSpace(sh.run(fmt.Sprintf(`kubectl create token -n %s metrics-scraper --duration 2h`, ns)))
}

func TestControllerFromImage(t *testing.T) {
	layout, _ := theImage(t)
	lab := startLab(t, "--address-block", "90", "--provision-delay", "1s",
		"--cluster", "c/healthy", "--cluster", "c/expiring:expiring")
	sh := newShell(t, "KUBECONFIG="+lab.kubeconfig())
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	installMonitoringCRDs(t, sh)
	sh.run(fmt.Sprintf(`kubectl apply -k %s/config/default >/dev/null`, repo))
	kcp := kcpSpec(sh, "c", "expiring")

	t.Run("one rule removed: the refusal is named, the rest goes on", func(t *testing.T) {
		// Without patch on KubeadmControlPlanes no rollout can start.
		sh.run(`kubectl patch clusterrole tkgcert-controller --type json -p '[{"op":"replace","path":"/rules/2/verbs","value":["get","list","watch"]}]' >/dev/null`)
		if out, _ := sh.try(`kubectl auth can-i patch kubeadmcontrolplanes.controlplane.cluster.x-k8s.io -n c --as ` + controllerSA); strings.TrimSpace(out) != "no" {
			t.Fatalf("the rule is still there: %q", out)
		}
		p := podController(t, lab, sh, layout, "tkgcert-system", "tkgcert-controller", "--resync=3s", "--follow-resync=2s")
		// Rotate's preflight asks before it patches, and says what is missing.
		p.waitLog(`you may not patch kubeadmcontrolplanes in namespace c`, 1)
		p.waitLog("Every cluster inventoried", 1)
		n := strings.Count(p.log(), `"Cluster inventoried" logger="controller" cluster="c/healthy"`)
		p.waitLog(`"Cluster inventoried" logger="controller" cluster="c/healthy"`, n+2)
		if s := statusOf(sh, "c", "expiring"); !strings.HasPrefix(s, "RotationBlocked: ") || !strings.Contains(s, "patch") {
			t.Errorf("status of expiring: %q, want RotationBlocked naming the patch", s)
		}
		if v := p.mustMetric("tkgcert_cluster_state", "cluster", "expiring", "state", "RotationBlocked"); v != 1 {
			t.Errorf("tkgcert_cluster_state{expiring,RotationBlocked} = %v", v)
		}
		// A request refused outright (403) is named and counted: config/rbac
		// grants no cluster-wide list of secrets, which the Supervisor
		// inventory tries (to attribute CAs) and does without.
		if !strings.Contains(p.log(), `"Refused by the API server (403); carrying on without it" err="forbidden: cannot list secrets cluster-wide"`) {
			t.Errorf("the refused list of secrets is not logged:\n%s", p.log())
		}
		if v := p.mustMetric("tkgcert_api_forbidden_total", "resource", "secrets", "verb", "list", "namespace", ""); v < 1 {
			t.Errorf("tkgcert_api_forbidden_total for the list of secrets: %v", v)
		}
		if s := statusOf(sh, "c", "healthy"); !strings.HasPrefix(s, "Healthy: ") {
			t.Errorf("status of healthy: %q", s)
		}
		if got := kcpSpec(sh, "c", "expiring"); got != kcp {
			t.Errorf("the KubeadmControlPlane of expiring changed without the right: %q -> %q", kcp, got)
		}
		p.stop()
	})

	t.Run("with config/rbac as it is, it inventories and rotates", func(t *testing.T) {
		sh.run(fmt.Sprintf(`kubectl apply -k %s/config/default >/dev/null`, repo))
		p := podController(t, lab, sh, layout, "tkgcert-system", "tkgcert-controller", "--resync=3s", "--follow-resync=2s")
		p.waitLog(`"Rotation succeeded" logger="controller" cluster="c/expiring"`, 1)
		p.waitLog("Every cluster inventoried", 1)
		if s := statusOf(sh, "c", "healthy"); !strings.HasPrefix(s, "Healthy: ") {
			t.Errorf("status of healthy: %q", s)
		}
		if got := kcpSpec(sh, "c", "expiring"); got == kcp {
			t.Errorf("the KubeadmControlPlane of expiring did not change: %q", got)
		}
		if v := p.mustMetric("tkgcert_rotations_succeeded_total", "cluster", "expiring"); v != 1 {
			t.Errorf("rotations succeeded for expiring: %v", v)
		}
		// The host keys it recorded are kept in the Secret, by machine.
		kh := sh.run(`kubectl get secret -n tkgcert-system tkgcert-known-hosts -o jsonpath='{.data.known_hosts}' | base64 -d`)
		if strings.Count(kh, "tkgcert/c/healthy/") < 1 || strings.Count(kh, "tkgcert/c/expiring/") < 1 {
			t.Errorf("the Secret tkgcert-known-hosts holds %d lines, none for c/healthy or c/expiring", strings.Count(kh, "\n"))
		}
		// Nothing refused but the cluster-wide list of secrets (above).
		for _, l := range strings.Split(p.log(), "\n") {
			if strings.Contains(l, "Refused by the API server") && !strings.Contains(l, "cannot list secrets cluster-wide") {
				t.Errorf("the controller was refused: %s", l)
			}
		}
		p.stop()
	})

	t.Run("its /metrics answers only allowed callers", func(t *testing.T) {
		p := podController(t, lab, sh, layout, "tkgcert-system", "tkgcert-controller", "--resync=1h")
		p.waitLog("Every cluster inventoried", 1)
		other, err := sh.try(`kubectl create serviceaccount -n tkgcert-system nobody >/dev/null && kubectl create token -n tkgcert-system nobody --duration 1h`)
		if err != nil {
			t.Fatalf("a token of an account without rights: %v: %s", err, other)
		}
		other = strings.TrimSpace(other)
		if v := p.mustMetric("tkgcert_clusters"); v != 2 {
			t.Errorf("tkgcert_clusters = %v, want 2", v)
		}
		// No token: not authenticated.
		if code, body, err := p.get(""); err != nil || code != http.StatusUnauthorized {
			t.Errorf("/metrics without a token: HTTP %d, %v: %s", code, err, body)
		}
		// A valid token of an account not allowed get on /metrics.
		if code, body, err := p.get(other); err != nil || code != http.StatusForbidden || !strings.Contains(body, "system:serviceaccount:tkgcert-system:nobody") {
			t.Errorf("/metrics with the default account's token: HTTP %d, %v: %s", code, err, body)
		}
		// A token whose signature does not verify. The API server's
		// TokenReview answers with an error, which controller-runtime's
		// filter turns into a 500: refused all the same.
		if code, body, err := p.get(p.token[:len(p.token)-4] + "AAAA"); err != nil || code == http.StatusOK || strings.Contains(body, "tkgcert_") {
			t.Errorf("/metrics with a forged token: HTTP %d, %v: %s", code, err, body)
		}
		p.stop()
	})

	t.Run("config/policy holds its account to the rollout field and tkgcert.io annotations", func(t *testing.T) {
		as := " --dry-run=server --as " + controllerSA
		denied := []struct{ what, cmd, msg string }{
			{"a KubeadmControlPlane's replicas",
				`kubectl patch kcp -n c expiring-control-plane --type merge -p '{"spec":{"replicas":5}}'`,
				"tkgcert-controller may change only spec.rolloutAfter or spec.rollout.after of KubeadmControlPlane c/expiring-control-plane, not spec.replicas"},
			{"a KubeadmControlPlane's version",
				`kubectl patch kcp -n c healthy-control-plane --type merge -p '{"spec":{"version":"v1.99.0"}}'`,
				"not spec.version"},
			{"a Cluster's pause",
				`kubectl patch cluster -n c healthy --type merge -p '{"spec":{"paused":true}}'`,
				"of Cluster c/healthy, not spec.paused"},
			{"an annotation outside tkgcert.io",
				`kubectl annotate cluster -n c healthy example.com/owner=someone`,
				"may change only tkgcert.io/ annotations of Cluster c/healthy, not example.com/owner"},
			{"a label",
				`kubectl label cluster -n c healthy tier=gold`,
				"may not change the labels, finalizers or owner references of Cluster c/healthy"},
		}
		for _, d := range denied {
			out, err := sh.try(d.cmd + as)
			if err == nil || !strings.Contains(out, d.msg) || !strings.Contains(out, "tkgcert-controller-changes") {
				t.Errorf("%s, patched by the controller's account: err %v, output %q; want a denial by tkgcert-controller-changes saying %q", d.what, err, out, d.msg)
			}
			// The policy binds the controller's account only.
			if out, err := sh.try(d.cmd + " --dry-run=server"); err != nil {
				t.Errorf("%s, patched by an administrator: %v: %s", d.what, err, out)
			}
		}
		// What the controller does is allowed (the subtest above rotated
		// through it too).
		rollout := `{"spec":{"rollout":{"after":"2099-01-01T00:00:00Z"}}}`
		if v := sh.run(`kubectl get kcp -n c healthy-control-plane -o jsonpath='{.apiVersion}'`); strings.HasSuffix(v, "/v1beta1") {
			rollout = `{"spec":{"rolloutAfter":"2099-01-01T00:00:00Z"}}`
		}
		for _, cmd := range []string{
			`kubectl annotate cluster -n c healthy tkgcert.io/note=x`,
			`kubectl patch kcp -n c healthy-control-plane --type merge -p '` + rollout + `'`,
		} {
			if out, err := sh.try(cmd + as); err != nil {
				t.Errorf("%s, by the controller's account: %v: %s", cmd, err, out)
			}
		}
	})
}
