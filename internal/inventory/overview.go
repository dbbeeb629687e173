package inventory

import (
	"context"
	"sync"
	"time"

	"github.com/tkgcert/tkgcert/internal/fleet"
	"github.com/tkgcert/tkgcert/internal/source"
)

// ClusterList is the document `tkgcert clusters -o json|yaml` prints.
type ClusterList struct {
	APIVersion string           `json:"apiVersion"`
	Kind       string           `json:"kind"`
	Items      []ClusterSummary `json:"items"`
	// Supervisors are the Supervisors of a run over several (see Report).
	Supervisors []SupervisorRun `json:"supervisors,omitempty"`
}

// ClusterSummary is one cluster as the Supervisor alone describes it: no
// node is contacted.
type ClusterSummary struct {
	// Supervisor is the kubeconfig context of the cluster's Supervisor in
	// a run over several; empty otherwise.
	Supervisor        string `json:"supervisor,omitempty"`
	Namespace         string `json:"namespace"`
	Name              string `json:"name"`
	ClusterAPIVersion string `json:"clusterAPIVersion"`
	Phase             string `json:"phase"`
	ControlPlane      struct {
		Ready    int32 `json:"ready"`
		Replicas int32 `json:"replicas"`
	} `json:"controlPlane"`
	// EarliestLeafExpiry is the earliest Machine certificatesExpiryDate.
	EarliestLeafExpiry *time.Time `json:"earliestLeafExpiry,omitempty"`
	// EarliestCAExpiry is the earliest expiry among the cluster's CA secrets.
	EarliestCAExpiry  *time.Time `json:"earliestCAExpiry,omitempty"`
	RolloutInProgress bool       `json:"rolloutInProgress"`
	Paused            bool       `json:"paused"`
	Errors            []string   `json:"errors,omitempty"`
}

// Overview summarises the clusters in scope from the Supervisor only.
func Overview(ctx context.Context, r *fleet.Reader, namespace string, names []string, parallel int) (*ClusterList, error) {
	clusters, err := r.Clusters(ctx, namespace, names)
	if err != nil {
		return nil, err
	}
	if parallel <= 0 {
		parallel = DefaultParallel
	}
	out := &ClusterList{APIVersion: APIVersion, Kind: "ClusterList", Items: make([]ClusterSummary, len(clusters))}
	sem := make(chan struct{}, parallel)
	var wg sync.WaitGroup
	for i := range clusters {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			cl := &clusters[i]
			s := ClusterSummary{Namespace: cl.Namespace, Name: cl.Name, ClusterAPIVersion: string(cl.APIVersion),
				Phase: cl.Phase, RolloutInProgress: cl.RolloutInProgress(), Paused: cl.Paused || cl.ControlPlane.Paused}
			s.ControlPlane.Ready, s.ControlPlane.Replicas = cl.ControlPlane.ReadyReplicas, cl.ControlPlane.Replicas
			if t, ok := cl.EarliestMachineExpiry(); ok {
				s.EarliestLeafExpiry = &t
			}
			m := source.ReadManagementCertificates(ctx, r.Client(), cl.Namespace, cl.Name)
			s.Errors = m.Errors
			for _, a := range m.Authorities {
				t := a.NotAfter
				if s.EarliestCAExpiry == nil || t.Before(*s.EarliestCAExpiry) {
					s.EarliestCAExpiry = &t
				}
			}
			out.Items[i] = s
		}()
	}
	wg.Wait()
	return out, nil
}
