package pki

import (
	"crypto/x509"
	"encoding/pem"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"
)

func TestSecrets(t *testing.T) {
	secrets, err := testCAs.Secrets("tkg-cluster-ns", "tkg-cluster")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, s := range secrets {
		names = append(names, s.Name)
		if s.Namespace != "tkg-cluster-ns" {
			t.Errorf("%s: namespace %q, want tkg-cluster-ns", s.Name, s.Namespace)
		}
		if s.Type != "cluster.x-k8s.io/secret" {
			t.Errorf("%s: type %q, want cluster.x-k8s.io/secret", s.Name, s.Type)
		}
		if diff := cmp.Diff(map[string]string{"cluster.x-k8s.io/cluster-name": "tkg-cluster"}, s.Labels); diff != "" {
			t.Errorf("%s: labels (-want +got):\n%s", s.Name, diff)
		}
		if diff := cmp.Diff([]string{"tls.crt", "tls.key"}, slices.Sorted(maps.Keys(s.Data))); diff != "" {
			t.Errorf("%s: data keys (-want +got):\n%s", s.Name, diff)
		}
	}
	if diff := cmp.Diff([]string{"tkg-cluster-ca", "tkg-cluster-etcd", "tkg-cluster-proxy", "tkg-cluster-sa"}, names); diff != "" {
		t.Errorf("secret names (-want +got):\n%s", diff)
	}

	// Each CA secret holds that CA; -sa holds sa.pub and sa.key.
	for i, kp := range []*KeyPair{testCAs.CA, testCAs.EtcdCA, testCAs.FrontProxyCA} {
		got, err := ParseKeyPair(secrets[i].Data["tls.crt"], secrets[i].Data["tls.key"])
		if err != nil {
			t.Fatalf("%s: %v", secrets[i].Name, err)
		}
		if !got.Cert.Equal(kp.Cert) {
			t.Errorf("%s: tls.crt is not the right CA", secrets[i].Name)
		}
	}
	if block, _ := pem.Decode(secrets[3].Data["tls.crt"]); block == nil || block.Type != "PUBLIC KEY" {
		t.Errorf("tkg-cluster-sa tls.crt = %q, want a PUBLIC KEY block", secrets[3].Data["tls.crt"])
	}
	if block, _ := pem.Decode(secrets[3].Data["tls.key"]); block == nil || block.Type != "EC PRIVATE KEY" {
		t.Errorf("tkg-cluster-sa tls.key is not an EC PRIVATE KEY block")
	}
}

