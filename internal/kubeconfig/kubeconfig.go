package kubeconfig

import (
	"errors"
	"fmt"
	"net/url"
	"strings"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ErrRefused marks a kubeconfig refused for what it contains (not for being
// unreadable), for errors.Is.
var ErrRefused = errors.New("kubeconfig refused")

// fix is the advice every refusal ends with.
const fix = "Cluster API writes this secret with embedded certificates only: restore it, or delete it for Cluster API to write it again"

// RESTConfig builds a client configuration for the workload cluster from
// the kubeconfig data of the secret named secret ("namespace/name"), whose
// Cluster's spec.controlPlaneEndpoint is endpoint ("host:port"). Only the
// current context's server, certificate-authority-data,
// client-certificate-data and client-key-data are used; a kubeconfig that
// sets anything that would make the client read files, run programs, send
// tokens or passwords, impersonate, use a proxy or skip TLS verification
// is refused, as is a server other than the endpoint. Errors never quote
// the secret's credentials.
func RESTConfig(data []byte, secret, endpoint string) (*rest.Config, error) {
	cfg, err := clientcmd.Load(data)
	if err != nil {
		// The decoder's message may quote the data: say only that it failed.
		return nil, fmt.Errorf("secret %s: data.value is not a kubeconfig that can be parsed; %s", secret, fix)
	}
	ctx, ok := cfg.Contexts[cfg.CurrentContext]
	if !ok {
		return nil, fmt.Errorf("secret %s: %w: current-context %q not found; %s", secret, ErrRefused, cfg.CurrentContext, fix)
	}
	cluster, ok := cfg.Clusters[ctx.Cluster]
	if !ok {
		return nil, fmt.Errorf("secret %s: %w: cluster %q of context %q not found; %s", secret, ErrRefused, ctx.Cluster, cfg.CurrentContext, fix)
	}
	user, ok := cfg.AuthInfos[ctx.AuthInfo]
	if !ok {
		return nil, fmt.Errorf("secret %s: %w: user %q of context %q not found; %s", secret, ErrRefused, ctx.AuthInfo, cfg.CurrentContext, fix)
	}
	refuse := func(what, field string) error {
		return fmt.Errorf("secret %s: %w: %s sets %s, which tkgcert does not follow (it uses embedded server, certificate-authority-data, client-certificate-data and client-key-data only); %s",
			secret, ErrRefused, what, field, fix)
	}
	inCluster := fmt.Sprintf("cluster %q", ctx.Cluster)
	for _, f := range []struct {
		set   bool
		field string
	}{
		{cluster.CertificateAuthority != "", "certificate-authority (a file path)"},
		{cluster.InsecureSkipTLSVerify, "insecure-skip-tls-verify"},
		{cluster.ProxyURL != "", "proxy-url"},
		{cluster.TLSServerName != "", "tls-server-name"},
	} {
		if f.set {
			return nil, refuse(inCluster, f.field)
		}
	}
	inUser := fmt.Sprintf("user %q", ctx.AuthInfo)
	for _, f := range []struct {
		set   bool
		field string
	}{
		{user.ClientCertificate != "", "client-certificate (a file path)"},
		{user.ClientKey != "", "client-key (a file path)"},
		{user.Token != "", "token"},
		{user.TokenFile != "", "tokenFile"},
		{user.Exec != nil, "exec"},
		{user.AuthProvider != nil, "auth-provider"},
		{user.Username != "", "username"},
		{user.Password != "", "password"},
		{user.Impersonate != "", "as (impersonation)"},
		{user.ImpersonateUID != "", "as-uid (impersonation)"},
		{len(user.ImpersonateGroups) > 0, "as-groups (impersonation)"},
		{len(user.ImpersonateUserExtra) > 0, "as-user-extra (impersonation)"},
	} {
		if f.set {
			return nil, refuse(inUser, f.field)
		}
	}
	for _, f := range []struct {
		missing bool
		field   string
		what    string
	}{
		{len(cluster.CertificateAuthorityData) == 0, "certificate-authority-data", inCluster},
		{len(user.ClientCertificateData) == 0, "client-certificate-data", inUser},
		{len(user.ClientKeyData) == 0, "client-key-data", inUser},
	} {
		if f.missing {
			return nil, fmt.Errorf("secret %s: %w: %s has no %s; %s", secret, ErrRefused, f.what, f.field, fix)
		}
	}
	if err := SameEndpoint(cluster.Server, endpoint); err != nil {
		return nil, fmt.Errorf("secret %s: %w: %s: server %v; tkgcert sends the cluster's credentials only to its control plane endpoint: fix the secret's server, or the Cluster's spec.controlPlaneEndpoint",
			secret, ErrRefused, inCluster, err)
	}
	return &rest.Config{
		Host: cluster.Server,
		TLSClientConfig: rest.TLSClientConfig{
			CAData:   cloneBytes(cluster.CertificateAuthorityData),
			CertData: cloneBytes(user.ClientCertificateData),
			KeyData:  cloneBytes(user.ClientKeyData),
		},
	}, nil
}

// SameEndpoint checks that server is https://host:port for endpoint
// "host:port" (a Cluster's spec.controlPlaneEndpoint), host and port
// compared exactly (host names without regard to case; a server without a
// port means 443). The error describes the mismatch; it is meant to follow
// "server ".
func SameEndpoint(server, endpoint string) error {
	if endpoint == "" {
		return errors.New("cannot be checked: the Cluster has no spec.controlPlaneEndpoint")
	}
	wantHost, wantPort, err := splitEndpoint(endpoint)
	if err != nil {
		return fmt.Errorf("cannot be checked: the Cluster's spec.controlPlaneEndpoint %q: %v", endpoint, err)
	}
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "https" || u.Opaque != "" || u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Hostname() == "" {
		return fmt.Errorf("%q is not https://%s", server, endpoint)
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	if !strings.EqualFold(u.Hostname(), wantHost) || port != wantPort {
		return fmt.Errorf("%q is not the Cluster's spec.controlPlaneEndpoint %s", server, endpoint)
	}
	return nil
}

// splitEndpoint splits "host:port" at its last colon; an IPv6 host may be
// bracketed or not ("fd00::1:6443", "[fd00::1]:6443").
func splitEndpoint(endpoint string) (host, port string, err error) {
	i := strings.LastIndexByte(endpoint, ':')
	if i <= 0 || i == len(endpoint)-1 {
		return "", "", errors.New("not host:port")
	}
	host, port = endpoint[:i], endpoint[i+1:]
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	for _, c := range port {
		if c < '0' || c > '9' {
			return "", "", errors.New("not host:port")
		}
	}
	return host, port, nil
}

func cloneBytes(b []byte) []byte { return append([]byte(nil), b...) }
