package source

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"regexp"
	"strings"
	"testing/fstest"

	"k8s.io/client-go/util/cert"
	"sigs.k8s.io/yaml"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/certs/names"
)

// bundleScript prints a node's certificate-bearing files, each after a
// "@@tkgcert-file PATH" line, through an allowlist applied on the node by one
// awk pass: of a certificate file (*.crt, *.pem) only its CERTIFICATE
// blocks; of a kubeconfig (*.conf) only the lines that name its structure,
// server, CA and client certificate (see confLine); of the kubelet's
// config only rotateCertificates. Everything else (private key blocks,
// client-key-data, tokens, a kubeconfig in JSON form) stays on the node.
// Key files are only listed ("@@tkgcert-key PATH"). It is fed to
// `sudo sh -s` on stdin and runs in /, so paths are relative to the node's
// root. One awk for all files keeps the work on each node to a handful of
// processes. parseBundle applies the same allowlist again on receipt.
var bundleScript = `cd / || exit 1
files=
for f in ` + strings.Join(fileGlobs, " ") + `; do
  [ -f "$f" ] && files="$files $f"
done
if [ -n "$files" ]; then
  awk 'FNR == 1 { print "@@tkgcert-file " FILENAME; k = "pem"; inpem = 0
                  if (FILENAME ~ /[.]conf$/) k = "conf"; if (FILENAME ~ /config[.]yaml$/) k = "kubelet" }
       { sub(/\r$/, "") }
       k == "pem" && $0 == "-----BEGIN CERTIFICATE-----" { inpem = 1; print; next }
       k == "pem" && $0 == "-----END CERTIFICATE-----" { if (inpem) print; inpem = 0; next }
       k == "pem" { if (inpem && $0 ~ /` + awkRE(pemLineRE) + `/) print; next }
       k == "conf" { if ($0 ~ /` + awkRE(confLineRE) + `/) print; next }
       k == "kubelet" { if ($0 ~ /` + awkRE(kubeletLineRE) + `/) print; next }' $files || exit 1
fi
for f in ` + strings.Join(keyGlobs, " ") + `; do [ -e "$f" ] && echo "@@tkgcert-key $f"; done
echo "@@tkgcert-end"
`

// fileGlobs are the files the bundle carries (relative to /), keyGlobs the
// key files it only lists.
var (
	fileGlobs = []string{"etc/kubernetes/pki/*.crt", "etc/kubernetes/pki/etcd/*.crt", "etc/kubernetes/*.conf",
		"var/lib/kubelet/config.yaml", "var/lib/kubelet/pki/kubelet-client-current.pem", "var/lib/kubelet/pki/kubelet.crt"}
	keyGlobs = []string{"etc/kubernetes/pki/*.key", "etc/kubernetes/pki/etcd/*.key"}
)

// The allowlist's line patterns: POSIX extended regular expressions that
// awk and Go's regexp read alike (awkRE escapes their slashes for awk's
// /.../).
const (
	// pemLineRE is a line of base64 inside a CERTIFICATE block.
	pemLineRE = `^[A-Za-z0-9+=/]+$`
	// confLineRE is a kubeconfig line that names its structure, server,
	// CA data or client certificate (data or path), with a plain value.
	// client-key-data, token, exec, auth-provider, username and password
	// are not in it. A value is a plain or double-quoted scalar, or the
	// empty {} or []: a flow mapping with content ({"token":"..."}) would
	// carry any field on an allowed key's line.
	confLineRE = `^ *(- )?(apiVersion|kind|clusters|contexts|users|current-context|preferences|name|cluster|context|user|namespace|server|certificate-authority-data|client-certificate-data|client-certificate):( +([A-Za-z0-9+=:._@/-]*|"[A-Za-z0-9+=:._@/-]*"|[{][}]|[[][]]))? *$`
	// kubeletLineRE is the kubelet config's rotation setting.
	kubeletLineRE = `^rotateCertificates: *(true|false) *$`
)

