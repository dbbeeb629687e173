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
}

func newKubeOptions(cmd *cobra.Command) *kubeOptions {
	k := &kubeOptions{flags: genericclioptions.NewConfigFlags(true)}
	// --cluster would name a kubeconfig cluster, easily mistaken for a TKG
	// cluster; the other kubectl flags keep their meaning.
	k.flags.ClusterName = nil
	k.flags.AddFlags(cmd.Flags())
	cmd.Flags().BoolVarP(&k.allNamespaces, "all-namespaces", "A", false, "Every namespace of the Supervisor")
	return k
}

// validateScope checks the scope: clusters named in one namespace, or
// every cluster of a namespace, or every cluster with -A.
func (k *kubeOptions) validateScope(names []string) error {
	if len(names) > 0 && k.allNamespaces {
		return fmt.Errorf("cluster names and -A do not mix: name clusters in one namespace (-n), or check all with -A")
	}
	return nil
}

// config returns the Supervisor's REST config and the namespace in scope
// ("" with -A).
func (k *kubeOptions) config() (*rest.Config, string, error) {
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
	r, err := fleet.NewReader(cfg)
	if err != nil {
		return nil, "", err
	}
	return r, ns, nil
}

// isTerminal reports whether w is a terminal (for colour and progress).
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
