package ike

import (
	"encoding/binary"
	"math/bits"
	"net/netip"
	"slices"

	"github.com/esptun/esptun/config"
	"github.com/esptun/esptun/ike/wire"
	"github.com/esptun/esptun/spd"
)

// RFC 7296 3.13.1: traffic selectors are address ranges with a protocol and
// a port range; esptun's SPD works with prefixes. These helpers convert and
// intersect.

// selectorToTS converts an SPD selector to a traffic selector.
func selectorToTS(s spd.Selector) wire.TrafficSelector {
	p := s.Prefix.Masked()
	ts := wire.TrafficSelector{
		Type:       wire.TSIPv4AddrRange,
		IPProtocol: s.Proto,
		StartPort:  s.PortLow,
		EndPort:    s.PortHigh,
		StartAddr:  p.Addr(),
		EndAddr:    lastAddr(p),
	}
	if p.Addr().Is6() {
		ts.Type = wire.TSIPv6AddrRange
	}
	if ts.StartPort == 0 && ts.EndPort == 0 {
		ts.EndPort = 65535
	}
	return ts
}

// tsToSelectors converts a traffic selector to the fewest prefixes that
// cover exactly its address range.
func tsToSelectors(ts wire.TrafficSelector) []spd.Selector {
	var out []spd.Selector
	for _, p := range rangeToPrefixes(ts.StartAddr, ts.EndAddr) {
		out = append(out, spd.Selector{Prefix: p, Proto: ts.IPProtocol, PortLow: ts.StartPort, PortHigh: ts.EndPort})
	}
	return out
}

func lastAddr(p netip.Prefix) netip.Addr {
	a := p.Addr().AsSlice()
	bits := p.Bits()
	for i := range a {
		for b := 0; b < 8; b++ {
			if i*8+b >= bits {
				a[i] |= 0x80 >> b
			}
		}
	}
	out, _ := netip.AddrFromSlice(a)
	return out
}

// u128 is an address as a number, IPv4 in the low 32 bits; the range
// arithmetic below works on it without allocating.
type u128 struct{ hi, lo uint64 }

func addrU128(a netip.Addr) u128 {
	if a.Is4() {
		b := a.As4()
		return u128{lo: uint64(binary.BigEndian.Uint32(b[:]))}
	}
	b := a.As16()
	return u128{binary.BigEndian.Uint64(b[:8]), binary.BigEndian.Uint64(b[8:])}
}

func (x u128) addr(v6 bool) netip.Addr {
	if !v6 {
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], uint32(x.lo))
		return netip.AddrFrom4(b)
	}
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], x.hi)
	binary.BigEndian.PutUint64(b[8:], x.lo)
	return netip.AddrFrom16(b)
}

// lowBits is the number whose n low bits are set (n <= 128).
func lowBits(n int) u128 {
	switch {
	case n <= 0:
		return u128{}
	case n < 64:
		return u128{lo: 1<<n - 1}
	case n < 128:
		return u128{hi: 1<<(n-64) - 1, lo: ^uint64(0)}
	}
	return u128{^uint64(0), ^uint64(0)}
}

func (x u128) less(y u128) bool { return x.hi < y.hi || x.hi == y.hi && x.lo < y.lo }

// rangeToPrefixes returns the prefixes that exactly cover start..end.
func rangeToPrefixes(start, end netip.Addr) []netip.Prefix {
	if !start.IsValid() || !end.IsValid() || start.Is6() != end.Is6() || end.Less(start) {
		return nil
	}
	v6 := start.Is6()
	width := start.BitLen()
	s, e := addrU128(start), addrU128(end)
	var out []netip.Prefix
	for {
		// The largest block aligned at s that does not pass e: its last
		// address is s with the block's low bits set.
		size := 0
		for size < width {
			m := lowBits(size + 1)
			if s.hi&m.hi != 0 || s.lo&m.lo != 0 {
				break
			}
			if e.less(u128{s.hi | m.hi, s.lo | m.lo}) {
				break
			}
			size++
		}
		out = append(out, netip.PrefixFrom(s.addr(v6), width-size))
		m := lowBits(size)
		last := u128{s.hi | m.hi, s.lo | m.lo}
		if last == e || len(out) > 256 {
			// Done (without stepping past the top of the address
			// space), or a pathological range: the caller narrows to
			// what fits.
			return out
		}
		var carry uint64
		s.lo, carry = bits.Add64(last.lo, 1, 0)
		s.hi += carry
	}
}

