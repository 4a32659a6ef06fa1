package crypto

import (
	"strings"
	"testing"
)

func TestParseESPProposal(t *testing.T) {
	tests := []struct {
		in        string
		wantName  string
		wantGroup string
		wantErr   string // substring; "" means success
	}{
		{in: "aes128gcm16", wantName: "aes128gcm16"},
		{in: "aes128gcm128", wantName: "aes128gcm16"},
		{in: "aes128gcm", wantName: "aes128gcm16"},
		{in: "AES256GCM16", wantName: "aes256gcm16"},
		{in: "aes256gcm128", wantName: "aes256gcm16"},
		{in: "chacha20poly1305", wantName: "chacha20poly1305"},
		{in: "aes128-sha256", wantName: "aes128-sha256"},
		{in: "aes128-sha2_256", wantName: "aes128-sha256"},
		{in: "aes-sha256", wantName: "aes128-sha256"},
		{in: "aes256-sha384", wantName: "aes256-sha384"},
		{in: "aes256-sha2_384", wantName: "aes256-sha384"},
		{in: "aes256-sha512", wantName: "aes256-sha512"},
		{in: "aes128-sha2_512", wantName: "aes128-sha512"},
		{in: "sha256-aes256", wantName: "aes256-sha256"}, // strongSwan accepts any order
		{in: "null-sha256", wantName: "null-sha256"},
		{in: "null-sha512", wantName: "null-sha512"},
		{in: "aes256gcm16-x25519", wantName: "aes256gcm16", wantGroup: "x25519"},
		{in: "aes256gcm16-curve25519", wantName: "aes256gcm16", wantGroup: "x25519"},
		{in: "aes128gcm16-ecp384", wantName: "aes128gcm16", wantGroup: "ecp384"},
		{in: "aes256-sha256-modp2048", wantName: "aes256-sha256", wantGroup: "modp2048"},
		{in: "chacha20poly1305-mlkem768", wantName: "chacha20poly1305", wantGroup: "mlkem768"},
		{in: "aes128gcm16-none", wantName: "aes128gcm16"},
		{in: "aes128gcm16-noesn", wantName: "aes128gcm16"},

		{in: "", wantErr: "empty"},
		{in: "aes128gcm16-", wantErr: "empty keyword"},
		{in: "aes192gcm16", wantErr: `unsupported keyword "aes192gcm16"`},
		{in: "aes128gcm8", wantErr: "unsupported keyword"},
		{in: "3des-sha1", wantErr: "unsupported keyword"},
		{in: "aes128-sha1", wantErr: `unsupported keyword "sha1"`},
		{in: "aes128", wantErr: "needs an integrity algorithm"},
		{in: "null", wantErr: "needs an integrity algorithm"},
		{in: "aes128gcm16-sha256", wantErr: "takes no integrity algorithm"},
		{in: "aes128-aes256-sha256", wantErr: "more than one encryption algorithm"},
		{in: "aes128-sha256-sha384", wantErr: "more than one integrity algorithm"},
		{in: "aes128gcm16-x25519-ecp256", wantErr: "more than one key exchange group"},
		{in: "sha256", wantErr: "no encryption algorithm"},
		{in: "aes128gcm16-modp768", wantErr: "unsupported keyword"},
		{in: "aes128gcm16-esn", wantErr: "extended sequence numbers"},
		{in: "aes128gcm16-prfsha256", wantErr: "unsupported keyword"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			suite, group, err := ParseESPProposal(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatalf("got suite %q, want error containing %q", suite.Name, tt.wantErr)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %q does not contain %q", err, tt.wantErr)
				}
				if !strings.HasPrefix(err.Error(), "crypto: ") {
					t.Fatalf("error %q lacks the package prefix", err)
				}
				if tt.wantErr != "extended sequence numbers" && !strings.Contains(err.Error(), "aes128gcm16, aes256gcm16") {
					t.Fatalf("error %q does not list the supported keywords", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if suite.Name != tt.wantName || group != tt.wantGroup {
				t.Fatalf("got (%q, %q), want (%q, %q)", suite.Name, group, tt.wantName, tt.wantGroup)
			}
		})
	}
}

func TestParseESPProposalESN(t *testing.T) {
	tests := []struct {
		in   string
		want ESNMode
	}{
		{"aes128gcm16", ESNOff},
		{"aes128gcm16-noesn", ESNOff},
		{"aes128gcm16-esn", ESNOn},
		{"aes128gcm16-x25519-esn-noesn", ESNEither},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, _, esn, err := ParseESPProposalESN(tt.in)
			if err != nil || esn != tt.want {
				t.Fatalf("got (%v, %v), want %v", esn, err, tt.want)
			}
		})
	}
}

