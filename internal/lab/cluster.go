package lab

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"fmt"
	"net"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"golang.org/x/crypto/ssh"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/tkgcert/tkgcert/internal/certs/names"
	"github.com/tkgcert/tkgcert/internal/lab/netsim"
	"github.com/tkgcert/tkgcert/internal/pki"
)

type role string

const (
	controlPlane role = names.RoleControlPlane
	worker       role = names.RoleWorker
)

// Machine phases, as Cluster API names them.
const (
	phaseProvisioning = "Provisioning"
	phaseRunning      = "Running"
	phaseDeleting     = "Deleting"
)

// machine is the lab's record of one Cluster API Machine and its node.
type machine struct {
	name       string
	role       role
	setName    string // workers: owning MachineSet
	uid        types.UID
	created    time.Time
	phase      string
	readyAt    time.Time // when provisioning completes
	providerID string
	init       bool // the first control-plane machine runs kubeadm init
	drained    bool // taken out of the endpoint while being deleted
	outdated   bool // as last written to the UpToDate condition (v1beta2)
	node       *node
}

// cluster is one TKG cluster: its objects, PKI and nodes.
type cluster struct {
	lab   *Lab
	spec  ClusterSpec
	index int
	dir   string

	cas        *pki.ClusterCAs
	alg        pki.KeyAlgorithm
	sshPriv    ed25519.PrivateKey
	sshKey     ssh.Signer
	sshPub     ssh.PublicKey
	endpointIP net.IP
	lb         *netsim.Balancer

	kcpName, mdName string
	clusterUID      types.UID
	kcpUID, mdUID   types.UID
	msName          string
	msUID           types.UID
	msCreated       time.Time
	workload        kubernetes.Interface // the lab's client of the workload API (full clusters)

	mu       sync.Mutex
	machines map[string]*machine
	nextHost int
	released []int // node host numbers of deleted machines, oldest first
	wake     chan struct{}
}

func (c *cluster) key() string { return c.spec.Namespace + "/" + c.spec.Name }

func (c *cluster) endpoint() string { return net.JoinHostPort(c.endpointIP.String(), "6443") }

// full clusters have a workload API server.
func (c *cluster) full() bool { return !c.spec.Light }

// newCluster prepares a cluster's PKI and keys; create writes it.
func newCluster(l *Lab, spec ClusterSpec, index int) (*cluster, error) {
	c := &cluster{
		lab:        l,
		spec:       spec,
		index:      index,
		dir:        filepath.Join(l.o.StateDir, "clusters", spec.Namespace, spec.Name),
		alg:        l.o.KeyAlgorithm,
		endpointIP: clusterEndpointIP(l.o.AddressBlock, index),
		kcpName:    spec.Name + "-control-plane",
		mdName:     spec.Name + "-workers-" + randomSuffix(5),
		machines:   map[string]*machine{},
		nextHost:   firstNodeHost,
		wake:       make(chan struct{}, 1),
	}
	if spec.Light {
		c.alg = pki.ECDSAP256
	}
	notBefore := c.initialValidity(l.now()).NotBefore.Add(-time.Minute)
	cas, err := pki.NewClusterCAs(pki.CAOptions{Validity: pki.ValidFor(notBefore, pki.CAValidityPeriod), KeyAlgorithm: c.alg})
	if err != nil {
		return nil, fmt.Errorf("cluster %s: generating CAs: %w", c.key(), err)
	}
	c.cas = cas
	_, c.sshPriv, err = ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	if c.sshKey, err = ssh.NewSignerFromSigner(c.sshPriv); err != nil {
		return nil, err
	}
	c.sshPub = c.sshKey.PublicKey()
	return c, nil
}

