package certs

import (
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"strings"
	"time"

	"k8s.io/client-go/util/cert"
	"k8s.io/client-go/util/keyutil"
)

// ReadOptions tune ReadNodeWithOptions. The zero value reads a stacked-etcd
// node with kubeadm's default directories, leniently.
type ReadOptions struct {
	// CertificatesDir is the PKI directory as a slash path relative to the
	// node's root (kubeadm's ClusterConfiguration.certificatesDir without
	// the leading slash). Empty means DefaultCertificatesDir. Kubeconfig
	// files are always read from KubernetesDir, as kubeadm does.
	CertificatesDir string

	// ExternalEtcd leaves out the etcd certificates and the etcd CA, as
	// kubeadm does when the cluster configuration uses external etcd
	// (which also drops apiserver-etcd-client).
	ExternalEtcd bool

	// Strict makes reading fail wherever kubeadm v1.36's check-expiration
	// fails, instead of reporting what can be read:
	//   - a CA certificate that is absent, unreadable or not a CA while a
	//     certificate it signs (or the CA itself) is present;
	//   - a CA whose key is absent (an external CA) while one of the
	//     certificates kubeadm validates against it has no loadable RSA or
	//     ECDSA key, or does not verify against the CA at Now (so an
	//     expired certificate under an external CA fails too);
	//   - a kubeconfig whose current context's cluster is missing or has no
	//     embedded certificate-authority-data, or whose user has no embedded
	//     client-certificate-data, or any kubeconfig while pki/ca.crt cannot
	//     be loaded.
	// Without Strict, an unusable CA makes ExternallyManaged false, a CA
	// without key makes it true without further checks (no private key is
	// read at all), and a kubeconfig's client certificate may also be a
	// client-certificate file path, resolved inside the node's file system
	// relative to the kubeconfig's directory.
	Strict bool

	// Now is the time at which Strict verifies certificate chains; zero
	// means time.Now().
	Now time.Time
}

// ReadNode reads kubeadm's certificate-expiration catalogue from a node's
// files. fsys is the node's root file system: certificates are read from
// "etc/kubernetes/pki" (*.crt and, to decide whether a CA is external, the
// presence of its *.key) and "etc/kubernetes/pki/etcd", client certificates
// from "etc/kubernetes/{admin,super-admin,controller-manager,scheduler}.conf".
//
// As kubeadm does, a file that does not exist (or is a directory) yields a
// Missing row rather than an error, the first certificate of a PEM bundle
// is used, and the rows come in kubeadm's order. A certificate that cannot
// be parsed is an error naming the file. If fsys implements fs.ReadLinkFS
// (os.DirFS and fstest.MapFS do), symbolic links are resolved inside fsys,
// absolute targets relative to its root.
//
// ReadNode is ReadNodeWithOptions with the zero ReadOptions (lenient).
func ReadNode(fsys fs.FS) (*Expiration, error) {
	return ReadNodeWithOptions(fsys, ReadOptions{})
}

