package crypto

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"hash"
	"sync/atomic"

	"golang.org/x/crypto/chacha20poly1305"
)

// IKECipher protects the Encrypted payload (SK, RFC 7296 3.14) of IKE
// messages in one direction: built from SK_ei (and SK_ai) it encrypts what
// the initiator sends and decrypts it at the responder; from SK_er (and
// SK_ar) the other way. It has the method set the IKE message codec
// expects. Implementations are safe for concurrent use.
type IKECipher interface {
	// IVLen is the length of the IV at the start of the SK payload body.
	IVLen() int
	// ICVLen is the length of the Integrity Checksum Data at its end.
	ICVLen() int
	// BlockSize is the multiple that plaintext, padding and the pad length
	// byte must reach (RFC 7296 3.14): 16 for AES-CBC, 1 for the AEADs,
	// which need no padding (RFC 5282 3, RFC 7634 3).
	BlockSize() int
	// Encrypt fills body, which must be exactly IVLen()+len(plaintext)+
	// ICVLen() long, with IV | ciphertext | ICV. prefix is the message from
	// the IKE header through the SK payload's generic header, with their
	// final lengths already written: AEADs authenticate it as AAD (RFC 5282
	// 5.1), AES-CBC includes it in the HMAC (RFC 7296 3.14). plaintext must
	// be a multiple of BlockSize() long; it may be exactly
	// body[IVLen():IVLen()+len(plaintext)] (encryption in place) or must
	// not overlap body at all.
	Encrypt(body, prefix, plaintext []byte) error
	// Decrypt verifies body (IV | ciphertext | ICV) and prefix and returns
	// the plaintext, padding and pad length byte included, in a fresh
	// slice; body is not modified. A bad ICV returns ErrAuth; a body that no
	// Encrypt could have produced returns ErrSKLength. The ICV is compared
	// in constant time and checked before anything is decrypted.
	Decrypt(prefix, body []byte) ([]byte, error)
}

// ErrSKLength is returned by IKECipher for an Encrypted payload body whose
// length cannot be valid for the suite, and by Encrypt for mis-sized
// arguments.
var ErrSKLength = errors.New("crypto: IKE encrypted payload length invalid for suite")

// NewIKECipher returns the SK payload cipher for one direction of an IKE SA
// with suite s: encKey is SK_ei or SK_er (cipher key, then the 4-byte salt
// for AEADs), integKey SK_ai or SK_ar (empty for AEADs). Supported: AES-GCM
// with a 16-byte ICV (RFC 5282), ChaCha20-Poly1305 (RFC 7634), AES-CBC
// (RFC 3602) with HMAC-SHA2 (RFC 4868) or HMAC-SHA1-96 (RFC 2404).
// NewIKECipher copies what it keeps; the caller may wipe the keys.
func NewIKECipher(s IKESuite, encKey, integKey []byte) (IKECipher, error) {
	if len(encKey) != s.SKeLen() || s.SKeLen() == 0 {
		return nil, fmt.Errorf("crypto: IKE suite %s takes a %d-byte encryption key, got %d", s, s.SKeLen(), len(encKey))
	}
	wantInteg := s.SKaLen()
	if s.AEAD() {
		wantInteg = 0
	}
	if len(integKey) != wantInteg || (!s.AEAD() && wantInteg == 0) {
		return nil, fmt.Errorf("crypto: IKE suite %s takes a %d-byte integrity key, got %d", s, wantInteg, len(integKey))
	}
	switch s.Encr {
	case EncrAESGCM16, EncrChaCha20Poly1305:
		return newIKEAEAD(s, encKey)
	case EncrAESCBC:
		return newIKECBC(s, encKey, integKey)
	}
	return nil, fmt.Errorf("crypto: IKE suite %s: unsupported encryption algorithm", s)
}

// ikeAEAD is AES-GCM-16 (RFC 5282) or ChaCha20-Poly1305 (RFC 7634) for the
// SK payload: key | 4-byte salt, nonce = salt | 8-byte IV, AAD = the
// message up to the SK payload's generic header (RFC 5282 5.1).
type ikeAEAD struct {
	aead cipher.AEAD
	salt [4]byte
	// ivCounter makes IVs unique under this key (RFC 5282 3.1, RFC 7634 2:
	// an IV must never repeat under one key). It starts at a random value
	// so that two ciphers built from the same key by mistake do not start
	// at the same IV.
	ivCounter atomic.Uint64
}

func newIKEAEAD(s IKESuite, key []byte) (*ikeAEAD, error) {
	encKey, salt := key[:len(key)-4], key[len(key)-4:]
	var (
		aead cipher.AEAD
		err  error
	)
	if s.Encr == EncrAESGCM16 {
		var block cipher.Block
		if block, err = aes.NewCipher(encKey); err == nil {
			aead, err = cipher.NewGCM(block)
		}
	} else {
		aead, err = chacha20poly1305.New(encKey)
	}
	if err != nil {
		return nil, err
	}
	c := &ikeAEAD{aead: aead}
	copy(c.salt[:], salt)
	var start [8]byte
	rand.Read(start[:])
	c.ivCounter.Store(binary.BigEndian.Uint64(start[:]))
	return c, nil
}

