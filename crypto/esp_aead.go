package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/crypto/chacha20poly1305"
)

// aeadIVLen is the explicit IV of RFC 4106 3.1 and RFC 7634 2.
const aeadIVLen = 8

// espAEAD is AES-GCM-16 (RFC 4106) or ChaCha20-Poly1305 (RFC 7634). Both
// take key||4-byte salt, carry an 8-byte explicit IV, form the nonce as
// salt||IV and authenticate SPI||seq as AAD.
//
// The cipher state is made on first use, not when the SA is made: Go's
// AES-GCM keeps both key schedules and the GHASH table (768 bytes) per key,
// and a gateway holds many SAs that carry no traffic (two per Child SA, most
// of them idle). Until then the cipher keeps only the key. Once made, the
// state is published through an atomic pointer, so Seal and Open take no
// lock and allocate nothing; Idle drops it again and the next packet makes
// it anew.
type espAEAD struct {
	suite  *ESPSuite               // the registry's; never changed
	aead   atomic.Pointer[aeadBox] // nil until first use, and after Idle or Wipe
	mu     sync.Mutex              // serialises making the state (first use only)
	wiped  bool                    // guarded by mu
	key    [maxAEADKey]byte        // encryption key (key[:keyLen]); guarded by mu
	salt   [4]byte
	keyLen uint8
}

// aeadBox holds the interface value, which an atomic pointer cannot.
type aeadBox struct{ cipher.AEAD }

// maxAEADKey is the longest AEAD encryption key (AES-256, ChaCha20).
const maxAEADKey = 32

func newESPAEAD(suite *ESPSuite, key []byte) (*espAEAD, error) {
	encKey, salt := key[:len(key)-4], key[len(key)-4:]
	switch suite.Encr {
	case EncrAESGCM16:
		if n := len(encKey); n != 16 && n != 24 && n != 32 {
			return nil, aes.KeySizeError(n)
		}
	case EncrChaCha20Poly1305:
		if len(encKey) != chacha20poly1305.KeySize {
			return nil, errors.New("chacha20poly1305: bad key length")
		}
	default:
		return nil, fmt.Errorf("crypto: ESP suite %s is not an AEAD", suite.Name)
	}
	c := &espAEAD{suite: suite, keyLen: uint8(len(encKey))}
	copy(c.key[:], encKey)
	copy(c.salt[:], salt)
	return c, nil
}

// state returns the AEAD, making it on first use. Once made it is one
// atomic load.
func (c *espAEAD) state() cipher.AEAD {
	if b := c.aead.Load(); b != nil {
		return b.AEAD
	}
	return c.build()
}

// build makes the AEAD from the key and publishes it; goroutines that race
// here wait for the first and share its state. After Wipe it returns nil.
func (c *espAEAD) build() cipher.AEAD {
	c.mu.Lock()
	defer c.mu.Unlock()
	if b := c.aead.Load(); b != nil {
		return b.AEAD
	}
	if c.wiped {
		return nil
	}
	var (
		aead cipher.AEAD
		err  error
	)
	key := c.key[:c.keyLen]
	switch c.suite.Encr {
	case EncrAESGCM16:
		var block cipher.Block
		if block, err = aes.NewCipher(key); err == nil {
			aead, err = cipher.NewGCM(block)
		}
	case EncrChaCha20Poly1305:
		aead, err = chacha20poly1305.New(key)
	}
	if err != nil {
		// newESPAEAD checked the key's length, the only thing these
		// constructors check.
		panic("crypto: ESP AEAD: " + err.Error())
	}
	aeadBuilds.Add(1)
	c.aead.Store(&aeadBox{aead})
	return aead
}

// aeadBuilds counts the AEAD states made from keys (tests check that
// concurrent first users share one).
var aeadBuilds atomic.Int64

// Idle drops the cipher state made from the key, if any; the next Seal or
// Open makes it again. Safe for concurrent use with Seal and Open: a call in
// flight keeps the state it loaded.
func (c *espAEAD) Idle() {
	c.aead.Store(nil)
}

// Ready reports whether the cipher state is made (for tests and status).
func (c *espAEAD) Ready() bool { return c.aead.Load() != nil }

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
	aead := c.state()
	if aead == nil {
		panic("crypto: ESP Seal after Wipe")
	}
	plain := pkt[off:]
	out := aead.Seal(plain[:0], nonce, plain, aad)
	return pkt[:off+len(out)]
}

func (c *espAEAD) Open(pkt []byte, seqHi uint32, esn bool, s *Scratch) ([]byte, error) {
	const off = espHeaderLen + aeadIVLen
	if len(pkt) < off+c.suite.ICVLen {
		return nil, ErrLength
	}
	aead := c.state()
	if aead == nil {
		return nil, ErrAuth // wiped: nothing verifies any more
	}
	nonce := c.nonce(pkt, s)
	aad := espAAD(pkt, seqHi, esn, s)
	ct := pkt[off:]
	plain, err := aead.Open(ct[:0], nonce, ct, aad)
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

// Wipe zeroes the key and salt and drops the cipher state (whose AES key
// schedule Go gives no way to clear; it is garbage from here on). Seal
// panics and Open fails afterwards.
func (c *espAEAD) Wipe() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.wiped = true
	c.aead.Store(nil)
	clear(c.key[:])
	clear(c.salt[:])
}
