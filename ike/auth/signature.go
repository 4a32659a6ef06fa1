package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	_ "crypto/sha1" // crypto.SHA1.New for method 1 and the SHA-1 schemes
	_ "crypto/sha256"
	_ "crypto/sha512"
	"encoding/asn1"
	"errors"
	"fmt"
	"math/big"
	"strconv"

	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// Authentication methods of the AUTH payload (RFC 7296 3.8 and the IANA
// "IKEv2 Authentication Method" registry).
const (
	MethodRSASignature          uint8 = 1  // RSA Digital Signature: PKCS#1 v1.5 with SHA-1 (RFC 7296 3.8)
	MethodSharedKeyMIC          uint8 = 2  // Shared Key Message Integrity Code (RFC 7296 2.15)
	MethodDSSSignature          uint8 = 3  // DSS Digital Signature (not implemented)
	MethodECDSASHA256P256       uint8 = 9  // RFC 4754
	MethodECDSASHA384P384       uint8 = 10 // RFC 4754
	MethodECDSASHA512P521       uint8 = 11 // RFC 4754
	MethodGenericSecurePassword uint8 = 12 // RFC 6467 (not implemented)
	MethodNULL                  uint8 = 13 // RFC 7619 (not implemented)
	MethodDigitalSignature      uint8 = 14 // RFC 7427
)

// Policy states what Sign and Verify accept beyond the default, which is
// every scheme listed in SignatureScheme except the SHA-1 ones.
//
// The zero Policy is the safe default. Which schemes a peer may use is not
// restricted further here (swanctl's "pubkey-sha384"-style constraints
// belong to the caller, which can inspect ParseDigitalSignature's scheme).
type Policy struct {
	// AllowSHA1 accepts, and allows signing with, SHA-1 based schemes:
	// method 1 (RSA Digital Signature, which RFC 7296 defines with SHA-1)
	// and the SHA-1 schemes of method 14. RFC 8247 4 deprecates both;
	// enable only for peers that cannot do better.
	AllowSHA1 bool
	// RSAPKCS1v15 makes signing with an RSA key in method 14 use
	// RSASSA-PKCS1-v1_5 instead of RSASSA-PSS, as strongSwan does unless
	// its charon.rsa_pss option is set. Verification accepts both always.
	RSAPKCS1v15 bool
}

// SignatureScheme is a signature algorithm that can appear in the
// AlgorithmIdentifier of a Digital Signature (method 14) AUTH payload
// (RFC 7427 3).
type SignatureScheme uint8

// Signature schemes of method 14. PSS uses MGF1 with the same hash and a
// salt as long as the hash (RFC 4055 3.1, RFC 8247 3.2).
const (
	SchemeRSAPKCS1SHA1 SignatureScheme = iota + 1
	SchemeRSAPKCS1SHA256
	SchemeRSAPKCS1SHA384
	SchemeRSAPKCS1SHA512
	SchemeRSAPSSSHA256
	SchemeRSAPSSSHA384
	SchemeRSAPSSSHA512
	SchemeECDSASHA1
	SchemeECDSASHA256
	SchemeECDSASHA384
	SchemeECDSASHA512
	SchemeEd25519 // RFC 8420: Identity hash, the data is signed as is
)

type keyKind uint8

const (
	kindRSA keyKind = iota + 1
	kindRSAPSS
	kindECDSA
	kindEd25519
)

// Object identifiers (RFC 3279, RFC 4055, RFC 5758, RFC 8410).
var (
	oidSHA1WithRSA   = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 5}
	oidSHA256WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 11}
	oidSHA384WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 12}
	oidSHA512WithRSA = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 13}
	oidRSASSAPSS     = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 10}
	oidMGF1          = asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 1, 8}
	oidECDSAWithSHA1 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 1}
	oidECDSAWithS256 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 2}
	oidECDSAWithS384 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 3}
	oidECDSAWithS512 = asn1.ObjectIdentifier{1, 2, 840, 10045, 4, 3, 4}
	oidEd25519       = asn1.ObjectIdentifier{1, 3, 101, 112}
	oidSHA1          = asn1.ObjectIdentifier{1, 3, 14, 3, 2, 26}
	oidSHA256        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 1}
	oidSHA384        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 2}
	oidSHA512        = asn1.ObjectIdentifier{2, 16, 840, 1, 101, 3, 4, 2, 3}
)

