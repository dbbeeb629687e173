package pki

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"io/fs"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/tools/clientcmd"
	certutil "k8s.io/client-go/util/cert"
	"sigs.k8s.io/yaml"
)

const pemName = "kubelet-client-2026-03-01-10-00-00.pem"

func TestControlPlaneNodeLayout(t *testing.T) {
	want := map[string]fs.FileMode{
		"etc/kubernetes/admin.conf":                       0o600,
		"etc/kubernetes/controller-manager.conf":          0o600,
		"etc/kubernetes/kubelet.conf":                     0o600,
		"etc/kubernetes/scheduler.conf":                   0o600,
		"etc/kubernetes/super-admin.conf":                 0o600,
		"etc/kubernetes/pki/apiserver-etcd-client.crt":    0o644,
		"etc/kubernetes/pki/apiserver-etcd-client.key":    0o600,
		"etc/kubernetes/pki/apiserver-kubelet-client.crt": 0o644,
		"etc/kubernetes/pki/apiserver-kubelet-client.key": 0o600,
		"etc/kubernetes/pki/apiserver.crt":                0o644,
		"etc/kubernetes/pki/apiserver.key":                0o600,
		"etc/kubernetes/pki/ca.crt":                       0o640,
		"etc/kubernetes/pki/ca.key":                       0o600,
		"etc/kubernetes/pki/etcd/ca.crt":                  0o640,
		"etc/kubernetes/pki/etcd/ca.key":                  0o600,
		"etc/kubernetes/pki/etcd/healthcheck-client.crt":  0o644,
		"etc/kubernetes/pki/etcd/healthcheck-client.key":  0o600,
		"etc/kubernetes/pki/etcd/peer.crt":                0o644,
		"etc/kubernetes/pki/etcd/peer.key":                0o600,
		"etc/kubernetes/pki/etcd/server.crt":              0o644,
		"etc/kubernetes/pki/etcd/server.key":              0o600,
		"etc/kubernetes/pki/front-proxy-ca.crt":           0o640,
		"etc/kubernetes/pki/front-proxy-ca.key":           0o600,
		"etc/kubernetes/pki/front-proxy-client.crt":       0o644,
		"etc/kubernetes/pki/front-proxy-client.key":       0o600,
		"etc/kubernetes/pki/sa.key":                       0o600,
		"etc/kubernetes/pki/sa.pub":                       0o640,
		"var/lib/kubelet/config.yaml":                     0o644,
		"var/lib/kubelet/pki/" + pemName:                  0o600,
		"var/lib/kubelet/pki/kubelet-client-current.pem":  0, // symlink
		"var/lib/kubelet/pki/kubelet.crt":                 0o644,
		"var/lib/kubelet/pki/kubelet.key":                 0o600,
	}
	got := map[string]fs.FileMode{}
	for p, f := range cpFiles {
		got[p] = f.Mode
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("control-plane files (-want +got):\n%s", diff)
	}
	if link := cpFiles["var/lib/kubelet/pki/kubelet-client-current.pem"].Link; link != pemName {
		t.Errorf("kubelet-client-current.pem links to %q, want %q", link, pemName)
	}
}

func TestControlPlaneNodeCAs(t *testing.T) {
	tests := []struct {
		base string
		want *KeyPair
	}{
		{"etc/kubernetes/pki/ca", testCAs.CA},
		{"etc/kubernetes/pki/etcd/ca", testCAs.EtcdCA},
		{"etc/kubernetes/pki/front-proxy-ca", testCAs.FrontProxyCA},
	}
	for _, tt := range tests {
		t.Run(tt.base, func(t *testing.T) {
			kp, err := cpFiles.KeyPair(tt.base)
			if err != nil {
				t.Fatal(err)
			}
			if !kp.Cert.Equal(tt.want.Cert) {
				t.Errorf("%s.crt is not the cluster's CA", tt.base)
			}
		})
	}
	key, err := ParsePrivateKeyPEM(cpFiles["etc/kubernetes/pki/sa.key"].Data)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := parsePublicKeyPEM(cpFiles["etc/kubernetes/pki/sa.pub"].Data)
	if err != nil {
		t.Fatal(err)
	}
	if !publicKeysEqual(pub, testCAs.ServiceAccountKey.Public()) || !publicKeysEqual(key.Public(), pub) {
		t.Error("sa.key/sa.pub are not the cluster's service-account key pair")
	}
}

