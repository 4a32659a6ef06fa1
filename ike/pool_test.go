package ike

import (
	"errors"
	"net/netip"
	"testing"
)

func TestAddrPoolLeases(t *testing.T) {
	p := newAddrPool("office", netip.MustParseAddr("10.3.0.1"), netip.MustParseAddr("10.3.0.3"))
	a, err := p.acquire("alice")
	if err != nil || a != netip.MustParseAddr("10.3.0.1") {
		t.Fatalf("alice: %v %v", a, err)
	}
	b, _ := p.acquire("bob")
	c, _ := p.acquire("carol")
	if b == a || c == a || c == b {
		t.Fatalf("duplicate leases %v %v %v", a, b, c)
	}
	// Exhausted while everyone is online.
	if _, err := p.acquire("dave"); !errors.Is(err, errPoolExhausted) {
		t.Fatalf("dave got an address from a full pool: %v", err)
	}
	// Bob reconnects: same address.
	p.release(b)
	if again, _ := p.acquire("bob"); again != b {
		t.Fatalf("bob got %v back, want %v", again, b)
	}
	// Carol leaves; dave takes her offline lease since nothing is left.
	p.release(c)
	d, err := p.acquire("dave")
	if err != nil || d != c {
		t.Fatalf("dave: %v %v, want carol's %v", d, err, c)
	}
	// Carol comes back: no address left for her.
	if _, err := p.acquire("carol"); !errors.Is(err, errPoolExhausted) {
		t.Fatalf("carol: %v", err)
	}
	if size, on, off := p.stats(); size != 3 || on != 3 || off != 0 {
		t.Fatalf("stats %d %d %d", size, on, off)
	}
}

func TestAddrPoolIPv6(t *testing.T) {
	p := newAddrPool("v6", netip.MustParseAddr("fd00::1"), netip.MustParseAddr("fd00::ffff:ffff:ffff:ffff"))
	if p.size != maxPoolSize {
		t.Fatalf("size %d, want the cap %d", p.size, maxPoolSize)
	}
	a, _ := p.acquire("x")
	b, _ := p.acquire("y")
	if a != netip.MustParseAddr("fd00::1") || b != netip.MustParseAddr("fd00::2") {
		t.Fatalf("got %v %v", a, b)
	}
}
