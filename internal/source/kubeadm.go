package source

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/tkgcert/tkgcert/internal/certs"
)

// kubeadmReader runs the node's own kubeadm, as the seed's step 5 does:
// `-o json` where the node's kubeadm has it, else the text table.
type kubeadmReader struct{}

func (kubeadmReader) Kind() Kind { return Kubeadm }

func (kubeadmReader) Read(ctx context.Context, ca ClusterAccess, n Node) Result {
	client, err := ca.Dialer.DialMachine(ctx, n.Address, n.HostKeyAlias)
	if err != nil {
		return Result{Errors: []string{err.Error()}}
	}
	defer client.Close()
	var r Result
	if n.ControlPlane {
		e, err := runKubeadm(ctx, client.Run)
		if err != nil {
			r.Errors = append(r.Errors, fmt.Sprintf("node %s (%s): %v", n.Name, n.Address, err))
		} else {
			r.Expiration = e
		}
	}
	// The same file reader as the SSH source; the kubeadm catalogue comes
	// from kubeadm, so only the kubelet's part of the files is used.
	fsys, err := fetchFiles(ctx, client, n)
	if err != nil {
		r.Errors = append(r.Errors, err.Error())
		return r
	}
	k, errs := kubeletFromFiles(fsys)
	r.Kubelet = k
	r.Errors = append(r.Errors, prefix(n, errs)...)
	return r
}

type runFunc func(ctx context.Context, cmd string, stdin []byte) ([]byte, []byte, int, error)

// runKubeadm asks for JSON and falls back to the text table when the
// node's kubeadm predates `-o json` (kubeadm < 1.30).
func runKubeadm(ctx context.Context, run runFunc) (*certs.Expiration, error) {
	out, stderr, code, err := run(ctx, "sudo kubeadm certs check-expiration -o json", nil)
	if err != nil {
		return nil, err
	}
	if code == 0 {
		return certs.ParseJSON(out)
	}
	if !bytes.Contains(stderr, []byte("unknown shorthand flag")) && !bytes.Contains(stderr, []byte("unknown flag")) {
		return nil, fmt.Errorf("kubeadm certs check-expiration -o json: exit status %d: %s", code, strings.TrimSpace(string(stderr)))
	}
	out, stderr, code, err = run(ctx, "sudo kubeadm certs check-expiration", nil)
	if err != nil {
		return nil, err
	}
	if code != 0 {
		return nil, fmt.Errorf("kubeadm certs check-expiration: exit status %d: %s", code, strings.TrimSpace(string(stderr)))
	}
	return certs.ParseText(bytes.NewReader(out), time.Now())
}
