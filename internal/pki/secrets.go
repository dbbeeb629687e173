package pki

import (
	"crypto/x509"
	"errors"
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/tkgcert/tkgcert/internal/certs/names"
)

// Names and keys of Cluster API's cluster secrets (sigs.k8s.io/cluster-api
// util/secret, api/core/v1beta2).
const (
	// ClusterSecretType is the type of the secrets Cluster API creates.
	ClusterSecretType corev1.SecretType = "cluster.x-k8s.io/secret"
	// ClusterNameLabel labels each secret with its cluster's name.
	ClusterNameLabel = "cluster.x-k8s.io/cluster-name"
	// TLSCrtDataName holds a CA certificate (or sa.pub) in a CA secret.
	TLSCrtDataName = "tls.crt"
	// TLSKeyDataName holds the private key in a CA secret.
	TLSKeyDataName = "tls.key"
	// KubeconfigDataName holds the kubeconfig in <cluster>-kubeconfig.
	KubeconfigDataName = "value"
)

// Secret name suffixes (Cluster API "purposes"): a cluster's secrets are
// named <cluster><suffix>.
const (
	// ClusterCASuffix names the cluster CA secret, <cluster>-ca.
	ClusterCASuffix = names.CASecretSuffix
	// EtcdCASuffix names the etcd CA secret, <cluster>-etcd.
	EtcdCASuffix = names.EtcdCASecretSuffix
	// FrontProxyCASuffix names the front-proxy CA secret, <cluster>-proxy.
	FrontProxyCASuffix = names.FrontProxyCASecretSuffix
	// ServiceAccountSuffix names the service-account key secret, <cluster>-sa.
	ServiceAccountSuffix = names.ServiceAccountSecretSuffix
	// KubeconfigSuffix names the admin kubeconfig secret, <cluster>-kubeconfig.
	KubeconfigSuffix = names.KubeconfigSecretSuffix
)

// SecretName returns Cluster API's name of a cluster's secret:
// <cluster><suffix>, the suffix starting with its dash ("-ca").
func SecretName(clusterName, suffix string) string {
	return clusterName + suffix
}

// Secrets returns the secrets <cluster>-ca, -etcd, -proxy and -sa exactly as
// Cluster API stores them: type cluster.x-k8s.io/secret, label
// cluster.x-k8s.io/cluster-name, data tls.crt and tls.key (for -sa, tls.crt is
// the PEM public key, kubeadm's sa.pub). Owner references are left to the
// caller, which knows the owner's UID.
func (c *ClusterCAs) Secrets(namespace, clusterName string) ([]*corev1.Secret, error) {
	if err := c.validate(); err != nil {
		return nil, err
	}
	var out []*corev1.Secret
	for _, x := range []struct {
		suffix string
		kp     *KeyPair
	}{{ClusterCASuffix, c.CA}, {EtcdCASuffix, c.EtcdCA}, {FrontProxyCASuffix, c.FrontProxyCA}} {
		keyPEM, err := x.kp.KeyPEM()
		if err != nil {
			return nil, fmt.Errorf("secret %s: %w", SecretName(clusterName, x.suffix), err)
		}
		out = append(out, clusterSecret(namespace, clusterName, x.suffix, map[string][]byte{
			TLSCrtDataName: x.kp.CertPEM(),
			TLSKeyDataName: keyPEM,
		}))
	}
	pub, err := EncodePublicKeyPEM(c.ServiceAccountKey.Public())
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", SecretName(clusterName, ServiceAccountSuffix), err)
	}
	key, err := EncodePrivateKeyPEM(c.ServiceAccountKey)
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", SecretName(clusterName, ServiceAccountSuffix), err)
	}
	out = append(out, clusterSecret(namespace, clusterName, ServiceAccountSuffix, map[string][]byte{
		TLSCrtDataName: pub,
		TLSKeyDataName: key,
	}))
	return out, nil
}

func clusterSecret(namespace, clusterName, suffix string, data map[string][]byte) *corev1.Secret {
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: namespace,
			Name:      SecretName(clusterName, suffix),
			Labels:    map[string]string{ClusterNameLabel: clusterName},
		},
		Type: ClusterSecretType,
		Data: data,
	}
}

