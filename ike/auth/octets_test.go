package auth

import (
	"bytes"
	"crypto"
	"errors"
	"testing"
)

// The expected values were computed independently with OpenSSL:
//
//	k=$(printf 'Key Pad for IKEv2' | openssl dgst -sha256 -mac HMAC -macopt key:'moon and sun share this')
//	printf 'esptun signed octets' | openssl dgst -sha256 -mac HMAC -macopt hexkey:$k
//
// (and the same with -sha1), and for the MACedIDForI part of SignedOctets
//
//	printf '\x02\x00\x00\x00moon.example' | openssl dgst -sha256 -mac HMAC -macopt hexkey:000102...1f
func TestPSKAuthKAT(t *testing.T) {
	secret := []byte("moon and sun share this")
	octets := []byte("esptun signed octets")
	tests := []struct {
		name string
		h    crypto.Hash
		want string
	}{
		{"prfhmacsha256", crypto.SHA256, "60633ae0f436fb76bcc73fc3d2021035270e9c6cfee14a77774eb35925a24298"},
		{"prfhmacsha1", crypto.SHA1, "96d38b9d8287cea60d637627472b65a2cb6ad03e"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			prf := HMACPRF(tc.h)
			got := PSKAuth(prf, secret, octets)
			if want := unhex(t, tc.want); !bytes.Equal(got, want) {
				t.Fatalf("PSKAuth = %x, want %x", got, want)
			}
			if err := VerifyPSKAuth(prf, secret, octets, got); err != nil {
				t.Fatalf("VerifyPSKAuth: %v", err)
			}
		})
	}
}

func TestSignedOctetsKAT(t *testing.T) {
	skp := unhex(t, "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f")
	id, err := ParseIdentity("moon.example")
	if err != nil {
		t.Fatal(err)
	}
	realMessage := []byte("IKE_SA_INIT request as sent")
	nonce := []byte("Nr of the responder")
	got := SignedOctets(realMessage, nonce, HMACPRF(crypto.SHA256), skp, id.PayloadBody())
	want := append(append(append([]byte{}, realMessage...), nonce...),
		unhex(t, "70027a3292ffa9c2d5ca89d2f9c689d5431b65d27de59d8656238d2d8c7014e1")...)
	if !bytes.Equal(got, want) {
		t.Fatalf("SignedOctets = %x, want %x", got, want)
	}
}

func TestVerifyPSKAuthRejects(t *testing.T) {
	prf := HMACPRF(crypto.SHA256)
	secret, octets := []byte("secret"), []byte("octets")
	good := PSKAuth(prf, secret, octets)
	flipped := bytes.Clone(good)
	flipped[len(flipped)-1] ^= 1
	tests := []struct {
		name                 string
		secret, octets, auth []byte
	}{
		{"wrong secret", []byte("secreT"), octets, good},
		{"tampered octets", secret, []byte("octetS"), good},
		{"tampered auth", secret, octets, flipped},
		{"truncated auth", secret, octets, good[:16]},
		{"empty auth", secret, octets, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := VerifyPSKAuth(prf, tc.secret, tc.octets, tc.auth); !errors.Is(err, ErrAuthFailed) {
				t.Fatalf("err = %v, want ErrAuthFailed", err)
			}
		})
	}
}

func BenchmarkPSKAuth(b *testing.B) {
	prf := HMACPRF(crypto.SHA256)
	secret := []byte("moon and sun share this")
	octets := make([]byte, 512)
	b.ReportAllocs()
	b.SetBytes(int64(len(octets)))
	for b.Loop() {
		PSKAuth(prf, secret, octets)
	}
}
