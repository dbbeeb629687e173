package lab

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	"k8s.io/apimachinery/pkg/types"

	"github.com/tkgcert/tkgcert/internal/lab/netsim"
	"github.com/tkgcert/tkgcert/internal/lab/sshd"
	"github.com/tkgcert/tkgcert/internal/lab/staticpod"
	"github.com/tkgcert/tkgcert/internal/pki"
)

// node is one simulated VM: its disk, address and listeners.
type node struct {
	name         string
	role         role
	ip           net.IP
	root         string
	uid          types.UID // of the workload cluster's Node object
	certNotAfter time.Time
	hostKey      ssh.PublicKey

	ssh       *sshd.Server
	endpoints []*netsim.TLSEndpoint
	apiserver *staticpod.Runner
	cancel    context.CancelFunc
	wg        sync.WaitGroup
}

// startNode provisions a machine's node: PKI and kubelet files on its disk,
// its SSH server and TLS endpoints, and on full control-plane nodes the real
// kube-apiserver from its static pod manifest.
func (c *cluster) startNode(ctx context.Context, m *machine, v pki.Validity, rotateCerts bool) (_ *node, err error) {
	c.mu.Lock()
	ip, err := c.nextNodeIP()
	c.mu.Unlock()
	if err != nil {
		return nil, err
	}
	n := &node{name: m.name, role: m.role, ip: ip, root: filepath.Join(c.dir, "nodes", m.name), certNotAfter: v.NotAfter}
	defer func() {
		if err != nil {
			n.stop()
		}
	}()
	if err := c.writeDisk(n, m, v, rotateCerts); err != nil {
		return nil, err
	}
	if err := c.startSSH(n); err != nil {
		return nil, err
	}
	kubeletDir := filepath.Join(n.root, "var", "lib", "kubelet", "pki")
	if err := n.listen(10250, netsim.FileCert(filepath.Join(kubeletDir, "kubelet.crt"), filepath.Join(kubeletDir, "kubelet.key"))); err != nil {
		return nil, err
	}
	if m.role == controlPlane {
		if err := c.startControlPlane(ctx, n); err != nil {
			return nil, err
		}
	}
	return n, nil
}

// writeDisk generates the node's PKI and kubelet files (and on control-plane
// nodes the API server's static pod manifest) and writes them to a fresh disk.
func (c *cluster) writeDisk(n *node, m *machine, v pki.Validity, rotateCerts bool) error {
	opts := pki.NodeOptions{
		NodeName:             m.name,
		Addresses:            []net.IP{n.ip},
		ControlPlaneEndpoint: c.endpoint(),
		Validity:             v,
		KeyAlgorithm:         c.alg,
		RotateCertificates:   rotateCerts,
		Joined:               !m.init,
	}
	var files pki.Files
	var err error
	if m.role == controlPlane {
		files, err = pki.ControlPlaneNode(c.cas, opts)
	} else {
		files, err = pki.WorkerNode(c.cas, opts)
	}
	if err != nil {
		return fmt.Errorf("generating the PKI of node %s: %w", m.name, err)
	}
	if m.role == controlPlane {
		files[staticpod.ManifestPath] = pki.File{Data: staticpod.Manifest(n.ip.String(), c.lab.o.KubernetesVersion), Mode: 0o600}
	}
	if err := os.RemoveAll(n.root); err != nil {
		return err
	}
	if err := files.WriteTo(n.root); err != nil {
		return fmt.Errorf("writing the disk of node %s: %w", m.name, err)
	}
	return nil
}

// startSSH starts the node's SSH server with its host key.
func (c *cluster) startSSH(n *node) error {
	hostKey, err := ssh.NewSignerFromSigner(c.lab.machineHostKey(n.name))
	if err != nil {
		return err
	}
	n.hostKey = hostKey.PublicKey()
	n.ssh, err = sshd.Start(sshd.Options{
		Address:       net.JoinHostPort(n.ip.String(), strconv.Itoa(c.lab.o.SSHPort)),
		HostKey:       hostKey,
		User:          c.lab.o.SSHUser,
		AuthorizedKey: c.sshPub,
		Hostname:      n.name,
		Root:          n.root,
		ScratchDir:    filepath.Join(c.lab.o.StateDir, "scratch"),
		PathDirs:      []string{filepath.Dir(c.lab.bins.Kubeadm)},
		Logger:        c.lab.o.Logger.With("node", n.name),
	})
	if err != nil {
		return fmt.Errorf("starting SSH on node %s (%s): %w", n.name, n.ip, err)
	}
	return nil
}

