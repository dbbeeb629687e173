package remote

import (
	"os"
	"path/filepath"
	"testing"
)

func TestForgetHosts(t *testing.T) {
	path := filepath.Join(t.TempDir(), "known_hosts")
	content := "127.10.0.10 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOld\n" +
		"127.10.0.11 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeep\n" +
		"[127.0.0.1]:2222 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPort\n" +
		"127.10.0.10,127.10.0.12 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMixed\n" +
		"|1|hash= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHashed\n" +
		"# a comment\n"
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	n, err := ForgetHosts(path, []string{"127.10.0.10:22", "127.0.0.1:2222", "127.10.0.99:22"})
	if err != nil || n != 2 {
		t.Fatalf("ForgetHosts = %d, %v; want 2 lines removed", n, err)
	}
	got, _ := os.ReadFile(path)
	want := "127.10.0.11 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKeep\n" +
		"127.10.0.10,127.10.0.12 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMixed\n" +
		"|1|hash= ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHashed\n" +
		"# a comment\n"
	if string(got) != want {
		t.Errorf("file after:\n%s\nwant:\n%s", got, want)
	}
	if n, err := ForgetHosts(filepath.Join(t.TempDir(), "none"), []string{"127.10.0.10:22"}); n != 0 || err != nil {
		t.Errorf("missing file: %d, %v", n, err)
	}
}
