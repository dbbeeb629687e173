package pki

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"math/big"
	"net"
	"strings"
	"time"
)

// Default networking, as kubeadm's v1beta4 defaults.
const (
	// DefaultServiceSubnet is kubeadm's default Service CIDR.
	DefaultServiceSubnet = "10.96.0.0/12"
	// DefaultDNSDomain is kubeadm's default cluster DNS domain.
	DefaultDNSDomain = "cluster.local"
)

// kubeadmClusterName is the cluster name kubeadm writes into its kubeconfigs.
const kubeadmClusterName = "kubernetes"

// Paths on a node, relative to its root.
const (
	kubernetesDir  = "etc/kubernetes"
	pkiDir         = "etc/kubernetes/pki"
	kubeletDir     = "var/lib/kubelet"
	kubeletPKIDir  = "var/lib/kubelet/pki"
	kubeletCurrent = "kubelet-client-current.pem"
	// kubeletClientCurrentPath is the absolute path kubelet.conf points at.
	kubeletClientCurrentPath = "/" + kubeletPKIDir + "/" + kubeletCurrent
	// caCertPath is the absolute path of the cluster CA on a node.
	caCertPath = "/" + pkiDir + "/ca.crt"
	// manifestsPath is kubeadm's static pod directory.
	manifestsPath = "/" + kubernetesDir + "/manifests"
)

// File modes, as the writers of each file use them.
const (
	// modeCert: leaf certificates (client-go certutil.WriteCert), the kubelet
	// config and a worker's ca.crt (written by kubeadm join).
	modeCert = 0o644
	// modeKey: private keys (keyutil.WriteKey), kubeconfigs
	// (clientcmd.WriteToFile) and the kubelet's certificate store.
	modeKey = 0o600
	// modeCAPICert: the CA certificates and sa.pub Cluster API's bootstrap
	// provider writes onto control-plane nodes via cloud-init
	// (util/secret.Certificate.AsFiles, permissions "0640").
	modeCAPICert = 0o640
)

// NodeOptions describe one node of a cluster.
type NodeOptions struct {
	// NodeName is the node's name (and hostname); required.
	NodeName string
	// Addresses are the node's IPs; the first one is the advertise address
	// (kubeadm's localAPIEndpoint.advertiseAddress), used in the API server
	// and etcd certificates and as the local API endpoint. kubeadm uses no
	// other address in certificates. Required.
	Addresses []net.IP
	// ControlPlaneEndpoint is the cluster endpoint "host:port" (or an https
	// URL): the server of admin.conf, super-admin.conf and kubelet.conf, and a
	// SAN of the API server certificate. Empty means the advertise address on
	// port 6443, as kubeadm falls back to. Its port is also taken as the local
	// API server's bind port (controller-manager.conf, scheduler.conf).
	ControlPlaneEndpoint string
	// ServiceSubnet is the Service CIDR (comma-separated for dual stack; the
	// first is used); its first address is an API server SAN and its tenth
	// the cluster DNS address. Default "10.96.0.0/12".
	ServiceSubnet string
	// DNSDomain is the cluster DNS domain. Default "cluster.local".
	DNSDomain string
	// APIServerCertSANs are extra SANs of the API server certificate, IPs or
	// DNS names (kubeadm's apiServer.certSANs).
	APIServerCertSANs []string
	// Validity of every leaf and kubeconfig certificate of the node; zero
	// means one year from five minutes ago. All certificates of one call
	// share it exactly.
	Validity Validity
	// KeyAlgorithm of every key generated for the node; zero means RSA-2048.
	KeyAlgorithm KeyAlgorithm
	// RotateCertificates is the kubelet's rotateCertificates setting in
	// /var/lib/kubelet/config.yaml (kubeadm always sets true).
	RotateCertificates bool
	// SkipSuperAdmin omits super-admin.conf: kubeadm before v1.29 (the
	// seed's 1.21) did not create it.
	SkipSuperAdmin bool
	// Joined makes the node one that ran "kubeadm join" rather than
	// "kubeadm init": its kubelet.conf is the one the kubelet's TLS bootstrap
	// writes (cluster default-cluster, user default-auth, context
	// default-context), and a control-plane node has no super-admin.conf
	// (kubeadm creates that file only on init). Cluster API initialises the
	// first control-plane machine and joins all others. WorkerNode always
	// behaves as joined.
	Joined bool
}

