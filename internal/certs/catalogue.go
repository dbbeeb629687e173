package certs

import "path"

// Default locations on a kubeadm node, as slash paths relative to the node's
// root (the form fs.FS uses).
const (
	// KubernetesDir is kubeadm's hard-coded directory for kubeconfig files.
	KubernetesDir = "etc/kubernetes"
	// DefaultCertificatesDir is kubeadm's default certificatesDir.
	DefaultCertificatesDir = "etc/kubernetes/pki"
)

// Spec describes one entry of kubeadm v1.36's check-expiration catalogue:
// where the certificate lives and which CA it belongs to.
type Spec struct {
	// Name is kubeadm's name for the row ("apiserver", "admin.conf", "ca").
	Name string
	// CAName is the CA kubeadm attributes the certificate to; empty for a
	// CA.
	CAName string
	// BaseName is the file name without extension relative to the
	// certificates directory ("etcd/server"); for a kubeconfig, the file
	// name relative to KubernetesDir ("admin.conf").
	BaseName string
	// Kubeconfig reports that the certificate is the client certificate of
	// a kubeconfig file.
	Kubeconfig bool
	// Etcd reports that the entry belongs to the local (stacked) etcd and is
	// left out of the catalogue when etcd is external.
	Etcd bool
}

// CertPath returns the slash path of the certificate file (or kubeconfig)
// relative to the node's root, for the given certificates directory
// ("" means DefaultCertificatesDir).
func (s Spec) CertPath(certificatesDir string) string {
	if s.Kubeconfig {
		return path.Join(KubernetesDir, s.BaseName)
	}
	return path.Join(certDir(certificatesDir), s.BaseName+".crt")
}

// KeyPath returns the slash path of the private key kubeadm pairs with a
// PKI certificate ("" for a kubeconfig entry).
func (s Spec) KeyPath(certificatesDir string) string {
	if s.Kubeconfig {
		return ""
	}
	return path.Join(certDir(certificatesDir), s.BaseName+".key")
}

func certDir(certificatesDir string) string {
	if certificatesDir == "" {
		return DefaultCertificatesDir
	}
	return certificatesDir
}

// certificateSpecs is kubeadm v1.36's certificate list (certsphase
// GetDefaultCertList's leaves plus the kubeconfig files of the renewal
// manager), sorted by name as renewal.Manager.Certificates sorts it.
// kubelet.conf is not part of it: kubelet rotates its own certificate.
var certificateSpecs = []Spec{
	{Name: "admin.conf", CAName: CAName, BaseName: "admin.conf", Kubeconfig: true},
	{Name: "apiserver", CAName: CAName, BaseName: "apiserver"},
	{Name: "apiserver-etcd-client", CAName: EtcdCAName, BaseName: "apiserver-etcd-client", Etcd: true},
	{Name: "apiserver-kubelet-client", CAName: CAName, BaseName: "apiserver-kubelet-client"},
	{Name: "controller-manager.conf", CAName: CAName, BaseName: "controller-manager.conf", Kubeconfig: true},
	{Name: "etcd-healthcheck-client", CAName: EtcdCAName, BaseName: "etcd/healthcheck-client", Etcd: true},
	{Name: "etcd-peer", CAName: EtcdCAName, BaseName: "etcd/peer", Etcd: true},
	{Name: "etcd-server", CAName: EtcdCAName, BaseName: "etcd/server", Etcd: true},
	{Name: "front-proxy-client", CAName: FrontProxyCAName, BaseName: "front-proxy-client"},
	{Name: "scheduler.conf", CAName: CAName, BaseName: "scheduler.conf", Kubeconfig: true},
	{Name: "super-admin.conf", CAName: CAName, BaseName: "super-admin.conf", Kubeconfig: true},
}

// authoritySpecs is kubeadm v1.36's CA list, sorted by name.
var authoritySpecs = []Spec{
	{Name: CAName, BaseName: "ca"},
	{Name: EtcdCAName, BaseName: "etcd/ca", Etcd: true},
	{Name: FrontProxyCAName, BaseName: "front-proxy-ca"},
}

// externalCAChecks lists, per CA, the certificates kubeadm validates against
// the CA when the CA's key is absent (certsphase.UsingExternalCA,
// UsingExternalFrontProxyCA, UsingExternalEtcdCA), in kubeadm's order.
var externalCAChecks = map[string][]string{
	CAName:           {"apiserver", "apiserver-kubelet-client"},
	FrontProxyCAName: {"front-proxy-client"},
	EtcdCAName:       {"apiserver-etcd-client", "etcd/server", "etcd/peer", "etcd/healthcheck-client"},
}

// CertificateSpecs returns kubeadm v1.36's certificate catalogue in its
// order (by name), for a node with stacked etcd.
func CertificateSpecs() []Spec {
	return append([]Spec(nil), certificateSpecs...)
}

// AuthoritySpecs returns kubeadm v1.36's CA catalogue in its order.
func AuthoritySpecs() []Spec {
	return append([]Spec(nil), authoritySpecs...)
}

// authorityBaseName returns the base name of the CA with the given name.
func authorityBaseName(name string) string {
	for _, s := range authoritySpecs {
		if s.Name == name {
			return s.BaseName
		}
	}
	return ""
}
