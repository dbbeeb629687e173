package e2e

import (
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
	"sigs.k8s.io/yaml"

	"github.com/tkgcert/tkgcert/internal/inventory"
)

// mergeKubeconfigs writes one kubeconfig with a context per lab (named as
// given), as `kubectl vsphere login` leaves one per Supervisor, and a
// context "dead" whose Supervisor does not answer.
func mergeKubeconfigs(t *testing.T, labs map[string]*labProcess) string {
	t.Helper()
	out := clientcmdapi.NewConfig()
	var any *clientcmdapi.Config
	for name, lab := range labs {
		c, err := clientcmd.LoadFromFile(lab.kubeconfig())
		if err != nil {
			t.Fatal(err)
		}
		ctx := c.Contexts[c.CurrentContext]
		out.Clusters[name] = c.Clusters[ctx.Cluster]
		out.AuthInfos[name] = c.AuthInfos[ctx.AuthInfo]
		out.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name}
		out.CurrentContext, any = name, c
	}
	dead := *any.Clusters[any.Contexts[any.CurrentContext].Cluster]
	dead.Server = "https://127.0.0.1:1" // nothing listens on port 1
	out.Clusters["dead"] = &dead
	out.AuthInfos["dead"] = any.AuthInfos[any.Contexts[any.CurrentContext].AuthInfo]
	out.Contexts["dead"] = &clientcmdapi.Context{Cluster: "dead", AuthInfo: "dead"}
	file := filepath.Join(t.TempDir(), "supervisors.kubeconfig")
	if err := clientcmd.WriteToFile(*out, file); err != nil {
		t.Fatal(err)
	}
	return file
}

