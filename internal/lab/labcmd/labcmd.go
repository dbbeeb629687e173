// Package labcmd is the tkgcert-lab command: `tkgcert-lab up` starts the lab
// (package lab) in the foreground, `tkgcert-lab down` stops it. It is a
// command of its own so that the lab's simulators, PKI generators and API
// server launcher stay out of the tkgcert binary and the controller image.
package labcmd

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

// NewCommand builds the tkgcert-lab command tree.
func NewCommand(streams genericiooptions.IOStreams) *cobra.Command {
	root := &cobra.Command{
		Use:   "tkgcert-lab",
		Short: "Run a local, simulated Supervisor with TKG clusters",
		Long: `The lab simulates a vSphere Supervisor with TKG Service clusters on this machine,
from real parts: a real kube-apiserver and etcd serving Cluster API's CRDs, a real
kube-apiserver per control-plane node with its own kubeadm PKI, and a real SSH server
per node whose sessions see the node's /etc/kubernetes with the real kubeadm on PATH.
It is a simulation of the vendor side, for demos and tests: no vSphere is involved.

It needs root (per-node loopback addresses, private mount namespaces) and the
binaries that ` + "`make tools`" + ` builds.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return fmt.Errorf("%w\nSee '%s --help' for usage and examples", err, c.CommandPath())
	})
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.AddCommand(newUpCommand(streams), newDownCommand(streams))
	return root
}

// Execute runs the command line and returns the process exit code: 0 on
// success, 1 on failure, with the error printed once as "error: <message>".
func Execute(ctx context.Context, streams genericiooptions.IOStreams, args []string) int {
	root := NewCommand(streams)
	root.SetArgs(args)
	if err := root.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(streams.ErrOut, "error: %v\n", err)
		return 1
	}
	return 0
}
