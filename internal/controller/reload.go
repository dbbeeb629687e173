package controller

import (
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"k8s.io/client-go/rest"
)

// ReloadOnUnauthorized is a rest.Config WrapTransport for a controller
// running from a kubeconfig file: when the API server rejects the
// credentials (401), it loads the kubeconfig again and, if its credentials
// changed (a refreshed token or client certificate), retries the request
// with them and uses them from then on. A token refreshed in the file is
// picked up without a restart.
func ReloadOnUnauthorized(initial *rest.Config, load func() (*rest.Config, error), log logr.Logger) func(http.RoundTripper) http.RoundTripper {
	r := &reloader{load: load, log: log, key: credentialsKey(initial)}
	return func(rt http.RoundTripper) http.RoundTripper {
		return roundTripperFunc(func(req *http.Request) (*http.Response, error) { return r.roundTrip(rt, req) })
	}
}

type reloader struct {
	load func() (*rest.Config, error)
	log  logr.Logger

	mu   sync.Mutex
	key  string            // the credentials in use since the last reload
	next http.RoundTripper // their transport (nil: the original)
}

func credentialsKey(c *rest.Config) string {
	return c.BearerToken + "\x00" + c.BearerTokenFile + "\x00" + string(c.CertData) + "\x00" + c.CertFile + "\x00" + c.Username + "\x00" + c.Password
}

func (r *reloader) roundTrip(rt http.RoundTripper, req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	next := r.next
	r.mu.Unlock()
	var resp *http.Response
	var err error
	if next != nil {
		resp, err = next.RoundTrip(withoutAuth(req))
	} else {
		resp, err = rt.RoundTrip(req)
	}
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	next, ok := r.reload()
	if !ok || (req.Body != nil && req.GetBody == nil) {
		return resp, nil
	}
	retry := withoutAuth(req)
	if req.GetBody != nil {
		body, err := req.GetBody()
		if err != nil {
			return resp, nil
		}
		retry.Body = body
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return next.RoundTrip(retry)
}

// reload loads the kubeconfig again; ok if it holds new credentials.
func (r *reloader) reload() (http.RoundTripper, bool) {
	cfg, err := r.load()
	if err != nil {
		r.log.Error(err, "Credentials rejected (401); reloading the kubeconfig failed")
		return nil, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	key := credentialsKey(cfg)
	if key == r.key {
		return nil, false
	}
	next, err := rest.TransportFor(cfg)
	if err != nil {
		r.log.Error(err, "Credentials rejected (401); the reloaded kubeconfig is not usable")
		return nil, false
	}
	r.key, r.next = key, next
	r.log.Info("Credentials rejected (401): reloaded the kubeconfig, using its new credentials")
	return next, true
}

// withoutAuth is req without the headers the original transport set from
// the old credentials (the new transport sets its own).
func withoutAuth(req *http.Request) *http.Request {
	c := req.Clone(req.Context())
	c.Header.Del("Authorization")
	for k := range c.Header {
		if strings.HasPrefix(k, "Impersonate-") {
			c.Header.Del(k)
		}
	}
	return c
}
