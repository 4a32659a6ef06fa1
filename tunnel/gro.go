package tunnel

import (
	"bytes"
	"encoding/binary"
)

// Generic receive offload for the TUN device: consecutive inner TCP (and,
// where the kernel takes UDP GSO on TUN devices, UDP) segments of one flow
// are written as one super-packet with a virtio-net header, so that the
// kernel runs its TCP receive path once per super-packet instead of once per
// segment. The segments are not copied together: groPlan only decides which
// packets form a super-packet and patches the first one's headers; the
// writer hands the kernel the first packet and the payloads of the others as
// one iovec list.
//
// The inner checksums are not verified here, and the super-packet goes to
// the kernel marked as checksum-partial (VIRTIO_NET_HDR_F_NEEDS_CSUM), which
// the kernel trusts on local delivery and completes when it forwards. The
// segments were authenticated by ESP, so what they carry is what the peer
// sent; kernel WireGuard marks decrypted packets checksum-unnecessary for
// the same reason.

// virtio-net header (struct virtio_net_hdr, include/uapi/linux/virtio_net.h),
// in native byte order as the TUN device uses it without TUNSETVNETLE/BE.
const (
	virtioHdrLen        = 10
	virtioFlagNeedsCsum = 1 // VIRTIO_NET_HDR_F_NEEDS_CSUM
	virtioGSONone       = 0
	virtioGSOTCPv4      = 1
	virtioGSOTCPv6      = 4
	virtioGSOUDPL4      = 5
)

const (
	protoTCP = 6
	protoUDP = 17

	tcpFlagPSH = 0x08
	tcpFlagACK = 0x10

	// groScan is how many of the most recent super-packets a segment is
	// compared with: enough for a handful of interleaved flows without
	// making a batch of many flows quadratic.
	groScan = 8
)

// groRun is one packet to write: a lone packet (n == 1) or a super-packet
// made of n segments.
type groRun struct {
	head, tail int // indices of the first and last segment
	n          int
	proto      uint8 // protoTCP, protoUDP; 0: written alone as it is
	v6         bool
	closed     bool   // nothing may be appended any more
	psh        bool   // the last segment carries PSH
	iphLen     int    // IP header length
	hdrLen     int    // IP and transport header length
	gso        int    // payload bytes of every segment but the last
	total      int    // length of the super-packet
	nextSeq    uint32 // TCP: the sequence number that may follow
}

// groPlan groups a batch of inner packets into runs. It is reused from
// batch to batch and allocates nothing once it has grown to the batch size.
type groPlan struct {
	udp  bool // the TUN device takes UDP GSO super-packets
	runs []groRun
	next []int // next[i] is the segment that follows packet i in its run, or -1
}

// segment is what plan needs to know about one packet.
type segment struct {
	proto          uint8
	v6             bool
	iphLen, hdrLen int
	payload        int
	seq            uint32
	psh            bool
}

// parseSegment reports whether pkt (a whole inner IP packet, as
// finishInbound leaves it) may be part of a super-packet, and how.
func parseSegment(pkt []byte, udp bool) (s segment, ok bool) {
	if len(pkt) < 20 {
		return s, false
	}
	switch pkt[0] >> 4 {
	case 4:
		if pkt[0]&0x0f != 5 || int(binary.BigEndian.Uint16(pkt[2:])) != len(pkt) {
			return s, false // options, or a length that disagrees
		}
		if pkt[6]&0x3f != 0 || pkt[7] != 0 {
			return s, false // a fragment (MF or an offset)
		}
		s.iphLen, s.proto = 20, pkt[9]
	case 6:
		if len(pkt) < 40 || 40+int(binary.BigEndian.Uint16(pkt[4:])) != len(pkt) {
			return s, false
		}
		s.iphLen, s.proto, s.v6 = 40, pkt[6], true
	default:
		return s, false
	}
	t := pkt[s.iphLen:]
	switch {
	case s.proto == protoTCP:
		if len(t) < 20 {
			return s, false
		}
		thl := int(t[12]>>4) * 4
		if thl < 20 || len(t) < thl {
			return s, false
		}
		// Only plain data segments: ACK, or ACK and PSH (PSH ends a run).
		if f := t[13]; f != tcpFlagACK && f != tcpFlagACK|tcpFlagPSH {
			return s, false
		}
		s.hdrLen = s.iphLen + thl
		s.seq = binary.BigEndian.Uint32(t[4:])
		s.psh = t[13]&tcpFlagPSH != 0
	case s.proto == protoUDP && udp:
		if len(t) < 8 || int(binary.BigEndian.Uint16(t[4:])) != len(t) {
			return s, false
		}
		s.hdrLen = s.iphLen + 8
	default:
		return s, false
	}
	s.payload = len(pkt) - s.hdrLen
	return s, s.payload > 0
}

