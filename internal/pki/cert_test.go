package pki

import (
	"crypto/x509"
	"errors"
	"math/big"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestValidityResolve(t *testing.T) {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name    string
		v       Validity
		want    Validity
		wantErr string
	}{
		{
			name: "exact",
			v:    ValidFor(start, time.Hour),
			want: Validity{NotBefore: start, NotAfter: start.Add(time.Hour)},
		},
		{
			name: "truncated to seconds in UTC",
			v: Validity{
				NotBefore: start.Add(700 * time.Millisecond).In(time.FixedZone("CET", 3600)),
				NotAfter:  start.Add(time.Hour + 999*time.Millisecond),
			},
			want: Validity{NotBefore: start, NotAfter: start.Add(time.Hour)},
		},
		{name: "only NotBefore", v: Validity{NotBefore: start}, wantErr: "needs both NotBefore and NotAfter"},
		{name: "only NotAfter", v: Validity{NotAfter: start}, wantErr: "needs both NotBefore and NotAfter"},
		{name: "reversed", v: Validity{NotBefore: start, NotAfter: start.Add(-time.Hour)}, wantErr: "is not after NotBefore"},
		{name: "empty", v: Validity{NotBefore: start, NotAfter: start.Add(500 * time.Millisecond)}, wantErr: "is not after NotBefore"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.v.resolve(LeafValidityPeriod)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("resolve() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !got.NotBefore.Equal(tt.want.NotBefore) || !got.NotAfter.Equal(tt.want.NotAfter) {
				t.Errorf("resolve() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestValidityDefault(t *testing.T) {
	before := time.Now().Truncate(time.Second)
	tests := []struct {
		name string
		def  time.Duration
	}{
		{"leaf", LeafValidityPeriod},
		{"CA", CAValidityPeriod},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Validity{}.resolve(tt.def)
			if err != nil {
				t.Fatal(err)
			}
			after := time.Now()
			if got.NotBefore.Before(before.Add(-Backdate)) || got.NotBefore.After(after.Add(-Backdate)) {
				t.Errorf("NotBefore = %v, want about %v", got.NotBefore, before.Add(-Backdate))
			}
			if got.NotAfter.Before(before.Add(tt.def)) || got.NotAfter.After(after.Add(tt.def)) {
				t.Errorf("NotAfter = %v, want about %v", got.NotAfter, before.Add(tt.def))
			}
		})
	}
}

func TestNewCA(t *testing.T) {
	ca, err := NewCA("kubernetes", caValidity, ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	c := ca.Cert
	// As kubeadm's pkiutil.NewSelfSignedCACert.
	if !c.IsCA || !c.BasicConstraintsValid {
		t.Errorf("IsCA = %v, BasicConstraintsValid = %v, want both true", c.IsCA, c.BasicConstraintsValid)
	}
	if want := x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment | x509.KeyUsageCertSign; c.KeyUsage != want {
		t.Errorf("KeyUsage = %v, want %v", c.KeyUsage, want)
	}
	if c.Subject.CommonName != "kubernetes" || c.Issuer.CommonName != "kubernetes" {
		t.Errorf("subject/issuer = %q/%q, want kubernetes", c.Subject.CommonName, c.Issuer.CommonName)
	}
	if diff := cmp.Diff([]string{"kubernetes"}, c.DNSNames); diff != "" {
		t.Errorf("DNSNames (-want +got):\n%s", diff)
	}
	if c.SerialNumber.Sign() <= 0 {
		t.Errorf("SerialNumber = %v, want a positive random serial", c.SerialNumber)
	}
	if !c.NotBefore.Equal(caValidity.NotBefore) || !c.NotAfter.Equal(caValidity.NotAfter) {
		t.Errorf("validity = %v..%v, want %v..%v", c.NotBefore, c.NotAfter, caValidity.NotBefore, caValidity.NotAfter)
	}
	if err := c.CheckSignatureFrom(c); err != nil {
		t.Errorf("not self-signed: %v", err)
	}

	if _, err := NewCA("", caValidity, ECDSAP256); err == nil || !strings.Contains(err.Error(), "common name") {
		t.Errorf("NewCA(\"\") error = %v, want a missing common name", err)
	}
}

func TestNewClusterCAs(t *testing.T) {
	tests := []struct {
		name string
		kp   *KeyPair
	}{
		{"ca", testCAs.CA},
		{"etcd-ca", testCAs.EtcdCA},
		{"front-proxy-ca", testCAs.FrontProxyCA},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.kp.Cert
			// As Cluster API's util/secret newSelfSignedCACert.
			if c.Subject.CommonName != "kubernetes" {
				t.Errorf("CN = %q, want kubernetes", c.Subject.CommonName)
			}
			if c.SerialNumber.Cmp(big.NewInt(0)) != 0 {
				t.Errorf("SerialNumber = %v, want 0", c.SerialNumber)
			}
			if !c.IsCA || c.KeyUsage&x509.KeyUsageCertSign == 0 {
				t.Errorf("IsCA = %v, KeyUsage = %v, want a CA with cert sign", c.IsCA, c.KeyUsage)
			}
			if c.MaxPathLen != 0 || !c.MaxPathLenZero {
				t.Errorf("MaxPathLen = %d (zero %v), want pathlen 0", c.MaxPathLen, c.MaxPathLenZero)
			}
			if len(c.DNSNames) != 0 {
				t.Errorf("DNSNames = %v, want none", c.DNSNames)
			}
			if !c.NotBefore.Equal(caValidity.NotBefore) || !c.NotAfter.Equal(caValidity.NotAfter) {
				t.Errorf("validity = %v..%v, want %v..%v", c.NotBefore, c.NotAfter, caValidity.NotBefore, caValidity.NotAfter)
			}
			if !publicKeysEqual(c.PublicKey, tt.kp.Key.Public()) {
				t.Error("key does not match certificate")
			}
		})
	}
	if publicKeysEqual(testCAs.CA.Cert.PublicKey, testCAs.EtcdCA.Cert.PublicKey) ||
		publicKeysEqual(testCAs.CA.Cert.PublicKey, testCAs.FrontProxyCA.Cert.PublicKey) ||
		publicKeysEqual(testCAs.CA.Cert.PublicKey, testCAs.ServiceAccountKey.Public()) {
		t.Error("CAs and service-account key must have distinct keys")
	}
}

func TestNewLeaf(t *testing.T) {
	spec := LeafSpec{
		CommonName:   "kube-apiserver",
		Organization: []string{"org-b", "org-a"},
		Usages:       []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth},
		DNSNames:     []string{"zeta", "alpha", "zeta"},
		IPs:          []net.IP{net.ParseIP("10.0.0.2"), net.ParseIP("10.0.0.1"), net.ParseIP("10.0.0.2").To4()},
	}
	kp, err := NewLeaf(testCAs.CA, spec, leafValidity, ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	c := kp.Cert
	if diff := cmp.Diff([]string{"alpha", "zeta"}, c.DNSNames); diff != "" {
		t.Errorf("DNSNames sorted and unique (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"10.0.0.2", "10.0.0.1"}, ipStrings(c.IPAddresses)); diff != "" {
		t.Errorf("IPs unique in order (-want +got):\n%s", diff)
	}
	// Several O values form one DER SET, whose members DER sorts.
	if diff := cmp.Diff([]string{"org-a", "org-b"}, c.Subject.Organization); diff != "" {
		t.Errorf("Organization (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(spec.Usages, c.ExtKeyUsage); diff != "" {
		t.Errorf("ExtKeyUsage (-want +got):\n%s", diff)
	}
	if want := x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment; c.KeyUsage != want {
		t.Errorf("KeyUsage = %v, want %v", c.KeyUsage, want)
	}
	if c.IsCA || !c.BasicConstraintsValid {
		t.Errorf("IsCA = %v, BasicConstraintsValid = %v, want CA:FALSE", c.IsCA, c.BasicConstraintsValid)
	}
	if err := verifyChain(c, testCAs.CA.Cert, x509.ExtKeyUsageServerAuth, during); err != nil {
		t.Errorf("does not chain to ca: %v", err)
	}
	if err := verifyChain(c, testCAs.EtcdCA.Cert, x509.ExtKeyUsageServerAuth, during); err == nil {
		t.Error("chains to etcd-ca, which did not sign it")
	}

	// An already expired certificate can be made, and fails verification now.
	expired := Validity{NotBefore: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC), NotAfter: time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)}
	old, err := NewLeaf(testCAs.CA, LeafSpec{CommonName: "old", Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, expired, ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	if !old.Cert.NotAfter.Equal(expired.NotAfter) {
		t.Errorf("NotAfter = %v, want %v", old.Cert.NotAfter, expired.NotAfter)
	}
	var invalid x509.CertificateInvalidError
	if err := verifyChain(old.Cert, testCAs.CA.Cert, x509.ExtKeyUsageClientAuth, during); err == nil {
		t.Error("expired certificate verified")
	} else if !errors.As(err, &invalid) || invalid.Reason != x509.Expired {
		t.Errorf("verify error = %v, want expired", err)
	}

	errTests := []struct {
		name    string
		ca      *KeyPair
		spec    LeafSpec
		wantErr string
	}{
		{"no CA", nil, spec, "CA certificate and key are required"},
		{"CA without key", &KeyPair{Cert: testCAs.CA.Cert}, spec, "CA certificate and key are required"},
		{"no common name", testCAs.CA, LeafSpec{}, "needs a common name"},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := NewLeaf(tt.ca, tt.spec, leafValidity, ECDSAP256)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("NewLeaf() error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
