package crypto

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"hash"
	"testing"
)

// HMAC test vectors: RFC 4231 4.2 and 4.3 (test cases 1 and 2) for the
// RFC 4868 PRFs, RFC 2202 3 (test cases 1 and 2) for HMAC-SHA1.
func TestPRFKnownAnswers(t *testing.T) {
	key1 := bytes.Repeat([]byte{0x0b}, 20)
	tests := []struct {
		name      string
		id        uint16
		key, data []byte
		want      string
	}{
		{"RFC4231 TC1 SHA-256", PRFHMACSHA256, key1, []byte("Hi There"), "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"},
		{"RFC4231 TC2 SHA-256", PRFHMACSHA256, []byte("Jefe"), []byte("what do ya want for nothing?"), "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"},
		{"RFC4231 TC1 SHA-384", PRFHMACSHA384, key1, []byte("Hi There"), "afd03944d84895626b0825f4ab46907f15f9dadbe4101ec682aa034c7cebc59cfaea9ea9076ede7f4af152e8b2fa9cb6"},
		{"RFC4231 TC2 SHA-384", PRFHMACSHA384, []byte("Jefe"), []byte("what do ya want for nothing?"), "af45d2e376484031617f78d2b58a6b1b9c7ef464f5a01b47e42ec3736322445e8e2240ca5e69e2c78b3239ecfab21649"},
		{"RFC4231 TC1 SHA-512", PRFHMACSHA512, key1, []byte("Hi There"), "87aa7cdea5ef619d4ff0b4241a1d6cb02379f4e2ce4ec2787ad0b30545e17cdedaa833b7d6b8a702038b274eaea3f4e4be9d914eeb61f1702e696c203a126854"},
		{"RFC4231 TC2 SHA-512", PRFHMACSHA512, []byte("Jefe"), []byte("what do ya want for nothing?"), "164b7a7bfcf819e2e395fbe73b56e0a387bd64222e831fd610270cd7ea2505549758bf75c05a994a6d034f65f8f0e6fdcaeab1a34d4a6b4b636e070a38bce737"},
		{"RFC2202 TC1 SHA-1", PRFHMACSHA1, key1, []byte("Hi There"), "b617318655057264e28bc0b6fb378c8ef146be00"},
		{"RFC2202 TC2 SHA-1", PRFHMACSHA1, []byte("Jefe"), []byte("what do ya want for nothing?"), "effcdf6ae5eb2fa2d27416d5f184df9c259a7c79"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prf, err := NewPRF(tt.id)
			if err != nil {
				t.Fatal(err)
			}
			if got := hex.EncodeToString(prf.Compute(tt.key, tt.data)); got != tt.want {
				t.Errorf("got %s, want %s", got, tt.want)
			}
			// Split data must give the same result.
			if got := hex.EncodeToString(prf.Compute(tt.key, tt.data[:3], nil, tt.data[3:])); got != tt.want {
				t.Errorf("split: got %s, want %s", got, tt.want)
			}
			if prf.Size() != len(tt.want)/2 || prf.KeyLen() != prf.Size() || prf.ID() != tt.id {
				t.Errorf("Size %d KeyLen %d ID %d", prf.Size(), prf.KeyLen(), prf.ID())
			}
		})
	}
	if _, err := NewPRF(4); err == nil {
		t.Error("NewPRF(PRF_AES128_XCBC) succeeded")
	}
}

// refPRFPlus is RFC 7296 2.13 written out directly with crypto/hmac, as an
// independent check of PRFPlus.
func refPRFPlus(h func() hash.Hash, key, seed []byte, n int) []byte {
	var out, t []byte
	for i := byte(1); len(out) < n; i++ {
		m := hmac.New(h, key)
		m.Write(t)
		m.Write(seed)
		m.Write([]byte{i})
		t = m.Sum(nil)
		out = append(out, t...)
	}
	return out[:n]
}

func TestPRFPlus(t *testing.T) {
	prf, _ := NewPRF(PRFHMACSHA256)
	key, seed := []byte("key"), []byte("seed")
	for _, n := range []int{0, 1, 31, 32, 33, 100, 255 * 32} {
		got, err := PRFPlus(prf, key, seed, n)
		if err != nil {
			t.Fatalf("n=%d: %v", n, err)
		}
		if want := refPRFPlus(sha256.New, key, seed, n); !bytes.Equal(got, want) {
			t.Errorf("n=%d: mismatch", n)
		}
		if len(got) != n || cap(got) != n {
			t.Errorf("n=%d: len %d cap %d", n, len(got), cap(got))
		}
	}
	for _, n := range []int{255*32 + 1, -1} {
		if _, err := PRFPlus(prf, key, seed, n); !errors.Is(err, ErrPRFPlusLength) {
			t.Errorf("n=%d: err = %v, want ErrPRFPlusLength", n, err)
		}
	}
}

