package tunnel

import (
	"encoding/binary"
	"math/rand/v2"
	"net/netip"
	"testing"
)

// groSeg builds an inner TCP or UDP segment of flow (src and dst ports
// sport, dport) with payload bytes of a pattern starting at seq, its
// checksums valid, with tunWriteOffset bytes of room in front.
func groSeg(v6 bool, proto uint8, sport uint16, seq uint32, payload int, psh bool) []byte {
	iph, l4h := 20, 32 // TCP with 12 bytes of options (timestamps)
	if v6 {
		iph = 40
	}
	if proto == protoUDP {
		l4h = 8
	}
	buf := make([]byte, tunWriteOffset+iph+l4h+payload)
	p := buf[tunWriteOffset:]
	src, dst := netip.MustParseAddr("10.2.0.1"), netip.MustParseAddr("10.1.0.1")
	if v6 {
		src, dst = netip.MustParseAddr("fd00:2::1"), netip.MustParseAddr("fd00:1::1")
		p[0] = 0x60
		binary.BigEndian.PutUint16(p[4:], uint16(l4h+payload))
		p[6], p[7] = proto, 64
		a, b := src.As16(), dst.As16()
		copy(p[8:], a[:])
		copy(p[24:], b[:])
	} else {
		p[0] = 0x45
		binary.BigEndian.PutUint16(p[2:], uint16(len(p)))
		binary.BigEndian.PutUint16(p[4:], uint16(seq))
		p[6], p[8], p[9] = 0x40, 64, proto
		a, b := src.As4(), dst.As4()
		copy(p[12:], a[:])
		copy(p[16:], b[:])
		binary.BigEndian.PutUint16(p[10:], ^csumFold(csumBytes(p[:20], 0)))
	}
	l4 := p[iph:]
	binary.BigEndian.PutUint16(l4[0:], sport)
	binary.BigEndian.PutUint16(l4[2:], 5001)
	for i := range payload {
		l4[l4h+i] = byte(seq + uint32(i))
	}
	csumAt := 6
	if proto == protoTCP {
		binary.BigEndian.PutUint32(l4[4:], seq)
		binary.BigEndian.PutUint32(l4[8:], 7777)
		l4[12] = byte(l4h/4) << 4
		l4[13] = tcpFlagACK
		if psh {
			l4[13] |= tcpFlagPSH
		}
		binary.BigEndian.PutUint16(l4[14:], 500)
		copy(l4[20:], []byte{1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2})
		csumAt = 16
	} else {
		binary.BigEndian.PutUint16(l4[4:], uint16(len(l4)))
	}
	binary.BigEndian.PutUint16(l4[csumAt:], ^fullSum(p, iph, proto))
	return buf
}

// fullSum is the transport checksum sum of IP packet p over the pseudo
// header and the transport header and payload, folded.
func fullSum(p []byte, iph int, proto uint8) uint16 {
	var sum uint64
	if iph == 40 {
		sum = csumBytes(p[8:40], 0)
	} else {
		sum = csumBytes(p[12:20], 0)
	}
	l4 := p[iph:]
	sum += uint64(proto) + uint64(len(l4))
	even := len(l4) &^ 1
	sum = csumBytes(l4[:even], sum)
	if len(l4) > even {
		sum += uint64(l4[even]) << 8
	}
	return csumFold(sum)
}

// assemble does what the kernel does with a planned run: the first segment
// with its headers patched by finish, followed by the other payloads; it
// returns the virtio-net header and the super-packet with its transport
// checksum completed (checksum-partial, as the kernel completes it).
func assemble(t *testing.T, g *groPlan, r *groRun, bufs [][]byte) (vh, pkt []byte) {
	t.Helper()
	head := bufs[r.head][tunWriteOffset-virtioHdrLen:]
	r.finish(head)
	vh = append([]byte(nil), head[:virtioHdrLen]...)
	pkt = append([]byte(nil), head[virtioHdrLen:]...)
	for j := g.next[r.head]; j >= 0; j = g.next[j] {
		pkt = append(pkt, bufs[j][tunWriteOffset+r.hdrLen:]...)
	}
	if r.n > 1 {
		start := int(binary.NativeEndian.Uint16(vh[6:]))
		at := start + int(binary.NativeEndian.Uint16(vh[8:]))
		// The field holds the pseudo-header sum; complete it.
		l4 := pkt[start:]
		even := len(l4) &^ 1
		sum := csumBytes(l4[:even], 0)
		if len(l4) > even {
			sum += uint64(l4[even]) << 8
		}
		binary.BigEndian.PutUint16(pkt[at:], ^csumFold(sum))
	}
	return vh, pkt
}

