//go:build linux

package netcfg

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// hostSys: Linux changes are made through netlink, not sysApply.
var hostSys *sysHost

// Apply configures the host for c: interface up, addresses, the tunnel
// routes and throw routes in c.Table, the rules that consult it (see the
// package documentation), then DNS. Each change is recorded in c.StateFile
// before it is made. Apply fails with ErrStateExists if the state file
// exists. If a step fails, Apply undoes the steps before it and returns the
// error; nothing is left configured and the state file is removed.
//
// Apply acts on the network namespace of the calling OS thread; it starts
// no goroutines there (the D-Bus connection to systemd-resolved is made on
// any thread, which is harmless since the bus is reached through the file
// system). Applying the same Config twice (with different state files)
// leaves one working configuration: an address that was already present is
// left alone, a route in c.Table is replaced, and a rule that exists already
// is taken as this package's (its priority and table say so) and removed by
// Undo, so undoing either Applied takes the whole configuration down.
func Apply(c Config, log *slog.Logger) (*Applied, error) {
	log = discardIfNil(log)
	c, err := c.normalized(log)
	if err != nil {
		return nil, err
	}
	link, err := netlink.LinkByName(c.Interface)
	if err != nil {
		return nil, fmt.Errorf("netcfg: interface %s: %w", c.Interface, err)
	}
	a := &Applied{
		stateFile: c.StateFile,
		log:       log,
		st:        &state{Version: stateVersion, Interface: c.Interface, Index: link.Attrs().Index},
	}
	if err := a.create(); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if err := a.applyLocked(c, link); err != nil {
		if uerr := a.undoLocked(); uerr != nil {
			return nil, errors.Join(err, fmt.Errorf("netcfg: rolling back: %w", uerr))
		}
		return nil, err
	}
	return a, nil
}

// record saves the state after the caller added the entry for a change it
// is about to make.
func (a *Applied) record() error { return a.saveLocked() }

func (a *Applied) applyLocked(c Config, link netlink.Link) error {
	st := a.st
	name := c.Interface
	index := link.Attrs().Index

	for _, p := range c.Addresses {
		if p.Addr().Is6() {
			// A new device may start with IPv6 disabled by the
			// sysctl defaults; the address would be refused.
			_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+name+"/disable_ipv6", []byte("0"), 0)
			break
		}
	}
	if link.Attrs().Flags&net.FlagUp == 0 {
		// No link-local address on the TUN device: it would send router
		// solicitations and MLD reports into the tunnel, which no
		// policy covers.
		_ = os.WriteFile("/proc/sys/net/ipv6/conf/"+name+"/addr_gen_mode", []byte("1"), 0)
		st.LinkUp = true
		if err := a.record(); err != nil {
			return err
		}
		if err := netlink.LinkSetUp(link); err != nil {
			return fmt.Errorf("netcfg: set %s up: %w", name, err)
		}
	}

	have, err := netlink.AddrList(link, netlink.FAMILY_ALL)
	if err != nil {
		return fmt.Errorf("netcfg: list addresses of %s: %w", name, err)
	}
	for _, p := range c.Addresses {
		if hasAddr(have, p) {
			a.log.Debug("netcfg: address present already; leaving it", "interface", name, "address", p)
			continue
		}
		st.Addresses = append(st.Addresses, p)
		if err := a.record(); err != nil {
			return err
		}
		addr := &netlink.Addr{IPNet: addrToIPNet(p)}
		if p.Addr().Is6() {
			// TUN devices are NOARP and skip DAD anyway; say so, so
			// that the address is usable as a route's source at once.
			addr.Flags = unix.IFA_F_NODAD
		}
		if err := netlink.AddrAdd(link, addr); err != nil {
			return fmt.Errorf("netcfg: add address %v to %s: %w", p, name, err)
		}
	}

	// Throw routes first, so that no moment exists where the table routes
	// an excluded address into the tunnel.
	for _, x := range c.Exclude {
		if !covered(c.Routes, x) {
			continue
		}
		r := routeState{Table: c.Table, Dst: netip.PrefixFrom(x, x.BitLen()), Throw: true}
		st.Routes = append(st.Routes, r)
		if err := a.record(); err != nil {
			return err
		}
		if err := netlink.RouteReplace(r.netlink(0)); err != nil {
			return fmt.Errorf("netcfg: throw route for %v in table %d: %w", x, c.Table, err)
		}
	}
	for _, p := range c.Routes {
		r := routeState{Table: c.Table, Dst: p, Src: sourceFor(c.Addresses, p.Addr().Is4())}
		st.Routes = append(st.Routes, r)
		if err := a.record(); err != nil {
			return err
		}
		if err := netlink.RouteReplace(r.netlink(index)); err != nil {
			return fmt.Errorf("netcfg: route %v into %s: %w", p, name, err)
		}
	}

	for _, fam := range []int{4, 6} {
		if !hasFamily(c.Routes, fam == 4) {
			continue
		}
		rules := []ruleState{{Family: fam, Priority: c.Priority, Table: c.Table, SuppressPrefixlen: 0}}
		if isFullTunnel(c.Routes, fam == 4) {
			rules = append(rules,
				ruleState{Family: fam, Priority: c.Priority + 1, Table: tableMain, SuppressPrefixlen: 0},
				ruleState{Family: fam, Priority: c.Priority + 2, Table: c.Table, SuppressPrefixlen: -1})
		}
		for _, r := range rules {
			st.Rules = append(st.Rules, r)
			if err := a.record(); err != nil {
				return err
			}
			if err := netlink.RuleAdd(r.netlink()); err != nil {
				if errors.Is(err, unix.EEXIST) {
					a.log.Debug("netcfg: rule exists already; taking it over", "rule", r)
					continue
				}
				return fmt.Errorf("netcfg: add rule %+v: %w", r, err)
			}
		}
	}

	if len(c.DNS) == 0 || c.DNSMethod == DNSNone {
		return nil
	}
	for _, s := range c.DNS {
		if !covered(c.Routes, s) {
			a.log.Warn("netcfg: DNS server is outside the tunnel routes", "server", s)
		}
	}
	method := c.DNSMethod
	if method == DNSAuto {
		method = DNSResolvConf
		if resolvedRunning() {
			method = DNSResolved
		}
	}
	if method == DNSResolved {
		st.Resolved = &resolvedState{Index: index, Interface: name}
		if err := a.record(); err != nil {
			return err
		}
		if err := setResolved(index, c.DNS, c.Domains); err != nil {
			return fmt.Errorf("netcfg: resolved: %w", err)
		}
		a.log.Info("netcfg: DNS set through systemd-resolved", "interface", name, "servers", c.DNS, "domains", c.Domains)
		return nil
	}
	rc, content, err := prepareResolvConf(c.ResolvConf, c.DNS, name)
	if err != nil {
		return err
	}
	st.ResolvConf = rc
	if err := a.record(); err != nil {
		return err
	}
	if err := writeResolvConf(rc, content); err != nil {
		return err
	}
	if splitDNS(c.Domains) {
		a.log.Warn("netcfg: resolv.conf cannot route names by domain; every name goes to the tunnel's DNS servers",
			"path", rc.Path, "domains", c.Domains)
	}
	a.log.Info("netcfg: DNS set in resolv.conf", "path", rc.Path, "servers", c.DNS)
	return nil
}

