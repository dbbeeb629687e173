// Package netsim provides the lab's network stand-ins: a TCP pass-through
// balancer for a cluster's control-plane endpoint, and TLS listeners that
// present a node's serving certificates (etcd, kubelet, controller-manager,
// scheduler) the way the real components do on those ports.
package netsim
