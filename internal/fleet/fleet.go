package fleet

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/selection"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/pager"
	"k8s.io/client-go/util/retry"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tkgcert/tkgcert/internal/capi"
)

// Label keys Cluster API sets.
const (
	ClusterNameLabel  = "cluster.x-k8s.io/cluster-name"
	ControlPlaneLabel = "cluster.x-k8s.io/control-plane"
)

// Cluster is one workload cluster as the Supervisor describes it.
type Cluster struct {
	Namespace, Name string
	// UID identifies the Cluster object (for Events).
	UID string
	// Labels and Annotations are the Cluster object's.
	Labels, Annotations map[string]string
	// APIVersion is the Cluster API version the Supervisor serves.
	APIVersion capi.APIVersion
	// Phase is the Cluster's status.phase (Provisioned, ...).
	Phase string
	// Paused is the Cluster's spec.paused or paused annotation.
	Paused bool
	// Endpoint is spec.controlPlaneEndpoint as host:port ("" when unset).
	Endpoint     string
	ControlPlane ControlPlane
	// MachineDeployments are the cluster's worker pools.
	MachineDeployments []MachineDeployment
	// Machines are the cluster's Machines, control plane first, then by name.
	Machines []Machine
}

// MachineDeployment is one worker pool.
type MachineDeployment struct {
	Name            string
	Replicas        int32
	RolloutAfter    *time.Time
	ResourceVersion string
}

// WorkerMachines returns the machines that are not control plane.
func (c *Cluster) WorkerMachines() []Machine {
	var out []Machine
	for _, m := range c.Machines {
		if !m.ControlPlane {
			out = append(out, m)
		}
	}
	return out
}

// ControlPlane is the cluster's KubeadmControlPlane.
type ControlPlane struct {
	// Found is false when the Cluster has no KubeadmControlPlane.
	Found bool
	Name  string
	// Replicas is spec.replicas; the status counts follow.
	Replicas, StatusReplicas, ReadyReplicas, UpToDateReplicas int32
	Version                                                   string
	RolloutAfter                                              *time.Time
	RolloutBeforeDays                                         int32
	Paused                                                    bool
	Conditions                                                []Condition
	// ResourceVersion allows optimistic concurrency on patches.
	ResourceVersion string
	// Annotations are the KubeadmControlPlane's (tkgcert's audit
	// annotations among them).
	Annotations map[string]string
}

// Condition is a status condition, in either version's shape.
type Condition struct {
	Type, Status, Reason, Message string
}

// Machine is one Cluster API Machine.
type Machine struct {
	Name string
	// UID is the Machine object's UID.
	UID          string
	ControlPlane bool
	Phase        string
	NodeName     string
	ProviderID   string
	// InternalIP is the first InternalIP address ("" when none).
	InternalIP string
	// CertificatesExpiry is status.certificatesExpiryDate (control plane only).
	CertificatesExpiry *time.Time
	Created            time.Time
	Deleting           bool
	// Conditions are status.conditions, in either version's shape.
	Conditions []Condition
}

// Key is namespace/name.
func (c *Cluster) Key() string { return c.Namespace + "/" + c.Name }

// ControlPlaneMachines returns the control-plane machines.
func (c *Cluster) ControlPlaneMachines() []Machine {
	var out []Machine
	for _, m := range c.Machines {
		if m.ControlPlane {
			out = append(out, m)
		}
	}
	return out
}

// EarliestMachineExpiry is the earliest certificatesExpiryDate among the
// control-plane machines, as Cluster API read it from the nodes.
func (c *Cluster) EarliestMachineExpiry() (time.Time, bool) {
	var earliest time.Time
	for _, m := range c.Machines {
		if m.CertificatesExpiry != nil && (earliest.IsZero() || m.CertificatesExpiry.Before(earliest)) {
			earliest = *m.CertificatesExpiry
		}
	}
	return earliest, !earliest.IsZero()
}

