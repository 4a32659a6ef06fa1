package wire

import (
	"bytes"
	"reflect"
	"testing"
)

// capturedMessages are the IKE messages in testdata (see its README),
// as sent by strongSwan and esptun.
var capturedMessages = []string{
	"testdata/strongswan-5.9.8-ike_sa_init-request.hex",
	"testdata/strongswan-5.9.8-ike_sa_init-request-ecdsa.hex",
	"testdata/esptun-ike_sa_init-response-ecdsa.hex",
	"testdata/strongswan-5.9.8-ike_auth-request-ecdsa.hex",
	"testdata/esptun-ike_auth-response-ecdsa.hex",
}

// fuzzSeeds are real encodings: the strongSwan and esptun captures, every
// sample payload in a message, protected messages and fragments.
func fuzzSeeds(t testing.TB) [][]byte {
	var seeds [][]byte
	for _, path := range capturedMessages {
		raw := readHex(t, path)
		if _, err := Parse(raw); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		seeds = append(seeds, raw)
	}
	seeds = append(seeds, mustEncode(t, sampleInit()))
	for _, p := range samplePayloads() {
		seeds = append(seeds, mustEncode(t, &Message{Header: authHeader(), Payloads: []Payload{p}}))
	}
	for _, c := range testCiphers() {
		raw, err := EncodeEncrypted(authHeader(), samplePayloads(), c)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, raw)
		frags, err := Fragment(authHeader(), samplePayloads(), c, 300)
		if err != nil {
			t.Fatal(err)
		}
		seeds = append(seeds, frags[0], frags[1])
	}
	return seeds
}

// FuzzParse: Parse never panics, and whatever parses re-encodes to a
// message of the same length that parses to the same structure.
func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := Parse(b)
		if err != nil {
			return
		}
		re, err := m.Encode()
		if err != nil {
			t.Fatalf("parsed message does not encode: %v", err)
		}
		if len(re) != len(b) {
			t.Fatalf("re-encoding is %d octets, original %d", len(re), len(b))
		}
		m2, err := Parse(re)
		if err != nil {
			t.Fatalf("re-encoding does not parse: %v", err)
		}
		if !reflect.DeepEqual(m, m2) {
			t.Fatalf("structure changed:\n%s\n%s", m, m2)
		}
		_ = m.String()
	})
}

// FuzzParsePayloads: the same property for decrypted chains.
func FuzzParsePayloads(f *testing.F) {
	for _, ps := range [][]Payload{samplePayloads(), sampleInit().Payloads} {
		first, body, err := EncodePayloads(ps)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(byte(first), body)
	}
	for _, p := range samplePayloads() {
		first, body, _ := EncodePayloads([]Payload{p})
		f.Add(byte(first), body)
	}
	// The payload chains of the captured IKE_SA_INIT messages: SA, KE,
	// nonce and notifies (an IKE_AUTH message is one SK payload, which no
	// decrypted chain may hold).
	for _, path := range capturedMessages {
		raw := readHex(f, path)
		if PayloadType(raw[16]) == PayloadSK {
			continue
		}
		if _, err := ParsePayloads(PayloadType(raw[16]), raw[HeaderLen:]); err != nil {
			f.Fatalf("%s: payload chain: %v", path, err)
		}
		f.Add(raw[16], raw[HeaderLen:])
	}
	f.Fuzz(func(t *testing.T, first byte, b []byte) {
		ps, err := ParsePayloads(PayloadType(first), b)
		if err != nil {
			return
		}
		f2, re, err := EncodePayloads(ps)
		if err != nil {
			t.Fatalf("parsed chain does not encode: %v", err)
		}
		if len(ps) > 0 && f2 != PayloadType(first) {
			t.Fatalf("first payload %v, was %v", f2, PayloadType(first))
		}
		if len(re) != len(b) {
			t.Fatalf("re-encoding is %d octets, original %d", len(re), len(b))
		}
		ps2, err := ParsePayloads(f2, re)
		if err != nil {
			t.Fatalf("re-encoding does not parse: %v", err)
		}
		if !reflect.DeepEqual(ps, ps2) {
			t.Fatalf("structure changed:\n%s\n%s", PayloadsString(ps), PayloadsString(ps2))
		}
	})
}

// FuzzReassembler feeds a Reassembler authentic fragments of two
// fragmentations of message 1 and one of message 2, in the order the input
// chooses, some with a flipped bit, plus one arbitrary datagram. It must
// never panic, and whatever it completes must be the payloads of the
// message last fed an authentic fragment.
func FuzzReassembler(f *testing.F) {
	c := newGCM(testKey(20, 1))
	inner1 := samplePayloads()
	inner2 := samplePayloads()[:3]
	h2 := authHeader()
	h2.MessageID = 2
	var frags [][]byte
	add := func(h Header, inner []Payload, max int) {
		fs, err := Fragment(h, inner, c, max)
		if err != nil {
			f.Fatal(err)
		}
		for _, x := range fs {
			frags = append(frags, x)
		}
	}
	add(authHeader(), inner1, 200)
	add(authHeader(), inner1, 400)
	add(h2, inner2, 150)
	f.Add([]byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}, []byte(nil))
	f.Add([]byte{9, 8, 7, 6, 5, 4, 3, 2, 1, 0, 0x81, 10, 11}, frags[0])
	f.Add([]byte{12, 13, 14, 0, 1, 2}, frags[len(frags)-1])
	f.Fuzz(func(t *testing.T, ops []byte, extra []byte) {
		if len(ops) > 256 {
			return
		}
		r := Reassembler{MaxFragments: 32, MaxBytes: 4096}
		var lastID uint32
		feed := func(raw []byte) {
			m, err := Parse(raw)
			if err != nil {
				return
			}
			got, done, err := r.Add(raw, m, c)
			if err != nil {
				return
			}
			// Only authentic fragments get past Add: a flipped bit
			// anywhere fails Parse or the ICV, or is a discarded duplicate.
			lastID = m.MessageID
			if !done {
				return
			}
			want := inner1
			if lastID == 2 {
				want = inner2
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("message %d reassembled wrongly: %s", lastID, PayloadsString(got))
			}
		}
		for i, op := range ops {
			raw := bytes.Clone(frags[int(op&0x7f)%len(frags)])
			if op&0x80 != 0 {
				raw[(i*7)%len(raw)] ^= 1 << (i % 8)
			}
			feed(raw)
		}
		feed(bytes.Clone(extra))
	})
}

func BenchmarkParseIKESAInit(b *testing.B) {
	raw := readHex(b, "testdata/strongswan-5.9.8-ike_sa_init-request.hex")
	b.ReportAllocs()
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		if _, err := Parse(raw); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeIKESAInit(b *testing.B) {
	m := sampleInit()
	b.ReportAllocs()
	b.SetBytes(int64(len(mustEncode(b, m))))
	for b.Loop() {
		if _, err := m.Encode(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeEncryptedGCM(b *testing.B) {
	c := newGCM(testKey(20, 1))
	inner := samplePayloads()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeEncrypted(authHeader(), inner, c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecryptSKGCM(b *testing.B) {
	c := newGCM(testKey(20, 1))
	good, _ := EncodeEncrypted(authHeader(), samplePayloads(), c)
	raw := make([]byte, len(good))
	b.ReportAllocs()
	b.SetBytes(int64(len(good)))
	for b.Loop() {
		copy(raw, good)
		m, err := Parse(raw)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := DecryptSK(raw, m, c); err != nil {
			b.Fatal(err)
		}
	}
}
