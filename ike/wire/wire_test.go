package wire

import (
	"bytes"
	"encoding/hex"
	"errors"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"testing"
)

func seq(n int, seed byte) []byte { return testKey(n, seed) }

// samplePayloads has one payload of every type this package knows (except
// SK and SKF, which are outer framing), with realistic contents.
func samplePayloads() []Payload {
	v4, _ := SelectorFromPrefix(netip.MustParsePrefix("10.78.1.0/24"), 0, 0, 65535)
	v6, _ := SelectorFromPrefix(netip.MustParsePrefix("fd00:78::/48"), 6, 443, 443)
	return []Payload{
		&SA{Proposals: []Proposal{
			{Num: 1, Protocol: ProtocolESP, SPI: []byte{0xc0, 0, 0, 1}, Transforms: []Transform{
				{Type: TransformENCR, ID: 20, KeyLength: 128},
				{Type: TransformESN, ID: 0},
			}},
			{Num: 2, Protocol: ProtocolESP, SPI: []byte{0xc0, 0, 0, 1}, Transforms: []Transform{
				{Type: TransformENCR, ID: 12, KeyLength: 256, Attributes: []TransformAttribute{
					{Type: 17, TV: true, Value: []byte{0, 1}},
					{Type: 18, Value: []byte("tlv")},
					{Type: 19},
				}},
				{Type: TransformINTEG, ID: 12},
				{Type: TransformESN, ID: 0},
			}},
		}},
		&KE{Group: 31, Data: seq(32, 9)},
		&ID{Initiator: true, IDType: IDFQDN, Data: []byte("moon.example")},
		&ID{IDType: IDIPv4Addr, Data: []byte{10, 77, 0, 2}},
		&Cert{Encoding: CertX509Signature, Data: seq(100, 1)},
		&CertReq{Encoding: CertX509Signature, Data: seq(40, 2)},
		&Auth{Method: AuthPSK, Data: seq(32, 3)},
		&Nonce{Data: seq(32, 4)},
		NewNotify(NotifyInitialContact, nil),
		NewChildNotify(ProtocolESP, 0xc0000001, NotifyRekeySA, nil),
		NewSignatureHashAlgorithms(2, 3, 4, 5),
		NewDeleteIKE(),
		NewDeleteChild(ProtocolESP, 0xc0000001, 0xc0000002),
		&VendorID{Data: []byte("esptun")},
		&TS{Initiator: true, Selectors: []TrafficSelector{v4, v6}},
		&TS{Selectors: []TrafficSelector{
			{Type: TSIPv4AddrRange, IPProtocol: 17, StartPort: 500, EndPort: 500,
				StartAddr: netip.MustParseAddr("10.77.0.1"), EndAddr: netip.MustParseAddr("10.77.0.9")},
			{Type: TSIPv6AddrRange, StartPort: 65535, EndPort: 0, // OPAQUE ports, RFC 7296 3.13.1
				StartAddr: netip.MustParseAddr("::ffff:10.0.0.1"), EndAddr: netip.MustParseAddr("::ffff:10.0.0.2")},
			{Type: 10, IPProtocol: 0, Data: []byte("system_u:object_r:ipsec_spd_t:s0")}, // RFC 9478 TS_SECLABEL, kept raw
		}},
		&CP{CfgType: CfgRequest, Attributes: []CPAttribute{
			{Type: CPInternalIP4Address}, {Type: CPInternalIP4DNS}, {Type: CPInternalIP6Address},
			{Type: CPInternalDNSDomain},
		}},
		&CP{CfgType: CfgReply, Attributes: []CPAttribute{
			{Type: CPInternalIP4Address, Value: []byte{10, 78, 1, 5}},
			{Type: CPInternalDNSDomain, Value: []byte("corp.example")},
		}},
		&EAP{Data: []byte{EAPRequest, 7, 0, 10, 1, 'h', 'e', 'l', 'l', 'o'}},
		&EAP{Data: []byte{EAPSuccess, 8, 0, 4}},
		&Unknown{T: 54, Data: []byte("puzzle")},
	}
}

