package fleet

import (
	"net"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// TestNewReaderGivesUpOnASilentSupervisor: a Supervisor that accepts the
// connection and never answers (packets dropped, not refused) ends the
// reader's requests after RequestTimeout instead of holding them for ever.
func TestNewReaderGivesUpOnASilentSupervisor(t *testing.T) {
	defer func(d time.Duration) { RequestTimeout = d }(RequestTimeout)
	RequestTimeout = 500 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close() // held open, never answered
		}
	}()
	done := make(chan error, 1)
	go func() {
		_, err := NewReader(&rest.Config{Host: "http://" + ln.Addr().String()})
		done <- err
	}()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "Timeout") && !strings.Contains(err.Error(), "timeout") && !strings.Contains(err.Error(), "deadline") {
			t.Errorf("NewReader = %v, want a timeout", err)
		}
	case <-time.After(2 * time.Minute): // liveness guard: without a timeout it waits for ever
		t.Fatal("NewReader still waits on a Supervisor that never answers")
	}
}