// node is NodeOptions resolved and checked.
type node struct {
	name        string
	advertise   net.IP
	cpHost      string // control-plane endpoint host
	server      string // https URL of the control-plane endpoint
	localServer string // https URL of this node's API server
	serviceIP   net.IP // first address of the service subnet
	dnsIP       net.IP // tenth address of the service subnet
	dnsDomain   string
	certSANs    []string
	v           Validity
	alg         KeyAlgorithm
	rotate      bool
	superAdmin  bool
	joined      bool
}

func resolveNode(o NodeOptions) (*node, error) {
	if o.NodeName == "" {
		return nil, errors.New("node options: NodeName is required")
	}
	if len(o.Addresses) == 0 || o.Addresses[0] == nil {
		return nil, fmt.Errorf("node %s: at least one address (the advertise address) is required", o.NodeName)
	}
	n := &node{
		name:       o.NodeName,
		advertise:  o.Addresses[0],
		dnsDomain:  o.DNSDomain,
		certSANs:   o.APIServerCertSANs,
		alg:        o.KeyAlgorithm,
		rotate:     o.RotateCertificates,
		superAdmin: !o.SkipSuperAdmin && !o.Joined,
		joined:     o.Joined,
	}
	if n.dnsDomain == "" {
		n.dnsDomain = DefaultDNSDomain
	}
	if err := o.KeyAlgorithm.validate(); err != nil {
		return nil, fmt.Errorf("node %s: %w", o.NodeName, err)
	}
	endpoint := o.ControlPlaneEndpoint
	if endpoint == "" {
		endpoint = net.JoinHostPort(n.advertise.String(), defaultAPIServerPort)
	}
	host, port, err := splitEndpoint(endpoint)
	if err != nil {
		return nil, fmt.Errorf("node %s: control-plane endpoint: %w", o.NodeName, err)
	}
	n.cpHost = host
	n.server = "https://" + net.JoinHostPort(host, port)
	n.localServer = "https://" + net.JoinHostPort(n.advertise.String(), port)

	subnet := o.ServiceSubnet
	if subnet == "" {
		subnet = DefaultServiceSubnet
	}
	first, _, _ := strings.Cut(subnet, ",")
	_, cidr, err := net.ParseCIDR(strings.TrimSpace(first))
	if err != nil {
		return nil, fmt.Errorf("node %s: service subnet %q: %w", o.NodeName, subnet, err)
	}
	if n.serviceIP, err = indexedIP(cidr, 1); err != nil {
		return nil, fmt.Errorf("node %s: service subnet %q: %w", o.NodeName, subnet, err)
	}
	if n.dnsIP, err = indexedIP(cidr, 10); err != nil {
		return nil, fmt.Errorf("node %s: service subnet %q: %w", o.NodeName, subnet, err)
	}
	if n.v, err = o.Validity.resolve(LeafValidityPeriod); err != nil {
		return nil, fmt.Errorf("node %s: %w", o.NodeName, err)
	}
	return n, nil
}

// indexedIP returns the index-th address of cidr, as kubeadm's
// netutils.GetIndexedIP.
func indexedIP(cidr *net.IPNet, index int64) (net.IP, error) {
	ip := cidr.IP.To4()
	if ip == nil {
		ip = cidr.IP.To16()
	}
	n := new(big.Int).Add(new(big.Int).SetBytes(ip), big.NewInt(index))
	b := n.Bytes()
	if len(b) > len(ip) {
		return nil, fmt.Errorf("address %d is outside %s", index, cidr)
	}
	out := make(net.IP, len(ip))
	copy(out[len(out)-len(b):], b)
	if !cidr.Contains(out) {
		return nil, fmt.Errorf("address %d is outside %s", index, cidr)
	}
	return out, nil
}

