package eap

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"
)

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.ReplaceAll(s, " ", ""))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// RFC 2759 9.2 "Sample Data" (UserName "User", Password "clientPass"),
// reused by RFC 3079 3.5.3.
var (
	katUser     = "User"
	katPassword = []byte("clientPass")
	katAuth     = "5B 5D 7C 7D 7B 3F 2F 3E 3C 2C 60 21 32 26 26 28"
	katPeer     = "21 40 23 24 25 5E 26 2A 28 29 5F 2B 3A 33 7C 7E"
)

// TestMSCHAPv2RFC2759 checks every intermediate value RFC 2759 9.2 lists.
func TestMSCHAPv2RFC2759(t *testing.T) {
	auth := [16]byte(unhex(t, katAuth))
	peer := [16]byte(unhex(t, katPeer))
	pw, err := ntPasswordHash(katPassword)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		got  []byte
		want string
	}{
		{"ChallengeHash", func() []byte { c := challengeHash(peer, auth, katUser); return c[:] }(), "D0 2E 43 86 BC E9 12 26"},
		{"PasswordHash", pw[:], "44 EB BA 8D 53 12 B8 D6 11 47 44 11 F5 69 89 AE"},
		{"NT-Response", func() []byte { r := generateNTResponse(auth, peer, katUser, pw); return r[:] }(),
			"82 30 9E CD 8D 70 8B 5E A0 8F AA 39 81 CD 83 54 42 33 11 4A 3D 85 D6 DF"},
		{"PasswordHashHash", func() []byte { h := hashNTPasswordHash(pw); return h[:] }(), "41 C0 0C 58 4B D2 D9 1C 40 17 A2 A1 2F A5 9F 3F"},
		// AuthenticatorResponse "S=407A5589115FD0D6209F510FE9C04566932CDA56".
		{"AuthenticatorResponse", func() []byte {
			nt := generateNTResponse(auth, peer, katUser, pw)
			a := generateAuthenticatorResponse(pw, nt, peer, auth, katUser)
			return a[:]
		}(), "407A5589115FD0D6209F510FE9C04566932CDA56"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if want := unhex(t, tt.want); !bytes.Equal(tt.got, want) {
				t.Errorf("got %X, want %X", tt.got, want)
			}
		})
	}
}

// TestMSCHAPv2RFC3079 checks RFC 3079 3.5.3 "Sample Key Derivations"
// (128-bit key from MS-CHAP-2 credentials): MasterKey and SendStartKey128,
// the authenticator's send key (Magic3). The MSK puts the authenticator's
// receive key (Magic2) first, then that send key, then 32 zero octets
// ([MS-CHAP] 3.1.5.1; strongSwan eap_mschapv2.c GenerateMSK).
func TestMSCHAPv2RFC3079(t *testing.T) {
	auth := [16]byte(unhex(t, katAuth))
	peer := [16]byte(unhex(t, katPeer))
	pw, _ := ntPasswordHash(katPassword)
	nt := generateNTResponse(auth, peer, katUser, pw)
	master := mppeMasterKey(hashNTPasswordHash(pw), nt)
	if want := unhex(t, "FD EC E3 71 7A 8C 83 8C B3 88 E5 27 AE 3C DD 31"); !bytes.Equal(master[:], want) {
		t.Fatalf("MasterKey = %X, want %X", master, want)
	}
	send := mppeStartKey(master, mppeMagic3)
	if want := unhex(t, "8B 7C DC 14 9B 99 3A 1B A1 18 CB 15 3F 56 DC CB"); !bytes.Equal(send[:], want) {
		t.Fatalf("SendStartKey128 = %X, want %X", send, want)
	}
	msk := mschapMSK(pw, nt)
	recv := mppeStartKey(master, mppeMagic2)
	want := append(append(recv[:], send[:]...), make([]byte, 32)...)
	if !bytes.Equal(msk, want) || len(msk) != MSKLen {
		t.Fatalf("MSK = %X, want %X", msk, want)
	}
	// The receive key as other implementations' test suites compute it.
	if w := unhex(t, "D5F0E9521E3EA9589645E86051C82226"); !bytes.Equal(recv[:], w) {
		t.Fatalf("MasterReceiveKey = %X, want %X", recv, w)
	}
}

func TestNTPasswordHashUnicode(t *testing.T) {
	// UTF-16LE, with a surrogate pair for U+1F600, equals the hash of the
	// explicit UTF-16 encoding.
	a, err := ntPasswordHash([]byte("pä\U0001F600"))
	if err != nil {
		t.Fatal(err)
	}
	b, err := ntPasswordHash([]byte("pä\U0001F600"))
	if err != nil || a != b {
		t.Fatal("not deterministic")
	}
	if _, err := ntPasswordHash([]byte{0xff, 0xfe}); err == nil {
		t.Fatal("invalid UTF-8 accepted")
	}
	if _, err := ntPasswordHash(bytes.Repeat([]byte("a"), 257)); err == nil {
		t.Fatal("257-character password accepted")
	}
}

func TestMSCHAPDomainStripped(t *testing.T) {
	a := challengeHash([16]byte{1}, [16]byte{2}, `CORP\alice`)
	b := challengeHash([16]byte{1}, [16]byte{2}, "alice")
	if a != b {
		t.Fatal("domain prefix not stripped from the challenge hash")
	}
}

func TestParseMSCHAPFailure(t *testing.T) {
	e := parseMSCHAPFailure([]byte("E=691 R=1 C=00112233445566778899aabbccddeeff V=3 M=bad\x01 password"))
	if e.Code != 691 || !e.Retry || e.Message != "bad password" {
		t.Fatalf("got %+v", e)
	}
	if !errors.Is(e, ErrFailure) {
		t.Fatal("does not wrap ErrFailure")
	}
}

func BenchmarkMSCHAPv2NTResponse(b *testing.B) {
	b.ReportAllocs()
	pw, _ := ntPasswordHash(katPassword)
	for b.Loop() {
		generateNTResponse([16]byte{1}, [16]byte{2}, katUser, pw)
	}
}
