package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// serviceAccountKubeconfig writes a kubeconfig for the service account
// with token, as docs/controller.md creates one, its context's namespace ns.
func serviceAccountKubeconfig(t *testing.T, sh *shell, token, ns string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "tkgcert-controller.kubeconfig")
	sh.run(fmt.Sprintf(`SERVER=$(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')
kubectl config view --minify --raw -o jsonpath='{.clusters[0].cluster.certificate-authority-data}' | base64 -d > %[1]s.ca
export KUBECONFIG=%[1]s
kubectl config set-cluster supervisor --server "$SERVER" --certificate-authority %[1]s.ca --embed-certs >/dev/null
kubectl config set-credentials tkgcert-controller --token %[2]s >/dev/null
kubectl config set-context tkgcert --cluster supervisor --user tkgcert-controller --namespace %[3]s >/dev/null
kubectl config use-context tkgcert >/dev/null`, file, token, ns))
	return file
}

func TestNamespaceScoped(t *testing.T) {
	layout, _ := theImage(t)
	lab := startLab(t, "--address-block", "91", "--provision-delay", "0",
		"--cluster", "team-a/one", "--cluster", "team-b/two", "--cluster", "other/three")
	sh := newShell(t, "KUBECONFIG="+lab.kubeconfig())
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	sh.run(fmt.Sprintf(`kubectl apply -k %s/config/namespaced >/dev/null`, repo))
	for check, want := range map[string]string{"list clusters.cluster.x-k8s.io -A": "no", "list clusters.cluster.x-k8s.io -n team-a": "yes",
		"get secrets -n team-b": "yes", "get secrets -n other": "no", "list nodes": "no"} {
		out, _ := sh.try(fmt.Sprintf(`kubectl auth can-i %s --as %s`, check, controllerSA))
		if got, _, _ := strings.Cut(strings.TrimSpace(out), "\n"); got != want {
			t.Errorf("config/namespaced: can the controller %s? %q, want %q", check, got, want)
		}
	}
	token := strings.TrimSpace(sh.run(`kubectl create token tkgcert-controller -n tkgcert-system --duration 1h`))
	kc := serviceAccountKubeconfig(t, sh, token, "tkgcert-system")

	t.Run("check -A says what is refused and what to do", func(t *testing.T) {
		out, errOut, code := runTkgcert(t, kc, "check", "-A")
		if code == 0 {
			t.Fatalf("check -A without cluster-wide rights succeeded:\n%s", out)
		}
		for _, want := range []string{"forbidden", "list clusters.cluster.x-k8s.io in all namespaces", "-n NAMESPACE", "--namespaces"} {
			if !strings.Contains(errOut, want) {
				t.Errorf("check -A: no %q in\n%s", want, errOut)
			}
		}
	})

	t.Run("check --namespaces reads the namespaces granted", func(t *testing.T) {
		r, errOut, code := checkJSON(t, kc, "--namespaces", "team-a,team-b")
		var got []string
		for _, c := range r.Clusters {
			got = append(got, c.Namespace+"/"+c.Name)
			if len(c.Errors) > 0 {
				t.Errorf("%s/%s: %v", c.Namespace, c.Name, c.Errors)
			}
		}
		if !slices.Equal(got, []string{"team-a/one", "team-b/two"}) || code != 0 {
			t.Errorf("check --namespaces team-a,team-b: clusters %v, exit %d\n%s", got, code, errOut)
		}
	})

	t.Run("the controller from the image, with config/namespaced's arguments", func(t *testing.T) {
		p := podController(t, lab, sh, layout, "tkgcert-system", "tkgcert-controller", "--resync=3s")
		p.waitLog("Every cluster inventoried", 1)
		p.waitLog(`"Cluster inventoried" logger="controller" cluster="team-b/two"`, 2)
		for _, c := range []string{"team-a/one", "team-b/two"} {
			ns, name, _ := strings.Cut(c, "/")
			if s := statusOf(sh, ns, name); !strings.HasPrefix(s, "Healthy: ") {
				t.Errorf("status of %s: %q", c, s)
			}
		}
		if s := statusOf(sh, "other", "three"); s != "" {
			t.Errorf("the controller wrote a status outside its namespaces: %q", s)
		}
		if strings.Contains(p.log(), "other/three") {
			t.Errorf("the controller looked at other/three:\n%s", p.log())
		}
		if _, ok := p.metric("tkgcert_api_forbidden_total"); ok {
			t.Errorf("requests refused with config/namespaced:\n%s", p.log())
		}
		p.stop()
	})
}

