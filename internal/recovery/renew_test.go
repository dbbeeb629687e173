package recovery

import (
	"bytes"
	"crypto/x509"
	"encoding/base64"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"

	"github.com/tkgcert/tkgcert/internal/pki"
)

// assertRenewal checks that renewed is old renewed by ca at now: same
// subject, SANs, usages and public key, a new serial, signed by ca, valid
// from five minutes before now for 365 days.
func assertRenewal(t *testing.T, old, renewed *x509.Certificate, ca *pki.KeyPair) {
	t.Helper()
	if !bytes.Equal(renewed.RawSubject, old.RawSubject) {
		t.Errorf("subject %q, want %q", renewed.Subject, old.Subject)
	}
	if !slices.Equal(renewed.DNSNames, old.DNSNames) {
		t.Errorf("DNS names %v, want %v", renewed.DNSNames, old.DNSNames)
	}
	if !slices.EqualFunc(renewed.IPAddresses, old.IPAddresses, net.IP.Equal) {
		t.Errorf("IPs %v, want %v", renewed.IPAddresses, old.IPAddresses)
	}
	if renewed.KeyUsage != old.KeyUsage || !slices.Equal(renewed.ExtKeyUsage, old.ExtKeyUsage) {
		t.Errorf("usages %v %v, want %v %v", renewed.KeyUsage, renewed.ExtKeyUsage, old.KeyUsage, old.ExtKeyUsage)
	}
	if renewed.IsCA || !renewed.BasicConstraintsValid {
		t.Errorf("basic constraints: CA %v valid %v", renewed.IsCA, renewed.BasicConstraintsValid)
	}
	if !bytes.Equal(renewed.RawSubjectPublicKeyInfo, old.RawSubjectPublicKeyInfo) {
		t.Error("the public key changed: the key on the node would not match")
	}
	if renewed.SerialNumber.Cmp(old.SerialNumber) == 0 {
		t.Error("the serial number was reused")
	}
	if err := renewed.CheckSignatureFrom(ca.Cert); err != nil {
		t.Errorf("not signed by the cluster's CA: %v", err)
	}
	if !bytes.Equal(renewed.RawIssuer, ca.Cert.RawSubject) {
		t.Errorf("issuer %q, want %q", renewed.Issuer, ca.Cert.Subject)
	}
	if want := now.Add(-5 * time.Minute); !renewed.NotBefore.Equal(want) {
		t.Errorf("NotBefore %v, want %v", renewed.NotBefore, want)
	}
	if want := now.Add(365 * 24 * time.Hour); !renewed.NotAfter.Equal(want) {
		t.Errorf("NotAfter %v, want %v", renewed.NotAfter, want)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	if _, err := renewed.Verify(x509.VerifyOptions{Roots: pool, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}}); err != nil {
		t.Errorf("does not verify against the CA at now: %v", err)
	}
}

func TestRenewKeepsEverythingButValidity(t *testing.T) {
	for _, tc := range []struct {
		file string
		ca   *pki.KeyPair
	}{
		{"etc/kubernetes/pki/apiserver.crt", testCAs.CA},
		{"etc/kubernetes/pki/apiserver-kubelet-client.crt", testCAs.CA},
		{"etc/kubernetes/pki/front-proxy-client.crt", testCAs.FrontProxyCA},
		{"etc/kubernetes/pki/etcd/server.crt", testCAs.EtcdCA},
		{"etc/kubernetes/pki/etcd/peer.crt", testCAs.EtcdCA},
		{"etc/kubernetes/pki/etcd/healthcheck-client.crt", testCAs.EtcdCA},
		{"etc/kubernetes/pki/apiserver-etcd-client.crt", testCAs.EtcdCA},
	} {
		t.Run(tc.file, func(t *testing.T) {
			old, err := pki.ParseCertPEM(cpFiles[tc.file].Data)
			if err != nil {
				t.Fatal(err)
			}
			if old.NotAfter.After(now) {
				t.Fatalf("fixture not expired: %v", old.NotAfter)
			}
			renewed, err := Renew(old, tc.ca, now)
			if err != nil {
				t.Fatal(err)
			}
			assertRenewal(t, old, renewed, tc.ca)
			// The renewed certificate still pairs with the key on the node.
			if _, err := pki.ParseKeyPair(pki.EncodeCertPEM(renewed), cpFiles[strings.TrimSuffix(tc.file, ".crt")+".key"].Data); err != nil {
				t.Errorf("renewed certificate and the node's key: %v", err)
			}
		})
	}
}

