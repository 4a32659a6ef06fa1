package auth

import (
	"crypto"
	"crypto/hmac"
	"crypto/subtle"
)

// PRF is a keyed pseudorandom function as negotiated for the IKE SA
// (RFC 7296 2.13): it returns prf(key, data) in a new slice and must not
// retain either argument.
type PRF func(key, data []byte) []byte

// HMACPRF returns the PRF_HMAC_* function for hash h (RFC 2104, RFC 4868).
// It panics if h is not linked into the binary, as crypto.Hash.New does;
// callers pass hashes they negotiated from a fixed registry.
func HMACPRF(h crypto.Hash) PRF {
	return func(key, data []byte) []byte {
		m := hmac.New(h.New, key)
		m.Write(data)
		return m.Sum(nil)
	}
}

// keyPad is the constant of RFC 7296 2.15, 17 octets without a terminator.
const keyPad = "Key Pad for IKEv2"

// SignedOctets returns the octets that an AUTH payload covers
// (RFC 7296 2.15):
//
//	RealMessage | Nonce | prf(SK_p, RestOfIDPayload)
//
// realMessage is the sender's IKE_SA_INIT message as sent (from the IKE
// header to the end), nonce is the peer's Ni or Nr data, skp is the
// sender's SK_pi or SK_pr, and idPayloadBody is the sender's IDi or IDr
// payload without its 4-octet generic payload header: the ID Type, the
// three RESERVED octets and the identification data (Identity.PayloadBody
// builds it). The result is a new slice; no argument is retained.
func SignedOctets(realMessage, nonce []byte, prf PRF, skp, idPayloadBody []byte) []byte {
	mac := prf(skp, idPayloadBody)
	out := make([]byte, 0, len(realMessage)+len(nonce)+len(mac))
	out = append(out, realMessage...)
	out = append(out, nonce...)
	return append(out, mac...)
}

// PSKAuth returns the AUTH data for the Shared Key Message Integrity Code
// method (RFC 7296 2.15):
//
//	prf(prf(Shared Secret, "Key Pad for IKEv2"), <SignedOctets>)
//
// The same formula with the EAP MSK as the secret gives the AUTH data that
// follows a key-generating EAP method (RFC 7296 2.16); when EAP produced no
// MSK the caller passes SK_pi or SK_pr instead, as 2.16 requires.
func PSKAuth(prf PRF, secret, octets []byte) []byte {
	return prf(prf(secret, []byte(keyPad)), octets)
}

// VerifyPSKAuth recomputes PSKAuth and compares it with the received AUTH
// data in constant time. It returns nil on a match and ErrAuthFailed
// otherwise.
func VerifyPSKAuth(prf PRF, secret, octets, authData []byte) error {
	want := PSKAuth(prf, secret, octets)
	if subtle.ConstantTimeCompare(want, authData) != 1 {
		return ErrAuthFailed
	}
	return nil
}
