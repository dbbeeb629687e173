// Package pki generates the certificates and keys of a Cluster API / kubeadm
// cluster: the cluster's CAs exactly as Cluster API stores them in the
// management cluster (secrets <cluster>-ca, -etcd, -proxy, -sa and
// <cluster>-kubeconfig), and the complete on-disk PKI of a node as kubeadm and
// the kubelet lay it out under /etc/kubernetes and /var/lib/kubelet.
//
// The layouts follow kubeadm v1.36 (cmd/kubeadm/app/phases/certs/certlist.go,
// phases/kubeconfig, util/pkiutil), Cluster API v1.14 (util/secret,
// util/kubeconfig) and the kubelet's certificate store, so that the real
// kubeadm, kubectl and crypto/x509 read the generated files as they read those
// of a real node.
//
// Everything is pure Go and in memory: private keys live only in the returned
// values (a node's Files are that simulated node's disk) and are never logged.
// The lab builds its simulated clusters with it, and tests build fixtures.
package pki
