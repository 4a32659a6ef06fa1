package auth

import (
	"bytes"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"errors"
	"net"
	"strings"
	"testing"
)

func mustDER(t testing.TB, n pkix.Name) []byte {
	t.Helper()
	der, err := asn1.Marshal(n.ToRDNSequence())
	if err != nil {
		t.Fatal(err)
	}
	return der
}

func mustID(t testing.TB, s string) Identity {
	t.Helper()
	id, err := ParseIdentity(s)
	if err != nil {
		t.Fatalf("ParseIdentity(%q): %v", s, err)
	}
	return id
}

func TestParseIdentity(t *testing.T) {
	moonDN := mustDER(t, pkix.Name{Country: []string{"CH"}, Organization: []string{"strongSwan"}, CommonName: "moon.strongswan.org"})
	tests := []struct {
		in     string
		typ    uint8
		data   []byte
		String string // "" when equal to in
	}{
		{"moon.example", IDFQDN, []byte("moon.example"), ""},
		{"user@example.org", IDRFC822Addr, []byte("user@example.org"), ""},
		{"*@example.org", IDRFC822Addr, []byte("*@example.org"), ""},
		{"10.0.0.1", IDIPv4Addr, []byte{10, 0, 0, 1}, ""},
		{"fd00::1", IDIPv6Addr, append(append([]byte{0xfd}, make([]byte, 14)...), 1), "fd00::1"},
		{"C=CH, O=strongSwan, CN=moon.strongswan.org", IDDERASN1DN, moonDN, ""},
		{"C=CH,O=strongSwan,CN=moon.strongswan.org", IDDERASN1DN, moonDN, "C=CH, O=strongSwan, CN=moon.strongswan.org"},
		{"/C=CH/O=strongSwan/CN=moon.strongswan.org", IDDERASN1DN, moonDN, "C=CH, O=strongSwan, CN=moon.strongswan.org"},
		{"c=CH, o=strongSwan, cn=moon.strongswan.org", IDDERASN1DN, moonDN, "C=CH, O=strongSwan, CN=moon.strongswan.org"},
		{"2.5.4.6=CH, 2.5.4.10=strongSwan, 2.5.4.3=moon.strongswan.org", IDDERASN1DN, moonDN, "C=CH, O=strongSwan, CN=moon.strongswan.org"},
		{`C=CH, O="strongSwan", CN= moon.strongswan.org `, IDDERASN1DN, moonDN, "C=CH, O=strongSwan, CN=moon.strongswan.org"},
		{"asn1dn:C=CH, O=strongSwan, CN=moon.strongswan.org", IDDERASN1DN, moonDN, "C=CH, O=strongSwan, CN=moon.strongswan.org"},
		{"fqdn:10.0.0.1", IDFQDN, []byte("10.0.0.1"), ""},
		{"dns:moon.example", IDFQDN, []byte("moon.example"), "moon.example"},
		{"@moon", IDFQDN, []byte("moon"), "moon"},
		{"@@alice", IDRFC822Addr, []byte("alice"), "rfc822:alice"},
		{"email:alice@example.org", IDRFC822Addr, []byte("alice@example.org"), "alice@example.org"},
		{"ipv4:10.0.0.1", IDIPv4Addr, []byte{10, 0, 0, 1}, "10.0.0.1"},
		{"ipv4:#0a000002", IDIPv4Addr, []byte{10, 0, 0, 2}, "10.0.0.2"},
		{"ipv6:::ffff:10.0.0.1", IDIPv6Addr, []byte{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 1}, "::ffff:10.0.0.1"},
		{"keyid:#0102ff", IDKeyID, []byte{1, 2, 0xff}, ""},
		{"keyid:moon", IDKeyID, []byte("moon"), "keyid:#6d6f6f6e"},
		{"@#0102ff", IDKeyID, []byte{1, 2, 0xff}, "keyid:#0102ff"},
		{"asn1gn:#820474657374", IDDERASN1GN, []byte{0x82, 4, 't', 'e', 's', 't'}, ""},
		{"asn1dn:#3000", IDDERASN1DN, []byte{0x30, 0}, ""},
		{"%any", IDAny, nil, ""},
		{"%any6", IDAny, nil, "%any"},
		{"", IDAny, nil, "%any"},
		{"fqdn:", IDFQDN, []byte{}, ""},
		{"fqdn:%any", IDFQDN, []byte("%any"), ""},
		{"fqdn:a=b", IDFQDN, []byte("a=b"), ""},
		{"fqdn:#23686173686564", IDFQDN, []byte("#hashed"), "#hashed"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			id := mustID(t, tc.in)
			if id.Type != tc.typ || !bytes.Equal(id.Data, tc.data) {
				t.Fatalf("got {%d %x}, want {%d %x}", id.Type, id.Data, tc.typ, tc.data)
			}
			want := tc.String
			if want == "" {
				want = tc.in
			}
			if got := id.String(); got != want {
				t.Fatalf("String() = %q, want %q", got, want)
			}
			back := mustID(t, id.String())
			if !back.Equal(id) || !bytes.Equal(back.Data, id.Data) {
				t.Fatalf("round trip via %q gave {%d %x}", id.String(), back.Type, back.Data)
			}
		})
	}
}