// leafFile is one kubeadm certificate: file base name under pki/, signing CA
// and subject.
type leafFile struct {
	base string
	ca   *KeyPair
	spec LeafSpec
}

// controlPlaneLeaves are kubeadm's certificates of a stacked-etcd control
// plane node (phases/certs/certlist.go GetDefaultCertList), in that order.
func (n *node) controlPlaneLeaves(cas *ClusterCAs) []leafFile {
	client := []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	both := []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth, x509.ExtKeyUsageClientAuth}
	etcdDNS := []string{n.name, "localhost"}
	etcdIPs := []net.IP{n.advertise, net.IPv4(127, 0, 0, 1), net.IPv6loopback}
	return []leafFile{
		{"apiserver", cas.CA, n.apiServerSpec()},
		{"apiserver-kubelet-client", cas.CA, LeafSpec{CommonName: "kube-apiserver-kubelet-client", Usages: client}},
		{"front-proxy-client", cas.FrontProxyCA, LeafSpec{CommonName: "front-proxy-client", Usages: client}},
		{"etcd/server", cas.EtcdCA, LeafSpec{CommonName: n.name, Usages: both, DNSNames: etcdDNS, IPs: etcdIPs}},
		{"etcd/peer", cas.EtcdCA, LeafSpec{CommonName: n.name, Usages: both, DNSNames: etcdDNS, IPs: etcdIPs}},
		{"etcd/healthcheck-client", cas.EtcdCA, LeafSpec{CommonName: "kube-etcd-healthcheck-client", Usages: client}},
		{"apiserver-etcd-client", cas.EtcdCA, LeafSpec{CommonName: "kube-apiserver-etcd-client", Usages: client}},
	}
}

// apiServerSpec follows kubeadm's pkiutil.GetAPIServerAltNames.
func (n *node) apiServerSpec() LeafSpec {
	s := LeafSpec{
		CommonName: "kube-apiserver",
		Usages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames: []string{n.name, "kubernetes", "kubernetes.default", "kubernetes.default.svc",
			"kubernetes.default.svc." + n.dnsDomain},
		IPs: []net.IP{n.serviceIP, n.advertise},
	}
	for _, san := range append([]string{n.cpHost}, n.certSANs...) {
		if ip := net.ParseIP(san); ip != nil {
			s.IPs = append(s.IPs, ip)
		} else if san != "" {
			s.DNSNames = append(s.DNSNames, san)
		}
	}
	return s
}

