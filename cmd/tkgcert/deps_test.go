package main

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestProductDoesNotLinkTheLab keeps the lab (its simulators, PKI generators
// and API server launcher) and the test environments out of the tkgcert
// binary and the controller image: they belong to cmd/tkgcert-lab and tests.
func TestProductDoesNotLinkTheLab(t *testing.T) {
	const module = "github.com/tkgcert/tkgcert"
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	list := exec.Command("go", "list", "-deps", "./cmd/tkgcert")
	list.Dir = filepath.Dir(strings.TrimSpace(string(gomod)))
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/tkgcert in %s: %v", list.Dir, err)
	}
	deps := strings.Fields(string(out))
	var sawCLI bool
	for _, p := range deps {
		if p == module+"/internal/cli" {
			sawCLI = true
		}
		for _, banned := range []string{"/internal/lab", "/internal/kubeserver", "/internal/testenv"} {
			if p == module+banned || strings.HasPrefix(p, module+banned+"/") {
				t.Errorf("tkgcert depends on %s; only cmd/tkgcert-lab and tests may (find the importer with: go list -deps -f '{{.ImportPath}}: {{.Imports}}' ./cmd/tkgcert | grep %s)", p, strings.TrimPrefix(banned, "/"))
			}
		}
	}
	if !sawCLI {
		t.Fatalf("go list -deps ./cmd/tkgcert does not list %s/internal/cli; is it listing the right package?\n%s", module, out)
	}
}
