package source

import (
	"context"
	"crypto/x509"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/cert"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/certs/names"
)

// SSHPrivateKeyKey is the key of the SSH private key in TKG's <cluster>-ssh
// secret (the secrets' names are package names').
const SSHPrivateKeyKey = "ssh-privatekey"

// ManagementCertificates are the cluster's certificates the Supervisor holds.
type ManagementCertificates struct {
	// Authorities are the cluster's CAs that could be read, in kubeadm's
	// order, located in their secrets.
	Authorities []certs.Info
	// CACertificates are the same CAs' certificates by kubeadm name.
	CACertificates map[string]*x509.Certificate
	// Kubeconfig is the client certificate of <cluster>-kubeconfig.
	Kubeconfig *certs.Info
	// Errors are per-secret problems.
	Errors []string
}

// ReadManagementCertificates reads the cluster's CA secrets and kubeconfig
// secret. Only certificates are kept; the secrets' keys are dropped at once.
func ReadManagementCertificates(ctx context.Context, c client.Client, namespace, cluster string) ManagementCertificates {
	m := ManagementCertificates{CACertificates: map[string]*x509.Certificate{}}
	for _, s := range names.Authorities() {
		name := cluster + s.SecretSuffix
		sec, err := getSecret(ctx, c, namespace, name)
		if err != nil {
			m.Errors = append(m.Errors, err.Error())
			continue
		}
		cs, err := cert.ParseCertsPEM(sec.Data[corev1.TLSCertKey])
		if err != nil || len(cs) == 0 {
			m.Errors = append(m.Errors, fmt.Sprintf("secret %s/%s: %s is not a PEM certificate: %v", namespace, name, corev1.TLSCertKey, err))
			continue
		}
		a := certs.NewAuthority(s.Name, cs[0])
		a.Location = certs.Location{Kind: certs.SupervisorSecret, Namespace: namespace, Cluster: cluster, Secret: name}
		m.Authorities = append(m.Authorities, a)
		m.CACertificates[s.Name] = cs[0]
	}
	name := cluster + names.KubeconfigSecretSuffix
	sec, err := getSecret(ctx, c, namespace, name)
	if err != nil {
		m.Errors = append(m.Errors, err.Error())
		return m
	}
	kcCert, err := certs.KubeconfigClientCert(sec.Data["value"])
	if err != nil {
		m.Errors = append(m.Errors, fmt.Sprintf("secret %s/%s: %v", namespace, name, err))
		return m
	}
	kc := certs.NewInfo(name, names.CA, kcCert)
	kc.Location = certs.Location{Kind: certs.SupervisorSecret, Namespace: namespace, Cluster: cluster, Secret: name}
	m.Kubeconfig = &kc
	return m
}

// SSHKey reads the cluster's SSH private key from <cluster>-ssh.
func SSHKey(ctx context.Context, c client.Client, namespace, cluster string) ([]byte, error) {
	sec, err := getSecret(ctx, c, namespace, cluster+names.SSHSecretSuffix)
	if err != nil {
		return nil, err
	}
	key := sec.Data[SSHPrivateKeyKey]
	if len(key) == 0 {
		return nil, fmt.Errorf("secret %s/%s%s has no %s", namespace, cluster, names.SSHSecretSuffix, SSHPrivateKeyKey)
	}
	return key, nil
}

func getSecret(ctx context.Context, c client.Client, namespace, name string) (*corev1.Secret, error) {
	sec := &corev1.Secret{}
	if err := c.Get(ctx, types.NamespacedName{Namespace: namespace, Name: name}, sec); err != nil {
		if apierrors.IsNotFound(err) {
			return nil, fmt.Errorf("secret %s/%s not found", namespace, name)
		}
		if apierrors.IsForbidden(err) {
			return nil, fmt.Errorf("reading secret %s/%s: forbidden: tkgcert needs get on secrets in %s", namespace, name, namespace)
		}
		return nil, fmt.Errorf("reading secret %s/%s: %w", namespace, name, err)
	}
	return sec, nil
}
