//go:build darwin

package tunnel

import (
	"log/slog"
	"net/netip"

	"github.com/esptun/esptun/internal/sysnet"
	"golang.zx2c4.com/wireguard/tun"
)

// createTUN creates a utun device; a name that is not utunN lets the kernel
// pick the number. macOS has no TUN offloads.
func createTUN(name string, mtu int, offload bool) (tun.Device, error) {
	return tun.CreateTUN(darwinTUNName(name), mtu)
}

// osConfig holds the host routes to peers, which outlive the device.
type osConfig = sysConfig

// configureOS brings the device up with ifconfig, puts its addresses on it
// and routes the prefixes into it with route(8); see planSys.
func configureOS(name string, mtu int, addrs, routes []netip.Prefix, peers []netip.Addr, log *slog.Logger) (*osConfig, error) {
	return configureSys(goosDarwin, name, mtu, addrs, routes, peers, sysnet.Run, sysnet.PeerRoute, log)
}
