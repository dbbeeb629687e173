package lab

import (
	"fmt"
	"net"
	"os/exec"
	"strings"
)

// kubeadm v1.36 accepts a loopback advertise address (the lab's node
// addresses are on 127.0.0.0/8) only when it finds a global unicast address
// on the loopback interface (SetAPIEndpointDynamicDefaults, "unable to select
// an IP from lo network interface"); without one, `kubeadm certs
// check-expiration` falls back to its default configuration. Each lab adds
// one IPv6 unique-local address to lo for its lifetime, derived from its
// address block so labs side by side do not remove each other's. Nothing
// ever connects to it.

func loopbackULA(block int) string { return fmt.Sprintf("fd74:6b67:6365::%x", block) }

// addLoopbackULA adds the lab's address to lo; it reports whether it added
// one (false when it was already there).
func addLoopbackULA(block int) (bool, error) {
	addr := loopbackULA(block)
	if hasLoopbackAddr(addr) {
		return false, nil
	}
	out, err := exec.Command("ip", "-6", "addr", "add", addr+"/128", "dev", "lo").CombinedOutput()
	if err != nil {
		return false, fmt.Errorf("adding %s to lo (kubeadm needs a global address on lo to read its configuration from the cluster): %v: %s", addr, err, strings.TrimSpace(string(out)))
	}
	return true, nil
}

func removeLoopbackULA(block int) {
	_ = exec.Command("ip", "-6", "addr", "del", loopbackULA(block)+"/128", "dev", "lo").Run()
}

func hasLoopbackAddr(addr string) bool {
	lo, err := net.InterfaceByName("lo")
	if err != nil {
		return false
	}
	addrs, err := lo.Addrs()
	if err != nil {
		return false
	}
	want := net.ParseIP(addr)
	for _, a := range addrs {
		if ipn, ok := a.(*net.IPNet); ok && ipn.IP.Equal(want) {
			return true
		}
	}
	return false
}
