// Package supervisor reads the certificates of the vCenter trust domain and
// the Supervisor's own: every serving endpoint (vCenter, the Supervisor API,
// its control-plane VMs, the ESXi hosts, endpoints given by flag) over TLS,
// and optionally the control-plane VMs' certificate files over SSH, each
// attributed to its trust domain with package trust. It changes nothing.
package supervisor

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/cert"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/certs/names"
	"github.com/tkgcert/tkgcert/internal/remote"
	"github.com/tkgcert/tkgcert/internal/source"
	"github.com/tkgcert/tkgcert/internal/trust"
)

// DefaultParallel bounds concurrent handshakes.
const DefaultParallel = 32

// Report is the vCenter trust domain and the Supervisor's own certificates:
// every serving endpoint read over TLS, attributed to its trust domain. It
// is the supervisor section of an inventory report.
type Report struct {
	// Server is the Supervisor API's URL from the kubeconfig ("" when not
	// discovering).
	Server string `json:"server,omitempty"`
	// VMCARoots are the roots given with --vmca-root.
	VMCARoots []certs.Info `json:"vmcaRoots,omitempty"`
	// Endpoints are every endpoint read, in the order vCenter, Supervisor
	// API, Supervisor control plane, ESXi hosts, endpoints given by flag.
	Endpoints []Endpoint `json:"endpoints"`
	// Warnings are limits of the classification (an anchor that could not be
	// read); they do not change the exit code.
	Warnings []string `json:"warnings,omitempty"`
	// Errors are discovery failures (the Node objects could not be listed).
	Errors []string `json:"errors,omitempty"`
}

// Endpoint roles.
const (
	RoleVCenter                = "vcenter"
	RoleSupervisorAPI          = "supervisor-api"
	RoleSupervisorControlPlane = "supervisor-control-plane"
	RoleESXi                   = "esxi"
	RoleNode                   = "node"
	RoleEndpoint               = "endpoint"
)

// Endpoint is one TLS endpoint (or certificate file) and the certificate it
// serves.
type Endpoint struct {
	// Name is the Node's name, the vCenter host, or the address given.
	Name string `json:"name"`
	// Role is vcenter, supervisor-api, supervisor-control-plane, esxi, node or endpoint.
	Role string `json:"role"`
	// Address is host:port, or the node's address for a file read over SSH.
	Address string `json:"address"`
	// File is the certificate file read over SSH ("" for TLS endpoints).
	File string `json:"file,omitempty"`
	// Service names the port (kube-apiserver, spherelet, esxi-https, vcenter-https, ...).
	Service string `json:"service"`
	// DiscoveredFrom is kubeconfig, node/<name>, --vcenter, --endpoint, or
	// ssh for files on a Supervisor control-plane node.
	DiscoveredFrom string `json:"discoveredFrom"`
	// Certificate is the leaf presented (nil when the endpoint could not be read).
	Certificate *certs.Info `json:"certificate,omitempty"`
	// DNSNames and IPAddresses are the leaf's subject alternative names.
	DNSNames    []string `json:"dnsNames,omitempty"`
	IPAddresses []string `json:"ipAddresses,omitempty"`
	// HostMatches says whether the SANs cover the host that was dialled
	// (always false for files).
	HostMatches bool `json:"hostMatches"`
	// ChainLength is how many certificates the endpoint presented.
	ChainLength int `json:"chainLength"`
	// Trust is the certificate's trust domain and chain validity.
	Trust *trust.Result `json:"trust,omitempty"`
	// Rotation says how this certificate is renewed, and by whom.
	Rotation string   `json:"rotation,omitempty"`
	Errors   []string `json:"errors,omitempty"`
}

// Options configures Run.
type Options struct {
	// Discover endpoints from the Supervisor: its API endpoint and its Node
	// objects (control-plane VMs, ESXi hosts). Needs Config.
	Discover bool
	// VCenters are vCenter hosts, host or host:port (default port 443).
	VCenters []string
	// Endpoints are more host:port endpoints to read.
	Endpoints []string
	// VMCARoots verify VMCA-signed chains; without them VMCA is recognised
	// by its issuer's subject.
	VMCARoots []*x509.Certificate
	// SystemRoots, when set, name public CAs among the "other" certificates.
	SystemRoots *x509.CertPool
	// Parallel bounds concurrent handshakes (default DefaultParallel).
	Parallel int
	// Timeout bounds each handshake (default 10s).
	Timeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// SSHKey, when set, is the PEM private key with which the discovered
	// Supervisor control-plane nodes' certificate files are read over SSH
	// (SSH configures the connections). It is held in memory only.
	SSHKey []byte
	SSH    remote.Options
}

