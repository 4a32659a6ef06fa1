package tunnel

import (
	"encoding/binary"
	"errors"
	"math/bits"
)

// Segmentation of the super-packets a TUN device with the virtio-net header
// hands over (TSO, and UDP GSO on Linux 6.2+): the kernel leaves the
// transport checksum partial and expects the reader to cut the payload into
// segments of gsoSize bytes, each with its own headers and checksums, as a
// NIC would.

var errVirtio = errors.New("tunnel: malformed virtio-net super-packet")

// virtioHdr is struct virtio_net_hdr.
type virtioHdr struct {
	flags      uint8
	gsoType    uint8
	hdrLen     uint16
	gsoSize    uint16
	csumStart  uint16
	csumOffset uint16
}

func decodeVirtioHdr(b []byte) (h virtioHdr) {
	h.flags, h.gsoType = b[0], b[1]
	h.hdrLen = binary.NativeEndian.Uint16(b[2:])
	h.gsoSize = binary.NativeEndian.Uint16(b[4:])
	h.csumStart = binary.NativeEndian.Uint16(b[6:])
	h.csumOffset = binary.NativeEndian.Uint16(b[8:])
	return h
}

// superPacket is one read from the TUN device, decoded: pkt (without the
// virtio-net header) and how it splits.
type superPacket struct {
	pkt     []byte
	h       virtioHdr
	hdrLen  int // headers repeated in every segment (IP and transport)
	payload int // bytes of payload per segment (the last may be shorter)
	segs    int
}

// decode checks what the virtio-net header says about pkt and works out
// the segments. It never trusts the header's hdrLen: like wireguard's tun
// package, it takes the transport header length from the packet.
func (s *superPacket) decode(in []byte) error {
	if len(in) < virtioHdrLen {
		return errVirtio
	}
	s.h = decodeVirtioHdr(in)
	s.pkt = in[virtioHdrLen:]
	p := s.pkt
	if s.h.gsoType == virtioGSONone {
		s.segs, s.hdrLen, s.payload = 1, 0, len(p)
		if s.h.flags&virtioFlagNeedsCsum != 0 {
			at := int(s.h.csumStart) + int(s.h.csumOffset)
			if int(s.h.csumStart) > len(p) || at+2 > len(p) {
				return errVirtio
			}
			// The field holds the pseudo-header sum; the sum runs from
			// csumStart to the end.
			binary.BigEndian.PutUint16(p[at:], ^csumFold(csumBytes(p[s.h.csumStart:], 0)))
		}
		return nil
	}
	if len(p) < 20 || s.h.gsoSize == 0 || s.h.flags&virtioFlagNeedsCsum == 0 {
		return errVirtio
	}
	v6 := p[0]>>4 == 6
	switch {
	case s.h.gsoType == virtioGSOTCPv4 && p[0]>>4 == 4, s.h.gsoType == virtioGSOTCPv6 && v6:
		if s.h.csumOffset != 16 || int(s.h.csumStart)+20 > len(p) {
			return errVirtio
		}
		thl := int(p[int(s.h.csumStart)+12]>>4) * 4
		if thl < 20 {
			return errVirtio
		}
		s.hdrLen = int(s.h.csumStart) + thl
	case s.h.gsoType == virtioGSOUDPL4 && (p[0]>>4 == 4 || v6):
		if s.h.csumOffset != 6 {
			return errVirtio
		}
		s.hdrLen = int(s.h.csumStart) + 8
	default:
		return errVirtio
	}
	iph := int(s.h.csumStart)
	if v6 && iph != 40 || !v6 && (iph != int(p[0]&0x0f)*4 || iph < 20) || s.hdrLen >= len(p) {
		return errVirtio // IPv6 extension headers are not offloaded by TUN
	}
	s.payload = int(s.h.gsoSize)
	s.segs = (len(p) - s.hdrLen + s.payload - 1) / s.payload
	return nil
}

