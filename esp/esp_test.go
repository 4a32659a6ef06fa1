package esp

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/esptun/esptun/crypto"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.Join(strings.Fields(s), ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// testCiphers holds one cipher per suite, built once so that fuzz seeds and
// re-seals share the CBC IV key.
var testCiphers = func() []crypto.ESPCipher {
	var cs []crypto.ESPCipher
	for _, s := range crypto.ESPSuites() {
		key := make([]byte, s.KeyLen())
		for i := range key {
			key[i] = byte(0x80 + i)
		}
		c, err := crypto.NewESPCipher(s, key)
		if err != nil {
			panic(err)
		}
		cs = append(cs, c)
	}
	return cs
}()

// innerPacket returns an n-byte stand-in for an IP packet of the version
// nextHeader names.
func innerPacket(n int, nextHeader byte) []byte {
	p := make([]byte, n)
	for i := range p {
		p[i] = byte(i*13 + 5)
	}
	if n > 0 {
		p[0] = 0x45
		if nextHeader == NextHeaderIPv6 {
			p[0] = 0x60
		}
	}
	return p
}

// sealInner seals inner the way the tunnel does: in a buffer with
// MaxHeadroom in front and MaxTrailer behind.
func sealInner(t testing.TB, p *SealParams, seq uint64, nh byte, inner []byte, s *crypto.Scratch) []byte {
	t.Helper()
	buf := make([]byte, MaxHeadroom+len(inner)+MaxTrailer)
	copy(buf[MaxHeadroom:], inner)
	pkt, err := Seal(p, seq, nh, buf, MaxHeadroom, len(inner), s)
	if err != nil {
		t.Fatal(err)
	}
	return pkt
}

// sealRaw seals an arbitrary ESP plaintext (payload, padding, pad length and
// next header as given) with the cipher alone, to build packets with an
// authentic ICV but framing esp.Seal would never produce.
func sealRaw(c crypto.ESPCipher, spi uint32, seq uint64, esn bool, plaintext []byte) []byte {
	suite := c.Suite()
	pkt := make([]byte, HeaderLen+suite.IVLen, HeaderLen+suite.IVLen+len(plaintext)+suite.ICVLen)
	binary.BigEndian.PutUint32(pkt[0:4], spi)
	binary.BigEndian.PutUint32(pkt[4:8], uint32(seq))
	pkt = append(pkt, plaintext...)
	return c.Seal(pkt, seq, esn, new(crypto.Scratch))
}

func esnName(esn bool) string {
	if esn {
		return "esn"
	}
	return "noesn"
}

// testSeq returns the i-th test sequence number; with ESN it crosses the
// 2^32 boundary.
func testSeq(i int, esn bool) uint64 {
	if esn {
		return 1<<32 - 150 + uint64(i)
	}
	return uint64(i) + 1
}

func TestRoundTrip(t *testing.T) {
	sizes := []int{1400, 8192}
	for n := 0; n <= 300; n++ {
		sizes = append(sizes, n)
	}
	for _, c := range testCiphers {
		suite := c.Suite()
		for _, esn := range []bool{false, true} {
			for _, nh := range []byte{NextHeaderIPv4, NextHeaderIPv6} {
				t.Run(fmt.Sprintf("%s/%s/nh%d", suite.Name, esnName(esn), nh), func(t *testing.T) {
					p := &SealParams{SPI: 0xc0ffee01, Cipher: c, ESN: esn}
					s := new(crypto.Scratch)
					for i, n := range sizes {
						seq := testSeq(i, esn)
						inner := innerPacket(n, nh)
						pkt := sealInner(t, p, seq, nh, inner, s)

						pad := padLen(n, suite.BlockSize)
						if want := HeaderLen + suite.IVLen + n + pad + 2 + suite.ICVLen; len(pkt) != want {
							t.Fatalf("n=%d: packet length %d, want %d", n, len(pkt), want)
						}
						if (n+pad+2)%suite.BlockSize != 0 || pad >= suite.BlockSize {
							t.Fatalf("n=%d: padding %d does not reach block size %d minimally", n, pad, suite.BlockSize)
						}
						spi, seqLo, err := Header(pkt)
						if err != nil || spi != p.SPI || seqLo != uint32(seq) {
							t.Fatalf("n=%d: Header = %#x, %#x, %v", n, spi, seqLo, err)
						}
						if suite.IsNull() && !bytes.Equal(pkt[HeaderLen:HeaderLen+n], inner) {
							t.Fatalf("n=%d: ENCR_NULL payload is not the plaintext", n)
						}
						got, gotNH, err := Open(c, pkt, seq, esn, s)
						if err != nil {
							t.Fatalf("n=%d seq=%#x: %v", n, seq, err)
						}
						if gotNH != nh || !bytes.Equal(got, inner) {
							t.Fatalf("n=%d: got nh %d, %x; want nh %d, %x", n, gotNH, got, nh, inner)
						}
					}
				})
			}
		}
	}
}

