package crypto

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"hash"
	"testing"

	"golang.org/x/crypto/chacha20poly1305"
)

var ikeCipherSuites = []IKESuite{
	{EncrAESGCM16, 128, IntegNone, PRFHMACSHA256, DHCurve25519},
	{EncrAESGCM16, 192, IntegNone, PRFHMACSHA256, DHCurve25519},
	{EncrAESGCM16, 256, IntegNone, PRFHMACSHA384, DHECP384},
	{EncrChaCha20Poly1305, 0, IntegNone, PRFHMACSHA256, DHCurve25519},
	{EncrAESCBC, 128, IntegHMACSHA256128, PRFHMACSHA256, DHMODP2048},
	{EncrAESCBC, 256, IntegHMACSHA384192, PRFHMACSHA384, DHECP384},
	{EncrAESCBC, 256, IntegHMACSHA512256, PRFHMACSHA512, DHECP521},
	{EncrAESCBC, 128, IntegHMACSHA196, PRFHMACSHA1, DHMODP1024},
}

func ikeTestKeys(s IKESuite) (enc, integ []byte) {
	enc = make([]byte, s.SKeLen())
	for i := range enc {
		enc[i] = byte(i + 1)
	}
	if !s.AEAD() {
		integ = make([]byte, s.SKaLen())
		for i := range integ {
			integ[i] = byte(0x80 + i)
		}
	}
	return enc, integ
}

// sealSK builds an SK payload body the way the codec does: plaintext
// padded to BlockSize with the pad length byte last.
func sealSK(t *testing.T, c IKECipher, prefix, payload []byte) []byte {
	t.Helper()
	n := len(payload) + 1
	if r := n % c.BlockSize(); r != 0 {
		n += c.BlockSize() - r
	}
	plain := make([]byte, n)
	copy(plain, payload)
	plain[n-1] = byte(n - 1 - len(payload))
	body := make([]byte, c.IVLen()+n+c.ICVLen())
	if err := c.Encrypt(body, prefix, plain); err != nil {
		t.Fatal(err)
	}
	return body
}

func TestIKECipherRoundTrip(t *testing.T) {
	prefix := bytes.Repeat([]byte{0xa5}, 32) // IKE header + SK generic header
	for _, s := range ikeCipherSuites {
		t.Run(s.String(), func(t *testing.T) {
			enc, integ := ikeTestKeys(s)
			c, err := NewIKECipher(s, enc, integ)
			if err != nil {
				t.Fatal(err)
			}
			wantICV := map[uint16]int{IntegHMACSHA196: 12, IntegHMACSHA256128: 16, IntegHMACSHA384192: 24, IntegHMACSHA512256: 32, IntegNone: 16}[s.Integ]
			wantIV, wantBlock := 16, 16
			if s.AEAD() {
				wantIV, wantBlock = 8, 1
			}
			if c.IVLen() != wantIV || c.ICVLen() != wantICV || c.BlockSize() != wantBlock {
				t.Fatalf("IVLen %d ICVLen %d BlockSize %d", c.IVLen(), c.ICVLen(), c.BlockSize())
			}
			for _, size := range []int{0, 1, 15, 16, 100, 1500} {
				payload := bytes.Repeat([]byte{byte(size)}, size)
				body := sealSK(t, c, prefix, payload)
				plain, err := c.Decrypt(prefix, body)
				if err != nil {
					t.Fatalf("size %d: %v", size, err)
				}
				if !bytes.HasPrefix(plain, payload) || len(plain)%c.BlockSize() != 0 || int(plain[len(plain)-1]) != len(plain)-1-size {
					t.Fatalf("size %d: plaintext %x", size, plain)
				}
				// Two encryptions of the same message use different IVs.
				if again := sealSK(t, c, prefix, payload); bytes.Equal(again[:c.IVLen()], body[:c.IVLen()]) {
					t.Error("IV repeated")
				}
			}

			// Tampering anywhere in prefix or body fails the ICV.
			body := sealSK(t, c, prefix, []byte("IDi AUTH SA TSi TSr"))
			orig := append([]byte(nil), body...)
			for i := range body {
				body[i] ^= 0x01
				if _, err := c.Decrypt(prefix, body); !errors.Is(err, ErrAuth) {
					t.Fatalf("flipped body byte %d: err = %v", i, err)
				}
				body[i] ^= 0x01
			}
			for i := range prefix {
				p := append([]byte(nil), prefix...)
				p[i] ^= 0x80
				if _, err := c.Decrypt(p, body); !errors.Is(err, ErrAuth) {
					t.Fatalf("flipped prefix byte %d: err = %v", i, err)
				}
			}
			if !bytes.Equal(body, orig) {
				t.Fatal("Decrypt modified body")
			}
			// A different key fails too.
			enc2 := append([]byte(nil), enc...)
			enc2[0] ^= 1
			integ2 := append([]byte(nil), integ...)
			if len(integ2) > 0 {
				integ2[0] ^= 1
			}
			c2, _ := NewIKECipher(s, enc2, integ2)
			if _, err := c2.Decrypt(prefix, body); !errors.Is(err, ErrAuth) {
				t.Errorf("other key: err = %v", err)
			}

			// Lengths no Encrypt produces.
			for _, n := range []int{0, c.IVLen() + c.ICVLen() - 1} {
				if _, err := c.Decrypt(prefix, make([]byte, n)); !errors.Is(err, ErrSKLength) {
					t.Errorf("body of %d bytes: err = %v", n, err)
				}
			}
			if !s.AEAD() {
				if _, err := c.Decrypt(prefix, make([]byte, 16+17+c.ICVLen())); !errors.Is(err, ErrSKLength) {
					t.Errorf("partial block: err = %v", err)
				}
				if err := c.Encrypt(make([]byte, 16+15+c.ICVLen()), prefix, make([]byte, 15)); !errors.Is(err, ErrSKLength) {
					t.Errorf("Encrypt of a partial block: err = %v", err)
				}
			}
			if err := c.Encrypt(make([]byte, 10), prefix, make([]byte, 16)); !errors.Is(err, ErrSKLength) {
				t.Errorf("Encrypt into a short body: err = %v", err)
			}

			// Encryption in place.
			plain := make([]byte, 32)
			copy(plain, "in place")
			plain[31] = 23
			body = make([]byte, c.IVLen()+32+c.ICVLen())
			copy(body[c.IVLen():], plain)
			if err := c.Encrypt(body, prefix, body[c.IVLen():c.IVLen()+32]); err != nil {
				t.Fatal(err)
			}
			if got, err := c.Decrypt(prefix, body); err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("in place: %x, %v", got, err)
			}
			if w, ok := c.(interface{ Wipe() }); !ok {
				t.Error("no Wipe method")
			} else {
				w.Wipe()
			}
		})
	}
}

