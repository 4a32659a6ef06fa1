package sysnet

import (
	"encoding/binary"
	"fmt"
	"net/netip"
	"strings"
)

// Programs run on Windows (found through PATH, which holds System32).
const (
	netshPath      = "netsh.exe"
	powershellPath = "powershell.exe"
)

func netshFamily(a netip.Addr) string {
	if a.Is4() {
		return "ipv4"
	}
	return "ipv6"
}

func netsh(a netip.Addr, args ...string) Cmd {
	return Cmd{Path: netshPath, Args: append([]string{"interface", netshFamily(a)}, args...)}
}

// Every change is made with store=active: it lasts until the next reboot at
// most, so a crash never leaves anything for good.

// WinAddAddress puts p (with its host bits) on the interface.
func WinAddAddress(iface string, p netip.Prefix) Cmd {
	if p.Addr().Is4() {
		return netsh(p.Addr(), "add", "address", "name="+iface, "address="+p.String(), "store=active")
	}
	return netsh(p.Addr(), "add", "address", "interface="+iface, "address="+p.String(), "store=active")
}

// WinDelAddress removes the address of p from the interface.
func WinDelAddress(iface string, p netip.Prefix) Cmd {
	if p.Addr().Is4() {
		return netsh(p.Addr(), "delete", "address", "name="+iface, "address="+p.Addr().String(), "store=active")
	}
	return netsh(p.Addr(), "delete", "address", "interface="+iface, "address="+p.Addr().String(), "store=active")
}

// WinSetMTU sets the interface's MTU for one family. IPv6 needs at least
// 1280 (RFC 8200 5); the caller skips it below that.
func WinSetMTU(iface string, mtu int, is4 bool) Cmd {
	a := netip.IPv6Unspecified()
	if is4 {
		a = netip.IPv4Unspecified()
	}
	return netsh(a, "set", "subinterface", "interface="+iface, fmt.Sprintf("mtu=%d", mtu), "store=active")
}

func onLink(a netip.Addr) string {
	if a.Is4() {
		return netip.IPv4Unspecified().String()
	}
	return netip.IPv6Unspecified().String()
}

// WinAddRoute routes dst into the interface, on-link (no next hop).
func WinAddRoute(iface string, dst netip.Prefix) Cmd {
	return netsh(dst.Addr(), "add", "route", "prefix="+dst.Masked().String(), "interface="+iface,
		"nexthop="+onLink(dst.Addr()), "metric=0", "store=active")
}

// WinDelRoute removes the route WinAddRoute added.
func WinDelRoute(iface string, dst netip.Prefix) Cmd {
	return netsh(dst.Addr(), "delete", "route", "prefix="+dst.Masked().String(), "interface="+iface,
		"nexthop="+onLink(dst.Addr()), "store=active")
}

func winVia(peer netip.Addr, hop NextHop) []string {
	gw := onLink(peer)
	if hop.Gateway.IsValid() {
		gw = hop.Gateway.WithZone("").String()
	}
	return []string{fmt.Sprintf("interface=%d", hop.Index), "nexthop=" + gw}
}

// WinAddHostRoute adds a host route to peer through hop (by interface
// index, since the names of physical interfaces hold spaces).
func WinAddHostRoute(peer netip.Addr, hop NextHop) Cmd {
	return netsh(peer, append(append([]string{"add", "route", "prefix=" + HostPrefix(peer).String()}, winVia(peer, hop)...), "store=active")...)
}

// WinDelHostRoute removes the route WinAddHostRoute added.
func WinDelHostRoute(peer netip.Addr, hop NextHop) Cmd {
	return netsh(peer, append(append([]string{"delete", "route", "prefix=" + HostPrefix(peer).String()}, winVia(peer, hop)...), "store=active")...)
}

// WinSetDNS makes servers the interface's DNS servers: the first of each
// family with "set", the others appended in order with "add". The servers
// are not registered in DNS and not probed first.
func WinSetDNS(iface string, servers []netip.Addr) []Cmd {
	var cmds []Cmd
	for _, is4 := range []bool{true, false} {
		n := 0
		for _, s := range servers {
			if s.Is4() != is4 {
				continue
			}
			n++
			if n == 1 {
				cmds = append(cmds, netsh(s, "set", "dnsservers", "name="+iface, "source=static",
					"address="+s.String(), "register=none", "validate=no"))
				continue
			}
			cmds = append(cmds, netsh(s, "add", "dnsservers", "name="+iface, "address="+s.String(),
				fmt.Sprintf("index=%d", n), "validate=no"))
		}
	}
	return cmds
}

