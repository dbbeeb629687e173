package testenv

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"testing"

	"golang.org/x/sync/errgroup"

	"github.com/tkgcert/tkgcert/internal/capi"
)

var (
	mu   sync.Mutex
	envs = map[capi.APIVersion]*Environment{}
)

// Main starts one environment per Cluster API version (in parallel), runs
// the package's tests, stops the environments and returns the exit code for
// os.Exit. A start failure is printed and fails the package.
//
// A fuzzing run (-test.fuzz) starts none: its fuzz workers are processes
// of their own, each would start the environments again, and fuzz targets
// do not use them.
func Main(m *testing.M, versions ...capi.APIVersion) int {
	if !flag.Parsed() {
		flag.Parse()
	}
	if f := flag.Lookup("test.fuzz"); f != nil && f.Value.String() != "" {
		return m.Run()
	}
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	started := make([]*Environment, len(versions))
	g, gctx := errgroup.WithContext(ctx)
	for i, v := range versions {
		g.Go(func() error {
			var err error
			if started[i], err = Start(gctx, Options{CAPIVersion: v}); err != nil {
				return fmt.Errorf("starting the %s environment: %w", v, err)
			}
			return nil
		})
	}
	err := g.Wait()
	stopAll := func() {
		for _, e := range started {
			e.Stop()
		}
	}
	if err != nil {
		stopAll()
		fmt.Fprintf(os.Stderr, "testenv: %v\n", err)
		return 1
	}
	mu.Lock()
	for i, v := range versions {
		envs[v] = started[i]
	}
	mu.Unlock()

	// An interrupted run (Ctrl-C, go test -timeout) still cleans up.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		if _, ok := <-sigs; ok {
			stopAll()
			os.Exit(1)
		}
	}()
	code := m.Run()
	signal.Stop(sigs)
	close(sigs)
	stopAll()
	return code
}

// Get returns the package's environment for a Cluster API version; the test
// fails when Main did not start one.
func Get(t testing.TB, v capi.APIVersion) *Environment {
	t.Helper()
	mu.Lock()
	defer mu.Unlock()
	e, ok := envs[v]
	if !ok {
		t.Fatalf("no %s test environment: start it from TestMain with testenv.Main(m, capi.%s)", v, v)
	}
	return e
}
