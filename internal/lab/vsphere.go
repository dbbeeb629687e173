package lab

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"golang.org/x/crypto/ssh"

	"github.com/tkgcert/tkgcert/internal/lab/netsim"
	"github.com/tkgcert/tkgcert/internal/lab/sshd"
	"github.com/tkgcert/tkgcert/internal/pki"
)

// The Supervisor side: vCenter's trust domain as the lab simulates it. A lab
// VMCA (its own root, VMCA's subject layout) signs the serving certificates
// of a vCenter endpoint on 443, of the Supervisor control-plane VMs (6443)
// and of ESXi hosts serving vSphere Pods (443 and the spherelet's 10250).
// The Supervisor API holds Node objects naming the control-plane VMs and the
// ESXi hosts, as a real Supervisor's does. Nothing behind these endpoints is
// vSphere: they complete TLS handshakes and answer HTTP with "ok".

// VSphere configures the Supervisor side of the lab.
type VSphere struct {
	// ControlPlaneNodes is the number of Supervisor control-plane VMs (0 to 5).
	ControlPlaneNodes int
	// ESXiHosts is the number of ESXi hosts serving vSphere Pods (0 to 16).
	ESXiHosts int
	// VCenter adds a vCenter endpoint on port 443.
	VCenter bool
	// Expiring names endpoints whose VMCA certificate expires in about 20
	// days: vcenter, supervisor-N or esxi-N (from 1).
	Expiring []string
	// ForeignCA names endpoints that present a certificate from a CA outside
	// both trust domains instead of VMCA's.
	ForeignCA []string
}

// DefaultVSphere is the Supervisor side a lab has unless told otherwise:
// three control-plane VMs, two ESXi hosts and a vCenter.
var DefaultVSphere = VSphere{ControlPlaneNodes: 3, ESXiHosts: 2, VCenter: true}

func (v VSphere) empty() bool { return v.ControlPlaneNodes == 0 && v.ESXiHosts == 0 && !v.VCenter }

// IDs lists the lab's names for the endpoints' machines, for the scenario flags.
func (v VSphere) IDs() []string {
	var ids []string
	if v.VCenter {
		ids = append(ids, "vcenter")
	}
	for i := 1; i <= v.ControlPlaneNodes; i++ {
		ids = append(ids, fmt.Sprintf("supervisor-%d", i))
	}
	for i := 1; i <= v.ESXiHosts; i++ {
		ids = append(ids, fmt.Sprintf("esxi-%d", i))
	}
	return ids
}

func (v VSphere) validate() error {
	if v.ControlPlaneNodes < 0 || v.ControlPlaneNodes > 5 {
		return fmt.Errorf("--supervisor-nodes %d: want 0 to 5", v.ControlPlaneNodes)
	}
	if v.ESXiHosts < 0 || v.ESXiHosts > 16 {
		return fmt.Errorf("--esxi-hosts %d: want 0 to 16", v.ESXiHosts)
	}
	ids := v.IDs()
	for flag, names := range map[string][]string{"--vmca-expiring": v.Expiring, "--foreign-ca": v.ForeignCA} {
		for _, n := range names {
			if !slices.Contains(ids, n) {
				return fmt.Errorf("%s %q: no such endpoint; the lab has %s", flag, n, strings.Join(ids, ", "))
			}
		}
	}
	return nil
}

// Files the Supervisor side writes to the state directory.
const (
	// VMCARootFile is the lab VMCA's root certificate, for --vmca-root.
	VMCARootFile = "vmca-root.crt"
	// VSphereEndpointsFile lists the Supervisor side's endpoints (JSON).
	VSphereEndpointsFile = "vsphere-endpoints.json"
	// VCenterFQDN is the lab vCenter's name (the O of the VMCA root).
	VCenterFQDN = "vcsa-01.tkgcert.lab"
	// SupervisorSSHKeyFile is the private key the Supervisor control-plane
	// nodes accept for SupervisorSSHUser, for --ssh-key.
	SupervisorSSHKeyFile = "supervisor-ssh.key"
	// SupervisorSSHUser is the user the Supervisor control-plane nodes
	// accept, as the vendor's procedure logs in to them.
	SupervisorSSHUser = "root"
	// vsphereDir holds the Supervisor control-plane nodes' disks.
	vsphereDir = "vsphere"
)

