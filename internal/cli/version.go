package cli

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/tkgcert/tkgcert/internal/capi"
	"github.com/tkgcert/tkgcert/internal/printer"
	"github.com/tkgcert/tkgcert/internal/version"
)

type versionOptions struct {
	genericiooptions.IOStreams
	print *printer.PrintFlags
}

// versionInfo is what `tkgcert version -o json` prints.
type versionInfo struct {
	Version       string   `json:"version"`
	GoVersion     string   `json:"goVersion"`
	Platform      string   `json:"platform"`
	ClusterAPI    string   `json:"clusterAPI"`
	ClusterAPIAPI []string `json:"clusterAPIVersions"`
}

func newVersionCommand(streams genericiooptions.IOStreams) *cobra.Command {
	o := &versionOptions{IOStreams: streams, print: printer.NewPrintFlags(printer.Text, printer.JSON)}
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the tkgcert version",
		Example: `  tkgcert version
  tkgcert version -o json`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run()
		},
	}
	o.print.AddFlags(cmd)
	return cmd
}

// Validate checks -o.
func (o *versionOptions) Validate() error { return o.print.Validate() }

// Run prints the version.
func (o *versionOptions) Run() error {
	info := versionInfo{
		Version:    version.Get(),
		GoVersion:  runtime.Version(),
		Platform:   runtime.GOOS + "/" + runtime.GOARCH,
		ClusterAPI: capi.ReleaseVersion(),
	}
	for _, v := range capi.Versions {
		info.ClusterAPIAPI = append(info.ClusterAPIAPI, string(v))
	}
	return o.print.Print(o.Out, info, func() error {
		_, err := fmt.Fprintf(o.Out, "tkgcert %s (%s, %s)\nCluster API %s, API versions %v\n",
			info.Version, info.GoVersion, info.Platform, info.ClusterAPI, info.ClusterAPIAPI)
		return err
	})
}