type schemeInfo struct {
	name   string
	kind   keyKind
	hash   crypto.Hash // 0 for Ed25519
	hashID HashAlgorithm
	oid    asn1.ObjectIdentifier // for PSS the hash comes from the parameters
}

var schemes = [...]schemeInfo{
	SchemeRSAPKCS1SHA1:   {"rsa-pkcs1-sha1", kindRSA, crypto.SHA1, HashSHA1, oidSHA1WithRSA},
	SchemeRSAPKCS1SHA256: {"rsa-pkcs1-sha256", kindRSA, crypto.SHA256, HashSHA256, oidSHA256WithRSA},
	SchemeRSAPKCS1SHA384: {"rsa-pkcs1-sha384", kindRSA, crypto.SHA384, HashSHA384, oidSHA384WithRSA},
	SchemeRSAPKCS1SHA512: {"rsa-pkcs1-sha512", kindRSA, crypto.SHA512, HashSHA512, oidSHA512WithRSA},
	SchemeRSAPSSSHA256:   {"rsa-pss-sha256", kindRSAPSS, crypto.SHA256, HashSHA256, oidRSASSAPSS},
	SchemeRSAPSSSHA384:   {"rsa-pss-sha384", kindRSAPSS, crypto.SHA384, HashSHA384, oidRSASSAPSS},
	SchemeRSAPSSSHA512:   {"rsa-pss-sha512", kindRSAPSS, crypto.SHA512, HashSHA512, oidRSASSAPSS},
	SchemeECDSASHA1:      {"ecdsa-sha1", kindECDSA, crypto.SHA1, HashSHA1, oidECDSAWithSHA1},
	SchemeECDSASHA256:    {"ecdsa-sha256", kindECDSA, crypto.SHA256, HashSHA256, oidECDSAWithS256},
	SchemeECDSASHA384:    {"ecdsa-sha384", kindECDSA, crypto.SHA384, HashSHA384, oidECDSAWithS384},
	SchemeECDSASHA512:    {"ecdsa-sha512", kindECDSA, crypto.SHA512, HashSHA512, oidECDSAWithS512},
	SchemeEd25519:        {"ed25519", kindEd25519, 0, HashIdentity, oidEd25519},
}

func (s SignatureScheme) info() (schemeInfo, bool) {
	if s == 0 || int(s) >= len(schemes) {
		return schemeInfo{}, false
	}
	return schemes[s], true
}

// String returns a strongSwan-like name such as "rsa-pss-sha256".
func (s SignatureScheme) String() string {
	if in, ok := s.info(); ok {
		return in.name
	}
	return "scheme-" + strconv.Itoa(int(s))
}

// Hash returns the SIGNATURE_HASH_ALGORITHMS value the scheme needs the
// peer to have announced (RFC 7427 4), or 0 for an unknown scheme.
func (s SignatureScheme) Hash() HashAlgorithm {
	in, _ := s.info()
	return in.hashID
}

// AlgorithmIdentifier returns the DER AlgorithmIdentifier that prefixes
// the signature in method 14 (RFC 7427 3, appendix A): NULL parameters for
// RSASSA-PKCS1-v1_5, absent parameters for ECDSA and Ed25519, and for
// RSASSA-PSS the RSASSA-PSS-params of RFC 4055 3.1 with hash and MGF1 hash
// equal, saltLength the hash length and the DEFAULT trailerField omitted
// (as DER requires, and as strongSwan encodes them). It returns nil for an
// unknown scheme.
func (s SignatureScheme) AlgorithmIdentifier() []byte {
	in, ok := s.info()
	if !ok {
		return nil
	}
	var b cryptobyte.Builder
	b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(in.oid)
		switch in.kind {
		case kindRSA:
			b.AddASN1NULL()
		case kindRSAPSS:
			hashOID := hashOID(in.hash)
			b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
				b.AddASN1(casn1.Tag(0).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
					addHashAlgorithmIdentifier(b, hashOID)
				})
				b.AddASN1(casn1.Tag(1).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
					b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
						b.AddASN1ObjectIdentifier(oidMGF1)
						addHashAlgorithmIdentifier(b, hashOID)
					})
				})
				b.AddASN1(casn1.Tag(2).ContextSpecific().Constructed(), func(b *cryptobyte.Builder) {
					b.AddASN1Int64(int64(in.hash.Size()))
				})
			})
		}
	})
	return b.BytesOrPanic()
}

