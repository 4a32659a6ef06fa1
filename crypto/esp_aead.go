package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"

	"golang.org/x/crypto/chacha20poly1305"
)

// aeadIVLen is the explicit IV of RFC 4106 3.1 and RFC 7634 2.
const aeadIVLen = 8

// espAEAD is AES-GCM-16 (RFC 4106) or ChaCha20-Poly1305 (RFC 7634). Both
// take key||4-byte salt, carry an 8-byte explicit IV, form the nonce as
// salt||IV and authenticate SPI||seq as AAD.
type espAEAD struct {
	suite *ESPSuite   // the registry's; never changed
	aead  cipher.AEAD // safe for concurrent use: it holds only the key schedule
	salt  [4]byte
}

func newESPAEAD(suite *ESPSuite, key []byte) (*espAEAD, error) {
	encKey, salt := key[:len(key)-4], key[len(key)-4:]
	var (
		aead cipher.AEAD
		err  error
	)
	switch suite.Encr {
	case EncrAESGCM16:
		var block cipher.Block
		if block, err = aes.NewCipher(encKey); err == nil {
			aead, err = cipher.NewGCM(block)
		}
	case EncrChaCha20Poly1305:
		aead, err = chacha20poly1305.New(encKey)
	}
	if err != nil {
		return nil, err
	}
	c := &espAEAD{suite: suite, aead: aead}
	copy(c.salt[:], salt)
	return c, nil
}

func (c *espAEAD) Suite() ESPSuite { return *c.suite }

// Seal uses the 64-bit sequence number as the explicit IV. RFC 4106 3.1 and
// RFC 7634 2 require only that an IV never repeat under one key, and the
// sequence number never does (RFC 4303 3.3.3: the SA is rekeyed before it
// could cycle); the Linux kernel's seqiv does the same.
func (c *espAEAD) Seal(pkt []byte, seq uint64, esn bool, s *Scratch) []byte {
	binary.BigEndian.PutUint64(pkt[espHeaderLen:espHeaderLen+aeadIVLen], seq)
	return c.sealWithIV(pkt, uint32(seq>>32), esn, s)
}

// sealWithIV seals pkt with the IV already in place (known-answer tests use
// it with the IVs of published vectors).
func (c *espAEAD) sealWithIV(pkt []byte, seqHi uint32, esn bool, s *Scratch) []byte {
	const off = espHeaderLen + aeadIVLen
	if len(pkt) < off || cap(pkt)-len(pkt) < c.suite.ICVLen {
		panic("crypto: ESP Seal: packet shorter than header and IV, or no room for the ICV")
	}
	nonce := c.nonce(pkt, s)
	aad := espAAD(pkt, seqHi, esn, s)
	plain := pkt[off:]
	out := c.aead.Seal(plain[:0], nonce, plain, aad)
	return pkt[:off+len(out)]
}

func (c *espAEAD) Open(pkt []byte, seqHi uint32, esn bool, s *Scratch) ([]byte, error) {
	const off = espHeaderLen + aeadIVLen
	if len(pkt) < off+c.suite.ICVLen {
		return nil, ErrLength
	}
	nonce := c.nonce(pkt, s)
	aad := espAAD(pkt, seqHi, esn, s)
	ct := pkt[off:]
	plain, err := c.aead.Open(ct[:0], nonce, ct, aad)
	if err != nil {
		return nil, ErrAuth
	}
	return plain, nil
}

// nonce builds salt||IV (RFC 4106 4, RFC 7634 2) in s.
func (c *espAEAD) nonce(pkt []byte, s *Scratch) []byte {
	copy(s.nonce[:4], c.salt[:])
	copy(s.nonce[4:], pkt[espHeaderLen:espHeaderLen+aeadIVLen])
	return s.nonce[:]
}

// espAAD returns the AAD of RFC 4106 5 (also RFC 7634 2.1): SPI||seqLo, or
// SPI||seqHi||seqLo with extended sequence numbers. Without ESN it is the
// ESP header itself, so no copy is needed.
func espAAD(pkt []byte, seqHi uint32, esn bool, s *Scratch) []byte {
	if !esn {
		return pkt[:espHeaderLen]
	}
	copy(s.aad[0:4], pkt[0:4])
	binary.BigEndian.PutUint32(s.aad[4:8], seqHi)
	copy(s.aad[8:12], pkt[4:8])
	return s.aad[:12]
}

func (c *espAEAD) Wipe() {
	clear(c.salt[:])
}
