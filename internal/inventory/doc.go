// Package inventory reads every certificate of every cluster in scope: the
// Supervisor's secrets of each cluster and, through a source, each node,
// fanned out with bounded concurrency. A failure on one node or one secret
// is recorded where it happened and never hides the other results. The CLI
// (check, clusters) and the controller share this one implementation.
package inventory
