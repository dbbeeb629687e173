package lab

import (
	"context"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tkgcert/tkgcert/internal/pki"
)

// The rollout stand-in: one loop per cluster, woken by changes to its KCP,
// MachineDeployment or Cluster (informers) and by its own timers, that acts
// as Cluster API's KCP and MachineDeployment controllers and the vSphere
// provider would: replace outdated machines one at a time with maxSurge 1
// (create, wait until Running with a node, then delete the oldest outdated).

func (c *cluster) poke() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

func (c *cluster) providerID(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if m, ok := c.machines[name]; ok {
		return m.providerID
	}
	return ""
}

// run reconciles until ctx ends.
func (c *cluster) run(ctx context.Context) {
	log := c.lab.o.Logger.With("cluster", c.key())
	for {
		next, err := c.reconcile(ctx)
		if err != nil && ctx.Err() == nil {
			log.Warn("Reconcile failed, retrying", "err", err)
			next = time.Second
		}
		var timer <-chan time.Time
		var t *time.Timer
		if next > 0 {
			t = time.NewTimer(next)
			timer = t.C
		}
		select {
		case <-ctx.Done():
		case <-c.wake:
		case <-timer:
		}
		if t != nil {
			t.Stop() // not deferred: this loop runs as long as the lab
		}
		if ctx.Err() != nil {
			return
		}
	}
}

func (c *cluster) getCached(ctx context.Context, kind, name string) (*unstructured.Unstructured, error) {
	a := c.lab.api
	group := clusterGroup
	if kind == "KubeadmControlPlane" {
		group = controlPlaneGroup
	}
	u := newObject(a.apiVersion(group), kind, c.spec.Namespace, name)
	if err := c.lab.cache.Get(ctx, types.NamespacedName{Namespace: c.spec.Namespace, Name: name}, u); err != nil {
		return nil, fmt.Errorf("reading %s %s/%s: %w", kind, c.spec.Namespace, name, err)
	}
	return u, nil
}

// reconcile does at most one step per machine set and returns when it wants
// to be called again (0: only on a change).
func (c *cluster) reconcile(ctx context.Context) (time.Duration, error) {
	kcp, err := c.getCached(ctx, "KubeadmControlPlane", c.kcpName)
	if err != nil {
		return 0, err
	}
	cl, err := c.getCached(ctx, "Cluster", c.spec.Name)
	if err != nil {
		return 0, err
	}
	kcpT := c.lab.api.kcpTriggers(kcp)
	kcpT.paused = kcpT.paused || clusterPaused(cl)
	var mdT triggers
	if c.lab.o.Workers > 0 {
		md, err := c.getCached(ctx, "MachineDeployment", c.mdName)
		if err != nil {
			return 0, err
		}
		mdT = c.lab.api.mdTriggers(md)
		mdT.paused = mdT.paused || clusterPaused(cl)
	}
	now := c.lab.now()
	var next time.Duration
	soonest := func(d time.Duration) {
		if d > 0 && (next == 0 || d < next) {
			next = d
		}
	}
	if !kcpT.paused {
		d, err := c.step(ctx, controlPlane, kcpT, now)
		if err != nil {
			return 0, err
		}
		soonest(d)
	}
	if c.lab.o.Workers > 0 && !mdT.paused {
		d, err := c.step(ctx, worker, mdT, now)
		if err != nil {
			return 0, err
		}
		soonest(d)
	}
	// A future rolloutAfter takes effect when it passes.
	for _, t := range []triggers{kcpT, mdT} {
		if t.after != nil && t.after.After(now) {
			soonest(t.after.Sub(now) + 10*time.Millisecond)
		}
	}
	return next, c.updateStatuses(ctx, kcpT, mdT)
}

// step advances one role's machines by one action.
func (c *cluster) step(ctx context.Context, r role, t triggers, now time.Time) (time.Duration, error) {
	machines := c.sortedMachines(r)
	// Finish what is in flight first: deletions, then provisioning.
	for _, m := range machines {
		if m.phase == phaseDeleting {
			if now.Before(m.readyAt) {
				return m.readyAt.Sub(now), nil
			}
			return 10 * time.Millisecond, c.finishDeletion(ctx, m)
		}
	}
	for _, m := range machines {
		if m.phase == phaseProvisioning {
			if c.spec.Scenario == Stuck {
				return 0, nil // the vSphere side never delivers the VM
			}
			if now.Before(m.readyAt) {
				return m.readyAt.Sub(now), nil
			}
			return 10 * time.Millisecond, c.provision(ctx, m, freshValidity(now), true)
		}
	}
	if r == worker {
		// A rollout of a MachineDeployment creates a new MachineSet.
		if t.after != nil && !t.after.After(now) && c.msCreated.Before(*t.after) {
			if err := c.createMachineSet(ctx); err != nil {
				return 0, err
			}
		}
	}
	var outdated []*machine
	for _, m := range machines {
		if c.outdated(m, t, now) || (r == worker && m.setName != c.msName) {
			outdated = append(outdated, m)
		}
	}
	active := len(machines)
	switch {
	case active > t.replicas && len(outdated) > 0:
		return 10 * time.Millisecond, c.startDeletion(ctx, outdated[0], now)
	case active > t.replicas:
		return 10 * time.Millisecond, c.startDeletion(ctx, machines[0], now)
	case active < t.replicas || len(outdated) > 0:
		c.lab.o.Logger.Info("Creating machine", "cluster", c.key(), "role", r, "outdated", len(outdated))
		m, err := c.newMachine(ctx, r, false, now.Add(c.lab.o.ProvisionDelay))
		if err != nil {
			return 0, err
		}
		return m.readyAt.Sub(now) + time.Millisecond, nil
	}
	return 0, nil
}

