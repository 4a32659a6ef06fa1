package auth

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/crypto/cryptobyte"
	casn1 "golang.org/x/crypto/cryptobyte/asn1"
)

// ID Types of the Identification payloads (RFC 7296 3.5). IDAny is not an
// ID type on the wire: it is strongSwan's "%any", a configured remote
// identity that matches every peer identity.
const (
	IDAny        uint8 = 0
	IDIPv4Addr   uint8 = 1
	IDFQDN       uint8 = 2
	IDRFC822Addr uint8 = 3
	IDIPv6Addr   uint8 = 5
	IDDERASN1DN  uint8 = 9
	IDDERASN1GN  uint8 = 10
	IDKeyID      uint8 = 11
)

// Identity is the content of an IDi or IDr payload (RFC 7296 3.5): the ID
// Type and the identification data as on the wire (4 or 16 octets for
// addresses, ASCII for FQDN and RFC822, DER for DN and GN, opaque for
// KEY_ID). The zero Identity is %any.
type Identity struct {
	Type uint8
	Data []byte
}

// Any is the %any identity.
var Any = Identity{}

var errIdentity = errors.New("auth: invalid identity")

// ParseIdentity parses an identity the way swanctl does for local.id and
// remote.id:
//
//   - "" , "%any", "%any6": Any
//   - "ipv4:", "ipv6:", "rfc822:" or "email:" or "userfqdn:", "fqdn:" or
//     "dns:", "asn1dn:", "asn1gn:", "keyid:" select the type explicitly;
//     after any of them "#hex" gives the data in hex ("keyid:#0a0b",
//     "asn1dn:#3000"); asn1gn takes only hex
//   - a string with '=' is a distinguished name, "C=CH, O=strongSwan,
//     CN=moon.strongswan.org" (see the DN syntax below)
//   - "@#hex" is a KEY_ID, "@@user" an RFC822 address, "@name" an FQDN
//     taken literally (not parsed as an address)
//   - "user@example.org" is an RFC822 address
//   - an IPv4 or IPv6 address literal is an address
//   - anything else is an FQDN
//
// A leading '*' in an FQDN or RFC822 address (or a DN value "*") makes a
// pattern for Matches and MatchCertificate, as strongSwan allows for remote
// identities: "*@example.org", "*.example.org", "C=CH, O=strongSwan, CN=*".
//
// DN syntax: KEY=VALUE pairs separated by ',' (or by '/' when the string
// starts with '/'); KEY is one of CN, C, L, ST, O, OU, SN, serialNumber,
// street, T, D, postalCode, N, G, I, dnQualifier, ID, pseudonym, E
// (emailAddress), UN, DC, UID (case-insensitive) or a dotted OID; values
// may be double-quoted, '\' escapes a character, "#hex" is a DER value.
// Values are encoded as PrintableString when they fit, otherwise
// UTF8String; E, UN and DC as IA5String; one RDN per pair, in the order
// written. Unlike strongSwan, a string with '=' that is not a valid DN is
// an error rather than a KEY_ID.
func ParseIdentity(s string) (Identity, error) {
	switch s {
	case "", "%any", "%any6":
		return Any, nil
	}
	if i := strings.IndexByte(s, ':'); i > 0 {
		if t, ok := idPrefixes[s[:i]]; ok {
			return parsePrefixed(t, s[:i], s[i+1:])
		}
	}
	if strings.ContainsRune(s, '=') {
		return dnIdentity(s)
	}
	if strings.HasPrefix(s, "@") {
		switch {
		case strings.HasPrefix(s, "@#"):
			return hexIdentity(IDKeyID, s[2:])
		case strings.HasPrefix(s, "@@"):
			return Identity{Type: IDRFC822Addr, Data: []byte(s[2:])}, nil
		}
		return Identity{Type: IDFQDN, Data: []byte(s[1:])}, nil
	}
	if strings.ContainsRune(s, '@') {
		return Identity{Type: IDRFC822Addr, Data: []byte(s)}, nil
	}
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" {
			return Identity{}, fmt.Errorf("%w: address %q has a zone", errIdentity, s)
		}
		return addrIdentity(a), nil
	}
	return Identity{Type: IDFQDN, Data: []byte(s)}, nil
}

