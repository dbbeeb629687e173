package inventory

import (
	"context"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/tkgcert/tkgcert/internal/pki"
)

// TestNodeAddressesRefusesAHostileSecret: check's node discovery builds its
// workload client from the <cluster>-kubeconfig secret. A secret that would
// make tkgcert read its own token file, run a program, or talk to a server
// other than the Cluster's endpoint is refused before any request is sent.
func TestNodeAddressesRefusesAHostileSecret(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		rw.Header().Set("Content-Type", "application/json")
		fmt.Fprint(rw, `{"kind":"NodeList","apiVersion":"v1","items":[{"metadata":{"name":"n1"},"status":{"addresses":[{"type":"InternalIP","address":"10.0.0.7"}]}}]}`)
	}))
	defer srv.Close()
	endpoint := strings.TrimPrefix(srv.URL, "https://")
	cas, err := pki.NewClusterCAs(pki.CAOptions{Validity: pki.ValidFor(time.Now().Add(-time.Hour), pki.CAValidityPeriod), KeyAlgorithm: pki.ECDSAP256})
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("controller-sa-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "exec-ran")
	secret := func(edit func(*clientcmdapi.Cluster, *clientcmdapi.AuthInfo)) []byte {
		sec, err := pki.KubeconfigSecret("ns", "c", srv.URL, cas.CA, pki.ValidFor(time.Now().Add(-time.Hour), 24*time.Hour), pki.ECDSAP256)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := clientcmd.Load(sec.Data["value"])
		if err != nil {
			t.Fatal(err)
		}
		for _, cl := range cfg.Clusters {
			cl.CertificateAuthorityData = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
			for _, u := range cfg.AuthInfos {
				edit(cl, u)
			}
		}
		data, err := clientcmd.Write(*cfg)
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	ctx := context.Background()

	addrs, err := nodeAddresses(ctx, secret(func(*clientcmdapi.Cluster, *clientcmdapi.AuthInfo) {}), "ns/c-kubeconfig", endpoint)
	if err != nil || addrs["n1"] != "10.0.0.7" {
		t.Fatalf("a sound secret: %v, %v", addrs, err)
	}
	hits.Store(0)
	for name, tc := range map[string]struct {
		edit     func(*clientcmdapi.Cluster, *clientcmdapi.AuthInfo)
		endpoint string
		field    string
	}{
		"tokenFile": {edit: func(_ *clientcmdapi.Cluster, u *clientcmdapi.AuthInfo) { u.TokenFile = tokenFile }, field: "tokenFile"},
		"exec": {edit: func(_ *clientcmdapi.Cluster, u *clientcmdapi.AuthInfo) {
			u.Exec = &clientcmdapi.ExecConfig{APIVersion: "client.authentication.k8s.io/v1", Command: "/bin/sh", InteractiveMode: clientcmdapi.NeverExecInteractiveMode,
				Args: []string{"-c", "touch " + marker + `; echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"t"}}'`}}
		}, field: "exec"},
		"proxy-url": {edit: func(c *clientcmdapi.Cluster, _ *clientcmdapi.AuthInfo) { c.ProxyURL = srv.URL }, field: "proxy-url"},
		"a foreign server": {edit: func(*clientcmdapi.Cluster, *clientcmdapi.AuthInfo) {}, endpoint: "192.0.2.1:6443",
			field: "spec.controlPlaneEndpoint"},
	} {
		t.Run(name, func(t *testing.T) {
			ep := endpoint
			if tc.endpoint != "" {
				ep = tc.endpoint
			}
			_, err := nodeAddresses(ctx, secret(tc.edit), "ns/c-kubeconfig", ep)
			if err == nil || !strings.Contains(err.Error(), "secret ns/c-kubeconfig") || !strings.Contains(err.Error(), tc.field) {
				t.Errorf("error %v, want one naming the secret and %s", err, tc.field)
			}
			if n := hits.Load(); n != 0 {
				t.Errorf("the server saw %d requests", n)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Error("the exec plugin ran")
			}
		})
	}
}