// provision brings a Provisioning machine up: a VM (node) with fresh
// certificates from the cluster's CAs, its Node object, the Machine Running
// with its providerID, addresses and certificatesExpiryDate.
func (c *cluster) provision(ctx context.Context, m *machine, v pki.Validity, rotateCerts bool) error {
	n, err := c.startNode(ctx, m, v, rotateCerts)
	if err != nil {
		return err
	}
	c.mu.Lock()
	m.node = n
	m.providerID = "vsphere://" + vsphereUUID()
	m.phase = phaseRunning
	c.mu.Unlock()
	a := c.lab.api
	if err := a.patch(ctx, a.apiVersion(clusterGroup), "Machine", c.spec.Namespace, m.name, obj{"spec": obj{"providerID": m.providerID}}); err != nil {
		return err
	}
	if c.full() {
		if m.role == controlPlane {
			c.syncBalancer()
		}
		if err := c.registerNode(ctx, c.workload, n); err != nil {
			return err
		}
	}
	if err := c.patchMachineStatus(ctx, m); err != nil {
		return err
	}
	if m.role == controlPlane {
		if err := c.kubeadmConfigExpiry(ctx, m); err != nil {
			return err
		}
	}
	c.lab.o.Logger.Info("Machine running", "cluster", c.key(), "machine", m.name, "address", n.ip.String())
	return nil
}

// startDeletion marks a machine Deleting (the finalizer keeps the object
// visible) and schedules its VM's removal.
func (c *cluster) startDeletion(ctx context.Context, m *machine, now time.Time) error {
	c.lab.o.Logger.Info("Deleting machine", "cluster", c.key(), "machine", m.name)
	a := c.lab.api
	u := newObject(a.apiVersion(clusterGroup), "Machine", c.spec.Namespace, m.name)
	if err := c.lab.client.Delete(ctx, u); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting machine %s: %w", m.name, err)
	}
	c.mu.Lock()
	m.phase = phaseDeleting
	m.readyAt = now.Add(c.lab.o.ProvisionDelay / 2)
	c.mu.Unlock()
	return c.patchMachineStatus(ctx, m)
}

// finishDeletion removes the VM, the Node object, the KubeadmConfig, and
// finally the finalizer, so the Machine disappears.
func (c *cluster) finishDeletion(ctx context.Context, m *machine) error {
	a := c.lab.api
	if n := m.node; n != nil {
		if c.full() {
			if m.role == controlPlane {
				c.mu.Lock()
				m.drained = true
				c.mu.Unlock()
				c.syncBalancer()
			}
			if err := c.unregisterNode(ctx, c.workload, n); err != nil {
				return err
			}
		}
		n.destroy()
		c.mu.Lock()
		c.released = append(c.released, int(n.ip.To4()[3]))
		c.mu.Unlock()
	}
	kc := newObject(a.apiVersion(bootstrapGroup), "KubeadmConfig", c.spec.Namespace, m.name)
	if err := c.lab.client.Delete(ctx, kc); client.IgnoreNotFound(err) != nil {
		return fmt.Errorf("deleting KubeadmConfig %s: %w", m.name, err)
	}
	if err := a.patch(ctx, a.apiVersion(clusterGroup), "Machine", c.spec.Namespace, m.name, obj{"metadata": obj{"finalizers": nil}}); client.IgnoreNotFound(err) != nil {
		return err
	}
	c.mu.Lock()
	delete(c.machines, m.name)
	c.mu.Unlock()
	c.lab.o.Logger.Info("Machine deleted", "cluster", c.key(), "machine", m.name)
	return nil
}

// syncBalancer points the cluster endpoint at the API servers of the
// control-plane machines that are Running or still Deleting.
func (c *cluster) syncBalancer() {
	if c.lb == nil {
		return
	}
	c.mu.Lock()
	var backends []string
	for _, m := range c.machines {
		if m.role == controlPlane && m.node != nil && !m.drained && m.phase != phaseProvisioning {
			backends = append(backends, m.node.apiServerAddr())
		}
	}
	c.mu.Unlock()
	c.lb.SetBackends(backends)
}