// ReadNodeWithOptions is ReadNode with options.
func ReadNodeWithOptions(fsys fs.FS, opts ReadOptions) (*Expiration, error) {
	r := &nodeReader{fsys: fsys, opts: opts, dir: certDir(opts.CertificatesDir), external: map[string]externalResult{}}
	if r.opts.Now.IsZero() {
		r.opts.Now = time.Now()
	}
	e := &Expiration{}
	for _, s := range certificateSpecs {
		if s.Etcd && opts.ExternalEtcd {
			continue
		}
		p := s.CertPath(r.dir)
		ok, err := r.exists(p)
		if err != nil {
			return nil, err
		}
		if !ok {
			e.Certificates = append(e.Certificates, Info{Name: s.Name, Missing: true})
			continue
		}
		ext, err := r.externallyManaged(s.CAName)
		if err != nil {
			return nil, fmt.Errorf("checking %s: %w", s.Name, err)
		}
		var cert *x509.Certificate
		if s.Kubeconfig {
			cert, err = r.kubeconfigCertificate(p)
		} else {
			cert, err = r.certificate(p)
		}
		if err != nil {
			return nil, err
		}
		c := NewInfo(s.Name, s.CAName, cert)
		c.ExternallyManaged = ext
		e.Certificates = append(e.Certificates, c)
	}
	for _, s := range authoritySpecs {
		if s.Etcd && opts.ExternalEtcd {
			continue
		}
		p := s.CertPath(r.dir)
		ok, err := r.exists(p)
		if err != nil {
			return nil, err
		}
		if !ok {
			e.Authorities = append(e.Authorities, Info{Name: s.Name, IsCA: true, Missing: true})
			continue
		}
		ext, err := r.externallyManaged(s.Name)
		if err != nil {
			return nil, fmt.Errorf("checking %s: %w", s.Name, err)
		}
		cert, err := r.certificate(p)
		if err != nil {
			return nil, err
		}
		a := NewAuthority(s.Name, cert)
		a.ExternallyManaged = ext
		e.Authorities = append(e.Authorities, a)
	}
	return e, nil
}

// NewInfo returns the Info of an x509 certificate, with every field but
// ExternallyManaged, Missing, ResidualSeconds and Location filled; IsCA is
// the certificate's basic constraint.
func NewInfo(name, caName string, c *x509.Certificate) Info {
	out := Info{
		Name:         name,
		CAName:       caName,
		IsCA:         c.IsCA,
		NotAfter:     c.NotAfter.UTC(),
		NotBefore:    c.NotBefore.UTC(),
		Subject:      c.Subject.String(),
		Issuer:       c.Issuer.String(),
		SerialNumber: serialHex(c),
	}
	if len(c.DNSNames) > 0 {
		out.DNSNames = append([]string(nil), c.DNSNames...)
	}
	for _, ip := range c.IPAddresses {
		out.IPAddresses = append(out.IPAddresses, ip.String())
	}
	return out
}

// NewAuthority returns the Info of a certificate used as a CA (a row of
// kubeadm's CA table, a CA secret): NewInfo without SANs, with IsCA set.
func NewAuthority(name string, c *x509.Certificate) Info {
	i := NewInfo(name, "", c)
	i.IsCA, i.DNSNames, i.IPAddresses = true, nil, nil
	return i
}

// serialHex formats a serial number as upper-case hex in whole bytes.
func serialHex(c *x509.Certificate) string {
	if c.SerialNumber == nil {
		return ""
	}
	s := strings.ToUpper(c.SerialNumber.Text(16))
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	if len(s)%2 == 1 {
		s = "0" + s
	}
	if neg {
		s = "-" + s
	}
	return s
}

// KubeconfigClientCertificate returns the client certificate of the current
// context's user of the kubeconfig at name (a slash path inside fsys), such
// as "etc/kubernetes/kubelet.conf": the embedded client-certificate-data,
// or else the client-certificate file, resolved inside fsys relative to the
// kubeconfig's directory (absolute paths relative to the root of fsys).
func KubeconfigClientCertificate(fsys fs.FS, name string) (*x509.Certificate, error) {
	r := &nodeReader{fsys: fsys, dir: DefaultCertificatesDir}
	return r.kubeconfigCertificate(name)
}

type externalResult struct {
	external bool
	err      error
}

type nodeReader struct {
	fsys     fs.FS
	opts     ReadOptions
	dir      string
	external map[string]externalResult
}

// exists mirrors kubeadm's fileExists: a file that does not exist or is a
// directory is absent; any other stat error is an error.
func (r *nodeReader) exists(name string) (bool, error) {
	p, err := resolve(r.fsys, name)
	if err != nil {
		return false, fmt.Errorf("checking %s: %w", name, err)
	}
	fi, err := fs.Stat(r.fsys, p)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return false, fmt.Errorf("checking %s: %w", name, err)
	}
	return !fi.IsDir(), nil
}

