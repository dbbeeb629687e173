package fleet

import (
	"encoding/json"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utiljson "k8s.io/apimachinery/pkg/util/json"

	"github.com/tkgcert/tkgcert/internal/capi"
)

// FuzzConvert: whatever a Supervisor returns as a Cluster, Machine,
// MachineDeployment or KubeadmControlPlane (any JSON object, decoded as
// client-go decodes it, with int64 numbers, or as encoding/json does, with
// float64), converting it does not panic, in either API version.
func FuzzConvert(f *testing.F) {
	for _, s := range []string{
		`{}`,
		`{"metadata":{"name":"m","labels":{"cluster.x-k8s.io/control-plane":""},"creationTimestamp":"2026-01-01T00:00:00Z","deletionTimestamp":"2026-01-02T00:00:00Z"},` +
			`"spec":{"providerID":"vsphere://x"},"status":{"phase":"Running","nodeRef":{"name":"n"},"certificatesExpiryDate":"2027-01-01T00:00:00Z",` +
			`"addresses":[{"type":"ExternalIP","address":"1.2.3.4"},{"type":"InternalIP","address":"10.0.0.1"},"x",null],` +
			`"conditions":[{"type":"Ready","status":"True","reason":"r","message":"m"},42,{"type":7}]}}`,
		`{"metadata":{"name":"kcp","annotations":{"cluster.x-k8s.io/paused":""}},"spec":{"replicas":3,"version":"v1.30.1",` +
			`"rolloutAfter":"2026-01-01T00:00:00Z","rolloutBefore":{"certificatesExpiryDays":21},"rollout":{"after":"2026-01-01T00:00:00Z","before":{"certificatesExpiryDays":21}},"paused":true},` +
			`"status":{"replicas":3,"readyReplicas":2,"updatedReplicas":1,"upToDateReplicas":1,"conditions":[]}}`,
		`{"spec":{"replicas":3.5,"controlPlaneEndpoint":{"host":"10.0.0.10","port":6443}},"status":{"replicas":1e30}}`,
		`{"spec":{"controlPlaneEndpoint":{"host":"h","port":"6443"}},"metadata":{"labels":"x","annotations":[1],"creationTimestamp":"yesterday"}}`,
		`{"metadata":{"creationTimestamp":7,"deletionTimestamp":{}},"status":{"addresses":{"type":"InternalIP"},"conditions":"Ready","nodeRef":"n"}}`,
		`{"spec":{"rolloutAfter":42,"rollout":{"after":null,"before":{"certificatesExpiryDays":9223372036854775807}}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, decode := range []func([]byte, any) error{utiljson.Unmarshal, json.Unmarshal} {
			var obj map[string]any
			if err := decode(data, &obj); err != nil || obj == nil {
				continue
			}
			u := &unstructured.Unstructured{Object: obj}
			_ = machine(u)
			_ = endpoint(u)
			_ = Paused(u)
			for _, v := range capi.Versions {
				r := &Reader{version: v}
				_ = r.controlPlane(u)
				_ = RolloutAfter(u, v)
				_ = RolloutBeforeDays(u, v)
			}
			c := &Cluster{Machines: []Machine{machine(u)}, ControlPlane: (&Reader{version: capi.V1Beta2}).controlPlane(u)}
			_, _ = c.EarliestMachineExpiry()
			_ = c.RolloutInProgress()
			_ = c.ControlPlaneMachines()
			_ = c.WorkerMachines()
		}
	})
}
