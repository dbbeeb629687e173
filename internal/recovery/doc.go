// Package recovery renews the certificates of a cluster whose certificates
// have already expired, in place, with the cluster's own CAs: the path the
// vendor's procedure forbids and `tkgcert rotate` refuses.
//
// For each control-plane node, one at a time, over SSH: back up
// /etc/kubernetes and /var/lib/kubelet/pki on the node, write renewed leaf
// certificates and kubeconfig client certificates, restart the static pods
// the way kubeadm documents (manifests moved out of /etc/kubernetes/manifests
// and back), and wait until the node's API server serves the new certificate
// and answers. Expired kubelet client certificates are renewed on every node.
// Any failed step restores that node's backup and stops. Then the
// Supervisor's <cluster>-kubeconfig secret is refreshed in place.
//
// Renewed certificates keep the old certificate's subject, SANs, key usages
// and public key: they are signed for the key already on the node, so no
// leaf private key is generated, transferred or written anywhere. The CA keys
// come from the Supervisor's Cluster API secrets and are held in memory only.
package recovery
