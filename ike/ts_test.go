package ike

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"testing"

	"github.com/esptun/esptun/config"
	"github.com/esptun/esptun/ike/wire"
	"github.com/esptun/esptun/spd"
)

// ts builds a traffic selector from "START-END" or a prefix, with an
// optional protocol and port range.
func ts(t testing.TB, addrs string, proto uint8, lo, hi uint16) wire.TrafficSelector {
	t.Helper()
	var start, end netip.Addr
	if a, b, ok := strings.Cut(addrs, "-"); ok {
		start, end = netip.MustParseAddr(a), netip.MustParseAddr(b)
	} else {
		p := netip.MustParsePrefix(addrs)
		start, end = p.Masked().Addr(), lastAddr(p.Masked())
	}
	typ := wire.TSIPv4AddrRange
	if start.Is6() {
		typ = wire.TSIPv6AddrRange
	}
	return wire.TrafficSelector{Type: typ, IPProtocol: proto, StartPort: lo, EndPort: hi, StartAddr: start, EndAddr: end}
}

func tsString(x wire.TrafficSelector) string {
	return fmt.Sprintf("%s-%s/%d/%d-%d", x.StartAddr, x.EndAddr, x.IPProtocol, x.StartPort, x.EndPort)
}

func TestRangeToPrefixes(t *testing.T) {
	tests := []struct {
		start, end string
		want       string // prefixes joined by space; "" = none
	}{
		{"10.0.0.0", "10.0.0.255", "10.0.0.0/24"},
		{"10.0.0.5", "10.0.0.5", "10.0.0.5/32"},
		{"0.0.0.0", "255.255.255.255", "0.0.0.0/0"},
		{"10.0.0.1", "10.0.0.6", "10.0.0.1/32 10.0.0.2/31 10.0.0.4/31 10.0.0.6/32"},
		{"10.0.0.0", "10.0.1.255", "10.0.0.0/23"},
		{"10.0.0.255", "10.0.1.0", "10.0.0.255/32 10.0.1.0/32"},
		{"192.168.1.10", "192.168.1.20", "192.168.1.10/31 192.168.1.12/30 192.168.1.16/30 192.168.1.20/32"},
		{"::", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "::/0"},
		{"fd00::", "fd00::ffff", "fd00::/112"},
		{"fd00::1", "fd00::2", "fd00::1/128 fd00::2/128"},
		{"10.0.0.2", "10.0.0.1", ""}, // backwards
		{"10.0.0.1", "fd00::1", ""},  // families differ
		{"255.255.255.255", "255.255.255.255", "255.255.255.255/32"},
		{"fd00::", "fd00::ffff:ffff:ffff:ffff", "fd00::/64"},
		{"fd00::ffff:ffff:ffff:ffff", "fd00:0:0:1::", "fd00::ffff:ffff:ffff:ffff/128 fd00:0:0:1::/128"},
		{"fd00::8000:0:0:0", "fd00:0:0:1:7fff:ffff:ffff:ffff", "fd00::8000:0:0:0/65 fd00:0:0:1::/65"},
		{"ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe/127"},
	}
	for _, tc := range tests {
		t.Run(tc.start+"-"+tc.end, func(t *testing.T) {
			var got []string
			for _, p := range rangeToPrefixes(netip.MustParseAddr(tc.start), netip.MustParseAddr(tc.end)) {
				got = append(got, p.String())
			}
			if s := strings.Join(got, " "); s != tc.want {
				t.Errorf("got %q, want %q", s, tc.want)
			}
		})
	}
	if got := rangeToPrefixes(netip.Addr{}, netip.MustParseAddr("10.0.0.1")); got != nil {
		t.Errorf("invalid start: %v", got)
	}
	// A pathological range is cut off rather than producing thousands.
	if got := rangeToPrefixes(netip.MustParseAddr("::1"), netip.MustParseAddr("ffff:ffff:ffff:ffff:ffff:ffff:ffff:fffe")); len(got) > 257 {
		t.Errorf("%d prefixes", len(got))
	}
}

