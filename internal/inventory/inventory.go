package inventory

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/certs/names"
	"github.com/tkgcert/tkgcert/internal/fleet"
	"github.com/tkgcert/tkgcert/internal/kubeconfig"
	"github.com/tkgcert/tkgcert/internal/remote"
	"github.com/tkgcert/tkgcert/internal/source"
)

// DefaultParallel bounds concurrent node reads.
const DefaultParallel = 32

// Options configures an inventory.
type Options struct {
	// Namespace limits the scope ("" for all namespaces).
	Namespace string
	// Clusters limits the scope to these names (in Namespace).
	Clusters []string
	// Selector, when set, limits the scope to Clusters whose labels match.
	Selector labels.Selector
	// Source reads the nodes.
	Source source.Kind
	// Parallel bounds concurrent node reads (default DefaultParallel).
	Parallel int
	// SSH configures SSH connections (SSH and kubeadm sources).
	SSH remote.Options
	// Timeout bounds each node read (default 60s).
	Timeout time.Duration
	// Now is the clock for residual times (default time.Now).
	Now func() time.Time
	// Progress, when set, is called after each node with done and total.
	Progress func(done, total int)
}

// Run inventories the clusters in scope. The error is for failures that
// leave nothing to report (the Supervisor unreachable, a named cluster not
// found); everything else is recorded in the report.
func Run(ctx context.Context, r *fleet.Reader, o Options) (*Report, error) {
	clusters, err := r.Clusters(ctx, o.Namespace, o.Clusters)
	if err != nil {
		return nil, err
	}
	if o.Selector != nil && !o.Selector.Empty() {
		clusters = slices.DeleteFunc(clusters, func(c fleet.Cluster) bool { return !o.Selector.Matches(labels.Set(c.Labels)) })
	}
	return RunFor(ctx, r, clusters, o), ctx.Err()
}

