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

// Info is one certificate wherever tkgcert found it: a file on a node (a row
// of kubeadm's certificate-expiration catalogue, leaf or CA), a Supervisor
// secret, a TLS endpoint or a VMCA root. It follows kubeadm's
// ExpirationInfo: a name, the expiration, and what grading needs; Location
// says where it was found. Its JSON form is a certificate of tkgcert's
// CertificateReport.
type Info struct {
	// Name is kubeadm's name for the certificate ("apiserver",
	// "admin.conf", "ca"), the secret's name, or the endpoint's service.
	Name string `json:"name"`
	// CAName is the CA kubeadm attributes the certificate to ("ca",
	// "etcd-ca", "front-proxy-ca"), or "" where kubeadm prints none: for
	// CAs, missing certificates, and the kubeconfig rows of kubeadm 1.21.
	CAName string `json:"caName,omitempty"`
	// NotAfter is the certificate's expiration time, in UTC; zero for a
	// missing certificate. Parsed from kubeadm's text output it has minute
	// precision, from JSON second precision.
	NotAfter time.Time `json:"notAfter,omitzero"`
	// ResidualSeconds is the whole seconds from a report's time to NotAfter
	// (kubeadm's residualTime); set when a report is assembled (Stamp), 0
	// elsewhere.
	ResidualSeconds int64 `json:"residualSeconds"`
	// Missing reports that the certificate (or kubeconfig) file does not
	// exist; kubeadm prints "!MISSING! <name>". Only Name (and IsCA) is set
	// then.
	Missing bool `json:"missing"`
	// ExternallyManaged is kubeadm's "EXTERNALLY MANAGED" column: the
	// signing CA's certificate is present but its key is not, so kubeadm
	// cannot renew the certificate (for a CA: its key is absent).
	ExternallyManaged bool `json:"externallyManaged,omitempty"`
	// IsCA reports a certificate authority: a row of kubeadm's CA table, a
	// CA secret, a VMCA root.
	IsCA bool `json:"isCA,omitempty"`

	// The following fields are filled only when the certificate itself was
	// read; they are zero when parsed from kubeadm's output.

	// Subject is the subject's distinguished name, e.g. "CN=kube-apiserver".
	Subject string `json:"subject,omitempty"`
	// Issuer is the issuer's distinguished name, e.g. "CN=kubernetes".
	Issuer string `json:"issuer,omitempty"`
	// SerialNumber is the serial number in upper-case hexadecimal, as
	// `openssl x509 -serial` prints it.
	SerialNumber string `json:"serialNumber,omitempty"`
	// NotBefore is the start of the certificate's validity, in UTC.
	NotBefore time.Time `json:"-"`
	// DNSNames are the DNS subject alternative names.
	DNSNames []string `json:"-"`
	// IPAddresses are the IP subject alternative names, as strings.
	IPAddresses []string `json:"-"`

	// Location is where the certificate was found; the readers of this
	// package leave it zero, the inventory fills it.
	Location Location `json:"-"`
}

// Residual is the time from now to NotAfter (0 for a missing certificate).
func (i *Info) Residual(now time.Time) time.Duration {
	if i.Missing || i.NotAfter.IsZero() {
		return 0
	}
	return i.NotAfter.Sub(now)
}

// Present reports whether the certificate was found and has an expiration.
func (i *Info) Present() bool { return !i.Missing && !i.NotAfter.IsZero() }

// Stamp sets ResidualSeconds relative to now, as kubeadm's residualTime:
// whole seconds, truncated.
func (i *Info) Stamp(now time.Time) {
	i.ResidualSeconds = 0
	if i.Present() {
		i.ResidualSeconds = residualSeconds(i.NotAfter.Sub(now))
	}
}

// Place is the kind of place a certificate was found.
type Place string

// The places.
const (
	// NodeFile is a file on a cluster node (read over SSH, or by the node's
	// kubeadm), or a kubeconfig's client certificate there.
	NodeFile Place = "node-file"
	// SupervisorSecret is a cluster's secret on the Supervisor
	// (<cluster>-ca, -etcd, -proxy, -kubeconfig).
	SupervisorSecret Place = "supervisor-secret"
	// TLSEndpoint is the leaf certificate a TLS endpoint serves.
	TLSEndpoint Place = "tls-endpoint"
	// VMCARoot is a VMCA root certificate given to tkgcert.
	VMCARoot Place = "vmca-root"
)

// Location is where a certificate was found. Which fields are set depends
// on Kind.
type Location struct {
	Kind Place
	// Namespace and Cluster name the TKG cluster (empty for the Supervisor's
	// and vCenter's own certificates).
	Namespace, Cluster string
	// Node is the node's name (NodeFile, TLSEndpoint of a node; for the
	// Supervisor's endpoints, the Node, vCenter host or address given).
	Node string
	// Address is the node's address (NodeFile) or host:port (TLSEndpoint).
	Address string
	// File is the file's path on the node, where known.
	File string
	// Secret is the secret's name (SupervisorSecret).
	Secret string
}

// Expiration is kubeadm's certificate-expiration catalogue for one node:
// the rows of both tables of `kubeadm certs check-expiration`, in kubeadm's
// order (sorted by name).
type Expiration struct {
	// Certificates are the leaf certificates and kubeconfig client
	// certificates.
	Certificates []Info `json:"certificates"`
	// Authorities are the certificate authorities (IsCA set).
	Authorities []Info `json:"certificateAuthorities"`
}

// Certificate returns the certificate row with the given kubeadm name.
func (e *Expiration) Certificate(name string) (Info, bool) {
	if e == nil {
		return Info{}, false
	}
	for _, c := range e.Certificates {
		if c.Name == name {
			return c, true
		}
	}
	return Info{}, false
}

// Authority returns the certificate-authority row with the given kubeadm
// name.
func (e *Expiration) Authority(name string) (Info, bool) {
	if e == nil {
		return Info{}, false
	}
	for _, a := range e.Authorities {
		if a.Name == name {
			return a, true
		}
	}
	return Info{}, false
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