func (r *nodeReader) readFile(name string) ([]byte, error) {
	p, err := resolve(r.fsys, name)
	if err != nil {
		return nil, err
	}
	return fs.ReadFile(r.fsys, p)
}

// certificates reads a PEM file of certificates.
func (r *nodeReader) certificates(name string) ([]*x509.Certificate, error) {
	data, err := r.readFile(name)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	certs, err := cert.ParseCertsPEM(data)
	if err != nil {
		return nil, fmt.Errorf("parsing %s: %w", name, err)
	}
	return certs, nil
}

// certificate reads the first certificate of a PEM file.
func (r *nodeReader) certificate(name string) (*x509.Certificate, error) {
	certs, err := r.certificates(name)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

// externallyManaged decides, as kubeadm's Manager.IsExternallyManaged does,
// whether the CA named caName is external: its certificate loads and is a
// CA, and its key file does not exist. In strict mode it also validates the
// certificates kubeadm validates against an external CA.
func (r *nodeReader) externallyManaged(caName string) (bool, error) {
	if res, ok := r.external[caName]; ok {
		return res.external, res.err
	}
	ext, err := r.computeExternal(caName)
	if !r.opts.Strict {
		err = nil
	}
	r.external[caName] = externalResult{external: ext, err: err}
	return ext, err
}

func (r *nodeReader) computeExternal(caName string) (bool, error) {
	base := authorityBaseName(caName)
	caSpec := Spec{Name: caName, BaseName: base}
	caPath := caSpec.CertPath(r.dir)
	caCert, err := r.certificate(caPath)
	if err != nil {
		return false, fmt.Errorf("checking whether CA %s is external: %w", caName, err)
	}
	if !caCert.IsCA {
		return false, fmt.Errorf("checking whether CA %s is external: %s is not a CA certificate", caName, caPath)
	}
	// kubeadm: any stat result but "does not exist" means the key is there.
	keyPath := caSpec.KeyPath(r.dir)
	p, err := resolve(r.fsys, keyPath)
	if err == nil {
		_, err = fs.Stat(r.fsys, p)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if !r.opts.Strict {
		return true, nil
	}
	for _, signed := range externalCAChecks[caName] {
		s := Spec{BaseName: signed}
		if err := r.validateSigned(s.CertPath(r.dir), s.KeyPath(r.dir), caCert); err != nil {
			return true, fmt.Errorf("CA %s is external (%s absent): %w", caName, keyPath, err)
		}
	}
	return true, nil
}

// validateSigned mirrors kubeadm's validateSignedCertWithCA: the key must
// load as RSA or ECDSA, and the certificate (with any intermediates in the
// same file) must verify against the CA.
func (r *nodeReader) validateSigned(certPath, keyPath string, ca *x509.Certificate) error {
	data, err := r.readFile(keyPath)
	if err != nil {
		return fmt.Errorf("reading key %s: %w", keyPath, err)
	}
	if err := checkPrivateKeyPEM(data); err != nil {
		return fmt.Errorf("loading key %s: %w", keyPath, err)
	}
	certs, err := r.certificates(certPath)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	intermediates := x509.NewCertPool()
	for _, c := range certs[1:] {
		intermediates.AddCert(c)
	}
	_, err = certs[0].Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: intermediates,
		KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		CurrentTime:   r.opts.Now,
	})
	if err != nil {
		return fmt.Errorf("%s is not signed by the CA: %w", certPath, err)
	}
	return nil
}

// checkPrivateKeyPEM reports whether PEM data holds an RSA or ECDSA private
// key the way kubeadm's TryLoadKeyFromDisk accepts it (client-go's
// keyutil). The key is discarded.
func checkPrivateKeyPEM(data []byte) error {
	key, err := keyutil.ParsePrivateKeyPEM(data)
	if err != nil {
		return err
	}
	switch key.(type) {
	case *rsa.PrivateKey, *ecdsa.PrivateKey:
		return nil
	default:
		return errors.New("the private key is neither in RSA nor ECDSA format")
	}
}

