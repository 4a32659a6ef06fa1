package spd

// AutoPriorityBase is the lowest priority AutoPriority returns and
// AutoPriorityMax the highest. Explicit priorities below AutoPriorityBase
// therefore always precede automatic ones, priorities above AutoPriorityMax
// always follow them.
const (
	AutoPriorityBase = 1 << 16
	AutoPriorityMax  = AutoPriorityBase + 256<<4 + 1<<3 + 2<<1 + 1
)

// AutoPriority returns a priority that orders p after every narrower policy,
// in the spirit of strongSwan's automatic policy priorities:
//
//	AutoPriorityBase + (hostLocal+hostRemote)<<4 | protoAny<<3 | portsAny<<1 | protect
//
// hostLocal and hostRemote are the host bits of the widest selector on each
// side (address length minus prefix length), IPv4 scaled by 4 to IPv6's
// 128 bits so both families weigh alike: 0 for a host, 128 for %any. protoAny
// is 1 if any selector leaves the protocol open; portsAny counts the sides
// (0-2) with a selector that leaves the ports open; protect is 0 for Discard
// and Bypass and 1 for Protect, so that at equal specificity shunt policies
// come first. Prefix length dominates, then protocol, then ports, as in
// strongSwan. A side with no selectors counts as the widest possible.
//
// A policy is ranked by its widest selectors: one that mixes a narrow and a
// wide selector is placed with the wide ones, so that it never shadows a
// narrower policy. Give narrow selectors their own policy to rank them ahead.
func AutoPriority(p *Policy) uint32 {
	hl, protoAnyL, portsAnyL := width(p.Local)
	hr, protoAnyR, portsAnyR := width(p.Remote)
	prio := uint32(AutoPriorityBase) + uint32(hl+hr)<<4
	if protoAnyL || protoAnyR {
		prio |= 1 << 3
	}
	var portsAny uint32
	if portsAnyL {
		portsAny++
	}
	if portsAnyR {
		portsAny++
	}
	prio |= portsAny << 1
	if p.Action == Protect {
		prio |= 1
	}
	return prio
}

// width returns the scaled host bits of the widest selector in sels and
// whether any selector leaves protocol or ports open.
func width(sels []Selector) (hostBits int, protoAny, portsAny bool) {
	if len(sels) == 0 {
		return 128, true, true
	}
	for _, s := range sels {
		h := s.Prefix.Addr().BitLen() - s.Prefix.Bits()
		if s.Prefix.Addr().Is4() {
			h *= 4
		}
		if !s.Prefix.IsValid() {
			h = 128
		}
		hostBits = max(hostBits, h)
		protoAny = protoAny || s.Proto == 0
		portsAny = portsAny || s.AnyPorts()
	}
	return hostBits, protoAny, portsAny
}