// TestControlPlaneNodeLeaves checks every kubeadm certificate against
// certlist.go and pki_helpers.go of kubeadm v1.36.
func TestControlPlaneNodeLeaves(t *testing.T) {
	server := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
	client := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	both := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	node := cpOptions.NodeName
	etcdDNS := []string{"localhost", node}
	etcdIPs := []string{"10.244.0.54", "127.0.0.1", "::1"}
	tests := []struct {
		base     string
		ca       *KeyPair
		cn       string
		org      []string
		usages   []x509.ExtKeyUsage
		dnsNames []string
		ips      []string
	}{
		{
			base: "apiserver", ca: testCAs.CA, cn: "kube-apiserver", usages: server,
			dnsNames: []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local",
				node, "tkg-cluster.example.com"},
			ips: []string{"10.96.0.1", "10.244.0.54"},
		},
		{base: "apiserver-kubelet-client", ca: testCAs.CA, cn: "kube-apiserver-kubelet-client", usages: client},
		{base: "apiserver-etcd-client", ca: testCAs.EtcdCA, cn: "kube-apiserver-etcd-client", usages: client},
		{base: "front-proxy-client", ca: testCAs.FrontProxyCA, cn: "front-proxy-client", usages: client},
		{base: "etcd/server", ca: testCAs.EtcdCA, cn: node, usages: both, dnsNames: etcdDNS, ips: etcdIPs},
		{base: "etcd/peer", ca: testCAs.EtcdCA, cn: node, usages: both, dnsNames: etcdDNS, ips: etcdIPs},
		{base: "etcd/healthcheck-client", ca: testCAs.EtcdCA, cn: "kube-etcd-healthcheck-client", usages: client},
	}
	others := []*KeyPair{testCAs.CA, testCAs.EtcdCA, testCAs.FrontProxyCA}
	for _, tt := range tests {
		t.Run(tt.base, func(t *testing.T) {
			kp, err := cpFiles.KeyPair("etc/kubernetes/pki/" + tt.base)
			if err != nil {
				t.Fatal(err)
			}
			c := kp.Cert
			if c.Subject.CommonName != tt.cn {
				t.Errorf("CN = %q, want %q", c.Subject.CommonName, tt.cn)
			}
			if diff := cmp.Diff(tt.org, c.Subject.Organization); diff != "" {
				t.Errorf("O (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.usages, c.ExtKeyUsage); diff != "" {
				t.Errorf("ExtKeyUsage (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.dnsNames, c.DNSNames); diff != "" {
				t.Errorf("DNS SANs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.ips, ipStrings(c.IPAddresses)); diff != "" {
				t.Errorf("IP SANs (-want +got):\n%s", diff)
			}
			if !c.NotBefore.Equal(leafValidity.NotBefore) || !c.NotAfter.Equal(leafValidity.NotAfter) {
				t.Errorf("validity = %v..%v, want %v..%v", c.NotBefore, c.NotAfter, leafValidity.NotBefore, leafValidity.NotAfter)
			}
			if c.IsCA {
				t.Error("leaf is a CA")
			}
			for _, u := range tt.usages {
				if err := verifyChain(c, tt.ca.Cert, u, during); err != nil {
					t.Errorf("does not chain to its CA for %v: %v", u, err)
				}
			}
			for _, other := range others {
				if other != tt.ca {
					if err := verifyChain(c, other.Cert, tt.usages[0], during); err == nil {
						t.Error("chains to a CA that did not sign it")
					}
				}
			}
			if block, _ := pem.Decode(cpFiles["etc/kubernetes/pki/"+tt.base+".key"].Data); block == nil || block.Type != "EC PRIVATE KEY" {
				t.Error("key is not an EC PRIVATE KEY block")
			}
		})
	}
}

// TestControlPlaneNodeKubeconfigs checks the kubeconfigs against kubeadm's
// phases/kubeconfig getKubeConfigSpecsBase.
func TestControlPlaneNodeKubeconfigs(t *testing.T) {
	endpoint := "https://tkg-cluster.example.com:6443"
	local := "https://10.244.0.54:6443"
	tests := []struct {
		file   string
		user   string
		org    []string
		server string
	}{
		{"admin.conf", "kubernetes-admin", []string{"kubeadm:cluster-admins"}, endpoint},
		{"super-admin.conf", "kubernetes-super-admin", []string{"system:masters"}, endpoint},
		{"controller-manager.conf", "system:kube-controller-manager", nil, local},
		{"scheduler.conf", "system:kube-scheduler", nil, local},
	}
	for _, tt := range tests {
		t.Run(tt.file, func(t *testing.T) {
			p := "etc/kubernetes/" + tt.file
			cfg, err := clientcmd.Load(cpFiles[p].Data)
			if err != nil {
				t.Fatal(err)
			}
			wantCtx := tt.user + "@kubernetes"
			if cfg.CurrentContext != wantCtx {
				t.Errorf("current-context = %q, want %q", cfg.CurrentContext, wantCtx)
			}
			ctx := cfg.Contexts[wantCtx]
			if ctx == nil || ctx.Cluster != "kubernetes" || ctx.AuthInfo != tt.user {
				t.Fatalf("context %q = %+v, want cluster kubernetes, user %s", wantCtx, ctx, tt.user)
			}
			cluster := cfg.Clusters["kubernetes"]
			if cluster.Server != tt.server {
				t.Errorf("server = %q, want %q", cluster.Server, tt.server)
			}
			if ca, err := ParseCertPEM(cluster.CertificateAuthorityData); err != nil || !ca.Equal(testCAs.CA.Cert) {
				t.Errorf("certificate-authority-data is not the cluster CA (%v)", err)
			}
			kp, err := cpFiles.KubeconfigClient(p)
			if err != nil {
				t.Fatal(err)
			}
			c := kp.Cert
			if c.Subject.CommonName != tt.user {
				t.Errorf("CN = %q, want %q", c.Subject.CommonName, tt.user)
			}
			if diff := cmp.Diff(tt.org, c.Subject.Organization); diff != "" {
				t.Errorf("O (-want +got):\n%s", diff)
			}
			if !c.NotBefore.Equal(leafValidity.NotBefore) || !c.NotAfter.Equal(leafValidity.NotAfter) {
				t.Errorf("validity = %v..%v, want %v", c.NotBefore, c.NotAfter, leafValidity)
			}
			if err := verifyChain(c, testCAs.CA.Cert, x509.ExtKeyUsageClientAuth, during); err != nil {
				t.Errorf("client certificate does not chain to the cluster CA: %v", err)
			}
		})
	}
}

func TestKubeletConf(t *testing.T) {
	joined, err := ControlPlaneNode(testCAs, withOptions(cpOptions, func(o *NodeOptions) { o.Joined = true }))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name                   string
		files                  Files
		node                   string
		cluster, user, context string
		namespace              string
		server                 string
	}{
		{
			name: "init control plane", files: cpFiles, node: cpOptions.NodeName,
			cluster: "kubernetes", user: "system:node:" + cpOptions.NodeName, context: "system:node:" + cpOptions.NodeName + "@kubernetes",
			server: "https://tkg-cluster.example.com:6443",
		},
		{
			name: "joined control plane", files: joined, node: cpOptions.NodeName,
			cluster: "default-cluster", user: "default-auth", context: "default-context", namespace: "default",
			server: "https://tkg-cluster.example.com:6443",
		},
		{
			name: "worker", files: workerFiles, node: workerOptions.NodeName,
			cluster: "default-cluster", user: "default-auth", context: "default-context", namespace: "default",
			server: "https://10.244.0.50:6443",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := clientcmd.Load(tt.files["etc/kubernetes/kubelet.conf"].Data)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.CurrentContext != tt.context {
				t.Errorf("current-context = %q, want %q", cfg.CurrentContext, tt.context)
			}
			ctx := cfg.Contexts[tt.context]
			if ctx == nil || ctx.Cluster != tt.cluster || ctx.AuthInfo != tt.user || ctx.Namespace != tt.namespace {
				t.Fatalf("context = %+v, want cluster %s user %s namespace %q", ctx, tt.cluster, tt.user, tt.namespace)
			}
			if got := cfg.Clusters[tt.cluster].Server; got != tt.server {
				t.Errorf("server = %q, want %q", got, tt.server)
			}
			auth := cfg.AuthInfos[tt.user]
			const pemPath = "/var/lib/kubelet/pki/kubelet-client-current.pem"
			if auth.ClientCertificate != pemPath || auth.ClientKey != pemPath || len(auth.ClientCertificateData) != 0 || len(auth.ClientKeyData) != 0 {
				t.Errorf("user = %+v, want client-certificate and client-key %s", auth, pemPath)
			}

			// The pem behind the symlink: certificate then key, as the
			// kubelet's certificate store writes it.
			data, err := tt.files.Resolve(strings.TrimPrefix(pemPath, "/"))
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for rest := data; ; {
				var b *pem.Block
				if b, rest = pem.Decode(rest); b == nil {
					break
				}
				types = append(types, b.Type)
			}
			if diff := cmp.Diff([]string{"CERTIFICATE", "EC PRIVATE KEY"}, types); diff != "" {
				t.Errorf("pem blocks (-want +got):\n%s", diff)
			}
			kp, err := ParseKeyPair(data, data)
			if err != nil {
				t.Fatal(err)
			}
			c := kp.Cert
			if c.Subject.CommonName != "system:node:"+tt.node || !cmp.Equal(c.Subject.Organization, []string{"system:nodes"}) {
				t.Errorf("subject = %v, want CN=system:node:%s O=system:nodes", c.Subject, tt.node)
			}
			if !c.NotBefore.Equal(leafValidity.NotBefore) || !c.NotAfter.Equal(leafValidity.NotAfter) {
				t.Errorf("validity = %v..%v, want %v", c.NotBefore, c.NotAfter, leafValidity)
			}
			if err := verifyChain(c, testCAs.CA.Cert, x509.ExtKeyUsageClientAuth, during); err != nil {
				t.Errorf("kubelet client certificate does not chain to the cluster CA: %v", err)
			}
		})
	}
	if _, ok := joined["etc/kubernetes/super-admin.conf"]; ok {
		t.Error("a joined control-plane node has super-admin.conf; kubeadm join does not create it")
	}
}

