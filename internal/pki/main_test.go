package pki

import (
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"testing"
	"time"
)

// Shared fixtures, generated once: ECDSA keys keep the suite fast; the RSA
// path has its own test.
var (
	// caValidity and leafValidity are whole seconds so that they are
	// expected back exactly from the certificates.
	caValidity   = Validity{NotBefore: time.Date(2025, 6, 1, 8, 0, 0, 0, time.UTC), NotAfter: time.Date(2035, 5, 30, 8, 0, 0, 0, time.UTC)}
	leafValidity = Validity{NotBefore: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC), NotAfter: time.Date(2027, 3, 1, 10, 0, 0, 0, time.UTC)}
	// during lies inside both validity periods.
	during = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

	testCAs *ClusterCAs

	cpOptions = NodeOptions{
		NodeName:             "tkg-cluster-control-plane-k8bqh",
		Addresses:            []net.IP{net.ParseIP("10.244.0.54"), net.ParseIP("fd00::54")},
		ControlPlaneEndpoint: "tkg-cluster.example.com:6443",
		Validity:             leafValidity,
		KeyAlgorithm:         ECDSAP256,
		RotateCertificates:   true,
	}
	cpFiles Files

	workerOptions = NodeOptions{
		NodeName:             "tkg-cluster-workers-x7ztc-6c8f9d5b4-2xv9q",
		Addresses:            []net.IP{net.ParseIP("10.244.0.60")},
		ControlPlaneEndpoint: "10.244.0.50:6443",
		Validity:             leafValidity,
		KeyAlgorithm:         ECDSAP256,
		RotateCertificates:   true,
	}
	workerFiles Files
)

func TestMain(m *testing.M) {
	if err := setup(); err != nil {
		fmt.Fprintf(os.Stderr, "setting up fixtures: %v\n", err)
		os.Exit(1)
	}
	os.Exit(m.Run())
}

func setup() error {
	var err error
	if testCAs, err = NewClusterCAs(CAOptions{Validity: caValidity, KeyAlgorithm: ECDSAP256}); err != nil {
		return err
	}
	if cpFiles, err = ControlPlaneNode(testCAs, cpOptions); err != nil {
		return err
	}
	if workerFiles, err = WorkerNode(testCAs, workerOptions); err != nil {
		return err
	}
	return nil
}

// verifyChain checks that cert chains to ca alone, for usage, at time at.
func verifyChain(cert, ca *x509.Certificate, usage x509.ExtKeyUsage, at time.Time) error {
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	_, err := cert.Verify(x509.VerifyOptions{Roots: roots, CurrentTime: at, KeyUsages: []x509.ExtKeyUsage{usage}})
	return err
}

func ipStrings(ips []net.IP) []string {
	var out []string
	for _, ip := range ips {
		out = append(out, ip.String())
	}
	return out
}
