package controller

import (
	"net/http/httptest"
	"testing"
)

func TestRequestAttributes(t *testing.T) {
	for _, tc := range []struct {
		method, url string
		want        Attributes
	}{
		{"PATCH", "/apis/controlplane.cluster.x-k8s.io/v1beta1/namespaces/c/kubeadmcontrolplanes/a-control-plane",
			Attributes{Verb: "patch", Resource: "kubeadmcontrolplanes.controlplane.cluster.x-k8s.io", Namespace: "c", Name: "a-control-plane"}},
		{"GET", "/api/v1/namespaces/c/secrets/a-ssh", Attributes{Verb: "get", Resource: "secrets", Namespace: "c", Name: "a-ssh"}},
		{"GET", "/apis/cluster.x-k8s.io/v1beta1/clusters?limit=500", Attributes{Verb: "list", Resource: "clusters.cluster.x-k8s.io"}},
		{"GET", "/apis/cluster.x-k8s.io/v1beta1/namespaces/c/machines?watch=true", Attributes{Verb: "watch", Resource: "machines.cluster.x-k8s.io", Namespace: "c"}},
		{"GET", "/api/v1/nodes", Attributes{Verb: "list", Resource: "nodes"}},
		{"GET", "/api/v1/namespaces/team-a", Attributes{Verb: "get", Resource: "namespaces", Name: "team-a"}},
		{"POST", "/apis/events.k8s.io/v1/namespaces/c/events", Attributes{Verb: "create", Resource: "events.events.k8s.io", Namespace: "c"}},
		{"PUT", "/apis/coordination.k8s.io/v1/namespaces/tkgcert-system/leases/tkgcert-controller", Attributes{Verb: "update", Resource: "leases.coordination.k8s.io", Namespace: "tkgcert-system", Name: "tkgcert-controller"}},
		{"PATCH", "/apis/cluster.x-k8s.io/v1beta1/namespaces/c/clusters/a/status", Attributes{Verb: "patch", Resource: "clusters.cluster.x-k8s.io/status", Namespace: "c", Name: "a"}},
	} {
		got := RequestAttributes(httptest.NewRequest(tc.method, tc.url, nil))
		if got != tc.want {
			t.Errorf("%s %s: %+v, want %+v", tc.method, tc.url, got, tc.want)
		}
	}
	a := Attributes{Verb: "patch", Resource: "kubeadmcontrolplanes.controlplane.cluster.x-k8s.io", Namespace: "c"}
	if s := a.String(); s != "forbidden: cannot patch kubeadmcontrolplanes.controlplane.cluster.x-k8s.io in namespace c" {
		t.Errorf("%q", s)
	}
}
