package kubeserver

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"strconv"
	"time"
)

// APIServerOptions configures one kube-apiserver process. Certificate and key
// paths are files the caller has written (the lab points them at a node's
// /etc/kubernetes/pki; Start generates its own).
type APIServerOptions struct {
	// Binary is the path of the kube-apiserver binary.
	Binary string
	// Dir receives the log file; it must exist.
	Dir string
	// Name labels the process in errors and log file names (default "kube-apiserver").
	Name string
	// EtcdEndpoint is the etcd client URL.
	EtcdEndpoint string
	// EtcdPrefix separates several API servers sharing one etcd (default "/registry").
	EtcdPrefix string
	// Host is the address to bind and advertise (default 127.0.0.1).
	Host string
	// Port is the secure port; 0 picks a free one.
	Port int
	// CertFile and KeyFile are the serving certificate and key.
	CertFile, KeyFile string
	// ClientCAFile verifies client certificates.
	ClientCAFile string
	// ServiceAccountKeyFile and ServiceAccountSigningKeyFile are the service-account key pair.
	ServiceAccountKeyFile, ServiceAccountSigningKeyFile string
	// ServingCA verifies the serving certificate during the readiness probe.
	ServingCA *x509.CertPool
	// ExtraArgs are appended to the command line.
	ExtraArgs []string
	// StartTimeout bounds the wait for /readyz (default 90s).
	StartTimeout time.Duration
}

// APIServer is a running kube-apiserver.
type APIServer struct {
	// URL is the https URL of the API server.
	URL  string
	Host string
	Port int
	proc *process
	opts ProcessOptions // to restart it as it was
}

// StartAPIServer starts kube-apiserver and waits until /readyz answers ok.
func StartAPIServer(ctx context.Context, o APIServerOptions) (*APIServer, error) {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Name == "" {
		o.Name = "kube-apiserver"
	}
	if o.EtcdPrefix == "" {
		o.EtcdPrefix = "/registry"
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 90 * time.Second
	}
	for attempt := 0; ; attempt++ {
		s, err := startAPIServerOnce(ctx, o)
		if errors.Is(err, errRetry) && o.Port == 0 && attempt < 5 {
			continue
		}
		return s, err
	}
}

func startAPIServerOnce(ctx context.Context, o APIServerOptions) (*APIServer, error) {
	port := o.Port
	if port == 0 {
		var err error
		if port, err = FreePort(o.Host); err != nil {
			return nil, err
		}
	}
	args := []string{
		"--etcd-servers=" + o.EtcdEndpoint,
		"--etcd-prefix=" + o.EtcdPrefix,
		"--bind-address=" + o.Host,
		"--advertise-address=" + o.Host,
		"--secure-port=" + strconv.Itoa(port),
		"--tls-cert-file=" + o.CertFile,
		"--tls-private-key-file=" + o.KeyFile,
		"--client-ca-file=" + o.ClientCAFile,
		"--service-account-key-file=" + o.ServiceAccountKeyFile,
		"--service-account-signing-key-file=" + o.ServiceAccountSigningKeyFile,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-cluster-ip-range=10.96.0.0/12",
		"--authorization-mode=RBAC",
		"--allow-privileged=true",
		// Loopback addresses are not valid Endpoints; nothing here needs the
		// kubernetes Service's endpoints, so do not maintain them.
		"--endpoint-reconciler-type=none",
		"--profiling=false",
		"--v=0",
	}
	args = append(args, o.ExtraArgs...)
	s, err := StartAPIServerProcess(ctx, ProcessOptions{
		Name: o.Name, Binary: o.Binary, Dir: o.Dir, Args: args,
		URL: "https://" + hostPort(o.Host, port), ServingCA: o.ServingCA, StartTimeout: o.StartTimeout,
	})
	if s != nil {
		s.Host, s.Port = o.Host, port
	}
	return s, err
}

// ProcessOptions starts kube-apiserver with an exact command line, for
// callers (the lab's kubelet stand-in) that derive it from a static pod
// manifest.
type ProcessOptions struct {
	// Name labels the process in errors and names its log file.
	Name string
	// Binary is the path of the kube-apiserver binary.
	Binary string
	// Dir receives the log file.
	Dir string
	// Args is the full argument list.
	Args []string
	// URL is where /readyz is probed, for example https://127.10.0.11:6443.
	URL string
	// ServingCA verifies the serving certificate during the probe; when nil
	// the probe does not verify it (the lab probes servers whose certificates
	// may have expired on purpose).
	ServingCA *x509.CertPool
	// StartTimeout bounds the wait for /readyz (default 90s).
	StartTimeout time.Duration
}

// StartAPIServerProcess starts kube-apiserver with o.Args and waits until
// /readyz at o.URL answers ok.
func StartAPIServerProcess(ctx context.Context, o ProcessOptions) (*APIServer, error) {
	if o.Name == "" {
		o.Name = "kube-apiserver"
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 90 * time.Second
	}
	p, err := startProcess(o.Name, o.Binary, o.Args, filepath.Join(o.Dir, o.Name+".log"))
	if err != nil {
		return nil, err
	}
	tlsCfg := &tls.Config{RootCAs: o.ServingCA, MinVersion: tls.VersionTLS12}
	if o.ServingCA == nil {
		tlsCfg.InsecureSkipVerify = true //nolint:gosec // readiness probe of our own child process only
	}
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	defer hc.CloseIdleConnections()
	probe := func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, o.URL+"/readyz", nil)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/readyz: %s", resp.Status)
		}
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	if err := p.waitReady(wctx, probe); err != nil {
		p.Stop(5 * time.Second)
		if p.addressInUse() {
			return nil, fmt.Errorf("%s could not listen for %s, address already in use: %w", o.Name, o.URL, errRetry)
		}
		return nil, err
	}
	return &APIServer{URL: o.URL, proc: p, opts: o}, nil
}

// Restart stops the API server and starts it again with the same command
// line (same port, same etcd): what clients see when a control plane is
// upgraded or its API server crashes.
func (s *APIServer) Restart(ctx context.Context) error {
	s.proc.Stop(15 * time.Second)
	n, err := StartAPIServerProcess(ctx, s.opts)
	if err != nil {
		return err
	}
	s.proc = n.proc
	return nil
}

// Stop terminates the API server.
func (s *APIServer) Stop() {
	if s != nil && s.proc != nil {
		s.proc.Stop(15 * time.Second)
	}
}

// Exited reports whether the process has ended (for example after a crash).
func (s *APIServer) Exited() bool { return s.proc.exited() }

// LogPath is the file that holds the API server's output.
func (s *APIServer) LogPath() string { return s.proc.logPath }

// Pid is the API server's process id.
func (s *APIServer) Pid() int { return s.proc.cmd.Process.Pid }
