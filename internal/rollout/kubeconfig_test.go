package rollout_test

import (
	"context"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/tkgcert/tkgcert/internal/capi"
	"github.com/tkgcert/tkgcert/internal/fleet"
	"github.com/tkgcert/tkgcert/internal/pki"
	"github.com/tkgcert/tkgcert/internal/rollout"
	"github.com/tkgcert/tkgcert/internal/testenv"
)

// workload stands in for a workload API server (or an attacker's server):
// it answers every request and records the Authorization headers it got.
type workload struct {
	srv  *httptest.Server
	mu   sync.Mutex
	hits int
	auth []string
}

func newWorkload(t *testing.T) *workload {
	w := &workload{}
	w.srv = httptest.NewTLSServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		w.mu.Lock()
		w.hits++
		if a := r.Header.Get("Authorization"); a != "" {
			w.auth = append(w.auth, a)
		}
		w.mu.Unlock()
		rw.Header().Set("Content-Type", "application/json")
		fmt.Fprint(rw, `{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"kube-system"}}`)
	}))
	t.Cleanup(w.srv.Close)
	return w
}

func (w *workload) seen() (int, []string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.hits, append([]string(nil), w.auth...)
}

// TestKubeconfigWorksRefusesAHostileSecret: a namespace owner rewrites the
// <cluster>-kubeconfig secret so that tkgcert would read a token from its
// own disk, run a program or talk to a server of their choosing. Each is
// refused before any request, with the secret and the field named.
func TestKubeconfigWorksRefusesAHostileSecret(t *testing.T) {
	env := testenv.Get(t, capi.V1Beta1)
	c := env.Client
	r := fleet.NewReaderFor(c, capi.V1Beta1)
	ctx := context.Background()
	cas, err := pki.NewClusterCAs(pki.CAOptions{Validity: pki.ValidFor(time.Now().Add(-time.Hour), pki.CAValidityPeriod), KeyAlgorithm: pki.ECDSAP256})
	if err != nil {
		t.Fatal(err)
	}
	tokenFile := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(tokenFile, []byte("controller-sa-token"), 0o600); err != nil {
		t.Fatal(err)
	}
	marker := filepath.Join(t.TempDir(), "exec-ran")

	for i, tc := range []struct {
		name    string
		foreign bool // the Cluster's endpoint is elsewhere
		edit    func(*clientcmdapi.AuthInfo)
		field   string // "" when the secret is fine
	}{
		{name: "as Cluster API writes it", edit: func(*clientcmdapi.AuthInfo) {}},
		{name: "tokenFile", edit: func(u *clientcmdapi.AuthInfo) { u.TokenFile = tokenFile }, field: "tokenFile"},
		{name: "exec", edit: func(u *clientcmdapi.AuthInfo) {
			u.Exec = &clientcmdapi.ExecConfig{APIVersion: "client.authentication.k8s.io/v1", Command: "/bin/sh", InteractiveMode: clientcmdapi.NeverExecInteractiveMode,
				Args: []string{"-c", "touch " + marker + `; echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"from-exec"}}'`}}
		}, field: "exec"},
		{name: "a foreign server", foreign: true, edit: func(*clientcmdapi.AuthInfo) {}, field: "spec.controlPlaneEndpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorkload(t)
			ns := fmt.Sprintf("kubeconfig-%d", i)
			if err := c.Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}); err != nil {
				t.Fatal(err)
			}
			host, port, _ := net.SplitHostPort(strings.TrimPrefix(w.srv.URL, "https://"))
			p, _ := strconv.Atoi(port)
			if tc.foreign {
				p = 1 // the real control plane is somewhere else
			}
			create(t, c, map[string]any{"apiVersion": "cluster.x-k8s.io/v1beta1", "kind": "Cluster",
				"metadata": map[string]any{"name": "c", "namespace": ns},
				"spec":     map[string]any{"controlPlaneEndpoint": map[string]any{"host": host, "port": int64(p)}}}, nil)
			sec, err := pki.KubeconfigSecret(ns, "c", w.srv.URL, cas.CA, pki.ValidFor(time.Now().Add(-time.Hour), 24*time.Hour), pki.ECDSAP256)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := clientcmd.Load(sec.Data["value"])
			if err != nil {
				t.Fatal(err)
			}
			for _, cl := range cfg.Clusters {
				cl.CertificateAuthorityData = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: w.srv.Certificate().Raw})
			}
			for _, u := range cfg.AuthInfos {
				tc.edit(u)
			}
			if sec.Data["value"], err = clientcmd.Write(*cfg); err != nil {
				t.Fatal(err)
			}
			if err := c.Create(ctx, sec); err != nil {
				t.Fatal(err)
			}

			err = rollout.KubeconfigWorks(ctx, r, ns, "c")
			hits, auth := w.seen()
			if tc.field == "" {
				if err != nil || hits == 0 {
					t.Fatalf("a sound secret: %v (%d requests)", err, hits)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted (the server saw %d requests, Authorization %q)", hits, auth)
			}
			for _, want := range []string{"secret " + ns + "/c-kubeconfig", tc.field} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
			if hits != 0 || len(auth) != 0 {
				t.Errorf("the server saw %d requests, Authorization %q", hits, auth)
			}
			if _, err := os.Stat(marker); err == nil {
				t.Error("the exec plugin ran")
			}
		})
	}
}
