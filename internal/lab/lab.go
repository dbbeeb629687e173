package lab

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"github.com/go-logr/logr"
	"golang.org/x/crypto/ssh"
	"golang.org/x/sync/errgroup"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	crlog "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/tkgcert/tkgcert/internal/capi"
	"github.com/tkgcert/tkgcert/internal/kubeserver"
	"github.com/tkgcert/tkgcert/internal/lab/netsim"
)

// ContextName is the Supervisor kubeconfig's context, as in the seed.
const ContextName = "kubernetes-admin@kubernetes"

// Lab is a running simulated Supervisor with its clusters.
type Lab struct {
	o        Options
	bins     kubeserver.Binaries
	server   *kubeserver.Server
	client   client.Client
	cache    cache.Cache
	api      *api
	clusters []*cluster

	cancel context.CancelFunc
	wg     sync.WaitGroup
	now    func() time.Time

	vsphere        *vsphereSide
	vsphereSSHPub  ssh.PublicKey // of SupervisorSSHKeyFile
	hostKeySeed    []byte        // see hostKey
	addedULA       bool
	ownsBlock      atomic.Bool // bound a cluster endpoint of its address block
	kubeadmVersion string      // of the nodes' kubeadm, recorded in kubeadm-config
}

// Up builds the world and starts its controllers. On error everything
// started so far is stopped again.
func Up(ctx context.Context, o Options) (_ *Lab, err error) {
	o.setDefaults()
	if err := o.validate(); err != nil {
		return nil, err
	}
	if err := raiseFileLimit(o); err != nil {
		return nil, err
	}
	l := &Lab{o: o, now: time.Now}
	defer func() {
		if err != nil {
			l.Close()
		}
	}()
	if l.bins, err = kubeserver.FindBinaries(o.BinDir); err != nil {
		return nil, err
	}
	if l.hostKeySeed, err = loadHostKeySeed(o.StateDir); err != nil {
		return nil, err
	}
	if l.kubeadmVersion, err = kubeadmVersion(ctx, l.bins.Kubeadm); err != nil {
		return nil, err
	}
	if l.addedULA, err = addLoopbackULA(o.AddressBlock); err != nil {
		return nil, err
	}
	crds, err := capi.ReleaseCRDs(ctx, o.CAPIVersion)
	if err != nil {
		return nil, err
	}
	supDir := filepath.Join(o.StateDir, "supervisor")
	for _, d := range []string{supDir, filepath.Join(o.StateDir, "clusters"), filepath.Join(o.StateDir, "scratch")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	o.Logger.Info("Starting the Supervisor API (etcd, kube-apiserver)")
	if l.server, err = kubeserver.Start(ctx, kubeserver.Options{Binaries: l.bins, Dir: supDir}); err != nil {
		return nil, err
	}
	cfg, err := l.server.RESTConfig()
	if err != nil {
		return nil, err
	}
	if err := capi.InstallCRDs(ctx, cfg, crds); err != nil {
		return nil, err
	}
	scheme, err := capi.NewScheme()
	if err != nil {
		return nil, err
	}
	if l.client, err = client.New(cfg, client.Options{Scheme: scheme}); err != nil {
		return nil, err
	}
	l.api = &api{version: o.CAPIVersion, c: l.client}

	specs := append([]ClusterSpec(nil), o.Clusters...)
	for i := 0; i < o.Generate; i++ {
		// Light clusters spread their expiry between 60 and 360 days out.
		left := time.Duration(60+(i*300)/max(o.Generate, 1)) * 24 * time.Hour
		specs = append(specs, ClusterSpec{Namespace: FleetNamespace, Name: fmt.Sprintf("gen-%03d", i), Scenario: Healthy, Light: true, Remaining: left})
	}
	if err := l.createNamespaces(ctx, specs); err != nil {
		return nil, err
	}
	// The Supervisor side (certificates, listeners, Node objects) comes up
	// while the clusters do; it is waited for before returning, on every path.
	vsphereErr := make(chan error, 1)
	go func() {
		if o.VSphere.empty() {
			vsphereErr <- nil
			return
		}
		o.Logger.Info("Starting the Supervisor side (VMCA, vCenter, Supervisor control plane, ESXi hosts)")
		vsphereErr <- l.startVSphere(ctx, len(specs))
	}()
	waitVSphere := sync.OnceValue(func() error { return <-vsphereErr })
	defer func() { _ = waitVSphere() }() // runs before the Close above
	o.Logger.Info("Creating clusters", "count", len(specs))
	l.clusters = make([]*cluster, len(specs))
	if err := forEach(ctx, len(specs), 4, func(i int) error {
		c, err := newCluster(l, specs[i], i)
		if err != nil {
			return err
		}
		l.clusters[i] = c
		return c.create(ctx)
	}); err != nil {
		return nil, err
	}
	// Full clusters bring up their API servers together; keep the number of
	// simultaneous starts modest on a small machine.
	if err := forEach(ctx, len(l.clusters), 4, func(i int) error {
		return l.clusters[i].provisionInitial(ctx)
	}); err != nil {
		return nil, err
	}
	if err := waitVSphere(); err != nil {
		return nil, err
	}
	if err := l.startControllers(); err != nil {
		return nil, err
	}
	return l, nil
}

func (l *Lab) createNamespaces(ctx context.Context, specs []ClusterSpec) error {
	seen := map[string]bool{}
	for _, s := range specs {
		if seen[s.Namespace] {
			continue
		}
		seen[s.Namespace] = true
		err := l.client.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: s.Namespace}})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("creating namespace %s: %w", s.Namespace, err)
		}
	}
	return nil
}

