package spd

import (
	"encoding/binary"
	"net/netip"
	"testing"
)

// ipv4 returns an IPv4 packet (RFC 791) with optLen bytes of options, the
// given fragment field (flags<<13 | offset) and payload.
func ipv4(src, dst string, proto uint8, optLen int, frag uint16, payload []byte) []byte {
	hl := 20 + optLen
	b := make([]byte, hl+len(payload))
	b[0] = 0x40 | byte(hl/4)
	binary.BigEndian.PutUint16(b[2:], uint16(len(b)))
	binary.BigEndian.PutUint16(b[6:], frag)
	b[8] = 64
	b[9] = proto
	s, d := netip.MustParseAddr(src).As4(), netip.MustParseAddr(dst).As4()
	copy(b[12:], s[:])
	copy(b[16:], d[:])
	for i := 20; i < hl; i++ {
		b[i] = 1 // RFC 791 NOP option
	}
	copy(b[hl:], payload)
	return b
}

// ipv6 returns an IPv6 packet (RFC 8200) whose next header is next and whose
// payload (extension headers included) is payload.
func ipv6(src, dst string, next uint8, payload []byte) []byte {
	b := make([]byte, 40+len(payload))
	b[0] = 0x60
	binary.BigEndian.PutUint16(b[4:], uint16(len(payload)))
	b[6] = next
	b[7] = 64
	s, d := netip.MustParseAddr(src).As16(), netip.MustParseAddr(dst).As16()
	copy(b[8:], s[:])
	copy(b[24:], d[:])
	copy(b[40:], payload)
	return b
}

// ext returns an IPv6 extension header (hop-by-hop, routing, destination
// options) of 8*(1+extLen) bytes.
func ext(next uint8, extLen int) []byte {
	b := make([]byte, 8*(1+extLen))
	b[0] = next
	b[1] = byte(extLen)
	return b
}

// fragHdr returns an IPv6 fragment header (RFC 8200 4.5).
func fragHdr(next uint8, offset uint16, more bool) []byte {
	b := make([]byte, 8)
	b[0] = next
	v := offset << 3
	if more {
		v |= 1
	}
	binary.BigEndian.PutUint16(b[2:], v)
	binary.BigEndian.PutUint32(b[4:], 0xdeadbeef)
	return b
}

func ports(src, dst uint16) []byte {
	b := make([]byte, 20)
	binary.BigEndian.PutUint16(b, src)
	binary.BigEndian.PutUint16(b[2:], dst)
	return b
}

func cat(bs ...[]byte) []byte {
	var out []byte
	for _, b := range bs {
		out = append(out, b...)
	}
	return out
}

