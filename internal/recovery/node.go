package recovery

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/pki"
	"github.com/tkgcert/tkgcert/internal/remote"
	"github.com/tkgcert/tkgcert/internal/source"
)

// Steps of a node's recovery, as errors and --inject-fault name them.
const (
	StepRead      = "read"
	StepBackup    = "backup"
	StepRenew     = "renew"
	StepRestart   = "restart"
	StepAPIServer = "apiserver"
	StepKubelet   = "kubelet"
)

// Steps lists the steps in order.
var Steps = []string{StepRead, StepBackup, StepRenew, StepRestart, StepAPIServer, StepKubelet}

// remoteCommand runs the scripts as root.
const remoteCommand = "sudo sh -s"

// caFiles are the CA certificates on a control-plane node by kubeadm name.
var caFiles = map[string]string{
	certs.CAName:           "etc/kubernetes/pki/ca.crt",
	certs.EtcdCAName:       "etc/kubernetes/pki/etcd/ca.crt",
	certs.FrontProxyCAName: "etc/kubernetes/pki/front-proxy-ca.crt",
}

// nodeRun is the recovery of one node.
type nodeRun struct {
	r      *run
	plan   NodePlan
	client *remote.Client
	res    *NodeResult

	files   []fileWrite
	edits   []kubeconfigEdit
	kubelet *kubeletWrite
	// apiserver certificates: the one on disk before and the renewed one.
	oldAPIServer, newAPIServer *x509.Certificate
	backup                     string
	// stopped records that the static pods were stopped by this run.
	stopped bool
}

// exec runs a script on the node and returns its trimmed stdout.
func (n *nodeRun) exec(ctx context.Context, script string) (string, error) {
	out, stderr, code, err := n.client.Run(ctx, remoteCommand, []byte(script))
	if err != nil {
		return "", err
	}
	if code != 0 {
		msg := strings.TrimSpace(string(stderr))
		if msg == "" {
			msg = "no message"
		}
		return "", fmt.Errorf("exit status %d: %s", code, msg)
	}
	return strings.TrimSpace(string(out)), nil
}

// prepare reads the node's certificates and signs their renewals in memory.
func (n *nodeRun) prepare(ctx context.Context) error {
	fsys, err := source.NodeFiles(ctx, n.client, source.Node{Name: n.plan.Name, Address: n.plan.Address, HostKeyAlias: n.plan.HostKeyAlias, ControlPlane: n.plan.ControlPlane()})
	if err != nil {
		return err
	}
	now := n.r.now()
	if n.plan.ControlPlane() {
		for name, path := range caFiles {
			f, ok := fsys[path]
			if !ok {
				continue
			}
			c, err := pki.ParseCertPEM(f.Data)
			if err != nil {
				return fmt.Errorf("/%s: %w", path, err)
			}
			if ca := n.r.cas[name]; ca == nil || !bytes.Equal(c.Raw, ca.Cert.Raw) {
				return fmt.Errorf("/%s is not the CA in the Supervisor's secrets: not signing for this node", path)
			}
		}
	}
	if n.plan.RenewPKI {
		for _, spec := range certs.CertificateSpecs() {
			path := spec.CertPath("")
			f, ok := fsys[path]
			if !ok {
				continue // absent (super-admin.conf on joined nodes)
			}
			ca := n.r.cas[spec.CAName]
			if spec.Kubeconfig {
				if err := n.addKubeconfig(path, f.Data, ca, now); err != nil {
					return err
				}
				continue
			}
			old, err := pki.ParseCertPEM(f.Data)
			if err != nil {
				return fmt.Errorf("/%s: %w", path, err)
			}
			renewed, err := Renew(old, ca, now)
			if err != nil {
				return fmt.Errorf("/%s: %w", path, err)
			}
			n.files = append(n.files, fileWrite{path: "/" + path, data: pki.EncodeCertPEM(renewed)})
			n.res.Renewed = append(n.res.Renewed, spec.Name)
			if spec.Name == "apiserver" {
				n.oldAPIServer, n.newAPIServer = old, renewed
			}
		}
	}
	if n.plan.RenewKubelet {
		if f, ok := fsys["etc/kubernetes/kubelet.conf"]; ok {
			if _, _, embedded, err := kubeconfigClient(f.Data); err == nil && embedded {
				// An old-style kubelet.conf with the certificate inside.
				if err := n.addKubeconfig("etc/kubernetes/kubelet.conf", f.Data, n.r.cas[certs.CAName], now); err != nil {
					return err
				}
				return nil
			}
		}
		f, ok := fsys["var/lib/kubelet/pki/kubelet-client-current.pem"]
		if !ok {
			return fmt.Errorf("%s not found", kubeletClient)
		}
		old, err := pki.ParseCertPEM(f.Data)
		if err != nil {
			return fmt.Errorf("%s: %w", kubeletClient, err)
		}
		renewed, err := Renew(old, n.r.cas[certs.CAName], now)
		if err != nil {
			return fmt.Errorf("%s: %w", kubeletClient, err)
		}
		n.kubelet = &kubeletWrite{
			name:    "kubelet-client-" + renewed.NotBefore.Format("2006-01-02-15-04-05") + ".pem",
			certPEM: pki.EncodeCertPEM(renewed),
		}
		n.res.Renewed = append(n.res.Renewed, "kubelet-client")
	}
	return nil
}