// TestKubeadmReadsNodeName follows kubeadm's getNodeNameFromKubeletConfig
// (cmd/kubeadm/app/util/config/cluster.go) on the written files.
func TestKubeadmReadsNodeName(t *testing.T) {
	for _, tt := range []struct {
		name  string
		files Files
		node  string
	}{
		{"control plane", cpFiles, cpOptions.NodeName},
		{"worker", workerFiles, workerOptions.NodeName},
	} {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			if err := tt.files.WriteTo(root); err != nil {
				t.Fatal(err)
			}
			cfg, err := clientcmd.LoadFromFile(filepath.Join(root, "etc/kubernetes/kubelet.conf"))
			if err != nil {
				t.Fatal(err)
			}
			auth := cfg.AuthInfos[cfg.Contexts[cfg.CurrentContext].AuthInfo]
			certs, err := certutil.CertsFromFile(filepath.Join(root, auth.ClientCertificate))
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.TrimPrefix(certs[0].Subject.CommonName, "system:node:"); got != tt.node {
				t.Errorf("node name = %q, want %q", got, tt.node)
			}
		})
	}
}

func TestKubeletServingCert(t *testing.T) {
	for _, tt := range []struct {
		name  string
		files Files
		node  string
	}{
		{"control plane", cpFiles, cpOptions.NodeName},
		{"worker", workerFiles, workerOptions.NodeName},
	} {
		t.Run(tt.name, func(t *testing.T) {
			crt := tt.files["var/lib/kubelet/pki/kubelet.crt"].Data
			kp, err := ParseKeyPair(crt, tt.files["var/lib/kubelet/pki/kubelet.key"].Data)
			if err != nil {
				t.Fatal(err)
			}
			certs, err := certutil.ParseCertsPEM(crt)
			if err != nil {
				t.Fatal(err)
			}
			if len(certs) != 2 {
				t.Fatalf("kubelet.crt holds %d certificates, want the certificate and its CA", len(certs))
			}
			// The kubelet backdates by an hour: created at NotBefore+1h.
			const created = "1772362800" // 2026-03-01T11:00:00Z
			c, ca := kp.Cert, certs[1]
			if c.Subject.CommonName != tt.node+"@"+created || c.Issuer.CommonName != tt.node+"-ca@"+created {
				t.Errorf("subject/issuer = %q/%q, want %s@%s / %s-ca@%s", c.Subject.CommonName, c.Issuer.CommonName, tt.node, created, tt.node, created)
			}
			if diff := cmp.Diff([]string{tt.node}, c.DNSNames); diff != "" {
				t.Errorf("DNS SANs (-want +got):\n%s", diff)
			}
			if !ca.IsCA || ca.Subject.CommonName != c.Issuer.CommonName {
				t.Errorf("second certificate %q is not the issuing CA", ca.Subject.CommonName)
			}
			if err := verifyChain(c, ca, x509.ExtKeyUsageServerAuth, during); err != nil {
				t.Errorf("serving certificate does not chain to its own CA: %v", err)
			}
			if err := verifyChain(c, testCAs.CA.Cert, x509.ExtKeyUsageServerAuth, during); err == nil {
				t.Error("self-signed serving certificate chains to the cluster CA")
			}
		})
	}
}

