package lab

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/tkgcert/tkgcert/internal/capi"
	"github.com/tkgcert/tkgcert/internal/pki"
)

// Scenario shapes one cluster's state.
type Scenario string

// The scenarios a cluster can be created in.
const (
	// Healthy leaf certificates expire in about 300 days.
	Healthy Scenario = "healthy"
	// Expiring leaf certificates expire in about 20 days.
	Expiring Scenario = "expiring"
	// Expired leaf certificates expired yesterday; the cluster's API rejects clients.
	Expired Scenario = "expired"
	// KubeletRotationOff has a worker whose kubelet does not rotate its certificates.
	KubeletRotationOff Scenario = "kubelet-rotation-off"
	// Stuck machines never leave Provisioning once a rollout starts.
	Stuck Scenario = "stuck"
	// Paused has its KubeadmControlPlane paused.
	Paused Scenario = "paused"
)

// Scenarios lists every scenario.
var Scenarios = []Scenario{Healthy, Expiring, Expired, KubeletRotationOff, Stuck, Paused}

// leafLifetime is how long kubeadm's leaf certificates are valid.
const leafLifetime = 365 * 24 * time.Hour

// remaining is how long the initial leaf certificates of a scenario have left.
func (s Scenario) remaining() time.Duration {
	switch s {
	case Expiring:
		return 20 * 24 * time.Hour
	case Expired:
		return -24 * time.Hour
	default:
		return 300 * 24 * time.Hour
	}
}

// ClusterSpec names a cluster to create and its scenario.
type ClusterSpec struct {
	Namespace, Name string
	Scenario        Scenario
	// Light clusters have no workload API server (for scale runs): their
	// nodes' SSH and TLS endpoints are real all the same.
	Light bool
	// Remaining overrides the scenario's time left on the initial leaf
	// certificates (light clusters spread their expiry dates with it).
	Remaining time.Duration
}

func (c ClusterSpec) String() string { return c.Namespace + "/" + c.Name + ":" + string(c.Scenario) }

// ParseClusterSpec parses NAMESPACE/NAME[:SCENARIO][,light] (default
// scenario healthy; light: no workload API server).
func ParseClusterSpec(s string) (ClusterSpec, error) {
	body, opt, hasOpt := strings.Cut(s, ",")
	if hasOpt && opt != "light" {
		return ClusterSpec{}, fmt.Errorf("cluster %q: unknown option %q (the only option is light)", s, opt)
	}
	ref, scenario, hasScenario := strings.Cut(body, ":")
	ns, name, ok := strings.Cut(ref, "/")
	if !ok || ns == "" || name == "" {
		return ClusterSpec{}, fmt.Errorf("cluster %q: want NAMESPACE/NAME[:SCENARIO][,light], for example tkg-cluster-ns/tkg-cluster:healthy", s)
	}
	for _, part := range []string{ns, name} {
		if errs := validation.IsDNS1123Label(part); len(errs) > 0 {
			return ClusterSpec{}, fmt.Errorf("cluster %q: %q is not a valid name: %s", s, part, strings.Join(errs, "; "))
		}
	}
	spec := ClusterSpec{Namespace: ns, Name: name, Scenario: Healthy, Light: hasOpt}
	if hasScenario {
		spec.Scenario = Scenario(scenario)
		valid := false
		for _, sc := range Scenarios {
			valid = valid || sc == spec.Scenario
		}
		if !valid {
			return ClusterSpec{}, fmt.Errorf("cluster %q: unknown scenario %q (one of %v)", s, scenario, Scenarios)
		}
	}
	return spec, nil
}

// DefaultCluster is the seed's cluster.
var DefaultCluster = ClusterSpec{Namespace: "tkg-cluster-ns", Name: "tkg-cluster", Scenario: Healthy}

