package labcmd

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"k8s.io/cli-runtime/pkg/genericiooptions"
)

func run(args ...string) (code int, stdout, stderr string) {
	var out, errOut bytes.Buffer
	code = Execute(context.Background(), genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}, args)
	return code, out.String(), errOut.String()
}

func TestErrorsAreOneLineWithoutUsage(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"up", "--cluster", "prod/old:broken", "--state-dir", "/nonexistent/never"}, `unknown scenario "broken"`},
		{[]string{"up", "--capi-version", "v1alpha4", "--state-dir", "/nonexistent/never"}, `unsupported Cluster API version "v1alpha4"`},
		{[]string{"down", "--state-dir", "/nonexistent/never"}, "no lab is running in /nonexistent/never"},
	} {
		code, out, errOut := run(tc.args...)
		if code != 1 || out != "" || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "Usage:") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want exit 1 and %q without usage", tc.args, code, out, errOut, tc.want)
		}
	}
}

func TestFlagErrorsPointToHelp(t *testing.T) {
	code, _, errOut := run("up", "--no-such-flag")
	if code != 1 || !strings.Contains(errOut, "unknown flag: --no-such-flag") || !strings.Contains(errOut, "See 'tkgcert-lab up --help'") {
		t.Fatalf("exit %d, stderr %q", code, errOut)
	}
}
