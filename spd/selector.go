package spd

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// selectorSyntax is quoted by ParseSelector's errors.
const selectorSyntax = `want ADDR, ADDR/LEN, %any or %any6, optionally followed by [PROTO], [PROTO/PORT] or [PROTO/LOW-HIGH]`

// protoNames are the protocol keywords ParseSelector accepts, as in
// /etc/protocols; the first name of a number is the one String prints.
var protoNames = []struct {
	name  string
	proto uint8
}{
	{"icmp", ProtoICMP},
	{"igmp", 2},
	{"ipencap", 4},
	{"tcp", ProtoTCP},
	{"udp", ProtoUDP},
	{"dccp", ProtoDCCP},
	{"ipv6", 41},
	{"gre", 47},
	{"esp", 50},
	{"ah", 51},
	{"icmpv6", ProtoICMPv6},
	{"ipv6-icmp", ProtoICMPv6},
	{"ospf", 89},
	{"sctp", ProtoSCTP},
	{"udplite", ProtoUDPLite},
}

// AnyPorts reports whether the selector places no constraint on ports: its
// protocol is any (ports are then ignored) or its range is 0-65535.
func (s Selector) AnyPorts() bool {
	return s.Proto == 0 || (s.PortLow == 0 && s.PortHigh == 0xffff)
}

// Matches reports whether address a, protocol proto and port (the packet's
// port on a's side, see ParsePacket for ICMP) fall within the selector. A
// selector with protocol 0 matches every protocol and port, whatever its port
// range says. Matches never allocates.
func (s Selector) Matches(a netip.Addr, proto uint8, port uint16) bool {
	if !s.Prefix.Contains(a) {
		return false
	}
	if s.Proto == 0 {
		return true
	}
	return s.Proto == proto && port >= s.PortLow && port <= s.PortHigh
}

// ParseSelector parses a traffic selector in swanctl's syntax:
//
//	10.0.0.0/24           a prefix (host bits are masked off, as swanctl does)
//	10.0.0.1, 2001:db8::1 a host: /32 or /128
//	%any, %any6           0.0.0.0/0, ::/0
//	10.0.0.0/24[tcp]      a protocol by name (tcp, udp, icmp, icmpv6, sctp, ...)
//	10.0.0.0/24[47]       or by number (0-255; 0 or %any means any protocol)
//	10.0.0.0/24[tcp/443]  one port (%any for all ports)
//	10.0.0.0/24[udp/500-600] a port range
//
// For icmp and icmpv6 the port is the ICMP type and code as in swanctl: a
// value below 256 is a message type (any code), a value from 256 up is
// type<<8|code (see ParsePacket). Address ranges (ADDR-ADDR), "dynamic"
// (resolved by the config layer), service names and opaque ports are not
// selectors this package represents and are rejected.
func ParseSelector(s string) (Selector, error) {
	in := s
	s = strings.TrimSpace(s)
	addr, pp, hasPP := strings.Cut(s, "[")
	if hasPP {
		var ok bool
		if pp, ok = strings.CutSuffix(pp, "]"); !ok {
			return Selector{}, selectorError(in, "missing ] after protocol/port")
		}
	}
	var sel Selector
	var err error
	if sel.Prefix, err = parseSelectorPrefix(addr); err != nil {
		return Selector{}, selectorError(in, err.Error())
	}
	sel.PortLow, sel.PortHigh = 0, 0xffff
	if !hasPP {
		return sel, nil
	}
	protoStr, portStr, hasPort := strings.Cut(pp, "/")
	if sel.Proto, err = parseProto(protoStr); err != nil {
		return Selector{}, selectorError(in, err.Error())
	}
	if !hasPort || portStr == "%any" || portStr == "any" {
		return sel, nil
	}
	if sel.Proto == 0 {
		return Selector{}, selectorError(in, "a port needs a protocol, e.g. [tcp/443] or [udp/%any]")
	}
	if sel.PortLow, sel.PortHigh, err = parsePortRange(portStr, sel.Proto); err != nil {
		return Selector{}, selectorError(in, err.Error())
	}
	return sel, nil
}