func TestRenewRefuses(t *testing.T) {
	apiserver, _ := pki.ParseCertPEM(cpFiles["etc/kubernetes/pki/apiserver.crt"].Data)
	t.Run("another CA", func(t *testing.T) {
		if _, err := Renew(apiserver, otherCAs.CA, now); err == nil || !strings.Contains(err.Error(), "was not issued by CA") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("the wrong one of the cluster's CAs", func(t *testing.T) {
		if _, err := Renew(apiserver, testCAs.EtcdCA, now); err == nil {
			t.Error("renewed the apiserver certificate with the etcd CA")
		}
	})
	t.Run("an expired CA", func(t *testing.T) {
		if _, err := Renew(apiserver, testCAs.CA, testCAs.CA.Cert.NotAfter.Add(time.Hour)); err == nil || !strings.Contains(err.Error(), "needs a new CA") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("a CA certificate", func(t *testing.T) {
		if _, err := Renew(testCAs.CA.Cert, testCAs.CA, now); err == nil {
			t.Error("renewed a CA")
		}
	})
}

func TestRenewCapsAtTheCA(t *testing.T) {
	apiserver, _ := pki.ParseCertPEM(cpFiles["etc/kubernetes/pki/apiserver.crt"].Data)
	late := testCAs.CA.Cert.NotAfter.Add(-30 * 24 * time.Hour)
	renewed, err := Renew(apiserver, testCAs.CA, late)
	if err != nil {
		t.Fatal(err)
	}
	if !renewed.NotAfter.Equal(testCAs.CA.Cert.NotAfter) {
		t.Errorf("NotAfter %v, want the CA's %v", renewed.NotAfter, testCAs.CA.Cert.NotAfter)
	}
}

func TestKubeconfigClientAndEdit(t *testing.T) {
	for _, file := range []string{"admin.conf", "super-admin.conf", "controller-manager.conf", "scheduler.conf"} {
		t.Run(file, func(t *testing.T) {
			data := cpFiles["etc/kubernetes/"+file].Data
			old, literal, ok, err := kubeconfigClient(data)
			if err != nil || !ok {
				t.Fatalf("ok %v, err %v", ok, err)
			}
			if !strings.Contains(string(data), "client-certificate-data: "+literal+"\n") {
				t.Fatal("the literal is not the file's value")
			}
			renewed, err := Renew(old, testCAs.CA, now)
			if err != nil {
				t.Fatal(err)
			}
			assertRenewal(t, old, renewed, testCAs.CA)
			// What the node's sed does: the value replaced, nothing else.
			edited := strings.Replace(string(data), "client-certificate-data: "+literal, "client-certificate-data: "+base64.StdEncoding.EncodeToString(pki.EncodeCertPEM(renewed)), 1)
			cfg, err := clientcmd.Load([]byte(edited))
			if err != nil {
				t.Fatal(err)
			}
			auth := cfg.AuthInfos[cfg.Contexts[cfg.CurrentContext].AuthInfo]
			if _, err := pki.ParseKeyPair(auth.ClientCertificateData, auth.ClientKeyData); err != nil {
				t.Errorf("edited kubeconfig: %v", err)
			}
		})
	}
	// The kubelet's kubeconfig points at its certificate file: nothing to edit.
	if _, _, ok, err := kubeconfigClient(cpFiles["etc/kubernetes/kubelet.conf"].Data); ok || err != nil {
		t.Errorf("kubelet.conf: ok %v, err %v", ok, err)
	}
}

func TestRenewKubeconfig(t *testing.T) {
	sec, err := pki.KubeconfigSecret("ns", "tkg-cluster", "https://10.0.0.1:6443", testCAs.CA, expired, pki.ECDSAP256)
	if err != nil {
		t.Fatal(err)
	}
	data := sec.Data["value"]
	out, err := RenewKubeconfig(data, testCAs.CA, now)
	if err != nil {
		t.Fatal(err)
	}
	before, _ := clientcmd.Load(data)
	after, err := clientcmd.Load(out)
	if err != nil {
		t.Fatal(err)
	}
	if after.CurrentContext != before.CurrentContext || after.Clusters["tkg-cluster"].Server != "https://10.0.0.1:6443" ||
		!bytes.Equal(after.Clusters["tkg-cluster"].CertificateAuthorityData, before.Clusters["tkg-cluster"].CertificateAuthorityData) {
		t.Errorf("cluster or context changed:\n%s", out)
	}
	ab, aa := before.AuthInfos["tkg-cluster-admin"], after.AuthInfos["tkg-cluster-admin"]
	if !bytes.Equal(ab.ClientKeyData, aa.ClientKeyData) {
		t.Error("the client key changed")
	}
	oldCert, _ := pki.ParseCertPEM(ab.ClientCertificateData)
	newCert, err := pki.ParseCertPEM(aa.ClientCertificateData)
	if err != nil {
		t.Fatal(err)
	}
	assertRenewal(t, oldCert, newCert, testCAs.CA)
	if newCert.Subject.CommonName != "kubernetes-admin" || !slices.Equal(newCert.Subject.Organization, []string{"system:masters"}) {
		t.Errorf("subject %v", newCert.Subject)
	}
}
