package auth

import (
	"encoding/asn1"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Distinguished names in strongSwan's string syntax: "C=CH, O=strongSwan,
// CN=moon.strongswan.org". RDNs are written in the order they appear in the
// DER (the first is the outermost, normally C), which is strongSwan's
// order and the reverse of RFC 4514.

// attributeTypeAndValue and rdnSET mirror crypto/x509/pkix but keep the
// value raw, so that the string tag survives and non-string values can be
// printed as hex. The SET suffix makes encoding/asn1 use a SET.
type attributeTypeAndValue struct {
	Type  asn1.ObjectIdentifier
	Value asn1.RawValue
}

type rdnSET []attributeTypeAndValue

type dnAttr struct {
	name string
	oid  asn1.ObjectIdentifier
	tag  int // string type used when encoding; 0: Printable if possible, else UTF8
}

// dnAttrs are the keywords strongSwan knows (its x501rdns table); the first
// entry for an OID is the one printed.
var dnAttrs = []dnAttr{
	{"CN", asn1.ObjectIdentifier{2, 5, 4, 3}, 0},
	{"C", asn1.ObjectIdentifier{2, 5, 4, 6}, asn1.TagPrintableString},
	{"L", asn1.ObjectIdentifier{2, 5, 4, 7}, 0},
	{"ST", asn1.ObjectIdentifier{2, 5, 4, 8}, 0},
	{"S", asn1.ObjectIdentifier{2, 5, 4, 8}, 0},
	{"O", asn1.ObjectIdentifier{2, 5, 4, 10}, 0},
	{"OU", asn1.ObjectIdentifier{2, 5, 4, 11}, 0},
	{"SN", asn1.ObjectIdentifier{2, 5, 4, 4}, 0},
	{"serialNumber", asn1.ObjectIdentifier{2, 5, 4, 5}, asn1.TagPrintableString},
	{"street", asn1.ObjectIdentifier{2, 5, 4, 9}, 0},
	{"T", asn1.ObjectIdentifier{2, 5, 4, 12}, 0},
	{"title", asn1.ObjectIdentifier{2, 5, 4, 12}, 0},
	{"D", asn1.ObjectIdentifier{2, 5, 4, 13}, 0},
	{"postalCode", asn1.ObjectIdentifier{2, 5, 4, 17}, 0},
	{"N", asn1.ObjectIdentifier{2, 5, 4, 41}, 0},
	{"G", asn1.ObjectIdentifier{2, 5, 4, 42}, 0},
	{"I", asn1.ObjectIdentifier{2, 5, 4, 43}, 0},
	{"dnQualifier", asn1.ObjectIdentifier{2, 5, 4, 46}, asn1.TagPrintableString},
	{"ID", asn1.ObjectIdentifier{2, 5, 4, 45}, 0},
	{"pseudonym", asn1.ObjectIdentifier{2, 5, 4, 65}, 0},
	{"E", asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, asn1.TagIA5String},
	{"Email", asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, asn1.TagIA5String},
	{"emailAddress", asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 1}, asn1.TagIA5String},
	{"UN", asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 2}, asn1.TagIA5String},
	{"unstructuredName", asn1.ObjectIdentifier{1, 2, 840, 113549, 1, 9, 2}, asn1.TagIA5String},
	{"DC", asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 25}, asn1.TagIA5String},
	{"UID", asn1.ObjectIdentifier{0, 9, 2342, 19200300, 100, 1, 1}, 0},
}

func dnAttrByName(name string) (dnAttr, bool) {
	for _, a := range dnAttrs {
		if strings.EqualFold(a.name, name) {
			return a, true
		}
	}
	return dnAttr{}, false
}

func dnAttrByOID(oid asn1.ObjectIdentifier) (dnAttr, bool) {
	for _, a := range dnAttrs {
		if a.oid.Equal(oid) {
			return a, true
		}
	}
	return dnAttr{}, false
}

var errDN = errors.New("auth: invalid distinguished name")

