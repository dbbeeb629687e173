// Package source reads a node's certificates. One interface, one file per
// way of reading: over SSH (the node's files, parsed with crypto/x509), by
// running the node's kubeadm (`kubeadm certs check-expiration`), or over TLS
// (the serving certificates, without SSH). The Supervisor's own secrets
// (the cluster's CAs and kubeconfig) are read by secrets.go.
//
// Private keys never leave the node: the SSH reader strips key blocks and
// client-key-data on the node before sending files, and keeps only the fact
// that a CA key exists (kubeadm's "externally managed" rule needs no more).
package source
