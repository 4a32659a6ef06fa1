package crypto

import (
	"bytes"
	"crypto/sha1"
	"net/netip"
	"testing"
)

// TestNATDetectionHash checks RFC 7296 2.23 spelled out byte by byte.
func TestNATDetectionHash(t *testing.T) {
	const spii, spir = 0x0011223344556677, 0x8899aabbccddeeff
	spis := []byte{0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff}
	tests := []struct {
		addr string
		ip   []byte
		port []byte
	}{
		{"192.0.2.1:500", []byte{192, 0, 2, 1}, []byte{0x01, 0xf4}},
		{"[::ffff:192.0.2.1]:500", []byte{192, 0, 2, 1}, []byte{0x01, 0xf4}},
		{"[2001:db8::1]:4500", []byte{0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, []byte{0x11, 0x94}},
		{"[fe80::1%eth0]:4500", []byte{0xfe, 0x80, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, []byte{0x11, 0x94}},
	}
	for _, tt := range tests {
		t.Run(tt.addr, func(t *testing.T) {
			want := sha1.Sum(append(append(append([]byte(nil), spis...), tt.ip...), tt.port...))
			got := NATDetectionHash(spii, spir, netip.MustParseAddrPort(tt.addr))
			if !bytes.Equal(got, want[:]) {
				t.Errorf("got %x, want %x", got, want)
			}
		})
	}
	// SPIr is zero in an IKE_SA_INIT request; the hash must still change
	// with every input.
	a := NATDetectionHash(1, 0, netip.MustParseAddrPort("192.0.2.1:500"))
	for _, b := range [][]byte{
		NATDetectionHash(2, 0, netip.MustParseAddrPort("192.0.2.1:500")),
		NATDetectionHash(1, 1, netip.MustParseAddrPort("192.0.2.1:500")),
		NATDetectionHash(1, 0, netip.MustParseAddrPort("192.0.2.2:500")),
		NATDetectionHash(1, 0, netip.MustParseAddrPort("192.0.2.1:4500")),
	} {
		if bytes.Equal(a, b) {
			t.Error("hash ignores an input")
		}
	}
	if len(NATDetectionHash(1, 2, netip.AddrPort{})) != sha1.Size {
		t.Error("zero AddrPort")
	}
}