// initialValidity is the validity of the leaf certificates the cluster was
// created with: a year-long certificate with the scenario's time left.
func (c *cluster) initialValidity(now time.Time) pki.Validity {
	left := c.spec.Scenario.remaining()
	if c.spec.Remaining != 0 {
		left = c.spec.Remaining
	}
	notAfter := now.Add(left)
	return pki.Validity{NotBefore: notAfter.Add(-leafLifetime), NotAfter: notAfter}
}

// freshValidity is what a newly provisioned machine gets, as kubeadm makes
// it (KubeadmCert.GetConfig): NotBefore backdated five minutes, NotAfter a
// year from now. A certificate renewed in place (tkgcert recover) a minute
// before a machine is provisioned must not outlive the new machine's.
func freshValidity(now time.Time) pki.Validity {
	return pki.Validity{NotBefore: now.Add(-pki.Backdate), NotAfter: now.Add(leafLifetime)}
}

// sshPrivateKeyPEM is the cluster's SSH key in the OpenSSH format that the
// <cluster>-ssh secret carries.
func (c *cluster) sshPrivateKeyPEM() ([]byte, error) {
	block, err := ssh.MarshalPrivateKey(c.sshPriv, c.spec.Name)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(block), nil
}

// nextNodeIP is the address of a new machine: the oldest address a deleted
// machine released, as IPAM hands them out again, or else a fresh one. So
// every rollout gives some new machine an address that an old machine
// (with another host key) had.
func (c *cluster) nextNodeIP() (net.IP, error) {
	if len(c.released) > 0 {
		host := c.released[0]
		c.released = c.released[1:]
		return nodeIP(c.lab.o.AddressBlock, c.index, host)
	}
	ip, err := nodeIP(c.lab.o.AddressBlock, c.index, c.nextHost)
	if err != nil {
		return nil, err
	}
	c.nextHost++
	return ip, nil
}

// create writes the cluster's objects and secrets to the Supervisor.
func (c *cluster) create(ctx context.Context) error {
	sshPrivatePEM, err := c.sshPrivateKeyPEM()
	if err != nil {
		return err
	}
	if err := c.createCluster(ctx); err != nil {
		return err
	}
	if err := c.createKCP(ctx); err != nil {
		return err
	}
	if c.lab.o.Workers > 0 {
		if err := c.createMachineDeployment(ctx); err != nil {
			return err
		}
	}
	return c.createSecrets(ctx, sshPrivatePEM)
}

// createCluster creates the Cluster object.
func (c *cluster) createCluster(ctx context.Context) error {
	a := c.lab.api
	ns := c.spec.Namespace
	cl := newObject(a.apiVersion(clusterGroup), "Cluster", ns, c.spec.Name)
	cl.SetLabels(map[string]string{"tkg.tanzu.vmware.com/cluster-name": c.spec.Name})
	spec := obj{
		"clusterNetwork": obj{
			"pods":          obj{"cidrBlocks": []any{"192.168.0.0/16"}},
			"services":      obj{"cidrBlocks": []any{"10.96.0.0/12"}},
			"serviceDomain": "cluster.local",
		},
		"controlPlaneEndpoint": obj{"host": c.endpointIP.String(), "port": int64(6443)},
		"controlPlaneRef":      a.ref(controlPlaneGroup, string(a.version), "KubeadmControlPlane", c.kcpName, ns),
		"infrastructureRef":    a.ref(infraGroup, infraVersion, "VSphereCluster", c.spec.Name, ns),
	}
	cl.Object["spec"] = spec
	if err := a.create(ctx, cl); err != nil {
		return err
	}
	c.clusterUID = cl.GetUID()
	return nil
}

