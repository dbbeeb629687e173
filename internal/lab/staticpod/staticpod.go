package staticpod

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/tkgcert/tkgcert/internal/kubeserver"
)

// ManifestPath is where kubeadm writes the API server's static pod manifest,
// relative to the node root.
const ManifestPath = "etc/kubernetes/manifests/kube-apiserver.yaml"

// Options configures the API server runner of one node.
type Options struct {
	// NodeName names the node in logs and errors.
	NodeName string
	// Root is the node's root directory (holding etc/kubernetes).
	Root string
	// Binary is the kube-apiserver binary.
	Binary string
	// LogDir receives the API server's log.
	LogDir string
	// EtcdServers replaces the manifest's --etcd-servers.
	EtcdServers string
	// EtcdPrefix keeps the cluster's data apart in the shared etcd.
	EtcdPrefix string
	// Address is the node's address: the URL probed for readiness and the
	// bind address (kubeadm binds all interfaces; nodes here share a host).
	Address string
	// PollInterval is how often the manifest is checked (default 250ms).
	PollInterval time.Duration
	// Logger receives start/stop events (nil: discard).
	Logger *slog.Logger
}

// Runner keeps the API server in line with the manifest on disk.
type Runner struct {
	o       Options
	mu      sync.Mutex
	server  *kubeserver.APIServer
	hash    [32]byte
	lastErr error
	changed chan struct{}
}

// New returns a runner; call Run to start it.
func New(o Options) *Runner {
	if o.PollInterval == 0 {
		o.PollInterval = 250 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Runner{o: o, changed: make(chan struct{})}
}

// Run syncs until ctx ends, then stops the API server.
func (r *Runner) Run(ctx context.Context) {
	t := time.NewTicker(r.o.PollInterval)
	defer t.Stop()
	for {
		r.sync(ctx)
		select {
		case <-ctx.Done():
			r.stop()
			return
		case <-t.C:
		}
	}
}

// SyncOnce brings the API server in line with the manifest now and returns
// the start error, if any. Run calls it on every tick.
func (r *Runner) SyncOnce(ctx context.Context) error {
	r.sync(ctx)
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr
}

// Running reports whether the API server is up, and its URL.
func (r *Runner) Running() (string, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.server == nil || r.server.Exited() {
		return "", false
	}
	return r.server.URL, true
}

// LastError is the last start failure (nil after a successful start).
func (r *Runner) LastError() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.lastErr
}

func (r *Runner) sync(ctx context.Context) {
	data, err := os.ReadFile(filepath.Join(r.o.Root, ManifestPath))
	r.mu.Lock()
	running := r.server != nil && !r.server.Exited()
	same := running && err == nil && sha256.Sum256(data) == r.hash
	r.mu.Unlock()
	switch {
	case errors.Is(err, os.ErrNotExist):
		if running {
			r.o.Logger.Info("Manifest removed, stopping kube-apiserver", "node", r.o.NodeName)
			r.stop()
		}
		return
	case err != nil:
		r.setErr(fmt.Errorf("reading %s on node %s: %w", ManifestPath, r.o.NodeName, err))
		return
	case same:
		return
	}
	if running {
		r.o.Logger.Info("Manifest changed, restarting kube-apiserver", "node", r.o.NodeName)
		r.stop()
	}
	args, err := r.args(data)
	if err != nil {
		r.setErr(err)
		r.mu.Lock()
		r.hash = sha256.Sum256(data) // do not retry a bad manifest until it changes
		r.mu.Unlock()
		return
	}
	r.o.Logger.Info("Starting kube-apiserver", "node", r.o.NodeName, "address", r.o.Address)
	s, err := kubeserver.StartAPIServerProcess(ctx, kubeserver.ProcessOptions{
		Name:   "kube-apiserver-" + r.o.NodeName,
		Binary: r.o.Binary,
		Dir:    r.o.LogDir,
		Args:   args,
		URL:    "https://" + r.o.Address + ":6443",
	})
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hash = sha256.Sum256(data)
	if err != nil {
		r.lastErr = fmt.Errorf("kube-apiserver on node %s: %w", r.o.NodeName, err)
		r.o.Logger.Info("kube-apiserver failed to start", "node", r.o.NodeName, "err", err)
		return
	}
	r.server, r.lastErr = s, nil
}

func (r *Runner) setErr(err error) {
	r.mu.Lock()
	r.lastErr = err
	r.mu.Unlock()
}

func (r *Runner) stop() {
	r.mu.Lock()
	s := r.server
	r.server = nil
	r.hash = [32]byte{}
	r.mu.Unlock()
	if s != nil {
		s.Stop()
	}
}

// Stop stops the API server (Run's context ending does the same).
func (r *Runner) Stop() { r.stop() }