// intersectTS returns the intersection of a and b and whether it is not
// empty (RFC 7296 2.9 narrowing). Protocol 0 and the port range 0-65535 are
// wildcards; ICMP type/code ranges follow RFC 4301's port-field convention.
func intersectTS(a, b wire.TrafficSelector) (wire.TrafficSelector, bool) {
	if a.Type != b.Type {
		return wire.TrafficSelector{}, false
	}
	out := wire.TrafficSelector{Type: a.Type}
	switch {
	case a.IPProtocol == b.IPProtocol:
		out.IPProtocol = a.IPProtocol
	case a.IPProtocol == 0:
		out.IPProtocol = b.IPProtocol
	case b.IPProtocol == 0:
		out.IPProtocol = a.IPProtocol
	default:
		return out, false
	}
	out.StartPort = max(a.StartPort, b.StartPort)
	out.EndPort = min(a.EndPort, b.EndPort)
	if out.StartPort > out.EndPort {
		// RFC 4301 4.4.1: the OPAQUE range 65535-0 matches only OPAQUE.
		if !(a.StartPort == 65535 && a.EndPort == 0 && b.StartPort == 65535 && b.EndPort == 0) {
			return out, false
		}
		out.StartPort, out.EndPort = 65535, 0
	}
	out.StartAddr = a.StartAddr
	if b.StartAddr.Compare(out.StartAddr) > 0 {
		out.StartAddr = b.StartAddr
	}
	out.EndAddr = a.EndAddr
	if b.EndAddr.Compare(out.EndAddr) < 0 {
		out.EndAddr = b.EndAddr
	}
	if out.EndAddr.Less(out.StartAddr) {
		return out, false
	}
	return out, true
}

// narrow intersects every offered selector with every configured one and
// returns the non-empty results in the offer's order (RFC 7296 2.9).
func narrow(offered, configured []wire.TrafficSelector) []wire.TrafficSelector {
	var out []wire.TrafficSelector
	for _, o := range offered {
		for _, c := range configured {
			if x, ok := intersectTS(o, c); ok && !containsTS(out, x) {
				out = append(out, x)
			}
		}
	}
	return out
}

func containsTS(list []wire.TrafficSelector, x wire.TrafficSelector) bool {
	for _, t := range list {
		if tsEqual(t, x) {
			return true
		}
	}
	return false
}

func tsEqual(a, b wire.TrafficSelector) bool {
	return a.Type == b.Type && a.IPProtocol == b.IPProtocol && a.StartPort == b.StartPort &&
		a.EndPort == b.EndPort && a.StartAddr == b.StartAddr && a.EndAddr == b.EndAddr
}

// subsetOf reports whether every selector of got lies inside some selector
// of offered: what an initiator checks of the responder's narrowing.
func subsetOf(got, offered []wire.TrafficSelector) bool {
	for _, g := range got {
		ok := false
		for _, o := range offered {
			if x, inter := intersectTS(g, o); inter && tsEqual(x, g) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return len(got) > 0
}

// configSelectors returns the configured list of cfg's that holds exactly
// the selectors of sel, if there is one, else sel: the Child SAs of a
// gateway then share the configuration's list instead of holding a copy
// each (48 bytes per list of one). Neither list is ever changed.
func configSelectors(sel []spd.Selector, cfg *config.Child) []spd.Selector {
	for _, c := range [...][]spd.Selector{cfg.LocalTS.Selectors, cfg.RemoteTS.Selectors} {
		if len(c) == len(sel) && len(c) > 0 && slices.Equal(c, sel) {
			return c
		}
	}
	return sel
}

func selectorsToTS(sel []spd.Selector) []wire.TrafficSelector {
	out := make([]wire.TrafficSelector, 0, len(sel))
	for _, s := range sel {
		out = append(out, selectorToTS(s))
	}
	return out
}

func tsListToSelectors(ts []wire.TrafficSelector) []spd.Selector {
	if len(ts) == 1 {
		return tsToSelectors(ts[0])
	}
	var out []spd.Selector
	for _, t := range ts {
		out = append(out, tsToSelectors(t)...)
	}
	return out
}
