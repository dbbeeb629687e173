package source

import (
	"bytes"
	"context"
	"crypto/x509"
	"fmt"
	"strings"
	"testing/fstest"

	"k8s.io/client-go/util/cert"

	"github.com/tkgcert/tkgcert/internal/certs"
	"github.com/tkgcert/tkgcert/internal/remote"
)

// sshReader reads the node's files over one SSH session and parses them
// with crypto/x509.
type sshReader struct{}

func (sshReader) Kind() Kind { return SSH }

func (sshReader) Read(ctx context.Context, ca ClusterAccess, n Node) Result {
	client, err := ca.Dialer.DialMachine(ctx, n.Address, n.HostKeyAlias)
	if err != nil {
		return Result{Errors: []string{err.Error()}}
	}
	defer client.Close()
	fsys, err := fetchFiles(ctx, client, n)
	if err != nil {
		return Result{Errors: []string{err.Error()}}
	}
	return analyzeFiles(fsys, n)
}

// fetchFiles runs bundleScript on the node and parses its output.
func fetchFiles(ctx context.Context, client *remote.Client, n Node) (fstest.MapFS, error) {
	out, stderr, code, err := client.Run(ctx, bundleCommand, []byte(bundleScript))
	if err != nil {
		return nil, fmt.Errorf("reading files on node %s (%s): %v", n.Name, n.Address, err)
	}
	if code != 0 {
		return nil, fmt.Errorf("reading files on node %s (%s): exit status %d: %s", n.Name, n.Address, code, strings.TrimSpace(string(stderr)))
	}
	fsys, err := parseBundle(out)
	if err != nil {
		return nil, fmt.Errorf("node %s (%s): %v", n.Name, n.Address, err)
	}
	return fsys, nil
}

// analyzeFiles builds a node's result from its files.
func analyzeFiles(fsys fstest.MapFS, n Node) Result {
	var r Result
	if n.ControlPlane {
		e, err := certs.ReadNode(fsys)
		if err != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("node %s (%s): %v", n.Name, n.Address, err))
		} else {
			r.Expiration = e
		}
	} else {
		e, errs := workerCatalogue(fsys)
		r.Expiration = e
		r.Errors = append(r.Errors, prefix(n, errs)...)
	}
	k, errs := kubeletFromFiles(fsys)
	r.Kubelet = k
	r.Errors = append(r.Errors, prefix(n, errs)...)
	return r
}

func prefix(n Node, errs []string) []string {
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		out = append(out, fmt.Sprintf("node %s (%s): %s", n.Name, n.Address, e))
	}
	return out
}

// NodeCertificates reads a node's certificate files over SSH, with the same
// bundle the ssh source reads (private keys never leave the node), and
// returns the certificates of each *.crt file by its absolute path, in the
// order the file holds them.
func NodeCertificates(ctx context.Context, d *remote.Dialer, n Node) (map[string][]*x509.Certificate, error) {
	client, err := d.DialMachine(ctx, n.Address, n.HostKeyAlias)
	if err != nil {
		return nil, err
	}
	defer client.Close()
	fsys, err := fetchFiles(ctx, client, n)
	if err != nil {
		return nil, err
	}
	out := map[string][]*x509.Certificate{}
	for p, f := range fsys {
		if !strings.HasSuffix(p, ".crt") || bytes.Equal(f.Data, keyPlaceholder) {
			continue
		}
		cs, err := cert.ParseCertsPEM(f.Data)
		if err != nil || len(cs) == 0 {
			return nil, fmt.Errorf("node %s (%s): parsing /%s: no certificate (%v)", n.Name, n.Address, p, err)
		}
		out["/"+p] = cs
	}
	return out, nil
}