func addHashAlgorithmIdentifier(b *cryptobyte.Builder, oid asn1.ObjectIdentifier) {
	b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1ObjectIdentifier(oid)
		b.AddASN1NULL()
	})
}

func hashOID(h crypto.Hash) asn1.ObjectIdentifier {
	switch h {
	case crypto.SHA1:
		return oidSHA1
	case crypto.SHA256:
		return oidSHA256
	case crypto.SHA384:
		return oidSHA384
	case crypto.SHA512:
		return oidSHA512
	}
	return nil
}

func hashFromOID(oid asn1.ObjectIdentifier) crypto.Hash {
	switch {
	case oid.Equal(oidSHA1):
		return crypto.SHA1
	case oid.Equal(oidSHA256):
		return crypto.SHA256
	case oid.Equal(oidSHA384):
		return crypto.SHA384
	case oid.Equal(oidSHA512):
		return crypto.SHA512
	}
	return 0
}

// ParseDigitalSignature splits the data of a method 14 AUTH payload
// (RFC 7427 3): a 1-octet length, the DER AlgorithmIdentifier of that
// length and the signature value (for ECDSA a DER Ecdsa-Sig-Value, for
// RSA and Ed25519 the raw signature). The returned signature aliases data.
// Unknown algorithms are ErrUnsupportedMethod, anything that does not parse
// is ErrMalformed; it never panics.
func ParseDigitalSignature(data []byte) (SignatureScheme, []byte, error) {
	s, _, sig, err := parseDigitalSignature(data)
	return s, sig, err
}

// parseDigitalSignature also returns the RSASSA-PSS salt length (0 for
// other schemes).
func parseDigitalSignature(data []byte) (SignatureScheme, int, []byte, error) {
	in := cryptobyte.String(data)
	var aiLen uint8
	var ai []byte
	if !in.ReadUint8(&aiLen) || !in.ReadBytes(&ai, int(aiLen)) {
		return 0, 0, nil, fmt.Errorf("%w: digital signature AUTH data shorter than its AlgorithmIdentifier", ErrMalformed)
	}
	if len(in) == 0 {
		return 0, 0, nil, fmt.Errorf("%w: digital signature AUTH data without a signature", ErrMalformed)
	}
	s, salt, err := parseAlgorithmIdentifier(ai)
	if err != nil {
		return 0, 0, nil, err
	}
	return s, salt, []byte(in), nil
}

func parseAlgorithmIdentifier(der []byte) (SignatureScheme, int, error) {
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !in.ReadASN1(&seq, casn1.SEQUENCE) || !in.Empty() || !seq.ReadASN1ObjectIdentifier(&oid) {
		return 0, 0, fmt.Errorf("%w: bad AlgorithmIdentifier", ErrMalformed)
	}
	if oid.Equal(oidRSASSAPSS) {
		return parsePSSParams(seq)
	}
	var s SignatureScheme
	for i := range schemes {
		if schemes[i].oid != nil && schemes[i].kind != kindRSAPSS && schemes[i].oid.Equal(oid) {
			s = SignatureScheme(i)
			break
		}
	}
	if s == 0 {
		return 0, 0, fmt.Errorf("%w: signature algorithm %s", ErrUnsupportedMethod, oid)
	}
	// RFC 7427 appendix A: NULL for RSA, absent for ECDSA and EdDSA.
	// Either form is accepted for all three, as other implementations
	// are known to differ.
	if !seq.Empty() {
		if !readNULL(&seq) || !seq.Empty() {
			return 0, 0, fmt.Errorf("%w: unexpected parameters for %s", ErrMalformed, s)
		}
	}
	return s, 0, nil
}

