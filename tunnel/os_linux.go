//go:build linux

package tunnel

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"

	"github.com/esptun/esptun/internal/sysnet"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/tun"
)

// createTUN creates the TUN device. With offload it asks for the virtio-net
// header so that the kernel hands over TCP super-packets (split by
// wireguard's tun package) and accepts coalesced writes; without it, plain
// one-packet reads and writes.
func createTUN(name string, mtu int, offload bool) (tun.Device, error) {
	if offload {
		return tun.CreateTUN(name, mtu)
	}
	fd, err := unix.Open("/dev/net/tun", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	ifr, err := unix.NewIfreq(name)
	if err != nil {
		unix.Close(fd)
		return nil, err
	}
	ifr.SetUint16(unix.IFF_TUN | unix.IFF_NO_PI)
	if err := unix.IoctlIfreq(fd, unix.TUNSETIFF, ifr); err != nil {
		unix.Close(fd)
		return nil, err
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, err
	}
	return tun.CreateTUNFromFile(os.NewFile(uintptr(fd), "/dev/net/tun"), mtu)
}

// osConfig records what configureOS changed outside the TUN device itself,
// so that undo can remove it. Addresses and routes on the TUN device vanish
// with the device.
type osConfig struct {
	bypass []*netlink.Route // host routes that keep peers out of the tunnel
}

// configureOS brings the TUN device up with its addresses and routes the
// given prefixes into it. It adds routes and never replaces one: a /0
// becomes two /1 routes, more specific than the host's default route,
// which stays as it is (as on macOS and Windows, see planSys); a prefix
// the main table routes elsewhere already is an error, since taking it
// over would lose that route when esptun stops.
func configureOS(name string, mtu int, addrs, routes []netip.Prefix, peers []netip.Addr, log *slog.Logger) (*osConfig, error) {
	link, err := netlink.LinkByName(name)
	if err != nil {
		return nil, err
	}
	st := &osConfig{}
	for _, a := range addrs {
		if a.Addr().Is6() {
			// A fresh device may start with IPv6 disabled by sysctl
			// defaults; addresses would be refused.
			_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+name+"/disable_ipv6", []byte("0"), 0)
		}
		if err := netlink.AddrAdd(link, &netlink.Addr{IPNet: prefixToIPNet(a)}); err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("add address %v: %w", a, err)
		}
	}
	// No link-local address on the TUN device: it would send router
	// solicitations and MLD reports into the tunnel, which no policy covers.
	_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+name+"/addr_gen_mode", []byte("1"), 0)
	if err := netlink.LinkSetUp(link); err != nil {
		return nil, fmt.Errorf("set %s up: %w", name, err)
	}
	routes = sysnet.SplitDefault(routes)
	self := link.Attrs().Index
	for _, r := range routes {
		if other, err := routeElsewhere(r, self); err != nil {
			return nil, fmt.Errorf("route %v into %s: %w", r, name, err)
		} else if other != "" {
			return nil, fmt.Errorf("route %v into %s: the host routes %v already (%s); esptun does not replace routes it did not add: remove that route, narrow the remote selectors, or set [tun] install_routes = false", r, name, r, other)
		}
	}
	for _, p := range peers {
		for _, r := range routes {
			if r.Contains(p) {
				if err := st.keepOutside(p); err != nil {
					log.Warn("could not pin the route to a peer outside the tunnel", "peer", p, "err", err)
				}
				break
			}
		}
	}
	for _, r := range routes {
		route := &netlink.Route{LinkIndex: self, Dst: prefixToIPNet(r), Scope: netlink.SCOPE_LINK}
		if err := netlink.RouteAdd(route); err != nil && !errors.Is(err, unix.EEXIST) {
			st.undo(log)
			return nil, fmt.Errorf("route %v into %s: %w", r, name, err)
		}
	}
	return st, nil
}

// routeElsewhere describes a route of the main table for exactly p that
// does not go into the device self, or returns "" if there is none.
func routeElsewhere(p netip.Prefix, self int) (string, error) {
	family := netlink.FAMILY_V4
	if p.Addr().Is6() {
		family = netlink.FAMILY_V6
	}
	rs, err := netlink.RouteListFiltered(family, &netlink.Route{Dst: prefixToIPNet(p), Table: unix.RT_TABLE_MAIN},
		netlink.RT_FILTER_DST|netlink.RT_FILTER_TABLE)
	if err != nil {
		return "", err
	}
	for _, r := range rs {
		if r.LinkIndex == self {
			continue
		}
		desc := ""
		if r.Gw != nil {
			desc = "via " + r.Gw.String() + " "
		}
		if l, err := netlink.LinkByIndex(r.LinkIndex); err == nil {
			desc += "dev " + l.Attrs().Name
		} else {
			desc += fmt.Sprintf("type %d", r.Type)
		}
		return desc, nil
	}
	return "", nil
}

// keepOutside adds a host route for peer through the route it has now, so
// that a tunnel route covering the peer's outer address does not swallow the
// ESP packets themselves.
func (st *osConfig) keepOutside(peer netip.Addr) error {
	rs, err := netlink.RouteGet(peer.AsSlice())
	if err != nil || len(rs) == 0 {
		return err
	}
	r := rs[0]
	bits := 32
	if peer.Is6() {
		bits = 128
	}
	host := &netlink.Route{LinkIndex: r.LinkIndex, Gw: r.Gw, Dst: prefixToIPNet(netip.PrefixFrom(peer, bits))}
	if err := netlink.RouteAdd(host); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return nil
		}
		return err
	}
	st.bypass = append(st.bypass, host)
	return nil
}

func (st *osConfig) undo(log *slog.Logger) {
	for _, r := range st.bypass {
		if err := netlink.RouteDel(r); err != nil {
			log.Warn("could not remove peer route", "dst", r.Dst, "err", err)
		}
	}
	st.bypass = nil
}

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	p = p.Masked()
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
