package auth

import (
	"bytes"
	"crypto"
	"errors"
	"testing"
)

// AlgorithmIdentifier DER, byte for byte:
//   - RSASSA-PKCS1-v1_5 and ECDSA: RFC 7427 appendix A.1 and A.3
//   - Ed25519: RFC 8420 section 3 (30 05 06 03 2B 65 70, parameters absent)
//   - RSASSA-PSS: RFC 4055 3.1 RSASSA-PSS-params in DER, hash and MGF1 hash
//     with NULL parameters, saltLength = hash length, DEFAULT trailerField
//     omitted, which is what strongSwan's rsa_pss_params_build writes; the
//     same bytes are entries 26-28 (RSASSA-PSS with SHA-256/384/512) of the
//     C509 Signature Algorithms registry in draft-ietf-cose-cbor-encoded-cert
var algorithmIdentifierKATs = []struct {
	scheme SignatureScheme
	der    string
}{
	{SchemeRSAPKCS1SHA1, "300d 0609 2a864886f70d010105 0500"},
	{SchemeRSAPKCS1SHA256, "300d 0609 2a864886f70d01010b 0500"},
	{SchemeRSAPKCS1SHA384, "300d 0609 2a864886f70d01010c 0500"},
	{SchemeRSAPKCS1SHA512, "300d 0609 2a864886f70d01010d 0500"},
	{SchemeECDSASHA1, "3009 0607 2a8648ce3d0401"},
	{SchemeECDSASHA256, "300a 0608 2a8648ce3d040302"},
	{SchemeECDSASHA384, "300a 0608 2a8648ce3d040303"},
	{SchemeECDSASHA512, "300a 0608 2a8648ce3d040304"},
	{SchemeEd25519, "3005 0603 2b6570"},
	{SchemeRSAPSSSHA256, `3041 0609 2a864886f70d01010a 3034
		a00f 300d 0609 608648016503040201 0500
		a11c 301a 0609 2a864886f70d010108 300d 0609 608648016503040201 0500
		a203 020120`},
	{SchemeRSAPSSSHA384, `3041 0609 2a864886f70d01010a 3034
		a00f 300d 0609 608648016503040202 0500
		a11c 301a 0609 2a864886f70d010108 300d 0609 608648016503040202 0500
		a203 020130`},
	{SchemeRSAPSSSHA512, `3041 0609 2a864886f70d01010a 3034
		a00f 300d 0609 608648016503040203 0500
		a11c 301a 0609 2a864886f70d010108 300d 0609 608648016503040203 0500
		a203 020140`},
}

func TestAlgorithmIdentifierKAT(t *testing.T) {
	for _, tc := range algorithmIdentifierKATs {
		t.Run(tc.scheme.String(), func(t *testing.T) {
			want := unhex(t, tc.der)
			if got := tc.scheme.AlgorithmIdentifier(); !bytes.Equal(got, want) {
				t.Fatalf("AlgorithmIdentifier =\n%x, want\n%x", got, want)
			}
			data := append(append([]byte{byte(len(want))}, want...), 0xAA)
			s, sig, err := ParseDigitalSignature(data)
			if err != nil || s != tc.scheme || !bytes.Equal(sig, []byte{0xAA}) {
				t.Fatalf("ParseDigitalSignature = %v, %x, %v", s, sig, err)
			}
		})
	}
	if SignatureScheme(0).AlgorithmIdentifier() != nil || SignatureScheme(200).AlgorithmIdentifier() != nil {
		t.Fatal("unknown scheme has an AlgorithmIdentifier")
	}
}

