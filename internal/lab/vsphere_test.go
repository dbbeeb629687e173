package lab_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/tkgcert/tkgcert/internal/lab"
	"github.com/tkgcert/tkgcert/internal/pki"
)

// The package's lab has the default Supervisor side, on the /24 after its
// six clusters: 127.30.6.0/24.
func TestSupervisorSide(t *testing.T) {
	eps := world.VSphereEndpoints()
	var ids []string
	for _, e := range eps {
		ids = append(ids, e.ID)
	}
	if got := strings.Join(ids, " "); got != "vcenter supervisor-1 supervisor-2 supervisor-3 esxi-1 esxi-2" {
		t.Fatalf("Supervisor side %q", got)
	}
	b, err := os.ReadFile(filepath.Join(stateDir, lab.VMCARootFile))
	if err != nil {
		t.Fatal(err)
	}
	root, err := pki.ParseCertPEM(b)
	if err != nil {
		t.Fatal(err)
	}
	if root.Subject.CommonName != "CA" || len(root.Subject.OrganizationalUnit) != 1 || root.Subject.OrganizationalUnit[0] != "VMware Engineering" ||
		len(root.Subject.Organization) != 1 || root.Subject.Organization[0] != lab.VCenterFQDN {
		t.Errorf("VMCA root subject %s", root.Subject)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)

	nodes := &corev1.NodeList{}
	if err := sup.List(context.Background(), nodes); err != nil {
		t.Fatal(err)
	}
	byName := map[string]corev1.Node{}
	for _, n := range nodes.Items {
		byName[n.Name] = n
	}
	for _, e := range eps {
		for _, addr := range e.Addresses {
			if !strings.HasPrefix(addr, "127.30.6.") {
				t.Errorf("%s listens on %s, outside the block's Supervisor /24 127.30.6.0/24", e.ID, addr)
			}
			conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: e.Name, MinVersion: tls.VersionTLS12})
			if err != nil {
				t.Errorf("%s (%s): a client trusting only the VMCA root: %v", e.ID, addr, err)
				continue
			}
			leaf := conn.ConnectionState().PeerCertificates[0]
			conn.Close()
			if !leaf.NotAfter.Equal(e.NotAfter) || leaf.NotAfter.Before(time.Now().Add(600*24*time.Hour)) {
				t.Errorf("%s: NotAfter %s, listed %s, want about two years from issue", e.ID, leaf.NotAfter, e.NotAfter)
			}
		}
		n, ok := byName[e.Name]
		switch e.Role {
		case "vcenter":
			if ok {
				t.Errorf("vCenter %s is a Node", e.Name)
			}
			continue
		case "supervisor-control-plane":
			_, cp := n.Labels["node-role.kubernetes.io/control-plane"]
			_, master := n.Labels["node-role.kubernetes.io/master"]
			if !ok || !cp || !master || len(e.Name) != 32 || !strings.HasPrefix(e.Name, "42") {
				t.Errorf("control-plane VM %s: Node %v, labels %v", e.Name, ok, n.Labels)
			}
		case "esxi":
			_, agent := n.Labels["node-role.kubernetes.io/agent"]
			if !ok || !agent || n.Labels["kubernetes.io/role"] != "agent" {
				t.Errorf("ESXi host %s: Node %v, labels %v", e.Name, ok, n.Labels)
			}
		}
		ip := strings.Split(e.Addresses[0], ":")[0]
		if len(n.Status.Addresses) == 0 || n.Status.Addresses[0].Type != corev1.NodeInternalIP || n.Status.Addresses[0].Address != ip {
			t.Errorf("Node %s addresses %v, want InternalIP %s", e.Name, n.Status.Addresses, ip)
		}
	}
}

func TestVSphereValidation(t *testing.T) {
	base := lab.Options{StateDir: t.TempDir(), BinDir: "/nonexistent"}
	for _, tc := range []struct {
		name string
		v    lab.VSphere
		want string
	}{
		{"unknown name", lab.VSphere{ControlPlaneNodes: 3, Expiring: []string{"esxi-1"}}, `--vmca-expiring "esxi-1": no such endpoint; the lab has supervisor-1, supervisor-2, supervisor-3`},
		{"foreign vcenter without one", lab.VSphere{ESXiHosts: 1, ForeignCA: []string{"vcenter"}}, `--foreign-ca "vcenter": no such endpoint`},
		{"too many nodes", lab.VSphere{ControlPlaneNodes: 6}, "--supervisor-nodes 6: want 0 to 5"},
		{"too many hosts", lab.VSphere{ESXiHosts: 17}, "--esxi-hosts 17: want 0 to 16"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := base
			o.VSphere = &tc.v
			_, err := lab.Up(context.Background(), o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want %q", err, tc.want)
			}
		})
	}
	// The Supervisor side needs its own /24 after the clusters'.
	// Block 255 holds 256 clusters (127.255.0-255.0/24) but not a Supervisor side after them.
	o := base
	o.AddressBlock, o.Generate = 255, 256
	if _, err := lab.Up(context.Background(), o); err == nil || !strings.Contains(err.Error(), "leaves no room for 256 clusters and the Supervisor side") {
		t.Errorf("block 255 with a Supervisor side: %v", err)
	}
	o.VSphere = &lab.VSphere{}
	if _, err := lab.Up(context.Background(), o); err == nil || strings.Contains(err.Error(), "no room") {
		t.Errorf("block 255 without a Supervisor side should pass validation (and fail later on the missing binaries): %v", err)
	}
}