// cavpIKEv2 is the NIST CAVP IKEv2 KDF test vector (SP 800-135 component
// tests, HMAC-SHA1, 8-byte nonces, 256-bit g^ir) as carried in
// Libreswan's PRF self-tests (hmac_sha1_kdf_tests).
var cavpIKEv2 = struct {
	ni, nr, gir, girNew, spii, spir, skeyseed, skeyseedRekey, dkm string
}{
	ni:            "32b50d5f4a3763f3",
	nr:            "9206a04b26564cb1",
	gir:           "4b2c1f971981a8ad8d0abeafabf38cf75fc8349c148142465ed9c8b516b8be52",
	girNew:        "863f3c9d06efd39d2b907b97f8699e5dd5251ef64a2a176f36ee40c87d4f9330",
	spii:          "34c9e7c188868785",
	spir:          "3ff77d760d2b2199",
	skeyseed:      "a9a7b222b59f8f48645f28a1db5b5f5d7479cba7",
	skeyseedRekey: "63e81194946ebd05df7df5ebf5d8750056bf1f1d",
	dkm: "a14293677cc80ff8f9cc0eee30d895da9d8f405666e30ef0dfcb63c634a46002" +
		"a2a63080e514a062768b76606f9fa5e992204fc5a670bde3f10d6b027113936a" +
		"5c55b648a194ae587b0088d52204b702c979fa280870d2ed41efa9c549fd1119" +
		"8af1670b143d384bd275c5f594cf266b05ebadca855e4249520a441a81157435" +
		"a7a56cc4",
}

func (k *IKEKeys) concat() []byte {
	return concat(k.SKd(), k.SKai(), k.SKar(), k.SKei(), k.SKer(), k.SKpi(), k.SKpr())
}

