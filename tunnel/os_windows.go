//go:build windows

package tunnel

import (
	"log/slog"
	"net/netip"

	"github.com/esptun/esptun/internal/sysnet"
	"golang.zx2c4.com/wireguard/tun"
)

// createTUN creates (or reuses) the wintun adapter of that name; wintun.dll
// must be next to the executable or in System32. Windows has no TUN
// offloads.
func createTUN(name string, mtu int, offload bool) (tun.Device, error) {
	return tun.CreateTUN(name, mtu)
}

// osConfig holds the host routes to peers, which outlive the adapter.
type osConfig = sysConfig

// configureOS sets the adapter's MTU, puts its addresses on it and routes
// the prefixes into it with netsh; see planSys.
func configureOS(name string, mtu int, addrs, routes []netip.Prefix, peers []netip.Addr, log *slog.Logger) (*osConfig, error) {
	return configureSys(goosWindows, name, mtu, addrs, routes, peers, sysnet.Run, sysnet.PeerRoute, log)
}
