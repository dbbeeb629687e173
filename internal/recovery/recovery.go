package recovery

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/certs/names"
	"github.com/tkgcert/tkgcert/internal/kubeconfig"
	"github.com/tkgcert/tkgcert/internal/pki"
	"github.com/tkgcert/tkgcert/internal/remote"
)

// Defaults of Options.
const (
	DefaultNodeTimeout    = 5 * time.Minute
	DefaultStaticPodWait  = 2 * time.Minute
	DefaultRestoreTimeout = 5 * time.Minute
)

// Fault names a node and a step at which recovery fails on purpose, to
// rehearse the failure path (a node's backup restored) in a lab. At step
// "apiserver" the fault is real: the API server's manifest gets an unknown
// flag as it is moved back, so the API server does not come back and the
// wait for it times out. At any other step the step fails after its work.
type Fault struct {
	Node, Step string
}

func (f Fault) is(node, step string) bool { return f.Node == node && f.Step == step }

// ParseFault parses NODE:STEP.
func ParseFault(s string) (Fault, error) {
	node, step, ok := strings.Cut(s, ":")
	if !ok || node == "" {
		return Fault{}, fmt.Errorf("want NODE:STEP, got %q", s)
	}
	for _, st := range Steps {
		if st == step {
			return Fault{Node: node, Step: step}, nil
		}
	}
	return Fault{}, fmt.Errorf("unknown step %q (steps: %s)", step, strings.Join(Steps, ", "))
}

