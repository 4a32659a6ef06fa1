package esp

import (
	"crypto/aes"
	"crypto/cipher"
	"fmt"
	"testing"

	"github.com/esptun/esptun/crypto"
	"golang.org/x/crypto/chacha20poly1305"
)

// benchSizes are inner packet sizes: small, medium, the default tunnel MTU
// and a TSO/GRO-sized super-packet.
var benchSizes = []int{64, 512, 1400, 8192}

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
