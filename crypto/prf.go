package crypto

import (
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"errors"
	"fmt"
	"hash"
)

// PRF is an IKEv2 pseudorandom function (RFC 7296 2.13, transform type 2).
// Implementations are stateless and safe for concurrent use.
type PRF interface {
	// ID is the IANA transform ID (PRFHMACSHA256, ...).
	ID() uint16
	// Size is the output length in bytes.
	Size() int
	// KeyLen is the preferred key length in bytes (RFC 7296 2.14: the
	// length of SK_d, SK_pi and SK_pr); for HMAC the output size.
	KeyLen() int
	// Compute returns prf(key, data[0] | data[1] | ...) in a fresh slice.
	// HMAC takes keys of any length (RFC 2104 2).
	Compute(key []byte, data ...[]byte) []byte
}

// ErrPRFPlusLength is returned by PRFPlus when more output is asked for than
// prf+ can produce: its counter is one octet, so at most 255 blocks (RFC
// 7296 2.13).
var ErrPRFPlusLength = errors.New("crypto: prf+ output longer than 255 PRF blocks")

type hmacPRF struct {
	id   uint16
	size int
	hash func() hash.Hash
}

func (p hmacPRF) ID() uint16  { return p.id }
func (p hmacPRF) Size() int   { return p.size }
func (p hmacPRF) KeyLen() int { return p.size }

func (p hmacPRF) Compute(key []byte, data ...[]byte) []byte {
	m := hmac.New(p.hash, key)
	for _, d := range data {
		m.Write(d)
	}
	return m.Sum(make([]byte, 0, p.size))
}

// NewPRF returns the PRF for an IANA transform ID: HMAC-SHA2-256, -384,
// -512 (RFC 4868) or HMAC-SHA1 (RFC 2104; only for peers configured to use
// it, RFC 8247 2.2).
func NewPRF(id uint16) (PRF, error) {
	switch id {
	case PRFHMACSHA1:
		return prfHMACSHA1, nil
	case PRFHMACSHA256:
		return prfHMACSHA256, nil
	case PRFHMACSHA384:
		return prfHMACSHA384, nil
	case PRFHMACSHA512:
		return prfHMACSHA512, nil
	}
	return nil, fmt.Errorf("crypto: unsupported PRF transform %d", id)
}

// The PRFs are stateless: NewPRF hands out these, so that it allocates
// nothing (a key derivation asks for one several times per IKE SA).
var (
	prfHMACSHA1   = &hmacPRF{PRFHMACSHA1, sha1.Size, sha1.New}
	prfHMACSHA256 = &hmacPRF{PRFHMACSHA256, sha256.Size, sha256.New}
	prfHMACSHA384 = &hmacPRF{PRFHMACSHA384, sha512.Size384, sha512.New384}
	prfHMACSHA512 = &hmacPRF{PRFHMACSHA512, sha512.Size, sha512.New}
)

// prfSize is the output size of a supported PRF, or 0.
func prfSize(id uint16) int {
	p, err := NewPRF(id)
	if err != nil {
		return 0
	}
	return p.Size()
}

// PRFPlus returns the first n bytes of prf+(key, seed) (RFC 7296 2.13):
//
//	T1 = prf(K, S | 0x01), Tk = prf(K, Tk-1 | S | k), prf+ = T1 | T2 | ...
//
// in a fresh slice the caller owns (and should wipe). n may be at most
// 255*prf.Size(); more returns ErrPRFPlusLength.
func PRFPlus(prf PRF, key, seed []byte, n int) ([]byte, error) {
	if n < 0 || n > 255*prf.Size() {
		return nil, ErrPRFPlusLength
	}
	size := prf.Size()
	out := make([]byte, 0, n+size)
	if h, ok := prf.(*hmacPRF); ok {
		// One keyed HMAC for every block (the key is the same), each
		// block summed straight into out: no HMAC and no block is
		// allocated per block.
		m := hmac.New(h.hash, key)
		var ctr [1]byte
		for i := 1; len(out) < n; i++ {
			if i > 1 {
				m.Reset()
				m.Write(out[len(out)-size:])
			}
			m.Write(seed)
			ctr[0] = byte(i)
			m.Write(ctr[:])
			out = m.Sum(out)
		}
		clear(out[n:cap(out)])
		return out[:n:n], nil
	}
	var prev []byte
	for i := 1; len(out) < n; i++ {
		t := prf.Compute(key, prev, seed, []byte{byte(i)})
		out = append(out, t...)
		clear(prev)
		prev = t
	}
	clear(prev)
	clear(out[n:cap(out)])
	return out[:n:n], nil
}
