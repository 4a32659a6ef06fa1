package wire

import (
	"bytes"
	"errors"
	"reflect"
	"testing"
)

func authHeader() Header {
	return Header{SPIi: 0x1122334455667788, SPIr: 0x99aabbccddeeff00, Exchange: ExchangeIKEAuth,
		Flags: FlagInitiator, MessageID: 1}
}

func TestSKRoundTrip(t *testing.T) {
	for name, c := range testCiphers() {
		t.Run(name, func(t *testing.T) {
			for _, inner := range [][]Payload{samplePayloads(), nil, {NewNotify(NotifyInitialContact, nil)}} {
				raw, err := EncodeEncrypted(authHeader(), inner, c)
				if err != nil {
					t.Fatal(err)
				}
				m, err := Parse(raw)
				if err != nil {
					t.Fatal(err)
				}
				if m.NextPayload != PayloadSK || len(m.Payloads) != 1 || m.MessageID != 1 || m.Flags != FlagInitiator {
					t.Fatalf("outer: %v", m)
				}
				sk := m.Payloads[0].(*Encrypted)
				if sk.NextPayload != firstType(inner) {
					t.Errorf("SK next payload %v", sk.NextPayload)
				}
				if (len(sk.Body)-c.IVLen()-c.ICVLen())%blockSize(c) != 0 {
					t.Errorf("ciphertext not aligned")
				}
				got, err := DecryptSK(raw, m, c)
				if err != nil {
					t.Fatal(err)
				}
				if len(inner) == 0 && len(got) == 0 {
					continue
				}
				if !reflect.DeepEqual(got, inner) {
					t.Fatalf("inner payloads differ: %s", PayloadsString(got))
				}
			}
		})
	}
}

// TestSKPadding encodes chains of every length modulo the block size.
func TestSKPadding(t *testing.T) {
	c := newCBC(testKey(16, 5), testKey(32, 6))
	for n := 0; n < 40; n++ {
		inner := []Payload{&VendorID{Data: nz(seq(n, 0))}}
		raw, err := EncodeEncrypted(authHeader(), inner, c)
		if err != nil {
			t.Fatal(err)
		}
		want := HeaderLen + 4 + 16 + paddedLen(4+n, 16) + 16
		if len(raw) != want {
			t.Errorf("n=%d: len %d, want %d", n, len(raw), want)
		}
		m, err := Parse(raw)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecryptSK(raw, m, c)
		if err != nil || !reflect.DeepEqual(got, inner) {
			t.Fatalf("n=%d: %v", n, err)
		}
	}
}

// TestSKTamper flips every octet of a protected message in turn: it must
// never both parse and decrypt.
func TestSKTamper(t *testing.T) {
	for name, c := range testCiphers() {
		t.Run(name, func(t *testing.T) {
			good, err := EncodeEncrypted(authHeader(), []Payload{NewNotify(NotifyInitialContact, nil), &Nonce{Data: seq(32, 1)}}, c)
			if err != nil {
				t.Fatal(err)
			}
			for i := range good {
				raw := bytes.Clone(good)
				raw[i] ^= 0x01
				m, err := Parse(raw)
				if err != nil {
					continue // the header or SK generic header no longer fits
				}
				if _, err := DecryptSK(raw, m, c); err == nil {
					t.Fatalf("octet %d: tampered message decrypted", i)
				} else if i >= skPrefixLen && !errors.Is(err, ErrIntegrity) {
					t.Fatalf("octet %d: err = %v, want ErrIntegrity", i, err)
				}
			}
		})
	}
}

// sealRaw builds a protected message around an arbitrary plaintext, which
// lets tests produce authentic messages with bad padding or inner chains.
func sealRaw(t *testing.T, c SKCipher, first PayloadType, pt []byte) []byte {
	t.Helper()
	h := authHeader()
	skLen := 4 + c.IVLen() + len(pt) + c.ICVLen()
	buf := make([]byte, HeaderLen+skLen)
	h.put(buf, PayloadSK, len(buf))
	buf[HeaderLen] = byte(first)
	buf[HeaderLen+2], buf[HeaderLen+3] = byte(skLen>>8), byte(skLen)
	body := buf[skPrefixLen:]
	p := body[c.IVLen() : c.IVLen()+len(pt)]
	copy(p, pt)
	if err := c.Encrypt(body, buf[:skPrefixLen], p); err != nil {
		t.Fatal(err)
	}
	return buf
}