// provisionInitial creates the cluster's first machines and nodes directly
// (the world starts provisioned), then the workload API's contents.
func (c *cluster) provisionInitial(ctx context.Context) error {
	now := c.lab.now()
	v := c.initialValidity(now)
	if c.full() {
		lb, err := netsim.ListenBalancer(c.endpoint())
		if err != nil {
			return fmt.Errorf("cluster %s: listening on its endpoint %s: %w (is another lab using address block %d? pick another with --address-block)", c.key(), c.endpoint(), err, c.lab.o.AddressBlock)
		}
		c.lb = lb
		c.lab.ownsBlock.Store(true)
	}
	var cps []*machine
	for i := 0; i < c.lab.o.ControlPlaneReplicas; i++ {
		m, err := c.newMachine(ctx, controlPlane, i == 0, now)
		if err != nil {
			return err
		}
		cps = append(cps, m)
	}
	var workers []*machine
	for i := 0; i < c.lab.o.Workers; i++ {
		m, err := c.newMachine(ctx, worker, false, now)
		if err != nil {
			return err
		}
		workers = append(workers, m)
	}
	// Start the control-plane nodes in parallel: each full one boots a real API server.
	if err := forEach(ctx, len(cps), len(cps), func(i int) error {
		n, err := c.startNode(ctx, cps[i], v, true)
		if err != nil {
			return err
		}
		c.mu.Lock()
		cps[i].node = n
		c.mu.Unlock()
		return nil
	}); err != nil {
		return err
	}
	for i, m := range workers {
		rotate := !(c.spec.Scenario == KubeletRotationOff && i == 0)
		n, err := c.startNode(ctx, m, v, rotate)
		if err != nil {
			return err
		}
		c.mu.Lock()
		m.node = n
		c.mu.Unlock()
	}
	all := append(cps, workers...)
	c.mu.Lock()
	for _, m := range all {
		m.phase = phaseRunning
		m.providerID = "vsphere://" + vsphereUUID()
	}
	c.mu.Unlock()
	if c.full() {
		c.syncBalancer()
		cs, err := c.workloadClient()
		if err != nil {
			return err
		}
		c.workload = cs
		if err := c.bootstrapWorkload(ctx, cs); err != nil {
			return err
		}
		for _, m := range all {
			if err := c.registerNode(ctx, cs, m.node); err != nil {
				return err
			}
		}
	}
	a := c.lab.api
	for _, m := range all {
		if err := a.patch(ctx, a.apiVersion(clusterGroup), "Machine", c.spec.Namespace, m.name, obj{"spec": obj{"providerID": m.providerID}}); err != nil {
			return err
		}
		if err := c.patchMachineStatus(ctx, m); err != nil {
			return err
		}
		if m.role == controlPlane {
			if err := c.kubeadmConfigExpiry(ctx, m); err != nil {
				return err
			}
		}
	}
	return nil
}

// startControllers starts the informers and one rollout loop per cluster.
func (l *Lab) startControllers() error {
	// controller-runtime's cache logs through its global logger and warns,
	// with a stack trace, when none was set.
	crlog.SetLogger(logr.FromSlogHandler(l.o.Logger.Handler()))
	cfg, err := l.server.RESTConfig()
	if err != nil {
		return err
	}
	scheme, err := capi.NewScheme()
	if err != nil {
		return err
	}
	if l.cache, err = cache.New(cfg, cache.Options{Scheme: scheme}); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	byKey := map[string]*cluster{}
	for _, c := range l.clusters {
		byKey[c.key()] = c
	}
	wakeFor := func(o any) {
		u, ok := o.(*unstructured.Unstructured)
		if !ok {
			if t, ok := o.(toolscache.DeletedFinalStateUnknown); ok {
				u, _ = t.Obj.(*unstructured.Unstructured)
			}
		}
		if u == nil {
			return
		}
		name := u.GetLabels()[clusterNameLabel]
		if u.GetKind() == "Cluster" {
			name = u.GetName()
		}
		if c, ok := byKey[u.GetNamespace()+"/"+name]; ok {
			c.poke()
		}
	}
	handler := toolscache.ResourceEventHandlerFuncs{
		AddFunc:    wakeFor,
		UpdateFunc: func(_, n any) { wakeFor(n) },
		DeleteFunc: wakeFor,
	}
	for _, kind := range []struct{ group, kind string }{
		{controlPlaneGroup, "KubeadmControlPlane"}, {clusterGroup, "MachineDeployment"}, {clusterGroup, "Cluster"},
	} {
		u := newObject(l.api.apiVersion(kind.group), kind.kind, "", "")
		inf, err := l.cache.GetInformer(ctx, u)
		if err != nil {
			return err
		}
		if _, err := inf.AddEventHandler(handler); err != nil {
			return err
		}
	}
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		_ = l.cache.Start(ctx)
	}()
	syncCtx, syncCancel := context.WithTimeout(ctx, time.Minute)
	defer syncCancel()
	if !l.cache.WaitForCacheSync(syncCtx) {
		return errors.New("the lab's informers did not sync")
	}
	for _, c := range l.clusters {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			c.run(ctx)
		}()
		c.poke()
	}
	return nil
}

