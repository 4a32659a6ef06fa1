package esp

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"testing"

	"github.com/esptun/esptun/crypto"
	"github.com/esptun/esptun/internal/pairbench"
	"golang.org/x/crypto/chacha20poly1305"
)

// benchSizes are inner packet sizes: small, medium, the default tunnel MTU
// and a TSO/GRO-sized super-packet.
var benchSizes = []int{64, 512, 1400, 8192}

// tunnelOffset is where the tunnel reads an outbound inner packet into its
// buffer (tunnel.tunReadOffset): 32 bytes, so that the ESP payload after
// header and 8-byte IV starts 16-byte aligned, as the raw AEAD's does.
const tunnelOffset = 32

func BenchmarkSeal(b *testing.B) {
	for _, c := range testCiphers {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", c.Suite().Name, n), func(b *testing.B) {
				s := new(crypto.Scratch)
				p := &SealParams{SPI: 0xc0000001, Cipher: c}
				buf := make([]byte, MaxHeadroom+n+MaxTrailer)
				copy(buf[MaxHeadroom:], innerPacket(n, 4))
				b.SetBytes(int64(n))
				b.ReportAllocs()
				seq := uint64(0)
				for b.Loop() {
					seq++
					if _, err := Seal(p, seq, NextHeaderIPv4, buf, MaxHeadroom, n, s); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkOpen restores the sealed packet before every Open (Open decrypts
// in place); BenchmarkRawAEAD/open does the same copy, so the two compare.
func BenchmarkOpen(b *testing.B) {
	for _, c := range testCiphers {
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", c.Suite().Name, n), func(b *testing.B) {
				s := new(crypto.Scratch)
				p := &SealParams{SPI: 0xc0000001, Cipher: c}
				wire := append([]byte(nil), sealInner(b, p, 1, NextHeaderIPv4, innerPacket(n, 4), s)...)
				pkt := make([]byte, len(wire))
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					copy(pkt, wire)
					if _, _, err := Open(c, pkt, 1, false, s); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkRawAEAD is the floor for the AEAD suites: cipher.AEAD Seal and
// Open of the same sizes under the same keys, with an 8-byte AAD and a
// 12-byte nonce, in place, with nothing else around them. ESP overhead is
// BenchmarkSeal (or Open) divided by this.
func BenchmarkRawAEAD(b *testing.B) {
	for _, c := range testCiphers {
		suite := c.Suite()
		if !suite.AEAD {
			continue
		}
		key := make([]byte, suite.KeyLen()) // the key testCiphers use
		for i := range key {
			key[i] = byte(0x80 + i)
		}
		encKey := key[:len(key)-4]
		var aead cipher.AEAD
		if suite.Encr == crypto.EncrAESGCM16 {
			block, _ := aes.NewCipher(encKey)
			aead, _ = cipher.NewGCM(block)
		} else {
			aead, _ = chacha20poly1305.New(encKey)
		}
		for _, n := range benchSizes {
			nonce := make([]byte, aead.NonceSize())
			aad := make([]byte, 8)
			b.Run(fmt.Sprintf("%s/%d/seal", suite.Name, n), func(b *testing.B) {
				buf := make([]byte, n, n+aead.Overhead())
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					aead.Seal(buf[:0], nonce, buf, aad)
				}
			})
			b.Run(fmt.Sprintf("%s/%d/open", suite.Name, n), func(b *testing.B) {
				wire := aead.Seal(nil, nonce, make([]byte, n), aad)
				buf := make([]byte, len(wire))
				b.SetBytes(int64(n))
				b.ReportAllocs()
				for b.Loop() {
					copy(buf, wire)
					if _, err := aead.Open(buf[:0], nonce, buf, aad); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

func BenchmarkReplayWindow(b *testing.B) {
	rw := NewReplayWindow(DefaultReplayWindow)
	b.ReportAllocs()
	seq := uint64(0)
	for b.Loop() {
		seq += 2
		rw.CheckAndUpdate(seq)
		rw.CheckAndUpdate(seq - 1)
	}
}

// pairedBlock is how many packets pairedBench times at a stretch.
const pairedBlock = 16

// pairedBench times blocks of pairedBlock calls of esp and of raw in turn
// (package pairbench) and reports the median block of each per call
// (esp-ns/op, raw-ns/op) and their ratio (esp/raw).
func pairedBench(b *testing.B, esp, raw func()) {
	repeat := func(f func()) func(int) {
		return func(n int) {
			for range n {
				f()
			}
		}
	}
	pairbench.Run(b, pairedBlock, 1<<15, pairbench.Metrics{X: "esp-ns/op", Y: "raw-ns/op", Ratio: "esp/raw"},
		repeat(esp), repeat(raw))
}

// rawAEAD returns the bare cipher.AEAD under the key testCiphers use for
// suite, or nil for a suite that is not an AEAD.
func rawAEAD(suite crypto.ESPSuite) cipher.AEAD {
	if !suite.AEAD {
		return nil
	}
	key := make([]byte, suite.KeyLen())
	for i := range key {
		key[i] = byte(0x80 + i)
	}
	encKey := key[:len(key)-4]
	if suite.Encr == crypto.EncrAESGCM16 {
		block, _ := aes.NewCipher(encKey)
		aead, _ := cipher.NewGCM(block)
		return aead
	}
	aead, _ := chacha20poly1305.New(encKey)
	return aead
}

// BenchmarkSealVsRaw pairs Seal with the raw AEAD's Seal of the same size
// (see pairedBench); the inner packet starts where the tunnel puts it,
// tunnelOffset bytes into its buffer.
func BenchmarkSealVsRaw(b *testing.B) {
	for _, c := range testCiphers {
		aead := rawAEAD(c.Suite())
		if aead == nil {
			continue
		}
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", c.Suite().Name, n), func(b *testing.B) {
				s := new(crypto.Scratch)
				p := &SealParams{SPI: 0xc0000001, Cipher: c}
				buf := make([]byte, tunnelOffset+n+MaxTrailer)
				copy(buf[tunnelOffset:], innerPacket(n, 4))
				seq := uint64(0)
				nonce := make([]byte, aead.NonceSize())
				aad := make([]byte, 8)
				rbuf := make([]byte, n, n+aead.Overhead())
				b.SetBytes(int64(n))
				b.ReportAllocs()
				pairedBench(b, func() {
					seq++
					if _, err := Seal(p, seq, NextHeaderIPv4, buf, tunnelOffset, n, s); err != nil {
						b.Fatal(err)
					}
				}, func() {
					aead.Seal(rbuf[:0], nonce, rbuf, aad)
				})
			})
		}
	}
}

// BenchmarkOpenVsRaw pairs Open with the raw AEAD's Open, each restoring
// its packet first (see BenchmarkOpen).
func BenchmarkOpenVsRaw(b *testing.B) {
	for _, c := range testCiphers {
		aead := rawAEAD(c.Suite())
		if aead == nil {
			continue
		}
		for _, n := range benchSizes {
			b.Run(fmt.Sprintf("%s/%d", c.Suite().Name, n), func(b *testing.B) {
				s := new(crypto.Scratch)
				p := &SealParams{SPI: 0xc0000001, Cipher: c}
				buf := make([]byte, tunnelOffset+n+MaxTrailer)
				copy(buf[tunnelOffset:], innerPacket(n, 4))
				sealed, err := Seal(p, 1, NextHeaderIPv4, buf, tunnelOffset, n, s)
				if err != nil {
					b.Fatal(err)
				}
				// The packet as received: the ESP header at the start of
				// the buffer, as the tunnel's receive buffers hold it.
				wire := append([]byte(nil), sealed...)
				pkt := make([]byte, len(wire))
				nonce := make([]byte, aead.NonceSize())
				aad := make([]byte, 8)
				rwire := aead.Seal(nil, nonce, make([]byte, n), aad)
				rbuf := make([]byte, len(rwire))
				b.SetBytes(int64(n))
				b.ReportAllocs()
				pairedBench(b, func() {
					copy(pkt, wire)
					if _, _, err := Open(c, pkt, 1, false, s); err != nil {
						b.Fatal(err)
					}
				}, func() {
					copy(rbuf, rwire)
					if _, err := aead.Open(rbuf[:0], nonce, rbuf, aad); err != nil {
						b.Fatal(err)
					}
				})
			})
		}
	}
}
