package lab

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tkgcert/tkgcert/internal/capi"
	"github.com/tkgcert/tkgcert/internal/fleet"
)

// API groups of the objects the lab writes.
const (
	clusterGroup      = "cluster.x-k8s.io"
	controlPlaneGroup = "controlplane.cluster.x-k8s.io"
	bootstrapGroup    = "bootstrap.cluster.x-k8s.io"
	infraGroup        = "vmware.infrastructure.cluster.x-k8s.io"
	infraVersion      = "v1beta1"

	clusterNameLabel      = "cluster.x-k8s.io/cluster-name"
	controlPlaneLabel     = "cluster.x-k8s.io/control-plane"
	controlPlaneNameLabel = "cluster.x-k8s.io/control-plane-name"
	deploymentNameLabel   = "cluster.x-k8s.io/deployment-name"
	setNameLabel          = "cluster.x-k8s.io/set-name"
	pausedAnnotation      = fleet.PausedAnnotation
	certExpiryAnnotation  = "machine.cluster.x-k8s.io/certificates-expiry"
	machineFinalizer      = "machine.cluster.x-k8s.io"
)

// api writes the lab's model as Cluster API objects of one version.
type api struct {
	version capi.APIVersion
	c       client.Client
}

type obj = map[string]any

func (a *api) apiVersion(group string) string { return group + "/" + string(a.version) }

func (a *api) beta1() bool { return a.version == capi.V1Beta1 }

// ref renders a reference to another object in the version's style:
// v1beta1 ObjectReference (apiVersion, kind, name, namespace) or v1beta2
// ContractVersionedObjectReference (apiGroup, kind, name).
func (a *api) ref(group, version, kind, name, namespace string) obj {
	if a.beta1() {
		return obj{"apiVersion": group + "/" + version, "kind": kind, "name": name, "namespace": namespace}
	}
	return obj{"apiGroup": group, "kind": kind, "name": name}
}

func newObject(apiVersion, kind, namespace, name string) *unstructured.Unstructured {
	u := &unstructured.Unstructured{Object: obj{}}
	u.SetAPIVersion(apiVersion)
	u.SetKind(kind)
	u.SetNamespace(namespace)
	u.SetName(name)
	return u
}

func ownerRef(apiVersion, kind, name string, uid types.UID, controller bool) obj {
	r := obj{"apiVersion": apiVersion, "kind": kind, "name": name, "uid": string(uid)}
	if controller {
		r["controller"] = true
		r["blockOwnerDeletion"] = true
	}
	return r
}

// create creates u and records its UID and creation time.
func (a *api) create(ctx context.Context, u *unstructured.Unstructured) error {
	if err := a.c.Create(ctx, u); err != nil {
		return fmt.Errorf("creating %s %s/%s: %w", u.GetKind(), u.GetNamespace(), u.GetName(), err)
	}
	return nil
}

// patchStatus merge-patches the status subresource.
func (a *api) patchStatus(ctx context.Context, apiVersion, kind, namespace, name string, status obj) error {
	data, err := json.Marshal(obj{"status": status})
	if err != nil {
		return err
	}
	u := newObject(apiVersion, kind, namespace, name)
	if err := a.c.Status().Patch(ctx, u, client.RawPatch(types.MergePatchType, data)); err != nil {
		return fmt.Errorf("updating status of %s %s/%s: %w", kind, namespace, name, err)
	}
	return nil
}

// patch merge-patches the object itself.
func (a *api) patch(ctx context.Context, apiVersion, kind, namespace, name string, patch obj) error {
	data, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	u := newObject(apiVersion, kind, namespace, name)
	if err := a.c.Patch(ctx, u, client.RawPatch(types.MergePatchType, data)); err != nil {
		return fmt.Errorf("patching %s %s/%s: %w", kind, namespace, name, err)
	}
	return nil
}

// condition renders a condition in the version's style.
func (a *api) condition(typ string, ok bool, reason, message string, now time.Time) obj {
	status := "False"
	if ok {
		status = "True"
	}
	c := obj{"type": typ, "status": status, "lastTransitionTime": now.UTC().Format(time.RFC3339)}
	if reason == "" {
		reason = typ
		if !ok {
			reason = "Not" + typ
		}
	}
	if a.beta1() {
		if !ok {
			c["severity"] = "Info"
			c["reason"] = reason
			if message != "" {
				c["message"] = message
			}
		}
		return c
	}
	c["reason"] = reason
	c["message"] = message // required (may be empty) in metav1.Condition
	return c
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// triggers are what a user (or tkgcert) sets to ask for a rollout.
type triggers struct {
	after      *time.Time
	beforeDays int32
	paused     bool
	replicas   int
}

func int64Field(u *unstructured.Unstructured, path ...string) int64 {
	v, _, _ := unstructured.NestedInt64(u.Object, path...)
	return v
}

// kcpTriggers reads the rollout triggers from a KubeadmControlPlane, with
// the same field readers tkgcert itself uses (package fleet).
func (a *api) kcpTriggers(u *unstructured.Unstructured) triggers {
	return triggers{
		replicas:   int(int64Field(u, "spec", "replicas")),
		paused:     fleet.Paused(u),
		after:      fleet.RolloutAfter(u, a.version),
		beforeDays: fleet.RolloutBeforeDays(u, a.version),
	}
}

// mdTriggers reads the rollout triggers from a MachineDeployment.
func (a *api) mdTriggers(u *unstructured.Unstructured) triggers {
	return triggers{
		replicas: int(int64Field(u, "spec", "replicas")),
		paused:   fleet.Paused(u),
		after:    fleet.RolloutAfter(u, a.version),
	}
}

// clusterPaused reads spec.paused (or the paused annotation) of a Cluster.
func clusterPaused(u *unstructured.Unstructured) bool { return fleet.Paused(u) }