// TestRFC7634ESPExample opens the ESP example of RFC 7634 appendix A (bytes
// as published; also in strongSwan's test vectors, chacha20poly1305.c): a
// tunnel-mode ICMP echo request with padding 01 02 and Next Header 4.
func TestRFC7634ESPExample(t *testing.T) {
	suite, err := crypto.LookupESP("chacha20poly1305")
	if err != nil {
		t.Fatal(err)
	}
	c, err := crypto.NewESPCipher(suite, unhex(t, `808182838485868788898a8b8c8d8e8f
		909192939495969798999a9b9c9d9e9f a0a1a2a3`))
	if err != nil {
		t.Fatal(err)
	}
	pkt := unhex(t, `01020304 00000005 1011121314151617
		24039428b97f417e3c13753a4f05087b 67c352e6a7fab1b982d466ef407ae5c6
		14ee8099d52844eb61aa95dfab4c02f7 2aa71e7c4c4f64c9befe2facc638e8f3
		cbec163fac469b502773f6fb94e664da 9165b82829f641e076aaa8266b7fb0f7
		b11b369907e1ad43`)
	wantInner := unhex(t, `45000054a6f200004001e778c6336405 c00002050800 5b7a3a080000553bec10
		00073627 08090a0b0c0d0e0f1011121314151617 18191a1b1c1d1e1f2021222324252627
		28292a2b2c2d2e2f3031323334353637`)
	spi, seqLo, err := Header(pkt)
	if err != nil || spi != 0x01020304 || seqLo != 5 {
		t.Fatalf("Header = %#x, %d, %v", spi, seqLo, err)
	}
	inner, nh, err := Open(c, pkt, 5, false, new(crypto.Scratch))
	if err != nil {
		t.Fatal(err)
	}
	if nh != NextHeaderIPv4 || !bytes.Equal(inner, wantInner) {
		t.Fatalf("got nh %d inner %x", nh, inner)
	}
}