func TestLookupESP(t *testing.T) {
	for _, s := range ESPSuites() {
		t.Run(s.Name, func(t *testing.T) {
			got, err := LookupESP(s.Name)
			if err != nil || got != s {
				t.Fatalf("LookupESP(%q) = %+v, %v", s.Name, got, err)
			}
		})
	}
	for _, bad := range []string{"aes256gcm16-x25519", "aes128gcm16-none", "blowfish"} {
		t.Run(bad, func(t *testing.T) {
			if _, err := LookupESP(bad); err == nil {
				t.Fatalf("LookupESP(%q) succeeded", bad)
			}
		})
	}
}

// TestESPSuiteParameters pins the wire parameters of every suite to the RFCs.
func TestESPSuiteParameters(t *testing.T) {
	tests := []struct {
		name                                        string
		keyLen, ivLen, icvLen, blockSize, encKeyLen int
	}{
		{"aes128gcm16", 20, 8, 16, 4, 20},      // RFC 4106 8.1: 16 + 4 salt
		{"aes256gcm16", 36, 8, 16, 4, 36},      // RFC 4106 8.1: 32 + 4 salt
		{"chacha20poly1305", 36, 8, 16, 4, 36}, // RFC 7634 2: 32 + 4 salt
		{"aes128-sha256", 48, 16, 16, 16, 16},  // RFC 3602, RFC 4868 2.1.1
		{"aes128-sha384", 64, 16, 24, 16, 16},  // RFC 4868 2.1.1: 48-byte key, 192-bit ICV
		{"aes128-sha512", 80, 16, 32, 16, 16},  // RFC 4868 2.1.1: 64-byte key, 256-bit ICV
		{"aes256-sha256", 64, 16, 16, 16, 32},  //
		{"aes256-sha384", 80, 16, 24, 16, 32},  //
		{"aes256-sha512", 96, 16, 32, 16, 32},  //
		{"null-sha256", 32, 0, 16, 4, 0},       // RFC 2410: no IV, no key
		{"null-sha384", 48, 0, 24, 4, 0},       //
		{"null-sha512", 64, 0, 32, 4, 0},       //
	}
	if len(tests) != len(ESPSuites()) {
		t.Fatalf("table has %d suites, registry %d", len(tests), len(ESPSuites()))
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := LookupESP(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if s.KeyLen() != tt.keyLen || s.IVLen != tt.ivLen || s.ICVLen != tt.icvLen ||
				s.BlockSize != tt.blockSize || s.EncKeyLen != tt.encKeyLen {
				t.Fatalf("got %+v (KeyLen %d)", s, s.KeyLen())
			}
			if s.IsNull() != strings.HasPrefix(tt.name, "null") {
				t.Fatalf("IsNull = %v", s.IsNull())
			}
		})
	}
}

func TestNewESPCipherKeyLength(t *testing.T) {
	for _, s := range ESPSuites() {
		t.Run(s.Name, func(t *testing.T) {
			for _, n := range []int{0, s.KeyLen() - 1, s.KeyLen() + 1} {
				if _, err := NewESPCipher(s, make([]byte, n)); err == nil {
					t.Errorf("key of %d bytes accepted, want %d", n, s.KeyLen())
				}
			}
			c, err := NewESPCipher(s, make([]byte, s.KeyLen()))
			if err != nil {
				t.Fatal(err)
			}
			if c.Suite() != s {
				t.Fatalf("Suite() = %+v", c.Suite())
			}
		})
	}
	t.Run("unknown suite", func(t *testing.T) {
		s := ESPSuites()[0]
		s.ICVLen = 8
		if _, err := NewESPCipher(s, make([]byte, s.KeyLen())); err == nil {
			t.Fatal("suite outside the registry accepted")
		}
	})
}
