package crypto

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// IKEKeys are the keys of one IKE SA (RFC 7296 2.14), in one allocation:
// a gateway holds one per peer. SK_ai and SK_ar are empty for AEAD suites.
// SK_ei/SK_er carry the 4-byte salt at their end for AEADs (RFC 5282 7.1,
// RFC 7634 2). The accessors return views of the keys, valid until
// DropAuth or Wipe; Wipe clears them when the IKE SA dies.
type IKEKeys struct {
	b       []byte // SK_d | SK_ai | SK_ar | SK_ei | SK_er [| SK_pi | SK_pr]
	d, a, e uint8  // lengths of SK_d (and SK_pi, SK_pr), SK_a*, SK_e*
	auth    bool   // b still ends in SK_pi | SK_pr
}

// key returns the n-byte key at offset off, capped so that an append to
// it cannot overwrite the next key.
func (k *IKEKeys) key(off, n int) []byte {
	if k.b == nil {
		return nil
	}
	return k.b[off : off+n : off+n]
}

func (k *IKEKeys) SKd() []byte  { return k.key(0, int(k.d)) }
func (k *IKEKeys) SKai() []byte { return k.key(int(k.d), int(k.a)) }
func (k *IKEKeys) SKar() []byte { return k.key(int(k.d)+int(k.a), int(k.a)) }
func (k *IKEKeys) SKei() []byte { return k.key(int(k.d)+2*int(k.a), int(k.e)) }
func (k *IKEKeys) SKer() []byte { return k.key(int(k.d)+2*int(k.a)+int(k.e), int(k.e)) }

// SKpi and SKpr return nil once DropAuth or Wipe has run.
func (k *IKEKeys) SKpi() []byte {
	if !k.auth {
		return nil
	}
	return k.key(k.authOff(), int(k.d))
}

func (k *IKEKeys) SKpr() []byte {
	if !k.auth {
		return nil
	}
	return k.key(k.authOff()+int(k.d), int(k.d))
}

func (k *IKEKeys) authOff() int { return int(k.d) + 2*int(k.a) + 2*int(k.e) }

// DropAuth wipes SK_pi and SK_pr, which only the AUTH payloads of IKE_AUTH
// use, and moves the other keys to an allocation of their own size (the
// old one is wiped).
func (k *IKEKeys) DropAuth() {
	if k == nil || !k.auth || k.b == nil {
		return
	}
	n := k.authOff()
	rest := append(make([]byte, 0, n), k.b[:n]...)
	clear(k.b)
	k.b, k.auth = rest, false
}

// Wipe overwrites every key with zeros and drops it. It is safe on a nil
// receiver.
func (k *IKEKeys) Wipe() {
	if k == nil {
		return
	}
	clear(k.b)
	k.b, k.auth = nil, false
}

// ErrEmptyKeyMaterial is returned by the key derivations when a nonce, the
// shared secret or SK_d is missing.
var ErrEmptyKeyMaterial = errors.New("crypto: key derivation input is empty")

// DeriveIKEKeys derives the keys of a new IKE SA from IKE_SA_INIT (RFC 7296
// 2.14):
//
//	SKEYSEED = prf(Ni | Nr, g^ir)
//	{SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr} = prf+(SKEYSEED, Ni | Nr | SPIi | SPIr)
//
// ni and nr are the nonce data of the Ni and Nr payloads, shared is g^ir
// from KeyExchange.SharedSecret, spii/spir the IKE SPIs. Lengths follow the
// suite (IKESuite.SKdLen, SKaLen, SKeLen). The inputs are not modified and
// no copy of them is kept; intermediate secrets are wiped.
func DeriveIKEKeys(s IKESuite, ni, nr, shared []byte, spii, spir uint64) (*IKEKeys, error) {
	if len(ni) == 0 || len(nr) == 0 || len(shared) == 0 {
		return nil, ErrEmptyKeyMaterial
	}
	prf, err := NewPRF(s.PRF)
	if err != nil {
		return nil, err
	}
	nonces := concat(ni, nr)
	defer clear(nonces)
	skeyseed := prf.Compute(nonces, shared)
	defer clear(skeyseed)
	return expandIKEKeys(s, prf, skeyseed, ni, nr, spii, spir)
}

