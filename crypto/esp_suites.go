package crypto

import (
	"fmt"
	"maps"
	"slices"
	"strings"
)

// The ESP suites esptun implements, named by their canonical strongSwan
// keywords. RFC 8221 2 lists AES-GCM-16 and ChaCha20-Poly1305 as the AEADs to
// use, and AES-CBC with HMAC-SHA2 (RFC 4868) as the classic alternative;
// ENCR_NULL (RFC 2410) with HMAC-SHA2 covers integrity-only SAs.
var espSuites = []ESPSuite{
	aeadSuite("aes128gcm16", EncrAESGCM16, 128),
	aeadSuite("aes256gcm16", EncrAESGCM16, 256),
	aeadSuite("chacha20poly1305", EncrChaCha20Poly1305, 256),
	hmacSuite("aes128", EncrAESCBC, 128, IntegHMACSHA256128),
	hmacSuite("aes128", EncrAESCBC, 128, IntegHMACSHA384192),
	hmacSuite("aes128", EncrAESCBC, 128, IntegHMACSHA512256),
	hmacSuite("aes256", EncrAESCBC, 256, IntegHMACSHA256128),
	hmacSuite("aes256", EncrAESCBC, 256, IntegHMACSHA384192),
	hmacSuite("aes256", EncrAESCBC, 256, IntegHMACSHA512256),
	hmacSuite("null", EncrNull, 0, IntegHMACSHA256128),
	hmacSuite("null", EncrNull, 0, IntegHMACSHA384192),
	hmacSuite("null", EncrNull, 0, IntegHMACSHA512256),
}

// aeadSuite describes an RFC 4106 / RFC 7634 AEAD: key||4-byte salt, 8-byte
// explicit IV, 16-byte ICV, 4-byte alignment.
func aeadSuite(name string, encr uint16, keyBits int) ESPSuite {
	return ESPSuite{
		Name:      name,
		Encr:      encr,
		KeyBits:   keyBits,
		Integ:     IntegNone,
		EncKeyLen: keyBits/8 + 4,
		IVLen:     8,
		ICVLen:    16,
		BlockSize: 4,
		AEAD:      true,
	}
}

// hmacSuite describes AES-CBC (RFC 3602: 16-byte IV and block) or ENCR_NULL
// (RFC 2410: no IV, 4-byte alignment) with an RFC 4868 HMAC-SHA2, whose key
// is as long as the hash output and whose ICV is half of it.
func hmacSuite(encrName string, encr uint16, keyBits int, integ uint16) ESPSuite {
	hashLen := integHashLen(integ)
	s := ESPSuite{
		Name:        encrName + "-" + integName(integ),
		Encr:        encr,
		KeyBits:     keyBits,
		Integ:       integ,
		EncKeyLen:   keyBits / 8,
		IntegKeyLen: hashLen,
		ICVLen:      hashLen / 2,
		BlockSize:   4,
	}
	if encr == EncrAESCBC {
		s.IVLen, s.BlockSize = 16, 16
	}
	return s
}

func integHashLen(integ uint16) int {
	switch integ {
	case IntegHMACSHA256128:
		return 32
	case IntegHMACSHA384192:
		return 48
	case IntegHMACSHA512256:
		return 64
	}
	return 0
}

func integName(integ uint16) string {
	switch integ {
	case IntegHMACSHA256128:
		return "sha256"
	case IntegHMACSHA384192:
		return "sha384"
	case IntegHMACSHA512256:
		return "sha512"
	}
	return ""
}

// ESPSuites returns the suites esptun implements, strongest AEADs first. The
// slice is a fresh copy the caller may keep.
func ESPSuites() []ESPSuite {
	return append([]ESPSuite(nil), espSuites...)
}

