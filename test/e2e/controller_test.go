package e2e

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tkgcert/tkgcert/internal/controller"
	labpkg "github.com/tkgcert/tkgcert/internal/lab"
)

// The controller's service account, as config/default creates it; every
// controller in these tests impersonates it, so they prove its RBAC suffices.
const controllerSA = "system:serviceaccount:tkgcert-system:tkgcert-controller"

// prometheusOperatorVersion is the Prometheus Operator release whose
// ServiceMonitor and PrometheusRule CRDs the tests install, from the Go
// module cache.
const prometheusOperatorVersion = "v0.94.0"

// controllerProcess is one `tkgcert controller` running for a test.
type controllerProcess struct {
	t       *testing.T
	cmd     *exec.Cmd
	logFile string
	metrics string // host:port
	// token, when set, is a bearer token for the secure /metrics (HTTPS);
	// without it /metrics is scraped over plain HTTP.
	token string
	done  chan error
}

func freePort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// startController runs the controller against the lab as the controller's
// service account, with a short resync, serving /metrics over plain HTTP
// (podController runs it as shipped: HTTPS, tokens checked).
func startController(t *testing.T, kubeconfig string, args ...string) *controllerProcess {
	t.Helper()
	p := &controllerProcess{t: t, logFile: filepath.Join(t.TempDir(), "controller.log"), metrics: freePort(t), done: make(chan error, 1)}
	log, err := os.Create(p.logFile)
	if err != nil {
		t.Fatal(err)
	}
	args = append([]string{"controller", "--kubeconfig", kubeconfig, "--as", controllerSA,
		"--leader-election-namespace", "tkgcert-system", "--metrics-bind-address", p.metrics, "--metrics-secure=false", "--health-probe-bind-address", "0",
		"--resync", "3s", "--follow-resync", "2s", "--known-hosts", filepath.Join(t.TempDir(), "known_hosts"), "-v", "2"}, args...)
	p.cmd = exec.Command(tkgcert, args...)
	p.cmd.Stdout, p.cmd.Stderr = log, log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait(); log.Close() }()
	t.Cleanup(func() { p.kill() })
	return p
}

func (p *controllerProcess) log() string {
	b, _ := os.ReadFile(p.logFile)
	return string(b)
}

// stop sends SIGTERM, as the kubelet does, and expects a clean exit.
func (p *controllerProcess) stop() {
	p.t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-p.done:
		if err != nil {
			p.t.Errorf("the controller exited with %v after SIGTERM\n%s", err, p.log())
		}
	case <-time.After(time.Minute):
		p.t.Errorf("the controller did not exit after SIGTERM")
		p.kill()
	}
}

// kill ends the process at once, as a node failure would.
func (p *controllerProcess) kill() {
	if p.cmd.ProcessState == nil {
		_ = p.cmd.Process.Kill()
		select {
		case <-p.done:
		case <-time.After(time.Minute):
		}
	}
}

// waitLog waits until the log holds n lines containing s.
func (p *controllerProcess) waitLog(s string, n int) {
	p.t.Helper()
	deadline := time.Now().Add(3 * time.Minute) // liveness guard
	for strings.Count(p.log(), s) < n {
		select {
		case err := <-p.done:
			p.done <- err
			p.t.Fatalf("the controller exited (%v) before logging %q %d times:\n%s", err, s, n, p.log())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			p.t.Fatalf("the controller did not log %q %d times:\n%s", s, n, p.log())
		}
	}
}

// passes waits for the controller's first inventory of every cluster, then
// for n more inventories of each of the lab's clusters.
func (p *controllerProcess) passes(n int) {
	p.t.Helper()
	p.waitLog("Every cluster inventoried", 1)
	p.waitLog(`"Cluster inventoried"`, strings.Count(p.log(), `"Cluster inventoried"`)+n*labClusters)
}

// labClusters is the number of clusters in TestController's lab.
const labClusters = 4

