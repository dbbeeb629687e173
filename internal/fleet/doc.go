// Package fleet reads a Supervisor's TKG clusters, version-agnostically: the
// Cluster, its KubeadmControlPlane and its Machines, whether the Supervisor
// serves Cluster API v1beta1 (TKG: spec.rolloutAfter) or v1beta2
// (spec.rollout.after). Every command and the controller see clusters
// through this one package.
package fleet
