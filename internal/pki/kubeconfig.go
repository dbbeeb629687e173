package pki

import (
	"crypto/x509"
	"fmt"
	"net"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// kubeconfig describes one kubeconfig file with a single cluster, user and
// context, the shape kubeadm, the kubelet and Cluster API all write.
type kubeconfig struct {
	cluster   string // name of the cluster entry
	user      string // name of the user entry
	context   string // name of the context; "<user>@<cluster>" when empty
	namespace string // context namespace, set only by the kubelet's bootstrap
	server    string // https URL of the API server
	ca        *x509.Certificate

	// Either an embedded client certificate and key...
	client *KeyPair
	// ...or a file holding both (the kubelet's rotating certificate).
	clientFile string
}

// bytes serialises k with clientcmd, as kubeadm's WriteToDisk does.
func (k kubeconfig) bytes() ([]byte, error) {
	ctx := k.context
	if ctx == "" {
		ctx = k.user + "@" + k.cluster
	}
	auth := &clientcmdapi.AuthInfo{}
	switch {
	case k.clientFile != "":
		auth.ClientCertificate = k.clientFile
		auth.ClientKey = k.clientFile
	case k.client != nil:
		keyPEM, err := k.client.KeyPEM()
		if err != nil {
			return nil, fmt.Errorf("kubeconfig user %s: %w", k.user, err)
		}
		auth.ClientCertificateData = k.client.CertPEM()
		auth.ClientKeyData = keyPEM
	}
	cfg := clientcmdapi.Config{
		Clusters: map[string]*clientcmdapi.Cluster{
			k.cluster: {Server: k.server, CertificateAuthorityData: EncodeCertPEM(k.ca)},
		},
		AuthInfos: map[string]*clientcmdapi.AuthInfo{k.user: auth},
		Contexts: map[string]*clientcmdapi.Context{
			ctx: {Cluster: k.cluster, AuthInfo: k.user, Namespace: k.namespace},
		},
		CurrentContext: ctx,
	}
	out, err := clientcmd.Write(cfg)
	if err != nil {
		return nil, fmt.Errorf("serialising kubeconfig for %s: %w", k.user, err)
	}
	return out, nil
}

// defaultAPIServerPort is kubeadm's default bind port of kube-apiserver.
const defaultAPIServerPort = "6443"

// serverURL turns "host:port", "host" or "https://host:port" into an https
// URL; a missing port is 6443, kubeadm's default bind port.
func serverURL(endpoint string) (string, error) {
	host, port, err := splitEndpoint(endpoint)
	if err != nil {
		return "", err
	}
	return "https://" + net.JoinHostPort(host, port), nil
}

// splitEndpoint parses "host:port", "[v6]:port", "host" or an https URL.
func splitEndpoint(endpoint string) (host, port string, err error) {
	s := strings.TrimPrefix(endpoint, "https://")
	s = strings.TrimSuffix(s, "/")
	if s == "" || strings.Contains(s, "/") {
		return "", "", fmt.Errorf("invalid API endpoint %q: want host:port", endpoint)
	}
	if h, p, err := net.SplitHostPort(s); err == nil {
		if h == "" || p == "" {
			return "", "", fmt.Errorf("invalid API endpoint %q: want host:port", endpoint)
		}
		return h, p, nil
	}
	return strings.Trim(s, "[]"), defaultAPIServerPort, nil
}
