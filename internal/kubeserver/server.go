package kubeserver

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/tkgcert/tkgcert/internal/pki"
)

// Options configures a Server: one etcd and one kube-apiserver.
type Options struct {
	// Binaries locates etcd and kube-apiserver.
	Binaries Binaries
	// Dir holds the PKI, etcd data and logs; it must exist and the caller removes it.
	Dir string
	// Host is the loopback address to serve on (default 127.0.0.1).
	Host string
	// APIServerArgs are extra kube-apiserver flags.
	APIServerArgs []string
}

// Server is an etcd plus kube-apiserver pair with an admin identity.
type Server struct {
	Etcd      *Etcd
	APIServer *APIServer
	// CA signs the serving certificate and the client certificates.
	CA *pki.KeyPair
	// Admin is a client certificate in group system:masters.
	Admin *pki.KeyPair
}

// Start generates a PKI under o.Dir, starts etcd and kube-apiserver, and
// waits until the API server is ready.
func Start(ctx context.Context, o Options) (_ *Server, err error) {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	s := &Server{}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	files, err := s.writePKI(o.Dir, o.Host)
	if err != nil {
		return nil, err
	}
	if s.Etcd, err = StartEtcd(ctx, EtcdOptions{Binary: o.Binaries.Etcd, Dir: o.Dir, Host: o.Host}); err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(s.CA.Cert)
	s.APIServer, err = StartAPIServer(ctx, APIServerOptions{
		Binary:                       o.Binaries.KubeAPIServer,
		Dir:                          o.Dir,
		EtcdEndpoint:                 s.Etcd.Endpoint,
		Host:                         o.Host,
		CertFile:                     files["serving.crt"],
		KeyFile:                      files["serving.key"],
		ClientCAFile:                 files["ca.crt"],
		ServiceAccountKeyFile:        files["sa.pub"],
		ServiceAccountSigningKeyFile: files["sa.key"],
		ServingCA:                    pool,
		ExtraArgs:                    o.APIServerArgs,
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// writePKI creates the CA, serving certificate, admin client certificate and
// service-account keys, and returns the paths it wrote by short name.
func (s *Server) writePKI(dir, host string) (map[string]string, error) {
	now := time.Now()
	v := pki.Validity{NotBefore: now.Add(-time.Hour), NotAfter: now.Add(365 * 24 * time.Hour)}
	var err error
	if s.CA, err = pki.NewCA("kubernetes", v, pki.ECDSAP256); err != nil {
		return nil, err
	}
	serving, err := pki.NewLeaf(s.CA, pki.LeafSpec{
		CommonName: "kube-apiserver",
		Usages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:   []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc"},
		IPs:        []net.IP{net.ParseIP(host), net.ParseIP("10.96.0.1")},
	}, v, pki.ECDSAP256)
	if err != nil {
		return nil, err
	}
	if s.Admin, err = pki.NewLeaf(s.CA, pki.LeafSpec{
		CommonName:   "kubernetes-admin",
		Organization: []string{"system:masters"},
		Usages:       []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, v, pki.ECDSAP256); err != nil {
		return nil, err
	}
	sa, err := pki.NewCA("service-accounts", v, pki.ECDSAP256)
	if err != nil {
		return nil, err
	}
	saPubDER, err := x509.MarshalPKIXPublicKey(sa.Key.Public())
	if err != nil {
		return nil, err
	}
	saPub := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: saPubDER})
	out := map[string]string{}
	write := func(name string, data []byte, mode os.FileMode) error {
		p := filepath.Join(dir, name)
		out[name] = p
		return os.WriteFile(p, data, mode)
	}
	servingKey, err := serving.KeyPEM()
	if err != nil {
		return nil, err
	}
	saKey, err := sa.KeyPEM()
	if err != nil {
		return nil, err
	}
	for _, f := range []struct {
		name string
		data []byte
		mode os.FileMode
	}{
		{"ca.crt", s.CA.CertPEM(), 0o644},
		{"serving.crt", serving.CertPEM(), 0o644},
		{"serving.key", servingKey, 0o600},
		{"sa.pub", saPub, 0o644},
		{"sa.key", saKey, 0o600},
	} {
		if err := write(f.name, f.data, f.mode); err != nil {
			return nil, fmt.Errorf("writing %s: %w", f.name, err)
		}
	}
	return out, nil
}

// RESTConfig returns a client configuration with the admin identity.
func (s *Server) RESTConfig() (*rest.Config, error) {
	key, err := s.Admin.KeyPEM()
	if err != nil {
		return nil, err
	}
	return &rest.Config{
		Host: s.APIServer.URL,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   s.CA.CertPEM(),
			CertData: s.Admin.CertPEM(),
			KeyData:  key,
		},
		QPS:   200,
		Burst: 400,
	}, nil
}

// Kubeconfig returns a kubeconfig for the admin identity whose context is
// named contextName (for example "kubernetes-admin@kubernetes").
func (s *Server) Kubeconfig(contextName string) ([]byte, error) {
	key, err := s.Admin.KeyPEM()
	if err != nil {
		return nil, err
	}
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["kubernetes"] = &clientcmdapi.Cluster{
		Server:                   s.APIServer.URL,
		CertificateAuthorityData: s.CA.CertPEM(),
	}
	cfg.AuthInfos["kubernetes-admin"] = &clientcmdapi.AuthInfo{
		ClientCertificateData: s.Admin.CertPEM(),
		ClientKeyData:         key,
	}
	cfg.Contexts[contextName] = &clientcmdapi.Context{Cluster: "kubernetes", AuthInfo: "kubernetes-admin"}
	cfg.CurrentContext = contextName
	return clientcmd.Write(*cfg)
}

// Stop terminates the API server, then etcd. It is safe on a partly started Server.
func (s *Server) Stop() {
	if s == nil {
		return
	}
	if s.APIServer != nil {
		s.APIServer.Stop()
	}
	if s.Etcd != nil {
		s.Etcd.Stop()
	}
}
