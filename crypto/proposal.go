package crypto

import (
	"fmt"
	"strconv"
	"strings"
)

// Transform types (RFC 7296 3.3.2, IANA "Transform Type Values").
const (
	TransformENCR  uint8 = 1 // Encryption Algorithm
	TransformPRF   uint8 = 2 // Pseudorandom Function
	TransformINTEG uint8 = 3 // Integrity Algorithm
	TransformDH    uint8 = 4 // Diffie-Hellman group (Key Exchange Method)
	TransformESN   uint8 = 5 // Extended Sequence Numbers
)

// Security protocol identifiers of a Proposal substructure (RFC 7296 3.3.1).
const (
	ProtocolIKE uint8 = 1
	ProtocolAH  uint8 = 2
	ProtocolESP uint8 = 3
)

// IANA "Transform Type 2 - Pseudorandom Function Transform IDs".
// PRFHMACSHA1 is implemented for peers that need it but is never proposed
// unless configured (RFC 8247 2.3: SHA-1 is MUST- for PRFs).
const (
	PRFHMACSHA1   uint16 = 2 // RFC 2104
	PRFHMACSHA256 uint16 = 5 // RFC 4868
	PRFHMACSHA384 uint16 = 6 // RFC 4868
	PRFHMACSHA512 uint16 = 7 // RFC 4868
)

// IntegHMACSHA196 is AUTH_HMAC_SHA1_96 (RFC 2404), available to IKE SAs
// only, and only when configured (RFC 8247 2.4: MUST-).
const IntegHMACSHA196 uint16 = 2

// IANA "Transform Type 4 - Key Exchange Method Transform IDs" (the
// Diffie-Hellman groups of RFC 7296 3.3.2). DHMODP1024 is never proposed
// unless configured (RFC 8247 2.4: SHOULD NOT).
const (
	DHNone       uint16 = 0  // no key exchange (Child SAs without PFS)
	DHMODP1024   uint16 = 2  // RFC 2409 6.2, 1024-bit MODP
	DHMODP2048   uint16 = 14 // RFC 3526 3
	DHMODP3072   uint16 = 15 // RFC 3526 4
	DHMODP4096   uint16 = 16 // RFC 3526 5
	DHECP256     uint16 = 19 // RFC 5903, NIST P-256
	DHECP384     uint16 = 20 // RFC 5903, NIST P-384
	DHECP521     uint16 = 21 // RFC 5903, NIST P-521
	DHCurve25519 uint16 = 31 // RFC 8031
)

// IANA "Transform Type 5 - Extended Sequence Numbers Transform IDs".
const (
	ESNNoExtended uint16 = 0 // 32-bit sequence numbers
	ESNExtended   uint16 = 1 // 64-bit extended sequence numbers (RFC 4303 2.2.1)
)

// Transform is one transform substructure of a proposal (RFC 7296 3.3.2).
// KeyLen is the value of the Key Length attribute (RFC 7296 3.3.5) in bits,
// or 0 when the transform carries none (everything but AES-CBC and AES-GCM;
// RFC 7634 2 forbids it for ChaCha20-Poly1305).
type Transform struct {
	Type   uint8
	ID     uint16
	KeyLen uint16
}

// Proposal is one proposal substructure (RFC 7296 3.3.1) without its number
// and SPI, which belong to the message codec. A configured or offered
// proposal may list several transforms of one type (alternatives); a chosen
// one has exactly one of each type it uses.
type Proposal struct {
	Protocol   uint8 // ProtocolIKE or ProtocolESP
	Transforms []Transform
}

// Has reports whether p lists t (see transformEqual for how key lengths
// compare).
func (p Proposal) Has(t Transform) bool {
	for _, u := range p.Transforms {
		if transformEqual(u, t) {
			return true
		}
	}
	return false
}

