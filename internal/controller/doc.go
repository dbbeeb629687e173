// Package controller is tkgcert's controller: it runs on (or against) the
// Supervisor, inventories every cluster in scope on a jittered period with
// the same code as `tkgcert check`, exports the results as Prometheus
// metrics, Events and a status annotation, and rotates clusters before their
// certificates expire with the same preflight, trigger and follow code as
// `tkgcert rotate`, within a policy: a threshold, a maintenance window, a
// bound on concurrent rotations, and per-cluster opt-out or threshold
// annotations.
//
// The controller keeps no state of its own: what it would remember (that a
// rollout is under way, that a cluster's state changed) is read back from
// the Supervisor on every pass, so a restart or a new leader continues where
// the previous one stopped and never starts a second rollout.
package controller
