package sysnet

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"net/netip"
	"strings"
)

// Paths of the macOS tools.
const (
	ifconfigPath = "/sbin/ifconfig"
	routePath    = "/sbin/route"
	scutilPath   = "/usr/sbin/scutil"
)

func inetFlag(a netip.Addr) string {
	if a.Is4() {
		return "-inet"
	}
	return "-inet6"
}

// MacAddAddress puts p (with its host bits, normally a /32 or /128) on the
// utun device. utun is point-to-point: an IPv4 address needs a destination,
// and gets itself, as wg-quick does.
func MacAddAddress(iface string, p netip.Prefix) Cmd {
	if p.Addr().Is4() {
		return Cmd{Path: ifconfigPath, Args: []string{iface, "inet", p.String(), p.Addr().String(), "alias"}}
	}
	return Cmd{Path: ifconfigPath, Args: []string{iface, "inet6", p.String(), "alias"}}
}

// MacDelAddress removes the address of p from the device.
func MacDelAddress(iface string, p netip.Prefix) Cmd {
	fam := "inet6"
	if p.Addr().Is4() {
		fam = "inet"
	}
	return Cmd{Path: ifconfigPath, Args: []string{iface, fam, p.Addr().String(), "-alias"}}
}

// MacSetMTU sets the device's MTU.
func MacSetMTU(iface string, mtu int) Cmd {
	return Cmd{Path: ifconfigPath, Args: []string{iface, "mtu", fmt.Sprint(mtu)}}
}

// MacAddRoute routes dst into the device.
func MacAddRoute(iface string, dst netip.Prefix) Cmd {
	return Cmd{Path: routePath, Args: []string{"-q", "-n", "add", inetFlag(dst.Addr()), dst.Masked().String(), "-interface", iface}}
}

// MacDelRoute removes the route MacAddRoute added.
func MacDelRoute(iface string, dst netip.Prefix) Cmd {
	return Cmd{Path: routePath, Args: []string{"-q", "-n", "delete", inetFlag(dst.Addr()), dst.Masked().String(), "-interface", iface}}
}

// MacAddHostRoute adds a host route to peer through hop: the gateway if
// there is one, else the interface.
func MacAddHostRoute(peer netip.Addr, hop NextHop) Cmd {
	return Cmd{Path: routePath, Args: append([]string{"-q", "-n", "add", inetFlag(peer), HostPrefix(peer).String()}, macVia(hop)...)}
}

// MacDelHostRoute removes the route MacAddHostRoute added.
func MacDelHostRoute(peer netip.Addr, hop NextHop) Cmd {
	return Cmd{Path: routePath, Args: append([]string{"-q", "-n", "delete", inetFlag(peer), HostPrefix(peer).String()}, macVia(hop)...)}
}

func macVia(hop NextHop) []string {
	if hop.Gateway.IsValid() {
		return []string{"-gateway", hop.Gateway.String()}
	}
	return []string{"-interface", hop.Interface}
}

// MacRouteGet asks route(8) how a packet to peer leaves now.
func MacRouteGet(peer netip.Addr) Cmd {
	return Cmd{Path: routePath, Args: []string{"-n", "get", inetFlag(peer), peer.String()}}
}

// ParseMacRouteGet reads the output of MacRouteGet:
//
//	   route to: 192.0.2.7
//	destination: default
//	       mask: default
//	    gateway: 192.168.1.1
//	  interface: en0
//	      flags: <UP,GATEWAY,DONE,STATIC,PRCLONING>
//
// A directly connected peer has no gateway line, or one that names a link
// ("link#4") rather than an address; its NextHop has no Gateway. A
// destination that is the peer itself with no mask line (or an all-ones
// mask) is a host route: NextHop.Host.
func ParseMacRouteGet(out []byte) (NextHop, error) {
	var hop NextHop
	var to, dst netip.Addr
	hostMask := true
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		v = strings.TrimSpace(v)
		switch strings.TrimSpace(k) {
		case "gateway":
			if a, err := netip.ParseAddr(v); err == nil {
				hop.Gateway = a
			}
		case "interface":
			hop.Interface = v
		case "route to":
			to, _ = netip.ParseAddr(v)
		case "destination":
			dst, _ = netip.ParseAddr(v)
		case "mask":
			hostMask = v == "255.255.255.255" || v == "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff"
		}
	}
	hop.Host = to.IsValid() && dst == to && hostMask
	if !ValidIfName(hop.Interface) {
		return NextHop{}, errors.New("route get: no interface in the output")
	}
	return hop, nil
}

// ValidIfName reports whether s is a name that can go into a command as an
// interface: 1 to 15 letters, digits, dots, hyphens and underscores, not
// starting with a hyphen (it would read as an option).
func ValidIfName(s string) bool {
	if s == "" || len(s) > 15 || s[0] == '-' {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// MacDNS is a resolver configuration for scutil.
type MacDNS struct {
	// Service names the dynamic store entries: State:/Network/Service/
	// SERVICE/DNS (and .../IPv4 for a default resolver). Letters, digits,
	// dots and hyphens.
	Service string
	// Interface is the utun device.
	Interface string
	Servers   []netip.Addr
	// Domains restrict the servers to names at or below them
	// (SupplementalMatchDomains); none means every name.
	Domains []string
	// Addresses are the device's IPv4 addresses, published with the IPv4
	// entry that makes the service primary when Domains is empty.
	Addresses []netip.Addr
}

func (d MacDNS) key(entity string) string {
	return "State:/Network/Service/" + d.Service + "/" + entity
}

// ScutilSet writes the DNS entry, and for a resolver of every name the IPv4
// entry with OverridePrimary, which makes this service the primary one and
// so its servers the default resolver. Split DNS sets only
// SupplementalMatchDomains, with SupplementalMatchDomainsNoSearch so that
// the domains do not become a search list (RFC 8598 names say where to
// resolve, as with systemd-resolved's routing-only domains).
func ScutilSet(d MacDNS) Cmd {
	var b strings.Builder
	b.WriteString("d.init\n")
	b.WriteString("d.add ServerAddresses *")
	for _, s := range d.Servers {
		b.WriteString(" " + s.String())
	}
	b.WriteString("\n")
	if len(d.Domains) > 0 {
		b.WriteString("d.add SupplementalMatchDomains *")
		for _, dom := range d.Domains {
			b.WriteString(" " + dom)
		}
		b.WriteString("\nd.add SupplementalMatchDomainsNoSearch # 1\n")
	}
	b.WriteString("set " + d.key("DNS") + "\n")
	if len(d.Domains) == 0 {
		b.WriteString("d.init\n")
		b.WriteString("d.add InterfaceName " + d.Interface + "\n")
		var v4 []string
		for _, a := range d.Addresses {
			if a.Is4() {
				v4 = append(v4, a.String())
			}
		}
		if len(v4) > 0 {
			b.WriteString("d.add Addresses * " + strings.Join(v4, " ") + "\n")
			b.WriteString("d.add SubnetMasks *" + strings.Repeat(" 255.255.255.255", len(v4)) + "\n")
		}
		b.WriteString("d.add OverridePrimary # 1\n")
		b.WriteString("set " + d.key("IPv4") + "\n")
	}
	b.WriteString("quit\n")
	return Cmd{Path: scutilPath, Stdin: b.String()}
}

// ScutilRemove removes both entries ScutilSet may have written; removing
// one that is not there is no error.
func ScutilRemove(service string) Cmd {
	d := MacDNS{Service: service}
	return Cmd{Path: scutilPath, Stdin: "remove " + d.key("DNS") + "\nremove " + d.key("IPv4") + "\nquit\n"}
}
