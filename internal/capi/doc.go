// Package capi knows which Cluster API is in play: the API versions tkgcert
// supports (v1beta1, as TKG serves it, and v1beta2, current Cluster API), how
// to tell which one a Supervisor serves, and where Cluster API's own CRDs come
// from (the sigs.k8s.io/cluster-api module in the Go module cache, at the
// release matching the typed API this binary is built with).
package capi