// listen serves src's certificate on the node's port.
func (n *node) listen(port int, src netsim.CertSource) error {
	e, err := netsim.ListenTLS(net.JoinHostPort(n.ip.String(), strconv.Itoa(port)), src)
	if err != nil {
		return fmt.Errorf("node %s: listening on %s:%d: %w", n.name, n.ip, port, err)
	}
	n.endpoints = append(n.endpoints, e)
	return nil
}

// startControlPlane serves etcd's, the controller manager's and the
// scheduler's certificates, and the API server: the real one on full
// clusters, its certificate alone on light ones.
func (c *cluster) startControlPlane(ctx context.Context, n *node) error {
	pkiDir := filepath.Join(n.root, "etc", "kubernetes", "pki")
	for port, base := range map[int]string{2379: "etcd/server", 2380: "etcd/peer"} {
		if err := n.listen(port, netsim.FileCert(filepath.Join(pkiDir, base+".crt"), filepath.Join(pkiDir, base+".key"))); err != nil {
			return err
		}
	}
	// The controller manager and scheduler serve self-signed certificates
	// they make in memory at start, as they do without --tls-cert-file.
	for port, component := range map[int]string{10257: "kube-controller-manager", 10259: "kube-scheduler"} {
		cert, err := selfSigned(component, n.ip, c.lab.now())
		if err != nil {
			return err
		}
		if err := n.listen(port, netsim.StaticCert(cert)); err != nil {
			return err
		}
	}
	if !c.full() {
		// Light clusters have no API server; port 6443 still presents
		// the node's serving certificate for TLS-based checks.
		return n.listen(6443, netsim.FileCert(filepath.Join(pkiDir, "apiserver.crt"), filepath.Join(pkiDir, "apiserver.key")))
	}
	n.apiserver = staticpod.New(staticpod.Options{
		NodeName:    n.name,
		Root:        n.root,
		Binary:      c.lab.bins.KubeAPIServer,
		LogDir:      filepath.Join(c.dir, "logs"),
		EtcdServers: c.lab.server.Etcd.Endpoint,
		EtcdPrefix:  "/clusters/" + c.spec.Namespace + "/" + c.spec.Name,
		Address:     n.ip.String(),
		Logger:      c.lab.o.Logger,
	})
	if err := os.MkdirAll(filepath.Join(c.dir, "logs"), 0o755); err != nil {
		return err
	}
	if err := n.apiserver.SyncOnce(ctx); err != nil {
		return err
	}
	runCtx, cancel := context.WithCancel(context.Background())
	n.cancel = cancel
	n.wg.Go(func() { n.apiserver.Run(runCtx) })
	return nil
}

// apiServerAddr is where the node's API server listens, when it has one.
func (n *node) apiServerAddr() string { return net.JoinHostPort(n.ip.String(), "6443") }

// stop shuts the node down and removes its disk, as deleting the VM does.
func (n *node) stop() {
	if n.cancel != nil {
		n.cancel()
		n.wg.Wait()
	} else if n.apiserver != nil {
		n.apiserver.Stop()
	}
	if n.ssh != nil {
		_ = n.ssh.Close()
	}
	for _, e := range n.endpoints {
		_ = e.Close()
	}
}

func (n *node) destroy() {
	n.stop()
	_ = os.RemoveAll(n.root)
}

func selfSigned(component string, ip net.IP, now time.Time) (tls.Certificate, error) {
	ts := strconv.FormatInt(now.Unix(), 10)
	ca, err := pki.NewCA("localhost-ca@"+ts, pki.ValidFor(now.Add(-time.Hour), 365*24*time.Hour), pki.ECDSAP256)
	if err != nil {
		return tls.Certificate{}, err
	}
	leaf, err := pki.NewLeaf(ca, pki.LeafSpec{
		CommonName: "localhost@" + ts,
		Usages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:   []string{"localhost"},
		IPs:        []net.IP{net.ParseIP("127.0.0.1"), ip},
	}, pki.ValidFor(now.Add(-time.Hour), 365*24*time.Hour), pki.ECDSAP256)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{leaf.Cert.Raw, ca.Cert.Raw}, PrivateKey: leaf.Key, Leaf: leaf.Cert}, nil
}
