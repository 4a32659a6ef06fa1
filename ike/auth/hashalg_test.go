package auth

import (
	"bytes"
	"errors"
	"slices"
	"testing"
)

func TestSignatureHashAlgorithms(t *testing.T) {
	tests := []struct {
		name string
		hs   []HashAlgorithm
		wire string
	}{
		{"empty", []HashAlgorithm{}, ""},
		{"sha2 and identity", []HashAlgorithm{HashSHA256, HashSHA384, HashSHA512, HashIdentity}, "0002 0003 0004 0005"},
		{"sha1 and unknown kept", []HashAlgorithm{HashSHA1, 0x1234}, "0001 1234"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			wire := unhex(t, tc.wire)
			if got := EncodeSignatureHashAlgorithms(tc.hs); !bytes.Equal(got, wire) {
				t.Fatalf("encode = %x, want %x", got, wire)
			}
			got, err := DecodeSignatureHashAlgorithms(wire)
			if err != nil || !slices.Equal(got, tc.hs) {
				t.Fatalf("decode = %v, %v; want %v", got, err, tc.hs)
			}
		})
	}
	if _, err := DecodeSignatureHashAlgorithms([]byte{0, 2, 0}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("odd length: err = %v", err)
	}
	if got := SupportedHashAlgorithms(Policy{}); slices.Contains(got, HashSHA1) {
		t.Fatalf("default announces SHA1: %v", got)
	}
	if got := SupportedHashAlgorithms(Policy{AllowSHA1: true}); !slices.Contains(got, HashSHA1) {
		t.Fatalf("AllowSHA1 does not announce SHA1: %v", got)
	}
	if HashSHA384.String() != "SHA2_384" || HashAlgorithm(9).String() != "HASH_9" {
		t.Fatal("String")
	}
}

func FuzzDecodeSignatureHashAlgorithms(f *testing.F) {
	f.Add([]byte{0, 2, 0, 3, 0, 4, 0, 5})
	f.Add([]byte{0, 1})
	f.Add([]byte{1})
	f.Fuzz(func(t *testing.T, data []byte) {
		hs, err := DecodeSignatureHashAlgorithms(data)
		if err != nil {
			return
		}
		if !bytes.Equal(EncodeSignatureHashAlgorithms(hs), data) {
			t.Fatalf("round trip of %x", data)
		}
	})
}