// split writes the segments of s into bufs[i][off:], with their sizes in
// sizes, and returns how many it wrote (s.segs; the caller has made sure
// there is room). Every segment gets its own lengths, IPv4 ID and header
// checksum, TCP sequence number and flags (FIN and PSH only on the last,
// CWR only on the first, as Linux's tcp_gso_segment does) or UDP length,
// and a full transport checksum.
func (s *superPacket) split(bufs [][]byte, sizes []int, off int) int {
	p := s.pkt
	if s.segs == 1 && s.h.gsoType == virtioGSONone {
		sizes[0] = copy(bufs[0][off:], p)
		return 1
	}
	iph := int(s.h.csumStart)
	v6 := p[0]>>4 == 6
	tcp := s.h.gsoType != virtioGSOUDPL4
	csumAt := iph + int(s.h.csumOffset)
	var seq0 uint32
	var id0 uint16
	if tcp {
		seq0 = binary.BigEndian.Uint32(p[iph+4:])
	}
	if !v6 {
		id0 = binary.BigEndian.Uint16(p[4:])
	}
	// Pseudo-header sum without the length, shared by every segment.
	var pseudo uint64
	if v6 {
		pseudo = csumBytes(p[8:40], 0)
	} else {
		pseudo = csumBytes(p[12:20], 0)
	}
	if tcp {
		pseudo += protoTCP
	} else {
		pseudo += protoUDP
	}
	data := p[s.hdrLen:]
	for i := 0; i < s.segs; i++ {
		lo := i * s.payload
		hi := min(lo+s.payload, len(data))
		out := bufs[i][off : off+s.hdrLen+hi-lo]
		copy(out, p[:s.hdrLen])
		copy(out[s.hdrLen:], data[lo:hi])
		sizes[i] = len(out)
		if v6 {
			binary.BigEndian.PutUint16(out[4:], uint16(len(out)-40))
		} else {
			binary.BigEndian.PutUint16(out[2:], uint16(len(out)))
			binary.BigEndian.PutUint16(out[4:], id0+uint16(i))
			out[10], out[11] = 0, 0
			binary.BigEndian.PutUint16(out[10:], ^csumFold(csumBytes(out[:iph], 0)))
		}
		l4 := out[iph:]
		if tcp {
			binary.BigEndian.PutUint32(l4[4:], seq0+uint32(lo))
			if i > 0 {
				l4[13] &^= 0x80 // CWR
			}
			if i < s.segs-1 {
				l4[13] &^= 0x01 | tcpFlagPSH // FIN, PSH
			}
		} else {
			binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
		}
		out[csumAt], out[csumAt+1] = 0, 0
		c := ^csumFold(csumBytes(l4, pseudo+uint64(len(l4))))
		if !tcp && c == 0 {
			c = 0xffff // RFC 768: a computed zero is sent as all ones
		}
		binary.BigEndian.PutUint16(out[csumAt:], c)
	}
	return s.segs
}

// csumBytes adds b to sum as big-endian 16-bit words (RFC 1071), an odd
// last byte padded with zero. It adds 32-bit words into a 64-bit sum, which
// is the same modulo 0xffff and needs no carries; csumFold folds the
// result.
func csumBytes(b []byte, sum uint64) uint64 {
	var s0, s1, s2, s3 uint64
	for len(b) >= 32 {
		s0 += uint64(binary.BigEndian.Uint32(b)) + uint64(binary.BigEndian.Uint32(b[16:]))
		s1 += uint64(binary.BigEndian.Uint32(b[4:])) + uint64(binary.BigEndian.Uint32(b[20:]))
		s2 += uint64(binary.BigEndian.Uint32(b[8:])) + uint64(binary.BigEndian.Uint32(b[24:]))
		s3 += uint64(binary.BigEndian.Uint32(b[12:])) + uint64(binary.BigEndian.Uint32(b[28:]))
		b = b[32:]
	}
	for len(b) >= 4 {
		s0 += uint64(binary.BigEndian.Uint32(b))
		b = b[4:]
	}
	if len(b) >= 2 {
		s1 += uint64(binary.BigEndian.Uint16(b))
		b = b[2:]
	}
	if len(b) == 1 {
		s2 += uint64(b[0]) << 8
	}
	// Fold each before adding so the total cannot overflow.
	var c uint64
	sum, c = bits.Add64(sum, s0+s1, 0)
	sum, c = bits.Add64(sum, s2+s3, c)
	return sum + c
}