// createKCP creates the KubeadmControlPlane, owned by the Cluster.
func (c *cluster) createKCP(ctx context.Context) error {
	a := c.lab.api
	ns := c.spec.Namespace
	labels := map[string]string{clusterNameLabel: c.spec.Name}
	kcp := newObject(a.apiVersion(controlPlaneGroup), "KubeadmControlPlane", ns, c.kcpName)
	kcp.SetLabels(labels)
	kcp.Object["metadata"].(obj)["ownerReferences"] = []any{ownerRef(a.apiVersion(clusterGroup), "Cluster", c.spec.Name, c.clusterUID, true)}
	if c.spec.Scenario == Paused {
		kcp.SetAnnotations(map[string]string{pausedAnnotation: ""})
	}
	kcpSpec := obj{
		"replicas": int64(c.lab.o.ControlPlaneReplicas),
		"version":  c.lab.o.KubernetesVersion,
		"kubeadmConfigSpec": obj{
			"clusterConfiguration": obj{"certificatesDir": "/etc/kubernetes/pki"},
		},
	}
	infraRef := a.ref(infraGroup, infraVersion, "VSphereMachineTemplate", c.kcpName, ns)
	strategy := obj{"type": "RollingUpdate", "rollingUpdate": obj{"maxSurge": int64(1)}}
	if a.beta1() {
		kcpSpec["machineTemplate"] = obj{"infrastructureRef": infraRef}
		kcpSpec["rolloutStrategy"] = strategy
	} else {
		kcpSpec["machineTemplate"] = obj{"spec": obj{"infrastructureRef": infraRef}}
		kcpSpec["rollout"] = obj{"strategy": strategy}
	}
	kcp.Object["spec"] = kcpSpec
	if err := a.create(ctx, kcp); err != nil {
		return err
	}
	c.kcpUID = kcp.GetUID()
	return nil
}

// createSecrets creates the cluster's secrets, as Cluster API (CAs,
// kubeconfig) and TKG (SSH key) keep them, owned by the Cluster.
func (c *cluster) createSecrets(ctx context.Context, sshPrivatePEM []byte) error {
	ns := c.spec.Namespace
	labels := map[string]string{clusterNameLabel: c.spec.Name}
	secrets, err := c.cas.Secrets(ns, c.spec.Name)
	if err != nil {
		return err
	}
	kubeconfig, err := pki.KubeconfigSecret(ns, c.spec.Name, "https://"+c.endpoint(), c.cas.CA, c.initialValidity(c.lab.now()), c.alg)
	if err != nil {
		return err
	}
	secrets = append(secrets, kubeconfig, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: c.spec.Name + names.SSHSecretSuffix, Labels: labels},
		Type:       corev1.SecretTypeSSHAuth,
		Data: map[string][]byte{
			corev1.SSHAuthPrivateKey: sshPrivatePEM,
			"ssh-publickey":          ssh.MarshalAuthorizedKey(c.sshPub),
		},
	})
	for _, s := range secrets {
		s.OwnerReferences = []metav1.OwnerReference{{
			APIVersion: c.lab.api.apiVersion(clusterGroup), Kind: "Cluster", Name: c.spec.Name, UID: c.clusterUID,
		}}
		if err := c.lab.client.Create(ctx, s); err != nil {
			return fmt.Errorf("creating secret %s/%s: %w", ns, s.Name, err)
		}
	}
	return nil
}

func (c *cluster) createMachineDeployment(ctx context.Context) error {
	a := c.lab.api
	ns := c.spec.Namespace
	md := newObject(a.apiVersion(clusterGroup), "MachineDeployment", ns, c.mdName)
	md.SetLabels(map[string]string{clusterNameLabel: c.spec.Name})
	md.Object["metadata"].(obj)["ownerReferences"] = []any{ownerRef(a.apiVersion(clusterGroup), "Cluster", c.spec.Name, c.clusterUID, false)}
	template := obj{
		"clusterName":       c.spec.Name,
		"version":           c.lab.o.KubernetesVersion,
		"bootstrap":         obj{"configRef": a.ref(bootstrapGroup, string(a.version), "KubeadmConfigTemplate", c.mdName, ns)},
		"infrastructureRef": a.ref(infraGroup, infraVersion, "VSphereMachineTemplate", c.mdName, ns),
	}
	spec := obj{
		"clusterName": c.spec.Name,
		"replicas":    int64(c.lab.o.Workers),
		"selector":    obj{"matchLabels": obj{clusterNameLabel: c.spec.Name, deploymentNameLabel: c.mdName}},
		"template": obj{
			"metadata": obj{"labels": obj{clusterNameLabel: c.spec.Name, deploymentNameLabel: c.mdName}},
			"spec":     template,
		},
	}
	md.Object["spec"] = spec
	if err := a.create(ctx, md); err != nil {
		return err
	}
	c.mdUID = md.GetUID()
	return c.createMachineSet(ctx)
}