func TestSKMalformedInner(t *testing.T) {
	c := newGCM(testKey(20, 7))
	cases := map[string]struct {
		first PayloadType
		pt    []byte
	}{
		"pad length exceeds plaintext": {PayloadNone, []byte{0, 0, 5}},
		"pad length alone exceeds":     {PayloadNone, []byte{1}},
		"inner chain overruns":         {PayloadNonce, []byte{0, 0, 0, 30, 0}},
		"inner nonce too short":        {PayloadNonce, cat(gp(PayloadNone, false, seq(4, 0)), []byte{0})},
		"SK inside SK":                 {PayloadSK, cat(gp(PayloadNone, false, nil), []byte{0})},
	}
	for name, cs := range cases {
		t.Run(name, func(t *testing.T) {
			raw := sealRaw(t, c, cs.first, cs.pt)
			m, err := Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := DecryptSK(raw, m, c); !errors.Is(err, ErrInvalidSyntax) {
				t.Fatalf("err = %v, want ErrInvalidSyntax", err)
			}
		})
	}
	t.Run("unknown critical inside", func(t *testing.T) {
		raw := sealRaw(t, c, 99, cat(gp(PayloadNone, true, nil), []byte{0}))
		m, _ := Parse(raw)
		var uc *UnsupportedCriticalPayloadError
		if _, err := DecryptSK(raw, m, c); !errors.As(err, &uc) || uc.Type != 99 {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("empty plaintext is not aligned", func(t *testing.T) {
		raw := sealRaw(t, c, PayloadNone, nil)
		m, _ := Parse(raw)
		if _, err := DecryptSK(raw, m, c); !errors.Is(err, ErrInvalidSyntax) {
			t.Fatalf("err = %v", err)
		}
	})
}

func TestDecryptSKMisuse(t *testing.T) {
	c := newCBC(testKey(16, 5), testKey(32, 6))
	raw, _ := EncodeEncrypted(authHeader(), nil, c)
	m, _ := Parse(raw)
	t.Run("other buffer", func(t *testing.T) {
		if _, err := DecryptSK(bytes.Clone(raw), m, c); err == nil {
			t.Fatal("accepted a Message parsed from another buffer")
		}
	})
	t.Run("no SK", func(t *testing.T) {
		clear := mustEncode(t, sampleInit())
		cm, _ := Parse(clear)
		if _, err := DecryptSK(clear, cm, c); !errors.Is(err, ErrInvalidSyntax) {
			t.Fatalf("err = %v", err)
		}
		if _, err := DecryptSK(nil, nil, c); err == nil {
			t.Fatal("nil message accepted")
		}
	})
	t.Run("misaligned body", func(t *testing.T) {
		b := cat(hdr(PayloadSK, 0), gp(PayloadNone, false, seq(16+17+16, 0)))
		setLen(b)
		bm, err := Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := DecryptSK(b, bm, c); !errors.Is(err, ErrInvalidSyntax) {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("single fragment", func(t *testing.T) {
		frags, err := Fragment(authHeader(), samplePayloads()[:3], c, 1280)
		if err != nil || len(frags) != 1 {
			t.Fatalf("%d fragments, %v", len(frags), err)
		}
		fm, _ := Parse(frags[0])
		got, err := DecryptSK(frags[0], fm, c)
		if err != nil || !reflect.DeepEqual(got, samplePayloads()[:3]) {
			t.Fatalf("err = %v", err)
		}
		frags, _ = Fragment(authHeader(), samplePayloads(), c, 200)
		fm, _ = Parse(frags[0])
		if _, err := DecryptSK(frags[0], fm, c); !errors.Is(err, ErrInvalidSyntax) {
			t.Fatalf("one of many fragments: err = %v", err)
		}
	})
}
