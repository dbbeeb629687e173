// Package staticpod is the lab's stand-in for the kubelet's static pods on a
// control-plane node: it runs the node's real kube-apiserver from
// /etc/kubernetes/manifests/kube-apiserver.yaml, stops it when the manifest is
// moved away and starts it again when the manifest comes back (the restart
// kubeadm documents after renewing certificates), and restarts it when the
// manifest changes.
//
// The command line is the manifest's, with node paths mapped into the node's
// directory, and the lab's shared etcd in place of the node's own (the lab
// runs one plain etcd per world; the node's etcd ports present its
// certificates through package netsim instead).
package staticpod
