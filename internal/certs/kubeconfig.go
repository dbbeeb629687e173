package certs

import (
	"crypto/x509"
	"errors"
	"fmt"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"k8s.io/client-go/util/cert"
)

// Errors of ParseKubeconfigUser, for errors.Is.
var (
	ErrKubeconfigNoContext = errors.New("missing context")
	ErrKubeconfigNoUser    = errors.New("missing user")
)

// KubeconfigUser is the user of a kubeconfig's current context, loaded with
// clientcmd as kubeadm loads it. It is tkgcert's one reader of kubeconfig
// users: node files, the Supervisor's <cluster>-kubeconfig secrets and the
// recovery all go through it.
type KubeconfigUser struct {
	// Config is the whole kubeconfig; changing AuthInfo changes it.
	Config *clientcmdapi.Config
	// Name is the user's name in the kubeconfig, AuthInfo the user.
	Name     string
	AuthInfo *clientcmdapi.AuthInfo
	// ClusterName is the current context's cluster; Cluster is nil when the
	// kubeconfig has no such cluster.
	ClusterName string
	Cluster     *clientcmdapi.Cluster
}

// ParseKubeconfigUser loads a kubeconfig and resolves its current context's
// user. Errors: data that is not a kubeconfig, ErrKubeconfigNoContext and
// ErrKubeconfigNoUser (wrapped with the missing name).
func ParseKubeconfigUser(data []byte) (*KubeconfigUser, error) {
	cfg, err := clientcmd.Load(data)
	if err != nil {
		return nil, fmt.Errorf("not a kubeconfig: %w", err)
	}
	ctx, ok := cfg.Contexts[cfg.CurrentContext]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrKubeconfigNoContext, cfg.CurrentContext)
	}
	auth, ok := cfg.AuthInfos[ctx.AuthInfo]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrKubeconfigNoUser, ctx.AuthInfo)
	}
	return &KubeconfigUser{Config: cfg, Name: ctx.AuthInfo, AuthInfo: auth, ClusterName: ctx.Cluster, Cluster: cfg.Clusters[ctx.Cluster]}, nil
}

// ClientCertificate returns the first certificate of the user's embedded
// client-certificate-data; a user without one is an error.
func (u *KubeconfigUser) ClientCertificate() (*x509.Certificate, error) {
	if len(u.AuthInfo.ClientCertificateData) == 0 {
		return nil, fmt.Errorf("kubeconfig user %q has no embedded client certificate", u.Name)
	}
	cs, err := cert.ParseCertsPEM(u.AuthInfo.ClientCertificateData)
	if err != nil {
		return nil, fmt.Errorf("kubeconfig user %q: client certificate: %w", u.Name, err)
	}
	return cs[0], nil
}

// KubeconfigClientCert returns the embedded client certificate of a
// kubeconfig's current user (a <cluster>-kubeconfig secret's value).
func KubeconfigClientCert(data []byte) (*x509.Certificate, error) {
	u, err := ParseKubeconfigUser(data)
	if err != nil {
		return nil, err
	}
	return u.ClientCertificate()
}
