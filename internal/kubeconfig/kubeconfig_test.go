package kubeconfig

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

const (
	secret   = "ns-a/tkc-kubeconfig"
	endpoint = "10.0.0.10:6443"
	// Stand-ins for credentials: they must never appear in an error.
	caData   = "CA-DATA-c2VjcmV0"
	certData = "CERT-DATA-c2VjcmV0"
	keyData  = "KEY-DATA-c2VjcmV0"
	token    = "TOKEN-c2VjcmV0"
)

// good is a kubeconfig as Cluster API writes it.
func good() *clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters["tkc"] = &clientcmdapi.Cluster{Server: "https://10.0.0.10:6443", CertificateAuthorityData: []byte(caData)}
	cfg.AuthInfos["tkc-admin"] = &clientcmdapi.AuthInfo{ClientCertificateData: []byte(certData), ClientKeyData: []byte(keyData)}
	cfg.Contexts["tkc-admin@tkc"] = &clientcmdapi.Context{Cluster: "tkc", AuthInfo: "tkc-admin"}
	cfg.CurrentContext = "tkc-admin@tkc"
	return cfg
}

func write(t *testing.T, cfg *clientcmdapi.Config) []byte {
	t.Helper()
	data, err := clientcmd.Write(*cfg)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func TestRESTConfigUsesEmbeddedDataOnly(t *testing.T) {
	got, err := RESTConfig(write(t, good()), secret, endpoint)
	if err != nil {
		t.Fatal(err)
	}
	want := &rest.Config{Host: "https://10.0.0.10:6443", TLSClientConfig: rest.TLSClientConfig{
		CAData: []byte(caData), CertData: []byte(certData), KeyData: []byte(keyData)}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("RESTConfig = %+v, want %+v", got, want)
	}
}

func TestRESTConfigRefuses(t *testing.T) {
	for _, tc := range []struct {
		name     string
		endpoint string
		edit     func(c *clientcmdapi.Cluster, u *clientcmdapi.AuthInfo)
		field    string
	}{
		{"tokenFile", endpoint, func(_ *clientcmdapi.Cluster, u *clientcmdapi.AuthInfo) {
			u.TokenFile = "/var/run/secrets/kubernetes.io/serviceaccount/token"
		}, "tokenFile"},
		{"token", endpoint, func(_ *clientcmdapi.Cluster, u *clientcmdapi.AuthInfo) { u.Token = token }, "token"},
		{"exec", endpoint, func(_ *clientcmdapi.Cluster, u *clientcmdapi.AuthInfo) {
			u.Exec = &clientcmdapi.ExecConfig{Command: "/bin/sh", Args: []string{"-c", "cat " + token}, APIVersion: "client.authentication.k8s.io/v1"}
		}, "exec"},
		{"auth-provider", endpoint, func(_ *clientcmdapi.Cluster, u *clientcmdapi.AuthInfo) {
			u.AuthProvider = &clientcmdapi.AuthProviderConfig{Name: "oidc", Config: map[string]string{"id-token": token}}
		}, "auth-provider"},
		{"client-certificate path", endpoint, func(_ *clientcmdapi.Cluster, u *clientcmdapi.AuthInfo) {
			u.ClientCertificate = "/etc/kubernetes/pki/apiserver.crt"
		}, "client-certificate (a file path)"},
		{"client-key path", endpoint, func(_ *clientcmdapi.Cluster, u *clientcmdapi.AuthInfo) {
			u.ClientKey = "/etc/kubernetes/pki/apiserver.key"
		}, "client-key (a file path)"},
		{"certificate-authority path", endpoint, func(c *clientcmdapi.Cluster, _ *clientcmdapi.AuthInfo) {
			c.CertificateAuthority = "/etc/ssl/certs/ca-certificates.crt"
		}, "certificate-authority (a file path)"},
		{"proxy-url", endpoint, func(c *clientcmdapi.Cluster, _ *clientcmdapi.AuthInfo) { c.ProxyURL = "http://attacker:3128" }, "proxy-url"},
		{"insecure", endpoint, func(c *clientcmdapi.Cluster, _ *clientcmdapi.AuthInfo) {
			c.InsecureSkipTLSVerify, c.CertificateAuthorityData = true, nil
		}, "insecure-skip-tls-verify"},
		{"username", endpoint, func(_ *clientcmdapi.Cluster, u *clientcmdapi.AuthInfo) { u.Username = "admin" }, "username"},
		{"password", endpoint, func(_ *clientcmdapi.Cluster, u *clientcmdapi.AuthInfo) { u.Password = token }, "password"},
		{"impersonation", endpoint, func(_ *clientcmdapi.Cluster, u *clientcmdapi.AuthInfo) { u.Impersonate = "system:admin" }, "as (impersonation)"},
		{"impersonated groups", endpoint, func(_ *clientcmdapi.Cluster, u *clientcmdapi.AuthInfo) {
			u.ImpersonateGroups = []string{"system:masters"}
		}, "as-groups (impersonation)"},
		{"no CA data", endpoint, func(c *clientcmdapi.Cluster, _ *clientcmdapi.AuthInfo) { c.CertificateAuthorityData = nil }, "certificate-authority-data"},
		{"no client key data", endpoint, func(_ *clientcmdapi.Cluster, u *clientcmdapi.AuthInfo) { u.ClientKeyData = nil }, "client-key-data"},
		{"a foreign server", endpoint, func(c *clientcmdapi.Cluster, _ *clientcmdapi.AuthInfo) { c.Server = "https://attacker.example:6443" }, "spec.controlPlaneEndpoint 10.0.0.10:6443"},
		{"another port", endpoint, func(c *clientcmdapi.Cluster, _ *clientcmdapi.AuthInfo) { c.Server = "https://10.0.0.10:443" }, "spec.controlPlaneEndpoint 10.0.0.10:6443"},
		{"plain http", endpoint, func(c *clientcmdapi.Cluster, _ *clientcmdapi.AuthInfo) { c.Server = "http://10.0.0.10:6443" }, "is not https://10.0.0.10:6443"},
		{"user info in the server", endpoint, func(c *clientcmdapi.Cluster, _ *clientcmdapi.AuthInfo) {
			c.Server = "https://u:p@10.0.0.10:6443"
		}, "is not https://10.0.0.10:6443"},
		{"a Cluster without endpoint", "", func(*clientcmdapi.Cluster, *clientcmdapi.AuthInfo) {}, "the Cluster has no spec.controlPlaneEndpoint"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := good()
			tc.edit(cfg.Clusters["tkc"], cfg.AuthInfos["tkc-admin"])
			got, err := RESTConfig(write(t, cfg), secret, tc.endpoint)
			if err == nil {
				t.Fatalf("accepted: %+v", got)
			}
			if !errors.Is(err, ErrRefused) {
				t.Errorf("error %v is not ErrRefused", err)
			}
			msg := err.Error()
			for _, want := range []string{"secret " + secret, tc.field} {
				if !strings.Contains(msg, want) {
					t.Errorf("error %q does not say %q", msg, want)
				}
			}
			for _, leak := range []string{caData, certData, keyData, token, "c2VjcmV0"} {
				if strings.Contains(msg, leak) {
					t.Errorf("error %q quotes a credential", msg)
				}
			}
		})
	}
}

