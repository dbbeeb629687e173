package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tkgcert/tkgcert/internal/inventory"
)

// TestKubectlPlugin installs tkgcert as the README and the release archives
// do, as kubectl-tkgcert on PATH, and runs it through the real kubectl.
func TestKubectlPlugin(t *testing.T) {
	lab := startLab(t, "--address-block", "111", "--provision-delay", "0", "--workers", "0",
		"--cluster", "plugin-ns/web,light", "--cluster", "plugin-ns/db,light")

	pluginDir := t.TempDir()
	b, err := os.ReadFile(tkgcert)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pluginDir, "kubectl-tkgcert"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	// Only the plugin's directory and kubectl's (and the system's for bash):
	// kubectl plugin list then sees nothing else of this machine.
	kubectl, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatal(err)
	}
	path := strings.Join([]string{pluginDir, filepath.Dir(kubectl), "/usr/bin", "/bin"}, string(os.PathListSeparator))
	sh := newShell(t, "KUBECONFIG="+lab.kubeconfig(), "PATH="+path)

	plugins := sh.run(`kubectl plugin list 2>&1`)
	if want := filepath.Join(pluginDir, "kubectl-tkgcert"); !strings.Contains(plugins, want) {
		t.Errorf("kubectl plugin list does not find %s:\n%s", want, plugins)
	}
	if strings.Contains(plugins, "warning") {
		t.Errorf("kubectl plugin list warns about the plugin:\n%s", plugins)
	}

	out := sh.run(`kubectl tkgcert clusters -A`)
	l := lines(out)
	if len(l) == 0 || !strings.HasPrefix(l[0], "NAMESPACE") {
		t.Fatalf("kubectl tkgcert clusters -A printed no table:\n%s", out)
	}
	rows := map[string]bool{}
	for _, l := range l[1:] {
		if f := strings.Fields(l); len(f) >= 2 {
			rows[f[0]+"/"+f[1]] = true
		}
	}
	for _, c := range []string{"plugin-ns/web", "plugin-ns/db"} {
		if !rows[c] {
			t.Errorf("kubectl tkgcert clusters -A does not list %s:\n%s", c, out)
		}
	}
	if len(rows) != 2 {
		t.Errorf("kubectl tkgcert clusters -A lists %d clusters, the lab has 2:\n%s", len(rows), out)
	}

	// The plugin takes kubectl's flags itself: -n, and a kubeconfig flag
	// instead of the environment.
	js := sh.run(fmt.Sprintf(`unset KUBECONFIG; kubectl tkgcert clusters --kubeconfig %s -n plugin-ns -o json`, lab.kubeconfig()))
	var list inventory.ClusterList
	if err := json.Unmarshal([]byte(js), &list); err != nil {
		t.Fatalf("kubectl tkgcert clusters -n plugin-ns -o json: %v\n%s", err, js)
	}
	var names []string
	for _, it := range list.Items {
		names = append(names, it.Namespace+"/"+it.Name)
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"plugin-ns/db", "plugin-ns/web"}) {
		t.Errorf("kubectl tkgcert clusters --kubeconfig ... -n plugin-ns -o json lists %v", names)
	}
}
