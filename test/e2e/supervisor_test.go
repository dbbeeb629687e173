package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tkgcert/tkgcert/internal/inventory"
	"github.com/tkgcert/tkgcert/internal/lab"
	"github.com/tkgcert/tkgcert/internal/supervisor"
	"github.com/tkgcert/tkgcert/internal/trust"
)

// supervisorJSON runs `tkgcert supervisor check -o json` and parses the report.
func supervisorJSON(t *testing.T, kubeconfig string, args ...string) (*inventory.Report, string, int) {
	t.Helper()
	out, errOut, code := runTkgcert(t, kubeconfig, append([]string{"supervisor", "check", "-o", "json"}, args...)...)
	var r inventory.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("tkgcert supervisor check %v -o json printed no report (exit %d): %v\nstdout:\n%s\nstderr:\n%s", args, code, err, out, errOut)
	}
	if r.APIVersion != "tkgcert.io/v1alpha1" || r.Kind != "CertificateReport" || r.Supervisor == nil {
		t.Fatalf("report type %s %s, supervisor section %v", r.APIVersion, r.Kind, r.Supervisor != nil)
	}
	return &r, errOut, code
}

func endpointAt(r *inventory.Report, addr string) *supervisor.Endpoint {
	for i := range r.Supervisor.Endpoints {
		if r.Supervisor.Endpoints[i].Address == addr {
			return &r.Supervisor.Endpoints[i]
		}
	}
	return nil
}

// opensslServedEnd reads the end date of the certificate an endpoint serves,
// with openssl s_client, as an operator would.
func opensslServedEnd(t *testing.T, sh *shell, addr string) time.Time {
	t.Helper()
	out := sh.run(fmt.Sprintf("openssl s_client -connect %s </dev/null 2>/dev/null | openssl x509 -noout -enddate", addr))
	end, err := time.Parse("Jan _2 15:04:05 2006 MST", strings.TrimPrefix(strings.TrimSpace(out), "notAfter="))
	if err != nil {
		t.Fatalf("openssl s_client %s: %q: %v", addr, out, err)
	}
	return end
}

