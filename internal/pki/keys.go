package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
)

// KeyAlgorithm selects the type of the private keys to generate.
type KeyAlgorithm string

const (
	// RSA2048 generates 2048-bit RSA keys, the default of kubeadm and Cluster
	// API. The zero KeyAlgorithm means RSA2048.
	RSA2048 KeyAlgorithm = "RSA-2048"
	// ECDSAP256 generates ECDSA keys on curve P-256 (kubeadm's and Cluster
	// API's "ECDSA-P256"); much faster to generate, for bulk simulations.
	ECDSAP256 KeyAlgorithm = "ECDSA-P256"
)

// PEM block types, as kubeadm (client-go keyutil/certutil) writes them.
const (
	certificateBlockType   = "CERTIFICATE"
	rsaPrivateKeyBlockType = "RSA PRIVATE KEY"
	ecPrivateKeyBlockType  = "EC PRIVATE KEY"
	privateKeyBlockType    = "PRIVATE KEY"
	publicKeyBlockType     = "PUBLIC KEY"
)

// GenerateKey returns a new private key of the algorithm a; the zero value
// generates an RSA-2048 key.
func (a KeyAlgorithm) GenerateKey() (crypto.Signer, error) {
	if err := a.validate(); err != nil {
		return nil, err
	}
	if a == ECDSAP256 {
		return ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	}
	return rsa.GenerateKey(rand.Reader, 2048)
}

// validate reports an unknown algorithm before anything is generated.
func (a KeyAlgorithm) validate() error {
	switch a {
	case RSA2048, ECDSAP256, "":
		return nil
	}
	return fmt.Errorf("unknown key algorithm %q (want %q or %q)", string(a), RSA2048, ECDSAP256)
}

// KeyPair is a certificate together with its private key.
type KeyPair struct {
	// Cert is the parsed certificate.
	Cert *x509.Certificate
	// Key is the certificate's private key (*rsa.PrivateKey or *ecdsa.PrivateKey).
	Key crypto.Signer
}

// CertPEM returns the certificate as one PEM "CERTIFICATE" block, or nil when
// k has no certificate.
func (k *KeyPair) CertPEM() []byte {
	if k == nil || k.Cert == nil {
		return nil
	}
	return EncodeCertPEM(k.Cert)
}

// KeyPEM returns the private key in PEM as kubeadm writes it: PKCS#1
// ("RSA PRIVATE KEY") for RSA and SEC 1 ("EC PRIVATE KEY") for ECDSA.
func (k *KeyPair) KeyPEM() ([]byte, error) {
	if k == nil || k.Key == nil {
		return nil, errors.New("key pair has no private key")
	}
	return EncodePrivateKeyPEM(k.Key)
}

// EncodeCertPEM returns cert as one PEM "CERTIFICATE" block.
func EncodeCertPEM(cert *x509.Certificate) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: certificateBlockType, Bytes: cert.Raw})
}

// EncodePrivateKeyPEM encodes an RSA key as PKCS#1 ("RSA PRIVATE KEY") and an
// ECDSA key as SEC 1 ("EC PRIVATE KEY"), as client-go's keyutil does for
// kubeadm and as Cluster API does for its secrets.
func EncodePrivateKeyPEM(key crypto.Signer) ([]byte, error) {
	switch k := key.(type) {
	case *rsa.PrivateKey:
		return pem.EncodeToMemory(&pem.Block{Type: rsaPrivateKeyBlockType, Bytes: x509.MarshalPKCS1PrivateKey(k)}), nil
	case *ecdsa.PrivateKey:
		der, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, fmt.Errorf("encoding EC private key: %w", err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: ecPrivateKeyBlockType, Bytes: der}), nil
	default:
		return nil, fmt.Errorf("unsupported private key type %T", key)
	}
}

// EncodePublicKeyPEM encodes a public key as a PKIX "PUBLIC KEY" block, the
// format of kubeadm's sa.pub and of the tls.crt of Cluster API's <cluster>-sa
// secret.
func EncodePublicKeyPEM(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, fmt.Errorf("encoding public key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: publicKeyBlockType, Bytes: der}), nil
}

// ParseCertPEM parses the first CERTIFICATE block of data, skipping any other
// blocks (such as the private key in a kubelet-client-current.pem).
func ParseCertPEM(data []byte) (*x509.Certificate, error) {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no CERTIFICATE PEM block found")
		}
		if block.Type == certificateBlockType {
			return x509.ParseCertificate(block.Bytes)
		}
	}
}

// ParsePrivateKeyPEM parses the first private key block of data: PKCS#1,
// SEC 1 or PKCS#8, RSA or ECDSA, as Cluster API accepts them in its secrets.
func ParsePrivateKeyPEM(data []byte) (crypto.Signer, error) {
	for rest := data; ; {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			return nil, errors.New("no private key PEM block found")
		}
		switch block.Type {
		case rsaPrivateKeyBlockType:
			return x509.ParsePKCS1PrivateKey(block.Bytes)
		case ecPrivateKeyBlockType:
			return x509.ParseECPrivateKey(block.Bytes)
		case privateKeyBlockType:
			k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
			if err != nil {
				return nil, err
			}
			s, ok := k.(crypto.Signer)
			if !ok {
				return nil, fmt.Errorf("unsupported PKCS#8 private key type %T", k)
			}
			return s, nil
		}
	}
}

// ParseKeyPair parses a PEM certificate and its PEM private key and checks
// that the key belongs to the certificate.
func ParseKeyPair(certPEM, keyPEM []byte) (*KeyPair, error) {
	cert, err := ParseCertPEM(certPEM)
	if err != nil {
		return nil, fmt.Errorf("parsing certificate: %w", err)
	}
	key, err := ParsePrivateKeyPEM(keyPEM)
	if err != nil {
		return nil, fmt.Errorf("parsing private key: %w", err)
	}
	if !publicKeysEqual(cert.PublicKey, key.Public()) {
		return nil, fmt.Errorf("private key does not match the certificate %q", cert.Subject.CommonName)
	}
	return &KeyPair{Cert: cert, Key: key}, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	e, ok := a.(interface{ Equal(crypto.PublicKey) bool })
	return ok && e.Equal(b)
}

func parsePublicKeyPEM(data []byte) (crypto.PublicKey, error) {
	block, _ := pem.Decode(data)
	if block == nil || block.Type != publicKeyBlockType {
		return nil, errors.New("no PUBLIC KEY PEM block found")
	}
	return x509.ParsePKIXPublicKey(block.Bytes)
}
