package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// ExitError carries a specific exit code (for example check's threshold codes)
// from a command to Execute; Message, when set, is printed as the error.
type ExitError struct {
	Code    int
	Message string
}

func (e *ExitError) Error() string { return e.Message }

// NewRootCommand builds the tkgcert command tree.
func NewRootCommand(streams genericiooptions.IOStreams) *cobra.Command {
	root := &cobra.Command{
		Use:   "tkgcert",
		Short: "Keep the certificates of TKG Service clusters from ever expiring",
		Long: `tkgcert shows and rotates the certificates of TKG Service clusters: Cluster API
clusters with a kubeadm control plane, managed from a vSphere Supervisor. It takes
kubectl's flags and also works as a kubectl plugin (kubectl tkgcert ...).

  tkgcert clusters -A                          earliest expiry of every cluster
  tkgcert check -n NAMESPACE CLUSTER           every certificate, as kubeadm shows it
  tkgcert rotate -n NAMESPACE CLUSTER          renew by rolling the control plane, verified
  tkgcert recover -n NAMESPACE CLUSTER         renew expired certificates in place, then rotate
  tkgcert controller                           rotate automatically before expiry, with metrics
  tkgcert supervisor check --vcenter HOST      Supervisor, ESXi and vCenter certificates (VMCA)

To try it on a simulated Supervisor, start one with tkgcert-lab up (make demo).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w\nSee '%s --help' for usage and examples", err, c.CommandPath())
	})
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.AddCommand(newVersionCommand(streams), newClustersCommand(streams), newCheckCommand(streams), newRotateCommand(streams), newRecoverCommand(streams),
		newKubeletCommand(streams), newControllerCommand(streams), newSupervisorCommand(streams))
	return root
}

// Execute runs the command line and returns the process exit code: 0 on
// success, the code of an ExitError, 1 for any other failure. Errors are
// printed once, as "error: <message>".
func Execute(ctx context.Context, streams genericiooptions.IOStreams, args []string) int {
	return execute(ctx, streams, NewRootCommand(streams), args)
}

func execute(ctx context.Context, streams genericiooptions.IOStreams, root *cobra.Command, args []string) int {
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	var exit *ExitError
	if errors.As(err, &exit) {
		if exit.Message != "" {
			fmt.Fprintf(streams.ErrOut, "error: %s\n", exit.Message)
		}
		return exit.Code
	}
	fmt.Fprintf(streams.ErrOut, "error: %v\n", err)
	return 1
}