// TestOpenFraming feeds Open authentic packets with framing Seal never
// produces. Every plaintext is 16 bytes so that it suits every block size.
func TestOpenFraming(t *testing.T) {
	seqPad := func(n int) []byte { // 1, 2, ..., n
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(i + 1)
		}
		return b
	}
	cat := func(parts ...[]byte) []byte { return bytes.Join(parts, nil) }
	payload := func(n int) []byte { return innerPacket(n, NextHeaderIPv4) }
	tests := []struct {
		name      string
		plaintext []byte
		wantErr   error
		wantInner int // length of inner on success
		wantNH    byte
	}{
		{"padding zeros", cat(payload(10), []byte{0, 0, 0, 0}, []byte{4, 4}), ErrPadding, 0, 4},
		{"padding off by one", cat(payload(10), []byte{1, 2, 3, 5}, []byte{4, 4}), ErrPadding, 0, 4},
		{"padding starts at 0", cat(payload(11), []byte{0, 1, 2}, []byte{3, 41}), ErrPadding, 0, 41},
		{"pad length past payload", cat(payload(14), []byte{15, 4}), ErrPadding, 0, 4},
		{"pad length 255", cat(payload(14), []byte{255, 4}), ErrPadding, 0, 4},
		{"transport mode TCP", cat(payload(10), seqPad(4), []byte{4, 6}), ErrMalformed, 0, 6},
		{"next header 0", cat(payload(10), seqPad(4), []byte{4, 0}), ErrMalformed, 0, 0},
		{"dummy", cat(payload(10), seqPad(4), []byte{4, NextHeaderDummy}), ErrDummy, 0, NextHeaderDummy},
		{"extra padding is legal", cat(payload(2), seqPad(12), []byte{12, 4}), nil, 2, 4},
		{"all padding", cat(seqPad(14), []byte{14, 41}), nil, 0, 41},
		{"ipv6", cat(payload(10), seqPad(4), []byte{4, 41}), nil, 10, 41},
	}
	for _, c := range testCiphers {
		for _, esn := range []bool{false, true} {
			for _, tt := range tests {
				t.Run(c.Suite().Name+"/"+esnName(esn)+"/"+tt.name, func(t *testing.T) {
					seq := testSeq(200, esn)
					pkt := sealRaw(c, 7, seq, esn, tt.plaintext)
					inner, nh, err := Open(c, pkt, seq, esn, new(crypto.Scratch))
					if !errors.Is(err, tt.wantErr) {
						t.Fatalf("err = %v, want %v", err, tt.wantErr)
					}
					if nh != tt.wantNH {
						t.Fatalf("next header %d, want %d", nh, tt.wantNH)
					}
					if err == nil && len(inner) != tt.wantInner {
						t.Fatalf("inner %d bytes, want %d", len(inner), tt.wantInner)
					}
				})
			}
		}
	}
}

func TestOpenCBCPartialBlock(t *testing.T) {
	for _, c := range testCiphers {
		if c.Suite().Encr != crypto.EncrAESCBC {
			continue
		}
		t.Run(c.Suite().Name, func(t *testing.T) {
			pkt := sealInner(t, &SealParams{SPI: 1, Cipher: c}, 1, NextHeaderIPv4, innerPacket(40, 4), new(crypto.Scratch))
			// Drop one ciphertext byte: the ICV still sits at the end but the
			// ciphertext is no longer whole blocks (RFC 3602 3).
			bad := append(bytes.Clone(pkt[:len(pkt)-c.Suite().ICVLen-1]), pkt[len(pkt)-c.Suite().ICVLen:]...)
			if _, _, err := Open(c, bad, 1, false, new(crypto.Scratch)); !errors.Is(err, ErrMalformed) {
				t.Fatalf("err = %v, want ErrMalformed", err)
			}
		})
	}
}

func TestOpenTamperedAndTruncated(t *testing.T) {
	for _, c := range testCiphers {
		for _, esn := range []bool{false, true} {
			t.Run(c.Suite().Name+"/"+esnName(esn), func(t *testing.T) {
				s := new(crypto.Scratch)
				seq := testSeq(300, esn)
				p := &SealParams{SPI: 0x11223344, Cipher: c, ESN: esn}
				wire := bytes.Clone(sealInner(t, p, seq, NextHeaderIPv6, innerPacket(77, NextHeaderIPv6), s))
				for i := range wire {
					pkt := bytes.Clone(wire)
					pkt[i] ^= 1 << (i % 8)
					if _, _, err := Open(c, pkt, seq, esn, s); !errors.Is(err, ErrAuth) {
						t.Fatalf("flip in byte %d: err = %v, want ErrAuth", i, err)
					}
				}
				if esn {
					if _, _, err := Open(c, bytes.Clone(wire), seq+1<<32, esn, s); !errors.Is(err, ErrAuth) {
						t.Fatalf("wrong seqHi: err = %v, want ErrAuth", err)
					}
				}
				for n := range len(wire) {
					_, _, err := Open(c, bytes.Clone(wire[:n]), seq, esn, s)
					if err == nil {
						t.Fatalf("truncated to %d bytes: opened", n)
					}
					if n < HeaderLen+c.Suite().IVLen+2+c.Suite().ICVLen && !errors.Is(err, ErrShort) {
						t.Fatalf("truncated to %d bytes: err = %v, want ErrShort", n, err)
					}
				}
			})
		}
	}
}