// Where names the endpoint in messages: host:port, or host:/path for a file.
func (ep Endpoint) Where() string {
	if ep.File != "" {
		return ep.Address + ":" + ep.File
	}
	return ep.Address
}

// Ports read on discovered Nodes.
var (
	supervisorControlPlanePorts = []source.Endpoint{{Port: 6443, Name: "kube-apiserver"}}
	esxiPorts                   = []source.Endpoint{{Port: 443, Name: "esxi-https"}, {Port: 10250, Name: "spherelet"}}
	nodePorts                   = []source.Endpoint{{Port: 10250, Name: "kubelet"}}
)

// Labels by which a Supervisor Node's role is recognised.
const (
	labelControlPlane = "node-role.kubernetes.io/control-plane"
	labelMaster       = "node-role.kubernetes.io/master"
	labelAgent        = "node-role.kubernetes.io/agent"
	labelRole         = "kubernetes.io/role"
)

// Run reads every endpoint of the vCenter trust domain and the
// Supervisor's own, and attributes each certificate to its trust domain.
// cfg may be nil when nothing is discovered (only --vcenter and --endpoint).
// The error is for a setup that leaves nothing to read; per-endpoint
// problems are recorded in the report, and never hide the other endpoints.
// inventory.Evaluate grades the result with the same thresholds and exit
// codes as `tkgcert check`; the controller exports the same certificates
// as metrics.
func Run(ctx context.Context, cfg *rest.Config, o Options) (*Report, error) {
	if o.Parallel <= 0 {
		o.Parallel = DefaultParallel
	}
	if o.Timeout == 0 {
		o.Timeout = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Discover && cfg == nil {
		return nil, fmt.Errorf("discovering the Supervisor's endpoints needs its kubeconfig")
	}
	if len(o.SSHKey) > 0 && !o.Discover {
		return nil, fmt.Errorf("reading the Supervisor control-plane nodes over SSH needs their Node objects: do not combine --ssh-key with --no-discover")
	}
	now := o.Now()
	sup := &Report{Endpoints: []Endpoint{}}
	for _, r := range o.VMCARoots {
		c := infoOf("vmca-root", r, now)
		c.Location = certs.Location{Kind: certs.VMCARoot}
		sup.VMCARoots = append(sup.VMCARoots, c)
	}
	targets, cpNodes, anchors, err := discover(ctx, cfg, o, sup)
	if err != nil {
		return nil, err
	}
	files, err := readAll(ctx, targets, cpNodes, anchors, o, now)
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		targets = append(targets, f...)
	}
	sup.Endpoints = targets
	return sup, nil
}

// discover lists the endpoints to read (by flag and, with o.Discover, from
// the Supervisor), the Supervisor control-plane nodes whose files may be
// read over SSH, and the anchors to attribute certificates with.
func discover(ctx context.Context, cfg *rest.Config, o Options, sup *Report) ([]Endpoint, []source.Node, trust.Anchors, error) {
	anchors := trust.Anchors{VMCARoots: o.VMCARoots, SystemRoots: o.SystemRoots}
	var targets []Endpoint
	var cpNodes []source.Node
	for _, v := range o.VCenters {
		addr, err := withDefaultPort(v, 443)
		if err != nil {
			return nil, nil, anchors, fmt.Errorf("--vcenter %q: %w", v, err)
		}
		host, _, _ := net.SplitHostPort(addr)
		targets = append(targets, Endpoint{Name: host, Role: RoleVCenter, Address: addr, Service: "vcenter-https", DiscoveredFrom: "--vcenter"})
	}
	if cfg != nil {
		anchors.SupervisorCAs = kubeconfigCAs(cfg, sup)
	}
	if o.Discover {
		found, nodes, err := discoverFromSupervisor(ctx, cfg, sup, &anchors)
		if err != nil {
			return nil, nil, anchors, err
		}
		targets, cpNodes = append(targets, found...), nodes
	}
	for _, e := range o.Endpoints {
		if _, _, err := net.SplitHostPort(e); err != nil {
			return nil, nil, anchors, fmt.Errorf("--endpoint %q: want HOST:PORT", e)
		}
		targets = append(targets, Endpoint{Name: e, Role: RoleEndpoint, Address: e, Service: "tls", DiscoveredFrom: "--endpoint"})
	}
	targets = dedupTargets(targets)
	if len(targets) == 0 {
		return nil, nil, anchors, fmt.Errorf("no endpoint to read: discover them from the Supervisor, or name them with --vcenter HOST and --endpoint HOST:PORT")
	}
	return targets, cpNodes, anchors, nil
}

