package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func runCLI(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = Execute(context.Background(), genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, args)
	return code, out.String(), errOut.String()
}

func TestVersionJSON(t *testing.T) {
	code, out, _ := runCLI("version", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	var v versionInfo
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("version -o json is not JSON: %v\n%s", err, out)
	}
	if v.Version == "" || v.ClusterAPI == "" || len(v.ClusterAPIAPI) != 2 {
		t.Errorf("version info %+v", v)
	}
}

func TestErrorsAreOneLineWithoutUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"version", "-o", "yaml"}, `error: unknown output format "yaml"`},
	} {
		code, out, errOut := runCLI(tc.args...)
		if code != 1 || out != "" || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "Usage:") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 and %q without usage", tc.args, code, out, errOut, tc.want)
		}
	}
}

func TestFlagErrorsPointToHelp(t *testing.T) {
	code, _, errOut := runCLI("check", "--no-such-flag")
	if code != 1 || !strings.Contains(errOut, "unknown flag: --no-such-flag") || !strings.Contains(errOut, "See 'tkgcert check --help'") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}

func TestExitErrorSetsTheExitCode(t *testing.T) {
	var out, errOut bytes.Buffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}
	root := NewRootCommand(streams)
	root.AddCommand(&cobra.Command{Use: "threshold", RunE: func(*cobra.Command, []string) error {
		return &ExitError{Code: 3, Message: "2 certificates expire within 7d"}
	}}, &cobra.Command{Use: "quiet", RunE: func(*cobra.Command, []string) error {
		return &ExitError{Code: 2}
	}})
	if code := execute(context.Background(), streams, root, []string{"threshold"}); code != 3 || errOut.String() != "error: 2 certificates expire within 7d\n" {
		t.Errorf("exit %d, stderr %q", code, errOut.String())
	}
	errOut.Reset()
	if code := execute(context.Background(), streams, root, []string{"quiet"}); code != 2 || errOut.String() != "" {
		t.Errorf("exit %d, stderr %q; want 2 and nothing printed", code, errOut.String())
	}
}

// check and kubelet take the same scope: names in a namespace, a whole
// namespace, or -A; names and -A do not mix.
func TestCheckAndKubeletAgreeOnScope(t *testing.T) {
	// An unreadable kubeconfig: accepted arguments get as far as loading it.
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, []byte("not: [a kubeconfig"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("KUBECONFIG", kc)
	for _, command := range []string{"check", "kubelet"} {
		for _, tc := range []struct {
			args []string
			want string
		}{
			{[]string{"-A"}, "loading the Supervisor's kubeconfig"},
			{[]string{"-n", "ns"}, "loading the Supervisor's kubeconfig"},
			{[]string{"-n", "ns", "a", "b"}, "loading the Supervisor's kubeconfig"},
			{[]string{"-A", "a"}, "cluster names and -A do not mix"},
			{[]string{"-A", "--warn", "1d", "--critical", "2d"}, "--critical (2d) must not exceed --warn (1d)"},
			{[]string{"-A", "--parallel", "0"}, "--parallel must be at least 1"},
		} {
			args := append([]string{command}, tc.args...)
			code, out, errOut := runCLI(args...)
			if code != 1 || out != "" || !strings.Contains(errOut, tc.want) {
				t.Errorf("%v: exit %d, stdout %q, stderr %q; want %q", args, code, out, errOut, tc.want)
			}
		}
	}
}

func TestSeveralSupervisorsOnlyWhereOneReport(t *testing.T) {
	// A kubeconfig with two contexts whose Supervisors are never reached:
	// the flags are refused before that.
	kc := filepath.Join(t.TempDir(), "kubeconfig")
	if err := os.WriteFile(kc, []byte(`apiVersion: v1
kind: Config
clusters:
- {name: a, cluster: {server: "https://127.0.0.1:1"}}
contexts:
- {name: a, context: {cluster: a}}
- {name: b, context: {cluster: a}}
current-context: a
`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"rotate", "-n", "x", "c", "--context", "a", "--context", "b"}, "works on one Supervisor at a time"},
		{[]string{"rotate", "-n", "x", "c", "--all-contexts"}, "unknown flag: --all-contexts"},
		{[]string{"check", "-A", "--all-contexts", "--context", "a"}, "--context and --all-contexts do not mix"},
	} {
		code, _, errOut := runCLI(append(tc.args, "--kubeconfig", kc)...)
		if code != 1 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %q", tc.args, code, errOut, tc.want)
		}
	}
	// check over both: each unreachable Supervisor is an error, the run
	// completes with exit 1 and a row per Supervisor.
	code, out, errOut := runCLI("clusters", "-A", "--all-contexts", "--kubeconfig", kc)
	if code != 1 || !hasFields(out, "a - - - - - - - - ERROR") || !hasFields(out, "b - - - - - - - - ERROR") {
		t.Errorf("clusters over two dead Supervisors: exit %d\n%s\n%s", code, out, errOut)
	}
}

func hasFields(out, want string) bool {
	for _, l := range strings.Split(out, "\n") {
		if strings.Join(strings.Fields(l), " ") == want {
			return true
		}
	}
	return false
}
