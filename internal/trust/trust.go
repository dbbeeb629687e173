// Package trust classifies a serving certificate by the trust domain that
// issued it: vCenter's (VMCA), a Kubernetes CA (the Supervisor's own or a TKG
// cluster's), or another CA. The seed names two trust domains; a certificate
// from neither is reported as "other", never hidden.
package trust

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Domain is a trust domain.
type Domain string

// The trust domains.
const (
	// VMCA is vCenter's trust domain: VMware Certificate Authority signs
	// vCenter's, the Supervisor control plane's and the ESXi hosts' certificates.
	VMCA Domain = "vmca"
	// Kubernetes is a Kubernetes CA: the Supervisor's own or a TKG cluster's.
	Kubernetes Domain = "kubernetes"
	// Other is any other CA (a custom or public CA, a self-signed certificate).
	Other Domain = "other"
)

// Method says how a certificate was attributed to its domain.
type Method string

// The methods, most certain first.
const (
	// ByVMCARoot: the chain verifies against the VMCA root given with --vmca-root.
	ByVMCARoot Method = "vmca-root"
	// BySupervisorCA: signed by the Supervisor's Kubernetes CA.
	BySupervisorCA Method = "supervisor-ca"
	// ByClusterCA: signed by a TKG cluster's CA (<cluster>-ca, -etcd, -proxy).
	ByClusterCA Method = "cluster-ca"
	// ByVMCAIssuer: no given root signed it, but its issuer has VMCA's
	// subject layout (CN=CA, DC=<SSO domain>..., OU=VMware Engineering).
	ByVMCAIssuer Method = "vmca-issuer"
	// BySystemRoots: the chain verifies against the system's trusted roots.
	BySystemRoots Method = "system-roots"
	// Unknown: no anchor signed it and its issuer is not recognised.
	Unknown Method = "unknown"
)

// ClusterCA is a TKG cluster's CA.
type ClusterCA struct {
	Namespace, Cluster string
	// Name is the kubeadm name: ca, etcd-ca or front-proxy-ca.
	Name string
	Cert *x509.Certificate
}

// Anchors are the CAs certificates are attributed to.
type Anchors struct {
	// VMCARoots are the VMCA roots given by the user (--vmca-root); empty:
	// VMCA is recognised by its issuer's subject only.
	VMCARoots []*x509.Certificate
	// SupervisorCAs are the Supervisor's Kubernetes CAs (its kubeconfig's
	// certificate authority, the kube-root-ca.crt ConfigMap).
	SupervisorCAs []*x509.Certificate
	// Clusters are the TKG clusters' CAs from the Supervisor's secrets.
	Clusters []ClusterCA
	// SystemRoots, when set, are tried last to name a public CA (nil: skipped).
	SystemRoots *x509.CertPool
}

// Result is a certificate's classification.
type Result struct {
	Domain Domain `json:"domain"`
	Method Method `json:"method"`
	// CA describes the issuing authority in words, e.g. "VMCA (verified
	// against --vmca-root CN=CA,...)" or "TKG cluster tkg-cluster-ns/tkg-cluster ca".
	CA string `json:"ca"`
	// Namespace and Cluster name the TKG cluster for ByClusterCA.
	Namespace string `json:"namespace,omitempty"`
	Cluster   string `json:"cluster,omitempty"`
	// ChainValid: the presented chain verifies against the attributed
	// anchor at the given time (expiry included). False also when there is
	// no anchor to verify against; ChainStatus says which.
	ChainValid bool `json:"chainValid"`
	// ChainStatus is "valid", "unverified: ..." or "invalid: ...".
	ChainStatus string `json:"chainStatus"`
}

