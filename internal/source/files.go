package source

import (
	"bufio"
	"bytes"
	"fmt"
	"strings"
	"testing/fstest"

	"k8s.io/client-go/util/cert"
	"sigs.k8s.io/yaml"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/certs/names"
)

// bundleScript prints a node's certificate-bearing files, each after a
// "@@tkgcert-file PATH" line, with private key blocks and client-key-data
// removed on the node by one awk pass; key files are only listed
// ("@@tkgcert-key PATH"). It is fed to `sudo sh -s` on stdin and runs in /,
// so paths are relative to the node's root. One awk for all files keeps the
// work on each node to a handful of processes.
const bundleScript = `cd / || exit 1
files=
for f in etc/kubernetes/pki/*.crt etc/kubernetes/pki/etcd/*.crt etc/kubernetes/*.conf var/lib/kubelet/config.yaml var/lib/kubelet/pki/kubelet-client-current.pem var/lib/kubelet/pki/kubelet.crt; do
  [ -f "$f" ] && files="$files $f"
done
if [ -n "$files" ]; then
  awk 'FNR == 1 { print "@@tkgcert-file " FILENAME; skip = 0 }
       /-----BEGIN [A-Z ]*PRIVATE KEY-----/ { skip = 1 }
       skip == 0 && !/client-key-data:/ { print }
       /-----END [A-Z ]*PRIVATE KEY-----/ { skip = 0 }' $files || exit 1
fi
for f in etc/kubernetes/pki/*.key etc/kubernetes/pki/etcd/*.key; do [ -e "$f" ] && echo "@@tkgcert-key $f"; done
echo "@@tkgcert-end"
`

// bundleCommand runs bundleScript as root.
const bundleCommand = "sudo sh -s"

// keyPlaceholder stands in for a key file that exists on the node.
var keyPlaceholder = []byte("present on the node; not transferred")

// parseBundle turns bundleScript's output into a file system rooted at the
// node's /. A stream without the end marker was cut short.
func parseBundle(out []byte) (fstest.MapFS, error) {
	fsys := fstest.MapFS{}
	var cur string
	var buf bytes.Buffer
	flush := func() {
		if cur != "" {
			fsys[cur] = &fstest.MapFile{Data: append([]byte(nil), buf.Bytes()...), Mode: 0o644}
		}
		cur = ""
		buf.Reset()
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	ended := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "@@tkgcert-file "):
			flush()
			cur = strings.TrimPrefix(line, "@@tkgcert-file ")
		case strings.HasPrefix(line, "@@tkgcert-key "):
			flush()
			fsys[strings.TrimPrefix(line, "@@tkgcert-key ")] = &fstest.MapFile{Data: keyPlaceholder, Mode: 0o600}
		case line == "@@tkgcert-end":
			flush()
			ended = true
		default:
			if cur != "" {
				buf.WriteString(line)
				buf.WriteByte('\n')
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if !ended {
		return nil, fmt.Errorf("the node's file listing was cut short")
	}
	return fsys, nil
}

// kubeletFromFiles reads the kubelet's rotation setting and client
// certificate; problems are returned as messages.
func kubeletFromFiles(fsys fstest.MapFS) (*Kubelet, []string) {
	k := &Kubelet{}
	var errs []string
	if f, ok := fsys["var/lib/kubelet/config.yaml"]; ok {
		var cfg struct {
			RotateCertificates *bool `json:"rotateCertificates"`
		}
		if err := yaml.Unmarshal(f.Data, &cfg); err != nil {
			errs = append(errs, fmt.Sprintf("parsing /var/lib/kubelet/config.yaml: %v", err))
		} else {
			// The kubelet's default for rotateCertificates is false when the
			// field is absent from a KubeletConfiguration file.
			off := false
			if cfg.RotateCertificates == nil {
				cfg.RotateCertificates = &off
			}
			k.RotateCertificates = cfg.RotateCertificates
		}
	} else {
		errs = append(errs, "/var/lib/kubelet/config.yaml not found")
	}
	if f, ok := fsys["var/lib/kubelet/pki/kubelet-client-current.pem"]; ok {
		cs, err := cert.ParseCertsPEM(f.Data)
		if err != nil || len(cs) == 0 {
			errs = append(errs, fmt.Sprintf("parsing /var/lib/kubelet/pki/kubelet-client-current.pem: %v", err))
		} else {
			c := certs.NewInfo("kubelet-client", names.CA, cs[0])
			k.ClientCertificate = &c
		}
	} else {
		errs = append(errs, "/var/lib/kubelet/pki/kubelet-client-current.pem not found")
	}
	return k, errs
}

// workerCatalogue is what a worker carries of the kubeadm PKI: the cluster
// CA certificate (no key).
func workerCatalogue(fsys fstest.MapFS) (*certs.Expiration, []string) {
	e := &certs.Expiration{}
	f, ok := fsys["etc/kubernetes/pki/ca.crt"]
	if !ok {
		return e, []string{"/etc/kubernetes/pki/ca.crt not found"}
	}
	cs, err := cert.ParseCertsPEM(f.Data)
	if err != nil || len(cs) == 0 {
		return e, []string{fmt.Sprintf("parsing /etc/kubernetes/pki/ca.crt: %v", err)}
	}
	a := certs.NewAuthority(names.CA, cs[0])
	a.ExternallyManaged = true // no ca.key on a worker
	e.Authorities = []certs.Info{a}
	return e, nil
}
