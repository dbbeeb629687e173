package cli

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/client-go/rest"

	"github.com/tkgcert/tkgcert/internal/fleet"
)

// kubeOptions are kubectl's flags for reaching the Supervisor, plus -A.
type kubeOptions struct {
	flags         *genericclioptions.ConfigFlags
	allNamespaces bool
	namespaces    []string
	cmd           *cobra.Command
}

func newKubeOptions(cmd *cobra.Command) *kubeOptions {
	k := &kubeOptions{flags: genericclioptions.NewConfigFlags(true), cmd: cmd}
	// --cluster would name a kubeconfig cluster, easily mistaken for a TKG
	// cluster; the other kubectl flags keep their meaning.
	k.flags.ClusterName = nil
	k.flags.AddFlags(cmd.Flags())
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

// config returns the Supervisor's REST config and the namespace in scope
// ("" with -A, and with several --namespaces: see newReader).
func (k *kubeOptions) config() (*rest.Config, string, error) {
	if err := validateNamespaces(k.namespaces, k.allNamespaces, k.cmd.Flags().Changed("namespace")); err != nil {
		return nil, "", err
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