func TestSealErrors(t *testing.T) {
	c := testCiphers[0]
	s := new(crypto.Scratch)
	inner := innerPacket(100, 4)
	big := make([]byte, MaxHeadroom+len(inner)+MaxTrailer)
	tests := []struct {
		name    string
		esn     bool
		seq     uint64
		nh      byte
		buf     []byte
		off     int
		wantErr error
	}{
		{"seq 0", false, 0, 4, big, MaxHeadroom, ErrSeqNum},
		{"seq 0 esn", true, 0, 4, big, MaxHeadroom, ErrSeqNum},
		{"seq 2^32 without esn", false, 1 << 32, 4, big, MaxHeadroom, ErrSeqNum},
		{"seq 2^32 with esn", true, 1 << 32, 4, big, MaxHeadroom, nil},
		{"seq 2^32-1", false, 1<<32 - 1, 4, big, MaxHeadroom, nil},
		{"next header tcp", false, 1, 6, big, MaxHeadroom, ErrMalformed},
		{"dummy", false, 1, NextHeaderDummy, big, MaxHeadroom, nil},
		{"no headroom", false, 1, 4, big, HeaderLen + c.Suite().IVLen - 1, ErrBuffer},
		{"exact headroom", false, 1, 4, big, HeaderLen + c.Suite().IVLen, nil},
		{"no tailroom", false, 1, 4, big[: 0 : MaxHeadroom+len(inner)+2+c.Suite().ICVLen-1], MaxHeadroom, ErrBuffer},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &SealParams{SPI: 5, Cipher: c, ESN: tt.esn}
			_, err := Seal(p, tt.seq, tt.nh, tt.buf, tt.off, len(inner), s)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
		})
	}
}

func TestHeaderShort(t *testing.T) {
	for n := range HeaderLen {
		if _, _, err := Header(make([]byte, n)); !errors.Is(err, ErrShort) {
			t.Fatalf("%d bytes: err = %v", n, err)
		}
	}
}

func TestErrAuthIsCryptoErrAuth(t *testing.T) {
	if !errors.Is(ErrAuth, crypto.ErrAuth) {
		t.Fatal("esp.ErrAuth is not crypto.ErrAuth")
	}
}

func TestZeroAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("sync.Pool drops objects under the race detector")
	}
	for _, c := range testCiphers {
		for _, esn := range []bool{false, true} {
			t.Run(c.Suite().Name+"/"+esnName(esn), func(t *testing.T) {
				s := new(crypto.Scratch)
				p := &SealParams{SPI: 1, Cipher: c, ESN: esn}
				inner := innerPacket(1400, 4)
				buf := make([]byte, MaxHeadroom+len(inner)+MaxTrailer)
				seq := testSeq(0, esn)
				sealAllocs := testing.AllocsPerRun(200, func() {
					seq++
					copy(buf[MaxHeadroom:], inner)
					if _, err := Seal(p, seq, 4, buf, MaxHeadroom, len(inner), s); err != nil {
						t.Fatal(err)
					}
				})
				copy(buf[MaxHeadroom:], inner)
				sealed, _ := Seal(p, seq, 4, buf, MaxHeadroom, len(inner), s)
				wire := bytes.Clone(sealed)
				openAllocs := testing.AllocsPerRun(200, func() {
					copy(sealed, wire)
					if _, _, err := Open(c, sealed, seq, esn, s); err != nil {
						t.Fatal(err)
					}
				})
				if sealAllocs != 0 || openAllocs != 0 {
					t.Fatalf("allocs per packet: Seal %v, Open %v; want 0", sealAllocs, openAllocs)
				}
			})
		}
	}
}

// TestPadLen checks the power-of-two shortcut against RFC 4303 2.4's rule:
// the fewest bytes that align payload, pad length and next header.
func TestPadLen(t *testing.T) {
	for _, bs := range []int{1, 2, 3, 4, 8, 12, 16, 32} {
		for n := range 300 {
			want := 0
			for (n+want+2)%bs != 0 {
				want++
			}
			if got := padLen(n, bs); got != want {
				t.Fatalf("padLen(%d, %d) = %d, want %d", n, bs, got, want)
			}
		}
	}
}