func sampleInit() *Message {
	return &Message{
		Header: Header{SPIi: 0x1d890dd1af2897c1, Exchange: ExchangeIKESAInit, Flags: FlagInitiator},
		Payloads: []Payload{
			&SA{Proposals: []Proposal{
				{Num: 1, Protocol: ProtocolIKE, Transforms: []Transform{
					{Type: TransformENCR, ID: 20, KeyLength: 128},
					{Type: TransformPRF, ID: 5},
					{Type: TransformDH, ID: 31},
				}},
				{Num: 2, Protocol: ProtocolIKE, Transforms: []Transform{
					{Type: TransformENCR, ID: 12, KeyLength: 256},
					{Type: TransformINTEG, ID: 12},
					{Type: TransformPRF, ID: 5},
					{Type: TransformDH, ID: 14},
				}},
			}},
			&KE{Group: 31, Data: seq(32, 0x40)},
			&Nonce{Data: seq(32, 0x80)},
			NewNotify(NotifyNATDetectionSourceIP, seq(20, 1)),
			NewNotify(NotifyNATDetectionDestinationIP, seq(20, 2)),
			NewNotify(NotifyIKEv2FragmentationSupported, nil),
			NewSignatureHashAlgorithms(2, 3, 4, 5),
			NewNotify(NotifyRedirectSupported, nil),
		},
	}
}

func mustEncode(t testing.TB, m *Message) []byte {
	t.Helper()
	b, err := m.Encode()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// normalized returns m as Parse would return it: computed NextPayload,
// Length and major version.
func normalized(m *Message, raw []byte) *Message {
	c := *m
	c.NextPayload = firstType(m.Payloads)
	c.Length = uint32(len(raw))
	c.MajorVersion = MajorVersion
	return &c
}

func TestRoundTripEveryPayload(t *testing.T) {
	for _, p := range samplePayloads() {
		t.Run(PayloadsString([]Payload{p}), func(t *testing.T) {
			m := &Message{
				Header:   Header{SPIi: 1, SPIr: 2, Exchange: ExchangeInformational, MessageID: 7},
				Payloads: []Payload{p},
			}
			raw := mustEncode(t, m)
			got, err := Parse(raw)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			if want := normalized(m, raw); !reflect.DeepEqual(got, want) {
				t.Fatalf("round trip:\n got %#v\nwant %#v", got.Payloads[0], want.Payloads[0])
			}
		})
	}
}

func TestRoundTripChain(t *testing.T) {
	ps := samplePayloads()
	first, body, err := EncodePayloads(ps)
	if err != nil {
		t.Fatal(err)
	}
	if first != PayloadSA {
		t.Fatalf("first = %v", first)
	}
	got, err := ParsePayloads(first, body)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, ps) {
		t.Fatalf("chain round trip differs")
	}
	// Empty chain.
	first, body, err = EncodePayloads(nil)
	if err != nil || first != PayloadNone || len(body) != 0 {
		t.Fatalf("empty chain: %v %v %x", first, err, body)
	}
	if got, err := ParsePayloads(PayloadNone, nil); err != nil || len(got) != 0 {
		t.Fatalf("empty parse: %v %v", got, err)
	}
}

