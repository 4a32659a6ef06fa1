package spd

import (
	"encoding/binary"
	"errors"
	"net/netip"
)

// Errors returned by ParsePacket. Callers drop such packets and count them as
// malformed; both are sentinels so that returning them never allocates.
var (
	ErrShort     = errors.New("spd: truncated packet")
	ErrMalformed = errors.New("spd: malformed packet")
)

// IANA protocol numbers the SPD looks into.
const (
	ProtoICMP    = 1
	ProtoTCP     = 6
	ProtoUDP     = 17
	ProtoDCCP    = 33
	ProtoICMPv6  = 58
	ProtoSCTP    = 132
	ProtoUDPLite = 136
)

// IPv6 extension headers walked by ParsePacket (RFC 8200 4).
const (
	ipv6HopByHop = 0
	ipv6Routing  = 43
	ipv6Fragment = 44
	ipv6DestOpts = 60

	// maxIPv6ExtHeaders bounds the walk. RFC 8200 4.1 allows each header
	// once (destination options twice); a longer chain is an attack.
	maxIPv6ExtHeaders = 8
)

// ParsePacket fills p with the addresses, next layer protocol and ports of
// the IPv4 or IPv6 packet pkt, as an SPD lookup needs them (RFC 4301 4.4.1.1).
// pkt is only read and not retained. ParsePacket never allocates and never
// panics; on error p is zeroed and the error is ErrShort or ErrMalformed.
//
// Ports are set for TCP, UDP, SCTP, DCCP and UDP-Lite. ICMP and ICMPv6
// carry no ports; their message type and code are put in both SrcPort and
// DstPort as one 16-bit value, type in the high byte and code in the low byte,
// the encoding IKEv2 traffic selectors use for ICMP (RFC 7296 3.13.1) and
// swanctl's "[icmp/TYPE]" selectors are written in. A selector port range
// thus matches ICMP by type and code from either side.
//
// Fragments: the first fragment is parsed like a whole packet; non-initial
// fragments carry no next layer header, so their ports are zero and they
// match only selectors with any port (RFC 4301 7: a tunnel-mode SA whose
// selectors name ports cannot take non-initial fragments). For IPv6, Proto is
// the next header after the extension headers (hop-by-hop, routing,
// destination options, fragment); for a non-initial fragment it is the next
// header named by the fragment header.
func ParsePacket(pkt []byte, p *Packet) error {
	*p = Packet{}
	if len(pkt) == 0 {
		return ErrShort
	}
	var err error
	switch pkt[0] >> 4 {
	case 4:
		err = parseIPv4(pkt, p)
	case 6:
		err = parseIPv6(pkt, p)
	default:
		err = ErrMalformed
	}
	if err != nil {
		*p = Packet{}
	}
	return err
}

func parseIPv4(pkt []byte, p *Packet) error {
	if len(pkt) < 20 {
		return ErrShort
	}
	ihl := int(pkt[0]&0x0f) * 4
	total := int(binary.BigEndian.Uint16(pkt[2:4]))
	if ihl < 20 || total < ihl {
		return ErrMalformed
	}
	if total > len(pkt) {
		return ErrShort
	}
	pkt = pkt[:total]
	p.Src = netip.AddrFrom4([4]byte(pkt[12:16]))
	p.Dst = netip.AddrFrom4([4]byte(pkt[16:20]))
	p.Proto = pkt[9]
	// RFC 791: the low 13 bits of flags+offset are the fragment offset.
	if binary.BigEndian.Uint16(pkt[6:8])&0x1fff != 0 {
		return nil // non-initial fragment: no ports
	}
	return parsePorts(pkt[ihl:], p)
}

func parseIPv6(pkt []byte, p *Packet) error {
	if len(pkt) < 40 {
		return ErrShort
	}
	// Payload length 0 means a jumbogram (RFC 2675); the hop-by-hop option
	// carries the length and the buffer bounds it.
	if plen := int(binary.BigEndian.Uint16(pkt[4:6])); plen != 0 {
		if 40+plen > len(pkt) {
			return ErrShort
		}
		pkt = pkt[:40+plen]
	}
	p.Src = netip.AddrFrom16([16]byte(pkt[8:24]))
	p.Dst = netip.AddrFrom16([16]byte(pkt[24:40]))
	next := pkt[6]
	off := 40
	for range maxIPv6ExtHeaders {
		switch next {
		case ipv6HopByHop, ipv6Routing, ipv6DestOpts:
			// RFC 8200 4.3-4.6: Next Header, Hdr Ext Len in 8-octet
			// units not counting the first 8 octets.
			if len(pkt)-off < 8 {
				return ErrShort
			}
			next = pkt[off]
			off += (int(pkt[off+1]) + 1) * 8
			if off > len(pkt) {
				return ErrShort
			}
		case ipv6Fragment:
			// RFC 8200 4.5: fixed 8 octets, offset in the high 13 bits.
			if len(pkt)-off < 8 {
				return ErrShort
			}
			next = pkt[off]
			fragOff := binary.BigEndian.Uint16(pkt[off+2:off+4]) >> 3
			off += 8
			if fragOff != 0 {
				p.Proto = next
				return nil // non-initial fragment: no ports
			}
		default:
			p.Proto = next
			return parsePorts(pkt[off:], p)
		}
	}
	return ErrMalformed
}

// parsePorts reads the ports (or ICMP type and code) of p.Proto from the
// start of the next layer header l4.
func parsePorts(l4 []byte, p *Packet) error {
	switch p.Proto {
	case ProtoTCP, ProtoUDP, ProtoSCTP, ProtoDCCP, ProtoUDPLite:
		if len(l4) < 4 {
			return ErrShort
		}
		p.SrcPort = binary.BigEndian.Uint16(l4[0:2])
		p.DstPort = binary.BigEndian.Uint16(l4[2:4])
	case ProtoICMP, ProtoICMPv6:
		if len(l4) < 2 {
			return ErrShort
		}
		tc := binary.BigEndian.Uint16(l4[0:2]) // type<<8 | code
		p.SrcPort, p.DstPort = tc, tc
	}
	return nil
}
