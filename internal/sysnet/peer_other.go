//go:build !darwin && !windows

package sysnet

import (
	"errors"
	"net/netip"
)

// PeerRoute is implemented for macOS and Windows only.
func PeerRoute(peer netip.Addr) (NextHop, error) {
	return NextHop{}, errors.New("sysnet: route lookup is implemented for macOS and Windows only")
}