// parsePSSParams parses RSASSA-PSS-params (RFC 4055 3.1), accepting
// DEFAULT values written out (RFC 7427 appendix A and some peers do).
func parsePSSParams(seq cryptobyte.String) (SignatureScheme, int, error) {
	bad := func(what string) (SignatureScheme, int, error) {
		return 0, 0, fmt.Errorf("%w: RSASSA-PSS parameters: %s", ErrMalformed, what)
	}
	var params cryptobyte.String
	if !seq.ReadASN1(&params, casn1.SEQUENCE) || !seq.Empty() {
		return bad("not a SEQUENCE")
	}
	hash, mgfHash, salt := crypto.SHA1, crypto.SHA1, 20
	var field cryptobyte.String
	var present bool
	if !params.ReadOptionalASN1(&field, &present, casn1.Tag(0).ContextSpecific().Constructed()) {
		return bad("hashAlgorithm")
	}
	if present {
		h, ok := readHashAlgorithmIdentifier(&field)
		if !ok || !field.Empty() {
			return bad("hashAlgorithm")
		}
		hash = h
	}
	if !params.ReadOptionalASN1(&field, &present, casn1.Tag(1).ContextSpecific().Constructed()) {
		return bad("maskGenAlgorithm")
	}
	if present {
		var mgf cryptobyte.String
		var oid asn1.ObjectIdentifier
		if !field.ReadASN1(&mgf, casn1.SEQUENCE) || !field.Empty() || !mgf.ReadASN1ObjectIdentifier(&oid) || !oid.Equal(oidMGF1) {
			return bad("maskGenAlgorithm is not MGF1")
		}
		h, ok := readHashAlgorithmIdentifier(&mgf)
		if !ok || !mgf.Empty() {
			return bad("MGF1 hash")
		}
		mgfHash = h
	}
	if !params.ReadOptionalASN1(&field, &present, casn1.Tag(2).ContextSpecific().Constructed()) {
		return bad("saltLength")
	}
	if present {
		var n int64
		if !field.ReadASN1Int64WithTag(&n, casn1.INTEGER) || !field.Empty() || n < 0 || n > 1024 {
			return bad("saltLength")
		}
		salt = int(n)
	}
	if !params.ReadOptionalASN1(&field, &present, casn1.Tag(3).ContextSpecific().Constructed()) {
		return bad("trailerField")
	}
	if present {
		var n int64
		if !field.ReadASN1Int64WithTag(&n, casn1.INTEGER) || !field.Empty() || n != 1 {
			return bad("trailerField is not trailerFieldBC")
		}
	}
	if !params.Empty() {
		return bad("trailing data")
	}
	if hash != mgfHash {
		return 0, 0, fmt.Errorf("%w: RSASSA-PSS with MGF1 hash different from the message hash", ErrUnsupportedMethod)
	}
	var s SignatureScheme
	switch hash {
	case crypto.SHA256:
		s = SchemeRSAPSSSHA256
	case crypto.SHA384:
		s = SchemeRSAPSSSHA384
	case crypto.SHA512:
		s = SchemeRSAPSSSHA512
	default:
		return 0, 0, fmt.Errorf("%w: RSASSA-PSS with SHA-1", ErrUnsupportedMethod)
	}
	return s, salt, nil
}

// readHashAlgorithmIdentifier reads a hash AlgorithmIdentifier with NULL or
// absent parameters (RFC 4055 2.1 allows both).
func readHashAlgorithmIdentifier(in *cryptobyte.String) (crypto.Hash, bool) {
	var seq cryptobyte.String
	var oid asn1.ObjectIdentifier
	if !in.ReadASN1(&seq, casn1.SEQUENCE) || !seq.ReadASN1ObjectIdentifier(&oid) {
		return 0, false
	}
	if !seq.Empty() && (!readNULL(&seq) || !seq.Empty()) {
		return 0, false
	}
	h := hashFromOID(oid)
	return h, h != 0
}