func TestParseIdentityDNValues(t *testing.T) {
	tests := []struct {
		in   string
		want pkix.Name
	}{
		{`C=CH, CN="moon, the gateway"`, pkix.Name{Country: []string{"CH"}, CommonName: "moon, the gateway"}},
		{`C=CH, CN=moon\, the gateway`, pkix.Name{Country: []string{"CH"}, CommonName: "moon, the gateway"}},
		{`O=Zürich AG, CN=moon_1`, pkix.Name{Organization: []string{"Zürich AG"}, CommonName: "moon_1"}},
		{`CN=trailing\ `, pkix.Name{CommonName: "trailing "}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			id := mustID(t, tc.in)
			if want := mustDER(t, tc.want); !bytes.Equal(id.Data, want) {
				t.Fatalf("DER %x, want %x", id.Data, want)
			}
			if back := mustID(t, id.String()); !bytes.Equal(back.Data, id.Data) {
				t.Fatalf("round trip via %q: %x", id.String(), back.Data)
			}
		})
	}
	// E and DC are IA5String (PKCS #9, RFC 4519), as strongSwan encodes them.
	id := mustID(t, "DC=org, DC=example, E=alice@example.org")
	want := unhex(t, `3050 3113 3011 060a0992268993f22c640119 1603 6f7267
		3117 3015 060a0992268993f22c640119 1607 6578616d706c65
		3120 301e 06092a864886f70d010901 1611 616c696365406578616d706c652e6f7267`)
	if !bytes.Equal(id.Data, want) {
		t.Fatalf("DER %x, want %x", id.Data, want)
	}
	if got := id.String(); got != "DC=org, DC=example, E=alice@example.org" {
		t.Fatalf("String() = %q", got)
	}
	// A value as "#hex" DER, and a non-string value printed that way.
	id = mustID(t, "CN=#0c046d6f6f6e")
	if got := id.String(); got != "CN=moon" {
		t.Fatalf("String() = %q", got)
	}
	id = mustID(t, "2.5.4.3=#020101")
	if got := id.String(); got != "CN=#020101" {
		t.Fatalf("String() = %q", got)
	}
}

func TestParseIdentityErrors(t *testing.T) {
	for _, in := range []string{
		"foo=bar",
		"C=CH, CN",
		`C=CH, CN="unterminated`,
		`C=CH, CN="quoted" junk`,
		"CN=#zz",
		"CN=#0c05moon",
		"C=CH, 3.1=x",
		"ipv4:fd00::1",
		"ipv6:10.0.0.1",
		"ipv4:#0a00",
		"ipv4:moon",
		"asn1dn:#zz",
		"asn1dn:#3003",
		"asn1gn:moon",
		"keyid:#0",
		"@#xyz",
		"fe80::1%eth0",
		"C=\xff",
	} {
		t.Run(in, func(t *testing.T) {
			if id, err := ParseIdentity(in); err == nil {
				t.Fatalf("accepted as {%d %x}", id.Type, id.Data)
			}
		})
	}
}