// Kubeconfig returns the Supervisor's admin kubeconfig, context ContextName.
func (l *Lab) Kubeconfig() ([]byte, error) { return l.server.Kubeconfig(ContextName) }

// Clusters lists the clusters the lab created.
func (l *Lab) Clusters() []ClusterSpec {
	out := make([]ClusterSpec, 0, len(l.clusters))
	for _, c := range l.clusters {
		if c != nil {
			out = append(out, c.spec)
		}
	}
	return out
}

// Close stops the controllers, every node and the Supervisor. It is safe on
// a partly started lab.
func (l *Lab) Close() {
	if l.cancel != nil {
		l.cancel()
	}
	l.wg.Wait()
	var wg sync.WaitGroup
	for _, c := range l.clusters {
		if c != nil {
			wg.Go(c.shutdown)
		}
	}
	wg.Wait()
	l.vsphere.close()
	l.server.Stop()
	// Only one lab at a time can bind a block's cluster endpoints, so a lab
	// that did owns the block's address on lo, even one a killed lab left.
	if l.addedULA || l.ownsBlock.Load() {
		removeLoopbackULA(l.o.AddressBlock)
	}
}

// hostKey is a Supervisor node's SSH host key: derived from the state
// directory's seed and the node's address, so a lab restarted on the same
// state directory presents the same keys at the same addresses (users'
// known_hosts stay valid).
func (l *Lab) hostKey(ip net.IP) ed25519.PrivateKey {
	sum := sha256.Sum256(append(append([]byte(nil), l.hostKeySeed...), ip.String()...))
	return ed25519.NewKeyFromSeed(sum[:])
}

// machineHostKey is a cluster machine's SSH host key: derived from the seed
// and the machine's name, so every new machine gets a new key as a new VM
// would, also at an address an old machine released.
func (l *Lab) machineHostKey(machine string) ed25519.PrivateKey {
	sum := sha256.Sum256(append(append([]byte(nil), l.hostKeySeed...), "machine/"+machine...))
	return ed25519.NewKeyFromSeed(sum[:])
}

func loadHostKeySeed(stateDir string) ([]byte, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, err
	}
	path := filepath.Join(stateDir, hostKeySeedFile)
	seed, err := os.ReadFile(path)
	if err == nil && len(seed) == 32 {
		return seed, nil
	}
	seed = make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, seed, 0o600); err != nil {
		return nil, fmt.Errorf("writing the host key seed: %w", err)
	}
	return seed, nil
}

// kubeadmVersion asks the nodes' kubeadm for its version.
func kubeadmVersion(ctx context.Context, kubeadm string) (string, error) {
	out, err := exec.CommandContext(ctx, kubeadm, "version", "-o", "short").Output()
	if err != nil {
		return "", fmt.Errorf("running %s version: %w", kubeadm, err)
	}
	return strings.TrimSpace(string(out)), nil
}

func (c *cluster) shutdown() {
	if c.lb != nil {
		_ = c.lb.Close()
	}
	c.mu.Lock()
	var nodes []*node
	for _, m := range c.machines {
		if m.node != nil {
			nodes = append(nodes, m.node)
		}
	}
	c.mu.Unlock()
	var wg sync.WaitGroup
	for _, n := range nodes {
		wg.Go(n.stop)
	}
	wg.Wait()
}

// forEach runs fn for 0..n-1 with at most par at a time and returns the
// first error; once ctx ends it starts no more.
func forEach(ctx context.Context, n, par int, fn func(int) error) error {
	var g errgroup.Group
	g.SetLimit(max(par, 1))
	for i := 0; i < n && ctx.Err() == nil; i++ {
		g.Go(func() error { return fn(i) })
	}
	if err := g.Wait(); err != nil {
		return err
	}
	return ctx.Err()
}
