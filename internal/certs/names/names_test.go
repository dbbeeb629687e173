package names

import "testing"

func TestSecretNames(t *testing.T) {
	for ca, want := range map[string]string{"ca": "c1-ca", "etcd-ca": "c1-etcd", "front-proxy-ca": "c1-proxy", "sa": ""} {
		if got := SecretName("c1", ca); got != want {
			t.Errorf("SecretName(c1, %s) = %q, want %q", ca, got, want)
		}
	}
	for secret, want := range map[string]string{"c1-ca": "ca", "c1-etcd": "etcd-ca", "c1-proxy": "front-proxy-ca"} {
		if got, ok := AuthorityOfSecret("c1", secret); !ok || got != want {
			t.Errorf("AuthorityOfSecret(c1, %s) = %q, %v, want %q", secret, got, ok, want)
		}
	}
	for _, secret := range []string{"c1-sa", "c1-kubeconfig", "c1-ca-x", "c2-ca", "c1"} {
		if got, ok := AuthorityOfSecret("c1", secret); ok {
			t.Errorf("AuthorityOfSecret(c1, %s) = %q, want none", secret, got)
		}
	}
	if Role(true) != "control-plane" || Role(false) != "worker" {
		t.Errorf("Role: %q, %q", Role(true), Role(false))
	}
}
