package crypto

import (
	"fmt"
	"slices"
	"strings"
)

// SelectProposal is the responder's choice (RFC 7296 2.7, 3.3.6). It walks
// offered in the peer's order and accepts the first proposal that some
// single local proposal (of the same protocol, tried in local order) can
// satisfy: both list the same transform types, and for every type there is a
// transform both list. Within the accepted proposal it takes, for each type,
// the first transform in the peer's order that the local proposal also
// lists, so the initiator's preference decides. The chosen proposal has
// exactly one transform of each type, ordered ENCR, INTEG, PRF, DH, ESN,
// then any other types by number.
//
// Absence and NONE are the same for integrity and Diffie-Hellman (RFC 7296
// 3.3.3: an AEAD proposal may omit INTEG or list NONE; a Child SA without
// PFS may omit DH or list NONE); the chosen proposal carries NONE only when
// the peer listed it. An AEAD is never paired with a real integrity
// algorithm nor classic encryption with none, even when a malformed offer
// mixes them: another of its encryption transforms is tried instead.
//
// offeredIndex is the index into offered (not the proposal number on the
// wire), or -1 when nothing matched (ok false: answer NO_PROPOSAL_CHOSEN).
// The result shares nothing with the arguments. The choice is
// deterministic.
func SelectProposal(local, offered []Proposal) (chosen Proposal, offeredIndex int, ok bool) {
	for oi, off := range offered {
		for _, loc := range local {
			if loc.Protocol != off.Protocol {
				continue
			}
			if c, ok := matchProposal(loc, off); ok {
				return c, oi, true
			}
		}
	}
	return Proposal{}, -1, false
}

// noneable reports whether absence of a transform type means NONE.
func noneable(typ uint8) bool { return typ == TransformINTEG || typ == TransformDH }

// normalized returns p's transforms of type typ, or a lone NONE when p has
// none of a type whose absence means NONE.
func normalized(p Proposal, typ uint8) []Transform {
	ts := p.Of(typ)
	if len(ts) == 0 && noneable(typ) {
		return []Transform{{Type: typ, ID: 0}}
	}
	return ts
}

// transformTypes returns the transform types present in any of ps, in the
// order chosen proposals use.
func transformTypes(ps ...Proposal) []uint8 {
	var seen [256]bool
	for _, p := range ps {
		for _, t := range p.Transforms {
			seen[t.Type] = true
		}
	}
	var out []uint8
	for _, typ := range transformTypeOrder {
		if seen[typ] {
			out = append(out, typ)
			seen[typ] = false
		}
	}
	for typ := range seen {
		if seen[typ] {
			out = append(out, uint8(typ))
		}
	}
	return out
}

// integAllowed reports whether integrity transform integ may accompany
// encryption transform encr (RFC 7296 3.3.3, RFC 5282 8).
func integAllowed(encr, integ Transform) bool {
	if isAEADEncr(encr.ID) {
		return integ.ID == IntegNone
	}
	return integ.ID != IntegNone
}

func matchProposal(loc, off Proposal) (Proposal, bool) {
	types := transformTypes(loc, off)
	encrs := off.Of(TransformENCR)
	if len(encrs) == 0 {
		encrs = []Transform{{}} // no ENCR type at all (AH): a placeholder that is never emitted
	}
	for _, encr := range encrs {
		if encr.Type == TransformENCR && !loc.Has(encr) {
			continue
		}
		chosen := Proposal{Protocol: off.Protocol}
		ok := true
		for _, typ := range types {
			if typ == TransformENCR {
				chosen.Transforms = append(chosen.Transforms, encr)
				continue
			}
			locT := normalized(loc, typ)
			var pick *Transform
			for _, t := range normalized(off, typ) {
				if typ == TransformINTEG && encr.Type == TransformENCR && !integAllowed(encr, t) {
					continue
				}
				if slices.ContainsFunc(locT, func(u Transform) bool { return transformEqual(u, t) }) {
					pick = &t
					break
				}
			}
			if pick == nil {
				ok = false
				break
			}
			if pick.ID == 0 && noneable(typ) && !off.Has(*pick) {
				continue // NONE by absence stays absent
			}
			chosen.Transforms = append(chosen.Transforms, *pick)
		}
		if ok {
			return chosen, true
		}
	}
	return Proposal{}, false
}

