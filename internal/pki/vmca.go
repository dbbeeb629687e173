package pki

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"net"
)

// VMCA is vCenter's certificate authority, as the lab simulates it: a root
// with VMCA's usual subject layout that signs vCenter's, the Supervisor
// control plane's and the ESXi hosts' serving certificates.

var (
	oidCommonName       = asn1.ObjectIdentifier{2, 5, 4, 3}
	oidCountry          = asn1.ObjectIdentifier{2, 5, 4, 6}
	oidProvince         = asn1.ObjectIdentifier{2, 5, 4, 8}
	oidOrganization     = asn1.ObjectIdentifier{2, 5, 4, 10}
	oidOrganizationUnit = asn1.ObjectIdentifier{2, 5, 4, 11}
	oidDomainComponent  = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}
)

// VMCARootSubject is the subject VMCA gives its root certificate, in VMCA's
// order: CN=CA, DC=<each label of the SSO domain>, C=US, ST=California,
// O=<vCenter FQDN>, OU=VMware Engineering.
func VMCARootSubject(vcenterFQDN, ssoDomain string) pkix.RDNSequence {
	rdn := pkix.RDNSequence{{{Type: oidCommonName, Value: "CA"}}}
	for _, label := range splitDomain(ssoDomain) {
		rdn = append(rdn, pkix.RelativeDistinguishedNameSET{{Type: oidDomainComponent, Value: label}})
	}
	return append(rdn,
		pkix.RelativeDistinguishedNameSET{{Type: oidCountry, Value: "US"}},
		pkix.RelativeDistinguishedNameSET{{Type: oidProvince, Value: "California"}},
		pkix.RelativeDistinguishedNameSET{{Type: oidOrganization, Value: vcenterFQDN}},
		pkix.RelativeDistinguishedNameSET{{Type: oidOrganizationUnit, Value: "VMware Engineering"}},
	)
}

func splitDomain(d string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(d); i++ {
		if i == len(d) || d[i] == '.' {
			if i > start {
				out = append(out, d[start:i])
			}
			start = i + 1
		}
	}
	return out
}

// NewVMCARoot generates a self-signed root with VMCA's subject layout for
// the vCenter vcenterFQDN and SSO domain ssoDomain (default vsphere.local).
func NewVMCARoot(vcenterFQDN, ssoDomain string, v Validity, alg KeyAlgorithm) (*KeyPair, error) {
	if vcenterFQDN == "" {
		return nil, errors.New("a VMCA root needs its vCenter's FQDN")
	}
	if ssoDomain == "" {
		ssoDomain = "vsphere.local"
	}
	raw, err := asn1.Marshal(VMCARootSubject(vcenterFQDN, ssoDomain))
	if err != nil {
		return nil, err
	}
	kp, err := selfSignedCA(&x509.Certificate{RawSubject: raw}, v, alg)
	if err != nil {
		return nil, fmt.Errorf("generating the VMCA root of %s: %w", vcenterFQDN, err)
	}
	return kp, nil
}

// NewVMCALeaf generates a server certificate signed by ca with the subject
// VMCA gives machine certificates (CN=<host name>, C=US) and the host name
// and addresses as subject alternative names. ca may be any CA: the lab
// uses it with a foreign CA to make a certificate of the same shape.
func NewVMCALeaf(ca *KeyPair, hostname string, ips []net.IP, v Validity, alg KeyAlgorithm) (*KeyPair, error) {
	if ca == nil || ca.Cert == nil || ca.Key == nil {
		return nil, fmt.Errorf("signing %q: CA certificate and key are required", hostname)
	}
	v, err := v.resolve(LeafValidityPeriod)
	if err != nil {
		return nil, fmt.Errorf("certificate %q: %w", hostname, err)
	}
	raw, err := asn1.Marshal(pkix.RDNSequence{
		{{Type: oidCommonName, Value: hostname}},
		{{Type: oidCountry, Value: "US"}},
	})
	if err != nil {
		return nil, err
	}
	kp, err := issue(&x509.Certificate{
		RawSubject:            raw,
		DNSNames:              []string{hostname},
		IPAddresses:           dedupIPs(ips),
		NotBefore:             v.NotBefore,
		NotAfter:              v.NotAfter,
		KeyUsage:              x509.KeyUsageKeyEncipherment | x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}, ca, alg)
	if err != nil {
		return nil, fmt.Errorf("signing certificate %q: %w", hostname, err)
	}
	return kp, nil
}

// NewSubordinateCA generates a CA with subject CN=commonName signed by
// parent (an issuing CA under a root, as in an enterprise chain or VMCA as a
// subordinate CA).
func NewSubordinateCA(parent *KeyPair, commonName string, v Validity, alg KeyAlgorithm) (*KeyPair, error) {
	if parent == nil || parent.Cert == nil || parent.Key == nil {
		return nil, fmt.Errorf("signing CA %q: parent certificate and key are required", commonName)
	}
	v, err := v.resolve(CAValidityPeriod)
	if err != nil {
		return nil, err
	}
	kp, err := issue(&x509.Certificate{
		Subject:               pkix.Name{CommonName: commonName},
		NotBefore:             v.NotBefore,
		NotAfter:              v.NotAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}, parent, alg)
	if err != nil {
		return nil, fmt.Errorf("signing CA %q: %w", commonName, err)
	}
	return kp, nil
}
