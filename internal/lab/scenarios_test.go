package lab_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tkgcert/tkgcert/internal/capi"
	"github.com/tkgcert/tkgcert/internal/kubeserver"
	"github.com/tkgcert/tkgcert/internal/lab"
)

// One lab for the package: every scenario side by side, on address block 30.
var (
	world    *lab.Lab
	sup      client.Client
	stateDir string
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "tkgcert-lab-test-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	stateDir = dir
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	world, err = lab.Up(ctx, lab.Options{
		StateDir:       dir,
		BinDir:         kubeserver.RepoBinDir(),
		CAPIVersion:    capi.V1Beta1,
		AddressBlock:   30,
		ProvisionDelay: time.Second,
		Workers:        1,
		Clusters: []lab.ClusterSpec{
			{Namespace: "s", Name: "healthy", Scenario: lab.Healthy},
			{Namespace: "s", Name: "expired", Scenario: lab.Expired},
			{Namespace: "s", Name: "expiring", Scenario: lab.Expiring, Light: true},
			{Namespace: "s", Name: "norotate", Scenario: lab.KubeletRotationOff, Light: true},
			{Namespace: "s", Name: "stuck", Scenario: lab.Stuck, Light: true},
			{Namespace: "s", Name: "paused", Scenario: lab.Paused, Light: true},
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "starting the lab:", err)
		return 1
	}
	defer world.Close()
	kc, err := world.Kubeconfig()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	cfg, err := clientcmd.RESTConfigFromKubeConfig(kc)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	scheme, _ := capi.NewScheme()
	if sup, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return m.Run()
}

// machines lists a cluster's Machines (v1beta1, unstructured).
func machines(t *testing.T, cluster string, controlPlane bool) []unstructured.Unstructured {
	t.Helper()
	l := &unstructured.UnstructuredList{}
	l.SetAPIVersion("cluster.x-k8s.io/v1beta1")
	l.SetKind("MachineList")
	sel := client.MatchingLabels{"cluster.x-k8s.io/cluster-name": cluster}
	if err := sup.List(context.Background(), l, client.InNamespace("s"), sel); err != nil {
		t.Fatal(err)
	}
	var out []unstructured.Unstructured
	for _, m := range l.Items {
		_, cp := m.GetLabels()["cluster.x-k8s.io/control-plane"]
		if cp == controlPlane {
			out = append(out, m)
		}
	}
	return out
}

func str(u unstructured.Unstructured, path ...string) string {
	s, _, _ := unstructured.NestedString(u.Object, path...)
	return s
}

func internalIP(u unstructured.Unstructured) string {
	addrs, _, _ := unstructured.NestedSlice(u.Object, "status", "addresses")
	for _, a := range addrs {
		if m, ok := a.(map[string]any); ok && m["type"] == "InternalIP" {
			return m["address"].(string)
		}
	}
	return ""
}

func secret(t *testing.T, name string) *corev1.Secret {
	t.Helper()
	s := &corev1.Secret{}
	if err := sup.Get(context.Background(), types.NamespacedName{Namespace: "s", Name: name}, s); err != nil {
		t.Fatal(err)
	}
	return s
}

// hostKeyOf is the SSH host key the node at addr presents.
func hostKeyOf(t *testing.T, cluster, addr string) string {
	t.Helper()
	signer, err := ssh.ParsePrivateKey(secret(t, cluster+"-ssh").Data["ssh-privatekey"])
	if err != nil {
		t.Fatal(err)
	}
	var key string
	c, err := ssh.Dial("tcp", net.JoinHostPort(addr, "22"), &ssh.ClientConfig{
		User: "vmware-system-user",
		Auth: []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: func(_ string, _ net.Addr, k ssh.PublicKey) error {
			key = ssh.FingerprintSHA256(k)
			return nil
		},
		Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatalf("ssh %s: %v", addr, err)
	}
	c.Close()
	return key
}

// sshRun runs a command on a node as the seed does: key from <cluster>-ssh,
// user vmware-system-user, port 22.
func sshRun(t *testing.T, cluster, addr, cmd string) string {
	t.Helper()
	signer, err := ssh.ParsePrivateKey(secret(t, cluster+"-ssh").Data["ssh-privatekey"])
	if err != nil {
		t.Fatal(err)
	}
	c, err := ssh.Dial("tcp", net.JoinHostPort(addr, "22"), &ssh.ClientConfig{
		User:            "vmware-system-user",
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.InsecureIgnoreHostKey(), // the seed's StrictHostKeyChecking=no
		Timeout:         10 * time.Second,
	})
	if err != nil {
		t.Fatalf("ssh %s: %v", addr, err)
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	out, err := s.CombinedOutput(cmd)
	if err != nil {
		t.Fatalf("ssh %s %q: %v\n%s", addr, cmd, err, out)
	}
	return string(out)
}

// nodeCertNotAfter reads a certificate file on a node over SSH.
func nodeCertNotAfter(t *testing.T, cluster, addr, path string) time.Time {
	t.Helper()
	block, _ := pem.Decode([]byte(sshRun(t, cluster, addr, "sudo cat "+path)))
	if block == nil {
		t.Fatalf("%s on %s is not PEM", path, addr)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return c.NotAfter
}

func expiry(t *testing.T, m unstructured.Unstructured) time.Time {
	t.Helper()
	e, err := time.Parse(time.RFC3339, str(m, "status", "certificatesExpiryDate"))
	if err != nil {
		t.Fatalf("machine %s: certificatesExpiryDate: %v", m.GetName(), err)
	}
	return e
}

func within(t *testing.T, what string, got time.Time, want time.Duration) {
	t.Helper()
	left := time.Until(got)
	if left < want-2*24*time.Hour || left > want+2*24*time.Hour {
		t.Errorf("%s expires in %s, want about %s", what, left.Round(time.Hour), want)
	}
}

// workloadClient builds a client from the <cluster>-kubeconfig secret, as
// the seed's step 3 does.
func workloadClient(t *testing.T, cluster string) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.RESTConfigFromKubeConfig(secret(t, cluster+"-kubeconfig").Data["value"])
	if err != nil {
		t.Fatal(err)
	}
	cfg.Timeout = 10 * time.Second
	return kubernetes.NewForConfigOrDie(cfg)
}

func TestHealthy(t *testing.T) {
	cps := machines(t, "healthy", true)
	if len(cps) != 3 {
		t.Fatalf("%d control-plane machines, want 3", len(cps))
	}
	for _, m := range cps {
		if str(m, "status", "phase") != "Running" || !strings.HasPrefix(str(m, "spec", "providerID"), "vsphere://") || str(m, "status", "nodeRef", "name") != m.GetName() {
			t.Errorf("machine %s: phase %q providerID %q nodeRef %q", m.GetName(), str(m, "status", "phase"), str(m, "spec", "providerID"), str(m, "status", "nodeRef", "name"))
		}
		e := expiry(t, m)
		within(t, m.GetName(), e, 300*24*time.Hour)
		// The Machine's expiry is the node's apiserver certificate, read over SSH.
		if got := nodeCertNotAfter(t, "healthy", internalIP(m), "/etc/kubernetes/pki/apiserver.crt"); !got.Equal(e) {
			t.Errorf("machine %s: certificatesExpiryDate %v, apiserver.crt on the node %v", m.GetName(), e, got)
		}
		if got := sshRun(t, "healthy", internalIP(m), "hostname"); strings.TrimSpace(got) != m.GetName() {
			t.Errorf("hostname on %s = %q, want %s", internalIP(m), got, m.GetName())
		}
		// etcd's port presents the node's etcd serving certificate.
		conn, err := tls.Dial("tcp", net.JoinHostPort(internalIP(m), "2379"), &tls.Config{InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		peer := conn.ConnectionState().PeerCertificates[0]
		conn.Close()
		if want := nodeCertNotAfter(t, "healthy", internalIP(m), "/etc/kubernetes/pki/etcd/server.crt"); !peer.NotAfter.Equal(want) || peer.Subject.CommonName != m.GetName() {
			t.Errorf("2379 on %s presents %s until %v, want the etcd server certificate until %v", m.GetName(), peer.Subject.CommonName, peer.NotAfter, want)
		}
	}
	// The kubeconfig secret reaches a real API server that trusts the cluster CA.
	nodes, err := workloadClient(t, "healthy").CoreV1().Nodes().List(context.Background(), metav1.ListOptions{LabelSelector: "node-role.kubernetes.io/master="})
	if err != nil {
		t.Fatalf("listing nodes with the kubeconfig secret: %v", err)
	}
	if len(nodes.Items) != 3 {
		t.Errorf("%d control-plane nodes in the workload API, want 3", len(nodes.Items))
	}
	// The real kubeadm on the node reads its configuration from the cluster.
	out := sshRun(t, "healthy", internalIP(cps[0]), "sudo kubeadm certs check-expiration")
	if strings.Contains(out, "Falling back") || !strings.Contains(out, `Reading configuration from the "kubeadm-config" ConfigMap`) {
		t.Errorf("kubeadm check-expiration did not read the cluster's configuration:\n%s", out)
	}
}

func TestExpiredClusterRejectsClients(t *testing.T) {
	for _, m := range machines(t, "expired", true) {
		if e := expiry(t, m); !e.Before(time.Now()) {
			t.Errorf("machine %s: certificatesExpiryDate %v is not in the past", m.GetName(), e)
		}
	}
	_, err := workloadClient(t, "expired").CoreV1().Nodes().List(context.Background(), metav1.ListOptions{})
	if err == nil || !strings.Contains(err.Error(), "certificate has expired") {
		t.Fatalf("listing nodes of the expired cluster: %v, want an x509 expiry error", err)
	}
}

func TestExpiring(t *testing.T) {
	for _, m := range machines(t, "expiring", true) {
		within(t, m.GetName(), expiry(t, m), 20*24*time.Hour)
		if got := nodeCertNotAfter(t, "expiring", internalIP(m), "/etc/kubernetes/pki/apiserver.crt"); !got.Equal(expiry(t, m)) {
			t.Errorf("apiserver.crt on %s = %v, machine says %v", m.GetName(), got, expiry(t, m))
		}
	}
}

func TestKubeletRotationOff(t *testing.T) {
	ws := machines(t, "norotate", false)
	if len(ws) != 1 {
		t.Fatalf("%d workers, want 1", len(ws))
	}
	if got := strings.TrimSpace(sshRun(t, "norotate", internalIP(ws[0]), "sudo grep rotate /var/lib/kubelet/config.yaml")); got != "rotateCertificates: false" {
		t.Errorf("worker kubelet config: %q, want rotateCertificates: false", got)
	}
	// The healthy cluster's worker rotates, as the seed's step 8 expects.
	hw := machines(t, "healthy", false)
	if got := strings.TrimSpace(sshRun(t, "healthy", internalIP(hw[0]), "sudo grep rotate /var/lib/kubelet/config.yaml")); got != "rotateCertificates: true" {
		t.Errorf("healthy worker kubelet config: %q, want rotateCertificates: true", got)
	}
}

func patchKCP(t *testing.T, cluster, patch string) {
	t.Helper()
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("controlplane.cluster.x-k8s.io/v1beta1")
	u.SetKind("KubeadmControlPlane")
	u.SetNamespace("s")
	u.SetName(cluster + "-control-plane")
	if err := sup.Patch(context.Background(), u, client.RawPatch(types.MergePatchType, []byte(patch))); err != nil {
		t.Fatal(err)
	}
}

func rolloutNow() string {
	return fmt.Sprintf(`{"spec":{"rolloutAfter":%q}}`, time.Now().UTC().Format(time.RFC3339))
}

// eventually polls cond until it holds; the bound is a liveness guard, not
// a performance claim.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	if err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, 2*time.Minute, true, func(context.Context) (bool, error) {
		return cond(), nil
	}); err != nil {
		t.Fatalf("timed out waiting for %s", what)
	}
}

// consistently checks cond every 200ms for d and fails as soon as it does
// not hold: the lab had d to do what it must not.
func consistently(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	err := wait.PollUntilContextTimeout(context.Background(), 200*time.Millisecond, d, true, func(context.Context) (bool, error) {
		return !cond(), nil
	})
	if err == nil {
		t.Fatalf("%s no longer holds", what)
	}
	if !wait.Interrupted(err) {
		t.Fatal(err)
	}
}

// afterCreation waits until a rolloutAfter of now, which has second
// precision, is later than the creation of every control-plane machine
// of cluster: a rollout then replaces them all.
func afterCreation(t *testing.T, cluster string) {
	t.Helper()
	var latest time.Time
	for _, m := range machines(t, cluster, true) {
		if c := m.GetCreationTimestamp().Time; c.After(latest) {
			latest = c
		}
	}
	eventually(t, "a second after the machines' creation", func() bool {
		return time.Now().Truncate(time.Second).After(latest)
	})
}

func TestStuckMachineNeverLeavesProvisioning(t *testing.T) {
	afterCreation(t, "stuck")
	patchKCP(t, "stuck", rolloutNow())
	var fresh unstructured.Unstructured
	eventually(t, "a new machine", func() bool {
		for _, m := range machines(t, "stuck", true) {
			if str(m, "status", "phase") == "Provisioning" {
				fresh = m
				return true
			}
		}
		return false
	})
	// Three times the provision delay, the stuck machine stays as it was.
	consistently(t, "the stuck machine provisioning", 3*time.Second, func() bool {
		for _, m := range machines(t, "stuck", true) {
			if m.GetName() == fresh.GetName() && (str(m, "status", "phase") != "Provisioning" || str(m, "status", "nodeRef", "name") != "" || str(m, "spec", "providerID") != "") {
				t.Logf("stuck machine %s: phase %q nodeRef %q providerID %q", m.GetName(), str(m, "status", "phase"), str(m, "status", "nodeRef", "name"), str(m, "spec", "providerID"))
				return false
			}
		}
		return true
	})
	if n := len(machines(t, "stuck", true)); n != 4 {
		t.Errorf("%d control-plane machines, want 4 (3 old, 1 stuck)", n)
	}
}

func TestPausedKCPDoesNotRollOut(t *testing.T) {
	before := machines(t, "paused", true)
	kcp := &unstructured.Unstructured{}
	kcp.SetAPIVersion("controlplane.cluster.x-k8s.io/v1beta1")
	kcp.SetKind("KubeadmControlPlane")
	if err := sup.Get(context.Background(), types.NamespacedName{Namespace: "s", Name: "paused-control-plane"}, kcp); err != nil {
		t.Fatal(err)
	}
	if _, ok := kcp.GetAnnotations()["cluster.x-k8s.io/paused"]; !ok {
		t.Fatal("the paused KCP has no cluster.x-k8s.io/paused annotation")
	}
	afterCreation(t, "paused")
	patchKCP(t, "paused", rolloutNow())
	// Three times the provision delay, no machine is added.
	consistently(t, "the paused cluster keeping its machines", 3*time.Second, func() bool {
		if after := machines(t, "paused", true); len(after) != len(before) {
			t.Logf("paused cluster went from %d to %d control-plane machines", len(before), len(after))
			return false
		}
		return true
	})
	// Unpausing lets the rollout through (the annotation key is removed).
	patchKCP(t, "paused", `{"metadata":{"annotations":{"cluster.x-k8s.io/paused":null}}}`)
	eventually(t, "the unpaused rollout to replace every machine", func() bool {
		now := machines(t, "paused", true)
		if len(now) != 3 {
			return false
		}
		for _, m := range now {
			for _, b := range before {
				if m.GetName() == b.GetName() || str(m, "status", "phase") != "Running" {
					return false
				}
			}
		}
		return true
	})
}

// TestRolloutBefore follows Cluster API's certificatesExpiryDays rule: the
// expiring cluster (20 days left) rolls when told to renew within 30 days,
// and the new machines' certificates are good for a year.
func TestRolloutBefore(t *testing.T) {
	before := machines(t, "expiring", true)
	oldKeys := map[string]string{} // by address
	for _, m := range before {
		oldKeys[internalIP(m)] = hostKeyOf(t, "expiring", internalIP(m))
	}
	patchKCP(t, "expiring", `{"spec":{"rolloutBefore":{"certificatesExpiryDays":30}}}`)
	eventually(t, "every expiring machine to be replaced", func() bool {
		now := machines(t, "expiring", true)
		if len(now) != 3 {
			return false
		}
		for _, m := range now {
			if str(m, "status", "phase") != "Running" {
				return false
			}
			for _, b := range before {
				if m.GetName() == b.GetName() {
					return false
				}
			}
		}
		return true
	})
	// As IPAM does, new machines got the addresses the old ones released,
	// and present new host keys there.
	reused := 0
	for _, m := range machines(t, "expiring", true) {
		if old, ok := oldKeys[internalIP(m)]; ok {
			reused++
			if k := hostKeyOf(t, "expiring", internalIP(m)); k == old {
				t.Errorf("new machine %s at %s presents the host key of the machine that had the address", m.GetName(), internalIP(m))
			}
		}
	}
	if reused == 0 {
		t.Errorf("no new machine got a released address")
	}
	for _, m := range machines(t, "expiring", true) {
		within(t, m.GetName(), expiry(t, m), 365*24*time.Hour)
		got := nodeCertNotAfter(t, "expiring", internalIP(m), "/etc/kubernetes/pki/apiserver.crt")
		if !got.Equal(expiry(t, m)) {
			t.Errorf("new machine %s: apiserver.crt %v, machine says %v", m.GetName(), got, expiry(t, m))
		}
		// Same CA as before: the new leaf verifies against the cluster's -ca secret.
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(secret(t, "expiring-ca").Data["tls.crt"])
		block, _ := pem.Decode([]byte(sshRun(t, "expiring", internalIP(m), "sudo cat /etc/kubernetes/pki/apiserver.crt")))
		leaf, _ := x509.ParseCertificate(block.Bytes)
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool}); err != nil {
			t.Errorf("new machine %s: apiserver.crt does not chain to the cluster CA: %v", m.GetName(), err)
		}
	}
}

func TestStateDirLock(t *testing.T) {
	dir := t.TempDir()
	lock, err := lab.LockStateDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Release()
	_, err = lab.LockStateDir(dir)
	if err == nil || !strings.Contains(err.Error(), "already running") || !strings.Contains(err.Error(), "tkgcert-lab down") {
		t.Fatalf("second lock: %v, want an error saying a lab runs and how to stop it", err)
	}
	if err := lab.Down(t.TempDir(), time.Second); err == nil || !strings.Contains(err.Error(), "no lab is running") {
		t.Fatalf("Down on an empty dir: %v", err)
	}
}
