// Package testenv gives integration tests a real Supervisor API: etcd and
// kube-apiserver from the repository's bin/ (built by `make tools`), with
// Cluster API's CRDs from the Go module cache served as v1beta1 only (as TKG
// serves them) or v1beta2 only (current Cluster API).
//
// A package starts its environments once, from TestMain:
//
//	func TestMain(m *testing.M) {
//		os.Exit(testenv.Main(m, capi.V1Beta1, capi.V1Beta2))
//	}
//
// and each test fetches one with testenv.Get(t, capi.V1Beta1). Environments
// are independent (own etcd, ports and temp dir), so packages run in parallel.
// Nothing outlives the test binary: the servers die with it even when it
// panics, and a watchdog removes the temp dir.
package testenv