// VSphereEndpoint is one machine of the Supervisor side, as written to
// VSphereEndpointsFile.
type VSphereEndpoint struct {
	// ID is the lab's name for it (vcenter, supervisor-N, esxi-N).
	ID string `json:"id"`
	// Name is its Node name (the vCenter's host name for vcenter).
	Name string `json:"name"`
	// Role is vcenter, supervisor-control-plane or esxi.
	Role string `json:"role"`
	// Addresses are the host:port endpoints presenting its certificate.
	Addresses []string `json:"addresses"`
	// Issuer is vmca or foreign.
	Issuer   string    `json:"issuer"`
	NotAfter time.Time `json:"notAfter"`
}

// vsphereSide is the running Supervisor side.
type vsphereSide struct {
	endpoints []*netsim.TLSEndpoint
	ssh       []*sshd.Server
	list      []VSphereEndpoint
}

func vsphereIP(block, index, host int) net.IP {
	return net.IPv4(127, byte(block+index/256), byte(index%256), byte(host)).To4()
}

// startVSphere builds the Supervisor side on the address block's index-th
// /24 (the one after the clusters').
func (l *Lab) startVSphere(ctx context.Context, index int) error {
	v := l.o.VSphere
	if v.empty() {
		return nil
	}
	now := l.now()
	alg := l.o.KeyAlgorithm
	root, err := pki.NewVMCARoot(VCenterFQDN, "vsphere.local", pki.ValidFor(now.Add(-400*24*time.Hour), 10*365*24*time.Hour), alg)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(l.o.StateDir, VMCARootFile), root.CertPEM(), 0o644); err != nil {
		return fmt.Errorf("writing the lab VMCA root: %w", err)
	}
	var foreign *pki.KeyPair
	if len(v.ForeignCA) > 0 {
		if foreign, err = pki.NewCA("Foreign Root CA", pki.ValidFor(now.Add(-24*time.Hour), 5*365*24*time.Hour), alg); err != nil {
			return err
		}
	}
	type machineSpec struct {
		id, name, role string
		ip             net.IP
		ports          []int
	}
	var specs []machineSpec
	if v.VCenter {
		specs = append(specs, machineSpec{"vcenter", VCenterFQDN, "vcenter", vsphereIP(l.o.AddressBlock, index, 2), []int{443}})
	}
	for i := 1; i <= v.ControlPlaneNodes; i++ {
		// Supervisor control-plane VMs are Nodes named by their VM's BIOS
		// UUID, which on vSphere starts with 42.
		name := "42" + strings.ReplaceAll(vsphereUUID(), "-", "")[2:]
		specs = append(specs, machineSpec{fmt.Sprintf("supervisor-%d", i), name, "supervisor-control-plane", vsphereIP(l.o.AddressBlock, index, 9+i), []int{6443}})
	}
	for i := 1; i <= v.ESXiHosts; i++ {
		specs = append(specs, machineSpec{fmt.Sprintf("esxi-%d", i), fmt.Sprintf("esx-%02d.tkgcert.lab", i), "esxi", vsphereIP(l.o.AddressBlock, index, 19+i), []int{443, 10250}})
	}
	side := &vsphereSide{}
	l.vsphere = side
	list := make([]VSphereEndpoint, len(specs))
	certsByID := make([]tls.Certificate, len(specs))
	leaves := make([]*pki.KeyPair, len(specs))
	if err := forEach(ctx, len(specs), 4, func(i int) error {
		s := specs[i]
		// VMCA issues machine certificates for two years; these were issued
		// 100 days ago, or expire in 20 days in the expiring scenario.
		validity := pki.ValidFor(now.Add(-100*24*time.Hour), 730*24*time.Hour)
		if slices.Contains(v.Expiring, s.id) {
			validity = pki.Validity{NotBefore: now.Add(-710 * 24 * time.Hour), NotAfter: now.Add(20 * 24 * time.Hour)}
		}
		ca, issuer := root, "vmca"
		if slices.Contains(v.ForeignCA, s.id) {
			ca, issuer = foreign, "foreign"
		}
		leaf, err := pki.NewVMCALeaf(ca, s.name, []net.IP{s.ip}, validity, alg)
		if err != nil {
			return err
		}
		certsByID[i] = tls.Certificate{Certificate: [][]byte{leaf.Cert.Raw}, PrivateKey: leaf.Key, Leaf: leaf.Cert}
		leaves[i] = leaf
		list[i] = VSphereEndpoint{ID: s.id, Name: s.name, Role: s.role, Issuer: issuer, NotAfter: leaf.Cert.NotAfter.UTC()}
		for _, p := range s.ports {
			list[i].Addresses = append(list[i].Addresses, net.JoinHostPort(s.ip.String(), strconv.Itoa(p)))
		}
		return nil
	}); err != nil {
		return fmt.Errorf("generating the Supervisor side's certificates: %w", err)
	}
	for i := range specs {
		for _, addr := range list[i].Addresses {
			e, err := netsim.ListenTLS(addr, netsim.StaticCert(certsByID[i]))
			if err != nil {
				return fmt.Errorf("%s %s: listening on %s: %w (is another lab using address block %d? pick another with --address-block)", specs[i].role, specs[i].name, addr, err, l.o.AddressBlock)
			}
			side.endpoints = append(side.endpoints, e)
			l.ownsBlock.Store(true)
		}
		if specs[i].role != "vcenter" {
			if err := l.createSupervisorNode(ctx, specs[i].name, specs[i].role, specs[i].ip); err != nil {
				return err
			}
		}
		if specs[i].role == "supervisor-control-plane" {
			if err := l.startSupervisorNodeSSH(specs[i].name, specs[i].ip, leaves[i], now); err != nil {
				return err
			}
		}
	}
	side.list = list
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(l.o.StateDir, VSphereEndpointsFile), append(b, '\n'), 0o644)
}

