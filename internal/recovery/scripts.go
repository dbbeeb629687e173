package recovery

import (
	"fmt"
	"strings"
)

// Paths on the node.
const (
	kubernetesDir = "/etc/kubernetes"
	manifestsDir  = "/etc/kubernetes/manifests"
	kubeletPKIDir = "/var/lib/kubelet/pki"
	kubeletClient = "/var/lib/kubelet/pki/kubelet-client-current.pem"
	// stoppedDir holds the static pod manifests while they are moved out.
	stoppedDir = "/etc/kubernetes/tkgcert-manifests-stopped"
	// BackupPrefix starts the name of every backup directory in /etc/kubernetes.
	BackupPrefix = "/etc/kubernetes/tkgcert-backup-"
)

// Every script runs with `sudo sh -s` (POSIX sh, GNU or busybox tools),
// fed on stdin, and fails on the first failing command.
const scriptHeader = "set -eu\numask 077\n"

// backupScript copies /etc/kubernetes (but no earlier backup) to
// dir/kubernetes and /var/lib/kubelet/pki to dir/kubelet-pki, preserving
// modes, owners and links. It refuses to run when a previous run left
// manifests moved out.
func backupScript(dir string) string {
	return scriptHeader + fmt.Sprintf(`B=%s
if [ -d %s ] && [ -n "$(ls -A %s)" ]; then
  echo "%s holds static pod manifests a previous tkgcert run moved out: move them back to %s (or restore its backup) first" >&2
  exit 3
fi
mkdir "$B"
mkdir "$B/kubernetes"
cd %s
for f in * .[!.]*; do
  [ -e "$f" ] || [ -L "$f" ] || continue
  case "$f" in tkgcert-*) continue ;; esac
  cp -a "$f" "$B/kubernetes/"
done
if [ -d %s ]; then
  mkdir "$B/kubelet-pki"
  cp -a %s/. "$B/kubelet-pki/"
fi
sync
echo "$B"
`, shq(dir), stoppedDir, stoppedDir, stoppedDir, manifestsDir, kubernetesDir, kubeletPKIDir, kubeletPKIDir)
}

// fileWrite is one certificate file to replace.
type fileWrite struct {
	path string
	data []byte
}

// kubeconfigEdit replaces a kubeconfig's client-certificate-data value.
type kubeconfigEdit struct {
	path, old, new string
}

// kubeletWrite is a new kubelet client certificate to store next to the
// current one, with the current file's key.
type kubeletWrite struct {
	name    string // kubelet-client-<time>.pem
	certPEM []byte
}

// renewScript writes the renewed certificates in place: each file through
// a temporary file with the old file's mode, each kubeconfig with exactly
// the old client-certificate-data value replaced (the key lines untouched),
// and the kubelet's new certificate file with the key of the current one,
// then the kubelet-client-current.pem link moved to it.
func renewScript(files []fileWrite, edits []kubeconfigEdit, kubelet *kubeletWrite) string {
	var b strings.Builder
	b.WriteString(scriptHeader)
	b.WriteString(`replace() {
  cat > "$1.tkgcert-new"
  chmod "$(stat -c %a "$1")" "$1.tkgcert-new"
  mv -f "$1.tkgcert-new" "$1"
}
edit() {
  grep -q "client-certificate-data: $2\$" "$1" || { echo "$1: its client certificate changed since it was read" >&2; exit 1; }
  sed "s|client-certificate-data: $2\$|client-certificate-data: $3|" "$1" > "$1.tkgcert-new"
  chmod "$(stat -c %a "$1")" "$1.tkgcert-new"
  mv -f "$1.tkgcert-new" "$1"
  grep -q "client-certificate-data: $3\$" "$1"
}
`)
	for _, f := range files {
		fmt.Fprintf(&b, "replace %s <<'TKGCERT_EOF'\n%sTKGCERT_EOF\n", shq(f.path), f.data)
	}
	for _, e := range edits {
		fmt.Fprintf(&b, "edit %s %s %s\n", shq(e.path), e.old, e.new)
	}
	if kubelet != nil {
		fmt.Fprintf(&b, `d=%s
new=%s
{
  cat <<'TKGCERT_EOF'
%sTKGCERT_EOF
  awk '/-----BEGIN [A-Z ]*PRIVATE KEY-----/ { k = 1 } k { print } /-----END [A-Z ]*PRIVATE KEY-----/ { k = 0 }' %s
} > "$d/$new.tkgcert-new"
grep -q 'PRIVATE KEY-----' "$d/$new.tkgcert-new" || { echo "%s holds no private key" >&2; rm -f "$d/$new.tkgcert-new"; exit 1; }
chmod 600 "$d/$new.tkgcert-new"
mv -f "$d/$new.tkgcert-new" "$d/$new"
ln -sfn "$new" %s
`, kubeletPKIDir, shq(kubelet.name), kubelet.certPEM, kubeletClient, kubeletClient, kubeletClient)
	}
	b.WriteString("sync\necho renewed\n")
	return b.String()
}