func hasAddr(have []netlink.Addr, p netip.Prefix) bool {
	for _, h := range have {
		a, ok := netip.AddrFromSlice(h.IP)
		ones, _ := h.Mask.Size()
		if ok && a.Unmap() == p.Addr() && ones == p.Bits() {
			return true
		}
	}
	return false
}

// sourceFor returns the first address of the family, or the zero Addr.
func sourceFor(addrs []netip.Prefix, is4 bool) netip.Addr {
	for _, a := range addrs {
		if a.Addr().Is4() == is4 {
			return a.Addr()
		}
	}
	return netip.Addr{}
}

func hasFamily(routes []netip.Prefix, is4 bool) bool {
	for _, r := range routes {
		if r.Addr().Is4() == is4 {
			return true
		}
	}
	return false
}

// netlink returns the route; ifindex is the TUN's for a route into it, or 0
// to match any device when deleting.
func (r routeState) netlink(ifindex int) *netlink.Route {
	nr := &netlink.Route{Table: r.Table, Dst: prefixToIPNet(r.Dst)}
	if ifindex == 0 {
		// RT_SCOPE_NOWHERE: the kernel's IPv4 delete matches any scope.
		nr.Scope = netlink.SCOPE_NOWHERE
	}
	if r.Throw {
		nr.Type = unix.RTN_THROW
		return nr
	}
	nr.Type = unix.RTN_UNICAST
	nr.LinkIndex = ifindex
	if ifindex != 0 {
		nr.Scope = netlink.SCOPE_LINK
		if r.Src.IsValid() {
			nr.Src = r.Src.AsSlice()
		}
	}
	return nr
}

func (r ruleState) netlink() *netlink.Rule {
	nr := netlink.NewRule()
	nr.Family = unix.AF_INET
	if r.Family == 6 {
		nr.Family = unix.AF_INET6
	}
	nr.Priority = r.Priority
	nr.Table = r.Table
	nr.SuppressPrefixlen = r.SuppressPrefixlen
	return nr
}

func delRule(r ruleState) error {
	err := netlink.RuleDel(r.netlink())
	if errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

func delRoute(r routeState) error {
	err := netlink.RouteDel(r.netlink(0))
	if errors.Is(err, unix.ESRCH) || errors.Is(err, unix.ENOENT) {
		return nil
	}
	return err
}

func delAddress(iface string, p netip.Prefix) error {
	link, err := netlink.LinkByName(iface)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		return err
	}
	err = netlink.AddrDel(link, &netlink.Addr{IPNet: addrToIPNet(p)})
	if errors.Is(err, unix.EADDRNOTAVAIL) || errors.Is(err, unix.ENODEV) {
		return nil
	}
	return err
}

// setLinkDown sets the interface down if it is still the one Apply set up.
func setLinkDown(iface string, index int) error {
	link, err := netlink.LinkByIndex(index)
	if err != nil || link.Attrs().Name != iface {
		return nil
	}
	err = netlink.LinkSetDown(link)
	if errors.Is(err, unix.ENODEV) {
		return nil
	}
	return err
}

func prefixToIPNet(p netip.Prefix) *net.IPNet {
	p = p.Masked()
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}

// addrToIPNet keeps the host bits: an address, not a network.
func addrToIPNet(p netip.Prefix) *net.IPNet {
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), p.Addr().BitLen())}
}