// RunFor inventories clusters already read with r (o's scope fields are
// not consulted), for a caller that needs the clusters too.
func RunFor(ctx context.Context, r *fleet.Reader, clusters []fleet.Cluster, o Options) *Report {
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	if o.Timeout == 0 {
		o.Timeout = 60 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Source == "" {
		o.Source = source.SSH
	}
	now := o.Now()
	rep := &Report{APIVersion: APIVersion, Kind: Kind, GeneratedAt: now.UTC(), Source: string(o.Source),
		Clusters: make([]ClusterReport, len(clusters))}
	reader := source.New(o.Source, o.SSH.Timeout)
	if o.Source != source.TLS {
		pruneKnownHosts(clusters, o.SSH)
	}

	// Per cluster: secrets, SSH key, node list; then its nodes, each
	// through one pool bounded fleet-wide, so a large cluster cannot starve
	// the others. A cluster's nodes start as soon as its secrets are read:
	// the Supervisor's latency overlaps the nodes' SSH work.
	var mu sync.Mutex
	var dialers []*remote.Dialer
	defer func() {
		for _, d := range dialers {
			d.Close()
		}
	}()
	clusterSem := make(chan struct{}, o.Parallel)
	nodeSem := make(chan struct{}, o.Parallel)
	var clustersWG, nodesWG sync.WaitGroup
	total, done := 0, 0
	for i := range clusters {
		clustersWG.Add(1)
		clusterSem <- struct{}{}
		go func() {
			defer clustersWG.Done()
			cr, access, nodes, dialer := prepareCluster(ctx, r, &clusters[i], o, reader.Kind(), now)
			<-clusterSem
			mu.Lock()
			rep.Clusters[i] = cr
			if dialer != nil {
				dialers = append(dialers, dialer)
			}
			total += len(nodes)
			mu.Unlock()
			for j, n := range nodes {
				nodesWG.Add(1)
				go func() {
					defer nodesWG.Done()
					nodeSem <- struct{}{}
					defer func() { <-nodeSem }()
					nctx, cancel := context.WithTimeout(ctx, o.Timeout)
					res := reader.Read(nctx, access, n)
					cancel()
					nr := nodeReport(&clusters[i], n, res, now)
					mu.Lock()
					rep.Clusters[i].Nodes[j] = nr
					done++
					d, t := done, total
					mu.Unlock()
					if o.Progress != nil {
						o.Progress(d, t)
					}
				}()
			}
		}()
	}
	clustersWG.Wait()
	nodesWG.Wait()
	return rep
}

// pruneKnownHosts removes from the known_hosts file that accept-new
// maintains the entries of machines gone from clusters, whose Machines
// were all listed; clusters out of scope are left alone. A failure is
// passed to the SSH options' Warn: the nodes can be read all the same.
func pruneKnownHosts(clusters []fleet.Cluster, o remote.Options) {
	if o.HostKeyPolicy != remote.AcceptNew && o.HostKeyPolicy != "" {
		return // strict: the user keeps the file
	}
	path := o.KnownHostsFile
	if path == "" {
		var err error
		if path, err = remote.DefaultKnownHostsPath(); err != nil {
			return
		}
	}
	var scope, live []string
	for i := range clusters {
		cl := &clusters[i]
		scope = append(scope, remote.ClusterKey(cl.Namespace, cl.Name))
		for _, m := range cl.Machines {
			if a := machineAlias(cl, m); a != "" {
				live = append(live, a)
			}
			// Before it had a providerID the machine may have been
			// recorded under its UID.
			if a := remote.MachineAlias(cl.Namespace, cl.Name, "", m.UID); a != "" {
				live = append(live, a)
			}
		}
	}
	if _, err := remote.PruneMachines(path, scope, live); err != nil && o.Warn != nil {
		o.Warn(fmt.Sprintf("WARNING: not pruning the host keys of deleted machines: %v", err))
	}
}

// prepareCluster reads a cluster's Supervisor secrets and works out its nodes.
func prepareCluster(ctx context.Context, r *fleet.Reader, cl *fleet.Cluster, o Options, kind source.Kind, now time.Time) (ClusterReport, source.ClusterAccess, []source.Node, *remote.Dialer) {
	cr := ClusterReport{Namespace: cl.Namespace, Name: cl.Name, ClusterAPIVersion: string(cl.APIVersion),
		Phase: cl.Phase, RolloutInProgress: cl.RolloutInProgress()}
	mgmt := source.ReadManagementCertificates(ctx, r.Client(), cl.Namespace, cl.Name)
	cr.Errors = append(cr.Errors, mgmt.Errors...)
	for _, a := range mgmt.Authorities {
		a.Stamp(now)
		cr.CertificateAuthorities = append(cr.CertificateAuthorities, a)
	}
	if mgmt.Kubeconfig != nil {
		c := *mgmt.Kubeconfig
		c.Stamp(now)
		cr.KubeconfigCertificate = &c
	}
	access := source.ClusterAccess{CAs: mgmt.CACertificates}

	nodes, errs := nodesOf(ctx, r, cl)
	cr.Errors = append(cr.Errors, errs...)
	cr.Nodes = make([]NodeReport, len(nodes))
	for i, n := range nodes {
		cr.Nodes[i] = NodeReport{Name: n.Name, Address: n.Address, HostKeyAlias: n.HostKeyAlias, Role: n.Role()}
	}
	var dialer *remote.Dialer
	if kind != source.TLS && len(nodes) > 0 {
		key, err := source.SSHKey(ctx, r.Client(), cl.Namespace, cl.Name)
		if err == nil {
			dialer, err = remote.NewDialer(key, o.SSH)
		}
		if err != nil {
			// Without SSH no node can be read: say so on each node.
			for i := range cr.Nodes {
				cr.Nodes[i].Errors = []string{fmt.Sprintf("no SSH access: %v", err)}
			}
			return cr, access, nil, nil
		}
		access.Dialer = dialer
	}
	return cr, access, nodes, dialer
}

// nodesOf lists the cluster's nodes with their addresses: from the Machines'
// status.addresses, and from the workload API's Node objects for machines
// that have a node but no address.
func nodesOf(ctx context.Context, r *fleet.Reader, cl *fleet.Cluster) ([]source.Node, []string) {
	var nodes []source.Node
	var missing []fleet.Machine
	for _, m := range cl.Machines {
		if m.NodeName == "" && m.InternalIP == "" {
			continue // not provisioned yet: no node to read
		}
		if m.InternalIP == "" {
			missing = append(missing, m)
			continue
		}
		nodes = append(nodes, source.Node{Name: nodeName(m), Address: m.InternalIP, ControlPlane: m.ControlPlane, HostKeyAlias: machineAlias(cl, m)})
	}
	if len(missing) == 0 {
		return nodes, nil
	}
	addrs, err := workloadAddresses(ctx, r, cl)
	var errs []string
	for _, m := range missing {
		ip, ok := addrs[nodeName(m)]
		if !ok {
			msg := fmt.Sprintf("machine %s: no address in its status", m.Name)
			if err != nil {
				msg += fmt.Sprintf(", and the workload API could not say: %v", err)
			} else {
				msg += " nor on its Node object"
			}
			errs = append(errs, msg)
			continue
		}
		nodes = append(nodes, source.Node{Name: nodeName(m), Address: ip, ControlPlane: m.ControlPlane, HostKeyAlias: machineAlias(cl, m)})
	}
	return nodes, errs
}

// machineAlias is what m's host keys are recorded under.
func machineAlias(cl *fleet.Cluster, m fleet.Machine) string {
	return remote.MachineAlias(cl.Namespace, cl.Name, m.ProviderID, m.UID)
}

func nodeName(m fleet.Machine) string {
	if m.NodeName != "" {
		return m.NodeName
	}
	return m.Name
}

// workloadAddresses reads the InternalIP of every Node of the cluster,
// with the kubeconfig secret (held in memory only).
func workloadAddresses(ctx context.Context, r *fleet.Reader, cl *fleet.Cluster) (map[string]string, error) {
	sec := &corev1.Secret{}
	if err := r.Client().Get(ctx, types.NamespacedName{Namespace: cl.Namespace, Name: cl.Name + names.KubeconfigSecretSuffix}, sec); err != nil {
		return nil, err
	}
	return nodeAddresses(ctx, sec.Data["value"], sec.Namespace+"/"+sec.Name, cl.Endpoint)
}

// nodeAddresses lists the workload cluster's Nodes with the kubeconfig
// data of the named secret, which must name endpoint as its server (see
// kubeconfig.RESTConfig).
func nodeAddresses(ctx context.Context, data []byte, secret, endpoint string) (map[string]string, error) {
	cfg, err := kubeconfig.RESTConfig(data, secret, endpoint)
	if err != nil {
		return nil, err
	}
	cfg.Timeout = 15 * time.Second
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, err
	}
	list, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, n := range list.Items {
		for _, a := range n.Status.Addresses {
			if a.Type == corev1.NodeInternalIP {
				out[n.Name] = a.Address
				break
			}
		}
	}
	return out, nil
}