// discoverFromSupervisor adds the Supervisor API, its CAs and the TKG
// clusters' CAs to anchors, and lists the endpoints of its Node objects.
func discoverFromSupervisor(ctx context.Context, cfg *rest.Config, sup *Report, anchors *trust.Anchors) ([]Endpoint, []source.Node, error) {
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return nil, nil, err
	}
	u, err := url.Parse(cfg.Host)
	if err != nil || u.Host == "" {
		return nil, nil, fmt.Errorf("the kubeconfig's server %q is not a URL", cfg.Host)
	}
	sup.Server = cfg.Host
	apiAddr, err := withDefaultPort(u.Host, 443)
	if err != nil {
		return nil, nil, err
	}
	targets := []Endpoint{{Name: u.Hostname(), Role: RoleSupervisorAPI, Address: apiAddr, Service: "kube-apiserver", DiscoveredFrom: "kubeconfig"}}
	anchors.SupervisorCAs = append(anchors.SupervisorCAs, rootCAConfigMap(ctx, cs, sup)...)
	anchors.Clusters = clusterCAs(ctx, cs, sup)
	nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		sup.Errors = append(sup.Errors, fmt.Sprintf("listing the Supervisor's Node objects: %v (name the endpoints with --endpoint and --vcenter, or use an account that may list nodes)", err))
		return targets, nil, nil
	}
	return append(targets, nodeTargets(nodes.Items, sup)...), controlPlaneNodes(nodes.Items), nil
}

// readAll reads the targets in place over TLS and, with an SSH key, the
// control-plane nodes' files, at most o.Parallel at a time; it returns the
// files' rows per node.
func readAll(ctx context.Context, targets []Endpoint, cpNodes []source.Node, anchors trust.Anchors, o Options, now time.Time) ([][]Endpoint, error) {
	var dialer *remote.Dialer
	if len(o.SSHKey) > 0 {
		var err error
		if dialer, err = remote.NewDialer(o.SSHKey, o.SSH); err != nil {
			return nil, err
		}
		defer dialer.Close()
	}
	files := make([][]Endpoint, len(cpNodes))
	sem := make(chan struct{}, o.Parallel)
	var wg sync.WaitGroup
	for i := range targets {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			readEndpoint(ctx, &targets[i], anchors, o.Timeout, now)
		}()
	}
	if dialer != nil {
		for i := range cpNodes {
			wg.Add(1)
			sem <- struct{}{}
			go func() {
				defer wg.Done()
				defer func() { <-sem }()
				files[i] = readNodeFiles(ctx, dialer, cpNodes[i], anchors, now)
			}()
		}
	}
	wg.Wait()
	return files, nil
}

func readEndpoint(ctx context.Context, ep *Endpoint, anchors trust.Anchors, timeout time.Duration, now time.Time) {
	chain, err := source.PeerChain(ctx, ep.Address, timeout)
	if err != nil {
		ep.Errors = append(ep.Errors, fmt.Sprintf("%s %s (%s): reading its certificate over TLS: %v", ep.Role, ep.Name, ep.Address, err))
		return
	}
	leaf := chain[0]
	c := infoOf(ep.Service, leaf, now)
	c.Location = certs.Location{Kind: certs.TLSEndpoint, Node: ep.Name, Address: ep.Address}
	ep.Certificate = &c
	ep.DNSNames = leaf.DNSNames
	for _, ip := range leaf.IPAddresses {
		ep.IPAddresses = append(ep.IPAddresses, ip.String())
	}
	host, _, _ := net.SplitHostPort(ep.Address)
	ep.HostMatches = leaf.VerifyHostname(host) == nil
	ep.ChainLength = len(chain)
	r := trust.Classify(chain, anchors, now)
	ep.Trust = &r
	ep.Rotation = Rotation(*ep)
}

