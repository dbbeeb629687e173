package source

import (
	"context"
	"fmt"
	"strings"

	"github.com/tkgcert/tkgcert/internal/certs"
)

// sshReader reads the node's files over one SSH session and parses them
// with crypto/x509.
type sshReader struct{}

func (sshReader) Kind() Kind { return SSH }

func (sshReader) Read(ctx context.Context, ca ClusterAccess, n Node) Result {
	client, err := ca.Dialer.Dial(ctx, n.Address)
	if err != nil {
		return Result{Errors: []string{err.Error()}}
	}
	defer client.Close()
	out, stderr, code, err := client.Run(ctx, bundleCommand, []byte(bundleScript))
	if err != nil {
		return Result{Errors: []string{fmt.Sprintf("reading certificates on node %s (%s): %v", n.Name, n.Address, err)}}
	}
	if code != 0 {
		return Result{Errors: []string{fmt.Sprintf("reading certificates on node %s (%s): exit status %d: %s", n.Name, n.Address, code, strings.TrimSpace(string(stderr)))}}
	}
	return analyzeFiles(out, n)
}

// analyzeFiles builds a node's result from bundleScript's output.
func analyzeFiles(out []byte, n Node) Result {
	fsys, err := parseBundle(out)
	if err != nil {
		return Result{Errors: []string{fmt.Sprintf("node %s (%s): %v", n.Name, n.Address, err)}}
	}
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