// Encodings that are not DER-minimal but that peers send: explicit DEFAULT
// trailerField, hashes without NULL parameters, ECDSA/Ed25519 with NULL.
func TestParseDigitalSignatureLenient(t *testing.T) {
	tests := []struct {
		name string
		ai   string
		want SignatureScheme
	}{
		{"pss with explicit trailerField", `3046 0609 2a864886f70d01010a 3039
			a00f 300d 0609 608648016503040201 0500
			a11c 301a 0609 2a864886f70d010108 300d 0609 608648016503040201 0500
			a203 020120 a303 020101`, SchemeRSAPSSSHA256},
		{"pss hashes without NULL", `303d 0609 2a864886f70d01010a 3030
			a00d 300b 0609 608648016503040202
			a11a 3018 0609 2a864886f70d010108 300b 0609 608648016503040202
			a203 020130`, SchemeRSAPSSSHA384},
		{"ecdsa with NULL", "300c 0608 2a8648ce3d040302 0500", SchemeECDSASHA256},
		{"pkcs1 without NULL", "300b 0609 2a864886f70d01010b", SchemeRSAPKCS1SHA256},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ai := unhex(t, tc.ai)
			s, _, err := ParseDigitalSignature(append(append([]byte{byte(len(ai))}, ai...), 1, 2, 3))
			if err != nil || s != tc.want {
				t.Fatalf("got %v, %v; want %v", s, err, tc.want)
			}
		})
	}
}