// TestStrongSwanIKESAInit decodes an IKE_SA_INIT request captured from
// strongSwan 5.9.8 (testdata/README.md) and checks that encoding the result
// reproduces it octet for octet.
func TestStrongSwanIKESAInit(t *testing.T) {
	raw := readHex(t, "testdata/strongswan-5.9.8-ike_sa_init-request.hex")
	m, err := Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := m.String(), "IKE_SA_INIT request 0 [ SA KE No N(NAT_DETECTION_SOURCE_IP) N(NAT_DETECTION_DESTINATION_IP) N(IKEV2_FRAGMENTATION_SUPPORTED) N(SIGNATURE_HASH_ALGORITHMS) N(REDIRECT_SUPPORTED) ]"; got != want {
		t.Errorf("String:\n got %s\nwant %s", got, want)
	}
	h := m.Header
	if h.SPIi != 0x1d890dd1af2897c1 || h.SPIr != 0 || h.MajorVersion != 2 || h.MinorVersion != 0 ||
		h.Exchange != ExchangeIKESAInit || h.Flags != FlagInitiator || h.MessageID != 0 || h.Length != 276 {
		t.Errorf("header %+v", h)
	}
	sa, ok := Find[*SA](m.Payloads)
	if !ok {
		t.Fatal("no SA")
	}
	want := []Proposal{
		{Num: 1, Protocol: ProtocolIKE, Transforms: []Transform{
			{Type: TransformENCR, ID: 20, KeyLength: 128}, // ENCR_AES_GCM_16
			{Type: TransformPRF, ID: 5},                   // PRF_HMAC_SHA2_256
			{Type: TransformDH, ID: 31},                   // Curve25519
		}},
		{Num: 2, Protocol: ProtocolIKE, Transforms: []Transform{
			{Type: TransformENCR, ID: 12, KeyLength: 256}, // ENCR_AES_CBC
			{Type: TransformINTEG, ID: 12},                // AUTH_HMAC_SHA2_256_128
			{Type: TransformPRF, ID: 5},
			{Type: TransformDH, ID: 14}, // MODP-2048
		}},
	}
	if !reflect.DeepEqual(sa.Proposals, want) {
		t.Errorf("proposals\n got %+v\nwant %+v", sa.Proposals, want)
	}
	ke, _ := Find[*KE](m.Payloads)
	if ke.Group != 31 || len(ke.Data) != 32 {
		t.Errorf("KE group %d len %d", ke.Group, len(ke.Data))
	}
	if n, _ := Find[*Nonce](m.Payloads); len(n.Data) != 32 {
		t.Errorf("nonce len %d", len(n.Data))
	}
	if n := m.GetNotify(NotifyNATDetectionSourceIP); n == nil || len(n.Data) != 20 {
		t.Errorf("NATD_S_IP %+v", n)
	}
	if algs, ok := m.GetNotify(NotifySignatureHashAlgorithms).HashAlgorithms(); !ok || !reflect.DeepEqual(algs, []uint16{2, 3, 4, 5}) {
		t.Errorf("hash algorithms %v", algs)
	}
	m.Length, m.NextPayload = 0, 0 // computed by Encode
	if again := mustEncode(t, m); !bytes.Equal(again, raw) {
		t.Errorf("re-encoding differs:\n got %x\nwant %x", again, raw)
	}
}