func TestKubeletConfig(t *testing.T) {
	type config struct {
		APIVersion     string `json:"apiVersion"`
		Kind           string `json:"kind"`
		Authentication struct {
			X509 struct {
				ClientCAFile string `json:"clientCAFile"`
			} `json:"x509"`
		} `json:"authentication"`
		CgroupDriver       string   `json:"cgroupDriver"`
		ClusterDNS         []string `json:"clusterDNS"`
		ClusterDomain      string   `json:"clusterDomain"`
		RotateCertificates *bool    `json:"rotateCertificates"`
		ServerTLSBootstrap *bool    `json:"serverTLSBootstrap"`
		StaticPodPath      string   `json:"staticPodPath"`
	}
	yes, no := true, false
	base := func(rotate *bool, dns, domain string) config {
		var c config
		c.APIVersion, c.Kind = "kubelet.config.k8s.io/v1beta1", "KubeletConfiguration"
		c.Authentication.X509.ClientCAFile = "/etc/kubernetes/pki/ca.crt"
		c.CgroupDriver = "systemd"
		c.ClusterDNS = []string{dns}
		c.ClusterDomain = domain
		c.RotateCertificates = rotate
		c.ServerTLSBootstrap = &no
		c.StaticPodPath = "/etc/kubernetes/manifests"
		return c
	}
	rotateOff, err := WorkerNode(testCAs, withOptions(workerOptions, func(o *NodeOptions) { o.RotateCertificates = false }))
	if err != nil {
		t.Fatal(err)
	}
	custom, err := WorkerNode(testCAs, withOptions(workerOptions, func(o *NodeOptions) {
		o.ServiceSubnet = "100.64.0.0/13,fd00:10::/108"
		o.DNSDomain = "tkg.local"
	}))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		files Files
		want  config
	}{
		{"control plane", cpFiles, base(&yes, "10.96.0.10", "cluster.local")},
		{"worker", workerFiles, base(&yes, "10.96.0.10", "cluster.local")},
		{"rotation off", rotateOff, base(&no, "10.96.0.10", "cluster.local")},
		{"custom networking", custom, base(&yes, "100.64.0.10", "tkg.local")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got config
			if err := yaml.Unmarshal(tt.files["var/lib/kubelet/config.yaml"].Data, &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("config.yaml (-want +got):\n%s", diff)
			}
		})
	}
}

