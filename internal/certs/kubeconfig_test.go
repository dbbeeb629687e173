package certs

import (
	"errors"
	"strings"
	"testing"
)

func TestParseKubeconfigUser(t *testing.T) {
	const base = "apiVersion: v1\nkind: Config\ncurrent-context: x\ncontexts:\n- name: x\n  context: {cluster: c, user: u}\n"
	for name, tc := range map[string]struct {
		kubeconfig string
		is         error
		msg        string
	}{
		"not YAML":        {"clusters: [", nil, "not a kubeconfig"},
		"no context":      {"apiVersion: v1\nkind: Config\ncurrent-context: x\n", ErrKubeconfigNoContext, `missing context "x"`},
		"no user":         {base, ErrKubeconfigNoUser, `missing user "u"`},
		"user, no cert":   {base + "users:\n- name: u\n  user: {token: abc}\n", nil, `kubeconfig user "u" has no embedded client certificate`},
		"cert not parsed": {base + "users:\n- name: u\n  user: {client-certificate-data: TUlJ}\n", nil, `kubeconfig user "u": client certificate: data does not contain any valid RSA or ECDSA certificates`},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := KubeconfigClientCert([]byte(tc.kubeconfig))
			if err == nil || !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %v, want one containing %q", err, tc.msg)
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("error %v is not %v", err, tc.is)
			}
		})
	}
	u, err := ParseKubeconfigUser([]byte(base + "clusters:\n- name: c\n  cluster: {server: https://10.0.0.1:6443}\nusers:\n- name: u\n  user: {token: abc}\n"))
	if err != nil || u.Name != "u" || u.ClusterName != "c" || u.Cluster == nil || u.Cluster.Server != "https://10.0.0.1:6443" || u.AuthInfo.Token != "abc" {
		t.Errorf("ParseKubeconfigUser = %+v, %v", u, err)
	}
}