// WinClearDNS removes the interface's DNS servers of one family.
func WinClearDNS(iface string, is4 bool) Cmd {
	a := netip.IPv6Unspecified()
	if is4 {
		a = netip.IPv4Unspecified()
	}
	return netsh(a, "delete", "dnsservers", "name="+iface, "address=all", "validate=no")
}

func powershell(script string) Cmd {
	return Cmd{Path: powershellPath, Args: []string{"-NoProfile", "-NonInteractive", "-Command", script}}
}

// psQuote quotes s as a PowerShell single-quoted string.
func psQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", "''") + "'" }

// NRPTNamespaces returns the Name Resolution Policy Table namespaces for
// DNS domains: "corp.example" becomes "corp.example" (the name itself) and
// ".corp.example" (every name below it); "." (every name) stays ".".
func NRPTNamespaces(domains []string) []string {
	var ns []string
	for _, d := range domains {
		if d == "." {
			ns = append(ns, ".")
			continue
		}
		ns = append(ns, d, "."+d)
	}
	return ns
}

// NRPTAdd adds one Name Resolution Policy Table rule that sends the names
// of the namespaces to servers, tagged with comment so that NRPTRemove
// finds it, and flushes the resolver cache.
func NRPTAdd(comment string, namespaces []string, servers []netip.Addr) Cmd {
	ns := make([]string, len(namespaces))
	for i, n := range namespaces {
		ns[i] = psQuote(n)
	}
	ss := make([]string, len(servers))
	for i, s := range servers {
		ss[i] = psQuote(s.String())
	}
	return powershell(fmt.Sprintf("Add-DnsClientNrptRule -Namespace %s -NameServers %s -Comment %s; Clear-DnsClientCache",
		strings.Join(ns, ","), strings.Join(ss, ","), psQuote(comment)))
}

// NRPTRemove removes every rule tagged with comment; none is no error.
func NRPTRemove(comment string) Cmd {
	return powershell(fmt.Sprintf("Get-DnsClientNrptRule | Where-Object { $_.Comment -eq %s } | Remove-DnsClientNrptRule -Force; Clear-DnsClientCache",
		psQuote(comment)))
}

// WinRoute is one row of the Windows routing table.
type WinRoute struct {
	Dst     netip.Prefix
	NextHop netip.Addr // unspecified: on-link
	Index   int
	Metric  int
}

// BestWinRoute picks the route a packet to peer takes through the
// interface index the system chose for it (GetBestInterfaceEx): the longest
// prefix on that interface holding peer, the lowest metric among equals.
func BestWinRoute(routes []WinRoute, peer netip.Addr, index int) (NextHop, bool) {
	best := -1
	for i, r := range routes {
		if r.Index != index || !r.Dst.IsValid() || !r.Dst.Contains(peer) {
			continue
		}
		if best < 0 || r.Dst.Bits() > routes[best].Dst.Bits() ||
			r.Dst.Bits() == routes[best].Dst.Bits() && r.Metric < routes[best].Metric {
			best = i
		}
	}
	if best < 0 {
		return NextHop{}, false
	}
	hop := NextHop{Index: index, Host: routes[best].Dst.Bits() == peer.BitLen()}
	if nh := routes[best].NextHop; nh.IsValid() && !nh.IsUnspecified() {
		hop.Gateway = nh
	}
	return hop, true
}

// Windows address families in SOCKADDR_INET.
const (
	winAFInet  = 2
	winAFInet6 = 23
)

// SockaddrInetAddr decodes the address in a Windows SOCKADDR_INET (28
// bytes, little-endian family first): sockaddr_in has the address at offset
// 4, sockaddr_in6 at offset 8. Other families give the zero Addr.
func SockaddrInetAddr(b [28]byte) netip.Addr {
	switch binary.LittleEndian.Uint16(b[0:2]) {
	case winAFInet:
		return netip.AddrFrom4([4]byte(b[4:8]))
	case winAFInet6:
		return netip.AddrFrom16([16]byte(b[8:24]))
	}
	return netip.Addr{}
}