// CertificateLabel names the certificate in metrics: the service
// (kube-apiserver, esxi-https, spherelet, vcenter-https, tls) or, for a
// file read over SSH, its path.
func (ep *Endpoint) CertificateLabel() string {
	if ep.File != "" {
		return ep.File
	}
	return ep.Service
}

// CALabel names the certificate's CA in metrics: vmca, supervisor-ca,
// tkg:<namespace>/<cluster> or other ("" when it was not classified).
func (ep *Endpoint) CALabel() string {
	if ep.Trust == nil {
		return ""
	}
	switch ep.Trust.Method {
	case trust.BySupervisorCA:
		return "supervisor-ca"
	case trust.ByClusterCA:
		return "tkg:" + ep.Trust.Namespace + "/" + ep.Trust.Cluster
	}
	return string(ep.Trust.Domain)
}

// readNodeFiles reads a Supervisor control-plane node's certificate files
// over SSH; each file is one row, attributed like a served chain.
func readNodeFiles(ctx context.Context, d *remote.Dialer, n source.Node, anchors trust.Anchors, now time.Time) []Endpoint {
	byPath, err := source.NodeCertificates(ctx, d, n)
	if err != nil {
		return []Endpoint{{Name: n.Name, Role: RoleSupervisorControlPlane, Address: n.Address, Service: "ssh", DiscoveredFrom: "ssh",
			Errors: []string{fmt.Sprintf("%s %s: reading its certificate files over SSH: %v", RoleSupervisorControlPlane, n.Name, err)}}}
	}
	paths := make([]string, 0, len(byPath))
	for p := range byPath {
		paths = append(paths, p)
	}
	sort.Strings(paths)
	out := make([]Endpoint, 0, len(paths))
	for _, p := range paths {
		chain := byPath[p]
		name := strings.TrimSuffix(p[strings.LastIndex(p, "/")+1:], ".crt")
		c := infoOf(name, chain[0], now)
		c.Location = certs.Location{Kind: certs.NodeFile, Node: n.Name, Address: n.Address, File: p}
		ep := Endpoint{Name: n.Name, Role: RoleSupervisorControlPlane, Address: n.Address, File: p, Service: name,
			DiscoveredFrom: "ssh", Certificate: &c, DNSNames: chain[0].DNSNames, ChainLength: len(chain)}
		for _, ip := range chain[0].IPAddresses {
			ep.IPAddresses = append(ep.IPAddresses, ip.String())
		}
		r := trust.Classify(chain, anchors, now)
		ep.Trust = &r
		ep.Rotation = Rotation(ep)
		out = append(out, ep)
	}
	return out
}

// controlPlaneNodes are the Supervisor's control-plane VMs with an address.
func controlPlaneNodes(nodes []corev1.Node) []source.Node {
	var out []source.Node
	for _, n := range nodes {
		_, cp := n.Labels[labelControlPlane]
		_, master := n.Labels[labelMaster]
		if addr := nodeAddress(n); (cp || master) && addr != "" {
			out = append(out, source.Node{Name: n.Name, Address: addr, ControlPlane: true})
		}
	}
	return out
}

// infoOf is the Info of a certificate read here: names in the order
// openssl prints them (trust.NameString), residual time relative to now.
func infoOf(name string, c *x509.Certificate, now time.Time) certs.Info {
	out := certs.NewInfo(name, "", c)
	out.Subject = trust.NameString(&c.Subject)
	out.Issuer = trust.NameString(&c.Issuer)
	out.Stamp(now)
	return out
}