// Of returns the transforms of type typ, in the proposal's order. The
// result is a fresh slice.
func (p Proposal) Of(typ uint8) []Transform {
	var out []Transform
	for _, t := range p.Transforms {
		if t.Type == typ {
			out = append(out, t)
		}
	}
	return out
}

// Clone returns a deep copy of p.
func (p Proposal) Clone() Proposal {
	return Proposal{Protocol: p.Protocol, Transforms: append([]Transform(nil), p.Transforms...)}
}

// String renders p in strongSwan's log style, e.g.
// "IKE:AES_GCM_16_128/PRF_HMAC_SHA2_256/CURVE_25519", alternatives of one
// type in their order.
func (p Proposal) String() string {
	var b strings.Builder
	switch p.Protocol {
	case ProtocolIKE:
		b.WriteString("IKE:")
	case ProtocolESP:
		b.WriteString("ESP:")
	case ProtocolAH:
		b.WriteString("AH:")
	default:
		b.WriteString("PROTO_" + strconv.Itoa(int(p.Protocol)) + ":")
	}
	first := true
	for _, typ := range transformTypeOrder {
		for _, t := range p.Transforms {
			if t.Type != typ {
				continue
			}
			if !first {
				b.WriteByte('/')
			}
			first = false
			b.WriteString(t.String())
		}
	}
	for _, t := range p.Transforms {
		if !knownTransformType(t.Type) {
			if !first {
				b.WriteByte('/')
			}
			first = false
			b.WriteString(t.String())
		}
	}
	return b.String()
}

// transformTypeOrder is the order in which chosen proposals list their
// transforms and String prints them (strongSwan's order).
var transformTypeOrder = [...]uint8{TransformENCR, TransformINTEG, TransformPRF, TransformDH, TransformESN}

func knownTransformType(typ uint8) bool {
	return typ >= TransformENCR && typ <= TransformESN
}

// String names t as strongSwan does: "AES_CBC_256", "HMAC_SHA2_256_128",
// "PRF_HMAC_SHA2_384", "ECP_256", "NO_EXT_SEQ"; unknown IDs as
// "UNKNOWN_<type>_<id>".
func (t Transform) String() string {
	name := transformName(t.Type, t.ID)
	if name == "" {
		name = fmt.Sprintf("UNKNOWN_%d_%d", t.Type, t.ID)
	}
	if t.KeyLen != 0 {
		name += "_" + strconv.Itoa(int(t.KeyLen))
	}
	return name
}

func transformName(typ uint8, id uint16) string {
	switch typ {
	case TransformENCR:
		switch id {
		case EncrAESCBC:
			return "AES_CBC"
		case EncrAESGCM16:
			return "AES_GCM_16"
		case EncrChaCha20Poly1305:
			return "CHACHA20_POLY1305"
		case EncrNull:
			return "NULL"
		}
	case TransformPRF:
		switch id {
		case PRFHMACSHA1:
			return "PRF_HMAC_SHA1"
		case PRFHMACSHA256:
			return "PRF_HMAC_SHA2_256"
		case PRFHMACSHA384:
			return "PRF_HMAC_SHA2_384"
		case PRFHMACSHA512:
			return "PRF_HMAC_SHA2_512"
		}
	case TransformINTEG:
		switch id {
		case IntegHMACSHA196:
			return "HMAC_SHA1_96"
		case IntegHMACSHA256128:
			return "HMAC_SHA2_256_128"
		case IntegHMACSHA384192:
			return "HMAC_SHA2_384_192"
		case IntegHMACSHA512256:
			return "HMAC_SHA2_512_256"
		}
	case TransformDH:
		switch id {
		case DHNone:
			return "KE_NONE"
		case DHMODP1024:
			return "MODP_1024"
		case DHMODP2048:
			return "MODP_2048"
		case DHMODP3072:
			return "MODP_3072"
		case DHMODP4096:
			return "MODP_4096"
		case DHECP256:
			return "ECP_256"
		case DHECP384:
			return "ECP_384"
		case DHECP521:
			return "ECP_521"
		case DHCurve25519:
			return "CURVE_25519"
		}
	case TransformESN:
		switch id {
		case ESNNoExtended:
			return "NO_EXT_SEQ"
		case ESNExtended:
			return "EXT_SEQ"
		}
	}
	return ""
}

