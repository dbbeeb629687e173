// Package kubeserver runs the real etcd and kube-apiserver binaries as child
// processes on loopback addresses. The test environment and the lab both start
// their API servers through it, so that every test talks to the same real
// components a Supervisor runs.
//
// Child processes are placed in their own process group and receive SIGKILL if
// the parent dies, so a crashed test binary leaves no server behind.
package kubeserver