// idPrefixes are strongSwan's type prefixes.
var idPrefixes = map[string]uint8{
	"ipv4": IDIPv4Addr, "ipv6": IDIPv6Addr,
	"rfc822": IDRFC822Addr, "email": IDRFC822Addr, "userfqdn": IDRFC822Addr,
	"fqdn": IDFQDN, "dns": IDFQDN,
	"asn1dn": IDDERASN1DN, "asn1gn": IDDERASN1GN, "keyid": IDKeyID,
}

// parsePrefixed parses the value after a type prefix: "#hex" is binary
// data for every type, as in strongSwan.
func parsePrefixed(t uint8, prefix, rest string) (Identity, error) {
	if h, ok := strings.CutPrefix(rest, "#"); ok {
		id, err := hexIdentity(t, h)
		if err == nil && (t == IDIPv4Addr && len(id.Data) != 4 || t == IDIPv6Addr && len(id.Data) != 16) {
			err = fmt.Errorf("%w: %s:#%s has the wrong length", errIdentity, prefix, h)
		}
		return id, err
	}
	switch t {
	case IDIPv4Addr, IDIPv6Addr:
		a, err := netip.ParseAddr(rest)
		if err != nil || a.Zone() != "" || (t == IDIPv4Addr) != a.Is4() {
			return Identity{}, fmt.Errorf("%w: %q is not an %s address", errIdentity, rest, strings.ToUpper(prefix))
		}
		return addrIdentity(a), nil
	case IDDERASN1DN:
		return dnIdentity(rest)
	case IDDERASN1GN:
		return Identity{}, fmt.Errorf("%w: asn1gn: takes #hex", errIdentity)
	}
	return Identity{Type: t, Data: []byte(rest)}, nil
}

func addrIdentity(a netip.Addr) Identity {
	if a.Is4() {
		b := a.As4()
		return Identity{Type: IDIPv4Addr, Data: b[:]}
	}
	b := a.As16()
	return Identity{Type: IDIPv6Addr, Data: b[:]}
}

func hexIdentity(t uint8, h string) (Identity, error) {
	b, err := hex.DecodeString(strings.TrimPrefix(strings.TrimPrefix(h, "0x"), "0X"))
	if err != nil {
		return Identity{}, fmt.Errorf("%w: bad hex after '#'", errIdentity)
	}
	if t == IDDERASN1DN {
		if _, err := parseDN(b); err != nil {
			return Identity{}, fmt.Errorf("%w: %v", errIdentity, err)
		}
	}
	return Identity{Type: t, Data: b}, nil
}

func dnIdentity(s string) (Identity, error) {
	der, err := parseDNString(s)
	if err != nil {
		return Identity{}, fmt.Errorf("%w: %w", errIdentity, err)
	}
	return Identity{Type: IDDERASN1DN, Data: der}, nil
}

// IsAny reports whether id is %any.
func (id Identity) IsAny() bool { return id.Type == IDAny }