// transformEqual compares two transforms. ChaCha20-Poly1305 has a fixed
// 256-bit key and RFC 7634 2 forbids the Key Length attribute, but a peer
// that sends 256 anyway means the same transform, so 0 and 256 match there.
func transformEqual(a, b Transform) bool {
	if a.Type != b.Type || a.ID != b.ID {
		return false
	}
	if a.Type == TransformENCR && a.ID == EncrChaCha20Poly1305 {
		return (a.KeyLen == 0 || a.KeyLen == 256) && (b.KeyLen == 0 || b.KeyLen == 256)
	}
	return a.KeyLen == b.KeyLen
}

func isAEADEncr(id uint16) bool {
	return id == EncrAESGCM16 || id == EncrChaCha20Poly1305
}

// ikeEncrKeywords maps strongSwan encryption keywords accepted in IKE
// proposals to their transform. The GCM keywords ending in 128 name the ICV
// in bits and are aliases (strongSwan's proposal_keywords_static.txt).
var ikeEncrKeywords = map[string]Transform{
	"aes":              {TransformENCR, EncrAESCBC, 128},
	"aes128":           {TransformENCR, EncrAESCBC, 128},
	"aes192":           {TransformENCR, EncrAESCBC, 192},
	"aes256":           {TransformENCR, EncrAESCBC, 256},
	"aes128gcm16":      {TransformENCR, EncrAESGCM16, 128},
	"aes128gcm128":     {TransformENCR, EncrAESGCM16, 128},
	"aes128gcm":        {TransformENCR, EncrAESGCM16, 128},
	"aes192gcm16":      {TransformENCR, EncrAESGCM16, 192},
	"aes192gcm128":     {TransformENCR, EncrAESGCM16, 192},
	"aes256gcm16":      {TransformENCR, EncrAESGCM16, 256},
	"aes256gcm128":     {TransformENCR, EncrAESGCM16, 256},
	"aes256gcm":        {TransformENCR, EncrAESGCM16, 256},
	"chacha20poly1305": {TransformENCR, EncrChaCha20Poly1305, 0},
}

// ikeIntegKeywords maps strongSwan integrity keywords to their transform.
var ikeIntegKeywords = map[string]uint16{
	"sha1":     IntegHMACSHA196,
	"sha":      IntegHMACSHA196,
	"sha256":   IntegHMACSHA256128,
	"sha2_256": IntegHMACSHA256128,
	"sha384":   IntegHMACSHA384192,
	"sha2_384": IntegHMACSHA384192,
	"sha512":   IntegHMACSHA512256,
	"sha2_512": IntegHMACSHA512256,
}

// ikePRFKeywords maps strongSwan PRF keywords to their transform.
var ikePRFKeywords = map[string]uint16{
	"prfsha1":     PRFHMACSHA1,
	"prfsha256":   PRFHMACSHA256,
	"prfsha2_256": PRFHMACSHA256,
	"prfsha384":   PRFHMACSHA384,
	"prfsha2_384": PRFHMACSHA384,
	"prfsha512":   PRFHMACSHA512,
	"prfsha2_512": PRFHMACSHA512,
}

// integPRF is the PRF an integrity keyword implies in an IKE proposal that
// names no PRF (strongSwan's integ_prf_map in proposal.c).
var integPRF = map[uint16]uint16{
	IntegHMACSHA196:    PRFHMACSHA1,
	IntegHMACSHA256128: PRFHMACSHA256,
	IntegHMACSHA384192: PRFHMACSHA384,
	IntegHMACSHA512256: PRFHMACSHA512,
}