// Options configure a recovery.
type Options struct {
	// Client reads and writes the Supervisor.
	Client client.Client
	// Dialer reaches the cluster's nodes over SSH.
	Dialer *remote.Dialer
	// ControlPlaneEndpoint is the Cluster's spec.controlPlaneEndpoint
	// (host:port): the <cluster>-kubeconfig secret must name it as its
	// server, or recovery refuses the secret.
	ControlPlaneEndpoint string
	// ClusterAPIVersion is the Cluster API version the Supervisor serves
	// (v1beta1, v1beta2), for the KubeadmConfig annotation; empty skips it.
	ClusterAPIVersion string
	// NodeTimeout bounds the wait for a node's API server to serve the
	// renewed certificate (default DefaultNodeTimeout).
	NodeTimeout time.Duration
	// StaticPodWait bounds the wait for the static pods to stop once their
	// manifests are moved out (default DefaultStaticPodWait; the kubelet
	// notices within its fileCheckFrequency, 20s by default).
	StaticPodWait time.Duration
	// RestoreTimeout bounds the wait for a restored node's API server.
	RestoreTimeout time.Duration
	// Held, when set, says whether the run still holds the cluster's lock
	// (package lock): an error stops the recovery before the next node.
	Held func() error
	// Fault injects a failure (see Fault); the zero value injects none.
	Fault Fault
	// Log receives progress lines.
	Log func(format string, args ...any)
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// NodeResult is what happened on one node.
type NodeResult struct {
	Name    string `json:"name"`
	Address string `json:"address"`
	Role    string `json:"role"`
	// Status is recovered, restored (a step failed and the backup was put
	// back), failed (a step failed before anything changed, or the restore
	// failed too) or untouched.
	Status string `json:"status"`
	// Backup is the backup directory on the node.
	Backup string `json:"backup,omitempty"`
	// Renewed names the renewed certificates.
	Renewed []string `json:"renewed,omitempty"`
	// Kubelet says whether the kubelet was restarted.
	Kubelet string `json:"kubelet,omitempty"`
	// Error is where and why it stopped.
	Error string `json:"error,omitempty"`
}

// Result is the outcome of Run.
type Result struct {
	Namespace       string       `json:"namespace"`
	Cluster         string       `json:"cluster"`
	Nodes           []NodeResult `json:"nodes"`
	SecretRefreshed bool         `json:"secretRefreshed"`
	// Warnings do not fail the recovery.
	Warnings []string `json:"warnings,omitempty"`
}

// StepError reports the step and node where recovery stopped.
type StepError struct {
	Step, Node, Address string
	// Backup is the node's backup directory ("" when none was made).
	Backup string
	// RestoreErr is set when restoring the backup failed as well.
	RestoreErr error
	Err        error
}

func (e *StepError) Error() string {
	msg := fmt.Sprintf("stopped at step %q on node %s (%s): %v", e.Step, e.Node, e.Address, e.Err)
	switch {
	case e.Backup == "":
		return msg + "; nothing had been changed on the node"
	case e.RestoreErr != nil:
		return fmt.Sprintf("%s; restoring the backup from %s FAILED as well: %v; restore it by hand: copy %s/kubernetes/. to /etc/kubernetes and %s/kubelet-pki/. to /var/lib/kubelet/pki, then move the manifests out of /etc/kubernetes/manifests and back", msg, e.Backup, e.RestoreErr, e.Backup, e.Backup)
	default:
		return fmt.Sprintf("%s; backup restored from %s", msg, e.Backup)
	}
}

func (e *StepError) Unwrap() error { return e.Err }

// ErrInjected is the failure of an injected fault.
var ErrInjected = errors.New("injected fault (--inject-fault)")

// run is one recovery in progress.
type run struct {
	o       Options
	plan    Plan
	cas     map[string]*pki.KeyPair
	probe   *rest.Config
	secret  *corev1.Secret
	newKC   []byte
	started time.Time
}

func (r *run) now() time.Time { return r.o.Now() }

// Run carries out plan: every node with something to renew, control plane
// first, one at a time, then the kubeconfig secret. It stops at the first
// failed step (a *StepError) with the result so far.
func Run(ctx context.Context, o Options, plan Plan) (*Result, error) {
	if o.NodeTimeout <= 0 {
		o.NodeTimeout = DefaultNodeTimeout
	}
	if o.StaticPodWait <= 0 {
		o.StaticPodWait = DefaultStaticPodWait
	}
	if o.RestoreTimeout <= 0 {
		o.RestoreTimeout = DefaultRestoreTimeout
	}
	if o.Log == nil {
		o.Log = func(string, ...any) {}
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if len(plan.Problems) > 0 {
		return nil, fmt.Errorf("not recovering %s/%s, nothing was changed:\n  - %s", plan.Namespace, plan.Cluster, strings.Join(plan.Problems, "\n  - "))
	}
	if o.Fault.Node != "" && !slices.ContainsFunc(plan.Nodes, func(n NodePlan) bool { return n.Name == o.Fault.Node && n.Touched() }) {
		return nil, fmt.Errorf("--inject-fault: recovery does nothing on a node %s, so no fault could happen there: name a node of the plan", o.Fault.Node)
	}
	r := &run{o: o, plan: plan, started: o.Now()}
	res := &Result{Namespace: plan.Namespace, Cluster: plan.Cluster}
	var err error
	if r.cas, err = LoadCAs(ctx, o.Client, plan.Namespace, plan.Cluster); err != nil {
		return res, err
	}
	if err := r.prepareSecret(ctx); err != nil {
		return res, err
	}
	for _, np := range plan.Nodes {
		res.Nodes = append(res.Nodes, NodeResult{Name: np.Name, Address: np.Address, Role: np.Role, Status: "untouched"})
	}
	for i, np := range plan.Nodes {
		if !np.Touched() {
			continue
		}
		if o.Held != nil {
			if err := o.Held(); err != nil {
				return res, fmt.Errorf("stopped before node %s, which is untouched: %w; run `tkgcert recover -n %s %s` again once no other run works on the cluster", np.Name, err, plan.Namespace, plan.Cluster)
			}
		}
		if err := r.recoverNode(ctx, np, &res.Nodes[i]); err != nil {
			return res, err
		}
		if np.RenewPKI && o.ClusterAPIVersion != "" {
			removed, err := forgetRecordedExpiry(ctx, o.Client, o.ClusterAPIVersion, plan.Namespace, plan.Cluster, np.Name)
			switch {
			case err != nil:
				res.Warnings = append(res.Warnings, fmt.Sprintf("node %s: Cluster API still records the old expiry: %v; remove annotation %s from the machine's KubeadmConfig by hand", np.Name, err, CertificatesExpiryAnnotation))
			case removed:
				o.Log("%s: removed %s from its KubeadmConfig, so that Cluster API reads the new expiry", np.Name, CertificatesExpiryAnnotation)
			}
		}
	}
	if err := r.waitReads(ctx); err != nil {
		return res, err
	}
	if plan.RefreshSecret {
		o.Log("Refreshing the client certificate of secret %s/%s-kubeconfig", plan.Namespace, plan.Cluster)
		if err := r.updateSecret(ctx); err != nil {
			return res, fmt.Errorf("every node was recovered, but refreshing secret %s/%s-kubeconfig failed: %w; run `tkgcert recover -n %s %s` again to retry it", plan.Namespace, plan.Cluster, err, plan.Namespace, plan.Cluster)
		}
		res.SecretRefreshed = true
	}
	return res, nil
}

// recoverNode runs the steps on one node; a failure after the backup
// restores it.
func (r *run) recoverNode(ctx context.Context, np NodePlan, res *NodeResult) error {
	log := func(format string, args ...any) { r.o.Log("%s: "+format, append([]any{np.Name}, args...)...) }
	n := &nodeRun{r: r, plan: np, res: res}
	fail := func(step string, err error) error {
		se := &StepError{Step: step, Node: np.Name, Address: np.Address, Err: err}
		res.Status = "failed"
		if n.backup != "" {
			se.Backup = n.backup
			log("step %s failed: %v; restoring the backup %s", step, err, n.backup)
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), r.o.StaticPodWait+r.o.RestoreTimeout+time.Minute)
			defer cancel()
			restarted := step == StepRestart || step == StepAPIServer || (step == StepKubelet && np.RenewPKI)
			if rerr := n.restore(rctx, restarted); rerr != nil {
				se.RestoreErr = rerr
			} else {
				res.Status = "restored"
				log("backup restored")
			}
		}
		res.Error = se.Error()
		return se
	}
	step := func(name string, f func(context.Context) error) error {
		if err := f(ctx); err != nil {
			return fail(name, err)
		}
		if name != StepAPIServer && r.o.Fault.is(np.Name, name) {
			return fail(name, ErrInjected)
		}
		return nil
	}

	log("reading certificates")
	client, err := r.o.Dialer.DialMachine(ctx, np.Address, np.HostKeyAlias)
	if err != nil {
		return fail(StepRead, err)
	}
	defer client.Close()
	n.client = client
	if err := step(StepRead, n.prepare); err != nil {
		return err
	}
	if err := step(StepBackup, n.doBackup); err != nil {
		return err
	}
	log("backed up /etc/kubernetes and /var/lib/kubelet/pki to %s (on the node)", n.backup)
	if err := step(StepRenew, n.doRenew); err != nil {
		return err
	}
	log("renewed %s", strings.Join(res.Renewed, ", "))
	if np.RenewPKI {
		log("restarting the static pods (manifests moved out of %s and back)", manifestsDir)
		if err := step(StepRestart, n.doRestart); err != nil {
			return err
		}
		log("waiting for the API server on %s:6443 to serve the renewed certificate", np.Address)
		if err := step(StepAPIServer, func(ctx context.Context) error {
			return n.waitAPIServer(ctx, n.newAPIServer, true, r.o.NodeTimeout)
		}); err != nil {
			return err
		}
		log("the API server serves the renewed certificate and answers")
	}
	if np.RenewKubelet {
		if err := step(StepKubelet, n.doKubelet); err != nil {
			return err
		}
		log("kubelet client certificate renewed (kubelet: %s)", res.Kubelet)
	}
	res.Status = "recovered"
	return nil
}