// kubeconfigCertificate mirrors kubeadm's kubeConfigReadWriter.Read: the
// client certificate of the current context's user.
func (r *nodeReader) kubeconfigCertificate(name string) (*x509.Certificate, error) {
	data, err := r.readFile(name)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", name, err)
	}
	if r.opts.Strict {
		// kubeadm loads the cluster CA to be able to rewrite the file.
		caPath := Spec{BaseName: "ca"}.CertPath(r.dir)
		if _, err := r.certificate(caPath); err != nil {
			return nil, fmt.Errorf("reading kubeconfig %s: %w", name, err)
		}
	}
	u, err := ParseKubeconfigUser(data)
	switch {
	case errors.Is(err, ErrKubeconfigNoContext) || errors.Is(err, ErrKubeconfigNoUser):
		return nil, fmt.Errorf("invalid kubeconfig %s: %w", name, err)
	case err != nil:
		return nil, fmt.Errorf("parsing kubeconfig %s: %w", name, err)
	}
	if r.opts.Strict {
		if u.Cluster == nil {
			return nil, fmt.Errorf("invalid kubeconfig %s: missing cluster %q", name, u.ClusterName)
		}
		if len(u.Cluster.CertificateAuthorityData) == 0 {
			return nil, fmt.Errorf("kubeconfig %s does not have an embedded server certificate", name)
		}
	}
	certData, source := u.AuthInfo.ClientCertificateData, name
	if len(certData) == 0 {
		if r.opts.Strict || u.AuthInfo.ClientCertificate == "" {
			return nil, fmt.Errorf("kubeconfig %s does not have an embedded client certificate", name)
		}
		source = u.AuthInfo.ClientCertificate
		if path.IsAbs(source) {
			source = strings.TrimLeft(source, "/")
		} else {
			source = path.Join(path.Dir(name), source)
		}
		source = path.Clean(source)
		if certData, err = r.readFile(source); err != nil {
			return nil, fmt.Errorf("reading client certificate of kubeconfig %s: %w", name, err)
		}
	}
	certs, err := cert.ParseCertsPEM(certData)
	if err != nil {
		if source != name {
			return nil, fmt.Errorf("parsing client certificate %s of kubeconfig %s: %w", source, name, err)
		}
		return nil, fmt.Errorf("kubeconfig %s does not contain a valid client certificate: %w", name, err)
	}
	return certs[0], nil
}

// maxLinks bounds symbolic-link resolution, like Linux's MAXSYMLINKS.
const maxLinks = 40

// resolve resolves symbolic links in name inside fsys when fsys implements
// fs.ReadLinkFS, so that absolute link targets stay inside the node's root.
// A component that does not exist ends resolution at that component; the
// caller's Stat or Open then reports it. (Not at the whole remaining path:
// "missing/../x" would then be cleaned to "x", which the kernel would not
// reach, and whose own links the file system would follow unchecked.)
func resolve(fsys fs.FS, name string) (string, error) {
	rl, ok := fsys.(fs.ReadLinkFS)
	if !ok {
		return name, nil
	}
	parts := strings.Split(name, "/")
	resolved := "" // the root
	hops := 0
	for i := 0; i < len(parts); i++ {
		part := parts[i]
		switch part {
		case "", ".":
			continue
		case "..":
			resolved = parentDir(resolved)
			continue
		}
		next := path.Join(resolved, part)
		fi, err := rl.Lstat(next)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				return next, nil
			}
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			resolved = next
			continue
		}
		if hops++; hops > maxLinks {
			return "", &fs.PathError{Op: "resolve", Path: name, Err: errors.New("too many levels of symbolic links")}
		}
		target, err := rl.ReadLink(next)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			resolved = ""
		}
		parts = append(strings.Split(target, "/"), parts[i+1:]...)
		i = -1
	}
	if resolved == "" {
		return ".", nil
	}
	return resolved, nil
}

func parentDir(p string) string {
	d := path.Dir(p)
	if d == "." {
		return ""
	}
	return d
}