// dhKeywords maps strongSwan key exchange keywords to the groups esptun can
// compute (see NewKeyExchange).
var dhKeywords = map[string]uint16{
	"x25519":     DHCurve25519,
	"curve25519": DHCurve25519,
	"ecp256":     DHECP256,
	"ecp384":     DHECP384,
	"ecp521":     DHECP521,
	"modp1024":   DHMODP1024,
	"modp2048":   DHMODP2048,
	"modp3072":   DHMODP3072,
	"modp4096":   DHMODP4096,
}

// ParseIKEProposal parses one IKE proposal in strongSwan's keyword syntax:
// keywords joined by '-', case-insensitive, in any order, several of one
// type allowed as alternatives ("aes128gcm16-aes256gcm16-prfsha256-x25519-ecp256").
// Examples: "aes128gcm16-prfsha256-x25519", "aes256gcm16-prfsha384-ecp384",
// "chacha20poly1305-prfsha256-x25519", "aes256-sha256-modp2048".
//
// As in strongSwan (proposal.c check_proposal):
//   - With classic encryption (aes128, aes256), an integrity keyword such as
//     "sha256" selects AUTH_HMAC_SHA2_256_128 and, when no prf keyword is
//     given, also PRF_HMAC_SHA2_256.
//   - With AEAD encryption only (aes*gcm16, chacha20poly1305), an AEAD
//     proposal carries no integrity transform (RFC 7296 3.3.3); an integrity
//     keyword there only stands for its PRF ("aes256gcm16-sha384-x25519"
//     means PRF_HMAC_SHA2_384), and is refused when a prf keyword is given
//     too, where it would mean nothing.
//   - Classic and AEAD encryption in one proposal is refused (strongSwan
//     refuses it as well; write two proposals).
//
// A proposal needs encryption, a PRF and a Diffie-Hellman group. sha1,
// prfsha1 and modp1024 are accepted because they were configured explicitly;
// the defaults never contain them. Errors name the offending keyword and
// list the accepted ones.
func ParseIKEProposal(s string) (Proposal, error) {
	fail := func(format string, args ...any) (Proposal, error) {
		return Proposal{}, fmt.Errorf("crypto: IKE proposal %q: "+format+" (%s)", append([]any{s}, append(args, ikeKeywordHelp())...)...)
	}
	if strings.TrimSpace(s) == "" {
		return fail("empty")
	}
	var encr, integ, prf, dh []Transform
	add := func(list *[]Transform, t Transform) {
		for _, u := range *list {
			if u == t {
				return // a repeated keyword or alias adds nothing
			}
		}
		*list = append(*list, t)
	}
	for _, tok := range strings.Split(strings.ToLower(strings.TrimSpace(s)), "-") {
		if t, ok := ikeEncrKeywords[tok]; ok {
			add(&encr, t)
		} else if id, ok := ikeIntegKeywords[tok]; ok {
			add(&integ, Transform{Type: TransformINTEG, ID: id})
		} else if id, ok := ikePRFKeywords[tok]; ok {
			add(&prf, Transform{Type: TransformPRF, ID: id})
		} else if id, ok := dhKeywords[tok]; ok {
			add(&dh, Transform{Type: TransformDH, ID: id})
		} else if tok == "" {
			return fail("empty keyword")
		} else {
			return fail("unsupported keyword %q", tok)
		}
	}
	if len(encr) == 0 {
		return fail("no encryption algorithm")
	}
	aead, classic := countEncr(encr)
	switch {
	case aead > 0 && classic > 0:
		return fail("classic and AEAD encryption algorithms cannot share a proposal; write them as two proposals")
	case aead > 0 && len(integ) > 0 && len(prf) > 0:
		return fail("AEAD algorithms take no integrity algorithm, and %s cannot stand for a PRF when a prf keyword is given", integ[0])
	case classic > 0 && len(integ) == 0:
		return fail("classic encryption needs an integrity algorithm (e.g. %s-sha256)", keywordOf(encr[0]))
	}
	if len(prf) == 0 {
		for _, t := range integ {
			add(&prf, Transform{Type: TransformPRF, ID: integPRF[t.ID]})
		}
	}
	if len(prf) == 0 {
		return fail("no pseudorandom function (add e.g. prfsha256)")
	}
	if len(dh) == 0 {
		return fail("no key exchange group (add e.g. x25519)")
	}
	if aead > 0 {
		integ = nil
	}
	p := Proposal{Protocol: ProtocolIKE}
	p.Transforms = append(p.Transforms, encr...)
	p.Transforms = append(p.Transforms, integ...)
	p.Transforms = append(p.Transforms, prf...)
	p.Transforms = append(p.Transforms, dh...)
	return p, nil
}