// createMachineSet makes the MachineDeployment's current MachineSet (a new
// one for every worker rollout, as Cluster API does).
func (c *cluster) createMachineSet(ctx context.Context) error {
	a := c.lab.api
	ns := c.spec.Namespace
	name := c.mdName + "-" + machineSetHash()
	ms := newObject(a.apiVersion(clusterGroup), "MachineSet", ns, name)
	ms.SetLabels(map[string]string{clusterNameLabel: c.spec.Name, deploymentNameLabel: c.mdName})
	ms.Object["metadata"].(obj)["ownerReferences"] = []any{ownerRef(a.apiVersion(clusterGroup), "MachineDeployment", c.mdName, c.mdUID, true)}
	ms.Object["spec"] = obj{
		"clusterName": c.spec.Name,
		"replicas":    int64(c.lab.o.Workers),
		"selector":    obj{"matchLabels": obj{clusterNameLabel: c.spec.Name, setNameLabel: name}},
		"template": obj{
			"metadata": obj{"labels": obj{clusterNameLabel: c.spec.Name, setNameLabel: name, deploymentNameLabel: c.mdName}},
			"spec": obj{
				"clusterName":       c.spec.Name,
				"version":           c.lab.o.KubernetesVersion,
				"bootstrap":         obj{"configRef": a.ref(bootstrapGroup, string(a.version), "KubeadmConfigTemplate", c.mdName, ns)},
				"infrastructureRef": a.ref(infraGroup, infraVersion, "VSphereMachineTemplate", c.mdName, ns),
			},
		},
	}
	if err := a.create(ctx, ms); err != nil {
		return err
	}
	c.msName, c.msUID, c.msCreated = name, ms.GetUID(), ms.GetCreationTimestamp().Time
	return nil
}

// newMachine creates a Machine (and its KubeadmConfig) in phase Provisioning.
func (c *cluster) newMachine(ctx context.Context, r role, init bool, readyAt time.Time) (*machine, error) {
	a := c.lab.api
	ns := c.spec.Namespace
	m := &machine{role: r, init: init, phase: phaseProvisioning, readyAt: readyAt}
	labels := map[string]string{clusterNameLabel: c.spec.Name}
	var owner obj
	if r == controlPlane {
		m.name = c.kcpName + "-" + randomSuffix(5)
		labels[controlPlaneLabel] = ""
		labels[controlPlaneNameLabel] = c.kcpName
		owner = ownerRef(a.apiVersion(controlPlaneGroup), "KubeadmControlPlane", c.kcpName, c.kcpUID, true)
	} else {
		m.name = c.msName + "-" + randomSuffix(5)
		m.setName = c.msName
		labels[deploymentNameLabel] = c.mdName
		labels[setNameLabel] = c.msName
		owner = ownerRef(a.apiVersion(clusterGroup), "MachineSet", c.msName, c.msUID, true)
	}
	u := newObject(a.apiVersion(clusterGroup), "Machine", ns, m.name)
	u.SetLabels(labels)
	u.SetFinalizers([]string{machineFinalizer})
	u.Object["metadata"].(obj)["ownerReferences"] = []any{owner}
	infraKind := "VSphereMachine"
	u.Object["spec"] = obj{
		"clusterName": c.spec.Name,
		"version":     c.lab.o.KubernetesVersion,
		"bootstrap": obj{
			"configRef":      a.ref(bootstrapGroup, string(a.version), "KubeadmConfig", m.name, ns),
			"dataSecretName": m.name,
		},
		"infrastructureRef": a.ref(infraGroup, infraVersion, infraKind, m.name, ns),
	}
	if err := a.create(ctx, u); err != nil {
		return nil, err
	}
	m.uid = u.GetUID()
	m.created = u.GetCreationTimestamp().Time
	kc := newObject(a.apiVersion(bootstrapGroup), "KubeadmConfig", ns, m.name)
	kc.SetLabels(labels)
	kc.Object["metadata"].(obj)["ownerReferences"] = []any{ownerRef(a.apiVersion(clusterGroup), "Machine", m.name, m.uid, true)}
	kc.Object["spec"] = obj{"format": "cloud-config"}
	if err := a.create(ctx, kc); err != nil {
		return nil, err
	}
	c.mu.Lock()
	c.machines[m.name] = m
	c.mu.Unlock()
	if err := c.patchMachineStatus(ctx, m); err != nil {
		return nil, err
	}
	return m, nil
}