// ControlPlaneNode returns the complete kubeadm layout of a control-plane
// node with stacked etcd: the cluster's CA certificates and keys and the
// service-account key pair as Cluster API puts them on the machine, every
// kubeadm leaf certificate signed by the right CA, the kubeconfigs admin.conf,
// super-admin.conf (see NodeOptions.SkipSuperAdmin and Joined),
// controller-manager.conf, scheduler.conf and kubelet.conf, and the kubelet's
// files under /var/lib/kubelet (see WorkerNode).
func ControlPlaneNode(cas *ClusterCAs, o NodeOptions) (Files, error) {
	if err := cas.validate(); err != nil {
		return nil, err
	}
	n, err := resolveNode(o)
	if err != nil {
		return nil, err
	}
	files := Files{}

	// CAs and service-account keys, written by cloud-init from the secrets.
	for _, ca := range []struct {
		base string
		kp   *KeyPair
	}{{"ca", cas.CA}, {"front-proxy-ca", cas.FrontProxyCA}, {"etcd/ca", cas.EtcdCA}} {
		keyPEM, err := ca.kp.KeyPEM()
		if err != nil {
			return nil, fmt.Errorf("node %s: %s.key: %w", n.name, ca.base, err)
		}
		files[pkiDir+"/"+ca.base+".crt"] = File{Data: ca.kp.CertPEM(), Mode: modeCAPICert}
		files[pkiDir+"/"+ca.base+".key"] = File{Data: keyPEM, Mode: modeKey}
	}
	saPub, err := EncodePublicKeyPEM(cas.ServiceAccountKey.Public())
	if err != nil {
		return nil, fmt.Errorf("node %s: sa.pub: %w", n.name, err)
	}
	saKey, err := EncodePrivateKeyPEM(cas.ServiceAccountKey)
	if err != nil {
		return nil, fmt.Errorf("node %s: sa.key: %w", n.name, err)
	}
	files[pkiDir+"/sa.pub"] = File{Data: saPub, Mode: modeCAPICert}
	files[pkiDir+"/sa.key"] = File{Data: saKey, Mode: modeKey}

	// kubeadm's leaf certificates.
	for _, l := range n.controlPlaneLeaves(cas) {
		kp, err := NewLeaf(l.ca, l.spec, n.v, n.alg)
		if err != nil {
			return nil, fmt.Errorf("node %s: %s.crt: %w", n.name, l.base, err)
		}
		if err := files.addKeyPair(pkiDir+"/"+l.base, kp); err != nil {
			return nil, fmt.Errorf("node %s: %s.key: %w", n.name, l.base, err)
		}
	}

	// kubeadm's kubeconfigs (phases/kubeconfig getKubeConfigSpecsBase).
	confs := []struct {
		file, user, server string
		org                []string
	}{
		{"admin.conf", "kubernetes-admin", n.server, []string{"kubeadm:cluster-admins"}},
		{"super-admin.conf", "kubernetes-super-admin", n.server, []string{"system:masters"}},
		{"controller-manager.conf", "system:kube-controller-manager", n.localServer, nil},
		{"scheduler.conf", "system:kube-scheduler", n.localServer, nil},
	}
	for _, c := range confs {
		if c.file == "super-admin.conf" && !n.superAdmin {
			continue
		}
		client, err := NewLeaf(cas.CA, LeafSpec{
			CommonName:   c.user,
			Organization: c.org,
			Usages:       []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}, n.v, n.alg)
		if err != nil {
			return nil, fmt.Errorf("node %s: %s: %w", n.name, c.file, err)
		}
		data, err := kubeconfig{
			cluster: kubeadmClusterName,
			user:    c.user,
			server:  c.server,
			ca:      cas.CA.Cert,
			client:  client,
		}.bytes()
		if err != nil {
			return nil, fmt.Errorf("node %s: %s: %w", n.name, c.file, err)
		}
		files[kubernetesDir+"/"+c.file] = File{Data: data, Mode: modeKey}
	}

	if err := n.addKubeletFiles(files, cas.CA); err != nil {
		return nil, err
	}
	return files, nil
}

// WorkerNode returns the files of a worker node that joined the cluster:
// /etc/kubernetes/pki/ca.crt, /etc/kubernetes/kubelet.conf (from the
// kubelet's TLS bootstrap, pointing at the rotating client certificate),
// /var/lib/kubelet/config.yaml, the kubelet's client certificate store
// /var/lib/kubelet/pki/kubelet-client-<timestamp>.pem with the symlink
// kubelet-client-current.pem, and its self-signed serving certificate
// kubelet.crt/kubelet.key.
func WorkerNode(cas *ClusterCAs, o NodeOptions) (Files, error) {
	if cas == nil || cas.CA == nil || cas.CA.Cert == nil || cas.CA.Key == nil {
		return nil, errors.New("cluster CAs: ca certificate and key are required")
	}
	o.Joined = true
	n, err := resolveNode(o)
	if err != nil {
		return nil, err
	}
	files := Files{
		// kubeadm join writes the CA from the cluster-info discovery.
		pkiDir + "/ca.crt": {Data: cas.CA.CertPEM(), Mode: modeCert},
	}
	if err := n.addKubeletFiles(files, cas.CA); err != nil {
		return nil, err
	}
	return files, nil
}

