package recovery

import (
	"context"
	"fmt"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// CertificatesExpiryAnnotation is where Cluster API's KCP controller records,
// on a control-plane machine's KubeadmConfig, the expiry it read from the
// node's API server; Machine.status.certificatesExpiryDate follows it.
const CertificatesExpiryAnnotation = "machine.cluster.x-k8s.io/certificates-expiry"

// forgetRecordedExpiry removes CertificatesExpiryAnnotation from the
// KubeadmConfig of the machine of node, as Cluster API documents after a
// manual renewal ("To allow KCP to re-discover the expiry date please remove
// the annotation from the KubeadmConfig corresponding to the current
// machine"). KCP then reads the renewed certificate's expiry again, and
// neither rolloutBefore.certificatesExpiryDays nor tkgcert's fleet view
// acts on the expired date. version is the Cluster API version served
// (v1beta1, v1beta2); it reports whether there was an annotation to remove.
func forgetRecordedExpiry(ctx context.Context, c client.Client, version, namespace, cluster, node string) (bool, error) {
	list := &unstructured.UnstructuredList{}
	list.SetAPIVersion("cluster.x-k8s.io/" + version)
	list.SetKind("MachineList")
	if err := c.List(ctx, list, client.InNamespace(namespace), client.MatchingLabels{"cluster.x-k8s.io/cluster-name": cluster}); err != nil {
		return false, fmt.Errorf("listing the machines of %s/%s: %w", namespace, cluster, err)
	}
	for _, m := range list.Items {
		nodeRef, _, _ := unstructured.NestedString(m.Object, "status", "nodeRef", "name")
		if m.GetName() != node && nodeRef != node {
			continue
		}
		kind, _, _ := unstructured.NestedString(m.Object, "spec", "bootstrap", "configRef", "kind")
		name, _, _ := unstructured.NestedString(m.Object, "spec", "bootstrap", "configRef", "name")
		if kind != "KubeadmConfig" || name == "" {
			return false, fmt.Errorf("machine %s is not bootstrapped by a KubeadmConfig (configRef %s %q)", m.GetName(), kind, name)
		}
		kc := &unstructured.Unstructured{}
		kc.SetAPIVersion("bootstrap.cluster.x-k8s.io/" + version)
		kc.SetKind("KubeadmConfig")
		if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, kc); err != nil {
			return false, fmt.Errorf("reading KubeadmConfig %s/%s: %w", namespace, name, err)
		}
		if _, ok := kc.GetAnnotations()[CertificatesExpiryAnnotation]; !ok {
			return false, nil
		}
		patch := []byte(`{"metadata":{"annotations":{"` + CertificatesExpiryAnnotation + `":null}}}`)
		if err := c.Patch(ctx, kc, client.RawPatch(types.MergePatchType, patch)); err != nil {
			return false, fmt.Errorf("removing annotation %s from KubeadmConfig %s/%s: %w", CertificatesExpiryAnnotation, namespace, name, err)
		}
		return true, nil
	}
	return false, fmt.Errorf("no machine of %s/%s has node %s", namespace, cluster, node)
}