func TestIdentityEqual(t *testing.T) {
	// CN=moon as UTF8String, where ParseIdentity uses PrintableString.
	utf8Moon := Identity{Type: IDDERASN1DN, Data: unhex(t, "300f 310d 300b 0603550403 0c04 6d6f6f6e")}
	tests := []struct {
		a, b Identity
		want bool
	}{
		{mustID(t, "moon.example"), mustID(t, "MOON.Example"), true},
		{mustID(t, "moon.example"), mustID(t, "sun.example"), false},
		{mustID(t, "moon.example"), mustID(t, "keyid:moon.example"), false},
		{mustID(t, "alice@example.org"), mustID(t, "Alice@Example.org"), true},
		{mustID(t, "10.0.0.1"), mustID(t, "ipv4:#0a000001"), true},
		{mustID(t, "10.0.0.1"), mustID(t, "::ffff:10.0.0.1"), false},
		{mustID(t, "CN=Moon"), utf8Moon, true},
		{mustID(t, "C=CH, O=strongSwan, CN=moon"), mustID(t, "c=ch,o=STRONGSWAN,cn=moon"), true},
		{mustID(t, "C=CH, O=strongSwan, CN=moon"), mustID(t, "C=CH, O=strong  Swan, CN=moon"), false},
		{mustID(t, "C=CH, O=strong  Swan, CN=moon"), mustID(t, "C=CH, O=strong Swan, CN=moon"), true},
		{mustID(t, "C=CH, CN=moon"), mustID(t, "CN=moon, C=CH"), false},
		{mustID(t, "C=CH, CN=moon"), mustID(t, "C=CH, CN=moon, OU=x"), false},
		{mustID(t, "C=CH, CN=*"), mustID(t, "C=CH, CN=moon"), false},
		{mustID(t, "keyid:#01"), mustID(t, "keyid:#01"), true},
		{Any, mustID(t, "%any"), true},
		{Any, mustID(t, "moon"), false},
	}
	for _, tc := range tests {
		t.Run(tc.a.String()+" vs "+tc.b.String(), func(t *testing.T) {
			if got := tc.a.Equal(tc.b); got != tc.want {
				t.Fatalf("Equal = %v", got)
			}
			if got := tc.b.Equal(tc.a); got != tc.want {
				t.Fatalf("Equal not symmetric")
			}
		})
	}
}

func TestIdentityMatches(t *testing.T) {
	tests := []struct {
		pattern, peer string
		want          bool
	}{
		{"%any", "moon.example", true},
		{"%any", "C=CH, CN=moon", true},
		{"*@example.org", "alice@example.org", true},
		{"*@example.org", "alice@EXAMPLE.org", true},
		{"*@example.org", "alice@example.com", false},
		{"*@example.org", "fqdn:example.org", false},
		{"*.example.org", "moon.example.org", true},
		{"*.example.org", "example.org", false},
		{"fqdn:*", "anything.example", true},
		{"fqdn:*", "alice@example.org", false},
		{"C=CH, O=strongSwan, CN=*", "C=CH, O=strongSwan, CN=moon.strongswan.org", true},
		{"C=CH, O=*, CN=*", "C=CH, O=strongSwan, CN=moon", true},
		{"C=CH, O=strongSwan, CN=*", "C=CH, O=other, CN=moon", false},
		{"C=CH, O=strongSwan, CN=*", "C=CH, O=strongSwan", false},
		{"moon.example", "MOON.example", true},
		{"moon.example", "sun.example", false},
		{"10.0.0.1", "10.0.0.1", true},
		{"10.0.0.1", "10.0.0.2", false},
		{"moon.example", "%any", false},
	}
	for _, tc := range tests {
		t.Run(tc.pattern+" ~ "+tc.peer, func(t *testing.T) {
			if got := mustID(t, tc.pattern).Matches(mustID(t, tc.peer)); got != tc.want {
				t.Fatalf("Matches = %v", got)
			}
		})
	}
}