// patchMachineStatus writes a machine's phase, node and addresses.
func (c *cluster) patchMachineStatus(ctx context.Context, m *machine) error {
	a := c.lab.api
	now := c.lab.now()
	running := m.node != nil && m.phase != phaseProvisioning
	status := obj{"phase": m.phase, "lastUpdated": rfc3339(now)}
	conds := []any{
		a.condition("Ready", running && m.phase == phaseRunning, "WaitingForInfrastructure", "", now),
		a.condition("BootstrapReady", true, "", "", now),
		a.condition("InfrastructureReady", running, "WaitingForInfrastructure", "", now),
		a.condition("NodeHealthy", running && m.phase == phaseRunning, "WaitingForNodeRef", "", now),
	}
	if !a.beta1() {
		conds = []any{
			a.condition("Available", running && m.phase == phaseRunning, "", "", now),
			a.condition("Ready", running && m.phase == phaseRunning, "", "", now),
			a.condition("BootstrapConfigReady", true, "", "", now),
			a.condition("InfrastructureReady", running, "", "", now),
			a.condition("NodeReady", running && m.phase == phaseRunning, "", "", now),
			a.condition("NodeHealthy", running && m.phase == phaseRunning, "", "", now),
			a.condition("Deleting", m.phase == phaseDeleting, "", "", now),
			a.condition("UpToDate", !m.outdated, "", "", now),
		}
	}
	status["conditions"] = conds
	if a.beta1() {
		status["bootstrapReady"] = true
		status["infrastructureReady"] = running
	} else {
		status["initialization"] = obj{"bootstrapDataSecretCreated": true, "infrastructureProvisioned": running}
	}
	if running {
		n := m.node
		status["addresses"] = []any{
			obj{"type": "InternalIP", "address": n.ip.String()},
			obj{"type": "Hostname", "address": n.name},
		}
		if a.beta1() {
			status["nodeRef"] = obj{"apiVersion": "v1", "kind": "Node", "name": n.name, "uid": string(n.uid)}
		} else {
			status["nodeRef"] = obj{"name": n.name}
		}
		status["nodeInfo"] = nodeInfo(c.lab.o.KubernetesVersion)
		if m.role == controlPlane {
			status["certificatesExpiryDate"] = rfc3339(n.certNotAfter)
		}
	}
	return a.patchStatus(ctx, a.apiVersion(clusterGroup), "Machine", c.spec.Namespace, m.name, status)
}

// sortedMachines returns the machines of a role, oldest first.
func (c *cluster) sortedMachines(r role) []*machine {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*machine
	for _, m := range c.machines {
		if m.role == r {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].created.Equal(out[j].created) {
			return out[i].created.Before(out[j].created)
		}
		return out[i].name < out[j].name
	})
	return out
}

