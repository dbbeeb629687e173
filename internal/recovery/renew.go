package recovery

import (
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"math/big"
	"regexp"
	"slices"
	"time"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/pki"
)

// Validity of renewed certificates, as kubeadm's: one year, NotBefore
// backdated by five minutes.
const (
	RenewedValidity = pki.LeafValidityPeriod
	backdate        = pki.Backdate
)

// Renew signs a new certificate for old's public key with ca, keeping old's
// subject, subject alternative names, key usages, extended key usages and
// basic constraints, valid from now-5m for one year. It refuses a
// certificate ca did not issue, and a CA that is itself expired at now: a
// new CA is never made here.
func Renew(old *x509.Certificate, ca *pki.KeyPair, now time.Time) (*x509.Certificate, error) {
	if old == nil || ca == nil || ca.Cert == nil || ca.Key == nil {
		return nil, errors.New("renewing a certificate needs the old certificate and the CA's certificate and key")
	}
	name := old.Subject.CommonName
	if err := old.CheckSignatureFrom(ca.Cert); err != nil {
		return nil, fmt.Errorf("certificate %q was not issued by CA %q: not renewing it with that CA: %w", name, ca.Cert.Subject.CommonName, err)
	}
	if !now.Before(ca.Cert.NotAfter) {
		return nil, fmt.Errorf("CA %q expired on %s: renewing its certificates needs a new CA, which tkgcert recover does not make", ca.Cert.Subject.CommonName, ca.Cert.NotAfter.UTC().Format(time.RFC3339))
	}
	if old.IsCA {
		return nil, fmt.Errorf("certificate %q is a CA: tkgcert recover renews leaf certificates only", name)
	}
	serial, err := rand.Int(rand.Reader, big.NewInt(math.MaxInt64-1))
	if err != nil {
		return nil, fmt.Errorf("generating a serial number: %w", err)
	}
	notBefore := now.Add(-backdate).UTC().Truncate(time.Second)
	notAfter := now.Add(RenewedValidity).UTC().Truncate(time.Second)
	if notAfter.After(ca.Cert.NotAfter) {
		// A certificate cannot outlive its issuer in any verifier.
		notAfter = ca.Cert.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial.Add(serial, big.NewInt(1)),
		RawSubject:            old.RawSubject,
		Subject:               old.Subject,
		DNSNames:              slices.Clone(old.DNSNames),
		IPAddresses:           slices.Clone(old.IPAddresses),
		EmailAddresses:        slices.Clone(old.EmailAddresses),
		URIs:                  slices.Clone(old.URIs),
		NotBefore:             notBefore,
		NotAfter:              notAfter,
		KeyUsage:              old.KeyUsage,
		ExtKeyUsage:           slices.Clone(old.ExtKeyUsage),
		UnknownExtKeyUsage:    slices.Clone(old.UnknownExtKeyUsage),
		BasicConstraintsValid: old.BasicConstraintsValid,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, old.PublicKey, ca.Key)
	if err != nil {
		return nil, fmt.Errorf("signing the renewed certificate %q: %w", name, err)
	}
	return x509.ParseCertificate(der)
}

// clientCertLine matches the client-certificate-data line of a kubeconfig
// as clientcmd writes it: one base64 value on the line.
var clientCertLine = regexp.MustCompile(`(?m)^\s*client-certificate-data:\s*(\S+)\s*$`)

// kubeconfigClient finds the embedded client certificate of a kubeconfig's
// current user, with the literal base64 value as it appears in the file
// (so the node can replace exactly that value). ok is false for a
// kubeconfig whose user has no embedded certificate (the kubelet's
// kubeconfig pointing at its rotating certificate file).
func kubeconfigClient(data []byte) (cert *x509.Certificate, literal string, ok bool, err error) {
	u, err := certs.ParseKubeconfigUser(data)
	if errors.Is(err, certs.ErrKubeconfigNoUser) {
		return nil, "", false, nil
	}
	if err != nil {
		return nil, "", false, err
	}
	if len(u.AuthInfo.ClientCertificateData) == 0 {
		return nil, "", false, nil
	}
	cert, err = u.ClientCertificate()
	if err != nil {
		return nil, "", false, err
	}
	want := base64.StdEncoding.EncodeToString(u.AuthInfo.ClientCertificateData)
	for _, m := range clientCertLine.FindAllSubmatch(data, -1) {
		if string(m[1]) == want {
			return cert, want, true, nil
		}
	}
	return nil, "", false, fmt.Errorf("user %s: client-certificate-data is not on one line as kubeadm writes it: not editing this file", u.Name)
}