// nodeClient is a client of one node's API server with the recovery's
// identity (the kubeconfig secret's user, its certificate renewed when it
// had expired), verifying the node's certificate against the cluster CA.
func (r *run) nodeClient(address string) (kubernetes.Interface, error) {
	cfg := rest.CopyConfig(r.probe)
	cfg.Host = "https://" + net.JoinHostPort(address, "6443")
	cfg.Timeout = 10 * time.Second
	return kubernetes.NewForConfig(cfg)
}

// waitReads waits until the API server of every renewed control-plane node
// answers a read, which needs etcd: with stacked etcd the renewed members
// form a quorum again only once enough of them run with renewed peer
// certificates, so this is checked after the last node. A failure here
// restores nothing (every node was renewed, and the old certificates are
// expired); the backups stay on the nodes.
func (r *run) waitReads(ctx context.Context) error {
	var nodes []NodePlan
	for _, n := range r.plan.Nodes {
		if n.RenewPKI {
			nodes = append(nodes, n)
		}
	}
	if len(nodes) == 0 {
		return nil
	}
	r.o.Log("Waiting for the API server of every renewed control-plane node to answer reads (etcd quorum)")
	deadline := time.Now().Add(r.o.NodeTimeout)
	for _, n := range nodes {
		cs, err := r.nodeClient(n.Address)
		if err != nil {
			return err
		}
		var last error
		if err := poll(ctx, time.Second, time.Until(deadline), func(ctx context.Context) (bool, error) {
			_, last = cs.CoreV1().Namespaces().Get(ctx, "kube-system", metav1.GetOptions{})
			return last == nil, nil
		}, func() error {
			return fmt.Errorf("every control-plane node was renewed, but the API server on node %s (%s) does not answer reads after %s: %v; "+
				"check etcd on the control-plane nodes (its peers must all run with renewed certificates); the backups are on the nodes", n.Name, n.Address, r.o.NodeTimeout, last)
		}); err != nil {
			return err
		}
	}
	return nil
}