// TestControllerREADMEExample runs the README's controller example as
// written, from a service-account kubeconfig, and renews its token under it.
func TestControllerREADMEExample(t *testing.T) {
	lab := startLab(t, "--address-block", "92", "--provision-delay", "0", "--cluster", "c/healthy")
	sh := newShell(t, "KUBECONFIG="+lab.kubeconfig())
	repo, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	sh.run(fmt.Sprintf(`kubectl apply -k %s/config/base >/dev/null
kubectl create secret generic token-one -n tkgcert-system >/dev/null`, repo))
	// The first token is bound to a secret: deleting it revokes the token.
	first := strings.TrimSpace(sh.run(`kubectl create token tkgcert-controller -n tkgcert-system --bound-object-kind Secret --bound-object-name token-one`))
	kc := serviceAccountKubeconfig(t, sh, first, "tkgcert-system")

	home := t.TempDir()
	p := &controllerProcess{t: t, logFile: filepath.Join(t.TempDir(), "controller.log"), metrics: "127.0.0.1:8080", done: make(chan error, 1)}
	log, err := os.Create(p.logFile)
	if err != nil {
		t.Fatal(err)
	}
	// README.md: tkgcert controller --rotate-before 30d --maintenance-window "Sat 02:00-06:00 UTC"
	p.cmd = exec.Command(tkgcert, "controller", "--rotate-before", "30d", "--maintenance-window", "Sat 02:00-06:00 UTC")
	p.cmd.Env = append(os.Environ(), "KUBECONFIG="+kc, "HOME="+home, "XDG_CONFIG_HOME="+home)
	p.cmd.Stdout, p.cmd.Stderr = log, log
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.done <- p.cmd.Wait(); log.Close() }()
	t.Cleanup(func() { p.kill() })
	p.waitLog(`"Not in a pod: leader election in the kubeconfig context's namespace" context="tkgcert" namespace="tkgcert-system"`, 1)
	p.waitLog("Every cluster inventoried", 1)

	// A new token in the file, the old one revoked: the controller keeps
	// renewing its Lease with the new one.
	second := strings.TrimSpace(sh.run(`kubectl create token tkgcert-controller -n tkgcert-system --duration 1h`))
	sh.run(fmt.Sprintf(`KUBECONFIG=%s kubectl config set-credentials tkgcert-controller --token %s >/dev/null
kubectl delete secret -n tkgcert-system token-one >/dev/null`, kc, second))
	p.waitLog("Credentials rejected (401): reloaded the kubeconfig, using its new credentials", 1)
	renew := func() string {
		return sh.run(`kubectl get lease -n tkgcert-system tkgcert-controller -o jsonpath='{.spec.renewTime}'`)
	}
	seen := map[string]bool{renew(): true}
	deadline := time.Now().Add(2 * time.Minute) // liveness guard
	for len(seen) < 3 {
		select {
		case err := <-p.done:
			t.Fatalf("the controller exited (%v) after its token was revoked:\n%s", err, p.log())
		case <-time.After(500 * time.Millisecond):
		}
		seen[renew()] = true
		if time.Now().After(deadline) {
			t.Fatalf("the Lease was not renewed after the token changed:\n%s", p.log())
		}
	}
	if strings.Count(p.log(), "leader election lost") > 0 {
		t.Errorf("the controller lost its Lease:\n%s", p.log())
	}
	p.stop()
}
