// Package kubeconfig turns a kubeconfig written by someone tkgcert does not
// trust (a Cluster's <cluster>-kubeconfig secret, writable by the owners of
// its vSphere Namespace) into a client configuration built from embedded
// data only: the server, its CA and a client certificate and key.
//
// clientcmd would honour whatever else a kubeconfig asks for: reading a
// token or certificate from a file on the controller's disk, running an
// exec plugin, using an auth provider, a proxy, impersonation or a password.
// Any such field is refused here with an error that names the secret and
// the field, and the server must be the Cluster's spec.controlPlaneEndpoint,
// so that the credentials are only ever sent to the cluster they belong to.
package kubeconfig
