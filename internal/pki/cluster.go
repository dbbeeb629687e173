package pki

import (
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"

	"github.com/tkgcert/tkgcert/internal/certs/names"
)

// ClusterCAs are the certificate authorities and the service-account key
// shared by all nodes of one cluster.
type ClusterCAs struct {
	// CA is the cluster CA (kubeadm "ca", pki/ca.crt, secret <cluster>-ca):
	// signs the API server, kubelet and kubeconfig certificates.
	CA *KeyPair
	// EtcdCA is the etcd CA (kubeadm "etcd-ca", pki/etcd/ca.crt, secret
	// <cluster>-etcd).
	EtcdCA *KeyPair
	// FrontProxyCA is the front-proxy CA (kubeadm "front-proxy-ca",
	// pki/front-proxy-ca.crt, secret <cluster>-proxy).
	FrontProxyCA *KeyPair
	// ServiceAccountKey signs service-account tokens (pki/sa.key and sa.pub,
	// secret <cluster>-sa).
	ServiceAccountKey crypto.Signer
}

// CAOptions configure NewClusterCAs.
type CAOptions struct {
	// Validity of the three CA certificates; zero means ten years from five
	// minutes ago.
	Validity Validity
	// KeyAlgorithm of the CA keys and the service-account key; zero means
	// RSA-2048.
	KeyAlgorithm KeyAlgorithm
}

// clusterCACommonName is the subject CN Cluster API gives all three CAs
// (util/secret.newSelfSignedCACert).
const clusterCACommonName = "kubernetes"

// NewClusterCAs generates a cluster's CAs and service-account key as Cluster
// API does when it creates a cluster (util/secret/certificates.go): each of
// the three CAs has subject CN "kubernetes", serial number 0, path length
// constraint 0 and no subject alternative names.
func NewClusterCAs(o CAOptions) (*ClusterCAs, error) {
	var cas ClusterCAs
	for _, c := range []struct {
		name string
		kp   **KeyPair
	}{
		{names.CA, &cas.CA},
		{names.EtcdCA, &cas.EtcdCA},
		{names.FrontProxyCA, &cas.FrontProxyCA},
	} {
		kp, err := newClusterAPICA(o.Validity, o.KeyAlgorithm)
		if err != nil {
			return nil, fmt.Errorf("generating %s: %w", c.name, err)
		}
		*c.kp = kp
	}
	sa, err := o.KeyAlgorithm.GenerateKey()
	if err != nil {
		return nil, fmt.Errorf("generating service-account key: %w", err)
	}
	cas.ServiceAccountKey = sa
	return &cas, nil
}

func newClusterAPICA(v Validity, alg KeyAlgorithm) (*KeyPair, error) {
	return selfSignedCA(&x509.Certificate{
		SerialNumber:   big.NewInt(0),
		Subject:        pkix.Name{CommonName: clusterCACommonName},
		MaxPathLen:     0,
		MaxPathLenZero: true,
	}, v, alg)
}

// validate reports the first missing piece of c.
func (c *ClusterCAs) validate() error {
	if c == nil {
		return errors.New("cluster CAs are required")
	}
	for _, x := range []struct {
		name string
		kp   *KeyPair
	}{{names.CA, c.CA}, {names.EtcdCA, c.EtcdCA}, {names.FrontProxyCA, c.FrontProxyCA}} {
		if x.kp == nil || x.kp.Cert == nil || x.kp.Key == nil {
			return fmt.Errorf("cluster CAs: %s certificate and key are required", x.name)
		}
	}
	if c.ServiceAccountKey == nil {
		return errors.New("cluster CAs: service-account key is required")
	}
	return nil
}
