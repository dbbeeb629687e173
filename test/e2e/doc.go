// Package e2e holds end-to-end tests: the real tkgcert binary, the lab it
// starts, and the real kubectl, OpenSSH ssh and kubeadm, driven as a user
// would drive them.
package e2e