func TestDeriveIKEKeysCAVP(t *testing.T) {
	v := cavpIKEv2
	ni, nr, gir := unhex(t, v.ni), unhex(t, v.nr), unhex(t, v.gir)
	spii, spir := binary.BigEndian.Uint64(unhex(t, v.spii)), binary.BigEndian.Uint64(unhex(t, v.spir))
	// AES-CBC-128 + HMAC-SHA1-96 + PRF-HMAC-SHA1 takes 3*20 + 2*20 + 2*16 =
	// 132 bytes, exactly the vector's DKM length.
	s := IKESuite{Encr: EncrAESCBC, EncrKeyLen: 128, Integ: IntegHMACSHA196, PRF: PRFHMACSHA1, DH: DHMODP2048}
	keys, err := DeriveIKEKeys(s, ni, nr, gir, spii, spir)
	if err != nil {
		t.Fatal(err)
	}
	if got := hex.EncodeToString(keys.concat()); got != v.dkm {
		t.Fatalf("DKM\n got %s\nwant %s", got, v.dkm)
	}
	lens := []int{len(keys.SKd()), len(keys.SKai()), len(keys.SKar()), len(keys.SKei()), len(keys.SKer()), len(keys.SKpi()), len(keys.SKpr())}
	if want := []int{20, 20, 20, 16, 16, 20, 20}; !equalInts(lens, want) {
		t.Errorf("key lengths %v, want %v", lens, want)
	}

	// Rekey: the vector gives SKEYSEED = prf(SK_d, g^ir(new) | Ni | Nr);
	// the keys must be prf+ of it over the same seed.
	prf, _ := NewPRF(PRFHMACSHA1)
	seed := concat(ni, nr, unhex(t, v.spii), unhex(t, v.spir))
	want, _ := PRFPlus(prf, unhex(t, v.skeyseedRekey), seed, 132)
	rekeyed, err := DeriveRekeyedIKEKeys(s, PRFHMACSHA1, keys.SKd(), unhex(t, v.girNew), ni, nr, spii, spir)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(rekeyed.concat(), want) {
		t.Error("rekeyed keys do not follow from the vector's SKEYSEED")
	}
	// And SKEYSEED itself, through the PRF.
	if got := hex.EncodeToString(prf.Compute(concat(ni, nr), gir)); got != v.skeyseed {
		t.Errorf("SKEYSEED %s, want %s", got, v.skeyseed)
	}

	// DropAuth keeps the other keys as they were, in an allocation of
	// their own, and wipes SK_pi/SK_pr where they were.
	before := keys.concat()
	old := keys.b
	keys.DropAuth()
	if keys.SKpi() != nil || keys.SKpr() != nil {
		t.Error("DropAuth left SK_pi/SK_pr")
	}
	if got := keys.concat(); !bytes.Equal(got, before[:len(before)-40]) {
		t.Error("DropAuth changed the other keys")
	}
	if cap(keys.b) != 92 || !bytes.Equal(old, make([]byte, len(old))) {
		t.Errorf("DropAuth kept %d bytes, or left the old copy unwiped", cap(keys.b))
	}
	keys.DropAuth()
	if len(keys.SKd()) != 20 || len(keys.SKer()) != 16 {
		t.Error("a second DropAuth changed the keys")
	}

	keys.Wipe()
	if keys.SKd() != nil || keys.SKpr() != nil {
		t.Error("Wipe left keys behind")
	}
	(*IKEKeys)(nil).Wipe()
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestDeriveIKEKeysLayout checks the key lengths per suite and the SHA2
// derivations against RFC 7296 2.14 written out with crypto/hmac.
func TestDeriveIKEKeysLayout(t *testing.T) {
	ni, nr := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	shared := bytes.Repeat([]byte{3}, 32)
	const spii, spir = 0x0102030405060708, 0x1112131415161718
	tests := []struct {
		suite   IKESuite
		h       func() hash.Hash
		d, a, e int
	}{
		{IKESuite{EncrAESGCM16, 128, IntegNone, PRFHMACSHA256, DHCurve25519}, sha256.New, 32, 0, 20},
		{IKESuite{EncrAESGCM16, 256, IntegNone, PRFHMACSHA384, DHECP384}, sha512.New384, 48, 0, 36},
		{IKESuite{EncrChaCha20Poly1305, 0, IntegNone, PRFHMACSHA512, DHCurve25519}, sha512.New, 64, 0, 36},
		{IKESuite{EncrAESCBC, 256, IntegHMACSHA256128, PRFHMACSHA256, DHMODP2048}, sha256.New, 32, 32, 32},
		{IKESuite{EncrAESCBC, 128, IntegHMACSHA512256, PRFHMACSHA384, DHECP256}, sha512.New384, 48, 64, 16},
	}
	for _, tt := range tests {
		t.Run(tt.suite.String(), func(t *testing.T) {
			keys, err := DeriveIKEKeys(tt.suite, ni, nr, shared, spii, spir)
			if err != nil {
				t.Fatal(err)
			}
			lens := []int{len(keys.SKd()), len(keys.SKai()), len(keys.SKar()), len(keys.SKei()), len(keys.SKer()), len(keys.SKpi()), len(keys.SKpr())}
			if want := []int{tt.d, tt.a, tt.a, tt.e, tt.e, tt.d, tt.d}; !equalInts(lens, want) {
				t.Errorf("key lengths %v, want %v", lens, want)
			}
			m := hmac.New(tt.h, concat(ni, nr))
			m.Write(shared)
			skeyseed := m.Sum(nil)
			spis := binary.BigEndian.AppendUint64(binary.BigEndian.AppendUint64(nil, spii), spir)
			want := refPRFPlus(tt.h, skeyseed, concat(ni, nr, spis), 3*tt.d+2*tt.a+2*tt.e)
			if !bytes.Equal(keys.concat(), want) {
				t.Error("keys differ from the reference derivation")
			}
			if _, err := NewIKECipher(tt.suite, keys.SKei(), keys.SKai()); err != nil {
				t.Errorf("derived keys do not fit the cipher: %v", err)
			}

			// Rekey with the new suite's PRF for prf+ but the old PRF
			// (here SHA-256) for SKEYSEED (RFC 7296 2.18).
			oldSKd := bytes.Repeat([]byte{9}, 32)
			m = hmac.New(sha256.New, oldSKd)
			m.Write(concat(shared, ni, nr))
			want = refPRFPlus(tt.h, m.Sum(nil), concat(ni, nr, spis), 3*tt.d+2*tt.a+2*tt.e)
			re, err := DeriveRekeyedIKEKeys(tt.suite, PRFHMACSHA256, oldSKd, shared, ni, nr, spii, spir)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(re.concat(), want) {
				t.Error("rekeyed keys differ from the reference derivation")
			}
		})
	}
}

func TestDeriveErrors(t *testing.T) {
	s := IKESuite{EncrAESGCM16, 128, IntegNone, PRFHMACSHA256, DHCurve25519}
	x := []byte{1}
	if _, err := DeriveIKEKeys(s, nil, x, x, 1, 2); !errors.Is(err, ErrEmptyKeyMaterial) {
		t.Errorf("empty Ni: %v", err)
	}
	if _, err := DeriveIKEKeys(s, x, x, nil, 1, 2); !errors.Is(err, ErrEmptyKeyMaterial) {
		t.Errorf("empty g^ir: %v", err)
	}
	if _, err := DeriveRekeyedIKEKeys(s, PRFHMACSHA256, nil, x, x, x, 1, 2); !errors.Is(err, ErrEmptyKeyMaterial) {
		t.Errorf("empty SK_d: %v", err)
	}
	if _, err := DeriveIKEKeys(IKESuite{PRF: 99}, x, x, x, 1, 2); err == nil {
		t.Error("unknown PRF accepted")
	}
	if _, err := DeriveIKEKeys(IKESuite{Encr: 3, PRF: PRFHMACSHA256}, x, x, x, 1, 2); err == nil {
		t.Error("unknown cipher accepted")
	}
	su, _ := LookupESP("aes128gcm16")
	if _, _, err := DeriveChildKeys(PRFHMACSHA256, nil, nil, x, x, su); !errors.Is(err, ErrEmptyKeyMaterial) {
		t.Errorf("empty SK_d: %v", err)
	}
}

func TestDeriveChildKeys(t *testing.T) {
	skd := bytes.Repeat([]byte{0x5a}, 32)
	ni, nr := bytes.Repeat([]byte{1}, 32), bytes.Repeat([]byte{2}, 32)
	pfs := bytes.Repeat([]byte{3}, 32)
	for _, su := range ESPSuites() {
		for _, shared := range [][]byte{nil, pfs} {
			i2r, r2i, err := DeriveChildKeys(PRFHMACSHA256, skd, shared, ni, nr, su)
			if err != nil {
				t.Fatal(err)
			}
			// RFC 7296 2.17: KEYMAT = prf+(SK_d, [g^ir (new) |] Ni | Nr),
			// initiator-to-responder keys first.
			want := refPRFPlus(sha256.New, skd, concat(shared, ni, nr), 2*su.KeyLen())
			if !bytes.Equal(concat(i2r, r2i), want) || len(i2r) != su.KeyLen() || len(r2i) != su.KeyLen() {
				t.Errorf("%s pfs=%v: KEYMAT differs from the reference", su.Name, shared != nil)
			}
			if _, err := NewESPCipher(su, i2r); err != nil {
				t.Errorf("%s: %v", su.Name, err)
			}
			i2r[0] ^= 1
			if r2i[0] != want[su.KeyLen()] {
				t.Errorf("%s: the two directions share memory", su.Name)
			}
		}
	}
}

func BenchmarkDeriveIKEKeys(b *testing.B) {
	s := IKESuite{EncrAESGCM16, 256, IntegNone, PRFHMACSHA256, DHCurve25519}
	ni, nr, shared := make([]byte, 32), make([]byte, 32), make([]byte, 32)
	b.ReportAllocs()
	for b.Loop() {
		k, err := DeriveIKEKeys(s, ni, nr, shared, 1, 2)
		if err != nil {
			b.Fatal(err)
		}
		k.Wipe()
	}
}

// TestPRFPlusAllocs: prf+ with an HMAC PRF makes its output and one keyed
// HMAC, not one per block, and NewPRF allocates nothing.
func TestPRFPlusAllocs(t *testing.T) {
	key, seed := make([]byte, 32), make([]byte, 80)
	if n := testing.AllocsPerRun(100, func() {
		if _, err := NewPRF(PRFHMACSHA256); err != nil {
			t.Fatal(err)
		}
	}); n != 0 {
		t.Errorf("NewPRF: %.1f allocations, want 0", n)
	}
	prf, _ := NewPRF(PRFHMACSHA256)
	// The first Reset of an HMAC saves its keyed state (two allocations),
	// so two blocks are the base.
	two := testing.AllocsPerRun(100, func() { PRFPlus(prf, key, seed, 2*32) })
	seven := testing.AllocsPerRun(100, func() { PRFPlus(prf, key, seed, 7*32) })
	if seven != two {
		t.Errorf("prf+ of 7 blocks: %.1f allocations, of 2 blocks: %.1f; want the same", seven, two)
	}
}
