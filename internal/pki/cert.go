package pki

import (
	"crypto"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math"
	"math/big"
	"net"
	"slices"
	"time"
)

// Default validity periods, as kubeadm (constants.CertificateValidityPeriod,
// CACertificateValidityPeriod, CertificateBackdate) and Cluster API use them.
const (
	// LeafValidityPeriod is the lifetime of leaf and kubeconfig certificates.
	LeafValidityPeriod = 365 * 24 * time.Hour
	// CAValidityPeriod is the lifetime of CA certificates.
	CAValidityPeriod = 10 * 365 * 24 * time.Hour
	// Backdate is how far NotBefore is moved into the past by default.
	Backdate = 5 * time.Minute
)

// Validity is the validity period of a certificate. X.509 stores whole
// seconds in UTC, so both times are truncated to the second; the generated
// certificate's NotBefore and NotAfter then equal the truncated values.
//
// The zero Validity means "issued now": NotBefore five minutes ago (kubeadm's
// backdate) and NotAfter one year (leaves) or ten years (CAs) from now.
type Validity struct {
	// NotBefore is the start of the validity period.
	NotBefore time.Time
	// NotAfter is the end of the validity period; it may lie in the past to
	// simulate expired certificates.
	NotAfter time.Time
}

// ValidFor returns the Validity starting at notBefore and lasting d.
func ValidFor(notBefore time.Time, d time.Duration) Validity {
	return Validity{NotBefore: notBefore, NotAfter: notBefore.Add(d)}
}

// resolve applies the default for a zero Validity, truncates to seconds and
// checks the period is not empty.
func (v Validity) resolve(def time.Duration) (Validity, error) {
	switch {
	case v.NotBefore.IsZero() && v.NotAfter.IsZero():
		now := time.Now()
		v = Validity{NotBefore: now.Add(-Backdate), NotAfter: now.Add(def)}
	case v.NotBefore.IsZero() || v.NotAfter.IsZero():
		return Validity{}, fmt.Errorf("validity needs both NotBefore and NotAfter (got %s .. %s)", fmtTime(v.NotBefore), fmtTime(v.NotAfter))
	}
	v.NotBefore = v.NotBefore.UTC().Truncate(time.Second)
	v.NotAfter = v.NotAfter.UTC().Truncate(time.Second)
	if !v.NotAfter.After(v.NotBefore) {
		return Validity{}, fmt.Errorf("validity NotAfter %s is not after NotBefore %s", fmtTime(v.NotAfter), fmtTime(v.NotBefore))
	}
	return v, nil
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "<unset>"
	}
	return t.UTC().Format(time.RFC3339)
}

