package netsim

import (
	"io"
	"log"
)

// discardLogger silences net/http's per-connection TLS handshake errors,
// which probes without a trusted CA cause by design.
func discardLogger() *log.Logger { return log.New(io.Discard, "", 0) }
