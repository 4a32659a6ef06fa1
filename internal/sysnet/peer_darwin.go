//go:build darwin

package sysnet

import (
	"fmt"
	"net/netip"
)

// PeerRoute returns how a packet to peer leaves the host now, from
// route(8)'s answer.
func PeerRoute(peer netip.Addr) (NextHop, error) {
	out, err := Run(MacRouteGet(peer))
	if err != nil {
		return NextHop{}, err
	}
	hop, err := ParseMacRouteGet(out)
	if err != nil {
		return NextHop{}, fmt.Errorf("route to %v: %w", peer, err)
	}
	return hop, nil
}