// createSupervisorNode registers a Node in the Supervisor API as the real
// Supervisor shows its control-plane VMs (roles control-plane and master)
// and the ESXi hosts of vSphere Pods (role agent, the spherelet on 10250).
func (l *Lab) createSupervisorNode(ctx context.Context, name, role string, ip net.IP) error {
	labels := map[string]string{"kubernetes.io/hostname": name}
	var taints []corev1.Taint
	info := corev1.NodeSystemInfo{MachineID: vsphereUUID(), SystemUUID: vsphereUUID(), BootID: vsphereUUID(),
		KubeletVersion: "v1.30.1+vmware.1", Architecture: "amd64"}
	if role == "esxi" {
		labels["node-role.kubernetes.io/agent"] = ""
		labels["kubernetes.io/role"] = "agent"
		labels["kubernetes.io/os"] = "CRX"
		info.OperatingSystem, info.OSImage, info.KernelVersion = "CRX", "VMware ESXi 8.0.3", "8.0.3"
		info.KubeletVersion = "v1.30.1-sph-2b6b5a5"
	} else {
		labels["node-role.kubernetes.io/control-plane"] = ""
		labels["node-role.kubernetes.io/master"] = ""
		labels["kubernetes.io/os"] = "linux"
		taints = []corev1.Taint{{Key: "node-role.kubernetes.io/control-plane", Effect: corev1.TaintEffectNoSchedule}}
		info.OperatingSystem, info.OSImage, info.KernelVersion = "linux", "VMware Photon OS/Linux", "5.10.216-1.ph4-esx"
	}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.NodeSpec{Taints: taints}}
	if err := l.client.Create(ctx, n); err != nil {
		return fmt.Errorf("creating Supervisor Node %s: %w", name, err)
	}
	now := metav1.NewTime(l.now())
	n.Status = corev1.NodeStatus{
		Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: ip.String()}, {Type: corev1.NodeHostName, Address: name}},
		Conditions: []corev1.NodeCondition{
			{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: now, LastTransitionTime: now},
		},
		NodeInfo:        info,
		DaemonEndpoints: corev1.NodeDaemonEndpoints{KubeletEndpoint: corev1.DaemonEndpoint{Port: 10250}},
	}
	if err := l.client.Status().Update(ctx, n); err != nil {
		return fmt.Errorf("setting the status of Supervisor Node %s: %w", name, err)
	}
	return nil
}