// Options configures a lab.
type Options struct {
	// StateDir holds the lab's files: node disks, logs, the Supervisor kubeconfig.
	StateDir string
	// BinDir is searched first for etcd, kube-apiserver and kubeadm.
	BinDir string
	// CAPIVersion is the Cluster API version the Supervisor serves.
	CAPIVersion capi.APIVersion
	// Clusters to create (default: DefaultCluster).
	Clusters []ClusterSpec
	// Generate adds this many light clusters gen-NNN in namespace tkg-fleet.
	Generate int
	// ControlPlaneReplicas per cluster (default 3).
	ControlPlaneReplicas int
	// Workers per cluster (default 1).
	Workers int
	// ProvisionDelay is how long a new machine takes to come up.
	ProvisionDelay time.Duration
	// SSHPort is the nodes' SSH port (default 22).
	SSHPort int
	// SSHUser is the nodes' SSH user (default vmware-system-user).
	SSHUser string
	// KubernetesVersion is the KCP's and nodes' version (default v1.21.6+vmware.1).
	KubernetesVersion string
	// KeyAlgorithm for full clusters (default RSA-2048); light clusters use ECDSA P-256.
	KeyAlgorithm pki.KeyAlgorithm
	// AddressBlock is the second octet of the first cluster's loopback
	// addresses (default 10); labs running side by side need distinct blocks.
	AddressBlock int
	// VSphere is the Supervisor side: the lab VMCA, a vCenter endpoint, the
	// Supervisor control-plane VMs and ESXi hosts (nil: DefaultVSphere; the
	// zero VSphere: none). It takes the /24 after the clusters' in the block.
	VSphere *VSphere
	// Logger receives progress (nil: discard).
	Logger *slog.Logger
}

// Defaults for Options.
const (
	DefaultSSHUser           = "vmware-system-user"
	DefaultKubernetesVersion = "v1.21.6+vmware.1"
	DefaultProvisionDelay    = 5 * time.Second
	FleetNamespace           = "tkg-fleet"
)

func (o *Options) setDefaults() {
	if o.CAPIVersion == "" {
		o.CAPIVersion = capi.V1Beta1
	}
	if len(o.Clusters) == 0 && o.Generate == 0 {
		o.Clusters = []ClusterSpec{DefaultCluster}
	}
	if o.ControlPlaneReplicas == 0 {
		o.ControlPlaneReplicas = 3
	}
	if o.SSHPort == 0 {
		o.SSHPort = 22
	}
	if o.SSHUser == "" {
		o.SSHUser = DefaultSSHUser
	}
	if o.KubernetesVersion == "" {
		o.KubernetesVersion = DefaultKubernetesVersion
	}
	if o.KeyAlgorithm == "" {
		o.KeyAlgorithm = pki.RSA2048
	}
	if o.AddressBlock == 0 {
		o.AddressBlock = DefaultAddressBlock
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.VSphere == nil {
		v := DefaultVSphere
		o.VSphere = &v
	}
}

// validate checks the options; it changes nothing.
func (o *Options) validate() error {
	if o.StateDir == "" {
		return fmt.Errorf("a state directory is required")
	}
	if o.ControlPlaneReplicas < 1 || o.ControlPlaneReplicas > 7 {
		return fmt.Errorf("--control-plane-replicas %d: want 1 to 7", o.ControlPlaneReplicas)
	}
	if o.Workers < 0 || o.Workers > 20 {
		return fmt.Errorf("--workers %d: want 0 to 20", o.Workers)
	}
	if o.Generate < 0 || o.Generate > 2000 {
		return fmt.Errorf("--generate %d: want 0 to 2000", o.Generate)
	}
	if o.ProvisionDelay < 0 {
		return fmt.Errorf("--provision-delay must not be negative")
	}
	if o.SSHPort < 1 || o.SSHPort > 65535 {
		return fmt.Errorf("--ssh-port %d: want 1 to 65535", o.SSHPort)
	}
	if err := o.VSphere.validate(); err != nil {
		return err
	}
	clusters := len(o.Clusters) + o.Generate
	blocks, what := clusters, fmt.Sprintf("%d clusters", clusters)
	if !o.VSphere.empty() {
		blocks++ // the Supervisor side's /24 after the clusters'
		what += " and the Supervisor side"
	}
	if o.AddressBlock < 1 || o.AddressBlock+(blocks-1)/256 > 255 {
		return fmt.Errorf("--address-block %d leaves no room for %s on 127.0.0.0/8", o.AddressBlock, what)
	}
	seen := map[string]bool{}
	for _, c := range o.Clusters {
		key := c.Namespace + "/" + c.Name
		if seen[key] {
			return fmt.Errorf("cluster %s given twice", key)
		}
		seen[key] = true
		if c.Namespace == FleetNamespace && strings.HasPrefix(c.Name, "gen-") && o.Generate > 0 {
			return fmt.Errorf("cluster %s collides with the generated clusters (%s/gen-NNN)", key, FleetNamespace)
		}
	}
	return nil
}
