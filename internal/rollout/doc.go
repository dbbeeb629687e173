// Package rollout rotates a cluster's certificates the way Cluster API
// does it: by rolling its control-plane machines. Preflight refuses what
// would be unsafe, Trigger sets rolloutAfter (v1beta1) or rollout.after
// (v1beta2) from the Supervisor's clock with optimistic concurrency, Follow
// watches the machines until the rollout is done, and Verify proves that
// every certificate changed. The CLI and the controller share it.
package rollout