// RolloutInProgress reports whether the control plane is replacing machines:
// more machines than desired, or some not up to date.
func (c *Cluster) RolloutInProgress() bool {
	cp := c.ControlPlane
	if !cp.Found {
		return false
	}
	n := int32(len(c.ControlPlaneMachines()))
	return n != cp.Replicas || cp.StatusReplicas != cp.Replicas || cp.UpToDateReplicas < cp.StatusReplicas
}

// Reader lists clusters from a Supervisor.
type Reader struct {
	c          client.Client
	version    capi.APIVersion
	namespaces []string
}

// SetNamespaces limits "every namespace" to these: a list in all
// namespaces ("") reads each of them in turn instead, for a user whose
// rights are per namespace (as vSphere grants them).
func (r *Reader) SetNamespaces(namespaces []string) { r.namespaces = namespaces }

// Namespaces are the namespaces "every namespace" means (nil: all).
func (r *Reader) Namespaces() []string { return r.namespaces }

// NewReader detects the served Cluster API version and returns a Reader.
func NewReader(cfg *rest.Config) (*Reader, error) {
	if cfg.Timeout == 0 {
		// A Supervisor that stops answering (packets dropped, not refused)
		// must not hold a read for ever. A page of 500 KubeadmControlPlanes
		// from a busy Supervisor took over 30 s in the 1000-cluster bench,
		// so the bound is generous (--request-timeout sets another).
		cfg = rest.CopyConfig(cfg)
		cfg.Timeout = RequestTimeout
	}
	dc, err := discovery.NewDiscoveryClientForConfig(cfg)
	if err != nil {
		return nil, err
	}
	v, err := DetectVersion(dc)
	if err != nil {
		return nil, err
	}
	scheme, err := capi.NewScheme()
	if err != nil {
		return nil, err
	}
	c, err := client.New(cfg, client.Options{Scheme: scheme})
	if err != nil {
		return nil, err
	}
	return &Reader{c: c, version: v}, nil
}

// RequestTimeout bounds each request of a Reader made by NewReader.
var RequestTimeout = 2 * time.Minute

// NewReaderFor builds a Reader on an existing client and known version.
func NewReaderFor(c client.Client, v capi.APIVersion) *Reader { return &Reader{c: c, version: v} }

// Version is the Cluster API version the Supervisor serves.
func (r *Reader) Version() capi.APIVersion { return r.version }

// Client is the Supervisor client.
func (r *Reader) Client() client.Client { return r.c }

// pageSize bounds each list response: a large fleet is read in pages,
// each converted and dropped before the next, so memory does not hold a
// whole fleet of decoded objects at once.
var pageSize int64 = 500

// listBackoff spaces the restarts of a list the API server cut short.
var listBackoff = wait.Backoff{Steps: 4, Duration: 2 * time.Second, Factor: 2, Jitter: 0.1}

// each calls fn for every object of kind in namespace ("" for all), page by
// page. A busy API server may answer a page with a timeout (its watch cache
// behind the continue token's resource version) or expire the token: the
// list starts over, a few times, with fn's results reset by reset.
func (r *Reader) each(ctx context.Context, group, kind, namespace string, sel labels.Selector, reset func(), fn func(*unstructured.Unstructured)) error {
	if namespace == "" && len(r.namespaces) > 0 {
		// Each namespace in turn; a list restarted in one namespace
		// starts them all over (fn's results are reset as a whole).
		for pass := 1; ; pass++ {
			restarted := false
			for _, ns := range r.namespaces {
				if err := r.each(ctx, group, kind, ns, sel, func() { restarted = true }, fn); err != nil {
					return err
				}
			}
			if !restarted || pass == listBackoff.Steps {
				return nil
			}
			reset()
		}
	}
	attempt := 0
	retriable := func(err error) bool {
		return ctx.Err() == nil && (apierrors.IsTimeout(err) || apierrors.IsServerTimeout(err) || apierrors.IsResourceExpired(err) || apierrors.IsGone(err) || apierrors.IsTooManyRequests(err))
	}
	// The last attempt's error is kept here: retry.OnError returns nil for
	// an error that wraps a context's (a client timeout, "context deadline
	// exceeded"), which would read as an empty list.
	var last error
	err := retry.OnError(listBackoff, retriable, func() error {
		if attempt++; attempt > 1 {
			reset()
		}
		last = r.eachOnce(ctx, group, kind, namespace, sel, fn)
		return last
	})
	if err == nil {
		err = last
	}
	if err == nil {
		// A list cut short by the caller's deadline is no complete list.
		err = ctx.Err()
	}
	if err != nil {
		where := "all namespaces"
		if namespace != "" {
			where = "namespace " + namespace
		}
		if namespace == "" && apierrors.IsForbidden(err) {
			return &ForbiddenAllNamespacesError{Resource: strings.ToLower(kind) + "s." + group, Err: err}
		}
		return fmt.Errorf("listing %s in %s: %w", kind, where, err)
	}
	return nil
}