// readNULL reads an ASN.1 NULL, which has no content.
func readNULL(in *cryptobyte.String) bool {
	var v cryptobyte.String
	return in.ReadASN1(&v, casn1.NULL) && v.Empty()
}

// keyKindOf classifies a public key; RSA keys fit both RSA kinds.
func keyKindOf(pub crypto.PublicKey) (keyKind, error) {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		return kindRSA, nil
	case *ecdsa.PublicKey:
		return kindECDSA, nil
	case ed25519.PublicKey:
		if len(k) != ed25519.PublicKeySize {
			return 0, fmt.Errorf("%w: Ed25519 public key of %d bytes", ErrKeyMismatch, len(k))
		}
		return kindEd25519, nil
	}
	return 0, fmt.Errorf("%w: unsupported public key type %T", ErrKeyMismatch, pub)
}

func kindFits(key, scheme keyKind) bool {
	return key == scheme || (key == kindRSA && scheme == kindRSAPSS)
}

// legacyECDSA returns the curve and hash of methods 9, 10 and 11 (RFC 4754
// 3).
func legacyECDSA(method uint8) (elliptic.Curve, crypto.Hash, bool) {
	switch method {
	case MethodECDSASHA256P256:
		return elliptic.P256(), crypto.SHA256, true
	case MethodECDSASHA384P384:
		return elliptic.P384(), crypto.SHA384, true
	case MethodECDSASHA512P521:
		return elliptic.P521(), crypto.SHA512, true
	}
	return nil, 0, false
}

func legacyECDSAMethod(c elliptic.Curve) uint8 {
	switch c {
	case elliptic.P256():
		return MethodECDSASHA256P256
	case elliptic.P384():
		return MethodECDSASHA384P384
	case elliptic.P521():
		return MethodECDSASHA512P521
	}
	return 0
}

func digest(h crypto.Hash, data []byte) []byte {
	d := h.New()
	d.Write(data)
	return d.Sum(nil)
}

// Sign signs octets (from SignedOctets) with priv and returns the method
// and data for the AUTH payload, refusing SHA-1; see SignWithPolicy.
func Sign(priv crypto.Signer, method uint8, octets []byte, hashes []HashAlgorithm) (authMethod uint8, data []byte, err error) {
	return SignWithPolicy(priv, method, octets, hashes, Policy{})
}

