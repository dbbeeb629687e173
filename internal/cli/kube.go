package cli

import (
	"context"
	"fmt"
	"os"
	"sort"
	"strings"
	"sync"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"

	"github.com/tkgcert/tkgcert/internal/fleet"
	"github.com/tkgcert/tkgcert/internal/inventory"
)

// kubeOptions are kubectl's flags for reaching the Supervisor, plus -A.
type kubeOptions struct {
	flags         *genericclioptions.ConfigFlags
	allNamespaces bool
	namespaces    []string
	cmd           *cobra.Command
	// contexts are the --context values (kubectl's flag, repeatable here:
	// one Supervisor per context); allContexts is --all-contexts.
	contexts    []string
	allContexts bool
}

func newKubeOptions(cmd *cobra.Command) *kubeOptions {
	k := &kubeOptions{flags: genericclioptions.NewConfigFlags(true), cmd: cmd}
	// --cluster would name a kubeconfig cluster, easily mistaken for a TKG
	// cluster; the other kubectl flags keep their meaning.
	k.flags.ClusterName = nil
	// --context is repeatable: kubectl's single-valued flag is replaced.
	context := k.flags.Context
	k.flags.Context = nil
	k.flags.AddFlags(cmd.Flags())
	k.flags.Context = context
	cmd.Flags().StringArrayVar(&k.contexts, "context", nil, "The name of the kubeconfig context to use (the Supervisor)")
	cmd.Flags().BoolVarP(&k.allNamespaces, "all-namespaces", "A", false, "Every namespace of the Supervisor")
	addNamespacesFlag(cmd, &k.namespaces)
	return k
}

// addNamespacesFlag adds --namespaces: vSphere grants rights per vSphere
// Namespace, so a user without cluster-wide rights names the ones to read.
func addNamespacesFlag(cmd *cobra.Command, dst *[]string) {
	cmd.Flags().StringSliceVar(dst, "namespaces", nil, "These namespaces only, comma-separated (for a user with rights on some vSphere Namespaces, not cluster-wide)")
}

// validateNamespaces checks --namespaces against -n and -A.
func validateNamespaces(namespaces []string, allNamespaces, namespaceSet bool) error {
	if len(namespaces) == 0 {
		return nil
	}
	for _, ns := range namespaces {
		if ns == "" {
			return fmt.Errorf("--namespaces: empty namespace name")
		}
	}
	switch {
	case allNamespaces:
		return fmt.Errorf("--namespaces and -A do not mix")
	case namespaceSet:
		return fmt.Errorf("--namespaces and -n do not mix: list every namespace in --namespaces")
	}
	return nil
}

// allowSeveral lets the command run over several Supervisors: --context
// repeated, or --all-contexts.
func (k *kubeOptions) allowSeveral(cmd *cobra.Command) {
	cmd.Flags().Lookup("context").Usage = "The kubeconfig context of the Supervisor; repeat it for several Supervisors in one report"
	cmd.Flags().BoolVar(&k.allContexts, "all-contexts", false, "Every context of the kubeconfig, each a Supervisor, in one report")
}

// multi reports whether the run covers several Supervisors.
func (k *kubeOptions) multi() bool { return k.allContexts || len(k.contexts) > 1 }

// supervisorContexts lists the contexts of a run over several Supervisors:
// the --context values, or with --all-contexts every context of the
// kubeconfig, sorted.
func (k *kubeOptions) supervisorContexts() ([]string, error) {
	if !k.allContexts {
		return k.contexts, nil
	}
	if len(k.contexts) > 0 {
		return nil, fmt.Errorf("--context and --all-contexts do not mix")
	}
	raw, err := k.flags.ToRawKubeConfigLoader().RawConfig()
	if err != nil {
		return nil, fmt.Errorf("loading the kubeconfig: %w", err)
	}
	var names []string
	for name := range raw.Contexts {
		names = append(names, name)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("--all-contexts: the kubeconfig has no contexts")
	}
	sort.Strings(names)
	return names, nil
}

// forContext returns kubectl's flags with the context set: the same
// kubeconfig, namespace and overrides, another Supervisor.
func (k *kubeOptions) forContext(name string) *kubeOptions {
	f := genericclioptions.NewConfigFlags(false)
	src := k.flags
	f.CacheDir, f.KubeConfig, f.AuthInfoName, f.Namespace, f.APIServer = src.CacheDir, src.KubeConfig, src.AuthInfoName, src.Namespace, src.APIServer
	f.TLSServerName, f.Insecure, f.CertFile, f.KeyFile, f.CAFile = src.TLSServerName, src.Insecure, src.CertFile, src.KeyFile, src.CAFile
	f.BearerToken, f.Impersonate, f.ImpersonateUID, f.ImpersonateGroup = src.BearerToken, src.Impersonate, src.ImpersonateUID, src.ImpersonateGroup
	f.ImpersonateUserExtra, f.Username, f.Password, f.Timeout = src.ImpersonateUserExtra, src.Username, src.Password, src.Timeout
	f.DisableCompression, f.ClusterName = src.DisableCompression, nil
	f.Context = &name
	return &kubeOptions{flags: f, allNamespaces: k.allNamespaces, namespaces: k.namespaces, cmd: k.cmd}
}