// LoadCAs reads the cluster's CA certificates and keys from the Supervisor's
// Cluster API secrets <cluster>-ca, -etcd and -proxy, keyed by kubeadm's CA
// names. The keys stay in memory.
func LoadCAs(ctx context.Context, c client.Client, namespace, cluster string) (map[string]*pki.KeyPair, error) {
	out := map[string]*pki.KeyPair{}
	for _, a := range names.Authorities() {
		name, suffix := a.Name, a.SecretSuffix
		sec, err := getSecret(ctx, c, namespace, cluster+suffix)
		if err != nil {
			return nil, err
		}
		kp, err := pki.ParseKeyPair(sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey])
		if err != nil {
			return nil, fmt.Errorf("secret %s/%s%s: %w", namespace, cluster, suffix, err)
		}
		out[name] = kp
	}
	return out, nil
}

func getSecret(ctx context.Context, c client.Client, namespace, name string) (*corev1.Secret, error) {
	sec := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, sec); err != nil {
		if apierrors.IsForbidden(err) {
			return nil, fmt.Errorf("reading secret %s/%s: forbidden: tkgcert recover needs get and update on secrets in %s", namespace, name, namespace)
		}
		return nil, fmt.Errorf("reading secret %s/%s: %w", namespace, name, err)
	}
	return sec, nil
}

// prepareSecret reads <cluster>-kubeconfig and, when its certificate is to
// be refreshed, signs the new one in memory. The result (renewed or not) is
// the identity that checks each node's API server.
func (r *run) prepareSecret(ctx context.Context) error {
	name := r.plan.Cluster + names.KubeconfigSecretSuffix
	sec, err := getSecret(ctx, r.o.Client, r.plan.Namespace, name)
	if err != nil {
		return err
	}
	data := sec.Data["value"]
	// The secret is judged as written before anything is signed for it.
	if _, err := kubeconfig.RESTConfig(data, r.plan.Namespace+"/"+name, r.o.ControlPlaneEndpoint); err != nil {
		return err
	}
	if r.plan.RefreshSecret {
		if data, err = RenewKubeconfig(data, r.cas[certs.CAName], r.now()); err != nil {
			return fmt.Errorf("secret %s/%s: %w", r.plan.Namespace, name, err)
		}
	}
	cfg, err := kubeconfig.RESTConfig(data, r.plan.Namespace+"/"+name, r.o.ControlPlaneEndpoint)
	if err != nil {
		return err
	}
	r.secret, r.newKC, r.probe = sec, data, cfg
	return nil
}

// RenewKubeconfig renews the client certificate of a kubeconfig's current
// user with ca, for the same key, and keeps everything else.
func RenewKubeconfig(data []byte, ca *pki.KeyPair, now time.Time) ([]byte, error) {
	u, err := certs.ParseKubeconfigUser(data)
	if err != nil {
		return nil, err
	}
	old, err := u.ClientCertificate()
	if err != nil {
		return nil, err
	}
	renewed, err := Renew(old, ca, now)
	if err != nil {
		return nil, err
	}
	u.AuthInfo.ClientCertificateData = pki.EncodeCertPEM(renewed)
	return clientcmd.Write(*u.Config)
}

// updateSecret writes the renewed kubeconfig into the secret's data.value,
// in place: metadata, labels, owner references and type stay as Cluster API
// made them, and the update carries the resourceVersion read before.
//
// When the secret changed in between (Cluster API regenerating it, say),
// it is read again: a valid certificate there is left alone; an expired one
// is renewed from what is there now, once more.
func (r *run) updateSecret(ctx context.Context) error {
	sec := r.secret.DeepCopy()
	sec.Data["value"] = r.newKC
	err := r.o.Client.Update(ctx, sec)
	if !apierrors.IsConflict(err) {
		return err
	}
	name := r.plan.Cluster + names.KubeconfigSecretSuffix
	sec, err = getSecret(ctx, r.o.Client, r.plan.Namespace, name)
	if err != nil {
		return err
	}
	cert, err := certs.KubeconfigClientCert(sec.Data["value"])
	if err == nil && r.now().Before(cert.NotAfter) {
		r.o.Log("Secret %s/%s changed meanwhile and its certificate is valid until %s: leaving it", r.plan.Namespace, name, cert.NotAfter.UTC().Format(time.RFC3339))
		return nil
	}
	data, err := RenewKubeconfig(sec.Data["value"], r.cas[certs.CAName], r.now())
	if err != nil {
		return err
	}
	sec.Data["value"] = data
	if err := r.o.Client.Update(ctx, sec); err != nil {
		return fmt.Errorf("the secret keeps changing (is something else rewriting it?): %w", err)
	}
	return nil
}
