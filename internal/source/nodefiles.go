package source

import (
	"context"
	"testing/fstest"

	"github.com/tkgcert/tkgcert/internal/remote"
)

// NodeFiles reads a node's certificate-bearing files over client with the
// same one-session bundle the SSH source uses: certificates, kubeconfigs
// (client-key-data removed on the node), the kubelet's config and client
// certificate (its key block removed on the node); key files are only
// listed. Paths are relative to the node's root ("etc/kubernetes/pki/ca.crt").
// The recovery reads the certificates it renews this way, so that no private
// key leaves the node.
func NodeFiles(ctx context.Context, client *remote.Client, n Node) (fstest.MapFS, error) {
	return fetchFiles(ctx, client, n)
}
