package crypto

import (
	"slices"
	"strings"
	"testing"
)

func tf(typ uint8, id uint16, keyLen uint16) Transform {
	return Transform{Type: typ, ID: id, KeyLen: keyLen}
}

var (
	tAES128GCM = tf(TransformENCR, EncrAESGCM16, 128)
	tAES256GCM = tf(TransformENCR, EncrAESGCM16, 256)
	tChaCha    = tf(TransformENCR, EncrChaCha20Poly1305, 0)
	tAES128    = tf(TransformENCR, EncrAESCBC, 128)
	tAES256    = tf(TransformENCR, EncrAESCBC, 256)
	tSHA1I     = tf(TransformINTEG, IntegHMACSHA196, 0)
	tSHA256I   = tf(TransformINTEG, IntegHMACSHA256128, 0)
	tSHA384I   = tf(TransformINTEG, IntegHMACSHA384192, 0)
	tNoInteg   = tf(TransformINTEG, IntegNone, 0)
	tPRF1      = tf(TransformPRF, PRFHMACSHA1, 0)
	tPRF256    = tf(TransformPRF, PRFHMACSHA256, 0)
	tPRF384    = tf(TransformPRF, PRFHMACSHA384, 0)
	tPRF512    = tf(TransformPRF, PRFHMACSHA512, 0)
	tX25519    = tf(TransformDH, DHCurve25519, 0)
	tECP256    = tf(TransformDH, DHECP256, 0)
	tECP384    = tf(TransformDH, DHECP384, 0)
	tMODP1024  = tf(TransformDH, DHMODP1024, 0)
	tMODP2048  = tf(TransformDH, DHMODP2048, 0)
	tDHNone    = tf(TransformDH, DHNone, 0)
	tNoESN     = tf(TransformESN, ESNNoExtended, 0)
	tESN       = tf(TransformESN, ESNExtended, 0)
)

func ike(ts ...Transform) Proposal { return Proposal{Protocol: ProtocolIKE, Transforms: ts} }
func esp(ts ...Transform) Proposal { return Proposal{Protocol: ProtocolESP, Transforms: ts} }