func readHex(t testing.TB, path string) []byte {
	t.Helper()
	s, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := hex.DecodeString(strings.TrimSpace(string(s)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// gp builds one payload: generic header (next, C bit, length) and body.
func gp(next PayloadType, critical bool, body []byte) []byte {
	c := byte(0)
	if critical {
		c = 0x80
	}
	l := 4 + len(body)
	return append([]byte{byte(next), c, byte(l >> 8), byte(l)}, body...)
}

func cat(bs ...[]byte) []byte { return bytes.Join(bs, nil) }

func TestMalformedPayloads(t *testing.T) {
	tr := func(last byte, l uint16, rest ...byte) []byte {
		return append([]byte{last, 0, byte(l >> 8), byte(l), 1, 0, 0, 12}, rest...)
	}
	prop := func(last byte, spi []byte, nt byte, transforms ...byte) []byte {
		l := 8 + len(spi) + len(transforms)
		return cat([]byte{last, 0, byte(l >> 8), byte(l), 1, 1, byte(len(spi)), nt}, spi, transforms)
	}
	cases := []struct {
		name string
		t    PayloadType
		body []byte
	}{
		{"sa empty", PayloadSA, nil},
		{"sa short proposal", PayloadSA, []byte{0, 0, 0, 7, 1, 1, 0}},
		{"sa proposal length below 8", PayloadSA, []byte{0, 0, 0, 7, 1, 1, 0, 0}},
		{"sa proposal overruns", PayloadSA, []byte{0, 0, 0, 9, 1, 1, 0, 0}},
		{"sa more announced, none follow", PayloadSA, prop(2, nil, 0)},
		{"sa last announced, more follow", PayloadSA, cat(prop(0, nil, 0), prop(0, nil, 0))},
		{"sa bad last value", PayloadSA, prop(1, nil, 0)},
		{"sa spi overruns", PayloadSA, []byte{0, 0, 0, 8, 1, 1, 4, 0}},
		{"sa fewer transforms than count", PayloadSA, prop(0, nil, 2, tr(0, 8)...)},
		{"sa more transforms than count", PayloadSA, prop(0, nil, 1, cat(tr(3, 8), tr(0, 8))...)},
		{"sa transform length below 8", PayloadSA, prop(0, nil, 1, tr(0, 7)...)},
		{"sa transform overruns", PayloadSA, prop(0, nil, 1, tr(0, 9)...)},
		{"sa transform last flag wrong", PayloadSA, prop(0, nil, 2, cat(tr(0, 8), tr(0, 8))...)},
		{"sa transform more flag on last", PayloadSA, prop(0, nil, 1, tr(3, 8)...)},
		{"sa trailing octets in proposal", PayloadSA, prop(0, nil, 1, cat(tr(0, 8), []byte{0})...)},
		{"sa short attribute", PayloadSA, prop(0, nil, 1, tr(0, 10, 0x80, 14)...)},
		{"sa tlv attribute overruns", PayloadSA, prop(0, nil, 1, tr(0, 13, 0, 18, 0, 2, 1)...)},
		{"sa key length as tlv", PayloadSA, prop(0, nil, 1, tr(0, 14, 0, 14, 0, 2, 0, 128)...)},
		{"sa key length twice", PayloadSA, prop(0, nil, 1, tr(0, 16, 0x80, 14, 0, 128, 0x80, 14, 1, 0)...)},
		{"ke short", PayloadKE, []byte{0, 31, 0}},
		{"idi short", PayloadIDi, []byte{2, 0, 0}},
		{"idr ipv4 of 5 octets", PayloadIDr, []byte{1, 0, 0, 0, 10, 0, 0, 1, 1}},
		{"idi ipv6 of 4 octets", PayloadIDi, []byte{5, 0, 0, 0, 10, 0, 0, 1}},
		{"cert empty", PayloadCERT, nil},
		{"certreq empty", PayloadCERTREQ, nil},
		{"auth short", PayloadAUTH, []byte{2, 0, 0}},
		{"nonce 15 octets", PayloadNonce, seq(15, 0)},
		{"nonce 257 octets", PayloadNonce, seq(257, 0)},
		{"notify short", PayloadNotify, []byte{0, 0, 0x40}},
		{"notify spi overruns", PayloadNotify, []byte{3, 4, 0x40, 0x09, 1, 2, 3}},
		{"delete short", PayloadDelete, []byte{3, 4, 0}},
		{"delete fewer spis than count", PayloadDelete, []byte{3, 4, 0, 2, 1, 2, 3, 4}},
		{"delete more octets than spis", PayloadDelete, []byte{3, 4, 0, 1, 1, 2, 3, 4, 5}},
		{"delete count without spi size", PayloadDelete, []byte{1, 0, 0, 1}},
		{"delete octets without spi size", PayloadDelete, []byte{1, 0, 0, 0, 1}},
		{"tsi short", PayloadTSi, []byte{1, 0, 0}},
		{"tsi count exceeds selectors", PayloadTSi, cat([]byte{2, 0, 0, 0}, []byte{7, 0, 0, 16, 0, 0, 255, 255, 10, 0, 0, 0, 10, 0, 0, 255})},
		{"tsr selector length below 4", PayloadTSr, []byte{1, 0, 0, 0, 7, 0, 0, 3}},
		{"tsr selector overruns", PayloadTSr, []byte{1, 0, 0, 0, 7, 0, 0, 16, 0, 0}},
		{"tsr ipv4 selector of 40 octets", PayloadTSr, cat([]byte{1, 0, 0, 0, 7, 0, 0, 40}, make([]byte, 36))},
		{"tsi ipv6 selector of 16 octets", PayloadTSi, cat([]byte{1, 0, 0, 0, 8, 0, 0, 16}, make([]byte, 12))},
		{"tsi trailing octets", PayloadTSi, cat([]byte{1, 0, 0, 0, 7, 0, 0, 16}, make([]byte, 13))},
		{"skf short", PayloadSKF, []byte{0, 1, 0}},
		{"skf number zero", PayloadSKF, []byte{0, 0, 0, 1}},
		{"skf total zero", PayloadSKF, []byte{0, 1, 0, 0}},
		{"skf number above total", PayloadSKF, []byte{0, 3, 0, 2}},
		{"cp short", PayloadCP, []byte{1, 0, 0}},
		{"cp short attribute", PayloadCP, []byte{1, 0, 0, 0, 0, 1, 0}},
		{"cp attribute overruns", PayloadCP, []byte{1, 0, 0, 0, 0, 1, 0, 4, 10, 0, 0}},
		{"eap short", PayloadEAP, []byte{1, 1, 0}},
		{"eap length differs", PayloadEAP, []byte{1, 1, 0, 6, 1}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			outer := c.t == PayloadSKF
			// Inside a message (SKF is only allowed there) ...
			m := cat(hdr(c.t, 0), gp(PayloadNone, false, c.body))
			setLen(m)
			if _, err := Parse(m); !errors.Is(err, ErrInvalidSyntax) {
				t.Errorf("Parse: err = %v, want ErrInvalidSyntax", err)
			}
			if outer {
				return
			}
			// ... and as a decrypted chain.
			if _, err := ParsePayloads(c.t, gp(PayloadNone, false, c.body)); !errors.Is(err, ErrInvalidSyntax) {
				t.Errorf("ParsePayloads: err = %v, want ErrInvalidSyntax", err)
			}
		})
	}
}

// hdr is an IKE header with the given first payload and a length to be set
// by setLen.
func hdr(next PayloadType, flags Flags) []byte {
	h := Header{SPIi: 0x0102030405060708, Exchange: ExchangeIKEAuth, Flags: flags, MessageID: 1}
	b := make([]byte, HeaderLen)
	h.put(b, next, 0)
	return b
}

func setLen(m []byte) {
	l := len(m)
	m[24], m[25], m[26], m[27] = byte(l>>24), byte(l>>16), byte(l>>8), byte(l)
}

func TestMalformedChains(t *testing.T) {
	nonce := seq(16, 0)
	sk := gp(PayloadNonce, false, seq(40, 1))
	cases := []struct {
		name  string
		first PayloadType
		chain []byte
	}{
		{"payload length below 4", PayloadNonce, []byte{0, 0, 0, 3}},
		{"payload overruns", PayloadNonce, []byte{0, 0, 0, 21, 1}},
		{"chain stops short of the end", PayloadNonce, cat(gp(PayloadNone, false, nonce), []byte{0})},
		{"chain announces a payload that is missing", PayloadNonce, gp(PayloadNonce, false, nonce)},
		{"partial generic header", PayloadNonce, cat(gp(PayloadNonce, false, nonce), []byte{0, 0})},
		{"octets after SK", PayloadSK, cat(sk, gp(PayloadNone, false, nonce))},
		{"no payloads but octets", PayloadNone, []byte{0, 0, 0, 4}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := cat(hdr(c.first, 0), c.chain)
			setLen(m)
			if _, err := Parse(m); !errors.Is(err, ErrInvalidSyntax) {
				t.Errorf("Parse: err = %v", err)
			}
		})
	}
	t.Run("SK inside a decrypted chain", func(t *testing.T) {
		if _, err := ParsePayloads(PayloadSK, sk); !errors.Is(err, ErrInvalidSyntax) {
			t.Errorf("err = %v", err)
		}
		skf := gp(PayloadNone, false, []byte{0, 1, 0, 1})
		if _, err := ParsePayloads(PayloadSKF, skf); !errors.Is(err, ErrInvalidSyntax) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestHeader(t *testing.T) {
	good := mustEncode(t, sampleInit())
	mut := func(f func(b []byte)) []byte {
		b := bytes.Clone(good)
		f(b)
		return b
	}
	t.Run("short", func(t *testing.T) {
		for _, n := range []int{0, 1, 27} {
			if _, err := ParseHeader(good[:n]); !errors.Is(err, ErrInvalidSyntax) {
				t.Errorf("%d octets: err = %v", n, err)
			}
		}
	})
	t.Run("major version", func(t *testing.T) {
		for _, v := range []byte{0x10, 0x30, 0xf0} {
			b := mut(func(b []byte) { b[17] = v })
			h, err := ParseHeader(b)
			if !errors.Is(err, ErrInvalidMajorVersion) {
				t.Errorf("version %#x: err = %v", v, err)
			}
			// Filled in so the caller can answer INVALID_MAJOR_VERSION.
			if h.SPIi != 0x1d890dd1af2897c1 || h.MajorVersion != v>>4 {
				t.Errorf("header not returned: %+v", h)
			}
			if _, err := Parse(b); !errors.Is(err, ErrInvalidMajorVersion) {
				t.Errorf("Parse: err = %v", err)
			}
		}
	})
	t.Run("minor version ignored", func(t *testing.T) {
		m, err := Parse(mut(func(b []byte) { b[17] = 0x25 }))
		if err != nil || m.MinorVersion != 5 {
			t.Fatalf("m=%v err=%v", m, err)
		}
	})
	t.Run("reserved flags ignored", func(t *testing.T) {
		m, err := Parse(mut(func(b []byte) { b[19] |= 0xc7 }))
		if err != nil || m.Flags != FlagInitiator {
			t.Fatalf("flags %v err=%v", m.Flags, err)
		}
		re := mustEncode(t, m)
		if re[19] != byte(FlagInitiator) {
			t.Errorf("reserved bits re-encoded: %#x", re[19])
		}
	})
	t.Run("reserved generic header bits ignored", func(t *testing.T) {
		m, err := Parse(mut(func(b []byte) { b[HeaderLen+1] = 0x7f }))
		if err != nil || len(m.Payloads) != 8 {
			t.Fatalf("err=%v", err)
		}
	})
	t.Run("length", func(t *testing.T) {
		for name, b := range map[string][]byte{
			"longer than datagram":  mut(func(b []byte) { b[27]++ }),
			"shorter than datagram": mut(func(b []byte) { b[27]-- }),
			"below 28":              mut(func(b []byte) { b[24], b[25], b[26], b[27] = 0, 0, 0, 27 }),
			"truncated":             good[:len(good)-1],
			"extra octet":           append(bytes.Clone(good), 0),
		} {
			if _, err := Parse(b); !errors.Is(err, ErrInvalidSyntax) {
				t.Errorf("%s: err = %v", name, err)
			}
		}
	})
	t.Run("encode rejects other major versions", func(t *testing.T) {
		m := sampleInit()
		m.MajorVersion = 3
		if _, err := m.Encode(); !errors.Is(err, ErrEncode) {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("flags", func(t *testing.T) {
		h := Header{Flags: FlagInitiator | FlagResponse}
		if !h.IsInitiator() || !h.IsResponse() || h.Flags.String() != "I|R" {
			t.Errorf("%v", h.Flags)
		}
	})
}

// TestCriticalBit checks RFC 7296 3.2: an unknown payload with the critical
// bit rejects the message, one without it is skipped, and the bit is
// ignored on payloads this package knows.
func TestCriticalBit(t *testing.T) {
	nonce := seq(16, 0)
	t.Run("unknown critical", func(t *testing.T) {
		m := cat(hdr(PayloadNonce, 0), gp(60, false, nonce), gp(PayloadNone, true, []byte("x")))
		setLen(m)
		_, err := Parse(m)
		var uc *UnsupportedCriticalPayloadError
		if !errors.As(err, &uc) || uc.Type != 60 {
			t.Fatalf("err = %v", err)
		}
		if n := NewUnsupportedCriticalPayload(uc.Type); n.Data[0] != 60 {
			t.Errorf("notify data %x", n.Data)
		}
	})
	t.Run("unknown non-critical skipped", func(t *testing.T) {
		m := cat(hdr(60, 0), gp(PayloadNonce, false, []byte("x")), gp(PayloadNone, false, nonce))
		setLen(m)
		got, err := Parse(m)
		if err != nil {
			t.Fatal(err)
		}
		want := []Payload{&Unknown{T: 60, Data: []byte("x")}, &Nonce{Data: nonce}}
		if !reflect.DeepEqual(got.Payloads, want) {
			t.Errorf("got %v", PayloadsString(got.Payloads))
		}
	})
	t.Run("known critical accepted", func(t *testing.T) {
		m := cat(hdr(PayloadNonce, 0), gp(PayloadNone, true, nonce))
		setLen(m)
		if _, err := Parse(m); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("inside decrypted chain", func(t *testing.T) {
		_, err := ParsePayloads(PayloadNonce, cat(gp(200, false, nonce), gp(PayloadNone, true, nil)))
		var uc *UnsupportedCriticalPayloadError
		if !errors.As(err, &uc) || uc.Type != 200 {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("encode unknown critical", func(t *testing.T) {
		m := &Message{Payloads: []Payload{&Unknown{T: 60, Critical: true, Data: []byte{1}}}}
		b := mustEncode(t, m)
		if b[HeaderLen+1] != 0x80 {
			t.Errorf("critical bit not set: %x", b)
		}
	})
}

func TestEncodeErrors(t *testing.T) {
	v4 := netip.MustParseAddr("10.0.0.1")
	v6 := netip.MustParseAddr("fd00::1")
	cases := map[string][]Payload{
		"nil payload":             {nil},
		"sa without proposals":    {&SA{}},
		"proposal spi too long":   {&SA{Proposals: []Proposal{{SPI: make([]byte, 256)}}}},
		"tv attribute of 3":       {&SA{Proposals: []Proposal{{Transforms: []Transform{{Attributes: []TransformAttribute{{Type: 1, TV: true, Value: []byte{1, 2, 3}}}}}}}}},
		"key length as attribute": {&SA{Proposals: []Proposal{{Transforms: []Transform{{Attributes: []TransformAttribute{{Type: 14, TV: true, Value: []byte{1, 2}}}}}}}}},
		"attribute type 16 bits":  {&SA{Proposals: []Proposal{{Transforms: []Transform{{Attributes: []TransformAttribute{{Type: 0x8001}}}}}}}},
		"ipv4 id of 3":            {&ID{IDType: IDIPv4Addr, Data: []byte{1, 2, 3}}},
		"short nonce":             {&Nonce{Data: seq(15, 0)}},
		"notify spi 256":          {&Notify{SPI: make([]byte, 256)}},
		"delete spi size differs": {&Delete{Protocol: ProtocolESP, SPISize: 4, SPIs: [][]byte{{1, 2, 3}}}},
		"delete spis size zero":   {&Delete{Protocol: ProtocolIKE, SPIs: [][]byte{{}}}},
		"ts v4 with v6":           {&TS{Selectors: []TrafficSelector{{Type: TSIPv4AddrRange, StartAddr: v4, EndAddr: v6}}}},
		"ts v6 with v4":           {&TS{Selectors: []TrafficSelector{{Type: TSIPv6AddrRange, StartAddr: v4, EndAddr: v4}}}},
		"ts unset address":        {&TS{Selectors: []TrafficSelector{{Type: TSIPv4AddrRange}}}},
		"cp attribute type":       {&CP{Attributes: []CPAttribute{{Type: 0x8000}}}},
		"eap bad length":          {&EAP{Data: []byte{1, 1, 0, 9}}},
		"unknown with known type": {&Unknown{T: PayloadSA}},
		"unknown with type none":  {&Unknown{T: PayloadNone}},
		"payload over 65535":      {&VendorID{Data: make([]byte, 65532)}},
		"sk not last":             {&Encrypted{}, &Nonce{Data: seq(16, 0)}},
		"skf number zero":         {&EncryptedFragment{TotalFragments: 1}},
	}
	for name, ps := range cases {
		t.Run(name, func(t *testing.T) {
			if _, err := (&Message{Payloads: ps}).Encode(); !errors.Is(err, ErrEncode) {
				t.Errorf("Encode: err = %v", err)
			}
		})
	}
	t.Run("SK in EncodePayloads", func(t *testing.T) {
		if _, _, err := EncodePayloads([]Payload{&Encrypted{}}); !errors.Is(err, ErrEncode) {
			t.Errorf("err = %v", err)
		}
	})
}

func TestAccessors(t *testing.T) {
	ps := samplePayloads()
	if Get(ps, PayloadIDr).(*ID).Initiator {
		t.Error("Get(IDr) returned IDi")
	}
	if Get(ps, PayloadSK) != nil {
		t.Error("Get(SK) found something")
	}
	n := 0
	for range All[*TS](ps) {
		n++
	}
	if n != 2 {
		t.Errorf("All[*TS] = %d", n)
	}
	if GetNotify(ps, NotifyRekeySA) == nil || GetNotify(ps, NotifyCookie) != nil {
		t.Error("GetNotify")
	}
	if spi, ok := GetNotify(ps, NotifyRekeySA).SPI32(); !ok || spi != 0xc0000001 {
		t.Errorf("SPI32 = %#x", spi)
	}
	if FirstError(ps) != nil {
		t.Error("FirstError found a status notify")
	}
	if e := FirstError([]Payload{NewInvalidKEPayload(19)}); e == nil {
		t.Error("FirstError missed INVALID_KE_PAYLOAD")
	} else if g, ok := e.Group(); !ok || g != 19 {
		t.Errorf("Group = %d", g)
	}
	d, _ := Find[*Delete](ps)
	if _, ok := d.SPI32s(); ok {
		t.Error("SPI32s on IKE delete")
	}
	var ds []*Delete
	for x := range All[*Delete](ps) {
		ds = append(ds, x)
	}
	if s, ok := ds[1].SPI32s(); !ok || !reflect.DeepEqual(s, []uint32{0xc0000001, 0xc0000002}) {
		t.Errorf("SPI32s = %x", s)
	}
	cr, _ := Find[*CertReq](ps)
	if a, ok := cr.Authorities(); !ok || len(a) != 2 {
		t.Errorf("Authorities = %d", len(a))
	}
	e, _ := Find[*EAP](ps)
	if m, ok := e.Method(); !ok || m != 1 || e.Code() != EAPRequest || e.Identifier() != 7 {
		t.Errorf("EAP accessors")
	}
	if w := NewSetWindowSize(4); be16(w.Data[2:]) != 4 {
		t.Errorf("SET_WINDOW_SIZE %x", w.Data)
	}
}

func TestSelectorPrefix(t *testing.T) {
	for _, s := range []string{"10.78.1.0/24", "0.0.0.0/0", "10.0.0.1/32", "::/0", "fc00::/7", "fd00::1/128", "10.78.1.128/25"} {
		p := netip.MustParsePrefix(s)
		ts, ok := SelectorFromPrefix(p, 0, 0, 65535)
		if !ok {
			t.Fatal(s)
		}
		q, ok := ts.Prefix()
		if !ok || q != p {
			t.Errorf("%s: %v..%v -> %v %v", s, ts.StartAddr, ts.EndAddr, q, ok)
		}
	}
	r := TrafficSelector{Type: TSIPv4AddrRange, StartAddr: netip.MustParseAddr("10.0.0.1"), EndAddr: netip.MustParseAddr("10.0.0.2")}
	if _, ok := r.Prefix(); ok {
		t.Error("10.0.0.1-10.0.0.2 is no prefix")
	}
	if ts, _ := SelectorFromPrefix(netip.MustParsePrefix("10.78.1.0/24"), 0, 0, 0); ts.EndAddr.String() != "10.78.1.255" {
		t.Errorf("end %v", ts.EndAddr)
	}
}

func TestStrings(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{ExchangeIKESAInit.String(), "IKE_SA_INIT"},
		{ExchangeType(99).String(), "EXCHANGE(99)"},
		{PayloadSKF.String(), "SKF"},
		{PayloadType(99).String(), "PAYLOAD(99)"},
		{NotifyInvalidKEPayload.String(), "INVALID_KE_PAYLOAD"},
		{NotifyType(40000).String(), "NOTIFY(40000)"},
		{IDFQDN.String(), "ID_FQDN"},
		{AuthDigitalSignature.String(), "DIGITAL_SIGNATURE"},
		{TSIPv6AddrRange.String(), "TS_IPV6_ADDR_RANGE"},
		{CfgReply.String(), "CFG_REPLY"},
		{CPInternalDNSDomain.String(), "INTERNAL_DNS_DOMAIN"},
		{CertX509Signature.String(), "X509_SIGNATURE"},
		{ProtocolESP.String(), "ESP"},
		{TransformDH.String(), "KE"},
		{TransformType(7).String(), "ADDKE2"},
		{Flags(0).String(), "0"},
		{(FlagResponse | 0x01).String(), "R|0x1"},
		{(&SyntaxError{PayloadKE, "short body"}).Error(), "wire: invalid syntax: KE payload: short body"},
		{(&UnsupportedCriticalPayloadError{60}).Error(), "wire: unsupported critical payload 60"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}