// parseDNString encodes a DN string as a DER Name (RDNSequence).
//
// Syntax: KEY=VALUE pairs separated by ',' (or by '/' when the string
// starts with '/', the OpenSSL one-line form). KEY is a keyword of dnAttrs
// (case-insensitive) or a dotted OID. Spaces around keys and values are
// ignored; a value may be double-quoted, and '\' escapes the next
// character. A value "#hex" is the DER of the value itself (RFC 4514 2.4).
// Each pair becomes its own single-valued RDN.
func parseDNString(s string) ([]byte, error) {
	if !utf8.ValidString(s) {
		return nil, fmt.Errorf("%w: not UTF-8", errDN)
	}
	sep := ','
	if strings.HasPrefix(s, "/") {
		sep = '/'
		s = s[1:]
	}
	var rdns []rdnSET
	rs := []rune(s)
	i := 0
	for {
		// Key up to '='.
		start := i
		for i < len(rs) && rs[i] != '=' {
			i++
		}
		if i == len(rs) {
			if strings.TrimSpace(string(rs[start:])) == "" && len(rdns) > 0 {
				break // trailing separator
			}
			return nil, fmt.Errorf("%w: %q has no '='", errDN, string(rs[start:]))
		}
		key := strings.TrimSpace(string(rs[start:i]))
		i++ // '='
		// Value up to an unescaped separator.
		for i < len(rs) && rs[i] == ' ' {
			i++
		}
		var val []rune
		keep := 0 // length of val up to and including its last escaped or quoted rune
		hexForm := i < len(rs) && rs[i] == '#'
		if i < len(rs) && rs[i] == '"' {
			i++
			for i < len(rs) && rs[i] != '"' {
				if rs[i] == '\\' && i+1 < len(rs) {
					i++
				}
				val = append(val, rs[i])
				i++
			}
			if i == len(rs) {
				return nil, fmt.Errorf("%w: unterminated quote after %s=", errDN, key)
			}
			i++
			keep = len(val)
			for i < len(rs) && rs[i] == ' ' {
				i++
			}
			if i < len(rs) && rs[i] != sep {
				return nil, fmt.Errorf("%w: text after quoted value of %s", errDN, key)
			}
		} else {
			for i < len(rs) && rs[i] != sep {
				if rs[i] == '\\' && i+1 < len(rs) {
					i++
					val = append(val, rs[i])
					keep = len(val)
					i++
					continue
				}
				val = append(val, rs[i])
				i++
			}
			n := len(val)
			for n > keep && val[n-1] == ' ' {
				n--
			}
			val = val[:n]
		}
		atv, err := encodeDNValue(key, string(val), hexForm)
		if err != nil {
			return nil, err
		}
		rdns = append(rdns, rdnSET{atv})
		if i == len(rs) {
			break
		}
		i++ // separator
	}
	der, err := asn1.Marshal(rdns)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errDN, err)
	}
	return der, nil
}

func encodeDNValue(key, val string, hexForm bool) (attributeTypeAndValue, error) {
	a, ok := dnAttrByName(key)
	if !ok {
		var oid asn1.ObjectIdentifier
		if !parseDottedOID(key, &oid) {
			return attributeTypeAndValue{}, fmt.Errorf("%w: unknown attribute %q", errDN, key)
		}
		a = dnAttr{oid: oid}
	}
	if hexForm {
		raw, err := hex.DecodeString(val[1:])
		var rv asn1.RawValue
		if err == nil {
			var rest []byte
			rest, err = asn1.Unmarshal(raw, &rv)
			if err == nil && len(rest) > 0 {
				err = errors.New("trailing data")
			}
		}
		if err != nil {
			return attributeTypeAndValue{}, fmt.Errorf("%w: bad #hex value for %s", errDN, key)
		}
		return attributeTypeAndValue{Type: a.oid, Value: rv}, nil
	}
	tag := a.tag
	switch {
	case tag == asn1.TagIA5String && !isIA5(val):
		tag = asn1.TagUTF8String
	case tag == asn1.TagPrintableString && !isPrintable(val):
		tag = asn1.TagUTF8String
	case tag == 0 && isPrintable(val):
		tag = asn1.TagPrintableString
	case tag == 0:
		tag = asn1.TagUTF8String
	}
	return attributeTypeAndValue{Type: a.oid, Value: asn1.RawValue{Class: asn1.ClassUniversal, Tag: tag, Bytes: []byte(val)}}, nil
}

func parseDottedOID(s string, oid *asn1.ObjectIdentifier) bool {
	parts := strings.Split(s, ".")
	if len(parts) < 2 {
		return false
	}
	out := make(asn1.ObjectIdentifier, 0, len(parts))
	for _, p := range parts {
		if p == "" || len(p) > 9 {
			return false
		}
		n := 0
		for _, c := range p {
			if c < '0' || c > '9' {
				return false
			}
			n = n*10 + int(c-'0')
		}
		out = append(out, n)
	}
	if out[0] > 2 || (out[0] < 2 && out[1] > 39) {
		return false
	}
	*oid = out
	return true
}

