// Package names defines, once, the names tkgcert shares with kubeadm and
// Cluster API: the certificate authorities, the Supervisor secrets that hold
// them (<cluster>-ca, -etcd, -proxy, -sa, -kubeconfig, -ssh) and the node
// roles. It imports nothing, so that every package, pki included, can use it.
package names

// kubeadm's names of a cluster's certificate authorities and of its
// service-account key pair.
const (
	// CA is the Kubernetes cluster CA (pki/ca.crt).
	CA = "ca"
	// EtcdCA is the etcd CA (pki/etcd/ca.crt).
	EtcdCA = "etcd-ca"
	// FrontProxyCA is the front-proxy CA (pki/front-proxy-ca.crt).
	FrontProxyCA = "front-proxy-ca"
	// ServiceAccount is the service-account signing key pair (pki/sa.key,
	// pki/sa.pub); it has no certificate.
	ServiceAccount = "sa"
)

// Suffixes of the secrets Cluster API (and TKG) keep on the Supervisor for
// cluster NAME: NAME-ca, NAME-etcd, ...
const (
	CASecretSuffix             = "-ca"
	EtcdCASecretSuffix         = "-etcd"
	FrontProxyCASecretSuffix   = "-proxy"
	ServiceAccountSecretSuffix = "-sa"
	KubeconfigSecretSuffix     = "-kubeconfig"
	SSHSecretSuffix            = "-ssh"
)

// Node roles, as reports and plans name them.
const (
	RoleControlPlane = "control-plane"
	RoleWorker       = "worker"
)

// Authority is a certificate authority of a cluster with the suffix of its
// Supervisor secret.
type Authority struct {
	// Name is kubeadm's name: CA, EtcdCA or FrontProxyCA.
	Name string
	// SecretSuffix is the suffix of its secret: CASecretSuffix, ...
	SecretSuffix string
}

// Authorities returns a cluster's three CAs in kubeadm's order (by name).
func Authorities() []Authority {
	return []Authority{
		{Name: CA, SecretSuffix: CASecretSuffix},
		{Name: EtcdCA, SecretSuffix: EtcdCASecretSuffix},
		{Name: FrontProxyCA, SecretSuffix: FrontProxyCASecretSuffix},
	}
}

// AuthorityNames returns the names of a cluster's three CAs in kubeadm's
// order.
func AuthorityNames() []string {
	return []string{CA, EtcdCA, FrontProxyCA}
}

// SecretName is the name of the Supervisor secret that holds cluster's CA
// caName ("" for a name that is not one of the three CAs).
func SecretName(cluster, caName string) string {
	for _, a := range Authorities() {
		if a.Name == caName {
			return cluster + a.SecretSuffix
		}
	}
	return ""
}

// AuthorityOfSecret returns the CA that the Supervisor secret secretName of
// cluster holds, if it is one of the three CA secrets.
func AuthorityOfSecret(cluster, secretName string) (string, bool) {
	for _, a := range Authorities() {
		if secretName == cluster+a.SecretSuffix {
			return a.Name, true
		}
	}
	return "", false
}

// Role returns RoleControlPlane or RoleWorker.
func Role(controlPlane bool) string {
	if controlPlane {
		return RoleControlPlane
	}
	return RoleWorker
}