// TestIKECipherReference checks Encrypt's output against RFC 5282 / RFC
// 7634 / RFC 7296 3.14 written out with the standard library: AEAD nonce =
// salt (last 4 key bytes) | IV with AAD = prefix; AES-CBC with the ICV a
// truncated HMAC over prefix | IV | ciphertext.
func TestIKECipherReference(t *testing.T) {
	prefix := []byte("IKE header and SK payload header")
	plain := bytes.Repeat([]byte("0123456789abcdef"), 3)
	for _, s := range ikeCipherSuites {
		t.Run(s.String(), func(t *testing.T) {
			enc, integ := ikeTestKeys(s)
			c, err := NewIKECipher(s, enc, integ)
			if err != nil {
				t.Fatal(err)
			}
			body := make([]byte, c.IVLen()+len(plain)+c.ICVLen())
			if err := c.Encrypt(body, prefix, plain); err != nil {
				t.Fatal(err)
			}
			iv := body[:c.IVLen()]
			if s.AEAD() {
				key, salt := enc[:len(enc)-4], enc[len(enc)-4:]
				var aead cipher.AEAD
				if s.Encr == EncrAESGCM16 {
					block, _ := aes.NewCipher(key)
					aead, _ = cipher.NewGCM(block)
				} else {
					aead, _ = chacha20poly1305.New(key)
				}
				want := aead.Seal(nil, append(append([]byte(nil), salt...), iv...), plain, prefix)
				if !bytes.Equal(body[c.IVLen():], want) {
					t.Fatal("ciphertext|ICV differs from the reference")
				}
				return
			}
			block, _ := aes.NewCipher(enc)
			ct := make([]byte, len(plain))
			cipher.NewCBCEncrypter(block, iv).CryptBlocks(ct, plain)
			if !bytes.Equal(body[16:16+len(plain)], ct) {
				t.Fatal("ciphertext differs from the reference")
			}
			h := map[uint16]func() hash.Hash{IntegHMACSHA196: sha1.New, IntegHMACSHA256128: sha256.New, IntegHMACSHA384192: sha512.New384, IntegHMACSHA512256: sha512.New}[s.Integ]
			m := hmac.New(h, integ)
			m.Write(prefix)
			m.Write(body[:16+len(plain)])
			if want := m.Sum(nil)[:c.ICVLen()]; !bytes.Equal(body[16+len(plain):], want) {
				t.Fatal("ICV differs from the reference")
			}
		})
	}
}

func TestNewIKECipherErrors(t *testing.T) {
	gcm := IKESuite{EncrAESGCM16, 128, IntegNone, PRFHMACSHA256, DHCurve25519}
	cbc := IKESuite{EncrAESCBC, 128, IntegHMACSHA256128, PRFHMACSHA256, DHCurve25519}
	for _, tt := range []struct {
		name       string
		s          IKESuite
		enc, integ int
	}{
		{"GCM key without salt", gcm, 16, 0},
		{"GCM with integrity key", gcm, 20, 32},
		{"CBC without integrity key", cbc, 16, 0},
		{"CBC short integrity key", cbc, 16, 20},
		{"CBC without integrity algorithm", IKESuite{EncrAESCBC, 128, IntegNone, PRFHMACSHA256, DHCurve25519}, 16, 0},
		{"unknown cipher", IKESuite{Encr: 3, PRF: PRFHMACSHA256}, 24, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := NewIKECipher(tt.s, make([]byte, tt.enc), make([]byte, tt.integ)); err == nil {
				t.Error("accepted")
			}
		})
	}
}

func BenchmarkIKECipher(b *testing.B) {
	prefix := make([]byte, 32)
	plain := make([]byte, 512)
	for _, s := range ikeCipherSuites[:5] {
		b.Run(s.String(), func(b *testing.B) {
			enc, integ := ikeTestKeys(s)
			c, _ := NewIKECipher(s, enc, integ)
			body := make([]byte, c.IVLen()+len(plain)+c.ICVLen())
			b.SetBytes(int64(len(plain)))
			b.ReportAllocs()
			for b.Loop() {
				if err := c.Encrypt(body, prefix, plain); err != nil {
					b.Fatal(err)
				}
				if _, err := c.Decrypt(prefix, body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
