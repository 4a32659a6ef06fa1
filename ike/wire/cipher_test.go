package wire

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
)

// Test implementations of SKCipher built straight from the standard
// library, so the SK round trips exercise real ciphers. Package crypto has
// the production ones.

// gcmCipher is ENCR_AES_GCM_16 for the SK payload (RFC 5282): an 8-octet
// explicit IV, a 4-octet salt from the key material, a 16-octet ICV, the
// prefix as associated data.
type gcmCipher struct {
	aead cipher.AEAD
	salt [4]byte
}

func newGCM(key []byte) *gcmCipher {
	b, err := aes.NewCipher(key[:len(key)-4])
	if err != nil {
		panic(err)
	}
	a, err := cipher.NewGCM(b)
	if err != nil {
		panic(err)
	}
	c := &gcmCipher{aead: a}
	copy(c.salt[:], key[len(key)-4:])
	return c
}

func (c *gcmCipher) IVLen() int     { return 8 }
func (c *gcmCipher) ICVLen() int    { return 16 }
func (c *gcmCipher) BlockSize() int { return 1 }

func (c *gcmCipher) nonce(iv []byte) []byte {
	n := make([]byte, 0, 12)
	return append(append(n, c.salt[:]...), iv...)
}

func (c *gcmCipher) Encrypt(body, prefix, plaintext []byte) error {
	iv := body[:8]
	if _, err := rand.Read(iv); err != nil {
		return err
	}
	out := c.aead.Seal(body[8:8], c.nonce(iv), plaintext, prefix)
	if len(out) != len(body)-8 {
		return errors.New("gcm: body length")
	}
	return nil
}

func (c *gcmCipher) Decrypt(prefix, body []byte) ([]byte, error) {
	if len(body) < 8+16 {
		return nil, errors.New("gcm: short body")
	}
	return c.aead.Open(body[8:8], c.nonce(body[:8]), body[8:], prefix)
}

// cbcCipher is ENCR_AES_CBC with AUTH_HMAC_SHA2_256_128 (RFC 7296 3.14,
// RFC 4868): a random 16-octet IV, the ICV over prefix | IV | ciphertext.
type cbcCipher struct {
	block  cipher.Block
	macKey []byte
}

func newCBC(encKey, macKey []byte) *cbcCipher {
	b, err := aes.NewCipher(encKey)
	if err != nil {
		panic(err)
	}
	return &cbcCipher{block: b, macKey: macKey}
}

func (c *cbcCipher) IVLen() int     { return 16 }
func (c *cbcCipher) ICVLen() int    { return 16 }
func (c *cbcCipher) BlockSize() int { return 16 }

func (c *cbcCipher) icv(prefix, ivct []byte) []byte {
	m := hmac.New(sha256.New, c.macKey)
	m.Write(prefix)
	m.Write(ivct)
	return m.Sum(nil)[:16]
}

func (c *cbcCipher) Encrypt(body, prefix, plaintext []byte) error {
	iv := body[:16]
	if _, err := rand.Read(iv); err != nil {
		return err
	}
	ct := body[16 : 16+len(plaintext)]
	cipher.NewCBCEncrypter(c.block, iv).CryptBlocks(ct, plaintext)
	copy(body[16+len(plaintext):], c.icv(prefix, body[:16+len(plaintext)]))
	return nil
}

func (c *cbcCipher) Decrypt(prefix, body []byte) ([]byte, error) {
	if len(body) < 32 || (len(body)-32)%16 != 0 {
		return nil, errors.New("cbc: bad body length")
	}
	n := len(body) - 16
	if subtle.ConstantTimeCompare(c.icv(prefix, body[:n]), body[n:]) != 1 {
		return nil, errors.New("cbc: icv mismatch")
	}
	ct := body[16:n]
	cipher.NewCBCDecrypter(c.block, body[:16]).CryptBlocks(ct, ct)
	return ct, nil
}

func testKey(n int, seed byte) []byte {
	k := make([]byte, n)
	for i := range k {
		k[i] = seed + byte(i)
	}
	return k
}

func testCiphers() map[string]SKCipher {
	return map[string]SKCipher{
		"aes128gcm16":        newGCM(testKey(20, 1)),
		"aes256-sha256(cbc)": newCBC(testKey(32, 2), testKey(32, 3)),
	}
}