// updateStatuses writes the Cluster's, KCP's and MachineDeployment's status
// from the machines as they are now, so the counts are true at every moment.
func (c *cluster) updateStatuses(ctx context.Context, kcpT, mdT triggers) error {
	a := c.lab.api
	now := c.lab.now()
	ns := c.spec.Namespace

	if err := c.refreshUpToDate(ctx, kcpT, mdT, now); err != nil {
		return err
	}
	cp := c.controlPlaneCounts(kcpT, now)
	kcpStatus := c.kcpStatus(cp, kcpT, now)
	if cur, err := c.getCached(ctx, "KubeadmControlPlane", c.kcpName); err == nil {
		keepTransitionTimes(cur, kcpStatus)
	}
	if err := a.patchStatus(ctx, a.apiVersion(controlPlaneGroup), "KubeadmControlPlane", ns, c.kcpName, kcpStatus); err != nil {
		return err
	}
	if c.lab.o.Workers > 0 {
		if err := a.patchStatus(ctx, a.apiVersion(clusterGroup), "MachineDeployment", ns, c.mdName, c.mdStatus(mdT, now)); err != nil {
			return err
		}
	}
	clStatus := c.clusterStatus(cp, now)
	if cur, err := c.getCached(ctx, "Cluster", c.spec.Name); err == nil {
		keepTransitionTimes(cur, clStatus)
	}
	return a.patchStatus(ctx, a.apiVersion(clusterGroup), "Cluster", ns, c.spec.Name, clStatus)
}

// cpCounts are the control plane's machines as the statuses count them.
type cpCounts struct {
	total, ready, upToDate, desired int
	rollingOut, initialized         bool
}

func (c *cluster) controlPlaneCounts(kcpT triggers, now time.Time) cpCounts {
	var cp cpCounts
	for _, m := range c.sortedMachines(controlPlane) {
		cp.total++
		if m.phase == phaseRunning {
			cp.ready++
		}
		if m.phase != phaseDeleting && !c.outdated(m, kcpT, now) {
			cp.upToDate++
		}
	}
	cp.desired = kcpT.replicas
	cp.rollingOut = cp.upToDate < cp.total || cp.total != cp.desired
	cp.initialized = cp.ready > 0
	return cp
}

// kcpStatus is the KubeadmControlPlane's status in the served API version.
func (c *cluster) kcpStatus(cp cpCounts, kcpT triggers, now time.Time) obj {
	a := c.lab.api
	kcpStatus := obj{
		"replicas":      int64(cp.total),
		"readyReplicas": int64(cp.ready),
		"version":       c.lab.o.KubernetesVersion,
		"selector":      clusterNameLabel + "=" + c.spec.Name + "," + controlPlaneLabel,
	}
	if a.beta1() {
		kcpStatus["updatedReplicas"] = int64(cp.upToDate)
		kcpStatus["unavailableReplicas"] = int64(cp.total - cp.ready)
		kcpStatus["initialized"] = cp.initialized
		kcpStatus["ready"] = cp.ready > 0
		kcpStatus["conditions"] = []any{
			a.condition("Ready", cp.ready == cp.total && !cp.rollingOut, "RollingUpdateInProgress", "", now),
			a.condition("Available", cp.initialized, "WaitingForKubeadmInit", "", now),
			a.condition("CertificatesAvailable", true, "", "", now),
			a.condition("ControlPlaneComponentsHealthy", cp.ready == cp.total, "ControlPlaneComponentsUnhealthy", "", now),
			a.condition("EtcdClusterHealthy", cp.ready == cp.total, "EtcdClusterUnhealthy", "", now),
			a.condition("MachinesCreated", true, "", "", now),
			a.condition("MachinesReady", cp.ready == cp.total, "", "", now),
			a.condition("MachinesSpecUpToDate", !cp.rollingOut, "RollingUpdateInProgress", fmt.Sprintf("Rolling %d replicas with outdated spec (%d replicas up to date)", cp.total-cp.upToDate, cp.upToDate), now),
			a.condition("Resized", cp.total == cp.desired, "ScalingUp", "", now),
		}
	} else {
		kcpStatus["availableReplicas"] = int64(cp.ready)
		kcpStatus["upToDateReplicas"] = int64(cp.upToDate)
		kcpStatus["initialization"] = obj{"controlPlaneInitialized": cp.initialized}
		kcpStatus["conditions"] = []any{
			a.condition("Available", cp.initialized, "", "", now),
			a.condition("CertificatesAvailable", true, "", "", now),
			a.condition("Initialized", cp.initialized, "", "", now),
			a.condition("EtcdClusterHealthy", cp.ready == cp.total, "", "", now),
			a.condition("ControlPlaneComponentsHealthy", cp.ready == cp.total, "", "", now),
			a.condition("MachinesReady", cp.ready == cp.total, "", "", now),
			a.condition("MachinesUpToDate", cp.upToDate == cp.total, "", "", now),
			a.condition("RollingOut", cp.rollingOut, "", "", now),
			a.condition("ScalingUp", cp.total < cp.desired, "", "", now),
			a.condition("ScalingDown", cp.total > cp.desired, "", "", now),
			a.condition("Remediating", false, "", "", now),
			a.condition("Deleting", false, "", "", now),
			a.condition("Paused", kcpT.paused, "", "", now),
		}
	}
	return kcpStatus
}

