//go:build windows

package sysnet

import (
	"fmt"
	"net/netip"
	"unsafe"

	"golang.org/x/sys/windows"
)

// PeerRoute returns how a packet to peer leaves the host now: the interface
// the system picks for it (GetBestInterfaceEx) and the best route to it on
// that interface from the routing table (GetIpForwardTable2).
func PeerRoute(peer netip.Addr) (NextHop, error) {
	var sa windows.Sockaddr
	family := uint16(windows.AF_INET)
	if peer.Is4() {
		sa = &windows.SockaddrInet4{Addr: peer.As4()}
	} else {
		sa = &windows.SockaddrInet6{Addr: peer.As16()}
		family = windows.AF_INET6
	}
	var index uint32
	if err := windows.GetBestInterfaceEx(sa, &index); err != nil {
		return NextHop{}, fmt.Errorf("best interface for %v: %w", peer, err)
	}
	var table *windows.MibIpForwardTable2
	if err := windows.GetIpForwardTable2(family, &table); err != nil {
		return NextHop{}, fmt.Errorf("routing table: %w", err)
	}
	defer windows.FreeMibTable(unsafe.Pointer(table))
	var routes []WinRoute
	for _, row := range table.Rows() {
		dst := SockaddrInetAddr(*(*[28]byte)(unsafe.Pointer(&row.DestinationPrefix.Prefix)))
		if !dst.IsValid() {
			continue
		}
		p, err := dst.Prefix(int(row.DestinationPrefix.PrefixLength))
		if err != nil {
			continue
		}
		routes = append(routes, WinRoute{
			Dst:     p,
			NextHop: SockaddrInetAddr(*(*[28]byte)(unsafe.Pointer(&row.NextHop))),
			Index:   int(row.InterfaceIndex),
			Metric:  int(row.Metric),
		})
	}
	hop, ok := BestWinRoute(routes, peer, int(index))
	if !ok {
		return NextHop{}, fmt.Errorf("no route to %v on interface %d", peer, index)
	}
	return hop, nil
}