var packetTests = []struct {
	name string
	pkt  []byte
	want Packet
	err  error
}{
	{"ipv4 tcp", ipv4("10.0.0.1", "10.0.1.2", ProtoTCP, 0, 0, ports(40000, 443)),
		Packet{mustAddr("10.0.0.1"), mustAddr("10.0.1.2"), ProtoTCP, 40000, 443}, nil},
	{"ipv4 udp with options", ipv4("10.0.0.1", "10.0.1.2", ProtoUDP, 8, 0, ports(500, 4500)),
		Packet{mustAddr("10.0.0.1"), mustAddr("10.0.1.2"), ProtoUDP, 500, 4500}, nil},
	{"ipv4 sctp", ipv4("10.0.0.1", "10.0.1.2", ProtoSCTP, 0, 0, ports(1, 2)),
		Packet{mustAddr("10.0.0.1"), mustAddr("10.0.1.2"), ProtoSCTP, 1, 2}, nil},
	{"ipv4 icmp echo", ipv4("10.0.0.1", "10.0.1.2", ProtoICMP, 0, 0, []byte{8, 0, 0, 0, 0, 0, 0, 0}),
		Packet{mustAddr("10.0.0.1"), mustAddr("10.0.1.2"), ProtoICMP, 0x0800, 0x0800}, nil},
	{"ipv4 icmp unreachable", ipv4("10.0.0.1", "10.0.1.2", ProtoICMP, 0, 0, []byte{3, 4, 0, 0, 0, 0, 0, 0}),
		Packet{mustAddr("10.0.0.1"), mustAddr("10.0.1.2"), ProtoICMP, 0x0304, 0x0304}, nil},
	{"ipv4 gre has no ports", ipv4("10.0.0.1", "10.0.1.2", 47, 0, 0, []byte{0, 0, 8, 0}),
		Packet{mustAddr("10.0.0.1"), mustAddr("10.0.1.2"), 47, 0, 0}, nil},
	{"ipv4 first fragment", ipv4("10.0.0.1", "10.0.1.2", ProtoUDP, 0, 1<<13, ports(53, 5353)),
		Packet{mustAddr("10.0.0.1"), mustAddr("10.0.1.2"), ProtoUDP, 53, 5353}, nil},
	{"ipv4 later fragment", ipv4("10.0.0.1", "10.0.1.2", ProtoUDP, 0, 1<<13|185, ports(53, 5353)),
		Packet{mustAddr("10.0.0.1"), mustAddr("10.0.1.2"), ProtoUDP, 0, 0}, nil},
	{"ipv4 last fragment", ipv4("10.0.0.1", "10.0.1.2", ProtoUDP, 0, 185, []byte{1}),
		Packet{mustAddr("10.0.0.1"), mustAddr("10.0.1.2"), ProtoUDP, 0, 0}, nil},
	{"ipv4 trailing bytes ignored", append(ipv4("10.0.0.1", "10.0.1.2", ProtoTCP, 0, 0, ports(1, 2)), 0xff, 0xff),
		Packet{mustAddr("10.0.0.1"), mustAddr("10.0.1.2"), ProtoTCP, 1, 2}, nil},
	{"ipv4 tcp header cut", ipv4("10.0.0.1", "10.0.1.2", ProtoTCP, 0, 0, []byte{1, 2, 3}), Packet{}, ErrShort},
	{"ipv4 header cut", ipv4("10.0.0.1", "10.0.1.2", ProtoTCP, 0, 0, nil)[:19], Packet{}, ErrShort},
	{"ipv4 total length past buffer", ipv4("10.0.0.1", "10.0.1.2", ProtoTCP, 0, 0, ports(1, 2))[:30], Packet{}, ErrShort},
	{"ipv4 ihl too small", func() []byte {
		b := ipv4("10.0.0.1", "10.0.1.2", ProtoTCP, 0, 0, ports(1, 2))
		b[0] = 0x44
		return b
	}(), Packet{}, ErrMalformed},
	{"ipv4 ihl past total length", func() []byte {
		b := ipv4("10.0.0.1", "10.0.1.2", ProtoTCP, 0, 0, ports(1, 2))
		b[0] = 0x4f
		binary.BigEndian.PutUint16(b[2:], 40)
		return b
	}(), Packet{}, ErrMalformed},
	{"empty", nil, Packet{}, ErrShort},
	{"version 5", []byte{0x50, 0, 0, 0}, Packet{}, ErrMalformed},

	{"ipv6 udp", ipv6("2001:db8::1", "2001:db8:1::2", ProtoUDP, ports(5000, 53)),
		Packet{mustAddr("2001:db8::1"), mustAddr("2001:db8:1::2"), ProtoUDP, 5000, 53}, nil},
	{"ipv6 icmpv6 echo", ipv6("2001:db8::1", "2001:db8:1::2", ProtoICMPv6, []byte{128, 0, 0, 0, 0, 0, 0, 0}),
		Packet{mustAddr("2001:db8::1"), mustAddr("2001:db8:1::2"), ProtoICMPv6, 0x8000, 0x8000}, nil},
	{"ipv6 hop-by-hop routing destopts tcp", ipv6("2001:db8::1", "2001:db8:1::2", ipv6HopByHop,
		cat(ext(ipv6Routing, 0), ext(ipv6DestOpts, 2), ext(ProtoTCP, 1), ports(22, 40022))),
		Packet{mustAddr("2001:db8::1"), mustAddr("2001:db8:1::2"), ProtoTCP, 22, 40022}, nil},
	{"ipv6 first fragment", ipv6("2001:db8::1", "2001:db8:1::2", ipv6Fragment,
		cat(fragHdr(ProtoUDP, 0, true), ports(53, 5353))),
		Packet{mustAddr("2001:db8::1"), mustAddr("2001:db8:1::2"), ProtoUDP, 53, 5353}, nil},
	{"ipv6 later fragment", ipv6("2001:db8::1", "2001:db8:1::2", ipv6HopByHop,
		cat(ext(ipv6Fragment, 0), fragHdr(ProtoUDP, 181, false), ports(53, 5353))),
		Packet{mustAddr("2001:db8::1"), mustAddr("2001:db8:1::2"), ProtoUDP, 0, 0}, nil},
	{"ipv6 no next header", ipv6("2001:db8::1", "2001:db8:1::2", 59, nil),
		Packet{mustAddr("2001:db8::1"), mustAddr("2001:db8:1::2"), 59, 0, 0}, nil},
	{"ipv6 jumbo length from buffer", func() []byte {
		b := ipv6("2001:db8::1", "2001:db8:1::2", ProtoTCP, ports(1, 2))
		b[4], b[5] = 0, 0
		return b
	}(), Packet{mustAddr("2001:db8::1"), mustAddr("2001:db8:1::2"), ProtoTCP, 1, 2}, nil},
	{"ipv6 extension chain too long", ipv6("2001:db8::1", "2001:db8:1::2", ipv6DestOpts,
		cat(ext(ipv6DestOpts, 0), ext(ipv6DestOpts, 0), ext(ipv6DestOpts, 0), ext(ipv6DestOpts, 0),
			ext(ipv6DestOpts, 0), ext(ipv6DestOpts, 0), ext(ipv6DestOpts, 0), ext(ipv6DestOpts, 0),
			ext(ProtoTCP, 0), ports(1, 2))), Packet{}, ErrMalformed},
	{"ipv6 extension header cut", ipv6("2001:db8::1", "2001:db8:1::2", ipv6HopByHop, ext(ProtoTCP, 0)[:6]), Packet{}, ErrShort},
	{"ipv6 extension length past end", ipv6("2001:db8::1", "2001:db8:1::2", ipv6HopByHop, ext(ProtoTCP, 0)[:8]), Packet{}, ErrShort},
	{"ipv6 extension length overflows", func() []byte {
		h := ext(ProtoTCP, 0)
		h[1] = 255
		return ipv6("2001:db8::1", "2001:db8:1::2", ipv6HopByHop, cat(h, ports(1, 2)))
	}(), Packet{}, ErrShort},
	{"ipv6 fragment header cut", ipv6("2001:db8::1", "2001:db8:1::2", ipv6Fragment, fragHdr(ProtoTCP, 0, true)[:4]), Packet{}, ErrShort},
	{"ipv6 payload length past buffer", ipv6("2001:db8::1", "2001:db8:1::2", ProtoTCP, ports(1, 2))[:50], Packet{}, ErrShort},
	{"ipv6 header cut", ipv6("2001:db8::1", "2001:db8:1::2", ProtoTCP, nil)[:39], Packet{}, ErrShort},
}

func mustAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestParsePacket(t *testing.T) {
	for _, tt := range packetTests {
		t.Run(tt.name, func(t *testing.T) {
			p := Packet{Proto: 99, SrcPort: 1} // ParsePacket must overwrite
			err := ParsePacket(tt.pkt, &p)
			if err != tt.err {
				t.Fatalf("err = %v, want %v", err, tt.err)
			}
			if p != tt.want {
				t.Errorf("got %+v, want %+v", p, tt.want)
			}
		})
	}
}

func TestParsePacketAllocs(t *testing.T) {
	var p Packet
	for _, tt := range packetTests {
		if n := testing.AllocsPerRun(100, func() { _ = ParsePacket(tt.pkt, &p) }); n != 0 {
			t.Errorf("%s: %v allocations, want 0", tt.name, n)
		}
	}
}

func FuzzParsePacket(f *testing.F) {
	for _, tt := range packetTests {
		f.Add(tt.pkt)
	}
	f.Fuzz(func(t *testing.T, pkt []byte) {
		var p Packet
		if err := ParsePacket(pkt, &p); err != nil {
			if p != (Packet{}) {
				t.Fatalf("error %v left %+v", err, p)
			}
			return
		}
		if !p.Src.IsValid() || !p.Dst.IsValid() || p.Src.Is4() != p.Dst.Is4() {
			t.Fatalf("bad addresses %+v", p)
		}
		if p.Src.Is4() != (pkt[0]>>4 == 4) {
			t.Fatalf("family does not match version: %+v", p)
		}
	})
}

func BenchmarkParsePacket(b *testing.B) {
	pkt := ipv6("2001:db8::1", "2001:db8:1::2", ipv6HopByHop,
		cat(ext(ipv6DestOpts, 0), ext(ProtoTCP, 0), ports(22, 40022), make([]byte, 1200)))
	var p Packet
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		if err := ParsePacket(pkt, &p); err != nil {
			b.Fatal(err)
		}
	}
}