// addKubeconfig renews the embedded client certificate of a kubeconfig.
func (n *nodeRun) addKubeconfig(path string, data []byte, ca *pki.KeyPair, now time.Time) error {
	old, literal, ok, err := kubeconfigClient(data)
	if err != nil {
		return fmt.Errorf("/%s: %w", path, err)
	}
	if !ok {
		return nil
	}
	renewed, err := Renew(old, ca, now)
	if err != nil {
		return fmt.Errorf("/%s: %w", path, err)
	}
	n.edits = append(n.edits, kubeconfigEdit{path: "/" + path, old: literal, new: base64.StdEncoding.EncodeToString(pki.EncodeCertPEM(renewed))})
	n.res.Renewed = append(n.res.Renewed, strings.TrimPrefix(path, "etc/kubernetes/"))
	return nil
}

// doBackup copies the node's /etc/kubernetes and kubelet certificates.
func (n *nodeRun) doBackup(ctx context.Context) error {
	dir := BackupPrefix + n.r.started.UTC().Format("20060102T150405Z")
	out, err := n.exec(ctx, backupScript(dir))
	if err != nil {
		return err
	}
	if out != dir {
		return fmt.Errorf("the backup script printed %q, not the backup directory", out)
	}
	n.backup = dir
	n.res.Backup = dir
	return nil
}

func (n *nodeRun) doRenew(ctx context.Context) error {
	if len(n.files) == 0 && len(n.edits) == 0 && n.kubelet == nil {
		return nil
	}
	_, err := n.exec(ctx, renewScript(n.files, n.edits, n.kubelet))
	return err
}

// doRestart stops the static pods by moving their manifests out, waits
// until the node's API server has gone, and moves them back.
func (n *nodeRun) doRestart(ctx context.Context) error {
	if err := n.stopPods(ctx); err != nil {
		return err
	}
	_, err := n.exec(ctx, startScript(n.r.o.Fault.is(n.plan.Name, StepAPIServer)))
	if err == nil {
		n.stopped = false
	}
	return err
}

// stopPods moves the manifests out and waits until the API server's port
// closes: the kubelet (which checks its manifest directory every 20s by
// default) has then stopped every static pod of the directory.
func (n *nodeRun) stopPods(ctx context.Context) error {
	out, err := n.exec(ctx, stopScript)
	if err != nil {
		return err
	}
	n.stopped = true
	if out == "0" {
		return nil
	}
	addr := net.JoinHostPort(n.plan.Address, "6443")
	return poll(ctx, 200*time.Millisecond, n.r.o.StaticPodWait, func(context.Context) (bool, error) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			return true, nil
		}
		c.Close()
		return false, nil
	}, func() error {
		return fmt.Errorf("the API server on %s still answers %s after its manifest was moved out: is the kubelet running?", addr, n.r.o.StaticPodWait)
	})
}