func TestManySupervisors(t *testing.T) {
	vc01 := startLab(t, "--address-block", "105", "--provision-delay", "0", "--workers", "0",
		"--control-plane-replicas", "1", "--cluster", "prod/web,light")
	vc02 := startLab(t, "--address-block", "106", "--provision-delay", "0", "--workers", "0",
		"--control-plane-replicas", "1", "--cluster", "prod/web,light", "--cluster", "edge/pos:expiring,light")
	kc := mergeKubeconfigs(t, map[string]*labProcess{"vc01": vc01, "vc02": vc02})

	t.Run("check over every context: one report, the dead one an error", func(t *testing.T) {
		r, errOut, code := checkJSON(t, kc, "-A", "--all-contexts")
		// vc02's expiring cluster is a warning, which outranks the error.
		if code != inventory.ExitWarning {
			t.Errorf("exit %d, want 2\n%s", code, errOut)
		}
		var got []string
		for _, cl := range r.Clusters {
			got = append(got, cl.Supervisor+":"+cl.Namespace+"/"+cl.Name)
			if len(cl.Nodes) != 1 || len(cl.Errors) > 0 || len(cl.Nodes[0].Certificates) == 0 {
				t.Errorf("%s/%s on %s: %d nodes, errors %v", cl.Namespace, cl.Name, cl.Supervisor, len(cl.Nodes), cl.Errors)
			}
		}
		if want := "vc01:prod/web vc02:edge/pos vc02:prod/web"; strings.Join(slices.Sorted(slices.Values(got)), " ") != want {
			t.Errorf("clusters %v, want %s", got, want)
		}
		if len(r.Supervisors) != 3 || r.Supervisors[0].Context != "dead" || !strings.Contains(r.Supervisors[0].Error, "127.0.0.1:1") ||
			r.Supervisors[1] != (inventory.SupervisorRun{Context: "vc01"}) || r.Supervisors[2] != (inventory.SupervisorRun{Context: "vc02"}) {
			t.Errorf("supervisors %+v", r.Supervisors)
		}
		// The same cluster name on two Supervisors is two clusters, each
		// with its own machines.
		web := map[string]string{}
		for _, cl := range r.Clusters {
			if cl.Name == "web" && len(cl.Nodes) > 0 {
				web[cl.Supervisor] = cl.Nodes[0].Name
			}
		}
		if web["vc01"] == "" || web["vc02"] == "" || web["vc01"] == web["vc02"] {
			t.Errorf("prod/web's node on vc01 and vc02: %v", web)
		}
	})

	t.Run("the exit code is over all Supervisors", func(t *testing.T) {
		for _, tc := range []struct {
			args []string
			code int
		}{
			{[]string{"--context", "vc01"}, 0},
			{[]string{"--context", "vc01", "--context", "vc02"}, 2},
			{[]string{"--context", "vc01", "--context", "dead"}, 1},
			{[]string{"--context", "dead"}, 1},
		} {
			out, errOut, code := runTkgcert(t, kc, append([]string{"check", "-A"}, tc.args...)...)
			if code != tc.code {
				t.Errorf("check -A %v: exit %d, want %d\n%s\n%s", tc.args, code, tc.code, out, errOut)
			}
		}
	})

	t.Run("tables have a SUPERVISOR column and an error row", func(t *testing.T) {
		out, errOut, code := runTkgcert(t, kc, "check", "-A", "--context", "vc01", "--context", "dead")
		if code != 1 {
			t.Errorf("exit %d, want 1\n%s", code, errOut)
		}
		summary := out[strings.LastIndex(out, "SUPERVISOR   NAMESPACE"):]
		rows := lines(summary)
		if len(rows) != 4 || !strings.HasPrefix(rows[1], "vc01 ") || !strings.Contains(rows[1], "prod ") ||
			strings.Join(strings.Fields(rows[2]), " ") != "dead - - - - - - ERROR" {
			t.Errorf("summary:\n%s", summary)
		}
		if !strings.Contains(out, "=== Cluster vc01: prod/web") || !strings.Contains(out, "=== Supervisor dead\nerror: ") {
			t.Errorf("check table:\n%s", out)
		}
		// One Supervisor: no SUPERVISOR column, as before.
		if out, _, _ := runTkgcert(t, kc, "check", "-A", "--context", "vc02"); strings.Contains(out, "SUPERVISOR   NAMESPACE") {
			t.Errorf("a SUPERVISOR column with one Supervisor:\n%s", out)
		}

		out, errOut, code = runTkgcert(t, kc, "clusters", "-A", "--all-contexts")
		if code != 1 {
			t.Errorf("clusters: exit %d, want 1 (dead)\n%s", code, errOut)
		}
		var got []string
		for _, l := range lines(out) {
			f := strings.Fields(l)
			got = append(got, f[0]+" "+f[1]+" "+f[2]+" "+f[len(f)-1])
		}
		want := []string{"SUPERVISOR NAMESPACE NAME ROLLOUT", "vc01 prod web no", "vc02 edge pos no", "vc02 prod web no", "dead - - ERROR"}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("clusters:\n%s\nwant rows %q", out, want)
		}
		if !strings.Contains(errOut, "error: Supervisor dead: ") {
			t.Errorf("clusters stderr: %s", errOut)
		}

		// vc02's expiring kubelet certificate is a warning; it outranks the
		// dead Supervisor's error.
		out, errOut, code = runTkgcert(t, kc, "kubelet", "-A", "--all-contexts")
		if code != 2 {
			t.Errorf("kubelet: exit %d, want 2\n%s\n%s", code, out, errOut)
		}
		if _, _, code := runTkgcert(t, kc, "kubelet", "-A", "--context", "vc01", "--context", "dead"); code != 1 {
			t.Errorf("kubelet on vc01 and dead: exit %d, want 1", code)
		}
		rows = lines(out)
		if len(rows) != 5 || !strings.HasPrefix(rows[0], "SUPERVISOR   NAMESPACE   CLUSTER   NODE") ||
			!strings.HasPrefix(rows[1], "vc01 ") || !strings.HasSuffix(rows[1], " OK") || strings.Join(strings.Fields(rows[4]), " ") != "dead - - - - - - - ERROR" {
			t.Errorf("kubelet:\n%s", out)
		}
	})

	t.Run("clusters -o yaml names each cluster's Supervisor", func(t *testing.T) {
		out, errOut, _ := runTkgcert(t, kc, "clusters", "-A", "--context", "vc02", "--context", "vc01", "-o", "yaml")
		var list inventory.ClusterList
		if err := yaml.Unmarshal([]byte(out), &list); err != nil {
			t.Fatalf("%v\n%s\n%s", err, out, errOut)
		}
		var got []string
		for _, s := range list.Items {
			got = append(got, s.Supervisor+":"+s.Namespace+"/"+s.Name)
		}
		if strings.Join(got, " ") != "vc02:edge/pos vc02:prod/web vc01:prod/web" {
			t.Errorf("items %v, in the order of the contexts given", got)
		}
		if b, _ := json.Marshal(list.Supervisors); string(b) != `[{"context":"vc02"},{"context":"vc01"}]` {
			t.Errorf("supervisors %s", b)
		}
	})

	t.Run("the HTML pages over several Supervisors", func(t *testing.T) {
		page, errOut, code := runTkgcert(t, kc, "check", "-A", "--all-contexts", "-o", "html")
		if code != inventory.ExitWarning {
			t.Errorf("check -o html: exit %d, want 2\n%s", code, errOut)
		}
		for _, s := range []string{
			`<th data-col="supervisor">Supervisor</th>`,
			`<span id="supervisors">dead, vc01, vc02</span>`,
			`<li><b>Supervisor dead</b>: `,
			`<tr class="status-error" data-supervisor="dead"`,
			`<tr class="status-warning" data-supervisor="vc02" data-namespace="edge" data-cluster="pos"`,
			`<li class="card status-warning" data-cluster="vc02: edge/pos" data-status="WARNING">`,
		} {
			if !strings.Contains(page, s) {
				t.Errorf("check -o html lacks %s", s)
			}
		}
		page, errOut, code = runTkgcert(t, kc, "clusters", "-A", "--all-contexts", "-o", "html")
		if code != 1 || !strings.Contains(page, `<tr class="status-ok" data-supervisor="vc01" data-namespace="prod" data-cluster="web" data-node="Supervisor" data-certificate="earliest Machine certificate"`) ||
			!strings.Contains(page, `<tr class="status-warning" data-supervisor="vc02" data-namespace="edge" data-cluster="pos" data-node="Supervisor" data-certificate="earliest Machine certificate"`) {
			t.Errorf("clusters -o html: exit %d\n%s\n%s", code, errOut, page)
		}
		page, errOut, code = runTkgcert(t, kc, "supervisor", "check", "--context", "vc01", "-o", "html")
		// The Supervisor's own endpoints (its control-plane VMs, the ESXi
		// hosts) as rows of the Supervisor section.
		if code != 0 || !strings.Contains(page, `<h1>tkgcert supervisor check</h1>`) ||
			strings.Count(page, `data-cluster="Supervisor and vCenter"`) < 3 || strings.Contains(page, `<tr class="status-error"`) {
			t.Errorf("supervisor check -o html: exit %d\n%s\n%s", code, errOut, page)
		}
	})
}
