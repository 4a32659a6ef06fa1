package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"hash"
	"sync"
)

// cbcIVLen is the AES-CBC IV and block size (RFC 3602 2.4).
const cbcIVLen = aes.BlockSize

// cbcMode is the cipher.BlockMode that crypto/cipher returns for CBC: it can
// be given a new IV, so one instance serves many packets.
type cbcMode interface {
	cipher.BlockMode
	SetIV(iv []byte)
}

// espHMAC is AES-CBC (RFC 3602) or ENCR_NULL (RFC 2410) with an RFC 4868
// HMAC-SHA2 ICV, encrypt-then-MAC as RFC 4303 3.3.2 orders it.
//
// hash.Hash and CBC modes are stateful, so each lives in a per-cipher
// sync.Pool: steady state takes one of each per packet and allocates nothing.
type espHMAC struct {
	suite    *ESPSuite
	integKey []byte
	newHash  func() hash.Hash
	macs     sync.Pool // of hash.Hash: HMAC keyed with integKey

	// AES-CBC only (nil for ENCR_NULL).
	block   cipher.Block
	ivBlock cipher.Block // random key, private to this cipher: IV = E(seq)
	encs    sync.Pool    // of cbcMode
	decs    sync.Pool    // of cbcMode
}

func newESPHMAC(suite *ESPSuite, key []byte) (*espHMAC, error) {
	encKey, integKey := key[:suite.EncKeyLen], key[suite.EncKeyLen:]
	c := &espHMAC{suite: suite, integKey: append([]byte(nil), integKey...)}
	switch suite.Integ {
	case IntegHMACSHA256128:
		c.newHash = sha256.New
	case IntegHMACSHA384192:
		c.newHash = sha512.New384
	case IntegHMACSHA512256:
		c.newHash = sha512.New
	default:
		return nil, errors.New("crypto: unsupported ESP integrity transform")
	}
	c.macs.New = func() any { return hmac.New(c.newHash, c.integKey) }

	if suite.Encr == EncrAESCBC {
		var err error
		if c.block, err = aes.NewCipher(encKey); err != nil {
			return nil, err
		}
		// RFC 3602 3: the IV must be unpredictable to an attacker. Encrypting
		// the (unique) sequence number under a random key known only to this
		// cipher gives a fresh pseudorandom IV per packet for one AES block
		// operation, without a system call per packet.
		var ivKey [16]byte
		rand.Read(ivKey[:])
		c.ivBlock, err = aes.NewCipher(ivKey[:])
		clear(ivKey[:])
		if err != nil {
			return nil, err
		}
		var zeroIV [cbcIVLen]byte
		enc, ok1 := cipher.NewCBCEncrypter(c.block, zeroIV[:]).(cbcMode)
		dec, ok2 := cipher.NewCBCDecrypter(c.block, zeroIV[:]).(cbcMode)
		if !ok1 || !ok2 {
			return nil, errors.New("crypto: AES-CBC mode cannot be re-keyed with a new IV")
		}
		c.encs.Put(enc)
		c.decs.Put(dec)
		c.encs.New = func() any { return cipher.NewCBCEncrypter(c.block, zeroIV[:]) }
		c.decs.New = func() any { return cipher.NewCBCDecrypter(c.block, zeroIV[:]) }
	}
	return c, nil
}

func (c *espHMAC) Suite() ESPSuite { return *c.suite }

func (c *espHMAC) Seal(pkt []byte, seq uint64, esn bool, s *Scratch) []byte {
	ivLen, icvLen := c.suite.IVLen, c.suite.ICVLen
	off := espHeaderLen + ivLen
	if len(pkt) < off || cap(pkt)-len(pkt) < icvLen {
		panic("crypto: ESP Seal: packet shorter than header and IV, or no room for the ICV")
	}
	if ivLen > 0 {
		body := pkt[off:]
		if len(body)%cbcIVLen != 0 {
			panic("crypto: ESP Seal: AES-CBC plaintext is not a whole number of blocks")
		}
		iv := pkt[espHeaderLen:off]
		binary.BigEndian.PutUint64(iv[:8], seq)
		clear(iv[8:])
		c.ivBlock.Encrypt(iv, iv)
		enc := c.encs.Get().(cbcMode)
		enc.SetIV(iv)
		enc.CryptBlocks(body, body)
		c.encs.Put(enc)
	}
	mac := c.icv(pkt, uint32(seq>>32), esn, s)
	out := pkt[:len(pkt)+icvLen]
	copy(out[len(pkt):], mac)
	return out
}

func (c *espHMAC) Open(pkt []byte, seqHi uint32, esn bool, s *Scratch) ([]byte, error) {
	ivLen, icvLen := c.suite.IVLen, c.suite.ICVLen
	off := espHeaderLen + ivLen
	if len(pkt) < off+icvLen {
		return nil, ErrLength
	}
	end := len(pkt) - icvLen
	body := pkt[off:end]
	if ivLen > 0 && len(body)%cbcIVLen != 0 {
		return nil, ErrLength
	}
	// RFC 4303 3.4.4.1: verify the ICV before decrypting.
	mac := c.icv(pkt[:end], seqHi, esn, s)
	if subtle.ConstantTimeCompare(mac, pkt[end:]) != 1 {
		return nil, ErrAuth
	}
	if ivLen > 0 {
		dec := c.decs.Get().(cbcMode)
		dec.SetIV(pkt[espHeaderLen:off])
		dec.CryptBlocks(body, body)
		c.decs.Put(dec)
	}
	return body, nil
}

// icv computes the truncated HMAC (RFC 4868 2.3) over the ESP header, IV and
// ciphertext, followed by the high half of the sequence number when ESN is in
// use (RFC 4303 3.3.2.1: seqHi is included in the ICV but not sent). The
// result aliases s.mac.
func (c *espHMAC) icv(data []byte, seqHi uint32, esn bool, s *Scratch) []byte {
	h := c.macs.Get().(hash.Hash)
	h.Reset()
	h.Write(data)
	if esn {
		binary.BigEndian.PutUint32(s.aad[:4], seqHi)
		h.Write(s.aad[:4])
	}
	mac := h.Sum(s.mac[:0])
	c.macs.Put(h)
	return mac[:c.suite.ICVLen]
}

func (c *espHMAC) Wipe() {
	clear(c.integKey)
}