// Contains reports whether chosen, the responder's answer, is acceptable to
// the initiator that offered p (RFC 7296 3.3.6: the responder returns one
// of the offered proposals with exactly one transform of each type): same
// protocol, exactly one transform of each type p lists, each of them listed
// in p, and no type p does not list. Absence and NONE are the same for
// integrity and Diffie-Hellman, as in SelectProposal.
func (p Proposal) Contains(chosen Proposal) bool {
	if p.Protocol != chosen.Protocol {
		return false
	}
	for _, typ := range transformTypes(p, chosen) {
		c := normalized(chosen, typ)
		if len(c) != 1 {
			return false
		}
		if !slices.ContainsFunc(normalized(p, typ), func(u Transform) bool { return transformEqual(u, c[0]) }) {
			return false
		}
	}
	return true
}

// one returns the single transform of type typ in a chosen proposal: found
// is false when there is none, and err is set when there are several.
func one(p Proposal, typ uint8) (t Transform, found bool, err error) {
	ts := p.Of(typ)
	switch len(ts) {
	case 0:
		return Transform{}, false, nil
	case 1:
		return ts[0], true, nil
	}
	return Transform{}, false, fmt.Errorf("crypto: proposal %s has %d transforms of type %d, a chosen proposal has one", p, len(ts), typ)
}

// IKESuite is the negotiated algorithm set of an IKE SA, taken from a chosen
// proposal by SuiteFromProposal. Values are IANA transform IDs; EncrKeyLen
// is the Key Length attribute in bits (0 for ChaCha20-Poly1305, whose key
// is always 256 bits); Integ is IntegNone for AEADs.
type IKESuite struct {
	Encr, EncrKeyLen, Integ, PRF, DH uint16
}

// String names the suite as strongSwan logs it, e.g.
// "AES_GCM_16_128/PRF_HMAC_SHA2_256/CURVE_25519" or
// "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048".
func (s IKESuite) String() string {
	parts := []string{Transform{TransformENCR, s.Encr, s.EncrKeyLen}.String()}
	if s.Integ != IntegNone {
		parts = append(parts, Transform{Type: TransformINTEG, ID: s.Integ}.String())
	}
	parts = append(parts, Transform{Type: TransformPRF, ID: s.PRF}.String(), Transform{Type: TransformDH, ID: s.DH}.String())
	return strings.Join(parts, "/")
}

// AEAD reports whether the suite's encryption is an AEAD (RFC 5282, RFC
// 7634), which has no SK_ai/SK_ar.
func (s IKESuite) AEAD() bool { return isAEADEncr(s.Encr) }

// SKeLen is the length in bytes of SK_ei and SK_er: the cipher key plus,
// for AEADs, the 4-byte salt (RFC 5282 7.1, RFC 7634 2).
func (s IKESuite) SKeLen() int {
	switch s.Encr {
	case EncrAESCBC:
		return int(s.EncrKeyLen) / 8
	case EncrAESGCM16:
		return int(s.EncrKeyLen)/8 + 4
	case EncrChaCha20Poly1305:
		return 32 + 4
	}
	return 0
}

// SKaLen is the length in bytes of SK_ai and SK_ar: the HMAC key, as long
// as the hash output (RFC 4868 2.1.1, RFC 2404 3), or 0 for AEADs.
func (s IKESuite) SKaLen() int {
	switch s.Integ {
	case IntegHMACSHA196:
		return 20
	}
	return integHashLen(s.Integ)
}

// SKdLen is the length in bytes of SK_d, SK_pi and SK_pr: the PRF's
// preferred key length (RFC 7296 2.14), its output size for HMAC PRFs.
func (s IKESuite) SKdLen() int {
	return prfSize(s.PRF)
}