func TestClusterCAsFromSecrets(t *testing.T) {
	fresh := func(t *testing.T) []*corev1.Secret {
		t.Helper()
		s, err := testCAs.Secrets("ns", "tkg-cluster")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	otherKey, err := testCAs.EtcdCA.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := NewLeaf(testCAs.CA, LeafSpec{CommonName: "not-a-ca", Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, leafValidity, ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	leafKey, err := leaf.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	otherPub, err := EncodePublicKeyPEM(testCAs.CA.Key.Public())
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name    string
		mutate  func([]*corev1.Secret) []*corev1.Secret
		wantErr string
	}{
		{"round trip", func(s []*corev1.Secret) []*corev1.Secret { return s }, ""},
		{"order and strangers do not matter", func(s []*corev1.Secret) []*corev1.Secret {
			stranger := &corev1.Secret{}
			stranger.Name = "other-cluster-ca"
			return []*corev1.Secret{s[3], stranger, s[1], nil, s[0], s[2]}
		}, ""},
		{"missing etcd", func(s []*corev1.Secret) []*corev1.Secret { return []*corev1.Secret{s[0], s[2], s[3]} },
			"cluster tkg-cluster: secret tkg-cluster-etcd not found"},
		{"missing all", func([]*corev1.Secret) []*corev1.Secret { return nil },
			"secret tkg-cluster-ca, tkg-cluster-etcd, tkg-cluster-proxy, tkg-cluster-sa not found"},
		{"missing tls.key", func(s []*corev1.Secret) []*corev1.Secret { delete(s[0].Data, "tls.key"); return s },
			"secret tkg-cluster-ca: missing data tls.key"},
		{"missing tls.crt", func(s []*corev1.Secret) []*corev1.Secret { delete(s[2].Data, "tls.crt"); return s },
			"secret tkg-cluster-proxy: missing data tls.crt"},
		{"garbage tls.crt", func(s []*corev1.Secret) []*corev1.Secret { s[1].Data["tls.crt"] = []byte("nope"); return s },
			"secret tkg-cluster-etcd: data tls.crt: no CERTIFICATE PEM block found"},
		{"key of another CA", func(s []*corev1.Secret) []*corev1.Secret { s[0].Data["tls.key"] = otherKey; return s },
			"secret tkg-cluster-ca: tls.key does not match the certificate in tls.crt"},
		{"not a CA", func(s []*corev1.Secret) []*corev1.Secret {
			s[2].Data["tls.crt"], s[2].Data["tls.key"] = leaf.CertPEM(), leafKey
			return s
		}, `secret tkg-cluster-proxy: data tls.crt: certificate "not-a-ca" is not a CA`},
		{"missing sa key", func(s []*corev1.Secret) []*corev1.Secret { delete(s[3].Data, "tls.key"); return s },
			"secret tkg-cluster-sa: missing data tls.key"},
		{"sa public key of another key", func(s []*corev1.Secret) []*corev1.Secret { s[3].Data["tls.crt"] = otherPub; return s },
			"secret tkg-cluster-sa: tls.crt is not the public key of tls.key"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ClusterCAsFromSecrets("tkg-cluster", tt.mutate(fresh(t)))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ClusterCAsFromSecrets() error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct {
				name      string
				got, want *KeyPair
			}{{"ca", got.CA, testCAs.CA}, {"etcd-ca", got.EtcdCA, testCAs.EtcdCA}, {"front-proxy-ca", got.FrontProxyCA, testCAs.FrontProxyCA}} {
				if !c.got.Cert.Equal(c.want.Cert) || !publicKeysEqual(c.got.Key.Public(), c.want.Key.Public()) {
					t.Errorf("%s differs after the round trip", c.name)
				}
			}
			if !publicKeysEqual(got.ServiceAccountKey.Public(), testCAs.ServiceAccountKey.Public()) {
				t.Error("service-account key differs after the round trip")
			}
		})
	}
}

func TestSecretsIncomplete(t *testing.T) {
	if _, err := (&ClusterCAs{CA: testCAs.CA}).Secrets("ns", "c"); err == nil || !strings.Contains(err.Error(), "etcd-ca certificate and key are required") {
		t.Errorf("Secrets() error = %v, want etcd-ca missing", err)
	}
}

func TestKubeconfigSecret(t *testing.T) {
	tests := []struct {
		name, server, wantServer string
	}{
		{"host:port", "10.244.0.50:6443", "https://10.244.0.50:6443"},
		{"https URL", "https://tkg-cluster.example.com:6443", "https://tkg-cluster.example.com:6443"},
		{"host only", "tkg-cluster.example.com", "https://tkg-cluster.example.com:6443"},
		{"IPv6", "[fd00::50]:6443", "https://[fd00::50]:6443"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := KubeconfigSecret("tkg-cluster-ns", "tkg-cluster", tt.server, testCAs.CA, leafValidity, ECDSAP256)
			if err != nil {
				t.Fatal(err)
			}
			if s.Name != "tkg-cluster-kubeconfig" || s.Namespace != "tkg-cluster-ns" || s.Type != "cluster.x-k8s.io/secret" ||
				s.Labels["cluster.x-k8s.io/cluster-name"] != "tkg-cluster" {
				t.Errorf("secret %s/%s type %s labels %v, want tkg-cluster-ns/tkg-cluster-kubeconfig of Cluster API", s.Namespace, s.Name, s.Type, s.Labels)
			}
			if len(s.Data) != 1 {
				t.Errorf("data keys = %d, want only value", len(s.Data))
			}
			cfg, err := clientcmd.Load(s.Data["value"])
			if err != nil {
				t.Fatal(err)
			}
			if cfg.CurrentContext != "tkg-cluster-admin@tkg-cluster" {
				t.Errorf("current-context = %q, want tkg-cluster-admin@tkg-cluster", cfg.CurrentContext)
			}
			ctx := cfg.Contexts[cfg.CurrentContext]
			if ctx == nil || ctx.Cluster != "tkg-cluster" || ctx.AuthInfo != "tkg-cluster-admin" {
				t.Fatalf("context = %+v, want cluster tkg-cluster user tkg-cluster-admin", ctx)
			}
			if got := cfg.Clusters["tkg-cluster"].Server; got != tt.wantServer {
				t.Errorf("server = %q, want %q", got, tt.wantServer)
			}
			caCert, err := ParseCertPEM(cfg.Clusters["tkg-cluster"].CertificateAuthorityData)
			if err != nil || !caCert.Equal(testCAs.CA.Cert) {
				t.Errorf("certificate-authority-data is not the cluster CA (%v)", err)
			}
			auth := cfg.AuthInfos["tkg-cluster-admin"]
			client, err := ParseKeyPair(auth.ClientCertificateData, auth.ClientKeyData)
			if err != nil {
				t.Fatal(err)
			}
			c := client.Cert
			if c.Subject.CommonName != "kubernetes-admin" || !cmp.Equal(c.Subject.Organization, []string{"system:masters"}) {
				t.Errorf("client subject = %v, want CN=kubernetes-admin O=system:masters", c.Subject)
			}
			if !c.NotBefore.Equal(leafValidity.NotBefore) || !c.NotAfter.Equal(leafValidity.NotAfter) {
				t.Errorf("client validity = %v..%v, want %v", c.NotBefore, c.NotAfter, leafValidity)
			}
			if err := verifyChain(c, testCAs.CA.Cert, x509.ExtKeyUsageClientAuth, during); err != nil {
				t.Errorf("client certificate does not chain to the cluster CA: %v", err)
			}
		})
	}

	for _, bad := range []string{"", "https://", "host:", "https://host:6443/path"} {
		if _, err := KubeconfigSecret("ns", "c", bad, testCAs.CA, leafValidity, ECDSAP256); err == nil || !strings.Contains(err.Error(), "secret c-kubeconfig: invalid API endpoint") {
			t.Errorf("KubeconfigSecret(server %q) error = %v, want invalid API endpoint", bad, err)
		}
	}
}