func TestGROPlan(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, proto := range []uint8{protoTCP, protoUDP} {
			name := map[uint8]string{protoTCP: "tcp", protoUDP: "udp"}[proto]
			if v6 {
				name += "6"
			}
			t.Run(name, func(t *testing.T) {
				// Flow 1: 5 full segments, a short one that ends the run;
				// flow 2 interleaved: 3 segments; an ICMP-like packet;
				// flow 1 again after a gap: a run of its own.
				var bufs [][]byte
				seq := uint32(1000)
				for i := range 6 {
					n := 1000
					if i == 5 {
						n = 400
					}
					bufs = append(bufs, groSeg(v6, proto, 1111, seq, n, false))
					seq += uint32(n)
					if i < 3 {
						bufs = append(bufs, groSeg(v6, proto, 2222, 50000+uint32(i)*700, 700, false))
					}
				}
				other := groSeg(v6, proto, 3333, 1, 100, false)
				other[tunWriteOffset+map[bool]int{false: 9, true: 6}[v6]] = 1 // ICMP
				bufs = append(bufs, other)
				bufs = append(bufs, groSeg(v6, proto, 1111, seq, 1000, false))
				bufs = append(bufs, groSeg(v6, proto, 1111, seq+1000, 1000, false))

				g := groPlan{udp: true}
				inner := make([][]byte, len(bufs))
				for i, b := range bufs {
					inner[i] = b[tunWriteOffset:]
				}
				g.plan(inner)
				want := []int{6, 3, 1, 2}
				if len(g.runs) != len(want) {
					t.Fatalf("%d runs, want %d", len(g.runs), len(want))
				}
				for i, r := range g.runs {
					if r.n != want[i] {
						t.Errorf("run %d: %d segments, want %d", i, r.n, want[i])
					}
				}
				r := &g.runs[0]
				wantLen := r.hdrLen + 5*1000 + 400
				vh, pkt := assemble(t, &g, r, bufs)
				if len(pkt) != wantLen || r.total != wantLen {
					t.Fatalf("super-packet of %d bytes (run says %d), want %d", len(pkt), r.total, wantLen)
				}
				gsoType := map[[2]bool]byte{{false, false}: virtioGSOTCPv4, {true, false}: virtioGSOTCPv6}[[2]bool{v6, false}]
				if proto == protoUDP {
					gsoType = virtioGSOUDPL4
				}
				if vh[0] != virtioFlagNeedsCsum || vh[1] != gsoType ||
					binary.NativeEndian.Uint16(vh[2:]) != uint16(r.hdrLen) ||
					binary.NativeEndian.Uint16(vh[4:]) != 1000 ||
					binary.NativeEndian.Uint16(vh[6:]) != uint16(r.iphLen) {
					t.Fatalf("virtio-net header % x", vh)
				}
				if v6 {
					if int(binary.BigEndian.Uint16(pkt[4:]))+40 != len(pkt) {
						t.Fatal("IPv6 payload length not updated")
					}
				} else {
					if int(binary.BigEndian.Uint16(pkt[2:])) != len(pkt) {
						t.Fatal("IPv4 total length not updated")
					}
					if csumFold(csumBytes(pkt[:20], 0)) != 0xffff {
						t.Fatal("IPv4 header checksum wrong")
					}
				}
				if s := fullSum(pkt, r.iphLen, proto); s != 0xffff {
					t.Fatalf("transport checksum of the super-packet does not verify (%#x)", s)
				}
				// The payload is the six segments' in order.
				for i, c := range pkt[r.hdrLen:] {
					if c != byte(1000+uint32(i)) {
						t.Fatalf("payload byte %d is %d", i, c)
					}
				}
				if proto == protoUDP && int(binary.BigEndian.Uint16(pkt[r.iphLen+4:])) != len(pkt)-r.iphLen {
					t.Fatal("UDP length not updated")
				}
				// A lone packet gets an empty virtio-net header and stays
				// as it was.
				lone := &g.runs[2]
				before := append([]byte(nil), bufs[lone.head][tunWriteOffset:]...)
				vh, pkt = assemble(t, &g, lone, bufs)
				if string(vh) != string(make([]byte, virtioHdrLen)) || string(pkt) != string(before) {
					t.Fatal("a lone packet was changed")
				}
			})
		}
	}
}