func TestRESTConfigRefusesGarbageWithoutQuotingIt(t *testing.T) {
	_, err := RESTConfig([]byte("apiVersion: v1\nkind: Config\nusers: "+token+"\n"), secret, endpoint)
	if err == nil || strings.Contains(err.Error(), token) || !strings.Contains(err.Error(), secret) {
		t.Errorf("error %v", err)
	}
}

// TestEveryCredentialFieldIsChecked fails when client-go grows a field in
// AuthInfo or Cluster that RESTConfig does not know about: each must be
// judged (refused, used, or harmless) before tkgcert follows a new version.
func TestEveryCredentialFieldIsChecked(t *testing.T) {
	known := map[string][]string{
		"AuthInfo": {"LocationOfOrigin", "ClientCertificate", "ClientCertificateData", "ClientKey", "ClientKeyData", "Token", "TokenFile",
			"Impersonate", "ImpersonateUID", "ImpersonateGroups", "ImpersonateUserExtra", "Username", "Password", "AuthProvider", "Exec", "Extensions"},
		"Cluster": {"LocationOfOrigin", "Server", "TLSServerName", "InsecureSkipTLSVerify", "CertificateAuthority", "CertificateAuthorityData",
			"ProxyURL", "DisableCompression", "Extensions"},
	}
	for name, typ := range map[string]reflect.Type{"AuthInfo": reflect.TypeOf(clientcmdapi.AuthInfo{}), "Cluster": reflect.TypeOf(clientcmdapi.Cluster{})} {
		var fields []string
		for i := 0; i < typ.NumField(); i++ {
			fields = append(fields, typ.Field(i).Name)
		}
		if !reflect.DeepEqual(fields, known[name]) {
			t.Errorf("clientcmdapi.%s has fields %v; RESTConfig was written for %v", name, fields, known[name])
		}
	}
}

