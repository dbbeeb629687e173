package testenv

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/tkgcert/tkgcert/internal/capi"
	"github.com/tkgcert/tkgcert/internal/kubeserver"
)

// ContextName is the kubeconfig context of every environment, as the seed's
// Supervisor names it.
const ContextName = "kubernetes-admin@kubernetes"

// dirPrefix names every environment's temp dir; the owner's pid follows, so a
// later run can tell a stale dir from a live one.
const dirPrefix = "tkgcert-testenv-"

// Options configures an Environment.
type Options struct {
	// CAPIVersion is the Cluster API version the CRDs are served at.
	CAPIVersion capi.APIVersion
	// BinDir holds etcd and kube-apiserver (default: the repository's bin/).
	BinDir string
}

// Environment is a running API server with Cluster API's CRDs installed.
type Environment struct {
	// CAPIVersion is the only Cluster API version served.
	CAPIVersion capi.APIVersion
	// Config is an admin client configuration.
	Config *rest.Config
	// Client is a controller-runtime client that knows both Cluster API versions.
	Client client.Client
	// KubeconfigPath is a kubeconfig file for the admin, context ContextName.
	KubeconfigPath string
	// Dir is the environment's temp dir.
	Dir string
	// Server gives access to the processes (for example to restart them).
	Server *kubeserver.Server

	watchdog *os.Process
}

// Start brings up etcd and kube-apiserver and installs the CRDs.
func Start(ctx context.Context, o Options) (_ *Environment, err error) {
	if o.CAPIVersion == "" {
		o.CAPIVersion = capi.V1Beta1
	}
	if o.BinDir == "" {
		o.BinDir = kubeserver.RepoBinDir()
	}
	bins, err := kubeserver.FindBinaries(o.BinDir)
	if err != nil {
		return nil, err
	}
	crds, err := capi.ReleaseCRDs(ctx, o.CAPIVersion)
	if err != nil {
		return nil, err
	}
	sweepStale()
	dir, err := os.MkdirTemp("", fmt.Sprintf("%s%d-", dirPrefix, os.Getpid()))
	if err != nil {
		return nil, err
	}
	e := &Environment{CAPIVersion: o.CAPIVersion, Dir: dir}
	defer func() {
		if err != nil {
			e.Stop()
		}
	}()
	e.watchdog = startWatchdog(dir)
	if e.Server, err = kubeserver.Start(ctx, kubeserver.Options{Binaries: bins, Dir: dir}); err != nil {
		return nil, err
	}
	if e.Config, err = e.Server.RESTConfig(); err != nil {
		return nil, err
	}
	kubeconfig, err := e.Server.Kubeconfig(ContextName)
	if err != nil {
		return nil, err
	}
	e.KubeconfigPath = filepath.Join(dir, "kubeconfig")
	if err := os.WriteFile(e.KubeconfigPath, kubeconfig, 0o600); err != nil {
		return nil, err
	}
	if err := capi.InstallCRDs(ctx, e.Config, crds); err != nil {
		return nil, err
	}
	scheme, err := capi.NewScheme()
	if err != nil {
		return nil, err
	}
	if e.Client, err = client.New(e.Config, client.Options{Scheme: scheme}); err != nil {
		return nil, err
	}
	return e, nil
}

// Stop terminates the servers and removes the temp dir. It is safe to call
// more than once and on a partly started environment.
func (e *Environment) Stop() {
	if e == nil {
		return
	}
	e.Server.Stop()
	if e.Dir != "" {
		_ = os.RemoveAll(e.Dir)
	}
	if e.watchdog != nil {
		_ = e.watchdog.Kill()
		_, _ = e.watchdog.Wait()
		e.watchdog = nil
	}
}

// startWatchdog starts a shell that removes dir once this process is gone.
// The servers themselves die with this process (see package kubeserver); the
// watchdog covers what no deferred call can: a panic or a kill of the test
// binary. It is best effort: without sh, sweepStale still cleans up later.
func startWatchdog(dir string) *os.Process {
	script := `while kill -0 "$0" 2>/dev/null; do sleep 0.5; done; rm -rf "$1"`
	cmd := exec.Command("sh", "-c", script, strconv.Itoa(os.Getpid()), dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil
	}
	return cmd.Process
}

// sweepStale removes environment dirs whose owning process no longer exists.
func sweepStale() {
	entries, _ := os.ReadDir(os.TempDir())
	for _, ent := range entries {
		name := ent.Name()
		if !ent.IsDir() || !strings.HasPrefix(name, dirPrefix) {
			continue
		}
		pidStr, _, _ := strings.Cut(strings.TrimPrefix(name, dirPrefix), "-")
		pid, err := strconv.Atoi(pidStr)
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		_ = os.RemoveAll(filepath.Join(os.TempDir(), name))
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}

// startTimeout bounds how long Main waits for all environments.
const startTimeout = 3 * time.Minute
