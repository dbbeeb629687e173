package cli

import (
	"strings"
	"testing"
)

func TestRecoverRefusesBadFlagsBeforeConnecting(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"recover"}, "accepts 1 arg(s), received 0"},
		{[]string{"recover", "-A", "c"}, "recover works on one cluster"},
		{[]string{"recover", "c", "-o", "yaml"}, `unknown output format "yaml": use table or json`},
		{[]string{"recover", "c", "--node-timeout", "0s"}, "must be positive"},
		{[]string{"recover", "c", "--inject-fault", "node-1"}, `--inject-fault: want NODE:STEP, got "node-1"`},
		{[]string{"recover", "c", "--inject-fault", "node-1:reboot"}, `unknown step "reboot" (steps: read, backup, renew, restart, apiserver, kubelet)`},
	} {
		// No kubeconfig points anywhere: a flag error must come first.
		t.Setenv("KUBECONFIG", "/nonexistent/kubeconfig")
		code, out, errOut := runCLI(tc.args...)
		if code != 1 || out != "" || !strings.Contains(errOut, tc.want) || strings.Contains(errOut, "loading the Supervisor") {
			t.Errorf("%v: exit %d, stdout %q, stderr %q; want %q", tc.args, code, out, errOut, tc.want)
		}
	}
}

func TestRecoverHelpHidesTheFaultHook(t *testing.T) {
	code, out, _ := runCLI("recover", "--help")
	if code != 0 || !strings.Contains(out, "--then-rotate") || !strings.Contains(out, "tkgcert recover -n tkg-cluster-ns tkg-cluster --dry-run") || strings.Contains(out, "inject-fault") {
		t.Errorf("exit %d\n%s", code, out)
	}
	if _, out, _ := runCLI("--help"); !strings.Contains(out, "tkgcert recover -n NAMESPACE CLUSTER") {
		t.Errorf("root help lacks recover:\n%s", out)
	}
}
