package recovery

import (
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/tkgcert/tkgcert/internal/capi"
	"github.com/tkgcert/tkgcert/internal/pki"
	"github.com/tkgcert/tkgcert/internal/testenv"
)

// Fixtures generated once: a cluster's CAs, and a control-plane node whose
// certificates expired a day before now.
var (
	now      = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)
	expired  = pki.Validity{NotBefore: now.Add(-366 * 24 * time.Hour), NotAfter: now.Add(-24 * time.Hour)}
	testCAs  *pki.ClusterCAs
	otherCAs *pki.ClusterCAs
	cpFiles  pki.Files
)

func TestMain(m *testing.M) {
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	// A real API server with Cluster API's CRDs for the Supervisor side.
	os.Exit(testenv.Main(m, capi.V1Beta1, capi.V1Beta2))
}

func setup() error {
	var err error
	caValidity := pki.ValidFor(now.Add(-2*365*24*time.Hour), pki.CAValidityPeriod)
	if testCAs, err = pki.NewClusterCAs(pki.CAOptions{Validity: caValidity, KeyAlgorithm: pki.ECDSAP256}); err != nil {
		return err
	}
	if otherCAs, err = pki.NewClusterCAs(pki.CAOptions{Validity: caValidity, KeyAlgorithm: pki.ECDSAP256}); err != nil {
		return err
	}
	cpFiles, err = pki.ControlPlaneNode(testCAs, pki.NodeOptions{
		NodeName:             "tkg-cluster-control-plane-k8bqh",
		Addresses:            []net.IP{net.ParseIP("10.244.0.54")},
		ControlPlaneEndpoint: "tkg-cluster.example.com:6443",
		Validity:             expired,
		KeyAlgorithm:         pki.ECDSAP256,
		RotateCertificates:   true,
	})
	return err
}