func TestWorkerNode(t *testing.T) {
	want := map[string]fs.FileMode{
		"etc/kubernetes/kubelet.conf":                    0o600,
		"etc/kubernetes/pki/ca.crt":                      0o644,
		"var/lib/kubelet/config.yaml":                    0o644,
		"var/lib/kubelet/pki/" + pemName:                 0o600,
		"var/lib/kubelet/pki/kubelet-client-current.pem": 0,
		"var/lib/kubelet/pki/kubelet.crt":                0o644,
		"var/lib/kubelet/pki/kubelet.key":                0o600,
	}
	got := map[string]fs.FileMode{}
	for p, f := range workerFiles {
		got[p] = f.Mode
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("worker files (-want +got):\n%s", diff)
	}
	ca, err := ParseCertPEM(workerFiles["etc/kubernetes/pki/ca.crt"].Data)
	if err != nil || !ca.Equal(testCAs.CA.Cert) {
		t.Errorf("pki/ca.crt is not the cluster CA (%v)", err)
	}
	// A worker needs only the cluster CA.
	if _, err := WorkerNode(&ClusterCAs{CA: testCAs.CA}, workerOptions); err != nil {
		t.Errorf("WorkerNode with only the cluster CA: %v", err)
	}
}

func TestNodeOptions(t *testing.T) {
	tests := []struct {
		name       string
		mutate     func(*NodeOptions)
		wantAbsent []string
		wantDNS    []string
		wantIPs    []string
		wantServer string
	}{
		{
			name:       "defaults",
			mutate:     func(*NodeOptions) {},
			wantDNS:    []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "n1", "tkg-cluster.example.com"},
			wantIPs:    []string{"10.96.0.1", "10.244.0.54"},
			wantServer: "https://tkg-cluster.example.com:6443",
		},
		{
			name:       "skip super-admin (kubeadm before 1.29)",
			mutate:     func(o *NodeOptions) { o.SkipSuperAdmin = true },
			wantAbsent: []string{"etc/kubernetes/super-admin.conf"},
			wantDNS:    []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "n1", "tkg-cluster.example.com"},
			wantIPs:    []string{"10.96.0.1", "10.244.0.54"},
			wantServer: "https://tkg-cluster.example.com:6443",
		},
		{
			name: "IP endpoint, service subnet, domain and extra SANs",
			mutate: func(o *NodeOptions) {
				o.ControlPlaneEndpoint = "10.244.0.50:6443"
				o.ServiceSubnet = "172.20.0.0/16"
				o.DNSDomain = "tkg.local"
				o.APIServerCertSANs = []string{"api.example.org", "192.0.2.7", "10.244.0.54"}
			},
			wantDNS:    []string{"api.example.org", "kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.tkg.local", "n1"},
			wantIPs:    []string{"172.20.0.1", "10.244.0.54", "10.244.0.50", "192.0.2.7"},
			wantServer: "https://10.244.0.50:6443",
		},
		{
			name:       "no endpoint falls back to the advertise address",
			mutate:     func(o *NodeOptions) { o.ControlPlaneEndpoint = "" },
			wantDNS:    []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc", "kubernetes.default.svc.cluster.local", "n1"},
			wantIPs:    []string{"10.96.0.1", "10.244.0.54"},
			wantServer: "https://10.244.0.54:6443",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := withOptions(cpOptions, func(o *NodeOptions) { o.NodeName = "n1" })
			tt.mutate(&o)
			files, err := ControlPlaneNode(testCAs, o)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range tt.wantAbsent {
				if _, ok := files[p]; ok {
					t.Errorf("%s present, want absent", p)
				}
			}
			if got, want := len(files), 32-len(tt.wantAbsent); got != want {
				t.Errorf("%d files, want %d", got, want)
			}
			kp, err := files.KeyPair("etc/kubernetes/pki/apiserver")
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.wantDNS, kp.Cert.DNSNames); diff != "" {
				t.Errorf("apiserver DNS SANs (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.wantIPs, ipStrings(kp.Cert.IPAddresses)); diff != "" {
				t.Errorf("apiserver IP SANs (-want +got):\n%s", diff)
			}
			cfg, err := clientcmd.Load(files["etc/kubernetes/admin.conf"].Data)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Clusters["kubernetes"].Server; got != tt.wantServer {
				t.Errorf("admin.conf server = %q, want %q", got, tt.wantServer)
			}
		})
	}
}

