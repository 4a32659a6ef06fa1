package esp

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"

	"github.com/esptun/esptun/crypto"
)

// FuzzOpen feeds Open arbitrary packets for every suite. It must never
// panic, and a packet that opens must re-seal to the same bytes: the codec
// has one encoding per (SPI, seq, inner packet). AES-CBC IVs come from a
// random per-cipher key, so for CBC the re-seal is compared by what it
// carries (header, length, opened contents) rather than byte for byte when
// the corpus entry was sealed by another process.
func FuzzOpen(f *testing.F) {
	s := new(crypto.Scratch)
	for i, c := range testCiphers {
		for _, esn := range []bool{false, true} {
			for _, n := range []int{0, 1, 20, 40, 61, 100} {
				nh := byte(NextHeaderIPv4)
				if n%2 == 1 {
					nh = NextHeaderIPv6
				}
				seq := testSeq(n, esn)
				p := &SealParams{SPI: 0xc0000001 + uint32(n), Cipher: c, ESN: esn}
				pkt := sealInner(f, p, seq, nh, innerPacket(n, nh), s)
				f.Add(bytes.Clone(pkt), uint8(i), esn, uint32(seq>>32))
			}
		}
	}
	f.Add([]byte{}, uint8(0), false, uint32(0))
	f.Add(make([]byte, 7), uint8(3), false, uint32(0))

	f.Fuzz(func(t *testing.T, data []byte, suiteIdx uint8, esn bool, seqHi uint32) {
		c := testCiphers[int(suiteIdx)%len(testCiphers)]
		s := new(crypto.Scratch)
		spi, seqLo, herr := Header(data)
		seq := uint64(seqLo)
		if esn {
			seq |= uint64(seqHi) << 32
		}
		pkt := bytes.Clone(data)
		inner, nh, err := Open(c, pkt, seq, esn, s)
		if herr != nil && err == nil {
			t.Fatal("Open accepted a packet Header calls short")
		}
		if err != nil {
			for _, known := range []error{ErrShort, ErrMalformed, ErrAuth, ErrPadding, ErrDummy} {
				if errors.Is(err, known) {
					return
				}
			}
			t.Fatalf("unexpected error %v", err)
		}
		p := &SealParams{SPI: spi, Cipher: c, ESN: esn}
		buf := make([]byte, MaxHeadroom+len(inner)+MaxTrailer)
		copy(buf[MaxHeadroom:], inner)
		resealed, err := Seal(p, seq, nh, buf, MaxHeadroom, len(inner), s)
		if err != nil {
			t.Fatalf("re-seal: %v", err)
		}
		if bytes.Equal(resealed, data) {
			return
		}
		if c.Suite().Encr != crypto.EncrAESCBC || len(resealed) != len(data) ||
			!bytes.Equal(resealed[:HeaderLen], data[:HeaderLen]) {
			t.Fatalf("re-seal differs:\n got %x\nwant %x", resealed, data)
		}
		again, nh2, err := Open(c, resealed, seq, esn, s)
		if err != nil || nh2 != nh || !bytes.Equal(again, inner) {
			t.Fatalf("re-sealed CBC packet does not open to the same contents: %v", err)
		}
	})
}

// FuzzRoundTrip seals arbitrary inner packets under every suite and checks
// that Open returns them unchanged.
func FuzzRoundTrip(f *testing.F) {
	f.Add([]byte{}, uint8(0), false, uint64(1), false)
	f.Add(innerPacket(40, 4), uint8(1), true, uint64(1<<32), true)
	f.Add(innerPacket(1400, 4), uint8(4), false, uint64(0xffffffff), false)
	f.Add(innerPacket(77, 41), uint8(9), true, uint64(0xfffffffffffffff0), true)
	f.Fuzz(func(t *testing.T, inner []byte, suiteIdx uint8, esn bool, seq uint64, v6 bool) {
		c := testCiphers[int(suiteIdx)%len(testCiphers)]
		s := new(crypto.Scratch)
		nh := byte(NextHeaderIPv4)
		if v6 {
			nh = NextHeaderIPv6
		}
		p := &SealParams{SPI: binary.BigEndian.Uint32([]byte{0xc0, 0, byte(seq), 1}), Cipher: c, ESN: esn}
		buf := make([]byte, MaxHeadroom+len(inner)+MaxTrailer)
		copy(buf[MaxHeadroom:], inner)
		pkt, err := Seal(p, seq, nh, buf, MaxHeadroom, len(inner), s)
		if err != nil {
			if !errors.Is(err, ErrSeqNum) {
				t.Fatalf("Seal: %v", err)
			}
			return
		}
		spi, seqLo, err := Header(pkt)
		if err != nil || spi != p.SPI || seqLo != uint32(seq) {
			t.Fatalf("Header = %#x, %#x, %v", spi, seqLo, err)
		}
		got, gotNH, err := Open(c, pkt, seq, esn, s)
		if err != nil || gotNH != nh || !bytes.Equal(got, inner) {
			t.Fatalf("Open = nh %d, %v; inner equal %v", gotNH, err, bytes.Equal(got, inner))
		}
	})
}