// DeriveRekeyedIKEKeys derives the keys of the IKE SA that replaces an old
// one in a CREATE_CHILD_SA exchange (RFC 7296 2.18):
//
//	SKEYSEED = prf(SK_d (old), g^ir (new) | Ni | Nr)
//
// computed with the old IKE SA's PRF (oldPRF), followed by the prf+ of
// DeriveIKEKeys with the new suite's PRF, the new nonces and the new SPIs.
func DeriveRekeyedIKEKeys(s IKESuite, oldPRF uint16, oldSKd, shared, ni, nr []byte, spii, spir uint64) (*IKEKeys, error) {
	if len(oldSKd) == 0 || len(ni) == 0 || len(nr) == 0 || len(shared) == 0 {
		return nil, ErrEmptyKeyMaterial
	}
	old, err := NewPRF(oldPRF)
	if err != nil {
		return nil, err
	}
	prf, err := NewPRF(s.PRF)
	if err != nil {
		return nil, err
	}
	skeyseed := old.Compute(oldSKd, shared, ni, nr)
	defer clear(skeyseed)
	return expandIKEKeys(s, prf, skeyseed, ni, nr, spii, spir)
}

func expandIKEKeys(s IKESuite, prf PRF, skeyseed, ni, nr []byte, spii, spir uint64) (*IKEKeys, error) {
	dLen, aLen, eLen := s.SKdLen(), s.SKaLen(), s.SKeLen()
	if eLen == 0 {
		return nil, fmt.Errorf("crypto: IKE suite %s: unsupported encryption algorithm", s)
	}
	if !s.AEAD() && aLen == 0 {
		return nil, fmt.Errorf("crypto: IKE suite %s: unsupported integrity algorithm", s)
	}
	if s.AEAD() {
		aLen = 0
	}
	if dLen > 255 || aLen > 255 || eLen > 255 {
		return nil, fmt.Errorf("crypto: IKE suite %s: key too long", s)
	}
	var spis [16]byte
	binary.BigEndian.PutUint64(spis[:8], spii)
	binary.BigEndian.PutUint64(spis[8:], spir)
	seed := concat(ni, nr, spis[:])
	keymat, err := PRFPlus(prf, skeyseed, seed, 3*dLen+2*aLen+2*eLen)
	if err != nil {
		return nil, err
	}
	// KEYMAT is SK_d | SK_ai | SK_ar | SK_ei | SK_er | SK_pi | SK_pr, the
	// layout of IKEKeys, so the keys are KEYMAT itself (prf+ wiped what
	// lies past its end); DropAuth moves them to an allocation of their
	// own size once SK_pi and SK_pr are no longer needed.
	k := &IKEKeys{b: keymat, d: uint8(dLen), a: uint8(aLen), e: uint8(eLen), auth: true}
	return k, nil
}

// DeriveChildKeys derives the keying material of a Child SA (RFC 7296
// 2.17):
//
//	KEYMAT = prf+(SK_d, Ni | Nr)                 without PFS
//	KEYMAT = prf+(SK_d, g^ir (new) | Ni | Nr)    with PFS (sharedPFS non-empty)
//
// prfID is the IKE SA's PRF, skd its SK_d, ni/nr the nonces of the exchange
// that creates the Child SA (those of IKE_SA_INIT for the first one). The
// first esp.KeyLen() bytes of KEYMAT key the SA that carries traffic from
// initiator to responder, the next esp.KeyLen() the other direction; each
// is encryption key (with salt) then integrity key, the layout
// NewESPCipher takes. The two slices are fresh, and the caller owns and
// should wipe them.
func DeriveChildKeys(prfID uint16, skd, sharedPFS, ni, nr []byte, esp ESPSuite) (initToResp, respToInit []byte, err error) {
	if len(skd) == 0 || len(ni) == 0 || len(nr) == 0 {
		return nil, nil, ErrEmptyKeyMaterial
	}
	prf, err := NewPRF(prfID)
	if err != nil {
		return nil, nil, err
	}
	n := esp.KeyLen()
	if n == 0 {
		return nil, nil, fmt.Errorf("crypto: ESP suite %q takes no key", esp.Name)
	}
	seed := concat(sharedPFS, ni, nr)
	defer clear(seed)
	keymat, err := PRFPlus(prf, skd, seed, 2*n)
	if err != nil {
		return nil, nil, err
	}
	return keymat[:n:n], keymat[n:], nil
}

// concat returns a fresh slice holding the parts one after another.
func concat(parts ...[]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}