// mdStatus is the MachineDeployment's status in the served API version.
func (c *cluster) mdStatus(mdT triggers, now time.Time) obj {
	a := c.lab.api
	ws := c.sortedMachines(worker)
	var wTotal, wReady, wUpToDate int
	for _, m := range ws {
		wTotal++
		if m.phase == phaseRunning {
			wReady++
		}
		if m.phase != phaseDeleting && m.setName == c.msName && !c.outdated(m, mdT, now) {
			wUpToDate++
		}
	}
	phase := "Running"
	if wTotal != mdT.replicas || wUpToDate < wTotal {
		phase = "ScalingUp"
		if wTotal > mdT.replicas {
			phase = "ScalingDown"
		}
	}
	mdStatus := obj{
		"replicas":      int64(wTotal),
		"readyReplicas": int64(wReady),
		"phase":         phase,
		"selector":      clusterNameLabel + "=" + c.spec.Name + "," + deploymentNameLabel + "=" + c.mdName,
	}
	if a.beta1() {
		mdStatus["updatedReplicas"] = int64(wUpToDate)
		mdStatus["availableReplicas"] = int64(wReady)
		mdStatus["unavailableReplicas"] = int64(wTotal - wReady)
	} else {
		mdStatus["availableReplicas"] = int64(wReady)
		mdStatus["upToDateReplicas"] = int64(wUpToDate)
	}
	return mdStatus
}

// clusterStatus is the Cluster's status in the served API version.
func (c *cluster) clusterStatus(cp cpCounts, now time.Time) obj {
	a := c.lab.api
	clStatus := obj{"phase": "Provisioned"}
	if a.beta1() {
		clStatus["infrastructureReady"] = true
		clStatus["controlPlaneReady"] = cp.initialized
		clStatus["conditions"] = []any{
			a.condition("Ready", cp.initialized, "", "", now),
			a.condition("ControlPlaneInitialized", cp.initialized, "", "", now),
			a.condition("ControlPlaneReady", cp.ready == cp.total, "", "", now),
			a.condition("InfrastructureReady", true, "", "", now),
		}
	} else {
		clStatus["initialization"] = obj{"infrastructureProvisioned": true, "controlPlaneInitialized": cp.initialized}
		clStatus["controlPlane"] = obj{"desiredReplicas": int64(cp.desired), "replicas": int64(cp.total), "readyReplicas": int64(cp.ready), "availableReplicas": int64(cp.ready), "upToDateReplicas": int64(cp.upToDate)}
		clStatus["conditions"] = []any{
			a.condition("Available", cp.initialized, "", "", now),
			a.condition("ControlPlaneInitialized", cp.initialized, "", "", now),
			a.condition("ControlPlaneAvailable", cp.initialized, "", "", now),
			a.condition("InfrastructureReady", true, "", "", now),
			a.condition("RollingOut", cp.rollingOut, "", "", now),
		}
	}
	return clStatus
}