// espEncrKeywords maps strongSwan encryption keywords (proposal_keywords_static.txt)
// to the transform they select. Aliases such as aes128gcm128 (ICV in bits)
// and aes128gcm (default ICV) name the same transform as aes128gcm16.
var espEncrKeywords = map[string]struct {
	encr    uint16
	keyBits int
}{
	"aes128gcm16":      {EncrAESGCM16, 128},
	"aes128gcm128":     {EncrAESGCM16, 128},
	"aes128gcm":        {EncrAESGCM16, 128},
	"aes256gcm16":      {EncrAESGCM16, 256},
	"aes256gcm128":     {EncrAESGCM16, 256},
	"aes256gcm":        {EncrAESGCM16, 256},
	"chacha20poly1305": {EncrChaCha20Poly1305, 256},
	"aes":              {EncrAESCBC, 128},
	"aes128":           {EncrAESCBC, 128},
	"aes256":           {EncrAESCBC, 256},
	"null":             {EncrNull, 0},
}

// espIntegKeywords maps strongSwan integrity keywords to RFC 4868 transforms.
var espIntegKeywords = map[string]uint16{
	"sha256":   IntegHMACSHA256128,
	"sha2_256": IntegHMACSHA256128,
	"sha384":   IntegHMACSHA384192,
	"sha2_384": IntegHMACSHA384192,
	"sha512":   IntegHMACSHA512256,
	"sha2_512": IntegHMACSHA512256,
}

// keGroupKeywords maps strongSwan key exchange keywords to the canonical name
// ParseESPProposal reports. The group is only recorded here; whether esptun's
// IKE can perform it is decided there. "none"/"modpnone" mean no PFS.
var keGroupKeywords = map[string]string{
	"none":       "",
	"modpnone":   "",
	"modp1536":   "modp1536",
	"modp2048":   "modp2048",
	"modp3072":   "modp3072",
	"modp4096":   "modp4096",
	"modp6144":   "modp6144",
	"modp8192":   "modp8192",
	"ecp256":     "ecp256",
	"ecp384":     "ecp384",
	"ecp521":     "ecp521",
	"ecp256bp":   "ecp256bp",
	"ecp384bp":   "ecp384bp",
	"ecp512bp":   "ecp512bp",
	"x25519":     "x25519",
	"curve25519": "x25519",
	"x448":       "x448",
	"curve448":   "x448",
	"mlkem512":   "mlkem512",
	"mlkem768":   "mlkem768",
	"mlkem1024":  "mlkem1024",
}

// ESNMode is what an ESP proposal says about extended sequence numbers
// (RFC 4303 2.2.1, RFC 7296 3.3.2 transform type 5).
type ESNMode uint8

const (
	ESNOff    ESNMode = iota // no keyword or "noesn": 32-bit sequence numbers (strongSwan's default)
	ESNOn                    // "esn": 64-bit extended sequence numbers only
	ESNEither                // "esn-noesn": either, the peer chooses
)

// ParseESPProposal parses one strongSwan ESP proposal such as "aes128gcm16",
// "aes256-sha384", "null-sha256" or "aes256gcm16-x25519". Keywords are
// case-insensitive and may come in any order, as in strongSwan. It returns
// the suite (with its canonical Name) and the key exchange group for PFS, or
// "" when there is none; the group is only recorded for IKE.
//
// Proposals that ask for extended sequence numbers ("esn", "esn-noesn") are
// rejected because the answer would be lost; use ParseESPProposalESN for
// those. "noesn" is accepted, being the default.
func ParseESPProposal(s string) (suite ESPSuite, dhGroup string, err error) {
	suite, dhGroup, esn, err := ParseESPProposalESN(s)
	if err != nil {
		return ESPSuite{}, "", err
	}
	if esn != ESNOff {
		return ESPSuite{}, "", fmt.Errorf("crypto: ESP proposal %q: extended sequence numbers (\"esn\") cannot be negotiated from here", s)
	}
	return suite, dhGroup, nil
}