// eachSupervisor calls run for every Supervisor of the run, at the same
// time, and returns the results in the order of the contexts. With one
// Supervisor (the current context or a single --context) runs is nil and
// a failure to reach it is the error; with several, a Supervisor that
// cannot be reached or read is recorded in runs and the others go on.
func eachSupervisor[T any](ctx context.Context, k *kubeOptions, run func(context.Context, *fleet.Reader, string) (T, error)) (results []T, runs []inventory.SupervisorRun, err error) {
	if !k.multi() {
		r, ns, err := k.reader()
		if err != nil {
			return nil, nil, err
		}
		res, err := run(ctx, r, ns)
		if err != nil {
			return nil, nil, err
		}
		return []T{res}, nil, nil
	}
	names, err := k.supervisorContexts()
	if err != nil {
		return nil, nil, err
	}
	results = make([]T, len(names))
	runs = make([]inventory.SupervisorRun, len(names))
	var wg sync.WaitGroup
	for i, name := range names {
		runs[i].Context = name
		wg.Add(1)
		go func() {
			defer wg.Done()
			r, ns, err := k.forContext(name).reader()
			if err == nil {
				results[i], err = run(ctx, r, ns)
			}
			if err != nil {
				runs[i].Error = err.Error()
			}
		}()
	}
	wg.Wait()
	return results, runs, ctx.Err()
}

// validateScope checks the scope: clusters named in one namespace, or
// every cluster of a namespace, or every cluster with -A.
func (k *kubeOptions) validateScope(names []string) error {
	if len(names) > 0 && k.allNamespaces {
		return fmt.Errorf("cluster names and -A do not mix: name clusters in one namespace (-n), or check all with -A")
	}
	if len(names) > 0 && len(k.namespaces) > 1 {
		return fmt.Errorf("cluster names and several --namespaces do not mix: name clusters in one namespace (-n)")
	}
	return nil
}

// scope describes the run's scope in words, for the HTML report.
func (k *kubeOptions) scope(names []string) string {
	where := "all namespaces"
	if !k.allNamespaces {
		ns, _, err := k.flags.ToRawKubeConfigLoader().Namespace()
		if err != nil || ns == "" {
			ns = "default"
		}
		where = "namespace " + ns
		if len(names) > 0 {
			where += ", clusters " + strings.Join(names, ", ")
		}
	}
	switch {
	case k.allContexts:
		where += ", every context of the kubeconfig"
	case len(k.contexts) > 0:
		where += ", contexts " + strings.Join(k.contexts, ", ")
	}
	return where
}

// config returns the Supervisor's REST config and the namespace in scope
// ("" with -A, and with several --namespaces: see newReader).
func (k *kubeOptions) config() (*rest.Config, string, error) {
	if err := validateNamespaces(k.namespaces, k.allNamespaces, k.cmd.Flags().Changed("namespace")); err != nil {
		return nil, "", err
	}
	switch {
	case k.multi():
		return nil, "", fmt.Errorf("this command works on one Supervisor at a time: give --context once")
	case len(k.contexts) == 1:
		*k.flags.Context = k.contexts[0]
	}
	cfg, err := k.flags.ToRESTConfig()
	if err != nil {
		return nil, "", fmt.Errorf("loading the Supervisor's kubeconfig: %w (point --kubeconfig or KUBECONFIG at it)", err)
	}
	// A fleet check reads a few secrets per cluster; the API server's priority
	// and fairness, not a small client-side limit, keeps that gentle.
	cfg.QPS, cfg.Burst = 200, 400
	if k.allNamespaces {
		return cfg, "", nil
	}
	switch len(k.namespaces) {
	case 0:
	case 1:
		return cfg, k.namespaces[0], nil
	default:
		return cfg, "", nil
	}
	ns, _, err := k.flags.ToRawKubeConfigLoader().Namespace()
	if err != nil {
		return nil, "", err
	}
	return cfg, ns, nil
}

// reader connects to the Supervisor and detects its Cluster API version.
func (k *kubeOptions) reader() (*fleet.Reader, string, error) {
	cfg, ns, err := k.config()
	if err != nil {
		return nil, "", err
	}
	r, err := k.newReader(cfg)
	if err != nil {
		return nil, "", err
	}
	return r, ns, nil
}

// newReader is a fleet reader limited to --namespaces, if given.
func (k *kubeOptions) newReader(cfg *rest.Config) (*fleet.Reader, error) {
	r, err := fleet.NewReader(cfg)
	if err != nil {
		return nil, err
	}
	if len(k.namespaces) > 1 {
		r.SetNamespaces(k.namespaces)
	}
	return r, nil
}

// isTerminal reports whether w is a terminal (for colour and progress).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
