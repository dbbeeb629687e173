package lab

import (
	"fmt"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// filesNeeded is about how many descriptors a lab holds open: per
// control-plane node its SSH listener and six TLS endpoints, per worker its
// SSH and kubelet listeners, per cluster its endpoint's balancer, and room
// for the connections in flight.
func filesNeeded(o Options) int {
	clusters := len(o.Clusters) + o.Generate
	return clusters*(o.ControlPlaneReplicas*7+o.Workers*2+1) + 2048
}

// raiseFileLimit lifts the process's open-file limit to what the lab needs
// (root may raise the hard limit up to fs.nr_open when it has
// CAP_SYS_RESOURCE). A large generated fleet exceeds the usual limits.
func raiseFileLimit(o Options) error {
	nodes := (len(o.Clusters) + o.Generate) * (o.ControlPlaneReplicas + o.Workers)
	want := uint64(filesNeeded(o))
	var lim unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return err
	}
	if lim.Cur >= want {
		return nil
	}
	if lim.Max < want {
		ceiling := uint64(1 << 20)
		if b, err := os.ReadFile("/proc/sys/fs/nr_open"); err == nil {
			if v, err := strconv.ParseUint(strings.TrimSpace(string(b)), 10, 64); err == nil {
				ceiling = v
			}
		}
		raised := lim
		raised.Max = min(want, ceiling)
		raised.Cur = raised.Max
		if unix.Setrlimit(unix.RLIMIT_NOFILE, &raised) == nil && raised.Cur >= want {
			return nil
		}
		// Without CAP_SYS_RESOURCE the hard limit stays.
		return fmt.Errorf("a lab of %d nodes needs about %d open files, and the hard limit is %d and cannot be raised here (CAP_SYS_RESOURCE): raise it (ulimit -Hn) or start fewer clusters or nodes", nodes, want, lim.Max)
	}
	lim.Cur = want
	if err := unix.Setrlimit(unix.RLIMIT_NOFILE, &lim); err != nil {
		return fmt.Errorf("raising the open-file limit to %d for %d nodes: %w", want, nodes, err)
	}
	return nil
}