// waitEvents waits until the namespace holds n Events of reason on object
// (the controller's recorder sends them asynchronously).
func waitEvents(t *testing.T, sh *shell, ns, reason, object string, n int) {
	t.Helper()
	deadline := time.Now().Add(time.Minute) // liveness guard
	for eventCount(sh, ns, reason, object) < n {
		if time.Now().After(deadline) {
			t.Fatalf("no %d %s Events on %s: %d", n, reason, object, eventCount(sh, ns, reason, object))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// metric scrapes /metrics and returns the value of the series with name and
// these labels (a subset), and whether there is one.
func (p *controllerProcess) metric(name string, labels ...string) (float64, bool) {
	p.t.Helper()
	return metricValue(p.scrape(), name, labels...)
}

// scrape returns /metrics, read as Prometheus would: with p.token over
// HTTPS when there is one.
func (p *controllerProcess) scrape() string {
	p.t.Helper()
	code, body, err := p.get(p.token)
	if err != nil {
		p.t.Fatalf("scraping the controller's metrics: %v", err)
	}
	if code != http.StatusOK {
		p.t.Fatalf("scraping the controller's metrics: HTTP %d: %s", code, body)
	}
	return body
}

// get requests /metrics with this bearer token ("" for none): over HTTPS,
// not verifying the controller's self-signed certificate, if p.token is
// set, else over HTTP.
func (p *controllerProcess) get(token string) (int, string, error) {
	scheme, client := "http", http.DefaultClient
	if p.token != "" {
		scheme = "https"
		client = &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // the controller's self-signed certificate
	}
	req, err := http.NewRequest(http.MethodGet, scheme+"://"+p.metrics+"/metrics", nil)
	if err != nil {
		return 0, "", err
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

func metricValue(body, name string, labels ...string) (float64, bool) {
next:
	for _, l := range strings.Split(body, "\n") {
		if !strings.HasPrefix(l, name+"{") && !strings.HasPrefix(l, name+" ") {
			continue
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if !strings.Contains(l, fmt.Sprintf("%s=%q", labels[i], labels[i+1])) {
				continue next
			}
		}
		v, err := strconv.ParseFloat(l[strings.LastIndex(l, " ")+1:], 64)
		return v, err == nil
	}
	return 0, false
}

func (p *controllerProcess) mustMetric(name string, labels ...string) float64 {
	p.t.Helper()
	v, ok := p.metric(name, labels...)
	if !ok {
		p.t.Fatalf("no series %s%v in the controller's metrics", name, labels)
	}
	return v
}

func eventCount(sh *shell, ns, reason, object string) int {
	out := sh.run(fmt.Sprintf(`kubectl get events -n %s --field-selector reason=%s,involvedObject.name=%s -o name`, ns, reason, object))
	return len(lines(out))
}

// kcpSpec is what a rotation changes on a KubeadmControlPlane: its
// generation, rollout field and tkgcert's audit annotation (the lab updates
// its status, so its resourceVersion moves on its own).
func kcpSpec(sh *shell, ns, cluster string) string {
	return strings.TrimSpace(sh.run(fmt.Sprintf(`kubectl get kcp -n %s %s-control-plane -o jsonpath='{.metadata.generation}|{.spec.rolloutAfter}{.spec.rollout.after}|{.metadata.annotations.tkgcert\.io/rotated-at}'`, ns, cluster)))
}

// statusOf reads the controller's status annotation on a Cluster as
// "<state>: <message>" ("" when there is none).
func statusOf(sh *shell, ns, cluster string) string {
	raw := strings.TrimSpace(sh.run(fmt.Sprintf(`kubectl get cluster -n %s %s -o jsonpath='{.metadata.annotations.tkgcert\.io/status}'`, ns, cluster)))
	if raw == "" {
		return ""
	}
	st, ok := controller.ParseStatus(raw)
	if !ok {
		return "unparsable status annotation: " + raw
	}
	return string(st.State) + ": " + st.Message
}

// installMonitoringCRDs installs the Prometheus Operator's ServiceMonitor and
// PrometheusRule CRDs from its Go module.
func installMonitoringCRDs(t *testing.T, sh *shell) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "mod", "download", "-json", "github.com/prometheus-operator/prometheus-operator@"+prometheusOperatorVersion)
	cmd.Dir = os.TempDir()
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("downloading the Prometheus Operator module for its CRDs: %v\n%s", err, out)
	}
	var dir string
	for _, l := range lines(string(out)) {
		if v, ok := strings.CutPrefix(l, `"Dir": "`); ok {
			dir = strings.TrimSuffix(v, `",`)
		}
	}
	crds := filepath.Join(dir, "example", "prometheus-operator-crd")
	sh.run(fmt.Sprintf(`kubectl apply --server-side -f %[1]s/monitoring.coreos.com_servicemonitors.yaml -f %[1]s/monitoring.coreos.com_prometheusrules.yaml >/dev/null
kubectl wait --for condition=established crd/servicemonitors.monitoring.coreos.com crd/prometheusrules.monitoring.coreos.com >/dev/null`, crds))
}

func vsphereEndpoints(t *testing.T, stateDir string) []labpkg.VSphereEndpoint {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(stateDir, labpkg.VSphereEndpointsFile))
	if err != nil {
		t.Fatal(err)
	}
	var eps []labpkg.VSphereEndpoint
	if err := json.Unmarshal(b, &eps); err != nil {
		t.Fatal(err)
	}
	if len(eps) == 0 {
		t.Fatal("the lab has no Supervisor side")
	}
	return eps
}

// serviceAt names the service behind a lab endpoint, as the Supervisor
// inventory does.
func serviceAt(addr, role string) string {
	_, port, _ := strings.Cut(addr, ":")
	switch {
	case role == "vcenter":
		return "vcenter-https"
	case port == "6443":
		return "kube-apiserver"
	case port == "443":
		return "esxi-https"
	default:
		return "spherelet"
	}
}

// closedWindow is a maintenance window on a day that is not today (UTC).
func closedWindow() string {
	day := time.Now().UTC().Add(72 * time.Hour).Weekday().String()[:3]
	return day + " 00:00-24:00 UTC"
}

func TestController(t *testing.T) {
	lab := startLab(t, "--address-block", "80", "--provision-delay", "1s",
		"--cluster", "c/healthy", "--cluster", "c/expiring:expiring",
		"--cluster", "c/expired:expired,light", "--cluster", "c/optout:expiring,light")
	kc := lab.kubeconfig()
	sh := newShell(t, "KUBECONFIG="+kc)
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	sh.run(`kubectl annotate cluster -n c optout tkgcert.io/auto-rotate=false`)

	// Every controller below runs as the service account config/default
	// creates: apply it first.
	installMonitoringCRDs(t, sh)
	applied := sh.run(fmt.Sprintf(`kubectl apply -k %s/config/default`, repo))

	t.Run("config/default is accepted and its RBAC is least privilege", func(t *testing.T) {
		out := applied
		for _, want := range []string{"deployment.apps/tkgcert-controller created", "clusterrole.rbac.authorization.k8s.io/tkgcert-controller created",
			"prometheusrule.monitoring.coreos.com/tkgcert created", "servicemonitor.monitoring.coreos.com/tkgcert-controller created",
			"service/tkgcert-controller-metrics created", "role.rbac.authorization.k8s.io/tkgcert-leader-election created",
			"secret/tkgcert-known-hosts created", "role.rbac.authorization.k8s.io/tkgcert-known-hosts created"} {
			if !strings.Contains(out, want) {
				t.Errorf("kubectl apply -k config/default: no %q in\n%s", want, out)
			}
		}
		for check, want := range map[string]string{
			"get secrets -n c": "yes", "list secrets -n c": "no", "watch secrets -n c": "no",
			"patch kubeadmcontrolplanes.controlplane.cluster.x-k8s.io -n c": "yes", "delete kubeadmcontrolplanes.controlplane.cluster.x-k8s.io -n c": "no",
			"patch clusters.cluster.x-k8s.io -n c": "yes", "delete clusters.cluster.x-k8s.io -n c": "no",
			"create machines.cluster.x-k8s.io -n c": "no", "delete machines.cluster.x-k8s.io -n c": "no",
			"patch machinedeployments.cluster.x-k8s.io -n c": "no", "create events -n c": "yes",
			"update leases.coordination.k8s.io -n tkgcert-system": "yes", "update leases.coordination.k8s.io -n c": "no",
			"create pods -n c": "no", "list nodes": "yes", "delete nodes": "no",
			"get configmaps/kube-root-ca.crt -n kube-system": "yes", "get configmaps/other -n kube-system": "no",
			// The known hosts: get and update that one Secret only.
			"update secrets/tkgcert-known-hosts -n tkgcert-system": "yes", "update secrets/other -n tkgcert-system": "no",
			"update secrets -n c": "no", "create secrets -n tkgcert-system": "no", "delete secrets/tkgcert-known-hosts -n tkgcert-system": "no",
		} {
			out, _ := sh.try(fmt.Sprintf(`kubectl auth can-i %s --as %s`, check, controllerSA))
			// kubectl may add a warning line (a cluster-scoped resource
			// asked about in a namespace): the answer is the first line.
			got, _, _ := strings.Cut(strings.TrimSpace(out), "\n")
			if got != want {
				t.Errorf("can the controller %s? %q, want %q", check, got, want)
			}
		}
	})

	kcps := map[string]string{}
	for _, c := range []string{"healthy", "expiring", "expired", "optout"} {
		kcps[c] = kcpSpec(sh, "c", c)
	}
	unchanged := func(t *testing.T, clusters ...string) {
		t.Helper()
		for _, c := range clusters {
			if got := kcpSpec(sh, "c", c); got != kcps[c] {
				t.Errorf("the KubeadmControlPlane of %s changed: %q -> %q", c, kcps[c], got)
			}
		}
	}

	t.Run("dry run writes nothing", func(t *testing.T) {
		p := startController(t, kc, "--dry-run", "--rotate-before", "400d")
		p.passes(2)
		unchanged(t, "healthy", "expiring", "expired", "optout")
		for _, c := range []string{"healthy", "expiring", "expired", "optout"} {
			if s := statusOf(sh, "c", c); s != "" {
				t.Errorf("dry run wrote the status of %s: %q", c, s)
			}
		}
		// Events the controller records name it as their source (core
		// Events) or reporting component (events.k8s.io).
		if n := strings.Count(sh.run(`kubectl get events -n c -o jsonpath='{range .items[*]}{.source.component}/{.reportingComponent}{"\n"}{end}'`), "tkgcert"); n != 0 {
			t.Errorf("dry run recorded %d Events", n)
		}
		if v := p.mustMetric("tkgcert_cluster_state", "cluster", "healthy", "state", "RotationDue"); v != 1 {
			t.Errorf("healthy under 400d: RotationDue = %v, want 1", v)
		}
		if !strings.Contains(p.log(), `"Rotation due; dry run, not rotating" logger="controller" cluster="c/healthy"`) {
			t.Errorf("the dry run does not say it would rotate healthy:\n%s", p.log())
		}
		p.stop()
	})

	t.Run("outside the maintenance window nothing is rotated; expired raises an alert and an Event", func(t *testing.T) {
		var vcenter string
		for _, ep := range vsphereEndpoints(t, lab.stateDir) {
			if ep.Role == "vcenter" {
				vcenter = ep.Addresses[0]
			}
		}
		p := startController(t, kc, "--maintenance-window", closedWindow(),
			"--vcenter", vcenter, "--vmca-root", filepath.Join(lab.stateDir, "vmca-root.crt"))
		p.passes(2)
		// The Supervisor side: the same metric, namespace and cluster empty,
		// every lab endpoint with the NotAfter openssl s_client reads.
		for _, ep := range vsphereEndpoints(t, lab.stateDir) {
			for _, addr := range ep.Addresses {
				node := ep.Name
				if ep.Role == "vcenter" {
					node, _, _ = strings.Cut(addr, ":")
				}
				want := opensslServedEnd(t, sh, addr)
				ca := map[string]string{"vmca": "vmca", "foreign": "other"}[ep.Issuer]
				got, ok := p.metric("tkgcert_certificate_expiry_timestamp_seconds", "namespace", "", "cluster", "", "node", node, "ca", ca, "certificate", serviceAt(addr, ep.Role))
				if !ok || int64(got) != want.Unix() {
					t.Errorf("%s %s (%s): metric %v (found %v), openssl s_client %v", ep.Role, ep.Name, addr, time.Unix(int64(got), 0).UTC(), ok, want)
				}
			}
		}
		unchanged(t, "healthy", "expiring", "expired", "optout")
		for c, want := range map[string]string{"healthy": "Healthy: ", "expiring": "WaitingForWindow: ", "expired": "Expired: ", "optout": "OptedOut: "} {
			if s := statusOf(sh, "c", c); !strings.HasPrefix(s, want) {
				t.Errorf("status of %s: %q, want %q...", c, s, want)
			}
			if v := p.mustMetric("tkgcert_cluster_state", "cluster", c, "state", strings.TrimSuffix(want, ": ")); v != 1 {
				t.Errorf("tkgcert_cluster_state{cluster=%q,state=%q} = %v", c, want, v)
			}
		}
		if v := p.mustMetric("tkgcert_cluster_expired_certificates", "cluster", "expired"); v < 10 {
			t.Errorf("expired certificates of the expired cluster: %v", v)
		}
		if v := p.mustMetric("tkgcert_cluster_expired_certificates", "cluster", "healthy"); v != 0 {
			t.Errorf("expired certificates of the healthy cluster: %v", v)
		}
		waitEvents(t, sh, "c", "CertificatesExpired", "expired", 1)
		waitEvents(t, sh, "c", "CertificateRotationWaiting", "expiring", 1)
		if n := eventCount(sh, "c", "CertificatesExpired", "expired"); n != 1 {
			t.Errorf("%d CertificatesExpired Events on the expired cluster, want 1", n)
		}
		if n := eventCount(sh, "c", "CertificateRotationWaiting", "expiring"); n != 1 {
			t.Errorf("%d CertificateRotationWaiting Events on the expiring cluster, want 1", n)
		}
		// Per-certificate metrics agree with openssl on the node.
		key := sshKeyFile(t, sh, kc, "c", "healthy")
		addrs := strings.Fields(sh.run(`kubectl get machines -n c -l cluster.x-k8s.io/cluster-name=healthy,cluster.x-k8s.io/control-plane -o jsonpath='{range .items[*]}{.status.nodeRef.name}={.status.addresses[?(@.type=="InternalIP")].address} {end}'`))
		if len(addrs) != 3 {
			t.Fatalf("control-plane nodes of healthy: %v", addrs)
		}
		for _, na := range addrs {
			node, addr, _ := strings.Cut(na, "=")
			for cert, file := range map[string]string{"apiserver": kubeadmFiles["apiserver"], "etcd-peer": kubeadmFiles["etcd-peer"]} {
				want := opensslEnd(t, sh, key, addr, file)
				if got := p.mustMetric("tkgcert_certificate_expiry_timestamp_seconds", "cluster", "healthy", "node", node, "certificate", cert); int64(got) != want.Unix() {
					t.Errorf("%s on %s: metric %v, openssl %v", cert, node, time.Unix(int64(got), 0).UTC(), want)
				}
			}
		}
		p.stop()
		// A restarted controller does not repeat the Events.
		p = startController(t, kc, "--maintenance-window", closedWindow())
		p.passes(2)
		p.stop()
		if n := eventCount(sh, "c", "CertificatesExpired", "expired"); n != 1 {
			t.Errorf("after a restart, %d CertificatesExpired Events, want still 1", n)
		}
	})

	t.Run("by default expiring is rotated once; healthy, expired and opted-out clusters are left alone", func(t *testing.T) {
		before := cpMachines(sh, "c", "expiring")
		p := startController(t, kc)
		p.waitLog(`"Rotation succeeded" logger="controller" cluster="c/expiring"`, 1)
		p.passes(2)
		unchanged(t, "healthy", "expired", "optout")
		if n := eventCount(sh, "c", "CertificateRotationTriggered", "expiring-control-plane"); n != 1 {
			t.Errorf("%d CertificateRotationTriggered Events for expiring, want 1", n)
		}
		after := cpMachines(sh, "c", "expiring")
		for _, m := range after {
			for _, b := range before {
				if m == b {
					t.Errorf("machine %s of expiring was not replaced", m)
				}
			}
		}
		if len(after) != 3 {
			t.Errorf("expiring has %d control-plane machines after the rotation: %v", len(after), after)
		}
		if v := p.mustMetric("tkgcert_rotations_started_total", "cluster", "expiring"); v != 1 {
			t.Errorf("rotations started for expiring: %v", v)
		}
		if v := p.mustMetric("tkgcert_rotations_succeeded_total", "cluster", "expiring"); v != 1 {
			t.Errorf("rotations succeeded for expiring: %v", v)
		}
		if v := p.mustMetric("tkgcert_cluster_earliest_expiry_timestamp_seconds", "cluster", "expiring"); time.Until(time.Unix(int64(v), 0)) < 360*24*time.Hour {
			t.Errorf("earliest expiry of expiring after the rotation: %v", time.Unix(int64(v), 0).UTC())
		}
		if s := statusOf(sh, "c", "expiring"); !strings.HasPrefix(s, "Healthy: ") {
			t.Errorf("status of expiring after the rotation: %q", s)
		}
		if v, ok := p.metric("tkgcert_rotations_started_total", "cluster", "healthy"); !ok || v != 0 {
			t.Errorf("rotations started for healthy: %v (exported: %v), want 0", v, ok)
		}
		p.stop()
	})

	t.Run("--rotate-before 400d rotates healthy exactly once, across a leader killed mid-rollout", func(t *testing.T) {
		oldEarliest := time.Now().Add(365 * 24 * time.Hour)
		before := cpMachines(sh, "c", "healthy")
		le := []string{"--rotate-before", "400d", "--leader-election-lease-duration", "4s",
			"--leader-election-renew-deadline", "3s", "--leader-election-retry-period", "500ms"}
		a := startController(t, kc, le...)
		a.waitLog("Successfully acquired lease", 1)
		b := startController(t, kc, le...)
		a.waitLog(`"Triggering rollout" logger="controller" cluster="c/healthy"`, 1)
		if strings.Contains(b.log(), "Every cluster inventoried") || strings.Contains(b.log(), `"Cluster inventoried"`) {
			t.Fatalf("the standby replica worked while the leader held the lease:\n%s", b.log())
		}
		rotatedAt := strings.TrimSpace(sh.run(`kubectl get kcp -n c healthy-control-plane -o jsonpath='{.metadata.annotations.tkgcert\.io/rotated-at}'`))
		if got := cpMachines(sh, "c", "healthy"); !strings.Contains(strings.Join(got, " "), before[2]) {
			t.Fatalf("the rollout finished before the leader could be killed (%v): the test proves nothing", got)
		}
		a.kill()
		b.waitLog("Successfully acquired lease", 1)
		b.waitLog(`"Following a rollout under way" logger="controller" cluster="c/healthy"`, 1)
		b.waitLog(`"Rotation succeeded" logger="controller" cluster="c/healthy"`, 1)
		b.passes(2)

		if n := eventCount(sh, "c", "CertificateRotationTriggered", "healthy-control-plane"); n != 1 {
			t.Errorf("%d CertificateRotationTriggered Events for healthy, want 1", n)
		}
		if got := strings.TrimSpace(sh.run(`kubectl get kcp -n c healthy-control-plane -o jsonpath='{.metadata.annotations.tkgcert\.io/rotated-at}'`)); got != rotatedAt {
			t.Errorf("rotated-at changed from %s to %s: a second rollout", rotatedAt, got)
		}
		// One rollout replaces each of the three machines once: exactly three
		// new machines exist, and no old one.
		after := cpMachines(sh, "c", "healthy")
		if len(after) != 3 {
			t.Errorf("healthy has control-plane machines %v", after)
		}
		for _, m := range after {
			for _, o := range before {
				if m == o {
					t.Errorf("machine %s of healthy was not replaced", m)
				}
			}
		}
		created := sh.run(`kubectl get machines -n c -l cluster.x-k8s.io/cluster-name=healthy -o jsonpath='{range .items[*]}{.metadata.creationTimestamp}{"\n"}{end}'`)
		newer := 0
		for _, c := range lines(created) {
			if c >= rotatedAt {
				newer++
			}
		}
		if newer != 3 {
			t.Errorf("%d machines of healthy were created after the rollout started, want 3 (one rollout)", newer)
		}
		if v, ok := b.metric("tkgcert_rotations_started_total", "cluster", "healthy"); ok && v != 0 {
			t.Errorf("the new leader started %v rotations of healthy", v)
		}
		if v := b.mustMetric("tkgcert_rotations_succeeded_total", "cluster", "healthy"); v != 1 {
			t.Errorf("rotations succeeded for healthy: %v", v)
		}
		v := b.mustMetric("tkgcert_cluster_earliest_expiry_timestamp_seconds", "cluster", "healthy")
		if newEnd := time.Unix(int64(v), 0); !newEnd.After(oldEarliest.Add(-time.Hour)) {
			t.Errorf("the metrics show healthy's earliest expiry at %v after the rotation", newEnd.UTC())
		}
		for _, c := range []string{"healthy", "expiring"} {
			if s := statusOf(sh, "c", c); !strings.HasPrefix(s, "RotatedRecently: ") {
				t.Errorf("status of %s under 400d after its rotation: %q", c, s)
			}
		}
		if n := eventCount(sh, "c", "CertificateRotationTriggered", "expiring-control-plane"); n != 1 {
			t.Errorf("expiring was rotated again within the minimum interval (%d Events)", n)
		}
		unchanged(t, "expired", "optout")
		b.stop()
	})
}