func TestSupervisorCheck(t *testing.T) {
	l := startLab(t, "--address-block", "75", "--provision-delay", "0", "--workers", "0",
		"--vmca-expiring", "supervisor-1", "--foreign-ca", "esxi-2")
	kc := l.kubeconfig()
	sh := newShell(t, "KUBECONFIG="+kc)

	b, err := os.ReadFile(filepath.Join(l.stateDir, lab.VSphereEndpointsFile))
	if err != nil {
		t.Fatal(err)
	}
	var machines []lab.VSphereEndpoint
	if err := json.Unmarshal(b, &machines); err != nil {
		t.Fatal(err)
	}
	if len(machines) != 6 {
		t.Fatalf("the lab lists %d Supervisor-side machines, want vCenter, 3 control-plane VMs, 2 ESXi hosts: %+v", len(machines), machines)
	}
	var vcenter string
	byID := map[string]lab.VSphereEndpoint{}
	for _, m := range machines {
		byID[m.ID] = m
		if m.Role == "vcenter" {
			vcenter = strings.TrimSuffix(m.Addresses[0], ":443")
		}
	}

	// The Supervisor's Node objects, as kubectl shows them, name the
	// control-plane VMs and the ESXi hosts.
	cp := lines(sh.run("kubectl get nodes -l node-role.kubernetes.io/control-plane -o jsonpath='{range .items[*]}{.metadata.name} {.status.addresses[?(@.type==\"InternalIP\")].address}{\"\\n\"}{end}'"))
	agents := lines(sh.run("kubectl get nodes -l kubernetes.io/role=agent -o jsonpath='{range .items[*]}{.metadata.name} {.status.addresses[?(@.type==\"InternalIP\")].address}{\"\\n\"}{end}'"))
	if len(cp) != 3 || len(agents) != 2 {
		t.Fatalf("Supervisor Nodes: control plane %q, agents %q", cp, agents)
	}

	root := filepath.Join(l.stateDir, lab.VMCARootFile)
	tkgEndpoint := "127.75.0.1:6443"
	r, errOut, code := supervisorJSON(t, kc, "--vcenter", vcenter, "--vmca-root", root, "--endpoint", tkgEndpoint)
	if code != inventory.ExitWarning {
		t.Errorf("exit %d, want %d (supervisor-1's VMCA certificate expires in about 20 days)\n%s", code, inventory.ExitWarning, errOut)
	}
	if len(r.Supervisor.VMCARoots) != 1 || !strings.Contains(r.Supervisor.VMCARoots[0].Subject, "OU=VMware Engineering") {
		t.Errorf("VMCA roots in the report: %+v", r.Supervisor.VMCARoots)
	}
	// The root's subject, as openssl prints it, has VMCA's layout.
	subject := sh.run("openssl x509 -noout -subject -nameopt RFC2253 -in " + root)
	if !strings.Contains(subject, "OU=VMware Engineering,O=vcsa-01.tkgcert.lab,ST=California,C=US,DC=local,DC=vsphere,CN=CA") {
		t.Errorf("lab VMCA root subject %q", subject)
	}

	seen := 0
	for _, m := range machines {
		for _, addr := range m.Addresses {
			ep := endpointAt(r, addr)
			if ep == nil {
				t.Errorf("%s %s (%s) is missing from the report", m.ID, m.Name, addr)
				continue
			}
			seen++
			if ep.Certificate == nil || ep.Trust == nil {
				t.Errorf("%s (%s): no certificate read: %v", m.ID, addr, ep.Errors)
				continue
			}
			if ep.Role != m.Role {
				t.Errorf("%s (%s): role %s, want %s", m.ID, addr, ep.Role, m.Role)
			}
			if m.Role != "vcenter" && ep.Name != m.Name {
				t.Errorf("%s (%s): name %s, want the Node's name %s", m.ID, addr, ep.Name, m.Name)
			}
			want := opensslServedEnd(t, sh, addr)
			if !ep.Certificate.NotAfter.Equal(want) || !want.Equal(m.NotAfter) {
				t.Errorf("%s (%s): NotAfter %s, openssl s_client reads %s, the lab made %s", m.ID, addr, ep.Certificate.NotAfter, want, m.NotAfter)
			}
			switch m.Issuer {
			case "vmca":
				if ep.Trust.Domain != trust.VMCA || ep.Trust.Method != trust.ByVMCARoot || !ep.Trust.ChainValid {
					t.Errorf("%s (%s): trust %+v, want vmca verified by the root", m.ID, addr, ep.Trust)
				}
			case "foreign":
				if ep.Trust.Domain != trust.Other || ep.Trust.Method != trust.Unknown || !strings.Contains(ep.Trust.CA, "Foreign Root CA") {
					t.Errorf("%s (%s): trust %+v, want other from the unknown Foreign Root CA", m.ID, addr, ep.Trust)
				}
			}
			if !ep.HostMatches || !strings.Contains(strings.Join(ep.IPAddresses, ","), strings.Split(addr, ":")[0]) {
				t.Errorf("%s (%s): SANs %v %v do not cover the address", m.ID, addr, ep.DNSNames, ep.IPAddresses)
			}
		}
	}
	if seen != 8 {
		t.Errorf("%d lab endpoints in the report, want 8 (vCenter 443, 3 x 6443, 2 ESXi x 443 and 10250)", seen)
	}

	// The Supervisor's own API endpoint, from the kubeconfig: its Kubernetes CA.
	var api *supervisor.Endpoint
	for i, ep := range r.Supervisor.Endpoints {
		if ep.Role == supervisor.RoleSupervisorAPI {
			api = &r.Supervisor.Endpoints[i]
		}
	}
	if api == nil || api.Trust == nil || api.Trust.Domain != trust.Kubernetes || api.Trust.Method != trust.BySupervisorCA || !api.Trust.ChainValid {
		t.Fatalf("the Supervisor API endpoint: %+v", api)
	}
	if want := opensslServedEnd(t, sh, api.Address); !api.Certificate.NotAfter.Equal(want) {
		t.Errorf("Supervisor API NotAfter %s, openssl reads %s", api.Certificate.NotAfter, want)
	}

	// A TKG cluster's endpoint named with --endpoint: its cluster's CA, rotated by tkgcert.
	tkg := endpointAt(r, tkgEndpoint)
	if tkg == nil || tkg.Trust == nil || tkg.Trust.Domain != trust.Kubernetes || tkg.Trust.Method != trust.ByClusterCA ||
		tkg.Trust.Namespace != "tkg-cluster-ns" || tkg.Trust.Cluster != "tkg-cluster" {
		t.Fatalf("the TKG cluster endpoint: %+v", tkg)
	}
	if !strings.Contains(tkg.Rotation, "tkgcert rotate -n tkg-cluster-ns tkg-cluster") {
		t.Errorf("TKG rotation path %q", tkg.Rotation)
	}
	if want := opensslServedEnd(t, sh, tkgEndpoint); !tkg.Certificate.NotAfter.Equal(want) {
		t.Errorf("TKG endpoint NotAfter %s, openssl reads %s", tkg.Certificate.NotAfter, want)
	}

	// The expiring VMCA certificate: graded as a warning, with the WCP Cert Manager path.
	exp := endpointAt(r, byID["supervisor-1"].Addresses[0])
	v := inventory.Evaluate(r, 30*24*time.Hour, 7*24*time.Hour)
	var expStatus inventory.Status
	for _, f := range v.Findings {
		if f.Endpoint != nil && f.Endpoint.Address == exp.Address {
			expStatus = f.Status
		}
	}
	if expStatus != inventory.StatusWarning {
		t.Errorf("supervisor-1 graded %q, want WARNING", expStatus)
	}
	for _, want := range []string{"WCP Cert Manager", `"Replace vSphere with Tanzu Supervisor Certificates"`, `"vSphere with Tanzu Certificate Guide"`, "changes nothing in vCenter"} {
		if !strings.Contains(exp.Rotation, want) {
			t.Errorf("supervisor-1 rotation path %q lacks %q", exp.Rotation, want)
		}
	}

	// The table, for people: exit 2, the renewal guidance, the foreign CA called out.
	out, errOut, code := runTkgcert(t, kc, "supervisor", "check", "--vcenter", vcenter, "--vmca-root", root)
	if code != inventory.ExitWarning {
		t.Errorf("table: exit %d, want 2\n%s\n%s", code, out, errOut)
	}
	guidance := ""
	for _, line := range lines(out) {
		if strings.HasPrefix(line, byID["supervisor-1"].Name+" kube-apiserver") {
			guidance = line
		}
	}
	if !strings.Contains(guidance, "WARNING") || !strings.Contains(guidance, "WCP Cert Manager") || !strings.Contains(guidance, "Replace vSphere with Tanzu Supervisor Certificates") {
		t.Errorf("no WCP Cert Manager guidance for supervisor-1 in:\n%s", out)
	}
	foreign := byID["esxi-2"]
	if !strings.Contains(out, foreign.Name+" esxi-https ("+foreign.Addresses[0]+") is outside both trust domains: unknown CA CN=Foreign Root CA") {
		t.Errorf("the foreign CA is not called out:\n%s", out)
	}
	for _, row := range []string{"vcenter", "supervisor-api", "supervisor-control-plane", "esxi"} {
		if !strings.Contains(out, " "+row+" ") {
			t.Errorf("no %s row in the table:\n%s", row, out)
		}
	}

	// -o yaml carries the same document.
	y, _, code := runTkgcert(t, kc, "supervisor", "check", "-o", "yaml", "--vcenter", vcenter, "--vmca-root", root)
	if code != inventory.ExitWarning || !strings.Contains(y, "kind: CertificateReport") || !strings.Contains(y, "domain: vmca") ||
		!strings.Contains(y, "method: vmca-root") || !strings.Contains(y, "domain: other") {
		t.Errorf("-o yaml: exit %d\n%s", code, y)
	}

	// Without the root, VMCA is recognised by its issuer and the chain is unverified.
	r, _, _ = supervisorJSON(t, kc, "--vcenter", vcenter)
	vc := endpointAt(r, vcenter+":443")
	if vc == nil || vc.Trust == nil || vc.Trust.Domain != trust.VMCA || vc.Trust.Method != trust.ByVMCAIssuer || vc.Trust.ChainValid ||
		!strings.Contains(vc.Trust.ChainStatus, "no --vmca-root") {
		t.Errorf("vCenter without --vmca-root: %+v", vc)
	}

	// Over SSH, the control-plane VMs' files: the served VMCA certificate
	// and the Supervisor's own Kubernetes CA and its client certificate,
	// with the dates openssl reads on the node.
	key := filepath.Join(l.stateDir, lab.SupervisorSSHKeyFile)
	r, errOut, code = supervisorJSON(t, kc, "--vcenter", vcenter, "--vmca-root", root, "--ssh-key", key)
	if code != inventory.ExitWarning {
		t.Errorf("with --ssh-key: exit %d, want 2\n%s", code, errOut)
	}
	files := 0
	for _, id := range []string{"supervisor-1", "supervisor-2", "supervisor-3"} {
		m := byID[id]
		ip := strings.TrimSuffix(m.Addresses[0], ":6443")
		want := map[string]trust.Method{
			"/etc/kubernetes/pki/apiserver.crt":                trust.ByVMCARoot,
			"/etc/kubernetes/pki/ca.crt":                       trust.BySupervisorCA,
			"/etc/kubernetes/pki/apiserver-kubelet-client.crt": trust.BySupervisorCA,
		}
		for _, ep := range r.Supervisor.Endpoints {
			if ep.Address != ip || ep.File == "" {
				continue
			}
			files++
			if ep.Name != m.Name || ep.DiscoveredFrom != "ssh" || ep.Trust == nil || ep.Trust.Method != want[ep.File] || !ep.Trust.ChainValid {
				t.Errorf("%s %s: %+v, want attributed by %s", id, ep.File, ep, want[ep.File])
				continue
			}
			delete(want, ep.File)
			out := sh.run(fmt.Sprintf("ssh -o StrictHostKeyChecking=no -i %s -q root@%s sudo openssl x509 -enddate -noout -in %s", key, ip, ep.File))
			end, err := time.Parse("Jan _2 15:04:05 2006 MST", strings.TrimPrefix(strings.TrimSpace(out), "notAfter="))
			if err != nil || !end.Equal(ep.Certificate.NotAfter) {
				t.Errorf("%s %s: NotAfter %s, openssl on the node reads %q", id, ep.File, ep.Certificate.NotAfter, out)
			}
		}
		if len(want) > 0 {
			t.Errorf("%s: files missing from the report: %v", id, want)
		}
	}
	if files != 9 {
		t.Errorf("%d certificate files read over SSH, want 9", files)
	}

	// Thresholds below 20 days: nothing to warn about; an unreachable
	// endpoint is an error (exit 1) that hides nothing else.
	r, _, code = supervisorJSON(t, kc, "--vcenter", vcenter, "--vmca-root", root, "--warn", "10d", "--critical", "5d", "--endpoint", "127.75.1.99:443")
	if code != inventory.ExitIncomplete {
		t.Errorf("with an unreachable endpoint and --warn 10d: exit %d, want 1", code)
	}
	if down := endpointAt(r, "127.75.1.99:443"); down == nil || len(down.Errors) == 0 || down.Certificate != nil {
		t.Errorf("the unreachable endpoint: %+v", down)
	}
	if n := len(r.Supervisor.Endpoints); n != 1+8+1 {
		t.Errorf("%d endpoints with one unreachable, want 10 (the Supervisor API, the lab's 8, the unreachable one)", n)
	}
	_, _, code = supervisorJSON(t, kc, "--vcenter", vcenter, "--vmca-root", root, "--warn", "10d", "--critical", "5d")
	if code != inventory.ExitOK {
		t.Errorf("--warn 10d: exit %d, want 0", code)
	}
	// A VMCA certificate within --critical: exit 3.
	_, _, code = supervisorJSON(t, kc, "--vcenter", vcenter, "--vmca-root", root, "--warn", "60d", "--critical", "25d")
	if code != inventory.ExitCritical {
		t.Errorf("--critical 25d: exit %d, want 3", code)
	}
}
