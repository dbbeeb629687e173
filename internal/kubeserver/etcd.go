package kubeserver

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"time"
)

// EtcdOptions configures an etcd member.
type EtcdOptions struct {
	// Binary is the path of the etcd binary.
	Binary string
	// Dir holds the data directory and the log file; it must exist.
	Dir string
	// Host is the loopback address to listen on (default 127.0.0.1).
	Host string
	// StartTimeout bounds the wait for readiness (default 60s).
	StartTimeout time.Duration
}

// Etcd is a running single-member etcd serving plain HTTP on loopback.
type Etcd struct {
	// Endpoint is the client URL, for kube-apiserver's --etcd-servers.
	Endpoint string
	proc     *process
}

// StartEtcd starts etcd and waits until it answers /health.
func StartEtcd(ctx context.Context, o EtcdOptions) (*Etcd, error) {
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.StartTimeout == 0 {
		o.StartTimeout = 60 * time.Second
	}
	for attempt := 0; ; attempt++ {
		e, err := startEtcdOnce(ctx, o)
		if err == errRetry && attempt < 5 {
			continue
		}
		return e, err
	}
}

func startEtcdOnce(ctx context.Context, o EtcdOptions) (*Etcd, error) {
	clientPort, err := FreePort(o.Host)
	if err != nil {
		return nil, err
	}
	peerPort, err := FreePort(o.Host)
	if err != nil {
		return nil, err
	}
	client := "http://" + hostPort(o.Host, clientPort)
	peer := "http://" + hostPort(o.Host, peerPort)
	dataDir := filepath.Join(o.Dir, "etcd-data")
	if err := os.RemoveAll(dataDir); err != nil {
		return nil, err
	}
	args := []string{
		"--name=default",
		"--data-dir=" + dataDir,
		"--listen-client-urls=" + client,
		"--advertise-client-urls=" + client,
		"--listen-peer-urls=" + peer,
		"--initial-advertise-peer-urls=" + peer,
		"--initial-cluster=default=" + peer,
		"--unsafe-no-fsync=true",
		"--log-level=warn",
	}
	p, err := startProcess("etcd", o.Binary, args, filepath.Join(o.Dir, "etcd.log"))
	if err != nil {
		return nil, err
	}
	hc := &http.Client{Timeout: time.Second}
	probe := func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, client+"/health", nil)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("/health: %s", resp.Status)
		}
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, o.StartTimeout)
	defer cancel()
	if err := p.waitReady(wctx, probe); err != nil {
		p.Stop(5 * time.Second)
		if p.addressInUse() {
			return nil, errRetry
		}
		return nil, err
	}
	return &Etcd{Endpoint: client, proc: p}, nil
}

// Stop terminates etcd.
func (e *Etcd) Stop() {
	if e != nil && e.proc != nil {
		e.proc.Stop(10 * time.Second)
	}
}

// LogPath is the file that holds etcd's output.
func (e *Etcd) LogPath() string { return e.proc.logPath }

// Pid is etcd's process id.
func (e *Etcd) Pid() int { return e.proc.cmd.Process.Pid }