func TestSameEndpoint(t *testing.T) {
	for _, tc := range []struct {
		server, endpoint string
		ok               bool
	}{
		{"https://10.0.0.10:6443", "10.0.0.10:6443", true},
		{"https://10.0.0.10:6443/", "10.0.0.10:6443", true},
		{"https://API.example:6443", "api.example:6443", true},
		{"https://api.example", "api.example:443", true},
		{"https://[fd00::1]:6443", "fd00::1:6443", true},
		{"https://[fd00::1]:6443", "[fd00::1]:6443", true},
		{"https://10.0.0.10:06443", "10.0.0.10:6443", false},
		{"https://10.0.0.100:6443", "10.0.0.10:6443", false},
		{"https://10.0.0.10:6443/proxy", "10.0.0.10:6443", false},
		{"https://10.0.0.10:6443?x=1", "10.0.0.10:6443", false},
		{"10.0.0.10:6443", "10.0.0.10:6443", false},
		{"https://10.0.0.10:6443", "10.0.0.10:", false},
		{"https://10.0.0.10:6443", "", false},
	} {
		if err := SameEndpoint(tc.server, tc.endpoint); (err == nil) != tc.ok {
			t.Errorf("SameEndpoint(%q, %q) = %v, want ok=%v", tc.server, tc.endpoint, err, tc.ok)
		}
	}
}

// FuzzRESTConfig: whatever the kubeconfig, an accepted one yields a config
// of embedded data only, aimed at the endpoint; a refused one never quotes
// the credentials.
func FuzzRESTConfig(f *testing.F) {
	seed := func(edit func(*clientcmdapi.Config)) {
		cfg := good()
		edit(cfg)
		data, _ := clientcmd.Write(*cfg)
		f.Add(data)
	}
	seed(func(*clientcmdapi.Config) {})
	seed(func(c *clientcmdapi.Config) { c.AuthInfos["tkc-admin"].TokenFile = "/t" })
	seed(func(c *clientcmdapi.Config) { c.AuthInfos["tkc-admin"].Exec = &clientcmdapi.ExecConfig{Command: "x"} })
	seed(func(c *clientcmdapi.Config) { c.Clusters["tkc"].Server = "https://evil:6443" })
	f.Add([]byte(`{"apiVersion":"v1","kind":"Config","current-context":"c","contexts":[{"name":"c","context":{"cluster":"k","user":"u"}}],` +
		`"clusters":[{"name":"k","cluster":{"server":"https://10.0.0.10:6443","certificate-authority-data":"Q0E="}}],` +
		`"users":[{"name":"u","user":{"client-certificate-data":"Q0U=","client-key-data":"S0U=","token":"` + token + `"}}]}`))
	f.Add([]byte("not a kubeconfig"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := RESTConfig(data, secret, endpoint)
		if err != nil {
			if strings.Contains(err.Error(), token) {
				t.Fatalf("error quotes a token: %v", err)
			}
			return
		}
		if err := SameEndpoint(cfg.Host, endpoint); err != nil {
			t.Fatalf("accepted server %q: %v", cfg.Host, err)
		}
		bare := &rest.Config{Host: cfg.Host, TLSClientConfig: rest.TLSClientConfig{
			CAData: cfg.CAData, CertData: cfg.CertData, KeyData: cfg.KeyData}}
		if !reflect.DeepEqual(cfg, bare) || len(cfg.CAData) == 0 || len(cfg.CertData) == 0 || len(cfg.KeyData) == 0 {
			t.Fatalf("accepted config %+v is more than embedded data", cfg)
		}
	})
}
