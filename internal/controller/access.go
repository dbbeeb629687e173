package controller

import (
	"fmt"
	"net/http"
	"strings"
	"sync"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
)

// Forbidden watches the controller's API requests for 403 answers: a missing
// RBAC rule. Each is counted in tkgcert_api_forbidden_total by resource,
// verb and namespace, and logged (once per resource, verb and namespace) as
// an error that names them; the controller carries on with what it may do.
type Forbidden struct {
	total *prometheus.CounterVec
	log   logr.Logger

	mu     sync.Mutex
	logged map[string]bool
}

// NewForbidden registers tkgcert_api_forbidden_total with reg.
func NewForbidden(reg prometheus.Registerer, log logr.Logger) *Forbidden {
	f := &Forbidden{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "tkgcert_api_forbidden_total",
			Help: "API requests the Supervisor refused (403): a permission the controller lacks, by resource, verb and namespace."},
			[]string{"resource", "verb", "namespace"}),
		log:    log,
		logged: map[string]bool{},
	}
	reg.MustRegister(f.total)
	return f
}

// Wrap is a rest.Config WrapTransport.
func (f *Forbidden) Wrap(rt http.RoundTripper) http.RoundTripper {
	return roundTripperFunc(func(req *http.Request) (*http.Response, error) {
		resp, err := rt.RoundTrip(req)
		if err == nil && resp.StatusCode == http.StatusForbidden {
			f.record(req)
		}
		return resp, err
	})
}

func (f *Forbidden) record(req *http.Request) {
	a := RequestAttributes(req)
	f.total.WithLabelValues(a.Resource, a.Verb, a.Namespace).Inc()
	key := a.Resource + "/" + a.Verb + "/" + a.Namespace
	f.mu.Lock()
	first := !f.logged[key]
	f.logged[key] = true
	f.mu.Unlock()
	if first {
		f.log.Error(fmt.Errorf("%s", a), "Refused by the API server (403); carrying on without it",
			"resource", a.Resource, "verb", a.Verb, "namespace", a.Namespace)
	}
}

// Attributes are what RBAC checks of a request.
type Attributes struct {
	Verb, Resource, Namespace, Name string
}

func (a Attributes) String() string {
	where := "cluster-wide"
	if a.Namespace != "" {
		where = "in namespace " + a.Namespace
	}
	return fmt.Sprintf("forbidden: cannot %s %s %s", a.Verb, a.Resource, where)
}

// RequestAttributes reads verb, resource (resource.group, with
// /subresource), namespace and name from an API request, as the API
// server's RBAC does.
func RequestAttributes(req *http.Request) Attributes {
	parts := strings.Split(strings.Trim(req.URL.Path, "/"), "/")
	var group string
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		parts = parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		group, parts = parts[1], parts[3:]
	default:
		return Attributes{Verb: strings.ToLower(req.Method), Resource: req.URL.Path}
	}
	var a Attributes
	if len(parts) >= 2 && parts[0] == "namespaces" && len(parts) != 2 {
		a.Namespace, parts = parts[1], parts[2:]
	}
	if len(parts) > 0 {
		a.Resource = parts[0]
		if group != "" {
			a.Resource += "." + group
		}
	}
	if len(parts) > 1 {
		a.Name = parts[1]
	}
	if len(parts) > 2 {
		a.Resource += "/" + parts[2]
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead:
		switch {
		case req.URL.Query().Get("watch") == "true" || req.URL.Query().Get("watch") == "1":
			a.Verb = "watch"
		case a.Name == "":
			a.Verb = "list"
		default:
			a.Verb = "get"
		}
	case http.MethodPost:
		a.Verb = "create"
	case http.MethodPut:
		a.Verb = "update"
	case http.MethodPatch:
		a.Verb = "patch"
	case http.MethodDelete:
		a.Verb = "delete"
		if a.Name == "" {
			a.Verb = "deletecollection"
		}
	default:
		a.Verb = strings.ToLower(req.Method)
	}
	return a
}

type roundTripperFunc func(*http.Request) (*http.Response, error)

func (f roundTripperFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