// args maps the manifest's command line to this host.
func (r *Runner) args(manifest []byte) ([]string, error) {
	var pod corev1.Pod
	if err := yaml.Unmarshal(manifest, &pod); err != nil {
		return nil, fmt.Errorf("parsing %s on node %s: %w", ManifestPath, r.o.NodeName, err)
	}
	if len(pod.Spec.Containers) == 0 || len(pod.Spec.Containers[0].Command) == 0 {
		return nil, fmt.Errorf("%s on node %s has no container command", ManifestPath, r.o.NodeName)
	}
	cmd := append(append([]string(nil), pod.Spec.Containers[0].Command...), pod.Spec.Containers[0].Args...)
	if filepath.Base(cmd[0]) != "kube-apiserver" {
		return nil, fmt.Errorf("%s on node %s runs %q, not kube-apiserver", ManifestPath, r.o.NodeName, cmd[0])
	}
	etcRoot := filepath.Join(r.o.Root, "etc", "kubernetes")
	var out []string
	hasBind := false
	for _, a := range cmd[1:] {
		name, value, _ := strings.Cut(a, "=")
		switch name {
		case "--etcd-servers":
			value = r.o.EtcdServers
		case "--etcd-cafile", "--etcd-certfile", "--etcd-keyfile", "--etcd-prefix":
			continue
		case "--bind-address":
			hasBind = true
		}
		value = strings.ReplaceAll(value, "/etc/kubernetes", etcRoot)
		if value == "" && !strings.Contains(a, "=") {
			out = append(out, name)
			continue
		}
		out = append(out, name+"="+value)
	}
	if !hasBind {
		out = append(out, "--bind-address="+r.o.Address)
	}
	out = append(out,
		"--etcd-prefix="+r.o.EtcdPrefix,
		// Loopback node addresses are not valid Endpoints (see package kubeserver).
		"--endpoint-reconciler-type=none",
	)
	return out, nil
}

// Manifest renders a kube-apiserver static pod manifest with the flags
// kubeadm v1.36 writes for a node advertising address.
func Manifest(address, kubernetesVersion string) []byte {
	flags := []string{
		"--advertise-address=" + address,
		"--allow-privileged=true",
		"--authorization-mode=Node,RBAC",
		"--client-ca-file=/etc/kubernetes/pki/ca.crt",
		"--enable-admission-plugins=NodeRestriction",
		"--enable-bootstrap-token-auth=true",
		"--etcd-cafile=/etc/kubernetes/pki/etcd/ca.crt",
		"--etcd-certfile=/etc/kubernetes/pki/apiserver-etcd-client.crt",
		"--etcd-keyfile=/etc/kubernetes/pki/apiserver-etcd-client.key",
		"--etcd-servers=https://127.0.0.1:2379",
		"--kubelet-client-certificate=/etc/kubernetes/pki/apiserver-kubelet-client.crt",
		"--kubelet-client-key=/etc/kubernetes/pki/apiserver-kubelet-client.key",
		"--kubelet-preferred-address-types=InternalIP,ExternalIP,Hostname",
		"--proxy-client-cert-file=/etc/kubernetes/pki/front-proxy-client.crt",
		"--proxy-client-key-file=/etc/kubernetes/pki/front-proxy-client.key",
		"--requestheader-allowed-names=front-proxy-client",
		"--requestheader-client-ca-file=/etc/kubernetes/pki/front-proxy-ca.crt",
		"--requestheader-extra-headers-prefix=X-Remote-Extra-",
		"--requestheader-group-headers=X-Remote-Group",
		"--requestheader-username-headers=X-Remote-User",
		"--secure-port=6443",
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=/etc/kubernetes/pki/sa.pub",
		"--service-account-signing-key-file=/etc/kubernetes/pki/sa.key",
		"--service-cluster-ip-range=10.96.0.0/12",
		"--tls-cert-file=/etc/kubernetes/pki/apiserver.crt",
		"--tls-private-key-file=/etc/kubernetes/pki/apiserver.key",
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, `apiVersion: v1
kind: Pod
metadata:
  annotations:
    kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint: %s:6443
  labels:
    component: kube-apiserver
    tier: control-plane
  name: kube-apiserver
  namespace: kube-system
spec:
  containers:
  - command:
    - kube-apiserver
`, address)
	for _, f := range flags {
		fmt.Fprintf(&b, "    - %s\n", f)
	}
	fmt.Fprintf(&b, `    image: projects.registry.vmware.com/tkg/kube-apiserver:%s
    name: kube-apiserver
    volumeMounts:
    - mountPath: /etc/kubernetes/pki
      name: k8s-certs
      readOnly: true
  hostNetwork: true
  priorityClassName: system-node-critical
  volumes:
  - hostPath:
      path: /etc/kubernetes/pki
      type: DirectoryOrCreate
    name: k8s-certs
`, strings.ReplaceAll(kubernetesVersion, "+", "_"))
	return b.Bytes()
}
