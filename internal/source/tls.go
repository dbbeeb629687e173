package source

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/certs/names"
)

// tlsReader reads the serving certificates the node presents, without SSH.
// It cannot see client certificates (kubeconfigs, the kubelet's client
// certificate): those rows are absent from its catalogue.
type tlsReader struct{ timeout time.Duration }

func (tlsReader) Kind() Kind { return TLS }

// Endpoint is a serving port and the name its certificate gets in reports.
type Endpoint struct {
	Port int
	Name string
}

// ControlPlaneEndpoints are the serving ports of a kubeadm control-plane node.
var ControlPlaneEndpoints = []Endpoint{
	{6443, "apiserver"},
	{2379, "etcd-server"},
	{2380, "etcd-peer"},
	{10250, "kubelet-serving"},
	{10257, "controller-manager-serving"},
	{10259, "scheduler-serving"},
}

// WorkerEndpoints are the serving ports of a worker.
var WorkerEndpoints = []Endpoint{{10250, "kubelet-serving"}}

func (t tlsReader) Read(ctx context.Context, ca ClusterAccess, n Node) Result {
	eps := WorkerEndpoints
	if n.ControlPlane {
		eps = ControlPlaneEndpoints
	}
	timeout := t.timeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	var r Result
	e := &certs.Expiration{}
	for _, ep := range eps {
		addr := net.JoinHostPort(n.Address, strconv.Itoa(ep.Port))
		cert, err := PeerCertificate(ctx, addr, timeout)
		if err != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("node %s: %s (port %d): %v", n.Name, ep.Name, ep.Port, err))
			continue
		}
		c := certs.NewInfo(ep.Name, caNameOf(cert, ca.CAs), cert)
		c.Location = certs.Location{Kind: certs.TLSEndpoint, Node: n.Name, Address: addr}
		e.Certificates = append(e.Certificates, c)
	}
	r.Expiration = e
	return r
}

// PeerCertificate completes a TLS handshake with addr and returns the leaf
// certificate it presents. It verifies nothing: it reads, and the report
// attributes the certificate to a CA by signature.
func PeerCertificate(ctx context.Context, addr string, timeout time.Duration) (*x509.Certificate, error) {
	chain, err := PeerChain(ctx, addr, timeout)
	if err != nil {
		return nil, err
	}
	return chain[0], nil
}

// PeerChain completes a TLS handshake with addr and returns the chain it
// presents, leaf first. Like PeerCertificate it verifies nothing.
func PeerChain(ctx context.Context, addr string, timeout time.Duration) ([]*x509.Certificate, error) {
	d := &tls.Dialer{
		NetDialer: &net.Dialer{Timeout: timeout},
		Config:    &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS12}, //nolint:gosec // reading, not trusting
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer conn.Close()
	peers := conn.(*tls.Conn).ConnectionState().PeerCertificates
	if len(peers) == 0 {
		return nil, fmt.Errorf("no certificate presented")
	}
	return peers, nil
}

// caNameOf names the cluster CA that signed c, or "" (self-signed or other).
func caNameOf(c *x509.Certificate, cas map[string]*x509.Certificate) string {
	for _, name := range names.AuthorityNames() {
		a := cas[name]
		if a == nil {
			continue
		}
		if c.CheckSignatureFrom(a) == nil {
			return name
		}
	}
	return ""
}
