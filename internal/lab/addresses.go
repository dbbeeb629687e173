package lab

import (
	"fmt"
	"net"
)

// DefaultAddressBlock is the second octet where cluster addresses start.
const DefaultAddressBlock = 10

// Address plan, all on loopback: cluster k owns 127.(B+k/256).(k%256).0/24,
// where B is Options.AddressBlock (default 10);
// .1 is its control-plane endpoint and nodes take .10 upwards. As IPAM does,
// a new machine gets the address a deleted machine released, if any (the
// oldest), else the next unused one.
const (
	firstNodeHost = 10
	lastNodeHost  = 254
)

func clusterEndpointIP(block, k int) net.IP {
	return net.IPv4(127, byte(block+k/256), byte(k%256), 1).To4()
}

func nodeIP(block, k, host int) (net.IP, error) {
	if host > lastNodeHost {
		return nil, fmt.Errorf("cluster %d ran out of node addresses", k)
	}
	return net.IPv4(127, byte(block+k/256), byte(k%256), byte(host)).To4(), nil
}