// eachOnce lists kind once, in pages of pageSize: each page is converted by
// fn before the next is read (no page is buffered ahead), and an expired
// continue token fails the list rather than falling back to one unpaged list.
func (r *Reader) eachOnce(ctx context.Context, group, kind, namespace string, sel labels.Selector, fn func(*unstructured.Unstructured)) error {
	p := pager.New(pager.SimplePageFunc(func(opts metav1.ListOptions) (runtime.Object, error) {
		l := &unstructured.UnstructuredList{}
		l.SetAPIVersion(group + "/" + string(r.version))
		l.SetKind(kind + "List")
		lo := []client.ListOption{client.Limit(opts.Limit)}
		if namespace != "" {
			lo = append(lo, client.InNamespace(namespace))
		}
		if opts.Continue != "" {
			lo = append(lo, client.Continue(opts.Continue))
		}
		if sel != nil {
			lo = append(lo, client.MatchingLabelsSelector{Selector: sel})
		}
		if err := r.c.List(ctx, l, lo...); err != nil {
			return nil, err
		}
		return l, nil
	}))
	p.PageSize = pageSize
	p.PageBufferSize = 0
	p.FullListIfExpired = false
	return p.EachListItem(ctx, metav1.ListOptions{}, func(obj runtime.Object) error {
		u, ok := obj.(*unstructured.Unstructured)
		if !ok {
			return fmt.Errorf("listing %s: unexpected item %T", kind, obj)
		}
		fn(u)
		return nil
	})
}

// ForbiddenAllNamespacesError is a list in all namespaces (-A) that the
// user may not make: vSphere grants rights per vSphere Namespace.
type ForbiddenAllNamespacesError struct {
	Resource string // e.g. clusters.cluster.x-k8s.io
	Err      error
}

func (e *ForbiddenAllNamespacesError) Error() string {
	return fmt.Sprintf("forbidden: you may not list %s in all namespaces (-A needs the list verb cluster-wide, which vSphere grants only to Supervisor administrators); "+
		"name the namespaces you have rights on with -n NAMESPACE or --namespaces a,b,c (%v)", e.Resource, e.Err)
}

func (e *ForbiddenAllNamespacesError) Unwrap() error { return e.Err }

// ControlPlaneEndpoint reads one Cluster's spec.controlPlaneEndpoint as
// host:port ("" when unset), the only server its kubeconfig secret may name.
func (r *Reader) ControlPlaneEndpoint(ctx context.Context, namespace, name string) (string, error) {
	u := &unstructured.Unstructured{}
	u.SetAPIVersion("cluster.x-k8s.io/" + string(r.version))
	u.SetKind("Cluster")
	if err := r.c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: name}, u); err != nil {
		return "", fmt.Errorf("reading Cluster %s/%s: %w", namespace, name, err)
	}
	return endpoint(u), nil
}