func TestNodeErrors(t *testing.T) {
	tests := []struct {
		name    string
		cas     *ClusterCAs
		mutate  func(*NodeOptions)
		wantErr string
	}{
		{"no CAs", nil, func(*NodeOptions) {}, "cluster CAs are required"},
		{"no etcd CA", &ClusterCAs{CA: testCAs.CA, FrontProxyCA: testCAs.FrontProxyCA, ServiceAccountKey: testCAs.ServiceAccountKey}, func(*NodeOptions) {}, "etcd-ca certificate and key are required"},
		{"no service-account key", &ClusterCAs{CA: testCAs.CA, EtcdCA: testCAs.EtcdCA, FrontProxyCA: testCAs.FrontProxyCA}, func(*NodeOptions) {}, "service-account key is required"},
		{"no node name", testCAs, func(o *NodeOptions) { o.NodeName = "" }, "NodeName is required"},
		{"no address", testCAs, func(o *NodeOptions) { o.Addresses = nil }, "node n1: at least one address"},
		{"bad service subnet", testCAs, func(o *NodeOptions) { o.ServiceSubnet = "10.96.0.0" }, `node n1: service subnet "10.96.0.0"`},
		{"service subnet too small", testCAs, func(o *NodeOptions) { o.ServiceSubnet = "10.96.0.0/29" }, "address 10 is outside 10.96.0.0/29"},
		{"bad endpoint", testCAs, func(o *NodeOptions) { o.ControlPlaneEndpoint = "host:" }, "node n1: control-plane endpoint: invalid API endpoint"},
		{"bad key algorithm", testCAs, func(o *NodeOptions) { o.KeyAlgorithm = "DSA" }, `node n1: unknown key algorithm "DSA"`},
		{"bad validity", testCAs, func(o *NodeOptions) { o.Validity.NotAfter = o.Validity.NotBefore }, "node n1: validity NotAfter"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := withOptions(cpOptions, func(o *NodeOptions) { o.NodeName = "n1" })
			tt.mutate(&o)
			_, err := ControlPlaneNode(tt.cas, o)
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Fatalf("ControlPlaneNode() error = %v, want %q", err, tt.wantErr)
			}
		})
	}
	if _, err := WorkerNode(nil, workerOptions); err == nil || !strings.Contains(err.Error(), "ca certificate and key are required") {
		t.Errorf("WorkerNode(nil) error = %v, want the cluster CA required", err)
	}
}