func selectorError(s, msg string) error {
	return fmt.Errorf("spd: traffic selector %q: %s (%s)", s, msg, selectorSyntax)
}

func parseSelectorPrefix(s string) (netip.Prefix, error) {
	switch s {
	case "":
		return netip.Prefix{}, fmt.Errorf("missing address")
	case "%any", "0.0.0.0/0":
		return netip.PrefixFrom(netip.IPv4Unspecified(), 0), nil
	case "%any6", "::/0":
		return netip.PrefixFrom(netip.IPv6Unspecified(), 0), nil
	case "dynamic":
		return netip.Prefix{}, fmt.Errorf(`"dynamic" must be replaced by an address before it becomes a selector`)
	}
	if strings.Contains(s, "%") {
		return netip.Prefix{}, fmt.Errorf("IPv6 zones are not allowed in selectors")
	}
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, fmt.Errorf("bad prefix %q", s)
		}
		return p.Masked(), nil
	}
	if strings.Contains(s, "-") {
		return netip.Prefix{}, fmt.Errorf("address ranges are not supported, use prefixes")
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("bad address %q", s)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

func parseProto(s string) (uint8, error) {
	switch s {
	case "", "%any", "any":
		return 0, nil
	}
	for _, pn := range protoNames {
		if strings.EqualFold(s, pn.name) {
			return pn.proto, nil
		}
	}
	n, err := strconv.ParseUint(s, 10, 8)
	if err != nil {
		return 0, fmt.Errorf("unknown protocol %q: want a number 0-255 or one of icmp, tcp, udp, sctp, icmpv6, gre, esp, ah, ...", s)
	}
	return uint8(n), nil
}

func parsePortRange(s string, proto uint8) (low, high uint16, err error) {
	lo, hi, isRange := strings.Cut(s, "-")
	if !isRange {
		hi = lo
	}
	l, err1 := strconv.ParseUint(lo, 10, 16)
	h, err2 := strconv.ParseUint(hi, 10, 16)
	if err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("bad port %q: want a number 0-65535, a range LOW-HIGH or %%any", s)
	}
	if isICMP(proto) {
		// swanctl: below 256 the value is a type, so the range spans all
		// of its codes.
		if l < 256 {
			l <<= 8
		}
		if h < 256 {
			h = h<<8 | 0xff
		}
	}
	if l > h {
		return 0, 0, fmt.Errorf("port range %q runs backwards", s)
	}
	return uint16(l), uint16(h), nil
}

func isICMP(proto uint8) bool { return proto == ProtoICMP || proto == ProtoICMPv6 }

// String returns the selector in the syntax ParseSelector reads, so that
// ParseSelector(s.String()) == s for every selector ParseSelector returns.
// Host selectors keep their length ("10.0.0.1/32"). An ICMP range that is
// not whole types, with a bound below 256, has no swanctl spelling; String
// then prints the raw numbers, which read back differently.
func (s Selector) String() string {
	if !s.Prefix.IsValid() {
		return "invalid"
	}
	p := s.Prefix.String()
	if s.Proto == 0 {
		return p
	}
	name := strconv.Itoa(int(s.Proto))
	for _, pn := range protoNames {
		if pn.proto == s.Proto {
			name = pn.name
			break
		}
	}
	if s.AnyPorts() {
		return p + "[" + name + "]"
	}
	lo, hi := int(s.PortLow), int(s.PortHigh)
	if isICMP(s.Proto) && lo&0xff == 0 && hi&0xff == 0xff {
		lo, hi = lo>>8, hi>>8 // whole types
	}
	ports := strconv.Itoa(lo)
	if hi != lo {
		ports += "-" + strconv.Itoa(hi)
	}
	return p + "[" + name + "/" + ports + "]"
}