func TestParseIKEProposal(t *testing.T) {
	tests := []struct {
		in      string
		want    Proposal
		wantErr string
	}{
		{in: "aes128gcm16-prfsha256-x25519", want: ike(tAES128GCM, tPRF256, tX25519)},
		{in: "aes256gcm16-prfsha384-ecp384", want: ike(tAES256GCM, tPRF384, tECP384)},
		{in: "chacha20poly1305-prfsha256-x25519", want: ike(tChaCha, tPRF256, tX25519)},
		{in: "AES128GCM128-PRFSHA256-CURVE25519", want: ike(tAES128GCM, tPRF256, tX25519)},
		// strongSwan: with classic encryption, sha256 is INTEG and implies the PRF.
		{in: "aes256-sha256-modp2048", want: ike(tAES256, tSHA256I, tPRF256, tMODP2048)},
		{in: "aes256-sha256-prfsha384-modp2048", want: ike(tAES256, tSHA256I, tPRF384, tMODP2048)},
		{in: "aes128-aes256-sha256-sha384-ecp256", want: ike(tAES128, tAES256, tSHA256I, tSHA384I, tPRF256, tPRF384, tECP256)},
		{in: "aes128-sha1-modp1024", want: ike(tAES128, tSHA1I, tPRF1, tMODP1024)},
		{in: "aes128gcm16-prfsha1-modp1024", want: ike(tAES128GCM, tPRF1, tMODP1024)},
		// strongSwan: in an AEAD-only proposal sha384 stands for its PRF.
		{in: "aes256gcm16-sha384-x25519", want: ike(tAES256GCM, tPRF384, tX25519)},
		{in: "aes128gcm16-aes256gcm16-prfsha256-prfsha384-x25519-ecp256",
			want: ike(tAES128GCM, tAES256GCM, tPRF256, tPRF384, tX25519, tECP256)},
		{in: "x25519-prfsha256-aes128gcm16", want: ike(tAES128GCM, tPRF256, tX25519)}, // any order
		{in: "aes128gcm16-aes128gcm128-prfsha256-x25519", want: ike(tAES128GCM, tPRF256, tX25519)},

		{in: "", wantErr: "empty"},
		{in: "aes128gcm16--x25519", wantErr: "empty keyword"},
		{in: "aes128gcm16-prfsha256-x448", wantErr: `unsupported keyword "x448"`},
		{in: "3des-sha256-modp2048", wantErr: `unsupported keyword "3des"`},
		{in: "null-sha256-modp2048", wantErr: `unsupported keyword "null"`},
		{in: "prfsha256-x25519", wantErr: "no encryption algorithm"},
		{in: "aes128-prfsha256-x25519", wantErr: "needs an integrity algorithm"},
		{in: "aes128gcm16-x25519", wantErr: "no pseudorandom function"},
		{in: "aes128gcm16-prfsha256", wantErr: "no key exchange group"},
		{in: "aes128-aes128gcm16-sha256-x25519", wantErr: "classic and AEAD"},
		{in: "aes128gcm16-sha256-prfsha256-x25519", wantErr: "take no integrity algorithm"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseIKEProposal(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "crypto: ") || !strings.Contains(err.Error(), "prfsha256") {
					t.Errorf("error %q lacks the package prefix or the keyword list", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Protocol != tt.want.Protocol || !slices.Equal(got.Transforms, tt.want.Transforms) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestParseESPProposalTransforms(t *testing.T) {
	tests := []struct {
		in      string
		want    Proposal
		wantErr string
	}{
		{in: "aes128gcm16", want: esp(tAES128GCM, tNoESN)},
		{in: "aes256gcm16-ecp384", want: esp(tAES256GCM, tECP384, tNoESN)},
		{in: "aes256-sha256", want: esp(tAES256, tSHA256I, tNoESN)},
		{in: "chacha20poly1305", want: esp(tChaCha, tNoESN)},
		{in: "aes128gcm16-esn", want: esp(tAES128GCM, tESN)},
		{in: "aes128gcm16-noesn", want: esp(tAES128GCM, tNoESN)},
		{in: "aes128gcm16-esn-noesn", want: esp(tAES128GCM, tESN, tNoESN)},
		{in: "aes128gcm16-x25519-none", want: esp(tAES128GCM, tX25519, tDHNone, tNoESN)},
		{in: "aes128gcm16-none", want: esp(tAES128GCM, tNoESN)},
		{in: "aes128gcm16-aes256gcm16-x25519-ecp256", want: esp(tAES128GCM, tAES256GCM, tX25519, tECP256, tNoESN)},
		{in: "aes128-aes256-sha256-sha384", want: esp(tAES128, tAES256, tSHA256I, tSHA384I, tNoESN)},
		{in: "null-sha256", want: esp(tf(TransformENCR, EncrNull, 0), tSHA256I, tNoESN)},

		{in: "", wantErr: "empty"},
		{in: "-noesn", wantErr: "empty keyword"},
		{in: "noesn", wantErr: "no encryption algorithm"},
		{in: "aes128gcm16-sha256", wantErr: "take no integrity algorithm"},
		{in: "aes128", wantErr: "needs an integrity algorithm"},
		{in: "aes128-sha1", wantErr: `unsupported keyword "sha1"`},
		{in: "aes128gcm16-prfsha256", wantErr: `unsupported keyword "prfsha256"`},
		{in: "aes128gcm16-x448", wantErr: `unsupported keyword "x448"`},
		{in: "aes128gcm16-aes128-sha256", wantErr: "classic and AEAD"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseESPProposalTransforms(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got.Protocol != tt.want.Protocol || !slices.Equal(got.Transforms, tt.want.Transforms) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestSelectProposal(t *testing.T) {
	tests := []struct {
		name         string
		local, offer []Proposal
		want         Proposal
		wantIndex    int
	}{
		{
			name:      "exact",
			local:     []Proposal{ike(tAES128GCM, tPRF256, tX25519)},
			offer:     []Proposal{ike(tAES128GCM, tPRF256, tX25519)},
			want:      ike(tAES128GCM, tPRF256, tX25519),
			wantIndex: 0,
		},
		{
			name:      "peer order wins within a proposal",
			local:     []Proposal{ike(tAES128GCM, tAES256GCM, tPRF256, tPRF384, tX25519, tECP256)},
			offer:     []Proposal{ike(tAES256GCM, tAES128GCM, tPRF384, tPRF256, tECP256, tX25519)},
			want:      ike(tAES256GCM, tPRF384, tECP256),
			wantIndex: 0,
		},
		{
			name:      "first acceptable offered proposal",
			local:     []Proposal{ike(tAES128, tSHA256I, tPRF256, tMODP2048)},
			offer:     []Proposal{ike(tAES128GCM, tPRF256, tX25519), ike(tAES256, tAES128, tSHA384I, tSHA256I, tPRF256, tMODP2048)},
			want:      ike(tAES128, tSHA256I, tPRF256, tMODP2048),
			wantIndex: 1,
		},
		{
			name:      "transforms of one local proposal only",
			local:     []Proposal{ike(tAES128GCM, tPRF256, tX25519), ike(tAES256GCM, tPRF384, tECP384)},
			offer:     []Proposal{ike(tAES128GCM, tPRF384, tECP384)},
			wantIndex: -1,
		},
		{
			name:      "no common DH group",
			local:     DefaultIKEProposals(),
			offer:     []Proposal{ike(tAES128GCM, tPRF256, tMODP1024)},
			wantIndex: -1,
		},
		{
			name:      "defaults accept the strongSwan default",
			local:     DefaultIKEProposals(),
			offer:     []Proposal{ike(tAES128, tAES256, tSHA256I, tSHA384I, tPRF256, tPRF384, tECP256, tX25519, tMODP2048)},
			want:      ike(tAES128, tSHA256I, tPRF256, tECP256),
			wantIndex: 0,
		},
		{
			name:      "protocol must match",
			local:     []Proposal{esp(tAES128GCM, tNoESN)},
			offer:     []Proposal{ike(tAES128GCM, tPRF256, tX25519)},
			wantIndex: -1,
		},
		{
			name:      "offered INTEG NONE with an AEAD",
			local:     []Proposal{ike(tAES128GCM, tPRF256, tX25519)},
			offer:     []Proposal{ike(tAES128GCM, tNoInteg, tPRF256, tX25519)},
			want:      ike(tAES128GCM, tNoInteg, tPRF256, tX25519),
			wantIndex: 0,
		},
		{
			name:      "malformed offer mixing AEAD and INTEG",
			local:     []Proposal{ike(tAES128GCM, tPRF256, tX25519), ike(tAES128, tSHA256I, tPRF256, tX25519)},
			offer:     []Proposal{ike(tAES128GCM, tAES128, tSHA256I, tPRF256, tX25519)},
			want:      ike(tAES128, tSHA256I, tPRF256, tX25519),
			wantIndex: 0,
		},
		{
			name:      "ESP without PFS",
			local:     DefaultESPProposals(),
			offer:     []Proposal{esp(tAES256GCM, tNoESN)},
			want:      esp(tAES256GCM, tNoESN),
			wantIndex: 0,
		},
		{
			name:      "ESP PFS required locally, peer offers none",
			local:     []Proposal{esp(tAES128GCM, tX25519, tNoESN)},
			offer:     []Proposal{esp(tAES128GCM, tNoESN)},
			wantIndex: -1,
		},
		{
			name:      "ESP PFS optional locally, peer offers none",
			local:     []Proposal{esp(tAES128GCM, tX25519, tDHNone, tNoESN)},
			offer:     []Proposal{esp(tAES128GCM, tNoESN)},
			want:      esp(tAES128GCM, tNoESN),
			wantIndex: 0,
		},
		{
			name:      "ESP PFS offered, local has none",
			local:     []Proposal{esp(tAES128GCM, tNoESN)},
			offer:     []Proposal{esp(tAES128GCM, tECP256, tNoESN)},
			wantIndex: -1,
		},
		{
			name:      "ESP PFS offered as optional, local has none",
			local:     []Proposal{esp(tAES128GCM, tNoESN)},
			offer:     []Proposal{esp(tAES128GCM, tECP256, tDHNone, tNoESN)},
			want:      esp(tAES128GCM, tDHNone, tNoESN),
			wantIndex: 0,
		},
		{
			name:      "ESN either offered, local no ESN",
			local:     []Proposal{esp(tAES128GCM, tNoESN)},
			offer:     []Proposal{esp(tAES128GCM, tESN, tNoESN)},
			want:      esp(tAES128GCM, tNoESN),
			wantIndex: 0,
		},
		{
			name:      "ESN required by peer, local no ESN",
			local:     []Proposal{esp(tAES128GCM, tNoESN)},
			offer:     []Proposal{esp(tAES128GCM, tESN)},
			wantIndex: -1,
		},
		{
			name:      "ChaCha20 with a superfluous key length",
			local:     []Proposal{esp(tChaCha, tNoESN)},
			offer:     []Proposal{esp(tf(TransformENCR, EncrChaCha20Poly1305, 256), tNoESN)},
			want:      esp(tf(TransformENCR, EncrChaCha20Poly1305, 256), tNoESN),
			wantIndex: 0,
		},
		{
			name:      "key length must match",
			local:     []Proposal{esp(tAES128GCM, tNoESN)},
			offer:     []Proposal{esp(tf(TransformENCR, EncrAESGCM16, 192), tNoESN)},
			wantIndex: -1,
		},
		{
			name:      "unknown transform type in offer",
			local:     []Proposal{ike(tAES128GCM, tPRF256, tX25519)},
			offer:     []Proposal{ike(tAES128GCM, tPRF256, tX25519, tf(6, 35, 0))},
			wantIndex: -1,
		},
		{
			name:      "nothing offered",
			local:     DefaultIKEProposals(),
			wantIndex: -1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, idx, ok := SelectProposal(tt.local, tt.offer)
			if ok != (tt.wantIndex >= 0) || idx != tt.wantIndex {
				t.Fatalf("index %d ok %v, want %d (chose %v)", idx, ok, tt.wantIndex, got)
			}
			if !ok {
				return
			}
			if got.Protocol != tt.want.Protocol || !slices.Equal(got.Transforms, tt.want.Transforms) {
				t.Errorf("chose %v, want %v", got, tt.want)
			}
			// The initiator must accept what the responder chose.
			if !tt.offer[idx].Contains(got) {
				t.Errorf("offer %v does not Contain chosen %v", tt.offer[idx], got)
			}
		})
	}
}

func TestProposalContains(t *testing.T) {
	offer := ike(tAES128GCM, tAES256GCM, tPRF256, tPRF384, tX25519, tECP256)
	tests := []struct {
		name   string
		chosen Proposal
		want   bool
	}{
		{"one of each", ike(tAES256GCM, tPRF256, tECP256), true},
		{"integ NONE is absence", ike(tAES256GCM, tNoInteg, tPRF256, tECP256), true},
		{"not offered", ike(tChaCha, tPRF256, tECP256), false},
		{"two of a type", ike(tAES128GCM, tAES256GCM, tPRF256, tECP256), false},
		{"type missing", ike(tAES128GCM, tX25519), false},
		{"extra type", ike(tAES128GCM, tPRF256, tX25519, tNoESN), false},
		{"extra integ", ike(tAES128GCM, tSHA256I, tPRF256, tX25519), false},
		{"wrong protocol", esp(tAES128GCM, tPRF256, tX25519), false},
		{"empty", Proposal{}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := offer.Contains(tt.chosen); got != tt.want {
				t.Errorf("Contains(%v) = %v, want %v", tt.chosen, got, tt.want)
			}
		})
	}
}

func TestDefaultProposals(t *testing.T) {
	for _, p := range append(DefaultIKEProposals(), DefaultESPProposals()...) {
		for _, tr := range p.Transforms {
			switch tr {
			case tSHA1I, tPRF1, tMODP1024:
				t.Errorf("default %v contains %v, which RFC 8247 rules out", p, tr)
			}
		}
	}
	// Every combination in the defaults must be runnable.
	for _, p := range DefaultIKEProposals() {
		for _, e := range p.Of(TransformENCR) {
			integs := p.Of(TransformINTEG)
			if len(integs) == 0 {
				integs = []Transform{{}}
			}
			for _, i := range integs {
				for _, f := range p.Of(TransformPRF) {
					for _, d := range p.Of(TransformDH) {
						c := ike(e, f, d)
						if i.Type != 0 {
							c = ike(e, i, f, d)
						}
						if _, err := SuiteFromProposal(c); err != nil {
							t.Errorf("%v: %v", c, err)
						}
					}
				}
			}
		}
	}
	for _, p := range DefaultESPProposals() {
		got, _, ok := SelectProposal([]Proposal{p}, []Proposal{p})
		if !ok {
			t.Fatalf("default %v does not select itself", p)
		}
		if _, _, _, err := ChildFromProposal(got); err != nil {
			t.Errorf("%v: %v", got, err)
		}
	}
	a, b := DefaultIKEProposals(), DefaultIKEProposals()
	a[0].Transforms[0] = Transform{}
	if b[0].Transforms[0] == (Transform{}) {
		t.Error("DefaultIKEProposals shares its slices")
	}
}

func TestSuiteFromProposal(t *testing.T) {
	tests := []struct {
		in       Proposal
		want     IKESuite
		wantName string
		wantErr  string
	}{
		{in: ike(tAES128GCM, tPRF256, tX25519), want: IKESuite{EncrAESGCM16, 128, IntegNone, PRFHMACSHA256, DHCurve25519},
			wantName: "AES_GCM_16_128/PRF_HMAC_SHA2_256/CURVE_25519"},
		{in: ike(tAES256, tSHA256I, tPRF256, tMODP2048), want: IKESuite{EncrAESCBC, 256, IntegHMACSHA256128, PRFHMACSHA256, DHMODP2048},
			wantName: "AES_CBC_256/HMAC_SHA2_256_128/PRF_HMAC_SHA2_256/MODP_2048"},
		{in: ike(tf(TransformENCR, EncrChaCha20Poly1305, 256), tNoInteg, tPRF512, tECP384), want: IKESuite{EncrChaCha20Poly1305, 0, IntegNone, PRFHMACSHA512, DHECP384},
			wantName: "CHACHA20_POLY1305/PRF_HMAC_SHA2_512/ECP_384"},
		{in: ike(tAES128GCM, tAES256GCM, tPRF256, tX25519), wantErr: "2 transforms of type 1"},
		{in: ike(tAES128GCM, tSHA256I, tPRF256, tX25519), wantErr: "AEAD takes no integrity"},
		{in: ike(tAES128, tPRF256, tX25519), wantErr: "needs an integrity"},
		{in: ike(tAES128GCM, tX25519), wantErr: "needs one encryption algorithm, one PRF"},
		{in: ike(tf(TransformENCR, EncrAESCBC, 64), tSHA256I, tPRF256, tX25519), wantErr: "key length 64"},
		{in: ike(tf(TransformENCR, 3, 0), tSHA256I, tPRF256, tX25519), wantErr: "unsupported encryption"},
		{in: ike(tAES128GCM, tf(TransformPRF, 4, 0), tX25519), wantErr: "unsupported PRF"},
		{in: ike(tAES128GCM, tPRF256, tf(TransformDH, 5, 0)), wantErr: "unsupported Diffie-Hellman group"},
		{in: ike(tAES128GCM, tPRF256, tX25519, tNoESN), wantErr: "no place in an IKE proposal"},
		{in: esp(tAES128GCM, tPRF256, tX25519), wantErr: "not an IKE proposal"},
	}
	for _, tt := range tests {
		t.Run(tt.in.String(), func(t *testing.T) {
			got, err := SuiteFromProposal(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || got.String() != tt.wantName {
				t.Errorf("got %+v %q, want %+v %q", got, got, tt.want, tt.wantName)
			}
		})
	}
}

func TestChildFromProposal(t *testing.T) {
	tests := []struct {
		in       Proposal
		wantName string
		wantDH   uint16
		wantESN  bool
		wantErr  string
	}{
		{in: esp(tAES128GCM, tNoESN), wantName: "aes128gcm16"},
		{in: esp(tAES256GCM, tECP384, tESN), wantName: "aes256gcm16", wantDH: DHECP384, wantESN: true},
		{in: esp(tChaCha), wantName: "chacha20poly1305"},
		{in: esp(tAES256, tSHA256I, tDHNone, tNoESN), wantName: "aes256-sha256"},
		{in: esp(tAES256, tSHA1I, tNoESN), wantErr: "not an ESP suite"},
		{in: esp(tAES128GCM, tSHA256I, tNoESN), wantErr: "not an ESP suite"},
		{in: esp(tAES128GCM, tESN, tNoESN), wantErr: "2 transforms of type 5"},
		{in: esp(tAES128GCM, tPRF256, tNoESN), wantErr: "no place in an ESP proposal"},
		{in: esp(tAES128GCM, tf(TransformDH, 5, 0), tNoESN), wantErr: "unsupported Diffie-Hellman"},
		{in: esp(tNoESN), wantErr: "no encryption"},
		{in: ike(tAES128GCM, tNoESN), wantErr: "not an ESP proposal"},
	}
	for _, tt := range tests {
		t.Run(tt.in.String(), func(t *testing.T) {
			suite, dh, esn, err := ChildFromProposal(tt.in)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want containing %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if suite.Name != tt.wantName || dh != tt.wantDH || esn != tt.wantESN {
				t.Errorf("got %s dh %d esn %v, want %s %d %v", suite.Name, dh, esn, tt.wantName, tt.wantDH, tt.wantESN)
			}
		})
	}
}

// The ESP cipher part of ParseESPProposalTransforms and ParseESPProposal
// come from one registry: they must agree on every suite.
func TestESPProposalTransformsAgreeWithRegistry(t *testing.T) {
	for _, su := range ESPSuites() {
		p, err := ParseESPProposalTransforms(su.Name)
		if err != nil {
			t.Fatalf("%s: %v", su.Name, err)
		}
		got, _, _, err := ChildFromProposal(p)
		if err != nil || got != su {
			t.Errorf("%s: got %+v, %v", su.Name, got, err)
		}
	}
}

func FuzzParseIKEProposal(f *testing.F) {
	for _, s := range []string{
		"aes128gcm16-prfsha256-x25519", "aes256gcm16-prfsha384-ecp384", "chacha20poly1305-prfsha256-x25519",
		"aes256-sha256-modp2048", "aes128gcm16-aes256gcm16-prfsha256-prfsha384-x25519-ecp256", "",
		"-", "aes128--", "aes128-aes128gcm16-sha1-modp1024", "AES256GCM16-SHA384-X25519",
	} {
		f.Add(s)
	}
	local := DefaultIKEProposals()
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseIKEProposal(s)
		if err != nil {
			return
		}
		if p.Protocol != ProtocolIKE || len(p.Of(TransformENCR)) == 0 || len(p.Of(TransformPRF)) == 0 || len(p.Of(TransformDH)) == 0 {
			t.Fatalf("%q parsed to incomplete %v", s, p)
		}
		// Whatever parses must select against itself into a runnable suite.
		chosen, _, ok := SelectProposal([]Proposal{p}, []Proposal{p})
		if !ok {
			t.Fatalf("%v does not select itself", p)
		}
		if _, err := SuiteFromProposal(chosen); err != nil {
			t.Fatalf("%v: %v", chosen, err)
		}
		SelectProposal(local, []Proposal{p})
	})
}

func FuzzParseESPProposalTransforms(f *testing.F) {
	for _, s := range []string{
		"aes128gcm16", "aes256gcm16-ecp384", "aes256-sha256", "chacha20poly1305", "aes128gcm16-esn",
		"-noesn", "aes128gcm16-esn-noesn", "null-sha512", "aes128gcm16-x25519-none", "",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParseESPProposalTransforms(s)
		if err != nil {
			return
		}
		chosen, _, ok := SelectProposal([]Proposal{p}, []Proposal{p})
		if !ok {
			t.Fatalf("%v does not select itself", p)
		}
		if _, _, _, err := ChildFromProposal(chosen); err != nil {
			t.Fatalf("%v: %v", chosen, err)
		}
	})
}