// TestRSA2048 builds a whole cluster with the default algorithm, kubeadm's
// and Cluster API's.
func TestRSA2048(t *testing.T) {
	cas, err := NewClusterCAs(CAOptions{Validity: caValidity})
	if err != nil {
		t.Fatal(err)
	}
	files, err := ControlPlaneNode(cas, withOptions(cpOptions, func(o *NodeOptions) { o.KeyAlgorithm = "" }))
	if err != nil {
		t.Fatal(err)
	}
	secret, err := KubeconfigSecret("ns", "tkg-cluster", "10.244.0.50:6443", cas.CA, leafValidity, RSA2048)
	if err != nil {
		t.Fatal(err)
	}
	if sk, ok := cas.ServiceAccountKey.(*rsa.PrivateKey); !ok || sk.N.BitLen() != 2048 {
		t.Errorf("service-account key is %T, want RSA-2048", cas.ServiceAccountKey)
	}
	for _, p := range files.Paths() {
		data, err := files.Resolve(p)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasSuffix(p, ".key"), strings.HasSuffix(p, ".pem"):
			if !strings.Contains(string(data), "-----BEGIN RSA PRIVATE KEY-----") {
				t.Errorf("%s: no PKCS#1 RSA PRIVATE KEY block", p)
			}
			key, err := ParsePrivateKeyPEM(data)
			if err != nil {
				t.Fatalf("%s: %v", p, err)
			}
			if rk, ok := key.(*rsa.PrivateKey); !ok || rk.N.BitLen() != 2048 {
				t.Errorf("%s: key is %T, want RSA-2048", p, key)
			}
		case strings.HasSuffix(p, ".conf") && p != "etc/kubernetes/kubelet.conf":
			kp, err := files.KubeconfigClient(p)
			if err != nil {
				t.Fatal(err)
			}
			if err := verifyChain(kp.Cert, cas.CA.Cert, x509.ExtKeyUsageClientAuth, during); err != nil {
				t.Errorf("%s: %v", p, err)
			}
		}
	}
	for _, l := range []struct {
		base string
		ca   *KeyPair
	}{{"apiserver", cas.CA}, {"etcd/server", cas.EtcdCA}, {"front-proxy-client", cas.FrontProxyCA}} {
		kp, err := files.KeyPair("etc/kubernetes/pki/" + l.base)
		if err != nil {
			t.Fatal(err)
		}
		if kp.Cert.SignatureAlgorithm != x509.SHA256WithRSA {
			t.Errorf("%s: signature algorithm %v, want SHA256-RSA", l.base, kp.Cert.SignatureAlgorithm)
		}
		if err := verifyChain(kp.Cert, l.ca.Cert, kp.Cert.ExtKeyUsage[0], during); err != nil {
			t.Errorf("%s: %v", l.base, err)
		}
	}
	cfg, err := clientcmd.Load(secret.Data["value"])
	if err != nil {
		t.Fatal(err)
	}
	auth := cfg.AuthInfos["tkg-cluster-admin"]
	if !strings.Contains(string(auth.ClientKeyData), "RSA PRIVATE KEY") {
		t.Error("kubeconfig secret client key is not PKCS#1 RSA")
	}
	back, err := ClusterCAsFromSecrets("tkg-cluster", mustSecrets(t, cas))
	if err != nil {
		t.Fatal(err)
	}
	if !back.CA.Cert.Equal(cas.CA.Cert) {
		t.Error("RSA CAs do not round-trip through secrets")
	}
}