// endpoint is a Cluster's spec.controlPlaneEndpoint as host:port, "" when unset.
func endpoint(u *unstructured.Unstructured) string {
	if host := stringField(u, "spec", "controlPlaneEndpoint", "host"); host != "" {
		return fmt.Sprintf("%s:%d", host, int64Field(u, "spec", "controlPlaneEndpoint", "port"))
	}
	return ""
}

// Clusters lists the clusters in namespace ("" for all), optionally only
// the named ones (an unknown name is an error), sorted by namespace/name.
func (r *Reader) Clusters(ctx context.Context, namespace string, names []string) ([]Cluster, error) {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	byKey := map[string]*Cluster{}
	var out []*Cluster
	add := func(u *unstructured.Unstructured) {
		if len(want) > 0 && !want[u.GetName()] {
			return
		}
		c := &Cluster{Namespace: u.GetNamespace(), Name: u.GetName(), UID: string(u.GetUID()),
			Labels: u.GetLabels(), Annotations: u.GetAnnotations(), APIVersion: r.version,
			Phase: stringField(u, "status", "phase"), Paused: Paused(u)}
		c.Endpoint = endpoint(u)
		byKey[c.Key()] = c
		out = append(out, c)
	}
	if len(names) > 0 && namespace != "" {
		// Named clusters are read by name: a reconcile reads one cluster,
		// in a namespace that may hold a thousand.
		for _, n := range names {
			u := &unstructured.Unstructured{}
			u.SetAPIVersion("cluster.x-k8s.io/" + string(r.version))
			u.SetKind("Cluster")
			err := r.c.Get(ctx, client.ObjectKey{Namespace: namespace, Name: n}, u)
			if apierrors.IsNotFound(err) {
				continue // reported below
			}
			if err != nil {
				return nil, fmt.Errorf("reading Cluster %s/%s: %w", namespace, n, err)
			}
			add(u)
		}
	} else if err := r.each(ctx, "cluster.x-k8s.io", "Cluster", namespace, nil, func() { byKey, out = map[string]*Cluster{}, nil }, add); err != nil {
		return nil, err
	}
	for _, n := range names {
		found := false
		for _, c := range out {
			found = found || c.Name == n
		}
		if !found {
			where := "namespace " + namespace
			if namespace == "" {
				where = "any namespace"
			}
			return nil, fmt.Errorf("cluster %q not found in %s", n, where)
		}
	}
	// Named clusters: list only their objects (a follower re-reads one
	// cluster on every event, in a namespace that may hold hundreds).
	var sel labels.Selector
	if len(names) > 0 {
		req, err := labels.NewRequirement(ClusterNameLabel, selection.In, names)
		if err != nil {
			return nil, fmt.Errorf("cluster names %v: %w", names, err)
		}
		sel = labels.NewSelector().Add(*req)
	}
	owner := func(u *unstructured.Unstructured) *Cluster {
		return byKey[u.GetNamespace()+"/"+u.GetLabels()[ClusterNameLabel]]
	}
	if err := r.each(ctx, ControlPlaneGroup, "KubeadmControlPlane", namespace, sel, func() {
		for _, c := range out {
			c.ControlPlane = ControlPlane{}
		}
	}, func(u *unstructured.Unstructured) {
		if c := owner(u); c != nil {
			c.ControlPlane = r.controlPlane(u)
		}
	}); err != nil {
		return nil, err
	}
	if err := r.each(ctx, "cluster.x-k8s.io", "MachineDeployment", namespace, sel, func() {
		for _, c := range out {
			c.MachineDeployments = nil
		}
	}, func(u *unstructured.Unstructured) {
		if c := owner(u); c != nil {
			c.MachineDeployments = append(c.MachineDeployments, MachineDeployment{Name: u.GetName(),
				Replicas: int32(int64Field(u, "spec", "replicas")), RolloutAfter: RolloutAfter(u, r.version), ResourceVersion: u.GetResourceVersion()})
		}
	}); err != nil {
		return nil, err
	}
	if err := r.each(ctx, "cluster.x-k8s.io", "Machine", namespace, sel, func() {
		for _, c := range out {
			c.Machines = nil
		}
	}, func(u *unstructured.Unstructured) {
		if c := owner(u); c != nil {
			c.Machines = append(c.Machines, machine(u))
		}
	}); err != nil {
		return nil, err
	}
	result := make([]Cluster, 0, len(out))
	for _, c := range out {
		sort.Slice(c.Machines, func(i, j int) bool {
			a, b := c.Machines[i], c.Machines[j]
			if a.ControlPlane != b.ControlPlane {
				return a.ControlPlane
			}
			return a.Name < b.Name
		})
		result = append(result, *c)
	}
	sort.Slice(result, func(i, j int) bool { return result[i].Key() < result[j].Key() })
	return result, nil
}