// randomSerial returns a uniform random serial in [1, MaxInt64), as kubeadm's
// pkiutil does.
func randomSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(math.MaxInt64-1))
	if err != nil {
		return nil, fmt.Errorf("generating serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

// NewCA generates a self-signed CA the way kubeadm init does
// (pkiutil.NewSelfSignedCACert): a random serial, the common name as subject
// and as its only DNS name, key usages digital signature, key encipherment
// and certificate signing.
//
// The CAs of a Cluster API cluster are made slightly differently; use
// NewClusterCAs for those.
func NewCA(commonName string, v Validity, alg KeyAlgorithm) (*KeyPair, error) {
	if commonName == "" {
		return nil, errors.New("CA needs a common name")
	}
	tmpl := &x509.Certificate{
		Subject:  pkix.Name{CommonName: commonName},
		DNSNames: []string{commonName},
	}
	kp, err := selfSignedCA(tmpl, v, alg)
	if err != nil {
		return nil, fmt.Errorf("generating CA %q: %w", commonName, err)
	}
	return kp, nil
}

// selfSignedCA completes tmpl as a CA certificate valid for v and signs it
// with a new key of alg.
func selfSignedCA(tmpl *x509.Certificate, v Validity, alg KeyAlgorithm) (*KeyPair, error) {
	v, err := v.resolve(CAValidityPeriod)
	if err != nil {
		return nil, err
	}
	tmpl.NotBefore, tmpl.NotAfter = v.NotBefore, v.NotAfter
	tmpl.KeyUsage = x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign
	tmpl.BasicConstraintsValid = true
	tmpl.IsCA = true
	kp, err := issue(tmpl, nil, alg)
	if err != nil {
		return nil, fmt.Errorf("signing CA certificate: %w", err)
	}
	return kp, nil
}

// issue generates a key of alg and the certificate tmpl for it, signed by
// parent (self-signed when parent is nil), with a random serial when tmpl
// has none.
func issue(tmpl *x509.Certificate, parent *KeyPair, alg KeyAlgorithm) (*KeyPair, error) {
	if tmpl.SerialNumber == nil {
		serial, err := randomSerial()
		if err != nil {
			return nil, err
		}
		tmpl.SerialNumber = serial
	}
	key, err := alg.GenerateKey()
	if err != nil {
		return nil, err
	}
	signer, signerCert := key, tmpl
	if parent != nil {
		signer, signerCert = parent.Key, parent.Cert
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, signerCert, key.Public(), signer)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &KeyPair{Cert: cert, Key: key}, nil
}

// LeafSpec describes a certificate signed by a CA.
type LeafSpec struct {
	// CommonName is the subject's CN (the user name for client certificates).
	CommonName string
	// Organization is the subject's O (the groups for client certificates).
	Organization []string
	// Usages are the extended key usages (server auth, client auth).
	Usages []x509.ExtKeyUsage
	// DNSNames are the DNS subject alternative names.
	DNSNames []string
	// IPs are the IP subject alternative names.
	IPs []net.IP
}

// NewLeaf generates a key of alg and a certificate for it signed by ca, the
// way kubeadm does (pkiutil.NewSignedCert): a random serial, key usages
// digital signature and key encipherment, basic constraints CA:FALSE, and the
// subject alternative names de-duplicated with the DNS names sorted.
func NewLeaf(ca *KeyPair, spec LeafSpec, v Validity, alg KeyAlgorithm) (*KeyPair, error) {
	if ca == nil || ca.Cert == nil || ca.Key == nil {
		return nil, fmt.Errorf("signing %q: CA certificate and key are required", spec.CommonName)
	}
	key, err := alg.GenerateKey()
	if err != nil {
		return nil, err
	}
	cert, err := signLeaf(ca, spec, key.Public(), v)
	if err != nil {
		return nil, err
	}
	return &KeyPair{Cert: cert, Key: key}, nil
}

func signLeaf(ca *KeyPair, spec LeafSpec, pub crypto.PublicKey, v Validity) (*x509.Certificate, error) {
	if spec.CommonName == "" {
		return nil, errors.New("leaf certificate needs a common name")
	}
	v, err := v.resolve(LeafValidityPeriod)
	if err != nil {
		return nil, fmt.Errorf("certificate %q: %w", spec.CommonName, err)
	}
	serial, err := randomSerial()
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:   spec.CommonName,
			Organization: slices.Clone(spec.Organization),
		},
		DNSNames:              dedupDNSNames(spec.DNSNames),
		IPAddresses:           dedupIPs(spec.IPs),
		NotBefore:             v.NotBefore,
		NotAfter:              v.NotAfter,
		KeyUsage:              x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           slices.Clone(spec.Usages),
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("signing certificate %q: %w", spec.CommonName, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("parsing certificate %q: %w", spec.CommonName, err)
	}
	return cert, nil
}

// dedupDNSNames sorts and de-duplicates, as kubeadm's RemoveDuplicateAltNames.
func dedupDNSNames(names []string) []string {
	if len(names) == 0 {
		return nil
	}
	out := slices.Clone(names)
	slices.Sort(out)
	return slices.Compact(out)
}

// dedupIPs drops repeated addresses and keeps the order, as kubeadm does.
func dedupIPs(ips []net.IP) []net.IP {
	var out []net.IP
	for _, ip := range ips {
		if !slices.ContainsFunc(out, ip.Equal) {
			out = append(out, ip)
		}
	}
	return out
}
