package netcfg

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"slices"

	"github.com/esptun/esptun/internal/sysnet"
)

// macOS and Windows: one routing table, so a full tunnel is the two /1
// routes of each family plus a host route to each excluded address through
// the route it takes before Apply (its gateway then). Every change is a
// sysChange, recorded in the state file before it is made; the commands
// that make and undo it are computed from the record alone (sysDo, sysUndo),
// so the state file never holds a command line.

// Kinds of sysChange.
const (
	changeAddress   = "address"    // Dst (host bits kept) on the TUN
	changeRoute     = "route"      // Dst into the TUN
	changePeerRoute = "peer_route" // host route Dst through Gateway or Via/ViaIndex
	changeDNS       = "dns"        // macOS: scutil entries; Windows: the TUN's DNS servers
	changeNRPT      = "nrpt"       // Windows: a Name Resolution Policy Table rule
)

const (
	osDarwin  = "darwin"
	osWindows = "windows"
)

// sysChange is one change on macOS or Windows.
type sysChange struct {
	Kind    string       `json:"kind"`
	Dst     netip.Prefix `json:"dst,omitzero"`
	Gateway netip.Addr   `json:"gateway,omitzero"`
	// Via is the outgoing interface of a macOS peer route without a
	// gateway; ViaIndex the outgoing interface of a Windows peer route.
	Via      string `json:"via,omitempty"`
	ViaIndex int    `json:"via_index,omitempty"`
	// Service names the scutil entries (macOS) or tags the NRPT rule
	// (Windows).
	Service   string       `json:"service,omitempty"`
	Servers   []netip.Addr `json:"servers,omitempty"`
	Domains   []string     `json:"domains,omitempty"`
	Addresses []netip.Addr `json:"addresses,omitempty"`
}

func (ch sysChange) hop() sysnet.NextHop {
	return sysnet.NextHop{Gateway: ch.Gateway, Interface: ch.Via, Index: ch.ViaIndex}
}

// onTUN reports whether the change lives on the TUN device and went with
// it if the device is gone.
func (ch sysChange) onTUN() bool {
	return ch.Kind == changeAddress || ch.Kind == changeRoute
}

// serviceID names the scutil entries and the NRPT rule of one Config. The
// table number tells connections apart (each has its own, see Config.Table).
func serviceID(c Config) string { return fmt.Sprintf("esptun.%s.%d", c.Interface, c.Table) }

// sysPlan returns the changes Apply makes for c on goos, in order:
// addresses not present yet, host routes for the excluded addresses the
// routes cover (before the routes, so that no moment exists where they go
// into the tunnel; none where a host route for the address exists already),
// the routes with default routes split in halves, DNS. hops are the
// excluded addresses' routes before Apply.
func sysPlan(goos string, c Config, present []netip.Prefix, hops map[netip.Addr]sysnet.NextHop) ([]sysChange, error) {
	var chs []sysChange
	for _, p := range c.Addresses {
		if slices.Contains(present, p) {
			continue
		}
		chs = append(chs, sysChange{Kind: changeAddress, Dst: p})
	}
	routes := sysnet.SplitDefault(c.Routes)
	for _, x := range c.Exclude {
		if !covered(routes, x) {
			continue
		}
		hop, ok := hops[x]
		if !ok {
			return nil, fmt.Errorf("netcfg: no route known for %v", x)
		}
		if hop.Host {
			continue // pinned outside the tunnel already
		}
		chs = append(chs, sysChange{Kind: changePeerRoute, Dst: sysnet.HostPrefix(x),
			Gateway: hop.Gateway, Via: hop.Interface, ViaIndex: hop.Index})
	}
	for _, r := range routes {
		chs = append(chs, sysChange{Kind: changeRoute, Dst: r})
	}
	if len(c.DNS) == 0 || c.DNSMethod == DNSNone {
		return chs, nil
	}
	if c.DNSMethod != DNSAuto {
		return nil, fmt.Errorf("netcfg: DNS method %q exists on Linux only", c.DNSMethod)
	}
	var domains []string
	if splitDNS(c.Domains) {
		domains = c.Domains
	}
	switch goos {
	case osDarwin:
		var v4 []netip.Addr
		for _, p := range c.Addresses {
			if p.Addr().Is4() {
				v4 = append(v4, p.Addr())
			}
		}
		chs = append(chs, sysChange{Kind: changeDNS, Service: serviceID(c), Servers: c.DNS, Domains: domains, Addresses: v4})
	case osWindows:
		if len(domains) == 0 {
			// Every name: the servers go on the TUN, and a rule for
			// "." keeps Windows from asking the other interfaces'
			// servers too.
			chs = append(chs, sysChange{Kind: changeDNS, Servers: c.DNS})
			domains = []string{"."}
		}
		chs = append(chs, sysChange{Kind: changeNRPT, Service: serviceID(c), Servers: c.DNS, Domains: domains})
	default:
		return nil, fmt.Errorf("netcfg: no DNS configuration for %s", goos)
	}
	return chs, nil
}

