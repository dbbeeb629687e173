package certs

import (
	"fmt"
	"io/fs"
	"net"
	"os"
	"testing"
	"testing/fstest"
	"time"

	"github.com/tkgcert/tkgcert/internal/pki"
)

// Shared fixtures, generated once (ECDSA keys keep the suite fast). The
// validity periods are those of the seed's step-5 sample output: leaves
// expiring Oct 04, 2023 23:00 UTC, CAs Oct 01, 2032 22:56 UTC.
var (
	caValidity   = pki.Validity{NotBefore: time.Date(2022, 10, 4, 22, 51, 0, 0, time.UTC), NotAfter: time.Date(2032, 10, 1, 22, 56, 0, 0, time.UTC)}
	leafValidity = pki.Validity{NotBefore: time.Date(2022, 10, 4, 22, 55, 0, 0, time.UTC), NotAfter: time.Date(2023, 10, 4, 23, 0, 0, 0, time.UTC)}
	// seedNow is a moment at which kubeadm prints the seed's residual times
	// (363d, 9y) for these periods.
	seedNow = time.Date(2022, 10, 6, 12, 0, 0, 0, time.UTC)

	testCAs *pki.ClusterCAs

	cpOptions = pki.NodeOptions{
		NodeName:             "tkg-cluster-control-plane-k8bqh",
		Addresses:            []net.IP{net.ParseIP("10.244.0.54")},
		ControlPlaneEndpoint: "10.244.0.50:6443",
		Validity:             leafValidity,
		KeyAlgorithm:         pki.ECDSAP256,
		RotateCertificates:   true,
	}
	// cpFiles is a kubeadm v1.36 control-plane node (with super-admin.conf).
	cpFiles pki.Files
	// seedFiles is a control-plane node as kubeadm 1.21 laid it out (no
	// super-admin.conf), as in the seed.
	seedFiles pki.Files
	// workerFiles is a worker node: kubelet.conf points at a symlinked
	// client certificate.
	workerFiles pki.Files
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
	if testCAs, err = pki.NewClusterCAs(pki.CAOptions{Validity: caValidity, KeyAlgorithm: pki.ECDSAP256}); err != nil {
		return err
	}
	if cpFiles, err = pki.ControlPlaneNode(testCAs, cpOptions); err != nil {
		return err
	}
	seedOptions := cpOptions
	seedOptions.SkipSuperAdmin = true
	if seedFiles, err = pki.ControlPlaneNode(testCAs, seedOptions); err != nil {
		return err
	}
	workerOptions := cpOptions
	workerOptions.NodeName = "tkg-cluster-workers-v8575-59c6645b4-wvnlz"
	workerOptions.Addresses = []net.IP{net.ParseIP("10.244.0.60")}
	if workerFiles, err = pki.WorkerNode(testCAs, workerOptions); err != nil {
		return err
	}
	return nil
}

// mapFS turns a node's files into an fstest.MapFS, symlinks included.
func mapFS(files pki.Files) fstest.MapFS {
	m := fstest.MapFS{}
	for p, f := range files {
		if f.Link != "" {
			m[p] = &fstest.MapFile{Data: []byte(f.Link), Mode: fs.ModeSymlink | 0o777}
			continue
		}
		mode := f.Mode
		if mode == 0 {
			mode = 0o644
		}
		m[p] = &fstest.MapFile{Data: f.Data, Mode: mode}
	}
	return m
}

// clone copies a MapFS so that a test can change it.
func clone(m fstest.MapFS) fstest.MapFS {
	out := fstest.MapFS{}
	for p, f := range m {
		c := *f
		out[p] = &c
	}
	return out
}

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	data, err := os.ReadFile("testdata/" + name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func date(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}
