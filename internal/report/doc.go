// Package report renders inventories for people and machines: kubeadm's
// own tables per node (users already read those), a fleet summary sorted by
// time left, and the versioned JSON/YAML document.
package report
