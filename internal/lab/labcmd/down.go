package labcmd

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/tkgcert/tkgcert/internal/lab"
)

type downOptions struct {
	genericiooptions.IOStreams
	stateDir string
	timeout  time.Duration
}

func newDownCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &downOptions{IOStreams: streams}
	cmd := &cobra.Command{
		Use:     "down",
		Short:   "Stop the lab running in a state directory",
		Example: "  tkgcert-lab down\n  tkgcert-lab down --state-dir /tmp/lab",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := lab.Down(o.stateDir, o.timeout); err != nil {
				return err
			}
			fmt.Fprintf(o.Out, "Lab in %s stopped\n", o.stateDir)
			return nil
		},
	}
	cmd.Flags().StringVar(&o.stateDir, "state-dir", ".tkgcert-lab", "State directory of the running lab")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 2*time.Minute, "How long to wait for the lab to stop")
	return cmd
}