func TestIdentityIsPattern(t *testing.T) {
	for s, want := range map[string]bool{
		"%any": true, "*@example.org": true, "*.example.org": true, "fqdn:*": true,
		"C=CH, CN=*": true, "C=CH, CN=moon": false, "moon.example": false,
		"alice@example.org": false, "10.0.0.1": false, "keyid:*": false,
	} {
		if got := mustID(t, s).IsPattern(); got != want {
			t.Errorf("%q: IsPattern = %v", s, got)
		}
	}
}

func TestMatchCertificate(t *testing.T) {
	k := keys()
	caKey := k.p384
	ca := selfSigned(t, certSpec{subject: pkix.Name{Country: []string{"CH"}, Organization: []string{"strongSwan"}, CommonName: "strongSwan Root CA"}}, caKey)
	cert := issue(t, certSpec{
		subject: pkix.Name{Country: []string{"CH"}, Organization: []string{"strongSwan"}, CommonName: "moon.strongswan.org"},
		dns:     []string{"moon.strongswan.org"},
		emails:  []string{"moon@strongswan.org"},
		ips:     []net.IP{net.ParseIP("10.77.0.1"), net.ParseIP("fd00::1")},
	}, k.p256.Public(), ca, caKey)
	spki := sha1.Sum(cert.RawSubjectPublicKeyInfo)
	bits, _ := subjectPublicKeyBits(cert.RawSubjectPublicKeyInfo)
	bitsHash := sha1.Sum(bits)
	tests := []struct {
		id   Identity
		want bool
	}{
		{Any, true},
		{mustID(t, "C=CH, O=strongSwan, CN=moon.strongswan.org"), true},
		{mustID(t, "c=ch, o=strongswan, cn=MOON.strongswan.org"), true},
		{mustID(t, "C=CH, O=strongSwan, CN=*"), true},
		{mustID(t, "C=CH, O=strongSwan, CN=sun.strongswan.org"), false},
		{mustID(t, "C=CH, O=strongSwan, CN=strongSwan Root CA"), false},
		{mustID(t, "moon.strongswan.org"), true},
		{mustID(t, "*.strongswan.org"), true},
		{mustID(t, "sun.strongswan.org"), false},
		{mustID(t, "moon@strongswan.org"), true},
		{mustID(t, "*@strongswan.org"), true},
		{mustID(t, "sun@strongswan.org"), false},
		{mustID(t, "10.77.0.1"), true},
		{mustID(t, "10.77.0.2"), false},
		{mustID(t, "fd00::1"), true},
		{mustID(t, "::ffff:10.77.0.1"), false},
		{Identity{Type: IDKeyID, Data: spki[:]}, true},
		{Identity{Type: IDKeyID, Data: bitsHash[:]}, true},
		{mustID(t, "keyid:#0102"), false},
		{Identity{Type: IDDERASN1GN, Data: []byte{0x82, 1, 'x'}}, false},
	}
	for _, tc := range tests {
		t.Run(tc.id.String(), func(t *testing.T) {
			if got := MatchCertificate(tc.id, cert); got != tc.want {
				t.Fatalf("MatchCertificate = %v", got)
			}
		})
	}
	if MatchCertificate(Any, nil) {
		t.Fatal("nil certificate matched")
	}
	if len(ca.SubjectKeyId) == 0 || !MatchCertificate(Identity{Type: IDKeyID, Data: ca.SubjectKeyId}, ca) {
		t.Fatal("subjectKeyIdentifier not matched")
	}
}

