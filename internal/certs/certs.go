package certs

import (
	"sort"
	"time"

	"github.com/tkgcert/tkgcert/internal/certs/names"
)

// Names of the certificate authorities kubeadm manages (defined in package
// names).
const (
	// CAName is the Kubernetes cluster CA ("ca", pki/ca.crt).
	CAName = names.CA
	// EtcdCAName is the etcd CA ("etcd-ca", pki/etcd/ca.crt).
	EtcdCAName = names.EtcdCA
	// FrontProxyCAName is the front-proxy CA ("front-proxy-ca", pki/front-proxy-ca.crt).
	FrontProxyCAName = names.FrontProxyCA
)

// Certificate is one row of kubeadm's certificate table: a leaf
// certificate from the node's PKI directory or the client certificate
// embedded in one of its kubeconfig files.
type Certificate struct {
	// Name is kubeadm's name for the certificate: "apiserver",
	// "etcd-server", "admin.conf", ...
	Name string
	// CAName is the CA kubeadm attributes the certificate to ("ca",
	// "etcd-ca", "front-proxy-ca"), or "" where kubeadm prints none: for
	// missing certificates, and for the kubeconfig rows of kubeadm 1.21.
	CAName string
	// NotAfter is the certificate's expiration time, in UTC. Parsed from
	// kubeadm's text output it has minute precision, from JSON second
	// precision.
	NotAfter time.Time
	// ExternallyManaged is kubeadm's "EXTERNALLY MANAGED" column: the
	// signing CA's certificate is present but its key is not, so kubeadm
	// cannot renew the certificate.
	ExternallyManaged bool
	// Missing reports that the certificate (or kubeconfig) file does not
	// exist; kubeadm prints "!MISSING! <name>". Only Name is set then.
	Missing bool

	// The following fields are filled only when the certificate itself was
	// read (ReadNode); they are zero when parsed from kubeadm's output.

	// NotBefore is the start of the certificate's validity, in UTC.
	NotBefore time.Time
	// Subject is the subject's distinguished name, e.g. "CN=kube-apiserver".
	Subject string
	// Issuer is the issuer's distinguished name, e.g. "CN=kubernetes".
	Issuer string
	// SerialNumber is the serial number in upper-case hexadecimal, as
	// `openssl x509 -serial` prints it.
	SerialNumber string
	// DNSNames are the DNS subject alternative names.
	DNSNames []string
	// IPAddresses are the IP subject alternative names, as strings.
	IPAddresses []string
}

// Authority is one row of kubeadm's certificate-authority table.
type Authority struct {
	// Name is kubeadm's name for the CA: "ca", "etcd-ca" or
	// "front-proxy-ca".
	Name string
	// NotAfter is the CA certificate's expiration time, in UTC.
	NotAfter time.Time
	// ExternallyManaged reports that the CA's certificate is present but
	// its private key is not.
	ExternallyManaged bool
	// Missing reports that the CA certificate file does not exist.
	Missing bool

	// The following fields are filled only by ReadNode.

	// NotBefore is the start of the CA certificate's validity, in UTC.
	NotBefore time.Time
	// Subject is the CA's distinguished name, e.g. "CN=kubernetes".
	Subject string
	// Issuer is the issuer's distinguished name (the subject, for a
	// self-signed root).
	Issuer string
	// SerialNumber is the serial number in upper-case hexadecimal.
	SerialNumber string
}

// Expiration is kubeadm's certificate-expiration catalogue for one node:
// the rows of both tables of `kubeadm certs check-expiration`, in kubeadm's
// order (sorted by name).
type Expiration struct {
	// Certificates are the leaf certificates and kubeconfig client
	// certificates.
	Certificates []Certificate
	// Authorities are the certificate authorities.
	Authorities []Authority
}

// Certificate returns the certificate row with the given kubeadm name.
func (e *Expiration) Certificate(name string) (Certificate, bool) {
	if e == nil {
		return Certificate{}, false
	}
	for _, c := range e.Certificates {
		if c.Name == name {
			return c, true
		}
	}
	return Certificate{}, false
}

// Authority returns the certificate-authority row with the given kubeadm
// name.
func (e *Expiration) Authority(name string) (Authority, bool) {
	if e == nil {
		return Authority{}, false
	}
	for _, a := range e.Authorities {
		if a.Name == name {
			return a, true
		}
	}
	return Authority{}, false
}

// Earliest returns the leaf certificate (including kubeconfig client
// certificates) that expires first, ignoring missing rows. On a tie the
// first in kubeadm's order wins. ok is false when there is no present
// certificate.
func (e *Expiration) Earliest() (name string, notAfter time.Time, ok bool) {
	if e == nil {
		return "", time.Time{}, false
	}
	for _, c := range e.Certificates {
		if c.Missing {
			continue
		}
		if !ok || c.NotAfter.Before(notAfter) {
			name, notAfter, ok = c.Name, c.NotAfter, true
		}
	}
	return name, notAfter, ok
}

// EarliestAuthority returns the certificate authority that expires first,
// ignoring missing rows. ok is false when there is no present CA.
func (e *Expiration) EarliestAuthority() (name string, notAfter time.Time, ok bool) {
	if e == nil {
		return "", time.Time{}, false
	}
	for _, a := range e.Authorities {
		if a.Missing {
			continue
		}
		if !ok || a.NotAfter.Before(notAfter) {
			name, notAfter, ok = a.Name, a.NotAfter, true
		}
	}
	return name, notAfter, ok
}

// Expired returns the names of the present certificates and certificate
// authorities whose NotAfter is not after now, certificates first, each
// group in kubeadm's order.
func (e *Expiration) Expired(now time.Time) []string {
	if e == nil {
		return nil
	}
	var names []string
	for _, c := range e.Certificates {
		if !c.Missing && !c.NotAfter.After(now) {
			names = append(names, c.Name)
		}
	}
	for _, a := range e.Authorities {
		if !a.Missing && !a.NotAfter.After(now) {
			names = append(names, a.Name)
		}
	}
	return names
}

// MissingNames returns the names of the missing certificates and
// certificate authorities, certificates first.
func (e *Expiration) MissingNames() []string {
	if e == nil {
		return nil
	}
	var names []string
	for _, c := range e.Certificates {
		if c.Missing {
			names = append(names, c.Name)
		}
	}
	for _, a := range e.Authorities {
		if a.Missing {
			names = append(names, a.Name)
		}
	}
	return names
}

// Sort orders the rows as kubeadm does: both tables by name.
func (e *Expiration) Sort() {
	sort.SliceStable(e.Certificates, func(i, j int) bool { return e.Certificates[i].Name < e.Certificates[j].Name })
	sort.SliceStable(e.Authorities, func(i, j int) bool { return e.Authorities[i].Name < e.Authorities[j].Name })
}