func mustSecrets(t *testing.T, cas *ClusterCAs) []*corev1.Secret {
	t.Helper()
	s, err := cas.Secrets("ns", "tkg-cluster")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func withOptions(o NodeOptions, mutate func(*NodeOptions)) NodeOptions {
	mutate(&o)
	return o
}

func TestIndexedIP(t *testing.T) {
	tests := []struct {
		cidr  string
		index int64
		want  string
	}{
		{"10.96.0.0/12", 1, "10.96.0.1"},
		{"10.96.0.0/12", 10, "10.96.0.10"},
		{"10.0.0.250/16", 10, "10.0.0.10"},
		{"fd00:10::/108", 1, "fd00:10::1"},
		{"fd00:10::/108", 10, "fd00:10::a"},
	}
	for _, tt := range tests {
		_, cidr, err := net.ParseCIDR(tt.cidr)
		if err != nil {
			t.Fatal(err)
		}
		got, err := indexedIP(cidr, tt.index)
		if err != nil {
			t.Fatal(err)
		}
		if got.String() != tt.want {
			t.Errorf("indexedIP(%s, %d) = %s, want %s", tt.cidr, tt.index, got, tt.want)
		}
	}
}

// BenchmarkControlPlaneNode measures one control-plane node's PKI, the unit
// of work of a bulk lab.
func BenchmarkControlPlaneNode(b *testing.B) {
	for _, alg := range []KeyAlgorithm{ECDSAP256, RSA2048} {
		b.Run(string(alg), func(b *testing.B) {
			o := withOptions(cpOptions, func(o *NodeOptions) { o.KeyAlgorithm = alg })
			for b.Loop() {
				if _, err := ControlPlaneNode(testCAs, o); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