// stopScript moves every static pod manifest out of the kubelet's manifest
// directory, kubeadm's documented way of stopping (and, moved back,
// restarting) the control-plane pods. It prints how many it moved.
const stopScript = scriptHeader + `mkdir -p ` + stoppedDir + `
n=0
for f in ` + manifestsDir + `/* ` + manifestsDir + `/.[!.]*; do
  [ -e "$f" ] || continue
  mv "$f" ` + stoppedDir + `/
  n=$((n + 1))
done
echo "$n"
`

// startScript moves the manifests back. With breakAPIServer (fault
// injection for rehearsals) the API server's manifest gets a flag
// kube-apiserver does not know, so that it really fails to start.
func startScript(breakAPIServer bool) string {
	var b strings.Builder
	b.WriteString(scriptHeader)
	if breakAPIServer {
		fmt.Fprintf(&b, "sed -i 's|^\\( *\\)- kube-apiserver$|&\\n\\1- --tkgcert-injected-fault|' %s/kube-apiserver.yaml\n", stoppedDir)
	}
	fmt.Fprintf(&b, `for f in %s/* %s/.[!.]*; do
  [ -e "$f" ] || continue
  mv "$f" %s/
done
rmdir %s
echo started
`, stoppedDir, stoppedDir, manifestsDir, stoppedDir)
	return b.String()
}

// restoreScript puts the backup back: /etc/kubernetes (but its backups)
// and /var/lib/kubelet/pki become the backup's copies again. The static pod
// manifests (moved out by stopScript first) come back last, once every file
// the pods read is in place.
func restoreScript(dir string) string {
	return scriptHeader + fmt.Sprintf(`B=%s
[ -d "$B/kubernetes" ] || { echo "backup $B/kubernetes not found" >&2; exit 3; }
cd %s
for f in * .[!.]*; do
  [ -e "$f" ] || [ -L "$f" ] || continue
  case "$f" in tkgcert-*) continue ;; esac
  rm -rf "$f"
done
for f in "$B"/kubernetes/* "$B"/kubernetes/.[!.]*; do
  [ -e "$f" ] || [ -L "$f" ] || continue
  [ "$f" = "$B/kubernetes/manifests" ] && continue
  cp -a "$f" %s/
done
if [ -d "$B/kubelet-pki" ]; then
  find %s -mindepth 1 -maxdepth 1 -exec rm -rf {} +
  cp -a "$B/kubelet-pki/." %s/
fi
sync
if [ -d "$B/kubernetes/manifests" ]; then
  cp -a "$B/kubernetes/manifests" %s/
fi
rm -rf %s
sync
echo restored
`, shq(dir), kubernetesDir, kubernetesDir, kubeletPKIDir, kubeletPKIDir, kubernetesDir, stoppedDir)
}

// kubeletRestartScript restarts the kubelet where systemd runs it, so that
// it loads the renewed client certificate; it prints what it did.
const kubeletRestartScript = scriptHeader + `if command -v systemctl >/dev/null 2>&1 && systemctl cat kubelet.service >/dev/null 2>&1; then
  systemctl restart kubelet.service
  echo restarted
else
  echo "no systemd kubelet.service"
fi
`

// shq single-quotes s for sh.
func shq(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