// waitAPIServer waits until the node's API server presents want and, with
// answer, answers an authenticated request (GET /livez/ping) over a
// connection verified against the cluster CA. A restored node serves its
// old, expired certificate again, which no verifying client accepts: the
// certificate alone shows it is back as it was.
//
// The per-node check does not need etcd: with stacked etcd whose peer
// certificates expired, the first renewed node's etcd cannot rejoin its
// peers (they still present expired certificates) until a second node is
// renewed. Reads that need etcd are checked after the last control-plane
// node (waitReads).
func (n *nodeRun) waitAPIServer(ctx context.Context, want *x509.Certificate, answer bool, timeout time.Duration) error {
	addr := net.JoinHostPort(n.plan.Address, "6443")
	cs, err := n.r.nodeClient(n.plan.Address)
	if err != nil {
		return err
	}
	last := "nothing answered"
	return poll(ctx, 500*time.Millisecond, timeout, func(ctx context.Context) (bool, error) {
		serial, err := servingSerial(ctx, addr)
		switch {
		case err != nil:
			last = err.Error()
		case want != nil && serial != want.SerialNumber.String():
			last = fmt.Sprintf("it serves certificate serial %s, not %s", serial, want.SerialNumber)
		case !answer:
			return true, nil
		default:
			_, err := cs.Discovery().RESTClient().Get().AbsPath("/livez/ping").DoRaw(ctx)
			if err == nil {
				return true, nil
			}
			last = "it serves the certificate but does not answer: " + err.Error()
		}
		return false, nil
	}, func() error {
		return fmt.Errorf("the API server on %s did not come back within %s (%s)", addr, timeout, last)
	})
}

// poll calls done at once and then every interval until it reports true.
// After timeout it returns timedOut's error; when ctx ends, ctx's error.
func poll(ctx context.Context, interval, timeout time.Duration, done wait.ConditionWithContextFunc, timedOut func() error) error {
	err := wait.PollUntilContextTimeout(ctx, interval, timeout, true, done)
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	case wait.Interrupted(err):
		return timedOut()
	}
	return err
}

// servingSerial reads the serial of the certificate served at addr.
func servingSerial(ctx context.Context, addr string) (string, error) {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: 3 * time.Second}, Config: &tls.Config{InsecureSkipVerify: true}} //nolint:gosec // only the certificate is read
	dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	c, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return "", err
	}
	defer c.Close()
	peer := c.(*tls.Conn).ConnectionState().PeerCertificates
	if len(peer) == 0 {
		return "", errors.New("no certificate presented")
	}
	return peer[0].SerialNumber.String(), nil
}

func (n *nodeRun) doKubelet(ctx context.Context) error {
	out, err := n.exec(ctx, kubeletRestartScript)
	if err != nil {
		return err
	}
	n.res.Kubelet = out
	return nil
}

// restore puts the node's backup back and, on a control-plane node whose
// static pods were or may have been restarted, restarts them again and
// waits for the API server to serve its old certificate.
func (n *nodeRun) restore(ctx context.Context, restartedPods bool) error {
	if restartedPods && !n.stopped {
		if err := n.stopPods(ctx); err != nil {
			return fmt.Errorf("stopping the static pods: %w", err)
		}
	}
	if _, err := n.exec(ctx, restoreScript(n.backup)); err != nil {
		return err
	}
	n.stopped = false
	if restartedPods && n.oldAPIServer != nil {
		if err := n.waitAPIServer(ctx, n.oldAPIServer, false, n.r.o.RestoreTimeout); err != nil {
			return fmt.Errorf("after the restore: %w", err)
		}
	}
	return nil
}