// keywordOf returns a strongSwan keyword for an encryption transform, for
// messages.
func keywordOf(t Transform) string {
	switch t.ID {
	case EncrAESCBC:
		return "aes" + strconv.Itoa(int(t.KeyLen))
	case EncrAESGCM16:
		return "aes" + strconv.Itoa(int(t.KeyLen)) + "gcm16"
	case EncrChaCha20Poly1305:
		return "chacha20poly1305"
	}
	return t.String()
}

func ikeKeywordHelp() string {
	return "encryption: aes128, aes192, aes256, aes128gcm16, aes192gcm16, aes256gcm16, chacha20poly1305" +
		" (aliases aes, aes128gcm128, aes128gcm, aes256gcm128, aes256gcm)" +
		"; integrity: sha256, sha384, sha512, sha1 (aliases sha2_256, sha2_384, sha2_512)" +
		"; prf: prfsha256, prfsha384, prfsha512, prfsha1" +
		"; key exchange: x25519 (curve25519), ecp256, ecp384, ecp521, modp2048, modp3072, modp4096, modp1024"
}

// ParseESPProposalTransforms parses one Child SA (ESP) proposal in
// strongSwan's keyword syntax into transforms for negotiation:
// "aes128gcm16", "aes256gcm16-ecp384" (PFS with ECP-384), "aes256-sha256",
// "chacha20poly1305", "aes128gcm16-esn", "aes128gcm16-esn-noesn" (either).
// Several algorithms of one type are alternatives
// ("aes128gcm16-aes256gcm16-x25519-ecp256"). The encryption and integrity
// keywords are those of ParseESPProposal, and every encryption/integrity
// pair must form one of ESPSuites(); classic and AEAD encryption cannot be
// mixed. "none" (or "modpnone") adds DH NONE, making PFS optional. Without
// "esn" the proposal offers no extended sequence numbers (strongSwan's
// default); ESN transforms are listed in the order written.
func ParseESPProposalTransforms(s string) (Proposal, error) {
	fail := func(format string, args ...any) (Proposal, error) {
		return Proposal{}, fmt.Errorf("crypto: ESP proposal %q: "+format+" (%s)", append([]any{s}, append(args, espTransformKeywordHelp())...)...)
	}
	if strings.TrimSpace(s) == "" {
		return fail("empty")
	}
	var encr, integ, dh, esn []Transform
	add := func(list *[]Transform, t Transform) {
		for _, u := range *list {
			if u == t {
				return
			}
		}
		*list = append(*list, t)
	}
	for _, tok := range strings.Split(strings.ToLower(strings.TrimSpace(s)), "-") {
		if e, ok := espEncrKeywords[tok]; ok {
			t := Transform{Type: TransformENCR, ID: e.encr}
			if e.encr == EncrAESCBC || e.encr == EncrAESGCM16 {
				t.KeyLen = uint16(e.keyBits)
			}
			add(&encr, t)
		} else if id, ok := espIntegKeywords[tok]; ok {
			add(&integ, Transform{Type: TransformINTEG, ID: id})
		} else if id, ok := dhKeywords[tok]; ok {
			add(&dh, Transform{Type: TransformDH, ID: id})
		} else if tok == "none" || tok == "modpnone" {
			add(&dh, Transform{Type: TransformDH, ID: DHNone})
		} else if tok == "esn" {
			add(&esn, Transform{Type: TransformESN, ID: ESNExtended})
		} else if tok == "noesn" {
			add(&esn, Transform{Type: TransformESN, ID: ESNNoExtended})
		} else if tok == "" {
			return fail("empty keyword")
		} else {
			return fail("unsupported keyword %q", tok)
		}
	}
	if len(encr) == 0 {
		return fail("no encryption algorithm")
	}
	aead, classic := countEncr(encr)
	switch {
	case aead > 0 && classic > 0:
		return fail("classic and AEAD encryption algorithms cannot share a proposal; write them as two proposals")
	case aead > 0 && len(integ) > 0:
		return fail("AEAD algorithms take no integrity algorithm, but %s was given", integ[0])
	case classic > 0 && len(integ) == 0:
		return fail("classic encryption needs an integrity algorithm (e.g. %s-sha256)", espKeywordOf(encr[0]))
	}
	// Every combination must be an implemented suite.
	for _, e := range encr {
		ints := integ
		if len(ints) == 0 {
			ints = []Transform{{Type: TransformINTEG, ID: IntegNone}}
		}
		for _, i := range ints {
			if _, ok := lookupESPSuite(e, i.ID); !ok {
				return fail("no such suite: %s with %s", e, Transform{Type: TransformINTEG, ID: i.ID})
			}
		}
	}
	if len(dh) == 1 && dh[0].ID == DHNone {
		dh = nil // "none" alone is the same as no PFS group
	}
	if len(esn) == 0 {
		esn = []Transform{{Type: TransformESN, ID: ESNNoExtended}}
	}
	p := Proposal{Protocol: ProtocolESP}
	p.Transforms = append(p.Transforms, encr...)
	p.Transforms = append(p.Transforms, integ...)
	p.Transforms = append(p.Transforms, dh...)
	p.Transforms = append(p.Transforms, esn...)
	return p, nil
}

