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
	opts := pki.NodeOptions{
		NodeName:             m.name,
		Addresses:            []net.IP{ip},
		ControlPlaneEndpoint: c.endpoint(),
		Validity:             v,
		KeyAlgorithm:         c.alg,
		RotateCertificates:   rotateCerts,
		Joined:               !m.init,
	}
	var files pki.Files
	if m.role == controlPlane {
		files, err = pki.ControlPlaneNode(c.cas, opts)
	} else {
		files, err = pki.WorkerNode(c.cas, opts)
	}
	if err != nil {
		return nil, fmt.Errorf("generating the PKI of node %s: %w", m.name, err)
	}
	if m.role == controlPlane {
		files[staticpod.ManifestPath] = pki.File{Data: staticpod.Manifest(ip.String(), c.lab.o.KubernetesVersion), Mode: 0o600}
	}
	if err := os.RemoveAll(n.root); err != nil {
		return nil, err
	}
	if err := files.WriteTo(n.root); err != nil {
		return nil, fmt.Errorf("writing the disk of node %s: %w", m.name, err)
	}

	hostKey, err := ssh.NewSignerFromSigner(c.lab.hostKey(ip))
	if err != nil {
		return nil, err
	}
	n.hostKey = hostKey.PublicKey()
	n.ssh, err = sshd.Start(sshd.Options{
		Address:       net.JoinHostPort(ip.String(), strconv.Itoa(c.lab.o.SSHPort)),
		HostKey:       hostKey,
		User:          c.lab.o.SSHUser,
		AuthorizedKey: c.sshPub,
		Hostname:      m.name,
		Root:          n.root,
		ScratchDir:    filepath.Join(c.lab.o.StateDir, "scratch"),
		PathDirs:      []string{filepath.Dir(c.lab.bins.Kubeadm)},
		Logger:        c.lab.o.Logger.With("node", m.name),
	})
	if err != nil {
		return nil, fmt.Errorf("starting SSH on node %s (%s): %w", m.name, ip, err)
	}

	pkiDir := filepath.Join(n.root, "etc", "kubernetes", "pki")
	kubeletDir := filepath.Join(n.root, "var", "lib", "kubelet", "pki")
	listen := func(port int, src netsim.CertSource) error {
		e, err := netsim.ListenTLS(net.JoinHostPort(ip.String(), strconv.Itoa(port)), src)
		if err != nil {
			return fmt.Errorf("node %s: listening on %s:%d: %w", m.name, ip, port, err)
		}
		n.endpoints = append(n.endpoints, e)
		return nil
	}
	if err := listen(10250, netsim.FileCert(filepath.Join(kubeletDir, "kubelet.crt"), filepath.Join(kubeletDir, "kubelet.key"))); err != nil {
		return nil, err
	}
	if m.role == controlPlane {
		for port, base := range map[int]string{2379: "etcd/server", 2380: "etcd/peer"} {
			if err := listen(port, netsim.FileCert(filepath.Join(pkiDir, base+".crt"), filepath.Join(pkiDir, base+".key"))); err != nil {
				return nil, err
			}
		}
		// The controller manager and scheduler serve self-signed certificates
		// they make in memory at start, as they do without --tls-cert-file.
		for port, component := range map[int]string{10257: "kube-controller-manager", 10259: "kube-scheduler"} {
			cert, err := selfSigned(component, ip, c.lab.now())
			if err != nil {
				return nil, err
			}
			if err := listen(port, netsim.StaticCert(cert)); err != nil {
				return nil, err
			}
		}
		if c.full() {
			n.apiserver = staticpod.New(staticpod.Options{
				NodeName:    m.name,
				Root:        n.root,
				Binary:      c.lab.bins.KubeAPIServer,
				LogDir:      filepath.Join(c.dir, "logs"),
				EtcdServers: c.lab.server.Etcd.Endpoint,
				EtcdPrefix:  "/clusters/" + c.spec.Namespace + "/" + c.spec.Name,
				Address:     ip.String(),
				Logger:      c.lab.o.Logger,
			})
			if err := os.MkdirAll(filepath.Join(c.dir, "logs"), 0o755); err != nil {
				return nil, err
			}
			if err := n.apiserver.SyncOnce(ctx); err != nil {
				return nil, err
			}
			runCtx, cancel := context.WithCancel(context.Background())
			n.cancel = cancel
			n.wg.Add(1)
			go func() {
				defer n.wg.Done()
				n.apiserver.Run(runCtx)
			}()
		} else {
			// Light clusters have no API server; port 6443 still presents
			// the node's serving certificate for TLS-based checks.
			if err := listen(6443, netsim.FileCert(filepath.Join(pkiDir, "apiserver.crt"), filepath.Join(pkiDir, "apiserver.key"))); err != nil {
				return nil, err
			}
		}
	}
	return n, nil
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
