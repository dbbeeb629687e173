package pki

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"strings"
	"testing"
)

func TestKeyPEM(t *testing.T) {
	rsaKey, err := RSA2048.GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		key       crypto.Signer
		blockType string
	}{
		{"RSA is PKCS#1", rsaKey, "RSA PRIVATE KEY"},
		{"ECDSA is SEC 1", testCAs.CA.Key, "EC PRIVATE KEY"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kp := &KeyPair{Key: tt.key}
			out, err := kp.KeyPEM()
			if err != nil {
				t.Fatal(err)
			}
			block, rest := pem.Decode(out)
			if block == nil || block.Type != tt.blockType || len(rest) != 0 {
				t.Fatalf("KeyPEM() = %q, want one %q block", out, tt.blockType)
			}
			back, err := ParsePrivateKeyPEM(out)
			if err != nil {
				t.Fatal(err)
			}
			if !publicKeysEqual(back.Public(), tt.key.Public()) {
				t.Error("parsed key differs from the original")
			}
			// PKCS#8, which Cluster API also accepts, parses too.
			der, err := x509.MarshalPKCS8PrivateKey(tt.key)
			if err != nil {
				t.Fatal(err)
			}
			back, err = ParsePrivateKeyPEM(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}))
			if err != nil {
				t.Fatal(err)
			}
			if !publicKeysEqual(back.Public(), tt.key.Public()) {
				t.Error("parsed PKCS#8 key differs from the original")
			}
		})
	}
}

func TestGenerateKey(t *testing.T) {
	tests := []struct {
		alg     KeyAlgorithm
		want    string
		wantErr string
	}{
		{"", "*rsa.PrivateKey/2048", ""},
		{RSA2048, "*rsa.PrivateKey/2048", ""},
		{ECDSAP256, "*ecdsa.PrivateKey/P-256", ""},
		{"ED25519", "", `unknown key algorithm "ED25519"`},
	}
	for _, tt := range tests {
		t.Run(string(tt.alg), func(t *testing.T) {
			key, err := tt.alg.GenerateKey()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("GenerateKey() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := describeKey(key); got != tt.want {
				t.Errorf("GenerateKey() = %s, want %s", got, tt.want)
			}
		})
	}
}

func describeKey(k crypto.Signer) string {
	switch k := k.(type) {
	case *rsa.PrivateKey:
		return fmt.Sprintf("*rsa.PrivateKey/%d", k.N.BitLen())
	case *ecdsa.PrivateKey:
		return "*ecdsa.PrivateKey/" + k.Curve.Params().Name
	}
	return "other"
}

func TestParseKeyPair(t *testing.T) {
	caKey, err := testCAs.CA.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	etcdKey, err := testCAs.EtcdCA.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		cert, key []byte
		wantErr   string
	}{
		{"matching", testCAs.CA.CertPEM(), caKey, ""},
		{"key of another CA", testCAs.CA.CertPEM(), etcdKey, "private key does not match"},
		{"no certificate", caKey, caKey, "no CERTIFICATE PEM block"},
		{"no key", testCAs.CA.CertPEM(), testCAs.CA.CertPEM(), "no private key PEM block"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kp, err := ParseKeyPair(tt.cert, tt.key)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseKeyPair() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !kp.Cert.Equal(testCAs.CA.Cert) {
				t.Error("parsed certificate differs")
			}
		})
	}
}