// ClusterCAsFromSecrets reads a cluster's CAs and service-account key back
// from its Cluster API secrets (<cluster>-ca, -etcd, -proxy, -sa), found by
// name among secrets. Each CA's key must match its certificate and the
// certificate must be a CA; errors name the secret and data key at fault.
func ClusterCAsFromSecrets(clusterName string, secrets []*corev1.Secret) (*ClusterCAs, error) {
	byName := make(map[string]*corev1.Secret, len(secrets))
	for _, s := range secrets {
		if s != nil {
			byName[s.Name] = s
		}
	}
	var missing []string
	for _, suffix := range []string{ClusterCASuffix, EtcdCASuffix, FrontProxyCASuffix, ServiceAccountSuffix} {
		if _, ok := byName[SecretName(clusterName, suffix)]; !ok {
			missing = append(missing, SecretName(clusterName, suffix))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("cluster %s: secret %s not found", clusterName, strings.Join(missing, ", "))
	}

	var cas ClusterCAs
	for _, x := range []struct {
		suffix string
		kp     **KeyPair
	}{{ClusterCASuffix, &cas.CA}, {EtcdCASuffix, &cas.EtcdCA}, {FrontProxyCASuffix, &cas.FrontProxyCA}} {
		kp, err := caFromSecret(byName[SecretName(clusterName, x.suffix)])
		if err != nil {
			return nil, err
		}
		*x.kp = kp
	}

	sa := byName[SecretName(clusterName, ServiceAccountSuffix)]
	keyPEM, err := secretData(sa, TLSKeyDataName)
	if err != nil {
		return nil, err
	}
	key, err := ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("secret %s: data %s: %w", sa.Name, TLSKeyDataName, err)
	}
	if pubPEM, ok := sa.Data[TLSCrtDataName]; ok {
		pub, err := parsePublicKeyPEM(pubPEM)
		if err != nil {
			return nil, fmt.Errorf("secret %s: data %s: %w", sa.Name, TLSCrtDataName, err)
		}
		if !publicKeysEqual(pub, key.Public()) {
			return nil, fmt.Errorf("secret %s: %s is not the public key of %s", sa.Name, TLSCrtDataName, TLSKeyDataName)
		}
	}
	cas.ServiceAccountKey = key
	return &cas, nil
}

func secretData(s *corev1.Secret, key string) ([]byte, error) {
	v, ok := s.Data[key]
	if !ok || len(v) == 0 {
		return nil, fmt.Errorf("secret %s: missing data %s", s.Name, key)
	}
	return v, nil
}

func caFromSecret(s *corev1.Secret) (*KeyPair, error) {
	certPEM, err := secretData(s, TLSCrtDataName)
	if err != nil {
		return nil, err
	}
	keyPEM, err := secretData(s, TLSKeyDataName)
	if err != nil {
		return nil, err
	}
	cert, err := ParseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("secret %s: data %s: %w", s.Name, TLSCrtDataName, err)
	}
	if !cert.IsCA || cert.KeyUsage&x509.KeyUsageCertSign == 0 {
		return nil, fmt.Errorf("secret %s: data %s: certificate %q is not a CA", s.Name, TLSCrtDataName, cert.Subject.CommonName)
	}
	key, err := ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("secret %s: data %s: %w", s.Name, TLSKeyDataName, err)
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("secret %s: %s does not match the certificate in %s", s.Name, TLSKeyDataName, TLSCrtDataName)
	}
	return &KeyPair{Cert: cert, Key: key}, nil
}

// KubeconfigSecret returns the <cluster>-kubeconfig secret as Cluster API
// makes it (util/kubeconfig): data key "value" holding a kubeconfig with
// cluster <cluster>, user <cluster>-admin, context <cluster>-admin@<cluster>,
// the CA certificate embedded, and an embedded client certificate CN
// kubernetes-admin, O system:masters signed by ca. server is the cluster's
// control-plane endpoint, "host:port" or an https URL.
func KubeconfigSecret(namespace, clusterName, server string, ca *KeyPair, v Validity, alg KeyAlgorithm) (*corev1.Secret, error) {
	if clusterName == "" {
		return nil, errors.New("kubeconfig secret: cluster name is required")
	}
	name := SecretName(clusterName, KubeconfigSuffix)
	url, err := serverURL(server)
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	client, err := NewLeaf(ca, LeafSpec{
		CommonName:   "kubernetes-admin",
		Organization: []string{"system:masters"},
		Usages:       []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, v, alg)
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	data, err := kubeconfig{
		cluster: clusterName,
		user:    clusterName + "-admin",
		server:  url,
		ca:      ca.Cert,
		client:  client,
	}.bytes()
	if err != nil {
		return nil, fmt.Errorf("secret %s: %w", name, err)
	}
	return clusterSecret(namespace, clusterName, KubeconfigSuffix, map[string][]byte{KubeconfigDataName: data}), nil
}
