package cli

import (
	"encoding/json"
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/tkgcert/tkgcert/internal/capi"
	"github.com/tkgcert/tkgcert/internal/version"
)

type versionOptions struct {
	genericiooptions.IOStreams
	output string
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
	o := &versionOptions{IOStreams: streams}
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
	cmd.Flags().StringVarP(&o.output, "output", "o", "", "Output format: empty for text, or json")
	return cmd
}

func (o *versionOptions) Validate() error {
	if o.output != "" && o.output != "json" {
		return fmt.Errorf("unknown output format %q: use json, or omit -o for text", o.output)
	}
	return nil
}

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
	if o.output == "json" {
		enc := json.NewEncoder(o.Out)
		enc.SetIndent("", "  ")
		return enc.Encode(info)
	}
	_, err := fmt.Fprintf(o.Out, "tkgcert %s (%s, %s)\nCluster API %s, API versions %v\n",
		info.Version, info.GoVersion, info.Platform, info.ClusterAPI, info.ClusterAPIAPI)
	return err
}
