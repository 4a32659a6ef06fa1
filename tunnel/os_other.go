//go:build !linux && !darwin && !windows

package tunnel

import (
	"errors"
	"log/slog"
	"net/netip"

	"golang.zx2c4.com/wireguard/tun"
)

func createTUN(name string, mtu int, offload bool) (tun.Device, error) {
	return tun.CreateTUN(name, mtu)
}

type osConfig struct{}

// configureOS is implemented for Linux, macOS and Windows: a configuration that asks
// for addresses or routes fails clearly rather than running half set up.
func configureOS(name string, mtu int, addrs, routes []netip.Prefix, peers []netip.Addr, log *slog.Logger) (*osConfig, error) {
	if len(addrs) > 0 || len(routes) > 0 {
		return nil, errors.New("setting TUN addresses and routes is implemented on Linux, macOS and Windows only; set [tun] addresses = [] and install_routes = false and configure the interface by hand")
	}
	return &osConfig{}, nil
}

func (st *osConfig) keepOutside(peer netip.Addr) error { return nil }
func (st *osConfig) undo(log *slog.Logger)             {}