// VSphereEndpoints lists the Supervisor side's machines and their endpoints.
func (l *Lab) VSphereEndpoints() []VSphereEndpoint {
	if l.vsphere == nil {
		return nil
	}
	return slices.Clone(l.vsphere.list)
}

func (s *vsphereSide) close() {
	if s == nil {
		return
	}
	for _, e := range s.endpoints {
		_ = e.Close()
	}
	for _, srv := range s.ssh {
		_ = srv.Close()
	}
}

// supervisorSSHKey returns the key the Supervisor control-plane nodes
// accept, generated once per lab and written to SupervisorSSHKeyFile.
func (l *Lab) supervisorSSHKey() (ssh.PublicKey, error) {
	if l.vsphereSSHPub != nil {
		return l.vsphereSSHPub, nil
	}
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	block, err := ssh.MarshalPrivateKey(priv, "supervisor")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(l.o.StateDir, SupervisorSSHKeyFile), pem.EncodeToMemory(block), 0o600); err != nil {
		return nil, fmt.Errorf("writing the Supervisor nodes' SSH key: %w", err)
	}
	if l.vsphereSSHPub, err = ssh.NewPublicKey(pub); err != nil {
		return nil, err
	}
	return l.vsphereSSHPub, nil
}

// startSupervisorNodeSSH gives a Supervisor control-plane VM its disk and an
// SSH server: /etc/kubernetes/pki holds the Supervisor's Kubernetes CA
// (ca.crt, ca.key), the VMCA certificate it serves on 6443 (apiserver.crt)
// and a client certificate from the Supervisor's CA
// (apiserver-kubelet-client.crt), so both trust domains are on its disk.
func (l *Lab) startSupervisorNodeSSH(name string, ip net.IP, serving *pki.KeyPair, now time.Time) error {
	pub, err := l.supervisorSSHKey()
	if err != nil {
		return err
	}
	client, err := pki.NewLeaf(l.server.CA, pki.LeafSpec{CommonName: "kube-apiserver-kubelet-client", Organization: []string{"system:masters"},
		Usages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}, pki.ValidFor(now.Add(-30*24*time.Hour), 365*24*time.Hour), pki.ECDSAP256)
	if err != nil {
		return err
	}
	root := filepath.Join(l.o.StateDir, vsphereDir, name)
	pkiDir := filepath.Join(root, "etc", "kubernetes", "pki")
	if err := os.MkdirAll(pkiDir, 0o755); err != nil {
		return err
	}
	for base, kp := range map[string]*pki.KeyPair{"ca": l.server.CA, "apiserver": serving, "apiserver-kubelet-client": client} {
		key, err := kp.KeyPEM()
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(pkiDir, base+".crt"), kp.CertPEM(), 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(pkiDir, base+".key"), key, 0o600); err != nil {
			return err
		}
	}
	hostKey, err := ssh.NewSignerFromSigner(l.hostKey(ip))
	if err != nil {
		return err
	}
	srv, err := sshd.Start(sshd.Options{
		Address:       net.JoinHostPort(ip.String(), strconv.Itoa(l.o.SSHPort)),
		HostKey:       hostKey,
		User:          SupervisorSSHUser,
		AuthorizedKey: pub,
		Hostname:      name,
		Root:          root,
		ScratchDir:    filepath.Join(l.o.StateDir, "scratch"),
		Logger:        l.o.Logger.With("node", name),
	})
	if err != nil {
		return fmt.Errorf("starting SSH on Supervisor node %s (%s): %w", name, ip, err)
	}
	l.vsphere.ssh = append(l.vsphere.ssh, srv)
	return nil
}
