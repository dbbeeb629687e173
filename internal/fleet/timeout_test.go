package fleet

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/tkgcert/tkgcert/internal/capi"
	"github.com/tkgcert/tkgcert/internal/testenv"
)

// TestReaderGivesUpOnASilentSupervisor: once the Supervisor stops
// answering (packets dropped, not refused), a list ends after
// RequestTimeout with an error, instead of holding the caller for ever or
// reading as an empty fleet (retry.OnError returns nil for an error that
// wraps a context's).
func TestReaderGivesUpOnASilentSupervisor(t *testing.T) {
	defer func(d time.Duration) { RequestTimeout = d }(RequestTimeout)
	RequestTimeout = 2 * time.Second
	env := testenv.Get(t, capi.V1Beta1)
	u, err := url.Parse(env.Config.Host)
	if err != nil {
		t.Fatal(err)
	}
	f := testenv.NewFreezer(t, u.Host)
	cfg := rest.CopyConfig(env.Config)
	cfg.Host = "https://" + f.Addr()
	cfg.TLSClientConfig.ServerName = u.Hostname()
	r, err := NewReader(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.Freeze()
	done := make(chan error, 1)
	go func() {
		cls, err := r.Clusters(context.Background(), "", nil)
		t.Logf("Clusters: %d clusters, %v", len(cls), err)
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "Timeout") && !strings.Contains(err.Error(), "timeout") && !strings.Contains(err.Error(), "deadline") {
			t.Errorf("Clusters = %v, want a timeout", err)
		}
	case <-time.After(2 * time.Minute): // liveness guard: without a timeout the list waits for ever
		t.Fatal("Clusters still waits on a Supervisor that stopped answering")
	}
}