// SignWithPolicy signs octets with priv. hashes is the list the peer sent
// in SIGNATURE_HASH_ALGORITHMS, nil if it sent none.
//
// With method 0 the method is chosen: when the peer announced hashes,
// method 14 (RFC 7427 4) with, for RSA, RSASSA-PSS (or PKCS#1 v1.5 under
// policy.RSAPKCS1v15) and the first of SHA2-256, SHA2-384, SHA2-512 the
// peer announced; for ECDSA the hash that matches the curve (RFC 4754)
// if announced, otherwise the first announced SHA-2; for Ed25519 the
// Identity hash (RFC 8420). Without an announcement, or without a common
// hash, the legacy method is used: 9, 10 or 11 for ECDSA on P-256, P-384
// or P-521, and 1 for RSA only when policy.AllowSHA1 is set; Ed25519 has
// no legacy method (ErrNoCommonHash).
//
// A non-zero method forces that method: 14 with the scheme chosen as above
// (defaults when hashes is empty), 1, or 9/10/11 with a key on the
// matching curve. The returned data is owned by the caller.
func SignWithPolicy(priv crypto.Signer, method uint8, octets []byte, hashes []HashAlgorithm, policy Policy) (authMethod uint8, data []byte, err error) {
	pub := priv.Public()
	kind, err := keyKindOf(pub)
	if err != nil {
		return 0, nil, err
	}
	switch method {
	case 0:
		if len(hashes) > 0 {
			if s, ok := chooseScheme(pub, kind, hashes, policy); ok {
				data, err := SignDigitalSignature(priv, s, octets, policy)
				return MethodDigitalSignature, data, err
			}
		}
		switch kind {
		case kindECDSA:
			method = legacyECDSAMethod(pub.(*ecdsa.PublicKey).Curve)
			if method == 0 {
				return 0, nil, fmt.Errorf("%w: ECDSA curve %s has no legacy method", ErrNoCommonHash, pub.(*ecdsa.PublicKey).Curve.Params().Name)
			}
		case kindRSA:
			if !policy.AllowSHA1 {
				return 0, nil, fmt.Errorf("%w: peer did not announce SHA-2 signature hashes for RSA", ErrNoCommonHash)
			}
			method = MethodRSASignature
		default:
			return 0, nil, fmt.Errorf("%w: peer did not announce the Identity hash for Ed25519", ErrNoCommonHash)
		}
	case MethodDigitalSignature:
		s, ok := chooseScheme(pub, kind, hashes, policy)
		if !ok && len(hashes) == 0 {
			s, ok = chooseScheme(pub, kind, []HashAlgorithm{HashSHA256, HashSHA384, HashSHA512, HashIdentity}, policy)
		}
		if !ok {
			return 0, nil, fmt.Errorf("%w for a %T key", ErrNoCommonHash, pub)
		}
		data, err := SignDigitalSignature(priv, s, octets, policy)
		return MethodDigitalSignature, data, err
	}

	switch method {
	case MethodRSASignature:
		if kind != kindRSA {
			return 0, nil, fmt.Errorf("%w: method 1 needs an RSA key, not %T", ErrKeyMismatch, pub)
		}
		if !policy.AllowSHA1 {
			return 0, nil, fmt.Errorf("%w: method 1 (RSA with SHA-1)", ErrSHA1NotAllowed)
		}
		sig, err := priv.Sign(rand.Reader, digest(crypto.SHA1, octets), crypto.SHA1)
		if err != nil {
			return 0, nil, fmt.Errorf("auth: RSA signature: %w", err)
		}
		return MethodRSASignature, sig, nil
	case MethodECDSASHA256P256, MethodECDSASHA384P384, MethodECDSASHA512P521:
		curve, h, _ := legacyECDSA(method)
		ek, ok := pub.(*ecdsa.PublicKey)
		if !ok || ek.Curve != curve {
			return 0, nil, fmt.Errorf("%w: method %d needs an ECDSA %s key", ErrKeyMismatch, method, curve.Params().Name)
		}
		der, err := priv.Sign(rand.Reader, digest(h, octets), h)
		if err != nil {
			return 0, nil, fmt.Errorf("auth: ECDSA signature: %w", err)
		}
		sig, err := ecdsaDERToFixed(der, (curve.Params().BitSize+7)/8)
		if err != nil {
			return 0, nil, err
		}
		return method, sig, nil
	}
	return 0, nil, fmt.Errorf("%w: %d", ErrUnsupportedMethod, method)
}

// chooseScheme picks the method 14 scheme for the key from the peer's
// hashes, as documented on SignWithPolicy.
func chooseScheme(pub crypto.PublicKey, kind keyKind, hashes []HashAlgorithm, policy Policy) (SignatureScheme, bool) {
	announced := func(h HashAlgorithm) bool {
		for _, x := range hashes {
			if x == h {
				return true
			}
		}
		return false
	}
	var prefs []HashAlgorithm
	switch kind {
	case kindEd25519:
		return SchemeEd25519, announced(HashIdentity)
	case kindECDSA:
		switch pub.(*ecdsa.PublicKey).Curve {
		case elliptic.P384():
			prefs = []HashAlgorithm{HashSHA384, HashSHA256, HashSHA512}
		case elliptic.P521():
			prefs = []HashAlgorithm{HashSHA512, HashSHA384, HashSHA256}
		default:
			prefs = []HashAlgorithm{HashSHA256, HashSHA384, HashSHA512}
		}
	case kindRSA:
		prefs = []HashAlgorithm{HashSHA256, HashSHA384, HashSHA512}
	}
	if policy.AllowSHA1 {
		prefs = append(prefs, HashSHA1)
	}
	for _, h := range prefs {
		if announced(h) {
			return schemeFor(kind, h, policy.RSAPKCS1v15), true
		}
	}
	return 0, false
}