// addKubeletFiles adds kubelet.conf and the kubelet's own files.
func (n *node) addKubeletFiles(files Files, ca *KeyPair) error {
	// The client certificate, as the kubelet's certificate store keeps it:
	// certificate then key in kubelet-client-<time>.pem, and a symlink.
	client, err := NewLeaf(ca, LeafSpec{
		CommonName:   "system:node:" + n.name,
		Organization: []string{"system:nodes"},
		Usages:       []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}, n.v, n.alg)
	if err != nil {
		return fmt.Errorf("node %s: kubelet client certificate: %w", n.name, err)
	}
	keyPEM, err := client.KeyPEM()
	if err != nil {
		return fmt.Errorf("node %s: kubelet client key: %w", n.name, err)
	}
	pemName := "kubelet-client-" + n.v.NotBefore.Format("2006-01-02-15-04-05") + ".pem"
	files[kubeletPKIDir+"/"+pemName] = File{Data: append(client.CertPEM(), keyPEM...), Mode: modeKey}
	files[kubeletPKIDir+"/"+kubeletCurrent] = File{Link: pemName}

	conf := kubeconfig{
		// kubeadm init, then its kubelet-finalize phase pointing the user at
		// the rotating certificate.
		cluster:    kubeadmClusterName,
		user:       "system:node:" + n.name,
		server:     n.server,
		ca:         ca.Cert,
		clientFile: kubeletClientCurrentPath,
	}
	if n.joined {
		// The kubelet's TLS bootstrap (pkg/kubelet/certificate/bootstrap).
		conf.cluster, conf.user, conf.context, conf.namespace = "default-cluster", "default-auth", "default-context", "default"
	}
	data, err := conf.bytes()
	if err != nil {
		return fmt.Errorf("node %s: kubelet.conf: %w", n.name, err)
	}
	files[kubernetesDir+"/kubelet.conf"] = File{Data: data, Mode: modeKey}

	crt, key, err := n.kubeletServing()
	if err != nil {
		return fmt.Errorf("node %s: kubelet serving certificate: %w", n.name, err)
	}
	files[kubeletPKIDir+"/kubelet.crt"] = File{Data: crt, Mode: modeCert}
	files[kubeletPKIDir+"/kubelet.key"] = File{Data: key, Mode: modeKey}

	cfg, err := n.kubeletConfig()
	if err != nil {
		return fmt.Errorf("node %s: kubelet config.yaml: %w", n.name, err)
	}
	files[kubeletDir+"/config.yaml"] = File{Data: cfg, Mode: modeCert}
	return nil
}

// kubeletServing makes the self-signed serving certificate the kubelet
// creates when serverTLSBootstrap is off (client-go
// certutil.GenerateSelfSignedCertKey): a throw-away CA "<node>-ca@<unix>"
// signs "<node>@<unix>"; kubelet.crt holds the certificate then that CA.
// The kubelet backdates NotBefore by an hour, so <unix> is NotBefore+1h.
func (n *node) kubeletServing() (crtPEM, keyPEM []byte, err error) {
	created := n.v.NotBefore.Add(time.Hour).Unix()
	serial, err := randomSerial()
	if err != nil {
		return nil, nil, err
	}
	ca, err := selfSignedCA(&x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: fmt.Sprintf("%s-ca@%d", n.name, created)},
	}, n.v, n.alg)
	if err != nil {
		return nil, nil, err
	}
	spec := LeafSpec{
		CommonName: fmt.Sprintf("%s@%d", n.name, created),
		Usages:     []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	if ip := net.ParseIP(n.name); ip != nil {
		spec.IPs = []net.IP{ip}
	} else {
		spec.DNSNames = []string{n.name}
	}
	leaf, err := NewLeaf(ca, spec, n.v, n.alg)
	if err != nil {
		return nil, nil, err
	}
	keyPEM, err = leaf.KeyPEM()
	if err != nil {
		return nil, nil, err
	}
	return append(leaf.CertPEM(), ca.CertPEM()...), keyPEM, nil
}