// sysDo returns the commands that make the change on goos for the TUN
// device iface.
func sysDo(goos, iface string, ch sysChange) []sysnet.Cmd {
	mac := goos == osDarwin
	switch ch.Kind {
	case changeAddress:
		if mac {
			return []sysnet.Cmd{sysnet.MacAddAddress(iface, ch.Dst)}
		}
		return []sysnet.Cmd{sysnet.WinAddAddress(iface, ch.Dst)}
	case changeRoute:
		if mac {
			return []sysnet.Cmd{sysnet.MacAddRoute(iface, ch.Dst)}
		}
		return []sysnet.Cmd{sysnet.WinAddRoute(iface, ch.Dst)}
	case changePeerRoute:
		if mac {
			return []sysnet.Cmd{sysnet.MacAddHostRoute(ch.Dst.Addr(), ch.hop())}
		}
		return []sysnet.Cmd{sysnet.WinAddHostRoute(ch.Dst.Addr(), ch.hop())}
	case changeDNS:
		if mac {
			return []sysnet.Cmd{sysnet.ScutilSet(sysnet.MacDNS{Service: ch.Service, Interface: iface,
				Servers: ch.Servers, Domains: ch.Domains, Addresses: ch.Addresses})}
		}
		return sysnet.WinSetDNS(iface, ch.Servers)
	case changeNRPT:
		return []sysnet.Cmd{sysnet.NRPTAdd(ch.Service, sysnet.NRPTNamespaces(ch.Domains), ch.Servers)}
	}
	return nil
}

// sysUndo returns the commands that take the change back.
func sysUndo(goos, iface string, ch sysChange) []sysnet.Cmd {
	mac := goos == osDarwin
	switch ch.Kind {
	case changeAddress:
		if mac {
			return []sysnet.Cmd{sysnet.MacDelAddress(iface, ch.Dst)}
		}
		return []sysnet.Cmd{sysnet.WinDelAddress(iface, ch.Dst)}
	case changeRoute:
		if mac {
			return []sysnet.Cmd{sysnet.MacDelRoute(iface, ch.Dst)}
		}
		return []sysnet.Cmd{sysnet.WinDelRoute(iface, ch.Dst)}
	case changePeerRoute:
		if mac {
			return []sysnet.Cmd{sysnet.MacDelHostRoute(ch.Dst.Addr(), ch.hop())}
		}
		return []sysnet.Cmd{sysnet.WinDelHostRoute(ch.Dst.Addr(), ch.hop())}
	case changeDNS:
		if mac {
			return []sysnet.Cmd{sysnet.ScutilRemove(ch.Service)}
		}
		var cmds []sysnet.Cmd
		for _, is4 := range []bool{true, false} {
			if slices.ContainsFunc(ch.Servers, func(a netip.Addr) bool { return a.Is4() == is4 }) {
				cmds = append(cmds, sysnet.WinClearDNS(iface, is4))
			}
		}
		return cmds
	case changeNRPT:
		return []sysnet.Cmd{sysnet.NRPTRemove(ch.Service)}
	}
	return nil
}

// check rejects a record that Undo must not act on: it comes from a file.
func (ch sysChange) check(goos string) error {
	bad := func(what string) error {
		return fmt.Errorf("netcfg: state file: invalid %s change: %s", ch.Kind, what)
	}
	plain := func(a netip.Addr) bool { return a.IsValid() && a.Zone() == "" && !a.Is4In6() }
	switch ch.Kind {
	case changeAddress, changeRoute:
		if !plain(ch.Dst.Addr()) {
			return bad("destination")
		}
	case changePeerRoute:
		if !plain(ch.Dst.Addr()) || ch.Dst.Bits() != ch.Dst.Addr().BitLen() {
			return bad("destination")
		}
		if ch.Gateway.IsValid() && (ch.Gateway.Is4() != ch.Dst.Addr().Is4() || ch.Gateway.Is4In6() ||
			ch.Gateway.Zone() != "" && !sysnet.ValidIfName(ch.Gateway.Zone())) {
			return bad("gateway")
		}
		if goos == osDarwin && !ch.Gateway.IsValid() && !sysnet.ValidIfName(ch.Via) ||
			ch.Via != "" && !sysnet.ValidIfName(ch.Via) {
			return bad("interface")
		}
		if goos == osWindows && ch.ViaIndex <= 0 {
			return bad("interface index")
		}
	case changeDNS, changeNRPT:
		if ch.Kind == changeNRPT && goos != osWindows {
			return bad("not on " + goos)
		}
		if (goos == osDarwin || ch.Kind == changeNRPT) && !validService(ch.Service) {
			return bad("service")
		}
		if len(ch.Servers) == 0 {
			return bad("no servers")
		}
		for _, lists := range [][]netip.Addr{ch.Servers, ch.Addresses} {
			for _, s := range lists {
				if !plain(s) {
					return bad("address")
				}
			}
		}
		for _, d := range ch.Domains {
			if n, ok := normalizeDomain(d); !ok || n != d || d == "." && ch.Kind != changeNRPT {
				return bad("domain")
			}
		}
	default:
		return fmt.Errorf("netcfg: state file: unknown change %q", ch.Kind)
	}
	return nil
}