// nodeTargets turns Supervisor Node objects into endpoints by role:
// control-plane VMs serve the API on 6443; ESXi hosts (the Nodes of vSphere
// Pods, role agent) serve HTTPS on 443 and the spherelet on 10250.
func nodeTargets(nodes []corev1.Node, sup *Report) []Endpoint {
	var out []Endpoint
	for _, n := range nodes {
		addr := nodeAddress(n)
		if addr == "" {
			sup.Errors = append(sup.Errors, fmt.Sprintf("Node %s has no InternalIP, ExternalIP or Hostname address to read its certificates from", n.Name))
			continue
		}
		role, ports := RoleNode, nodePorts
		_, cp := n.Labels[labelControlPlane]
		_, master := n.Labels[labelMaster]
		_, agent := n.Labels[labelAgent]
		switch {
		case cp || master:
			role, ports = RoleSupervisorControlPlane, supervisorControlPlanePorts
		case agent || n.Labels[labelRole] == "agent":
			role, ports = RoleESXi, esxiPorts
		}
		for _, p := range ports {
			out = append(out, Endpoint{Name: n.Name, Role: role, Address: net.JoinHostPort(addr, strconv.Itoa(p.Port)),
				Service: p.Name, DiscoveredFrom: "node/" + n.Name})
		}
	}
	return out
}

func nodeAddress(n corev1.Node) string {
	for _, t := range []corev1.NodeAddressType{corev1.NodeInternalIP, corev1.NodeExternalIP, corev1.NodeHostName} {
		for _, a := range n.Status.Addresses {
			if a.Type == t && a.Address != "" {
				return a.Address
			}
		}
	}
	return ""
}

// dedupTargets keeps the first of endpoints with the same address (a
// vCenter or node named again with --endpoint), and orders them by role.
func dedupTargets(in []Endpoint) []Endpoint {
	seen := map[string]bool{}
	var out []Endpoint
	for _, t := range in {
		if seen[t.Address] {
			continue
		}
		seen[t.Address] = true
		out = append(out, t)
	}
	order := map[string]int{RoleVCenter: 0, RoleSupervisorAPI: 1, RoleSupervisorControlPlane: 2, RoleESXi: 3, RoleNode: 4, RoleEndpoint: 5}
	sort.SliceStable(out, func(i, j int) bool {
		if order[out[i].Role] != order[out[j].Role] {
			return order[out[i].Role] < order[out[j].Role]
		}
		return out[i].Name < out[j].Name
	})
	return out
}

func withDefaultPort(hostport string, port int) (string, error) {
	if hostport == "" {
		return "", fmt.Errorf("empty host")
	}
	if _, _, err := net.SplitHostPort(hostport); err == nil {
		return hostport, nil
	}
	if strings.Count(hostport, ":") > 1 && !strings.HasPrefix(hostport, "[") { // bare IPv6
		return net.JoinHostPort(hostport, strconv.Itoa(port)), nil
	}
	if strings.Contains(hostport, ":") {
		return "", fmt.Errorf("want HOST or HOST:PORT")
	}
	return net.JoinHostPort(hostport, strconv.Itoa(port)), nil
}

// kubeconfigCAs are the certificate authorities the kubeconfig trusts for
// the Supervisor: its own Kubernetes CA.
func kubeconfigCAs(cfg *rest.Config, sup *Report) []*x509.Certificate {
	data := cfg.TLSClientConfig.CAData
	if len(data) == 0 && cfg.TLSClientConfig.CAFile != "" {
		b, err := os.ReadFile(cfg.TLSClientConfig.CAFile)
		if err != nil {
			sup.Warnings = append(sup.Warnings, fmt.Sprintf("reading the kubeconfig's certificate authority %s: %v", cfg.TLSClientConfig.CAFile, err))
			return nil
		}
		data = b
	}
	return parseCerts(data)
}

// rootCAConfigMap reads kube-root-ca.crt, which the Supervisor publishes in
// every namespace with its Kubernetes CA.
func rootCAConfigMap(ctx context.Context, cs kubernetes.Interface, sup *Report) []*x509.Certificate {
	cm, err := cs.CoreV1().ConfigMaps(metav1.NamespaceSystem).Get(ctx, "kube-root-ca.crt", metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		sup.Warnings = append(sup.Warnings, fmt.Sprintf("reading ConfigMap kube-system/kube-root-ca.crt: %v (the kubeconfig's CA is used alone)", err))
		return nil
	}
	return parseCerts([]byte(cm.Data["ca.crt"]))
}