func TestIntersectTS(t *testing.T) {
	tests := []struct {
		name string
		a, b wire.TrafficSelector
		want string // "" = empty intersection
	}{
		{"narrow-subnet", ts(t, "10.0.0.0/16", 0, 0, 65535), ts(t, "10.0.1.0/24", 0, 0, 65535), "10.0.1.0-10.0.1.255/0/0-65535"},
		{"symmetric", ts(t, "10.0.1.0/24", 0, 0, 65535), ts(t, "10.0.0.0/16", 0, 0, 65535), "10.0.1.0-10.0.1.255/0/0-65535"},
		{"overlap-ranges", ts(t, "10.0.0.10-10.0.0.20", 0, 0, 65535), ts(t, "10.0.0.15-10.0.0.30", 0, 0, 65535), "10.0.0.15-10.0.0.20/0/0-65535"},
		{"disjoint", ts(t, "10.0.0.0/24", 0, 0, 65535), ts(t, "10.0.1.0/24", 0, 0, 65535), ""},
		{"touching", ts(t, "10.0.0.0-10.0.0.10", 0, 0, 65535), ts(t, "10.0.0.10-10.0.0.20", 0, 0, 65535), "10.0.0.10-10.0.0.10/0/0-65535"},
		{"families", ts(t, "10.0.0.0/8", 0, 0, 65535), ts(t, "fd00::/8", 0, 0, 65535), ""},
		{"proto-any-vs-tcp", ts(t, "10.0.0.0/8", 0, 0, 65535), ts(t, "10.0.0.0/8", 6, 0, 65535), "10.0.0.0-10.255.255.255/6/0-65535"},
		{"tcp-vs-any", ts(t, "10.0.0.0/8", 6, 0, 65535), ts(t, "10.0.0.0/8", 0, 0, 65535), "10.0.0.0-10.255.255.255/6/0-65535"},
		{"tcp-vs-udp", ts(t, "10.0.0.0/8", 6, 0, 65535), ts(t, "10.0.0.0/8", 17, 0, 65535), ""},
		{"ports", ts(t, "10.0.0.0/8", 6, 80, 443), ts(t, "10.0.0.0/8", 6, 443, 8443), "10.0.0.0-10.255.255.255/6/443-443"},
		{"ports-disjoint", ts(t, "10.0.0.0/8", 6, 80, 81), ts(t, "10.0.0.0/8", 6, 443, 443), ""},
		{"ports-any-vs-range", ts(t, "10.0.0.0/8", 17, 0, 65535), ts(t, "10.0.0.0/8", 17, 500, 600), "10.0.0.0-10.255.255.255/17/500-600"},
		// RFC 4301 4.4.1: OPAQUE (start 65535, end 0) matches only OPAQUE.
		{"opaque-both", ts(t, "10.0.0.0/8", 6, 65535, 0), ts(t, "10.0.0.0/8", 6, 65535, 0), "10.0.0.0-10.255.255.255/6/65535-0"},
		{"opaque-vs-any", ts(t, "10.0.0.0/8", 6, 65535, 0), ts(t, "10.0.0.0/8", 6, 0, 65535), ""},
		{"opaque-vs-port", ts(t, "10.0.0.0/8", 6, 65535, 0), ts(t, "10.0.0.0/8", 6, 80, 80), ""},
		{"v6", ts(t, "fd00::/64", 0, 0, 65535), ts(t, "fd00::1-fd00::ffff", 58, 0, 65535), "fd00::1-fd00::ffff/58/0-65535"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			x, ok := intersectTS(tc.a, tc.b)
			got := ""
			if ok {
				got = tsString(x)
				if x.Type != tc.a.Type {
					t.Errorf("type %v, want %v", x.Type, tc.a.Type)
				}
			}
			if got != tc.want {
				t.Errorf("got %q, want %q", got, tc.want)
			}
		})
	}
}

func TestNarrow(t *testing.T) {
	offered := []wire.TrafficSelector{
		ts(t, "10.0.0.0/16", 0, 0, 65535),
		ts(t, "10.9.0.0/16", 0, 0, 65535),
		ts(t, "fd00::/64", 0, 0, 65535),
	}
	configured := []wire.TrafficSelector{
		ts(t, "10.0.1.0/24", 0, 0, 65535),
		ts(t, "10.0.2.0/24", 6, 443, 443),
		ts(t, "10.0.1.0/24", 0, 0, 65535), // a duplicate yields one result
	}
	var got []string
	for _, x := range narrow(offered, configured) {
		got = append(got, tsString(x))
	}
	want := "10.0.1.0-10.0.1.255/0/0-65535 10.0.2.0-10.0.2.255/6/443-443"
	if s := strings.Join(got, " "); s != want {
		t.Errorf("narrow = %q, want %q", s, want)
	}
	if n := narrow(offered[1:2], configured); len(n) != 0 {
		t.Errorf("nothing in common, got %v", n)
	}
	if n := narrow(nil, configured); len(n) != 0 {
		t.Errorf("nothing offered, got %v", n)
	}
}

func TestSubsetOf(t *testing.T) {
	offered := []wire.TrafficSelector{ts(t, "10.0.0.0/16", 0, 0, 65535), ts(t, "10.5.0.0/24", 6, 0, 65535)}
	tests := []struct {
		name string
		got  []wire.TrafficSelector
		want bool
	}{
		{"equal", offered, true},
		{"narrowed", []wire.TrafficSelector{ts(t, "10.0.1.0/24", 0, 0, 65535)}, true},
		{"narrowed-proto", []wire.TrafficSelector{ts(t, "10.0.1.0/24", 17, 53, 53)}, true},
		{"wider", []wire.TrafficSelector{ts(t, "10.0.0.0/8", 0, 0, 65535)}, false},
		{"outside", []wire.TrafficSelector{ts(t, "10.1.0.0/24", 0, 0, 65535)}, false},
		{"proto-widened", []wire.TrafficSelector{ts(t, "10.5.0.0/24", 0, 0, 65535)}, false},
		{"one-of-two-outside", []wire.TrafficSelector{ts(t, "10.0.1.0/24", 0, 0, 65535), ts(t, "10.6.0.0/24", 0, 0, 65535)}, false},
		{"empty", nil, false}, // a response without selectors is not acceptable
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := subsetOf(tc.got, offered); got != tc.want {
				t.Errorf("subsetOf = %v, want %v", got, tc.want)
			}
		})
	}
}