// sameFlow reports whether b may be appended to the super-packet whose
// first segment is a: the same flow, and every header field the kernel's
// GRO requires to be equal (include/net/gro.h, tcp_gro_receive) equal.
func sameFlow(a, b []byte, s *segment) bool {
	if len(a) < s.hdrLen || len(b) < s.hdrLen {
		return false
	}
	if s.v6 {
		// version, traffic class, flow label; next header, hop limit,
		// addresses
		if !bytes.Equal(a[0:4], b[0:4]) || !bytes.Equal(a[6:40], b[6:40]) {
			return false
		}
	} else {
		// TOS; DF; TTL, protocol; addresses
		if a[1] != b[1] || a[6]&0xe0 != b[6]&0xe0 || a[8] != b[8] || a[9] != b[9] || !bytes.Equal(a[12:20], b[12:20]) {
			return false
		}
	}
	at, bt := a[s.iphLen:s.hdrLen], b[s.iphLen:s.hdrLen]
	if !bytes.Equal(at[0:4], bt[0:4]) { // ports
		return false
	}
	if s.proto == protoTCP {
		// acknowledgment number, header length, options
		if len(at) != len(bt) || !bytes.Equal(at[8:13], bt[8:13]) || !bytes.Equal(at[20:], bt[20:]) {
			return false
		}
	}
	return true
}

// plan groups pkts into runs, in an order that keeps every flow's packets
// in their order. It allocates nothing once runs and next have the
// capacity of the batch.
func (g *groPlan) plan(pkts [][]byte) {
	g.runs = g.runs[:0]
	if cap(g.next) < len(pkts) {
		g.next = make([]int, len(pkts))
	}
	g.next = g.next[:len(pkts)]
	for i, pkt := range pkts {
		g.next[i] = -1
		s, ok := parseSegment(pkt, g.udp)
		if !ok {
			g.runs = append(g.runs, groRun{head: i, tail: i, n: 1})
			continue
		}
		if g.appendTo(pkts, i, &s) {
			continue
		}
		g.runs = append(g.runs, groRun{head: i, tail: i, n: 1, proto: s.proto, v6: s.v6,
			closed: s.psh, psh: s.psh, iphLen: s.iphLen, hdrLen: s.hdrLen, gso: s.payload,
			total: len(pkt), nextSeq: s.seq + uint32(s.payload)})
	}
}

// appendTo appends packet i to the most recent run of its flow if it may
// follow it there. If it may not, that run is closed, so that no later
// packet of the flow is written before this one.
func (g *groPlan) appendTo(pkts [][]byte, i int, s *segment) bool {
	for k := len(g.runs) - 1; k >= 0 && k >= len(g.runs)-groScan; k-- {
		r := &g.runs[k]
		if r.proto != s.proto || r.v6 != s.v6 || r.hdrLen != s.hdrLen || !sameFlow(pkts[r.head], pkts[i], s) {
			continue
		}
		if r.closed || s.payload > r.gso || r.total+s.payload > 0xffff ||
			(s.proto == protoTCP && s.seq != r.nextSeq) {
			r.closed = true
			return false
		}
		g.next[r.tail] = i
		r.tail = i
		r.n++
		r.total += s.payload
		r.nextSeq = s.seq + uint32(s.payload)
		if s.payload < r.gso || s.psh {
			// Only the last segment may be short or carry PSH.
			r.closed = true
			r.psh = s.psh
		}
		return true
	}
	return false
}

// finish patches the headers of r's first segment, which starts at
// head[virtioHdrLen:], for the super-packet and writes the virtio-net header
// in front of it. A lone packet gets an empty virtio-net header.
func (r *groRun) finish(head []byte) {
	vh := head[:virtioHdrLen]
	clear(vh)
	if r.n == 1 {
		return
	}
	pkt := head[virtioHdrLen:]
	if r.v6 {
		binary.BigEndian.PutUint16(pkt[4:], uint16(r.total-40))
	} else {
		binary.BigEndian.PutUint16(pkt[2:], uint16(r.total))
		pkt[10], pkt[11] = 0, 0
		binary.BigEndian.PutUint16(pkt[10:], ^csumFold(csumBytes(pkt[:20], 0)))
	}
	l4 := pkt[r.iphLen:]
	l4Len := r.total - r.iphLen
	csumOff := 16
	gso := byte(virtioGSOTCPv4)
	if r.v6 {
		gso = virtioGSOTCPv6
	}
	if r.proto == protoUDP {
		csumOff, gso = 6, virtioGSOUDPL4
		binary.BigEndian.PutUint16(l4[4:], uint16(l4Len))
	} else if r.psh {
		l4[13] |= tcpFlagPSH
	}
	// Checksum-partial: the field holds the pseudo-header sum, the kernel
	// adds the rest.
	var sum uint64
	if r.v6 {
		sum = csumBytes(pkt[8:40], 0)
	} else {
		sum = csumBytes(pkt[12:20], 0)
	}
	sum += uint64(r.proto) + uint64(l4Len)
	binary.BigEndian.PutUint16(l4[csumOff:], csumFold(sum))

	vh[0] = virtioFlagNeedsCsum
	vh[1] = gso
	binary.NativeEndian.PutUint16(vh[2:], uint16(r.hdrLen))
	binary.NativeEndian.PutUint16(vh[4:], uint16(r.gso))
	binary.NativeEndian.PutUint16(vh[6:], uint16(r.iphLen))
	binary.NativeEndian.PutUint16(vh[8:], uint16(csumOff))
}

// csumFold folds sum to 16 bits, without complementing it.
func csumFold(sum uint64) uint16 {
	for sum > 0xffff {
		sum = sum>>16 + sum&0xffff
	}
	return uint16(sum)
}
