package sshd

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func TestSudoShim(t *testing.T) {
	dir := t.TempDir()
	if err := writeSudoShim(dir); err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	env := []string{
		"PATH=" + dir + ":" + systemPath,
		"HOME=" + home, "USER=" + testUser, "LOGNAME=" + testUser, "SHELL=/bin/bash",
	}
	for _, tc := range []struct {
		name       string
		args       []string
		wantOut    string
		wantErr    string
		wantStatus int
	}{
		{"plain", []string{"echo", "hi"}, "hi\n", "", 0},
		{"usual options", []string{"-E", "-n", "-H", "--", "echo", "a  b"}, "a  b\n", "", 0},
		{"as root", []string{"-u", "root", "id", "-u"}, "0\n", "", 0},
		{"as #0", []string{"--user=#0", "id", "-u"}, "0\n", "", 0},
		{"sudo's variables", []string{"sh", "-c", "echo $USER $LOGNAME $SUDO_USER $HOME"}, "root root " + testUser + " " + home + "\n", "", 0},
		{"login shell command", []string{"-iu", "root", "sh", "-c", `echo "$USER $0 it's"`}, "root sh it's\n", "", 0},
		{"-i runs a login shell", []string{"-i", "shopt", "-q", "login_shell"}, "", "", 0},
		{"-s runs a plain shell", []string{"-s", "shopt", "-q", "login_shell"}, "", "", 1},
		{"shell command", []string{"-s", "printf", "<%s>", "a b", "$HOME"}, "<a b><$HOME>", "", 0},
		{"exit status", []string{"sh", "-c", "exit 9"}, "", "", 9},
		{"validate", []string{"-v"}, "", "", 0},
		{"other user", []string{"-u", "nobody", "true"}, "", "sudo: unknown user nobody", 1},
		{"no command", nil, "", "usage: sudo", 1},
		{"unknown option", []string{"-x", "true"}, "", "sudo: invalid option -- 'x'", 1},
		{"no such command", []string{"no-such-command"}, "", "sudo: no-such-command: command not found", 1},
		{"builtins are not commands", []string{"cd", "/"}, "", "sudo: cd: command not found", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(filepath.Join(dir, "sudo"), tc.args...)
			cmd.Env = env
			var out, errb bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &errb
			err := cmd.Run()
			status := 0
			if ee, ok := err.(*exec.ExitError); ok {
				status = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if out.String() != tc.wantOut || status != tc.wantStatus || !strings.Contains(errb.String(), tc.wantErr) || tc.wantErr == "" && errb.Len() > 0 {
				t.Errorf("sudo %q: stdout %q, stderr %q, status %d; want %q, %q, %d", tc.args, out.String(), errb.String(), status, tc.wantOut, tc.wantErr, tc.wantStatus)
			}
		})
	}
}

func TestWriteSudoShimReplacesFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sudo")
	if err := os.WriteFile(p, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeSudoShim(dir); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o755 {
		t.Errorf("mode %v, want 0755", fi.Mode().Perm())
	}
}