func (c *ikeAEAD) IVLen() int     { return aeadIVLen }
func (c *ikeAEAD) ICVLen() int    { return c.aead.Overhead() }
func (c *ikeAEAD) BlockSize() int { return 1 }

func (c *ikeAEAD) nonce(iv []byte) []byte {
	n := make([]byte, 0, 12)
	return append(append(n, c.salt[:]...), iv...)
}

func (c *ikeAEAD) Encrypt(body, prefix, plaintext []byte) error {
	if len(body) != aeadIVLen+len(plaintext)+c.ICVLen() {
		return ErrSKLength
	}
	// The IV is written after the plaintext has been read when encrypting
	// in place would otherwise overwrite it: compute it first, then Seal.
	var iv [aeadIVLen]byte
	binary.BigEndian.PutUint64(iv[:], c.ivCounter.Add(1))
	nonce := c.nonce(iv[:])
	c.aead.Seal(body[aeadIVLen:aeadIVLen], nonce, plaintext, prefix)
	copy(body[:aeadIVLen], iv[:])
	return nil
}

func (c *ikeAEAD) Decrypt(prefix, body []byte) ([]byte, error) {
	if len(body) < aeadIVLen+c.ICVLen() {
		return nil, ErrSKLength
	}
	nonce := c.nonce(body[:aeadIVLen])
	plain, err := c.aead.Open(nil, nonce, body[aeadIVLen:], prefix)
	if err != nil {
		return nil, ErrAuth
	}
	return plain, nil
}

// ikeCBC is AES-CBC (RFC 3602) with a truncated HMAC over prefix | IV |
// ciphertext (RFC 7296 3.14), encrypt-then-MAC.
type ikeCBC struct {
	block    cipher.Block
	integKey []byte
	newHash  func() hash.Hash
	icvLen   int
}

func newIKECBC(s IKESuite, encKey, integKey []byte) (*ikeCBC, error) {
	c := &ikeCBC{integKey: append([]byte(nil), integKey...)}
	switch s.Integ {
	case IntegHMACSHA196:
		c.newHash, c.icvLen = sha1.New, 12 // RFC 2404 2
	case IntegHMACSHA256128:
		c.newHash, c.icvLen = sha256.New, 16 // RFC 4868 2.3
	case IntegHMACSHA384192:
		c.newHash, c.icvLen = sha512.New384, 24
	case IntegHMACSHA512256:
		c.newHash, c.icvLen = sha512.New, 32
	default:
		return nil, fmt.Errorf("crypto: IKE suite %s: unsupported integrity algorithm", s)
	}
	var err error
	if c.block, err = aes.NewCipher(encKey); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *ikeCBC) IVLen() int     { return aes.BlockSize }
func (c *ikeCBC) ICVLen() int    { return c.icvLen }
func (c *ikeCBC) BlockSize() int { return aes.BlockSize }

func (c *ikeCBC) icv(prefix, ivAndCiphertext []byte) []byte {
	m := hmac.New(c.newHash, c.integKey)
	m.Write(prefix)
	m.Write(ivAndCiphertext)
	return m.Sum(nil)[:c.icvLen]
}

func (c *ikeCBC) Encrypt(body, prefix, plaintext []byte) error {
	if len(plaintext)%aes.BlockSize != 0 || len(body) != aes.BlockSize+len(plaintext)+c.icvLen {
		return ErrSKLength
	}
	// RFC 7296 3.14: the IV must be unpredictable; a fresh random one per
	// message costs nothing at IKE's message rates.
	var iv [aes.BlockSize]byte
	if _, err := rand.Read(iv[:]); err != nil {
		return fmt.Errorf("crypto: IKE IV: %w", err)
	}
	ct := body[aes.BlockSize : aes.BlockSize+len(plaintext)]
	cipher.NewCBCEncrypter(c.block, iv[:]).CryptBlocks(ct, plaintext)
	copy(body[:aes.BlockSize], iv[:])
	copy(body[aes.BlockSize+len(plaintext):], c.icv(prefix, body[:aes.BlockSize+len(plaintext)]))
	return nil
}

func (c *ikeCBC) Decrypt(prefix, body []byte) ([]byte, error) {
	end := len(body) - c.icvLen
	if end < 2*aes.BlockSize || (end-aes.BlockSize)%aes.BlockSize != 0 {
		return nil, ErrSKLength
	}
	if subtle.ConstantTimeCompare(c.icv(prefix, body[:end]), body[end:]) != 1 {
		return nil, ErrAuth
	}
	plain := make([]byte, end-aes.BlockSize)
	cipher.NewCBCDecrypter(c.block, body[:aes.BlockSize]).CryptBlocks(plain, body[aes.BlockSize:end])
	return plain, nil
}

// Wipe clears the salt the cipher keeps (the AEAD's key schedule inside
// crypto/aes or x/crypto cannot be reached). Callers reach it with a type
// assertion to interface{ Wipe() } once the IKE SA is gone.
func (c *ikeAEAD) Wipe() { clear(c.salt[:]) }

// Wipe clears the HMAC key the cipher keeps (the AES key schedule inside
// crypto/aes cannot be reached).
func (c *ikeCBC) Wipe() { clear(c.integKey) }
