package tunnel

import (
	"bytes"
	"encoding/binary"
	"testing"
)

// TestTSORoundTrip coalesces segments into a super-packet as the TUN writer
// does (gro.go), then cuts it up again as the TUN reader does: every
// segment comes back as it was, with valid checksums.
func TestTSORoundTrip(t *testing.T) {
	for _, v6 := range []bool{false, true} {
		for _, proto := range []uint8{protoTCP, protoUDP} {
			var bufs, inner, orig [][]byte
			seq := uint32(4000)
			for i := range 9 {
				n := 1200
				if i == 8 {
					n = 77
				}
				b := groSeg(v6, proto, 1111, seq, n, i == 8)
				if !v6 {
					binary.BigEndian.PutUint16(b[tunWriteOffset+4:], 0x1000+uint16(i))
					b[tunWriteOffset+10], b[tunWriteOffset+11] = 0, 0
					binary.BigEndian.PutUint16(b[tunWriteOffset+10:], ^csumFold(csumBytes(b[tunWriteOffset:tunWriteOffset+20], 0)))
				}
				seq += uint32(n)
				bufs = append(bufs, b)
				inner = append(inner, b[tunWriteOffset:])
				orig = append(orig, append([]byte(nil), b[tunWriteOffset:]...))
			}
			g := groPlan{udp: true}
			g.plan(inner)
			if len(g.runs) != 1 {
				t.Fatalf("v6 %v proto %d: %d runs, want 1", v6, proto, len(g.runs))
			}
			r := &g.runs[0]
			head := bufs[0][tunWriteOffset-virtioHdrLen:]
			r.finish(head)
			super := append([]byte(nil), head...)
			for j := g.next[0]; j >= 0; j = g.next[j] {
				super = append(super, inner[j][r.hdrLen:]...)
			}

			var sp superPacket
			if err := sp.decode(super); err != nil {
				t.Fatalf("v6 %v proto %d: decode: %v", v6, proto, err)
			}
			out := make([][]byte, 16)
			for i := range out {
				out[i] = make([]byte, 1600)
			}
			sizes := make([]int, 16)
			n := sp.split(out, sizes, tunReadOffset)
			if n != len(orig) {
				t.Fatalf("v6 %v proto %d: %d segments, want %d", v6, proto, n, len(orig))
			}
			for i := 0; i < n; i++ {
				got := out[i][tunReadOffset : tunReadOffset+sizes[i]]
				if !bytes.Equal(got, orig[i]) {
					t.Fatalf("v6 %v proto %d: segment %d differs:\n got % x\nwant % x", v6, proto, i, got[:60], orig[i][:60])
				}
			}
		}
	}
}

// TestTSONeedsCsum: a lone packet whose checksum the kernel left partial
// gets it completed.
func TestTSONeedsCsum(t *testing.T) {
	b := groSeg(false, protoTCP, 1, 1, 500, false)
	want := append([]byte(nil), b[tunWriteOffset:]...)
	pkt := b[tunWriteOffset-virtioHdrLen:]
	clear(pkt[:virtioHdrLen])
	pkt[0] = virtioFlagNeedsCsum
	binary.NativeEndian.PutUint16(pkt[6:], 20)
	binary.NativeEndian.PutUint16(pkt[8:], 16)
	l4 := pkt[virtioHdrLen+20:]
	sum := csumBytes(pkt[virtioHdrLen+12:virtioHdrLen+20], 0) + protoTCP + uint64(len(l4))
	binary.BigEndian.PutUint16(l4[16:], csumFold(sum))
	var sp superPacket
	if err := sp.decode(pkt); err != nil {
		t.Fatal(err)
	}
	out := [][]byte{make([]byte, 1600)}
	sizes := []int{0}
	if sp.split(out, sizes, 0) != 1 || !bytes.Equal(out[0][:sizes[0]], want) {
		t.Fatal("checksum not completed")
	}
}

// FuzzTSODecode: no bytes from the device make decode or split panic, and
// split never writes more than the buffers hold.
func FuzzTSODecode(f *testing.F) {
	b := groSeg(false, protoTCP, 1, 1, 500, false)
	h := b[tunWriteOffset-virtioHdrLen:]
	h[0], h[1] = virtioFlagNeedsCsum, virtioGSOTCPv4
	binary.NativeEndian.PutUint16(h[4:], 100)
	binary.NativeEndian.PutUint16(h[6:], 20)
	binary.NativeEndian.PutUint16(h[8:], 16)
	f.Add(append([]byte(nil), h...))
	f.Fuzz(func(t *testing.T, in []byte) {
		var sp superPacket
		if sp.decode(in) != nil {
			return
		}
		const bufLen = 1600
		if sp.hdrLen+sp.payload > bufLen || sp.segs > 128 {
			return // the reader drops these
		}
		out := make([][]byte, sp.segs)
		for i := range out {
			out[i] = make([]byte, bufLen)
		}
		sizes := make([]int, sp.segs)
		if n := sp.split(out, sizes, 0); n != sp.segs {
			t.Fatalf("%d segments, decode said %d", n, sp.segs)
		}
	})
}