// nodeReport is what the source read from n, each certificate stamped with
// its residual time and located on the node.
func nodeReport(cl *fleet.Cluster, n source.Node, res source.Result, now time.Time) NodeReport {
	nr := NodeReport{Name: n.Name, Address: n.Address, HostKeyAlias: n.HostKeyAlias, Role: n.Role(), Errors: res.Errors,
		Certificates: []certs.Info{}, CertificateAuthorities: []certs.Info{}}
	locate := func(c *certs.Info) {
		c.Stamp(now)
		if c.Location.Kind == "" {
			c.Location = certs.Location{Kind: certs.NodeFile, Node: n.Name, Address: n.Address}
		}
		c.Location.Namespace, c.Location.Cluster = cl.Namespace, cl.Name
	}
	if e := res.Expiration; e != nil {
		nr.Certificates = append(nr.Certificates, e.Certificates...)
		nr.CertificateAuthorities = append(nr.CertificateAuthorities, e.Authorities...)
		for i := range nr.Certificates {
			locate(&nr.Certificates[i])
		}
		for i := range nr.CertificateAuthorities {
			locate(&nr.CertificateAuthorities[i])
		}
	}
	if k := res.Kubelet; k != nil {
		kr := &KubeletReport{RotateCertificates: k.RotateCertificates}
		if k.ClientCertificate != nil {
			c := *k.ClientCertificate
			locate(&c)
			kr.ClientCertificate = &c
		}
		nr.Kubelet = kr
	}
	return nr
}