func espKeywordOf(t Transform) string {
	if t.ID == EncrNull {
		return "null"
	}
	return keywordOf(t)
}

func espTransformKeywordHelp() string {
	return "encryption: aes128gcm16, aes256gcm16, chacha20poly1305, aes128, aes256, null" +
		" (aliases aes, aes128gcm128, aes128gcm, aes256gcm128, aes256gcm)" +
		"; integrity (with aes128, aes256, null): sha256, sha384, sha512 (aliases sha2_256, sha2_384, sha2_512)" +
		"; PFS key exchange: x25519 (curve25519), ecp256, ecp384, ecp521, modp2048, modp3072, modp4096, modp1024, none" +
		"; esn, noesn"
}

// lookupESPSuite finds the registry suite for an encryption transform and
// integrity ID (IntegNone for AEADs).
func lookupESPSuite(e Transform, integ uint16) (ESPSuite, bool) {
	keyBits := int(e.KeyLen)
	if e.ID == EncrChaCha20Poly1305 && keyBits == 0 {
		keyBits = 256
	}
	for _, su := range espSuites {
		if su.Encr == e.ID && su.KeyBits == keyBits && su.Integ == integ {
			return su, true
		}
	}
	return ESPSuite{}, false
}

// DefaultIKEProposals returns the IKE proposals esptun offers and accepts
// when none are configured, following RFC 8247 (no SHA-1, no MODP-1024):
//
//  1. AEAD: AES-GCM-16 128 and 256, ChaCha20-Poly1305 (RFC 8247 2.1: AES-GCM
//     SHOULD, ChaCha20-Poly1305 MAY, used widely);
//     PRF HMAC-SHA2-256/384/512 (2.2: SHA2-256 MUST);
//     groups Curve25519, ECP-256, ECP-384, ECP-521, MODP-3072, MODP-4096,
//     MODP-2048 (2.4: 14 MUST, 19 SHOULD, 31 SHOULD).
//  2. Classic: AES-CBC 128 and 256 (2.1: MUST) with HMAC-SHA2-256-128,
//     384-192, 512-256 (2.3: SHA2-256-128 MUST), the same PRFs and groups.
//
// The first group of the first proposal (Curve25519) is the one an
// initiator's KE payload guesses. The slices are fresh copies.
func DefaultIKEProposals() []Proposal {
	groups := []Transform{
		{TransformDH, DHCurve25519, 0}, {TransformDH, DHECP256, 0}, {TransformDH, DHECP384, 0},
		{TransformDH, DHECP521, 0}, {TransformDH, DHMODP3072, 0}, {TransformDH, DHMODP4096, 0},
		{TransformDH, DHMODP2048, 0},
	}
	prfs := []Transform{{TransformPRF, PRFHMACSHA256, 0}, {TransformPRF, PRFHMACSHA384, 0}, {TransformPRF, PRFHMACSHA512, 0}}
	aead := Proposal{Protocol: ProtocolIKE}
	aead.Transforms = append(aead.Transforms,
		Transform{TransformENCR, EncrAESGCM16, 128}, Transform{TransformENCR, EncrAESGCM16, 256},
		Transform{TransformENCR, EncrChaCha20Poly1305, 0})
	aead.Transforms = append(aead.Transforms, prfs...)
	aead.Transforms = append(aead.Transforms, groups...)

	cbc := Proposal{Protocol: ProtocolIKE}
	cbc.Transforms = append(cbc.Transforms,
		Transform{TransformENCR, EncrAESCBC, 128}, Transform{TransformENCR, EncrAESCBC, 256},
		Transform{TransformINTEG, IntegHMACSHA256128, 0}, Transform{TransformINTEG, IntegHMACSHA384192, 0},
		Transform{TransformINTEG, IntegHMACSHA512256, 0})
	cbc.Transforms = append(cbc.Transforms, prfs...)
	cbc.Transforms = append(cbc.Transforms, groups...)
	return []Proposal{aead, cbc}
}