// refreshUpToDate rewrites a machine's status when whether it is up to
// date changed (a rollout was asked for), as Cluster API keeps the
// Machine's UpToDate condition current.
func (c *cluster) refreshUpToDate(ctx context.Context, kcpT, mdT triggers, now time.Time) error {
	for _, r := range []role{controlPlane, worker} {
		t := kcpT
		if r == worker {
			t = mdT
		}
		for _, m := range c.sortedMachines(r) {
			out := c.outdated(m, t, now) || (r == worker && m.setName != c.msName)
			c.mu.Lock()
			changed := out != m.outdated
			m.outdated = out
			c.mu.Unlock()
			if changed && m.phase != phaseDeleting {
				if err := c.patchMachineStatus(ctx, m); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

// outdated applies Cluster API's rollout rules (util/collections): a machine
// is rolled when it was created before a past rolloutAfter, or when its
// certificates expire within rolloutBefore.certificatesExpiryDays.
func (c *cluster) outdated(m *machine, t triggers, now time.Time) bool {
	if t.after != nil && !t.after.After(now) && m.created.Before(*t.after) {
		return true
	}
	if m.role == controlPlane && t.beforeDays > 0 && m.node != nil {
		if now.Add(time.Duration(t.beforeDays) * 24 * time.Hour).After(m.node.certNotAfter) {
			return true
		}
	}
	return false
}

func nodeInfo(version string) obj {
	return obj{
		"architecture":            "amd64",
		"bootID":                  vsphereUUID(),
		"containerRuntimeVersion": "containerd://1.4.11",
		"kernelVersion":           "4.19.225-3.ph3",
		"kubeProxyVersion":        version,
		"kubeletVersion":          version,
		"machineID":               vsphereUUID(),
		"operatingSystem":         "linux",
		"osImage":                 "VMware Photon OS/Linux",
		"systemUUID":              vsphereUUID(),
	}
}

// kubeadmConfigExpiry annotates the machine's KubeadmConfig with its
// certificates' expiry, as the KCP controller does once it has read it.
func (c *cluster) kubeadmConfigExpiry(ctx context.Context, m *machine) error {
	a := c.lab.api
	return a.patch(ctx, a.apiVersion(bootstrapGroup), "KubeadmConfig", c.spec.Namespace, m.name,
		obj{"metadata": obj{"annotations": obj{certExpiryAnnotation: rfc3339(m.node.certNotAfter)}}})
}

// keepTransitionTimes gives each condition of status whose status did not
// change the lastTransitionTime it has on cur, as Cluster API does. A fresh
// time on every reconcile would change the object every second, and each
// change wakes the reconciler again: a loop of one patch per cluster per
// second, which a 1000-cluster lab cannot afford.
func keepTransitionTimes(cur *unstructured.Unstructured, status obj) {
	conds, _ := status["conditions"].([]any)
	old, _, _ := unstructured.NestedSlice(cur.Object, "status", "conditions")
	for _, c := range conds {
		nc, ok := c.(obj)
		if !ok {
			continue
		}
		for _, o := range old {
			oc, ok := o.(map[string]any)
			if ok && oc["type"] == nc["type"] && oc["status"] == nc["status"] {
				if t, ok := oc["lastTransitionTime"].(string); ok {
					nc["lastTransitionTime"] = t
				}
			}
		}
	}
}