// Classify attributes chain (leaf first, as presented in a TLS handshake)
// to a trust domain and checks the chain against that domain's anchor at now.
// Attribution is by signature, so an expired certificate is still attributed
// to its CA; validity in time shows in ChainStatus.
func Classify(chain []*x509.Certificate, a Anchors, now time.Time) Result {
	if len(chain) == 0 {
		return Result{Domain: Other, Method: Unknown, CA: "no certificate", ChainStatus: "invalid: no certificate presented"}
	}
	leaf := chain[0]
	for _, root := range a.VMCARoots {
		if signedBy(chain, root) {
			r := Result{Domain: VMCA, Method: ByVMCARoot, CA: "VMCA " + Subject(root) + " (verified against --vmca-root)"}
			r.verify(chain, root, now)
			return r
		}
	}
	for _, ca := range a.SupervisorCAs {
		if signedBy(chain, ca) {
			r := Result{Domain: Kubernetes, Method: BySupervisorCA, CA: "Supervisor Kubernetes CA " + Subject(ca)}
			r.verify(chain, ca, now)
			return r
		}
	}
	for _, ca := range a.Clusters {
		if ca.Cert != nil && signedBy(chain, ca.Cert) {
			r := Result{Domain: Kubernetes, Method: ByClusterCA, Namespace: ca.Namespace, Cluster: ca.Cluster,
				CA: fmt.Sprintf("TKG cluster %s/%s %s", ca.Namespace, ca.Cluster, ca.Name)}
			r.verify(chain, ca.Cert, now)
			return r
		}
	}
	if issuer := vmcaIssuer(chain); issuer != nil {
		r := Result{Domain: VMCA, Method: ByVMCAIssuer, CA: "VMCA " + NameString(issuer) + " (recognised by its issuer; no --vmca-root verified it)"}
		switch {
		case len(a.VMCARoots) > 0:
			r.ChainStatus = "invalid: not signed by the --vmca-root given (another vCenter's VMCA, or a replaced root)"
		default:
			r.ChainStatus = "unverified: no --vmca-root given"
		}
		return r
	}
	if a.SystemRoots != nil {
		inter := x509.NewCertPool()
		for _, c := range chain[1:] {
			inter.AddCert(c)
		}
		if chains, err := leaf.Verify(x509.VerifyOptions{Roots: a.SystemRoots, Intermediates: inter, CurrentTime: now,
			KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err == nil {
			root := chains[0][len(chains[0])-1]
			return Result{Domain: Other, Method: BySystemRoots, CA: "public CA " + Subject(root), ChainValid: true, ChainStatus: "valid"}
		}
	}
	r := Result{Domain: Other, Method: Unknown}
	if selfSigned(leaf) {
		r.CA = "self-signed " + Subject(leaf)
	} else {
		r.CA = "unknown CA " + NameString(&leaf.Issuer)
	}
	r.ChainStatus = "unverified: issued by a CA outside both trust domains"
	return r
}

// verify checks the chain against root as the only trusted root.
func (r *Result) verify(chain []*x509.Certificate, root *x509.Certificate, now time.Time) {
	roots := x509.NewCertPool()
	roots.AddCert(root)
	inter := x509.NewCertPool()
	for _, c := range chain[1:] {
		if !c.Equal(root) {
			inter.AddCert(c)
		}
	}
	_, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, CurrentTime: now,
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
	if err != nil {
		r.ChainStatus = "invalid: " + verifyError(err)
		return
	}
	r.ChainValid, r.ChainStatus = true, "valid"
}

func verifyError(err error) string {
	var inv x509.CertificateInvalidError
	if errors.As(err, &inv) && inv.Reason == x509.Expired {
		return "expired or not yet valid (" + inv.Detail + ")"
	}
	return err.Error()
}

// signedBy reports whether chain leads to anchor: some certificate of the
// chain is the anchor, or is signed by it, and each certificate before it is
// signed by the next. Signatures only: time is not considered.
func signedBy(chain []*x509.Certificate, anchor *x509.Certificate) bool {
	for i, c := range chain {
		if c.Equal(anchor) || c.CheckSignatureFrom(anchor) == nil {
			return true
		}
		if i+1 >= len(chain) || c.CheckSignatureFrom(chain[i+1]) != nil {
			return false
		}
	}
	return false
}

func selfSigned(c *x509.Certificate) bool {
	return c.CheckSignatureFrom(c) == nil
}

// oidDC is domainComponent (RFC 4519), which pkix.Name does not break out.
var oidDC = asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}

// LooksLikeVMCA reports whether name has the subject layout VMCA gives its
// root (and, by default, its issued certificates' issuer): CN=CA with
// domainComponents of the SSO domain (DC=vsphere, DC=local by default) or the
// organisational unit "VMware Engineering".
func LooksLikeVMCA(name pkix.Name) bool {
	if name.CommonName != "CA" {
		return false
	}
	if slices.Contains(name.OrganizationalUnit, "VMware Engineering") {
		return true
	}
	for _, atv := range name.Names {
		if atv.Type.Equal(oidDC) {
			return true
		}
	}
	return false
}

// vmcaIssuer returns the issuer name of the first certificate in chain
// issued by a VMCA-looking CA, or nil.
func vmcaIssuer(chain []*x509.Certificate) *pkix.Name {
	for _, c := range chain {
		if LooksLikeVMCA(c.Issuer) {
			n := c.Issuer
			return &n
		}
	}
	return nil
}

// Subject is a certificate's subject, OpenSSL-like and with domain components.
func Subject(c *x509.Certificate) string { return NameString(&c.Subject) }

// NameString prints a name from its raw attributes, in the order they
// appear, naming DC (which pkix.Name.String prints as an OID).
func NameString(n *pkix.Name) string {
	if len(n.Names) == 0 {
		return n.String()
	}
	short := map[string]string{
		"2.5.4.3": "CN", "2.5.4.6": "C", "2.5.4.7": "L", "2.5.4.8": "ST", "2.5.4.10": "O", "2.5.4.11": "OU",
		oidDC.String(): "DC", "1.2.840.113549.1.9.1": "emailAddress",
	}
	parts := make([]string, 0, len(n.Names))
	for _, atv := range n.Names {
		k := short[atv.Type.String()]
		if k == "" {
			k = atv.Type.String()
		}
		parts = append(parts, fmt.Sprintf("%s=%v", k, atv.Value))
	}
	return strings.Join(parts, ", ")
}