// isPrintable reports whether s fits a PrintableString (X.680 41.4).
func isPrintable(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte(" '()+,-./:=?", c) >= 0:
		default:
			return false
		}
	}
	return true
}

func isIA5(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// parseDN decodes a DER Name; it never panics.
func parseDN(der []byte) ([]rdnSET, error) {
	var rdns []rdnSET
	rest, err := asn1.Unmarshal(der, &rdns)
	if err != nil || len(rest) != 0 {
		return nil, fmt.Errorf("%w: not a DER RDNSequence", errDN)
	}
	return rdns, nil
}

// dnValueString decodes a string-typed attribute value; ok is false for
// values that are not strings, not valid in their type, or hold control
// characters (those are printed as #hex and compared as DER).
func dnValueString(v asn1.RawValue) (string, bool) {
	s, ok := decodeDNString(v)
	if !ok || strings.IndexFunc(s, isControl) >= 0 {
		return "", false
	}
	return s, true
}

func decodeDNString(v asn1.RawValue) (string, bool) {
	if v.Class != asn1.ClassUniversal || v.IsCompound {
		return "", false
	}
	switch v.Tag {
	case asn1.TagPrintableString, asn1.TagIA5String, asn1.TagNumericString:
		if !isIA5(string(v.Bytes)) {
			return "", false
		}
		return string(v.Bytes), true
	case asn1.TagUTF8String:
		return string(v.Bytes), utf8.Valid(v.Bytes)
	case asn1.TagT61String: // treated as Latin-1, as most decoders do
		r := make([]rune, len(v.Bytes))
		for i, b := range v.Bytes {
			r[i] = rune(b)
		}
		return string(r), true
	case asn1.TagBMPString:
		if len(v.Bytes)%2 != 0 {
			return "", false
		}
		u := make([]uint16, len(v.Bytes)/2)
		for i := range u {
			u[i] = uint16(v.Bytes[2*i])<<8 | uint16(v.Bytes[2*i+1])
		}
		return string(utf16.Decode(u)), true
	}
	return "", false
}

// formatDN prints a DER Name in strongSwan's syntax; ok is false when der
// is not a Name.
func formatDN(der []byte) (string, bool) {
	rdns, err := parseDN(der)
	if err != nil {
		return "", false
	}
	var b strings.Builder
	for _, rdn := range rdns {
		for _, atv := range rdn {
			if b.Len() > 0 {
				b.WriteString(", ")
			}
			if a, ok := dnAttrByOID(atv.Type); ok {
				b.WriteString(a.name)
			} else {
				b.WriteString(atv.Type.String())
			}
			b.WriteByte('=')
			if s, ok := dnValueString(atv.Value); ok {
				writeDNValue(&b, s)
			} else {
				b.WriteByte('#')
				b.WriteString(hex.EncodeToString(atv.Value.FullBytes))
			}
		}
	}
	return b.String(), true
}

// writeDNValue escapes what parseDNString would otherwise read differently.
func writeDNValue(b *strings.Builder, s string) {
	for i, r := range s {
		switch {
		case r == ',' || r == '\\' || r == '/':
			b.WriteByte('\\')
		case i == 0 && (r == '#' || r == '"' || r == ' '):
			b.WriteByte('\\')
		case r == ' ' && i == len(s)-1:
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
}

// normalizeDNValue prepares a string value for comparison: case folded
// and inner whitespace collapsed (RFC 5280 7.1, simplified).
func normalizeDNValue(s string) string {
	return strings.ToLower(strings.Join(strings.FieldsFunc(s, unicode.IsSpace), " "))
}

// dnMatch compares two DER Names RDN by RDN: same number of RDNs, same
// attribute types in the same order, values equal after normalization (or
// as DER when not strings). With wildcards, a pattern value of "*" matches
// any value.
func dnMatch(pattern, der []byte, wildcards bool) bool {
	a, err := parseDN(pattern)
	if err != nil {
		return false
	}
	b, err := parseDN(der)
	if err != nil || len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			x, y := a[i][j], b[i][j]
			if !x.Type.Equal(y.Type) {
				return false
			}
			xs, xok := dnValueString(x.Value)
			ys, yok := dnValueString(y.Value)
			switch {
			case wildcards && xok && xs == "*":
			case xok && yok:
				if normalizeDNValue(xs) != normalizeDNValue(ys) {
					return false
				}
			case xok != yok:
				return false
			default:
				if string(x.Value.FullBytes) != string(y.Value.FullBytes) {
					return false
				}
			}
		}
	}
	return true
}
