package netns

import (
	"encoding/binary"
	"net/netip"
)

const ipProtoUDP = 17

// UDP is a parsed view of an IPv4 or IPv6 UDP packet (no IPv6 extension
// headers, no IPv4 fragments).
type UDP struct {
	Src, Dst  netip.AddrPort
	HeaderLen int // IP header length: the UDP header starts here
	Payload   []byte
}

// ParseUDP parses pkt as an IP packet carrying UDP. ok is false for
// anything else.
func ParseUDP(pkt []byte) (u UDP, ok bool) {
	if len(pkt) < 1 {
		return u, false
	}
	var src, dst netip.Addr
	switch pkt[0] >> 4 {
	case 4:
		if len(pkt) < 20 {
			return u, false
		}
		ihl := int(pkt[0]&0x0f) * 4
		total := int(binary.BigEndian.Uint16(pkt[2:4]))
		if pkt[9] != ipProtoUDP || ihl < 20 || total > len(pkt) || total < ihl+8 ||
			binary.BigEndian.Uint16(pkt[6:8])&0x3fff != 0 {
			return u, false
		}
		src, dst = netip.AddrFrom4([4]byte(pkt[12:16])), netip.AddrFrom4([4]byte(pkt[16:20]))
		u.HeaderLen = ihl
		pkt = pkt[:total]
	case 6:
		if len(pkt) < 48 || pkt[6] != ipProtoUDP {
			return u, false
		}
		total := 40 + int(binary.BigEndian.Uint16(pkt[4:6]))
		if total > len(pkt) {
			return u, false
		}
		src, dst = netip.AddrFrom16([16]byte(pkt[8:24])), netip.AddrFrom16([16]byte(pkt[24:40]))
		u.HeaderLen = 40
		pkt = pkt[:total]
	default:
		return u, false
	}
	h := pkt[u.HeaderLen:]
	ulen := int(binary.BigEndian.Uint16(h[4:6]))
	if ulen < 8 || ulen > len(h) {
		return u, false
	}
	u.Src = netip.AddrPortFrom(src, binary.BigEndian.Uint16(h[0:2]))
	u.Dst = netip.AddrPortFrom(dst, binary.BigEndian.Uint16(h[2:4]))
	u.Payload = h[8:ulen]
	return u, true
}

// FixUDPChecksum recomputes the UDP checksum of pkt, an IPv4 or IPv6
// packet that ParseUDP read into u. Captured packets need it before they
// are sent again: a sender that offloads checksums hands the veth, and so
// the packet tap, only the pseudo-header sum, and a packet changed on
// purpose must still reach the UDP socket behind the port.
func FixUDPChecksum(pkt []byte, u UDP) {
	h := pkt[u.HeaderLen : u.HeaderLen+8+len(u.Payload)]
	h[6], h[7] = 0, 0
	var sum uint32
	add := func(b []byte) {
		for i := 0; i+1 < len(b); i += 2 {
			sum += uint32(b[i])<<8 | uint32(b[i+1])
		}
		if len(b)%2 == 1 {
			sum += uint32(b[len(b)-1]) << 8
		}
	}
	add(u.Src.Addr().AsSlice())
	add(u.Dst.Addr().AsSlice())
	sum += ipProtoUDP + uint32(len(h))
	add(h)
	for sum>>16 != 0 {
		sum = sum&0xffff + sum>>16
	}
	c := ^uint16(sum)
	if c == 0 {
		c = 0xffff // RFC 768: a computed zero is sent as all ones
	}
	binary.BigEndian.PutUint16(h[6:8], c)
}