// schemeFor returns the method 14 scheme for a key kind and a SHA hash.
// There is no RSASSA-PSS with SHA-1 here: SHA-1 RSA is PKCS#1 v1.5.
func schemeFor(kind keyKind, h HashAlgorithm, pkcs1 bool) SignatureScheme {
	i := int(h - HashSHA1) // 0..3 for SHA1..SHA2-512
	switch {
	case kind == kindECDSA:
		return [...]SignatureScheme{SchemeECDSASHA1, SchemeECDSASHA256, SchemeECDSASHA384, SchemeECDSASHA512}[i]
	case pkcs1 || h == HashSHA1:
		return [...]SignatureScheme{SchemeRSAPKCS1SHA1, SchemeRSAPKCS1SHA256, SchemeRSAPKCS1SHA384, SchemeRSAPKCS1SHA512}[i]
	}
	return [...]SignatureScheme{0, SchemeRSAPSSSHA256, SchemeRSAPSSSHA384, SchemeRSAPSSSHA512}[i]
}

// SignDigitalSignature signs octets with priv under scheme and returns the
// complete method 14 AUTH data: length, AlgorithmIdentifier, signature
// (RFC 7427 3). SHA-1 schemes need policy.AllowSHA1.
func SignDigitalSignature(priv crypto.Signer, scheme SignatureScheme, octets []byte, policy Policy) ([]byte, error) {
	in, ok := scheme.info()
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnsupportedMethod, scheme)
	}
	if in.hashID == HashSHA1 && !policy.AllowSHA1 {
		return nil, fmt.Errorf("%w: %s", ErrSHA1NotAllowed, scheme)
	}
	kind, err := keyKindOf(priv.Public())
	if err != nil {
		return nil, err
	}
	if !kindFits(kind, in.kind) {
		return nil, fmt.Errorf("%w: %s with a %T key", ErrKeyMismatch, scheme, priv.Public())
	}
	var sig []byte
	switch in.kind {
	case kindEd25519:
		sig, err = priv.Sign(rand.Reader, octets, crypto.Hash(0))
	case kindRSAPSS:
		sig, err = priv.Sign(rand.Reader, digest(in.hash, octets), &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: in.hash})
	default: // PKCS#1 v1.5 and ECDSA (DER Ecdsa-Sig-Value, RFC 7427 3)
		sig, err = priv.Sign(rand.Reader, digest(in.hash, octets), in.hash)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: %s signature: %w", scheme, err)
	}
	ai := scheme.AlgorithmIdentifier()
	out := make([]byte, 0, 1+len(ai)+len(sig))
	out = append(out, byte(len(ai)))
	out = append(out, ai...)
	return append(out, sig...), nil
}

// Verify checks the AUTH data of a signature method against octets (from
// SignedOctets with the peer's values) and the peer's public key, usually
// from its validated certificate. It supports methods 1 (under
// policy.AllowSHA1), 9, 10, 11 and 14. It returns nil when the signature
// verifies, ErrAuthFailed when it does not, and ErrKeyMismatch,
// ErrSHA1NotAllowed, ErrUnsupportedMethod or ErrMalformed otherwise.
func Verify(pub crypto.PublicKey, method uint8, octets, data []byte, policy Policy) error {
	kind, err := keyKindOf(pub)
	if err != nil {
		return err
	}
	switch method {
	case MethodRSASignature:
		if !policy.AllowSHA1 {
			return fmt.Errorf("%w: method 1 (RSA with SHA-1)", ErrSHA1NotAllowed)
		}
		if kind != kindRSA {
			return fmt.Errorf("%w: method 1 with a %T key", ErrKeyMismatch, pub)
		}
		if rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), crypto.SHA1, digest(crypto.SHA1, octets), data) != nil {
			return fmt.Errorf("%w: RSA signature does not verify", ErrAuthFailed)
		}
		return nil
	case MethodECDSASHA256P256, MethodECDSASHA384P384, MethodECDSASHA512P521:
		curve, h, _ := legacyECDSA(method)
		ek, ok := pub.(*ecdsa.PublicKey)
		if !ok || ek.Curve != curve {
			return fmt.Errorf("%w: method %d needs an ECDSA %s key", ErrKeyMismatch, method, curve.Params().Name)
		}
		// RFC 4754 7: r and s, each as long as the curve's order.
		n := (curve.Params().BitSize + 7) / 8
		if len(data) != 2*n {
			return fmt.Errorf("%w: ECDSA signature of %d bytes for method %d", ErrMalformed, len(data), method)
		}
		if !ecdsa.VerifyASN1(ek, digest(h, octets), ecdsaFixedToDER(data)) {
			return fmt.Errorf("%w: ECDSA signature does not verify", ErrAuthFailed)
		}
		return nil
	case MethodDigitalSignature:
		return verifyDigitalSignature(pub, kind, octets, data, policy)
	case MethodSharedKeyMIC:
		return fmt.Errorf("%w: method 2 is verified with VerifyPSKAuth", ErrUnsupportedMethod)
	}
	return fmt.Errorf("%w: %d", ErrUnsupportedMethod, method)
}