// String prints id so that ParseIdentity reads it back: addresses as
// literals, FQDN and RFC822 as text, DNs in strongSwan's syntax,
// binary data as "#hex" behind a type prefix, and a type prefix wherever
// the bare text would parse as another type.
func (id Identity) String() string {
	switch id.Type {
	case IDAny:
		return "%any"
	case IDIPv4Addr, IDIPv6Addr:
		if a, ok := netip.AddrFromSlice(id.Data); ok && (id.Type == IDIPv4Addr) == (len(id.Data) == 4) {
			return a.String()
		}
	case IDFQDN, IDRFC822Addr:
		s := string(id.Data)
		plain := utf8.ValidString(s) && strings.IndexFunc(s, isControl) < 0
		if plain {
			if back, err := ParseIdentity(s); err == nil && back.Type == id.Type && bytes.Equal(back.Data, id.Data) {
				return s
			}
		}
		if !plain || strings.HasPrefix(s, "#") {
			return idTypeName(id.Type) + ":#" + hex.EncodeToString(id.Data)
		}
		return idTypeName(id.Type) + ":" + s
	case IDDERASN1DN:
		if s, ok := formatDN(id.Data); ok && s != "" {
			if back, err := ParseIdentity(s); err == nil && back.Equal(id) {
				return s
			}
			if back, err := ParseIdentity("asn1dn:" + s); err == nil && back.Equal(id) {
				return "asn1dn:" + s
			}
		}
		return "asn1dn:#" + hex.EncodeToString(id.Data)
	case IDDERASN1GN:
		return "asn1gn:#" + hex.EncodeToString(id.Data)
	case IDKeyID:
		return "keyid:#" + hex.EncodeToString(id.Data)
	}
	// Addresses of the wrong length (which do not parse back) and types
	// without a string form.
	return idTypeName(id.Type) + ":#" + hex.EncodeToString(id.Data)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

func idTypeName(t uint8) string {
	switch t {
	case IDIPv4Addr:
		return "ipv4"
	case IDIPv6Addr:
		return "ipv6"
	case IDFQDN:
		return "fqdn"
	case IDRFC822Addr:
		return "rfc822"
	case IDDERASN1DN:
		return "asn1dn"
	case IDDERASN1GN:
		return "asn1gn"
	case IDKeyID:
		return "keyid"
	}
	return "id" + strconv.Itoa(int(t))
}

// PayloadBody returns the ID payload body after the generic payload
// header: ID Type, three RESERVED octets and the data (RFC 7296 3.5); this
// is RestOfIDPayload for SignedOctets.
func (id Identity) PayloadBody() []byte {
	out := make([]byte, 4, 4+len(id.Data))
	out[0] = id.Type
	return append(out, id.Data...)
}

// ParseIDPayloadBody is the inverse of PayloadBody. The RESERVED octets
// are ignored (RFC 7296 3.5: ignored on receipt); a body shorter than 4
// octets, or of type 0, is ErrMalformed. Address data of the wrong length
// is ErrMalformed too. The returned Data is a copy.
func ParseIDPayloadBody(body []byte) (Identity, error) {
	if len(body) < 4 {
		return Identity{}, fmt.Errorf("%w: ID payload body of %d bytes", ErrMalformed, len(body))
	}
	id := Identity{Type: body[0], Data: bytes.Clone(body[4:])}
	switch {
	case id.Type == IDAny:
		return Identity{}, fmt.Errorf("%w: ID type 0", ErrMalformed)
	case id.Type == IDIPv4Addr && len(id.Data) != 4, id.Type == IDIPv6Addr && len(id.Data) != 16:
		return Identity{}, fmt.Errorf("%w: %s identity of %d bytes", ErrMalformed, idTypeName(id.Type), len(id.Data))
	}
	if id.Data == nil {
		id.Data = []byte{}
	}
	return id, nil
}

// Equal reports whether id and other denote the same identity: same type
// and, for FQDN and RFC822 addresses, data equal ignoring ASCII case; for
// DNs, the same RDNs with values equal ignoring case and repeated spaces
// (whatever their string types); otherwise identical data. Wildcards have
// no special meaning here; see Matches.
func (id Identity) Equal(other Identity) bool {
	if id.Type != other.Type {
		return false
	}
	switch id.Type {
	case IDAny:
		return true
	case IDFQDN, IDRFC822Addr:
		return strings.EqualFold(string(id.Data), string(other.Data))
	case IDDERASN1DN:
		if bytes.Equal(id.Data, other.Data) {
			return true
		}
		return dnMatch(id.Data, other.Data, false)
	}
	return bytes.Equal(id.Data, other.Data)
}

// Matches reports whether the peer's identity fits id used as a configured
// pattern (swanctl's remote.id):
//
//   - %any matches everything
//   - an FQDN or RFC822 pattern that starts with '*' matches identities of
//     the same type ending in the rest, ignoring case ("*@example.org",
//     "*.example.org"; "*" alone matches any of that type)
//   - in a DN pattern a value of "*" matches any value of that attribute;
//     the RDNs must otherwise be equal as in Equal
//   - everything else must be Equal
func (id Identity) Matches(peer Identity) bool {
	if id.Type == IDAny {
		return true
	}
	if id.Type != peer.Type {
		return false
	}
	switch id.Type {
	case IDFQDN, IDRFC822Addr:
		if suffix, ok := strings.CutPrefix(string(id.Data), "*"); ok {
			p := string(peer.Data)
			return len(p) >= len(suffix) && strings.EqualFold(p[len(p)-len(suffix):], suffix)
		}
	case IDDERASN1DN:
		return bytes.Equal(id.Data, peer.Data) || dnMatch(id.Data, peer.Data, true)
	}
	return id.Equal(peer)
}

// IsPattern reports whether id matches more than one identity: %any, an
// FQDN or RFC822 address starting with '*', or a DN with a "*" value. An
// initiator sends no IDr for such a remote identity (RFC 7296 2.15 makes
// IDr optional).
func (id Identity) IsPattern() bool {
	switch id.Type {
	case IDAny:
		return true
	case IDFQDN, IDRFC822Addr:
		return bytes.HasPrefix(id.Data, []byte("*"))
	case IDDERASN1DN:
		rdns, err := parseDN(id.Data)
		if err != nil {
			return false
		}
		for _, rdn := range rdns {
			for _, atv := range rdn {
				if v, ok := dnValueString(atv.Value); ok && v == "*" {
					return true
				}
			}
		}
	}
	return false
}

// MatchCertificate reports whether cert vouches for id (or, if id is a
// pattern, for an identity that id Matches):
//
//   - %any: any certificate
//   - DN: the certificate's subject (RDN-wise, as in Matches)
//   - FQDN: a dNSName subjectAltName
//   - RFC822: an rfc822Name subjectAltName
//   - IPv4/IPv6: an iPAddress subjectAltName
//   - KEY_ID: the subjectKeyIdentifier, or the SHA-1 of the
//     SubjectPublicKeyInfo or of the subjectPublicKey bits (the key ids
//     strongSwan computes)
//
// The subject's CN is not consulted for FQDNs, as in strongSwan.
func MatchCertificate(id Identity, cert *x509.Certificate) bool {
	if cert == nil {
		return false
	}
	switch id.Type {
	case IDAny:
		return true
	case IDDERASN1DN:
		return id.Matches(Identity{Type: IDDERASN1DN, Data: cert.RawSubject})
	case IDFQDN:
		for _, n := range cert.DNSNames {
			if id.Matches(Identity{Type: IDFQDN, Data: []byte(n)}) {
				return true
			}
		}
	case IDRFC822Addr:
		for _, n := range cert.EmailAddresses {
			if id.Matches(Identity{Type: IDRFC822Addr, Data: []byte(n)}) {
				return true
			}
		}
	case IDIPv4Addr, IDIPv6Addr:
		want, ok := netip.AddrFromSlice(id.Data)
		if !ok {
			return false
		}
		for _, ip := range cert.IPAddresses {
			if a, ok := netip.AddrFromSlice(ip); ok && a.Unmap() == want.Unmap() && (id.Type == IDIPv4Addr) == a.Unmap().Is4() {
				return true
			}
		}
	case IDKeyID:
		if len(cert.SubjectKeyId) > 0 && bytes.Equal(id.Data, cert.SubjectKeyId) {
			return true
		}
		spki := sha1.Sum(cert.RawSubjectPublicKeyInfo)
		if bytes.Equal(id.Data, spki[:]) {
			return true
		}
		if bits, ok := subjectPublicKeyBits(cert.RawSubjectPublicKeyInfo); ok {
			h := sha1.Sum(bits)
			return bytes.Equal(id.Data, h[:])
		}
	}
	return false
}

// subjectPublicKeyBits returns the contents of the subjectPublicKey BIT
// STRING of a SubjectPublicKeyInfo.
func subjectPublicKeyBits(spki []byte) ([]byte, bool) {
	in := cryptobyte.String(spki)
	var seq cryptobyte.String
	var bits asn1.BitString
	if !in.ReadASN1(&seq, casn1.SEQUENCE) || !seq.SkipASN1(casn1.SEQUENCE) || !seq.ReadASN1BitString(&bits) {
		return nil, false
	}
	return bits.RightAlign(), true
}