// TestSelectorRoundTrip: an SPD selector converted to a traffic selector
// and back is the same selector.
func TestSelectorRoundTrip(t *testing.T) {
	for _, s := range []string{"10.1.0.0/24", "0.0.0.0/0", "192.0.2.7/32", "fd00::/48", "::/0"} {
		p := netip.MustParsePrefix(s)
		x := selectorToTS(selectorForTest(p))
		back := tsToSelectors(x)
		if len(back) != 1 || back[0].Prefix != p || back[0].PortLow != 0 || back[0].PortHigh != 65535 {
			t.Errorf("%s: round trip gave %v", s, back)
		}
	}
}

func selectorForTest(p netip.Prefix) spd.Selector { return spd.Selector{Prefix: p, PortHigh: 65535} }

// TestRangeToPrefixesCover checks random ranges, IPv4 and IPv6 (across the
// middle of the 128 bits too): the prefixes are aligned, in order, adjacent,
// and cover exactly start..end.
func TestRangeToPrefixesCover(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	next := func(a netip.Addr) netip.Addr { return a.Next() }
	for i := 0; i < 2000; i++ {
		var start, end netip.Addr
		if i%2 == 0 {
			var a, b [4]byte
			binary.BigEndian.PutUint32(a[:], rng.Uint32())
			binary.BigEndian.PutUint32(b[:], rng.Uint32()>>uint(rng.IntN(32)))
			start, end = netip.AddrFrom4(a), netip.AddrFrom4(b)
		} else {
			var a, b [16]byte
			hi := rng.Uint64()
			binary.BigEndian.PutUint64(a[:8], hi)
			binary.BigEndian.PutUint64(b[:8], hi+uint64(rng.IntN(3)))
			binary.BigEndian.PutUint64(a[8:], rng.Uint64())
			binary.BigEndian.PutUint64(b[8:], rng.Uint64()>>uint(rng.IntN(64)))
			start, end = netip.AddrFrom16(a), netip.AddrFrom16(b)
		}
		if end.Less(start) {
			start, end = end, start
		}
		ps := rangeToPrefixes(start, end)
		if len(ps) == 0 || len(ps) > 257 {
			t.Fatalf("%v-%v: %d prefixes", start, end, len(ps))
		}
		want := start
		for j, p := range ps {
			if p.Addr() != want || p.Masked() != p {
				t.Fatalf("%v-%v: prefix %d is %v, want an aligned one at %v", start, end, j, p, want)
			}
			want = next(lastAddr(p))
		}
		if len(ps) <= 256 && lastAddr(ps[len(ps)-1]) != end {
			t.Fatalf("%v-%v: prefixes end at %v", start, end, lastAddr(ps[len(ps)-1]))
		}
	}
}

func TestRangeToPrefixesNoAllocs(t *testing.T) {
	start, end := netip.MustParseAddr("10.79.0.0"), netip.MustParseAddr("10.79.255.255")
	if n := testing.AllocsPerRun(100, func() { rangeToPrefixes(start, end) }); n > 1 {
		t.Errorf("%.1f allocations for one prefix, want at most 1 (the result)", n)
	}
}

// TestConfigSelectors: a negotiated list equal to a configured one is
// the configured list itself; any other stays as it is.
func TestConfigSelectors(t *testing.T) {
	sel := func(p string) spd.Selector {
		return spd.Selector{Prefix: netip.MustParsePrefix(p), PortHigh: 65535}
	}
	cfg := &config.Child{
		LocalTS:  config.TrafficSelectors{Selectors: []spd.Selector{sel("10.1.0.0/16")}},
		RemoteTS: config.TrafficSelectors{Dynamic: true},
	}
	got := configSelectors([]spd.Selector{sel("10.1.0.0/16")}, cfg)
	if &got[0] != &cfg.LocalTS.Selectors[0] {
		t.Error("an equal list is not the configured one")
	}
	own := []spd.Selector{sel("10.1.0.0/24")}
	if got := configSelectors(own, cfg); &got[0] != &own[0] {
		t.Error("a narrowed list was replaced")
	}
	if got := configSelectors(nil, &config.Child{}); got != nil {
		t.Error("an empty list changed")
	}
}
