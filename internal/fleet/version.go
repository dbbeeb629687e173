package fleet

import (
	"fmt"

	"k8s.io/client-go/discovery"

	"github.com/tkgcert/tkgcert/internal/capi"
)

// ControlPlaneGroup is the API group of KubeadmControlPlane.
const ControlPlaneGroup = "controlplane.cluster.x-k8s.io"

// DetectVersion returns the KubeadmControlPlane version the Supervisor
// prefers among those tkgcert supports.
func DetectVersion(dc discovery.DiscoveryInterface) (capi.APIVersion, error) {
	groups, err := dc.ServerGroups()
	if err != nil {
		return "", fmt.Errorf("discovering the Supervisor's API groups: %w", err)
	}
	for _, g := range groups.Groups {
		if g.Name != ControlPlaneGroup {
			continue
		}
		if v, err := capi.ParseAPIVersion(g.PreferredVersion.Version); err == nil {
			return v, nil
		}
		for _, gv := range g.Versions {
			if v, err := capi.ParseAPIVersion(gv.Version); err == nil {
				return v, nil
			}
		}
		return "", fmt.Errorf("the Supervisor serves %s in versions %v; tkgcert supports %v", ControlPlaneGroup, g.Versions, capi.Versions)
	}
	return "", fmt.Errorf("the Supervisor does not serve %s: is this a Supervisor (or Cluster API management cluster) with the kubeadm control plane provider?", ControlPlaneGroup)
}