// awkRE quotes re's slashes for an awk regular expression constant.
func awkRE(re string) string { return strings.ReplaceAll(re, "/", `\/`) }

// The allowlist, compiled for parseBundle.
var (
	pemLine     = regexp.MustCompile(pemLineRE)
	confLine    = regexp.MustCompile(confLineRE)
	kubeletLine = regexp.MustCompile(kubeletLineRE)
)

// bundleCommand runs bundleScript as root.
const bundleCommand = "sudo sh -s"

// keyPlaceholder stands in for a key file that exists on the node.
var keyPlaceholder = []byte("present on the node; not transferred")

// parseBundle turns bundleScript's output into a file system rooted at the
// node's /. It applies the node's allowlist again, so that whatever the node
// sent, tkgcert holds only certificates and the kubeconfig lines it needs:
// a file outside fileGlobs (or a key outside keyGlobs) is an error, a line
// outside the allowlist is dropped. A stream without the end marker was cut
// short.
func parseBundle(out []byte) (fstest.MapFS, error) {
	fsys := fstest.MapFS{}
	var (
		cur   string
		kind  fileKind
		inPEM bool
		buf   bytes.Buffer
	)
	flush := func() {
		if cur != "" {
			fsys[cur] = &fstest.MapFile{Data: append([]byte(nil), buf.Bytes()...), Mode: 0o644}
		}
		cur = ""
		buf.Reset()
	}
	sc := bufio.NewScanner(bytes.NewReader(out))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	ended := false
	for sc.Scan() {
		line := sc.Text()
		switch {
		case ended:
			return nil, errors.New("the node's file listing goes on after its end marker")
		case strings.HasPrefix(line, "@@tkgcert-file "):
			flush()
			p := strings.TrimPrefix(line, "@@tkgcert-file ")
			if !matchesAny(p, fileGlobs) {
				return nil, fmt.Errorf("the node's file listing names %q, which tkgcert did not ask for", p)
			}
			cur, kind, inPEM = p, kindOf(p), false
		case strings.HasPrefix(line, "@@tkgcert-key "):
			flush()
			p := strings.TrimPrefix(line, "@@tkgcert-key ")
			if !matchesAny(p, keyGlobs) {
				return nil, fmt.Errorf("the node's file listing names %q, which tkgcert did not ask for", p)
			}
			fsys[p] = &fstest.MapFile{Data: keyPlaceholder, Mode: 0o600}
		case line == "@@tkgcert-end":
			flush()
			ended = true
		case cur != "":
			line = strings.TrimSuffix(line, "\r")
			keep := false
			switch kind {
			case pemFile:
				switch line {
				case "-----BEGIN CERTIFICATE-----":
					keep, inPEM = true, true
				case "-----END CERTIFICATE-----":
					keep, inPEM = inPEM, false
				default:
					keep = inPEM && pemLine.MatchString(line)
				}
			case confFile:
				keep = confLine.MatchString(line)
			case kubeletFile:
				keep = kubeletLine.MatchString(line)
			}
			if keep {
				buf.WriteString(line)
				buf.WriteByte('\n')
			}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("the node's file listing: %w", err)
	}
	if !ended {
		return nil, fmt.Errorf("the node's file listing was cut short")
	}
	return fsys, nil
}

// fileKind is which allowlist a bundled file goes through.
type fileKind int

const (
	pemFile fileKind = iota
	confFile
	kubeletFile
)

func kindOf(p string) fileKind {
	switch {
	case strings.HasSuffix(p, ".conf"):
		return confFile
	case strings.HasSuffix(p, "config.yaml"):
		return kubeletFile
	}
	return pemFile
}

// matchesAny tells whether p is a valid slash path matched by one of globs.
func matchesAny(p string, globs []string) bool {
	if !fs.ValidPath(p) {
		return false
	}
	for _, g := range globs {
		if ok, _ := path.Match(g, p); ok {
			return true
		}
	}
	return false
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