func TestIDPayloadBody(t *testing.T) {
	for _, s := range []string{"moon.example", "10.0.0.1", "fd00::1", "C=CH, CN=moon", "keyid:#00", "fqdn:"} {
		t.Run(s, func(t *testing.T) {
			id := mustID(t, s)
			body := id.PayloadBody()
			if body[0] != id.Type || !bytes.Equal(body[1:4], []byte{0, 0, 0}) || !bytes.Equal(body[4:], id.Data) {
				t.Fatalf("PayloadBody = %x", body)
			}
			back, err := ParseIDPayloadBody(body)
			if err != nil || back.Type != id.Type || !bytes.Equal(back.Data, id.Data) {
				t.Fatalf("ParseIDPayloadBody = %v, %v", back, err)
			}
		})
	}
	for _, body := range []string{"", "020000", "00000000", "01000000 0a0000", "05000000 0a000001"} {
		if _, err := ParseIDPayloadBody(unhex(t, body)); !errors.Is(err, ErrMalformed) {
			t.Fatalf("%q: err = %v", body, err)
		}
	}
	// RESERVED octets are ignored on receipt (RFC 7296 3.5).
	if id, err := ParseIDPayloadBody(unhex(t, "02ffffff 6d6f6f6e")); err != nil || string(id.Data) != "moon" {
		t.Fatalf("reserved octets: %v, %v", id, err)
	}
}

func FuzzParseIdentity(f *testing.F) {
	for _, s := range []string{
		"moon.example", "user@example.org", "10.0.0.1", "fd00::1", "%any",
		"C=CH, O=strongSwan, CN=moon.strongswan.org", "/C=CH/CN=x", `CN="a, b"`, `CN=a\,b`,
		"asn1dn:#3000", "keyid:#01", "@#0a", "@@a", "@a", "fqdn:#2341", "CN=#0c0161", "E=a@b, DC=org",
		"ipv4:#0a000001", "2.5.4.3=x", "*@example.org", "C=CH, CN=*",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseIdentity(s)
		if err != nil {
			return
		}
		str := id.String()
		back, err := ParseIdentity(str)
		if err != nil {
			t.Fatalf("%q parsed to {%d %x} whose String %q does not parse: %v", s, id.Type, id.Data, str, err)
		}
		if !back.Equal(id) {
			t.Fatalf("%q: {%d %x} printed as %q parses to {%d %x}", s, id.Type, id.Data, str, back.Type, back.Data)
		}
		_ = id.Matches(back)
		_ = MatchCertificate(id, &x509.Certificate{})
	})
}

// FuzzIdentityString feeds identities as received in ID payloads.
func FuzzIdentityString(f *testing.F) {
	f.Add([]byte("\x02\x00\x00\x00moon.example"))
	f.Add([]byte("\x01\x00\x00\x00\x0a\x00\x00\x01"))
	f.Add(append([]byte{9, 0, 0, 0}, mustDER(f, pkix.Name{Country: []string{"CH"}, CommonName: "moon"})...))
	f.Add([]byte("\x0b\x00\x00\x00\x01\x02"))
	f.Add([]byte("\x03\x00\x00\x00a@b\x00\n"))
	f.Fuzz(func(t *testing.T, body []byte) {
		id, err := ParseIDPayloadBody(body)
		if err != nil {
			return
		}
		s := id.String()
		if strings.ContainsFunc(s, isControl) {
			t.Fatalf("String of {%d %x} has control characters: %q", id.Type, id.Data, s)
		}
		switch id.Type {
		case IDIPv4Addr, IDIPv6Addr, IDFQDN, IDRFC822Addr, IDDERASN1DN, IDDERASN1GN, IDKeyID:
			if back, err := ParseIdentity(s); err == nil && !back.Equal(id) {
				t.Fatalf("{%d %x} printed as %q parses to {%d %x}", id.Type, id.Data, s, back.Type, back.Data)
			}
		}
		_ = id.Equal(id)
		_ = id.Matches(id)
	})
}
