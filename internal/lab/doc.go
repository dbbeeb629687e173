// Package lab is a local, simulated vSphere Supervisor with TKG clusters: the
// world tkgcert's demos and end-to-end tests run against. It is a simulation
// of the vendor side built from real parts:
//
//   - the Supervisor API is a real kube-apiserver and etcd serving Cluster
//     API's own CRDs (v1beta1 as TKG serves them, or v1beta2);
//   - every control-plane node runs its own real kube-apiserver from its own
//     kubeadm PKI, started from its static pod manifest, behind a TCP
//     pass-through balancer that is the cluster's endpoint, so the
//     kubeconfig secret reaches a real API server that trusts the cluster CA;
//   - every node has its own loopback address with a real SSH server whose
//     sessions run a real shell in private mount and UTS namespaces, where
//     /etc/kubernetes and /var/lib/kubelet are the node's own and the real
//     kubeadm is on PATH;
//   - a stand-in for Cluster API's KCP and MachineDeployment controllers and
//     the vSphere provider replaces machines as Cluster API documents it
//     (rolloutAfter / rollout.after, rolloutBefore.certificatesExpiryDays,
//     one machine at a time with maxSurge 1).
//
// Product code never imports this package.
package lab