// ParseESPProposalESN is ParseESPProposal that also accepts the "esn" and
// "noesn" keywords and reports what they ask for.
func ParseESPProposalESN(s string) (suite ESPSuite, dhGroup string, esn ESNMode, err error) {
	fail := func(format string, args ...any) (ESPSuite, string, ESNMode, error) {
		return ESPSuite{}, "", ESNOff, fmt.Errorf("crypto: ESP proposal %q: "+format+" (%s)", append([]any{s}, append(args, espKeywordHelp())...)...)
	}
	if strings.TrimSpace(s) == "" {
		return fail("empty")
	}
	var (
		encrWord, integWord, groupWord string
		sawESN, sawNoESN               bool
	)
	for _, tok := range strings.Split(strings.ToLower(strings.TrimSpace(s)), "-") {
		switch {
		case tok == "":
			return fail("empty keyword")
		case tok == "esn":
			sawESN = true
		case tok == "noesn":
			sawNoESN = true
		case hasKey(espEncrKeywords, tok):
			if encrWord != "" {
				return fail("more than one encryption algorithm (%q and %q); list alternatives as separate proposals", encrWord, tok)
			}
			encrWord = tok
		case hasKey(espIntegKeywords, tok):
			if integWord != "" {
				return fail("more than one integrity algorithm (%q and %q); list alternatives as separate proposals", integWord, tok)
			}
			integWord = tok
		case hasKey(keGroupKeywords, tok):
			if groupWord != "" {
				return fail("more than one key exchange group (%q and %q)", groupWord, tok)
			}
			groupWord = tok
		default:
			return fail("unsupported keyword %q", tok)
		}
	}
	if encrWord == "" {
		return fail("no encryption algorithm")
	}
	e := espEncrKeywords[encrWord]
	var integ uint16
	if integWord != "" {
		integ = espIntegKeywords[integWord]
	}
	isAEAD := e.encr == EncrAESGCM16 || e.encr == EncrChaCha20Poly1305
	switch {
	case isAEAD && integWord != "":
		return fail("%q is an AEAD and takes no integrity algorithm, but %q was given", encrWord, integWord)
	case !isAEAD && integWord == "":
		return fail("%q needs an integrity algorithm (e.g. %s-sha256)", encrWord, encrWord)
	}
	for _, su := range espSuites {
		if su.Encr == e.encr && su.KeyBits == e.keyBits && su.Integ == integ {
			suite = su
			break
		}
	}
	if suite.Name == "" {
		return fail("no such suite")
	}
	switch {
	case sawESN && sawNoESN:
		esn = ESNEither
	case sawESN:
		esn = ESNOn
	}
	return suite, keGroupKeywords[groupWord], esn, nil
}

// LookupESP returns the suite for a strongSwan ESP keyword without key
// exchange group, such as "aes128gcm16", "aes128gcm128" (an alias),
// "chacha20poly1305", "aes256-sha256", "aes128-sha2_256" or "null-sha256".
// The returned suite carries the canonical Name.
func LookupESP(keyword string) (ESPSuite, error) {
	suite, group, err := ParseESPProposal(keyword)
	if err != nil {
		return ESPSuite{}, err
	}
	if group != "" || strings.Contains(strings.ToLower(keyword), "none") {
		return ESPSuite{}, fmt.Errorf("crypto: ESP suite %q: key exchange groups belong in a proposal, not a suite (%s)", keyword, espKeywordHelp())
	}
	return suite, nil
}

func hasKey[V any](m map[string]V, k string) bool {
	_, ok := m[k]
	return ok
}

// espKeywordHelp lists the accepted keywords for error messages.
func espKeywordHelp() string {
	names := make([]string, 0, len(espSuites))
	for _, su := range espSuites {
		names = append(names, su.Name)
	}
	return "supported ESP suites: " + strings.Join(names, ", ") +
		"; aliases: aes128gcm128, aes128gcm, aes256gcm128, aes256gcm, aes (= aes128), sha2_256, sha2_384, sha2_512" +
		"; key exchange groups: " + sortedKeys(keGroupKeywords) +
		"; esn, noesn"
}

func sortedKeys(m map[string]string) string {
	return strings.Join(slices.Sorted(maps.Keys(m)), ", ")
}