// TestGROPlanOrder checks that a flow's packets are never written out of
// their order: after a segment that cannot join its flow's run, later
// segments of that flow do not join the earlier run either.
func TestGROPlanOrder(t *testing.T) {
	bufs := [][]byte{
		groSeg(false, protoTCP, 1, 100, 1000, false),
		groSeg(false, protoTCP, 1, 5000, 1000, false), // a gap: new run
		groSeg(false, protoTCP, 1, 1100, 1000, false), // would follow run 0, but must not
		groSeg(false, protoTCP, 1, 2100, 1000, true),  // follows run 2, with PSH
		groSeg(false, protoTCP, 1, 3100, 1000, false), // after PSH: new run
	}
	inner := make([][]byte, len(bufs))
	for i, b := range bufs {
		inner[i] = b[tunWriteOffset:]
	}
	var g groPlan
	g.plan(inner)
	var heads []int
	for _, r := range g.runs {
		heads = append(heads, r.head)
	}
	if len(heads) != 4 || heads[0] != 0 || heads[1] != 1 || heads[2] != 2 || heads[3] != 4 || g.runs[2].n != 2 || !g.runs[2].psh {
		t.Fatalf("runs start at %v (run 2: %d segments, psh %v), want [0 1 2 4], 2, true", heads, g.runs[2].n, g.runs[2].psh)
	}
	// UDP is coalesced only when the device takes UDP GSO.
	u := [][]byte{groSeg(false, protoUDP, 1, 0, 500, false)[tunWriteOffset:], groSeg(false, protoUDP, 1, 0, 500, false)[tunWriteOffset:]}
	g.udp = false
	g.plan(u)
	if len(g.runs) != 2 {
		t.Fatalf("UDP without UDP GSO: %d runs, want 2", len(g.runs))
	}
}

// TestGROPlanNoAllocs: planning and patching a full batch allocates nothing.
func TestGROPlanNoAllocs(t *testing.T) {
	var bufs, inner [][]byte
	for i := range batchCap {
		b := groSeg(false, protoTCP, uint16(1+i/40), 1000*uint32(i%40), 1000, false)
		bufs = append(bufs, b)
		inner = append(inner, b[tunWriteOffset:])
	}
	g := groPlan{runs: make([]groRun, 0, batchCap), next: make([]int, batchCap)}
	allocs := testing.AllocsPerRun(20, func() {
		g.plan(inner)
		for i := range g.runs {
			r := &g.runs[i]
			r.finish(bufs[r.head][tunWriteOffset-virtioHdrLen:])
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per batch, want 0", allocs)
	}
}

// FuzzGROPlan: any bytes, as packets of a batch, never make plan or finish
// panic, and every packet is in exactly one run.
func FuzzGROPlan(f *testing.F) {
	f.Add(groSeg(false, protoTCP, 1, 1, 100, false)[tunWriteOffset:], uint8(3))
	f.Add(groSeg(true, protoUDP, 1, 1, 100, false)[tunWriteOffset:], uint8(2))
	f.Fuzz(func(t *testing.T, data []byte, cuts uint8) {
		r := rand.New(rand.NewPCG(uint64(len(data)), uint64(cuts)))
		var bufs, inner [][]byte
		for k := 0; k < int(cuts%16)+1; k++ {
			b := make([]byte, tunWriteOffset+len(data))
			copy(b[tunWriteOffset:], data)
			if len(data) > 0 && k > 0 {
				b[tunWriteOffset+r.IntN(len(data))] ^= byte(r.Uint32())
			}
			bufs = append(bufs, b)
			inner = append(inner, b[tunWriteOffset:])
		}
		g := groPlan{udp: true}
		g.plan(inner)
		seen := make([]bool, len(inner))
		for i := range g.runs {
			run := &g.runs[i]
			n := 0
			for j := run.head; j >= 0; j = g.next[j] {
				if seen[j] {
					t.Fatalf("packet %d in two runs", j)
				}
				seen[j] = true
				n++
			}
			if n != run.n {
				t.Fatalf("run %d: %d linked, n = %d", i, n, run.n)
			}
			run.finish(bufs[run.head][tunWriteOffset-virtioHdrLen:])
		}
		for j, s := range seen {
			if !s {
				t.Fatalf("packet %d in no run", j)
			}
		}
	})
}