// SuiteFromProposal checks that p is a chosen IKE proposal esptun can run
// and returns its suite: exactly one encryption (AES-CBC or AES-GCM-16 with
// a 128, 192 or 256-bit key, or ChaCha20-Poly1305), one PRF, one
// Diffie-Hellman group that NewKeyExchange supports, an integrity algorithm
// with classic encryption and none (or NONE) with an AEAD, and no other
// transform type.
func SuiteFromProposal(p Proposal) (IKESuite, error) {
	fail := func(format string, args ...any) (IKESuite, error) {
		return IKESuite{}, fmt.Errorf("crypto: IKE proposal %s: "+format, append([]any{p}, args...)...)
	}
	if p.Protocol != ProtocolIKE {
		return fail("not an IKE proposal")
	}
	for _, t := range p.Transforms {
		if t.Type < TransformENCR || t.Type > TransformDH {
			return fail("transform type %d has no place in an IKE proposal", t.Type)
		}
	}
	encr, hasEncr, err := one(p, TransformENCR)
	if err != nil {
		return IKESuite{}, err
	}
	integ, hasInteg, err := one(p, TransformINTEG)
	if err != nil {
		return IKESuite{}, err
	}
	prf, hasPRF, err := one(p, TransformPRF)
	if err != nil {
		return IKESuite{}, err
	}
	dh, hasDH, err := one(p, TransformDH)
	if err != nil {
		return IKESuite{}, err
	}
	if !hasEncr || !hasPRF || !hasDH {
		return fail("needs one encryption algorithm, one PRF and one Diffie-Hellman group")
	}
	s := IKESuite{Encr: encr.ID, EncrKeyLen: encr.KeyLen, PRF: prf.ID, DH: dh.ID}
	switch encr.ID {
	case EncrAESCBC, EncrAESGCM16:
		if encr.KeyLen != 128 && encr.KeyLen != 192 && encr.KeyLen != 256 {
			return fail("unsupported key length %d for %s", encr.KeyLen, transformName(TransformENCR, encr.ID))
		}
	case EncrChaCha20Poly1305:
		if encr.KeyLen != 0 && encr.KeyLen != 256 {
			return fail("unsupported key length %d for CHACHA20_POLY1305", encr.KeyLen)
		}
		s.EncrKeyLen = 0
	default:
		return fail("unsupported encryption algorithm %s", encr)
	}
	if hasInteg {
		s.Integ = integ.ID
	}
	switch {
	case s.AEAD() && s.Integ != IntegNone:
		return fail("an AEAD takes no integrity algorithm (RFC 7296 3.3.3)")
	case !s.AEAD() && s.Integ == IntegNone:
		return fail("%s needs an integrity algorithm", encr)
	case !s.AEAD() && s.SKaLen() == 0:
		return fail("unsupported integrity algorithm %s", integ)
	}
	if prfSize(s.PRF) == 0 {
		return fail("unsupported PRF %s", prf)
	}
	if KEPublicLen(s.DH) == 0 {
		return fail("unsupported Diffie-Hellman group %s", dh)
	}
	return s, nil
}

// ChildFromProposal checks that p is a chosen ESP proposal esptun can run
// and returns the ESP suite (one of ESPSuites()), the PFS group (DHNone
// without PFS) and whether extended sequence numbers were chosen. A
// proposal without an ESN transform (which RFC 7296 3.3.3 requires for ESP)
// is read as no ESN.
func ChildFromProposal(p Proposal) (suite ESPSuite, dh uint16, esn bool, err error) {
	fail := func(format string, args ...any) (ESPSuite, uint16, bool, error) {
		return ESPSuite{}, 0, false, fmt.Errorf("crypto: ESP proposal %s: "+format, append([]any{p}, args...)...)
	}
	if p.Protocol != ProtocolESP {
		return fail("not an ESP proposal")
	}
	for _, t := range p.Transforms {
		if t.Type == TransformPRF || !knownTransformType(t.Type) {
			return fail("transform type %d has no place in an ESP proposal", t.Type)
		}
	}
	encr, hasEncr, err := one(p, TransformENCR)
	if err != nil {
		return ESPSuite{}, 0, false, err
	}
	integ, _, err := one(p, TransformINTEG)
	if err != nil {
		return ESPSuite{}, 0, false, err
	}
	group, _, err := one(p, TransformDH)
	if err != nil {
		return ESPSuite{}, 0, false, err
	}
	esnT, hasESN, err := one(p, TransformESN)
	if err != nil {
		return ESPSuite{}, 0, false, err
	}
	if !hasEncr {
		return fail("no encryption algorithm")
	}
	suite, ok := lookupESPSuite(encr, integ.ID)
	if !ok {
		return fail("%s with %s is not an ESP suite esptun implements", encr, Transform{Type: TransformINTEG, ID: integ.ID})
	}
	if group.ID != DHNone && KEPublicLen(group.ID) == 0 {
		return fail("unsupported Diffie-Hellman group %s", group)
	}
	if hasESN && esnT.ID > ESNExtended {
		return fail("unknown ESN transform %d", esnT.ID)
	}
	return suite, group.ID, hasESN && esnT.ID == ESNExtended, nil
}