func TestParseDigitalSignatureMalformed(t *testing.T) {
	tests := []struct {
		name string
		data string
		want error
	}{
		{"empty", "", ErrMalformed},
		{"length beyond data", "0e 300d06092a864886f70d01010b05", ErrMalformed},
		{"no signature", "0f 300d06092a864886f70d01010b0500", ErrMalformed},
		{"not a sequence", "03 040100 aa", ErrMalformed},
		{"trailing data in identifier", "0f 300a06082a8648ce3d04030200 aa", ErrMalformed},
		{"ecdsa with parameters", "0e 300c06082a8648ce3d0403020101 aa", ErrMalformed},
		{"dsa-with-sha256", "0d 300b0609608648016503040302 aa", ErrUnsupportedMethod},
		{"pss with sha1 defaults", "0f 300d06092a864886f70d01010a3000 aa", ErrUnsupportedMethod},
		{"pss mgf1 hash differs", `43 3041 0609 2a864886f70d01010a 3034
			a00f 300d 0609 608648016503040201 0500
			a11c 301a 0609 2a864886f70d010108 300d 0609 608648016503040203 0500
			a203 020120 aa`, ErrUnsupportedMethod},
		{"pss trailerField 2", `48 3046 0609 2a864886f70d01010a 3039
			a00f 300d 0609 608648016503040201 0500
			a11c 301a 0609 2a864886f70d010108 300d 0609 608648016503040201 0500
			a203 020120 a303 020102 aa`, ErrMalformed},
		{"pss negative salt", "14 3012 0609 2a864886f70d01010a 3005 a203 0201ff aa", ErrMalformed},
		{"pss mgf not mgf1", "1c 301a 0609 2a864886f70d01010a 300d a10b 3009 0607 2a8648ce3d0401 aa", ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := ParseDigitalSignature(unhex(t, tc.data))
			if !errors.Is(err, tc.want) {
				t.Fatalf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

type signCase struct {
	name   string
	priv   crypto.Signer
	wrong  crypto.Signer // same key type, other key
	other  crypto.Signer // other key type
	method uint8         // forced method, or 14 with scheme
	scheme SignatureScheme
}

func signCases() []signCase {
	k := keys()
	return []signCase{
		{"method1 rsa-sha1", k.rsa, k.rsa2, k.p256, MethodRSASignature, 0},
		{"method9 p256", k.p256, k.p256b, k.rsa, MethodECDSASHA256P256, 0},
		{"method10 p384", k.p384, k.p256, k.ed, MethodECDSASHA384P384, 0},
		{"method11 p521", k.p521, k.p384, k.rsa, MethodECDSASHA512P521, 0},
		{"rsa-pkcs1-sha1", k.rsa, k.rsa2, k.p256, MethodDigitalSignature, SchemeRSAPKCS1SHA1},
		{"rsa-pkcs1-sha256", k.rsa, k.rsa2, k.p256, MethodDigitalSignature, SchemeRSAPKCS1SHA256},
		{"rsa-pkcs1-sha384", k.rsa, k.rsa2, k.ed, MethodDigitalSignature, SchemeRSAPKCS1SHA384},
		{"rsa-pkcs1-sha512", k.rsa, k.rsa2, k.p384, MethodDigitalSignature, SchemeRSAPKCS1SHA512},
		{"rsa-pss-sha256", k.rsa, k.rsa2, k.p256, MethodDigitalSignature, SchemeRSAPSSSHA256},
		{"rsa-pss-sha384", k.rsa, k.rsa2, k.ed, MethodDigitalSignature, SchemeRSAPSSSHA384},
		{"rsa-pss-sha512", k.rsa, k.rsa2, k.p521, MethodDigitalSignature, SchemeRSAPSSSHA512},
		{"ecdsa-sha1 p256", k.p256, k.p256b, k.rsa, MethodDigitalSignature, SchemeECDSASHA1},
		{"ecdsa-sha256 p256", k.p256, k.p256b, k.rsa, MethodDigitalSignature, SchemeECDSASHA256},
		{"ecdsa-sha384 p384", k.p384, k.p256, k.ed, MethodDigitalSignature, SchemeECDSASHA384},
		{"ecdsa-sha512 p521", k.p521, k.p256, k.rsa, MethodDigitalSignature, SchemeECDSASHA512},
		{"ecdsa-sha256 p384", k.p384, k.p256, k.rsa, MethodDigitalSignature, SchemeECDSASHA256},
		{"ed25519", k.ed, k.ed2, k.p256, MethodDigitalSignature, SchemeEd25519},
	}
}

func TestSignVerifyRoundTrip(t *testing.T) {
	octets := []byte("RealMessage | Nonce | MACedIDForI")
	allow := Policy{AllowSHA1: true}
	for _, tc := range signCases() {
		t.Run(tc.name, func(t *testing.T) {
			var data []byte
			var err error
			method := tc.method
			if tc.scheme != 0 {
				data, err = SignDigitalSignature(tc.priv, tc.scheme, octets, allow)
			} else {
				method, data, err = SignWithPolicy(tc.priv, tc.method, octets, nil, allow)
			}
			if err != nil {
				t.Fatalf("sign: %v", err)
			}
			if method != tc.method {
				t.Fatalf("method = %d, want %d", method, tc.method)
			}
			if tc.scheme != 0 {
				s, _, err := ParseDigitalSignature(data)
				if err != nil || s != tc.scheme {
					t.Fatalf("ParseDigitalSignature = %v, %v", s, err)
				}
				if ai := tc.scheme.AlgorithmIdentifier(); int(data[0]) != len(ai) || !bytes.Equal(data[1:1+len(ai)], ai) {
					t.Fatalf("AUTH data does not start with length and AlgorithmIdentifier")
				}
			}
			pub := tc.priv.Public()
			if err := Verify(pub, method, octets, data, allow); err != nil {
				t.Fatalf("verify: %v", err)
			}
			tampered := bytes.Clone(octets)
			tampered[0] ^= 1
			if err := Verify(pub, method, tampered, data, allow); !errors.Is(err, ErrAuthFailed) {
				t.Errorf("tampered octets: err = %v", err)
			}
			badSig := bytes.Clone(data)
			badSig[len(badSig)-1] ^= 1
			if err := Verify(pub, method, octets, badSig, allow); !errors.Is(err, ErrAuthFailed) {
				t.Errorf("tampered signature: err = %v", err)
			}
			if err := Verify(tc.wrong.Public(), method, octets, data, allow); err == nil {
				t.Errorf("wrong key of the same type verified")
			}
			if err := Verify(tc.other.Public(), method, octets, data, allow); !errors.Is(err, ErrKeyMismatch) {
				t.Errorf("key of another type: err = %v", err)
			}
			if tc.scheme.Hash() == HashSHA1 || method == MethodRSASignature {
				if err := Verify(pub, method, octets, data, Policy{}); !errors.Is(err, ErrSHA1NotAllowed) {
					t.Errorf("SHA-1 without policy: err = %v", err)
				}
			}
		})
	}
}

func TestSignChoosesScheme(t *testing.T) {
	k := keys()
	all := []HashAlgorithm{HashSHA256, HashSHA384, HashSHA512, HashIdentity}
	tests := []struct {
		name       string
		priv       crypto.Signer
		method     uint8
		hashes     []HashAlgorithm
		policy     Policy
		wantMethod uint8
		wantScheme SignatureScheme
		wantErr    error
	}{
		{"rsa all", k.rsa, 0, all, Policy{}, 14, SchemeRSAPSSSHA256, nil},
		{"rsa sha512 only", k.rsa, 0, []HashAlgorithm{HashSHA512}, Policy{}, 14, SchemeRSAPSSSHA512, nil},
		{"rsa pkcs1 policy", k.rsa, 0, all, Policy{RSAPKCS1v15: true}, 14, SchemeRSAPKCS1SHA256, nil},
		{"rsa unknown hashes ignored", k.rsa, 0, []HashAlgorithm{7, HashSHA384}, Policy{}, 14, SchemeRSAPSSSHA384, nil},
		{"rsa no announcement", k.rsa, 0, nil, Policy{}, 0, 0, ErrNoCommonHash},
		{"rsa no announcement sha1 allowed", k.rsa, 0, nil, Policy{AllowSHA1: true}, MethodRSASignature, 0, nil},
		{"rsa sha1 only", k.rsa, 0, []HashAlgorithm{HashSHA1}, Policy{}, 0, 0, ErrNoCommonHash},
		{"rsa sha1 only allowed", k.rsa, 0, []HashAlgorithm{HashSHA1}, Policy{AllowSHA1: true}, 14, SchemeRSAPKCS1SHA1, nil},
		{"rsa forced 14 without announcement", k.rsa, 14, nil, Policy{}, 14, SchemeRSAPSSSHA256, nil},
		{"rsa forced method 1", k.rsa, MethodRSASignature, all, Policy{}, 0, 0, ErrSHA1NotAllowed},
		{"p256 all", k.p256, 0, all, Policy{}, 14, SchemeECDSASHA256, nil},
		{"p384 all", k.p384, 0, all, Policy{}, 14, SchemeECDSASHA384, nil},
		{"p521 all", k.p521, 0, all, Policy{}, 14, SchemeECDSASHA512, nil},
		{"p384 sha256 only", k.p384, 0, []HashAlgorithm{HashSHA256}, Policy{}, 14, SchemeECDSASHA256, nil},
		{"p256 no announcement", k.p256, 0, nil, Policy{}, MethodECDSASHA256P256, 0, nil},
		{"p384 no announcement", k.p384, 0, nil, Policy{}, MethodECDSASHA384P384, 0, nil},
		{"p521 identity only", k.p521, 0, []HashAlgorithm{HashIdentity}, Policy{}, MethodECDSASHA512P521, 0, nil},
		{"p256 forced method 10", k.p256, MethodECDSASHA384P384, nil, Policy{}, 0, 0, ErrKeyMismatch},
		{"ed25519 identity", k.ed, 0, all, Policy{}, 14, SchemeEd25519, nil},
		{"ed25519 sha2 only", k.ed, 0, []HashAlgorithm{HashSHA256}, Policy{}, 0, 0, ErrNoCommonHash},
		{"ed25519 no announcement", k.ed, 0, nil, Policy{}, 0, 0, ErrNoCommonHash},
		{"ed25519 forced method 9", k.ed, MethodECDSASHA256P256, nil, Policy{}, 0, 0, ErrKeyMismatch},
		{"psk method", k.rsa, MethodSharedKeyMIC, all, Policy{}, 0, 0, ErrUnsupportedMethod},
	}
	octets := []byte("octets")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			method, data, err := SignWithPolicy(tc.priv, tc.method, octets, tc.hashes, tc.policy)
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil || method != tc.wantMethod {
				t.Fatalf("method = %d, err = %v; want %d", method, err, tc.wantMethod)
			}
			if tc.wantScheme != 0 {
				if s, _, err := ParseDigitalSignature(data); err != nil || s != tc.wantScheme {
					t.Fatalf("scheme = %v, %v; want %v", s, err, tc.wantScheme)
				}
			}
			if err := Verify(tc.priv.Public(), method, octets, data, tc.policy); err != nil {
				t.Fatalf("verify: %v", err)
			}
		})
	}
	// Sign is SignWithPolicy with the zero Policy.
	if _, _, err := Sign(k.rsa, 0, octets, []HashAlgorithm{HashSHA1}); !errors.Is(err, ErrNoCommonHash) {
		t.Fatalf("Sign with SHA-1 only: %v", err)
	}
	if _, err := SignDigitalSignature(k.rsa, SchemeRSAPKCS1SHA1, octets, Policy{}); !errors.Is(err, ErrSHA1NotAllowed) {
		t.Fatalf("SignDigitalSignature SHA-1: %v", err)
	}
	if _, err := SignDigitalSignature(k.p256, SchemeRSAPSSSHA256, octets, Policy{}); !errors.Is(err, ErrKeyMismatch) {
		t.Fatalf("SignDigitalSignature key mismatch: %v", err)
	}
}

func TestVerifyLegacyECDSALength(t *testing.T) {
	k := keys()
	octets := []byte("octets")
	_, sig, err := Sign(k.p256, MethodECDSASHA256P256, octets, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(sig) != 64 {
		t.Fatalf("method 9 signature of %d bytes, want 64 (RFC 4754 7)", len(sig))
	}
	if err := Verify(k.p256.Public(), MethodECDSASHA256P256, octets, sig[:63], Policy{}); !errors.Is(err, ErrMalformed) {
		t.Fatalf("short r|s: %v", err)
	}
	_, sig, err = Sign(k.p521, MethodECDSASHA512P521, octets, nil)
	if err != nil || len(sig) != 132 {
		t.Fatalf("method 11 signature of %d bytes, err %v; want 132", len(sig), err)
	}
	if err := Verify(k.p256.Public(), 200, octets, sig, Policy{}); !errors.Is(err, ErrUnsupportedMethod) {
		t.Fatalf("unknown method: %v", err)
	}
}

func FuzzParseDigitalSignature(f *testing.F) {
	k := keys()
	octets := []byte("fuzz octets")
	for _, tc := range algorithmIdentifierKATs {
		ai := tc.scheme.AlgorithmIdentifier()
		f.Add(append(append([]byte{byte(len(ai))}, ai...), 0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01))
	}
	for _, tc := range signCases() {
		if tc.scheme != 0 {
			data, err := SignDigitalSignature(tc.priv, tc.scheme, octets, Policy{AllowSHA1: true})
			if err != nil {
				f.Fatal(err)
			}
			f.Add(data)
		}
	}
	pubs := []crypto.PublicKey{k.rsa.Public(), k.p256.Public(), k.p384.Public(), k.ed.Public()}
	f.Fuzz(func(t *testing.T, data []byte) {
		s, sig, err := ParseDigitalSignature(data)
		if err == nil {
			if _, ok := s.info(); !ok || len(sig) == 0 {
				t.Fatalf("accepted %x as %v with %d signature bytes", data, s, len(sig))
			}
		}
		for _, pub := range pubs {
			_ = Verify(pub, MethodDigitalSignature, octets, data, Policy{AllowSHA1: true})
			_ = Verify(pub, MethodECDSASHA256P256, octets, data, Policy{})
		}
	})
}

func benchmarkSignVerify(b *testing.B, priv crypto.Signer, scheme SignatureScheme) {
	octets := make([]byte, 600)
	b.Run("sign", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(octets)))
		for b.Loop() {
			if _, err := SignDigitalSignature(priv, scheme, octets, Policy{}); err != nil {
				b.Fatal(err)
			}
		}
	})
	data, err := SignDigitalSignature(priv, scheme, octets, Policy{})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("verify", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(octets)))
		for b.Loop() {
			if err := Verify(priv.Public(), MethodDigitalSignature, octets, data, Policy{}); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkDigitalSignature(b *testing.B) {
	k := keys()
	b.Run("ecdsa-sha256", func(b *testing.B) { benchmarkSignVerify(b, k.p256, SchemeECDSASHA256) })
	b.Run("ed25519", func(b *testing.B) { benchmarkSignVerify(b, k.ed, SchemeEd25519) })
	b.Run("rsa2048-pss-sha256", func(b *testing.B) { benchmarkSignVerify(b, k.rsa, SchemeRSAPSSSHA256) })
}
