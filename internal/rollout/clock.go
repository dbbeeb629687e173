package rollout

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"k8s.io/client-go/rest"
)

// ServerTime returns the Supervisor's clock, read from the Date header of
// a /version response: a laptop's clock may be off, and Cluster API
// compares rolloutAfter with the management cluster's time.
func ServerTime(ctx context.Context, cfg *rest.Config) (time.Time, error) {
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return time.Time{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, cfg.Host+"/version", nil)
	if err != nil {
		return time.Time{}, err
	}
	resp, err := hc.Do(req)
	if err != nil {
		return time.Time{}, fmt.Errorf("reading the Supervisor's clock: %w", err)
	}
	resp.Body.Close()
	t, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return time.Time{}, fmt.Errorf("the Supervisor's response has no usable Date header: %w", err)
	}
	return t.UTC(), nil
}