func (r *Reader) controlPlane(u *unstructured.Unstructured) ControlPlane {
	cp := ControlPlane{
		Found:             true,
		Name:              u.GetName(),
		Annotations:       u.GetAnnotations(),
		Replicas:          int32(int64Field(u, "spec", "replicas")),
		StatusReplicas:    int32(int64Field(u, "status", "replicas")),
		ReadyReplicas:     int32(int64Field(u, "status", "readyReplicas")),
		Version:           stringField(u, "spec", "version"),
		RolloutAfter:      RolloutAfter(u, r.version),
		RolloutBeforeDays: RolloutBeforeDays(u, r.version),
		Paused:            Paused(u),
		ResourceVersion:   u.GetResourceVersion(),
	}
	if r.version == capi.V1Beta1 {
		cp.UpToDateReplicas = int32(int64Field(u, "status", "updatedReplicas"))
	} else {
		cp.UpToDateReplicas = int32(int64Field(u, "status", "upToDateReplicas"))
	}
	cp.Conditions = conditions(u)
	return cp
}

func machine(u *unstructured.Unstructured) Machine {
	_, cp := u.GetLabels()[ControlPlaneLabel]
	m := Machine{
		Name:               u.GetName(),
		UID:                string(u.GetUID()),
		ControlPlane:       cp,
		Phase:              stringField(u, "status", "phase"),
		NodeName:           stringField(u, "status", "nodeRef", "name"),
		ProviderID:         stringField(u, "spec", "providerID"),
		CertificatesExpiry: timeField(u, "status", "certificatesExpiryDate"),
		Created:            u.GetCreationTimestamp().Time,
		Deleting:           u.GetDeletionTimestamp() != nil,
	}
	m.Conditions = conditions(u)
	addrs, _, _ := unstructured.NestedSlice(u.Object, "status", "addresses")
	for _, a := range addrs {
		if am, ok := a.(map[string]any); ok && am["type"] == "InternalIP" {
			if s, ok := am["address"].(string); ok && m.InternalIP == "" {
				m.InternalIP = s
			}
		}
	}
	return m
}

func conditions(u *unstructured.Unstructured) []Condition {
	var out []Condition
	conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
	for _, c := range conds {
		m, ok := c.(map[string]any)
		if !ok {
			continue
		}
		s := func(k string) string { v, _ := m[k].(string); return v }
		out = append(out, Condition{Type: s("type"), Status: s("status"), Reason: s("reason"), Message: s("message")})
	}
	return out
}

// Condition returns the condition of a type, if present.
func (cp ControlPlane) Condition(typ string) (Condition, bool) {
	for _, c := range cp.Conditions {
		if c.Type == typ {
			return c, true
		}
	}
	return Condition{}, false
}

// Outdated applies Cluster API's rollout rule for rolloutAfter
// (util/collections): a machine created before a past rolloutAfter is
// replaced.
func (c *Cluster) Outdated(m Machine, now time.Time) bool {
	after := c.ControlPlane.RolloutAfter
	return after != nil && !after.After(now) && m.Created.Before(*after)
}