func verifyDigitalSignature(pub crypto.PublicKey, kind keyKind, octets, data []byte, policy Policy) error {
	scheme, salt, sig, err := parseDigitalSignature(data)
	if err != nil {
		return err
	}
	in, _ := scheme.info()
	if in.hashID == HashSHA1 && !policy.AllowSHA1 {
		return fmt.Errorf("%w: %s", ErrSHA1NotAllowed, scheme)
	}
	if !kindFits(kind, in.kind) {
		return fmt.Errorf("%w: %s with a %T key", ErrKeyMismatch, scheme, pub)
	}
	ok := false
	switch in.kind {
	case kindEd25519:
		ok = ed25519.Verify(pub.(ed25519.PublicKey), octets, sig)
	case kindECDSA:
		ok = ecdsa.VerifyASN1(pub.(*ecdsa.PublicKey), digest(in.hash, octets), sig)
	case kindRSA:
		ok = rsa.VerifyPKCS1v15(pub.(*rsa.PublicKey), in.hash, digest(in.hash, octets), sig) == nil
	case kindRSAPSS:
		// A saltLength of 0 makes crypto/rsa detect the salt length
		// (rsa.PSSSaltLengthAuto), which accepts an empty salt too.
		ok = rsa.VerifyPSS(pub.(*rsa.PublicKey), in.hash, digest(in.hash, octets), sig, &rsa.PSSOptions{SaltLength: salt, Hash: in.hash}) == nil
	}
	if !ok {
		return fmt.Errorf("%w: %s signature does not verify", ErrAuthFailed, scheme)
	}
	return nil
}

// ecdsaDERToFixed converts a DER Ecdsa-Sig-Value to r|s with each integer
// left-padded to n octets (RFC 4754 7).
func ecdsaDERToFixed(der []byte, n int) ([]byte, error) {
	var r, s big.Int
	in := cryptobyte.String(der)
	var seq cryptobyte.String
	if !in.ReadASN1(&seq, casn1.SEQUENCE) || !in.Empty() || !seq.ReadASN1Integer(&r) || !seq.ReadASN1Integer(&s) || !seq.Empty() {
		return nil, errors.New("auth: ECDSA signer returned a malformed signature")
	}
	if r.Sign() <= 0 || s.Sign() <= 0 || r.BitLen() > 8*n || s.BitLen() > 8*n {
		return nil, errors.New("auth: ECDSA signer returned an out-of-range signature")
	}
	out := make([]byte, 2*n)
	r.FillBytes(out[:n])
	s.FillBytes(out[n:])
	return out, nil
}

// ecdsaFixedToDER converts r|s (two halves of equal length) to DER.
func ecdsaFixedToDER(sig []byte) []byte {
	n := len(sig) / 2
	r := new(big.Int).SetBytes(sig[:n])
	s := new(big.Int).SetBytes(sig[n:])
	var b cryptobyte.Builder
	b.AddASN1(casn1.SEQUENCE, func(b *cryptobyte.Builder) {
		b.AddASN1BigInt(r)
		b.AddASN1BigInt(s)
	})
	return b.BytesOrPanic()
}
