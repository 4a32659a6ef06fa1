package auth

import (
	"crypto"
	"encoding/binary"
	"fmt"
	"strconv"
)

// HashAlgorithm is a value of the IANA "IKEv2 Hash Algorithms" registry
// carried in the SIGNATURE_HASH_ALGORITHMS notify (RFC 7427 4, RFC 8420 2).
type HashAlgorithm uint16

// Hash algorithm identifiers (RFC 7427 7, RFC 8420 2).
const (
	HashSHA1     HashAlgorithm = 1
	HashSHA256   HashAlgorithm = 2
	HashSHA384   HashAlgorithm = 3
	HashSHA512   HashAlgorithm = 4
	HashIdentity HashAlgorithm = 5 // RFC 8420: the scheme hashes itself (EdDSA)
)

// NotifySignatureHashAlgorithms is the status notify message type 16431
// (RFC 7427 4) whose data EncodeSignatureHashAlgorithms builds.
const NotifySignatureHashAlgorithms uint16 = 16431

// String returns the registry name, or the number for unknown values.
func (h HashAlgorithm) String() string {
	switch h {
	case HashSHA1:
		return "SHA1"
	case HashSHA256:
		return "SHA2_256"
	case HashSHA384:
		return "SHA2_384"
	case HashSHA512:
		return "SHA2_512"
	case HashIdentity:
		return "IDENTITY"
	}
	return "HASH_" + strconv.Itoa(int(h))
}

// cryptoHash maps a registry value to the Go hash; Identity and unknown
// values map to 0.
func (h HashAlgorithm) cryptoHash() crypto.Hash {
	switch h {
	case HashSHA1:
		return crypto.SHA1
	case HashSHA256:
		return crypto.SHA256
	case HashSHA384:
		return crypto.SHA384
	case HashSHA512:
		return crypto.SHA512
	}
	return 0
}

// EncodeSignatureHashAlgorithms returns the notify data of
// SIGNATURE_HASH_ALGORITHMS: each value as a 2-octet big-endian integer, in
// the given order (RFC 7427 4).
func EncodeSignatureHashAlgorithms(hs []HashAlgorithm) []byte {
	out := make([]byte, 2*len(hs))
	for i, h := range hs {
		binary.BigEndian.PutUint16(out[2*i:], uint16(h))
	}
	return out
}

// DecodeSignatureHashAlgorithms parses SIGNATURE_HASH_ALGORITHMS notify
// data. Values unknown to this package are kept (RFC 7427 4: the receiver
// ignores what it does not support; Sign does so). Data of odd length is
// ErrMalformed; empty data yields an empty, non-nil list.
func DecodeSignatureHashAlgorithms(data []byte) ([]HashAlgorithm, error) {
	if len(data)%2 != 0 {
		return nil, fmt.Errorf("%w: SIGNATURE_HASH_ALGORITHMS data of odd length %d", ErrMalformed, len(data))
	}
	hs := make([]HashAlgorithm, 0, len(data)/2)
	for i := 0; i < len(data); i += 2 {
		hs = append(hs, HashAlgorithm(binary.BigEndian.Uint16(data[i:])))
	}
	return hs, nil
}

// SupportedHashAlgorithms returns what Verify accepts in method 14, in the
// order to announce it: SHA2-256, SHA2-384, SHA2-512 and Identity, with
// SHA1 added last only when policy.AllowSHA1 is set.
func SupportedHashAlgorithms(policy Policy) []HashAlgorithm {
	hs := []HashAlgorithm{HashSHA256, HashSHA384, HashSHA512, HashIdentity}
	if policy.AllowSHA1 {
		hs = append(hs, HashSHA1)
	}
	return hs
}
