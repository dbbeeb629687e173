package netsim

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// CertSource returns the certificate to present for one handshake.
type CertSource func() (*tls.Certificate, error)

// FileCert reads a PEM certificate and key from disk on every handshake, so
// the listener always presents what is on the node's disk (as a component
// restarted after a renewal would).
func FileCert(certFile, keyFile string) CertSource {
	return func() (*tls.Certificate, error) {
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, err
		}
		return &c, nil
	}
}

// StaticCert always presents the same certificate.
func StaticCert(c tls.Certificate) CertSource {
	return func() (*tls.Certificate, error) { return &c, nil }
}

// TLSEndpoint is a TLS listener that completes handshakes with a node's
// certificate and answers HTTP requests with 200 "ok" (enough for probes).
type TLSEndpoint struct {
	ln  net.Listener
	srv *http.Server
	wg  sync.WaitGroup
}

// ListenTLS starts a TLS endpoint on addr. Client certificates are requested
// but not required, so a reader without credentials still sees the server's
// certificate, as it does against the real components during the handshake.
func ListenTLS(addr string, cert CertSource) (*TLSEndpoint, error) {
	raw, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	cfg := &tls.Config{
		MinVersion: tls.VersionTLS12,
		ClientAuth: tls.RequestClientCert,
		GetCertificate: func(*tls.ClientHelloInfo) (*tls.Certificate, error) {
			return cert()
		},
	}
	e := &TLSEndpoint{ln: tls.NewListener(raw, cfg)}
	e.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "ok")
		}),
		ReadHeaderTimeout: 5 * time.Second,
		ErrorLog:          discardLogger(),
	}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		if err := e.srv.Serve(e.ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			return
		}
	}()
	return e, nil
}

// Addr is the listening address.
func (e *TLSEndpoint) Addr() string { return e.ln.Addr().String() }

// Close stops the endpoint and its connections.
func (e *TLSEndpoint) Close() error {
	err := e.srv.Close()
	e.wg.Wait()
	return err
}