// clusterCAs reads the TKG clusters' CAs (<cluster>-ca, -etcd, -proxy) so
// that a TKG certificate read here is attributed to its cluster.
func clusterCAs(ctx context.Context, cs kubernetes.Interface, sup *Report) []trust.ClusterCA {
	list, err := cs.CoreV1().Secrets(metav1.NamespaceAll).List(ctx, metav1.ListOptions{LabelSelector: "cluster.x-k8s.io/cluster-name"})
	if err != nil {
		sup.Warnings = append(sup.Warnings, fmt.Sprintf("listing the TKG clusters' CA secrets: %v (certificates they signed are reported as other)", err))
		return nil
	}
	var out []trust.ClusterCA
	for _, s := range list.Items {
		cluster := s.Labels["cluster.x-k8s.io/cluster-name"]
		name, ok := names.AuthorityOfSecret(cluster, s.Name)
		if !ok {
			continue
		}
		for _, c := range parseCerts(s.Data[corev1.TLSCertKey]) {
			out = append(out, trust.ClusterCA{Namespace: s.Namespace, Cluster: cluster, Name: name, Cert: c})
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		return a.Namespace+"/"+a.Cluster+"/"+a.Name < b.Namespace+"/"+b.Cluster+"/"+b.Name
	})
	return out
}

// parseCerts returns the certificates in PEM data, skipping anything else;
// the anchors are best effort, so an unusable file adds none.
func parseCerts(data []byte) []*x509.Certificate {
	cs, _ := cert.ParseCertsPEM(data)
	return cs
}

// ParseVMCARoots parses every certificate of a PEM file given with
// --vmca-root; it fails when there is none.
func ParseVMCARoots(data []byte) ([]*x509.Certificate, error) {
	cs, err := cert.ParseCertsPEM(data)
	if err != nil {
		return nil, fmt.Errorf("no PEM certificate found: %w", err)
	}
	return cs, nil
}

// The knowledge-base articles the vendor's documentation names for
// Supervisor certificates (seed: "TLS in the vSphere IaaS control plane").
const (
	KBReplaceSupervisorCertificates = `"Replace vSphere with Tanzu Supervisor Certificates"`
	KBCertificateGuide              = `"vSphere with Tanzu Certificate Guide"`
)

// Rotation says how an endpoint's certificate is renewed. tkgcert renews
// only TKG clusters' certificates; in vCenter's trust domain it changes
// nothing and names the vendor's procedure.
func Rotation(ep Endpoint) string {
	if ep.Trust == nil {
		return ""
	}
	wcp := "replace the Supervisor certificates by hand with VMware's WCP Cert Manager, following the knowledge-base article " +
		KBReplaceSupervisorCertificates + " (the certificates it covers: " + KBCertificateGuide + "); tkgcert changes nothing in vCenter"
	switch ep.Trust.Domain {
	case trust.VMCA:
		switch ep.Role {
		case RoleVCenter:
			return "vCenter's certificate is signed by VMCA: renew it with vCenter's own certificate management " +
				"(vSphere Client, Certificate Management; or the REST API /api/vcenter/certificate-management/vcenter/tls); tkgcert changes nothing in vCenter"
		case RoleESXi:
			return "the ESXi host's certificate is signed by VMCA: renew it from vCenter (vSphere Client: the host, Configure, Certificate, Renew); " +
				"for the Supervisor's certificates on it, " + wcp
		default:
			return "a Supervisor certificate signed by VMCA: " + wcp
		}
	case trust.Kubernetes:
		if ep.Trust.Method == trust.ByClusterCA {
			return fmt.Sprintf("a TKG cluster's certificate: tkgcert rotate -n %s %s", ep.Trust.Namespace, ep.Trust.Cluster)
		}
		return "signed by the Supervisor's own Kubernetes CA, part of the Supervisor's certificates: " + wcp
	}
	return "issued by a CA outside both trust domains (" + ep.Trust.CA + "): renew it where it was issued; tkgcert cannot tell which procedure applies"
}