// validService: letters, digits, dots, hyphens; it goes into scutil keys and
// a PowerShell string.
func validService(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// sysHost is what Apply and Undo touch on macOS and Windows; tests give a
// fake one.
type sysHost struct {
	goos string
	// run runs a command and returns its output.
	run func(sysnet.Cmd) ([]byte, error)
	// peerRoute is how a packet to an address leaves now.
	peerRoute func(netip.Addr) (sysnet.NextHop, error)
	// iface returns an interface's index and addresses, or an error if
	// it does not exist.
	iface func(name string) (int, []netip.Prefix, error)
}

// newSysHost is the real host.
func newSysHost(goos string) *sysHost {
	return &sysHost{goos: goos, run: sysnet.Run, peerRoute: sysnet.PeerRoute, iface: netInterface}
}

func netInterface(name string) (int, []netip.Prefix, error) {
	ifi, err := net.InterfaceByName(name)
	if err != nil {
		return 0, nil, err
	}
	addrs, err := ifi.Addrs()
	if err != nil {
		return 0, nil, err
	}
	var ps []netip.Prefix
	for _, a := range addrs {
		n, ok := a.(*net.IPNet)
		if !ok {
			continue
		}
		ip, ok := netip.AddrFromSlice(n.IP)
		if !ok {
			continue
		}
		ones, _ := n.Mask.Size()
		ps = append(ps, netip.PrefixFrom(ip.Unmap(), ones))
	}
	return ifi.Index, ps, nil
}

// sysApply is Apply on macOS and Windows.
func sysApply(h *sysHost, c Config, log *slog.Logger) (*Applied, error) {
	log = discardIfNil(log)
	c, err := c.normalized(log)
	if err != nil {
		return nil, err
	}
	if !sysnet.ValidIfName(c.Interface) {
		return nil, fmt.Errorf("netcfg: interface name %q cannot go into a command", c.Interface)
	}
	index, present, err := h.iface(c.Interface)
	if err != nil {
		return nil, fmt.Errorf("netcfg: interface %s: %w", c.Interface, err)
	}
	routes := sysnet.SplitDefault(c.Routes)
	hops := map[netip.Addr]sysnet.NextHop{}
	for _, x := range c.Exclude {
		if !covered(routes, x) {
			continue
		}
		hop, err := h.peerRoute(x)
		if err != nil {
			return nil, fmt.Errorf("netcfg: route to %v: %w", x, err)
		}
		if hop.Interface == c.Interface || hop.Index != 0 && hop.Index == index {
			return nil, fmt.Errorf("netcfg: %v is routed into %s already", x, c.Interface)
		}
		hops[x] = hop
	}
	plan, err := sysPlan(h.goos, c, present, hops)
	if err != nil {
		return nil, err
	}
	for _, s := range c.DNS {
		if !covered(routes, s) {
			log.Warn("netcfg: DNS server is outside the tunnel routes", "server", s)
		}
	}
	a := &Applied{
		stateFile: c.StateFile,
		log:       log,
		sys:       h,
		st:        &state{Version: stateVersion, OS: h.goos, Interface: c.Interface, Index: index},
	}
	if err := a.create(); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, ch := range plan {
		a.st.Changes = append(a.st.Changes, ch)
		err := a.saveLocked()
		for _, cmd := range sysDo(h.goos, c.Interface, ch) {
			if err != nil {
				break
			}
			_, err = h.run(cmd)
		}
		if err != nil {
			err = fmt.Errorf("netcfg: %s %v: %w", ch.Kind, ch.Dst, err)
			if uerr := a.undoLocked(); uerr != nil {
				return nil, errors.Join(err, fmt.Errorf("netcfg: rolling back: %w", uerr))
			}
			return nil, err
		}
	}
	log.Info("netcfg: host configured", "interface", c.Interface, "addresses", c.Addresses,
		"routes", routes, "dns", c.DNS, "domains", c.Domains)
	return a, nil
}

// undoSys takes one change back. A change on a TUN device that is gone
// went with it; a removal whose output says there is nothing to remove is
// done too.
func (a *Applied) undoSys(ch sysChange) error {
	h, st := a.sys, a.st
	if h == nil || h.goos != st.OS {
		return fmt.Errorf("the state was written on %s", st.OS)
	}
	if ch.onTUN() || ch.Kind == changeDNS && st.OS == osWindows {
		if _, _, err := h.iface(st.Interface); err != nil {
			return nil
		}
	}
	for _, cmd := range sysUndo(st.OS, st.Interface, ch) {
		if out, err := h.run(cmd); err != nil && !sysnet.Gone(out) {
			return err
		}
	}
	return nil
}