// DefaultESPProposals returns the Child SA proposals esptun offers and
// accepts when none are configured, following RFC 8221:
//
//  1. AEAD: AES-GCM-16 128 and 256 (RFC 8221 5: MUST), ChaCha20-Poly1305
//     (SHOULD).
//  2. Classic: AES-CBC 128 and 256 (MUST) with HMAC-SHA2-256-128 (MUST),
//     384-192 and 512-256.
//
// Both without PFS (a group is added only when configured, as in
// strongSwan) and without extended sequence numbers. The slices are fresh
// copies.
func DefaultESPProposals() []Proposal {
	esn := Transform{TransformESN, ESNNoExtended, 0}
	return []Proposal{
		{Protocol: ProtocolESP, Transforms: []Transform{
			{TransformENCR, EncrAESGCM16, 128}, {TransformENCR, EncrAESGCM16, 256},
			{TransformENCR, EncrChaCha20Poly1305, 0}, esn,
		}},
		{Protocol: ProtocolESP, Transforms: []Transform{
			{TransformENCR, EncrAESCBC, 128}, {TransformENCR, EncrAESCBC, 256},
			{TransformINTEG, IntegHMACSHA256128, 0}, {TransformINTEG, IntegHMACSHA384192, 0},
			{TransformINTEG, IntegHMACSHA512256, 0}, esn,
		}},
	}
}

// countEncr counts the AEAD and the classic encryption transforms of a
// proposal being parsed.
func countEncr(encr []Transform) (aead, classic int) {
	for _, t := range encr {
		if isAEADEncr(t.ID) {
			aead++
		} else {
			classic++
		}
	}
	return aead, classic
}
