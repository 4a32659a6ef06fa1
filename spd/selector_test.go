package spd

import (
	"net/netip"
	"strings"
	"testing"
)

func sel(prefix string, proto uint8, lo, hi uint16) Selector {
	return Selector{Prefix: netip.MustParsePrefix(prefix), Proto: proto, PortLow: lo, PortHigh: hi}
}

func TestParseSelector(t *testing.T) {
	tests := []struct {
		in   string
		want Selector
		str  string // String() of the result
	}{
		{"10.0.0.0/24", sel("10.0.0.0/24", 0, 0, 0xffff), "10.0.0.0/24"},
		{"10.0.0.77/24", sel("10.0.0.0/24", 0, 0, 0xffff), "10.0.0.0/24"},
		{"10.0.0.1", sel("10.0.0.1/32", 0, 0, 0xffff), "10.0.0.1/32"},
		{"2001:db8::1", sel("2001:db8::1/128", 0, 0, 0xffff), "2001:db8::1/128"},
		{" 2001:db8::/32 ", sel("2001:db8::/32", 0, 0, 0xffff), "2001:db8::/32"},
		{"%any", sel("0.0.0.0/0", 0, 0, 0xffff), "0.0.0.0/0"},
		{"0.0.0.0/0", sel("0.0.0.0/0", 0, 0, 0xffff), "0.0.0.0/0"},
		{"%any6", sel("::/0", 0, 0, 0xffff), "::/0"},
		{"::/0", sel("::/0", 0, 0, 0xffff), "::/0"},
		{"10.0.0.0/24[tcp]", sel("10.0.0.0/24", ProtoTCP, 0, 0xffff), "10.0.0.0/24[tcp]"},
		{"10.0.0.0/24[TCP/%any]", sel("10.0.0.0/24", ProtoTCP, 0, 0xffff), "10.0.0.0/24[tcp]"},
		{"10.0.0.0/24[tcp/443]", sel("10.0.0.0/24", ProtoTCP, 443, 443), "10.0.0.0/24[tcp/443]"},
		{"10.0.0.1/32[tcp/443]", sel("10.0.0.1/32", ProtoTCP, 443, 443), "10.0.0.1/32[tcp/443]"},
		{"::/0[udp/500-600]", sel("::/0", ProtoUDP, 500, 600), "::/0[udp/500-600]"},
		{"%any[udp/0]", sel("0.0.0.0/0", ProtoUDP, 0, 0), "0.0.0.0/0[udp/0]"},
		{"10.0.0.0/8[icmp]", sel("10.0.0.0/8", ProtoICMP, 0, 0xffff), "10.0.0.0/8[icmp]"},
		{"10.0.0.0/8[icmp/8]", sel("10.0.0.0/8", ProtoICMP, 0x0800, 0x08ff), "10.0.0.0/8[icmp/8]"},
		{"10.0.0.0/8[icmp/3-4]", sel("10.0.0.0/8", ProtoICMP, 0x0300, 0x04ff), "10.0.0.0/8[icmp/3-4]"},
		{"10.0.0.0/8[icmp/772]", sel("10.0.0.0/8", ProtoICMP, 0x0304, 0x0304), "10.0.0.0/8[icmp/772]"},
		{"10.0.0.0/8[icmp/0-255]", sel("10.0.0.0/8", ProtoICMP, 0, 0xffff), "10.0.0.0/8[icmp]"},
		{"::/0[icmpv6]", sel("::/0", ProtoICMPv6, 0, 0xffff), "::/0[icmpv6]"},
		{"::/0[ipv6-icmp/128]", sel("::/0", ProtoICMPv6, 0x8000, 0x80ff), "::/0[icmpv6/128]"},
		{"10.0.0.0/24[47]", sel("10.0.0.0/24", 47, 0, 0xffff), "10.0.0.0/24[gre]"},
		{"10.0.0.0/24[253]", sel("10.0.0.0/24", 253, 0, 0xffff), "10.0.0.0/24[253]"},
		{"10.0.0.0/24[%any]", sel("10.0.0.0/24", 0, 0, 0xffff), "10.0.0.0/24"},
		{"10.0.0.0/24[0]", sel("10.0.0.0/24", 0, 0, 0xffff), "10.0.0.0/24"},
		{"10.0.0.0/24[sctp/9-9]", sel("10.0.0.0/24", ProtoSCTP, 9, 9), "10.0.0.0/24[sctp/9]"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSelector(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %+v, want %+v", got, tt.want)
			}
			if s := got.String(); s != tt.str {
				t.Errorf("String() = %q, want %q", s, tt.str)
			}
			back, err := ParseSelector(got.String())
			if err != nil || back != got {
				t.Errorf("round trip of %q: %+v, %v", got.String(), back, err)
			}
		})
	}
}

func TestParseSelectorErrors(t *testing.T) {
	tests := []struct{ in, msg string }{
		{"", "missing address"},
		{"[tcp/443]", "missing address"},
		{"dynamic", `"dynamic" must be replaced`},
		{"10.0.0.1-10.0.0.9", "address ranges are not supported"},
		{"10.0.0.0/33", "bad prefix"},
		{"10.0.0.256", "bad address"},
		{"fe80::1%eth0", "zones"},
		{"10.0.0.0/24[tcp", "missing ]"},
		{"10.0.0.0/24[tcp/443]x", "missing ]"},
		{"10.0.0.0/24[foo]", "unknown protocol"},
		{"10.0.0.0/24[256]", "unknown protocol"},
		{"10.0.0.0/24[/443]", "a port needs a protocol"},
		{"10.0.0.0/24[tcp/http]", "bad port"},
		{"10.0.0.0/24[tcp/70000]", "bad port"},
		{"10.0.0.0/24[tcp/600-500]", "runs backwards"},
		{"10.0.0.0/24[tcp/1-2-3]", "bad port"},
		{"10.0.0.0/24[icmp/4-3]", "runs backwards"},
		{"10.0.0.0/24[tcp/opaque]", "bad port"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseSelector(tt.in)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tt.msg) || !strings.HasPrefix(err.Error(), "spd: ") ||
				!strings.Contains(err.Error(), "want ADDR") {
				t.Errorf("error %q does not say %q and what is allowed", err, tt.msg)
			}
		})
	}
}

func FuzzParseSelector(f *testing.F) {
	for _, s := range []string{"10.0.0.0/24", "10.0.0.1", "%any", "%any6", "::/0[udp/500-600]",
		"10.0.0.0/8[icmp/8]", "10.0.0.0/8[icmp/772-1000]", "10.0.0.0/24[47]", "1.2.3.4/32[tcp/443]",
		"2001:db8::/48[icmpv6/1]", "[tcp]", "dynamic"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		sel, err := ParseSelector(s)
		if err != nil {
			return
		}
		if !sel.Prefix.IsValid() || sel.Prefix != sel.Prefix.Masked() || sel.PortLow > sel.PortHigh {
			t.Fatalf("%q: bad selector %+v", s, sel)
		}
		back, err := ParseSelector(sel.String())
		if err != nil || back != sel {
			t.Fatalf("%q: %+v prints as %q, which reads back as %+v, %v", s, sel, sel.String(), back, err)
		}
	})
}

func TestSelectorMatches(t *testing.T) {
	tests := []struct {
		sel   string
		addr  string
		proto uint8
		port  uint16
		want  bool
	}{
		{"10.0.0.0/24", "10.0.0.9", ProtoTCP, 80, true},
		{"10.0.0.0/24", "10.0.1.9", ProtoTCP, 80, false},
		{"10.0.0.0/24", "::ffff:10.0.0.9", ProtoTCP, 80, false},
		{"::/0", "10.0.0.9", ProtoTCP, 80, false},
		{"%any", "10.0.0.9", 47, 0, true},
		{"10.0.0.0/24[tcp]", "10.0.0.9", ProtoUDP, 80, false},
		{"10.0.0.0/24[tcp]", "10.0.0.9", ProtoTCP, 0, true},
		{"10.0.0.0/24[tcp/443]", "10.0.0.9", ProtoTCP, 443, true},
		{"10.0.0.0/24[tcp/443]", "10.0.0.9", ProtoTCP, 444, false},
		{"10.0.0.0/24[tcp/443]", "10.0.0.9", ProtoTCP, 0, false}, // non-initial fragment
		{"10.0.0.0/24[udp/500-600]", "10.0.0.9", ProtoUDP, 600, true},
		{"10.0.0.0/24[udp/500-600]", "10.0.0.9", ProtoUDP, 499, false},
		{"10.0.0.0/24[icmp/8]", "10.0.0.9", ProtoICMP, 0x0800, true},
		{"10.0.0.0/24[icmp/8]", "10.0.0.9", ProtoICMP, 0x0000, false},
		{"2001:db8::/32[icmpv6/128]", "2001:db8::5", ProtoICMPv6, 0x8000, true},
	}
	for _, tt := range tests {
		s, err := ParseSelector(tt.sel)
		if err != nil {
			t.Fatal(err)
		}
		if got := s.Matches(mustAddr(tt.addr), tt.proto, tt.port); got != tt.want {
			t.Errorf("%s matches %s proto %d port %d = %v, want %v", tt.sel, tt.addr, tt.proto, tt.port, got, tt.want)
		}
	}
	// Protocol any ignores the port range, so a literal is usable.
	if !(Selector{Prefix: netip.MustParsePrefix("10.0.0.0/8")}).Matches(mustAddr("10.1.2.3"), ProtoTCP, 443) {
		t.Error("Selector{Prefix} should match any protocol and port")
	}
	if (Selector{}).Matches(mustAddr("10.1.2.3"), 0, 0) {
		t.Error("zero Selector matched")
	}
}

func TestAutoPriority(t *testing.T) {
	pol := func(a Action, local, remote string) *Policy {
		return &Policy{Action: a, Local: []Selector{mustSel(local)}, Remote: []Selector{mustSel(remote)}}
	}
	// Each policy must rank strictly before the next.
	order := []*Policy{
		pol(Discard, "10.0.0.1[tcp/1000]", "10.0.1.1[tcp/443]"),
		pol(Protect, "10.0.0.1[tcp/1000]", "10.0.1.1[tcp/443]"),
		pol(Protect, "10.0.0.1[tcp]", "10.0.1.1[tcp/443]"),
		pol(Protect, "10.0.0.1[tcp]", "10.0.1.1[tcp]"),
		pol(Protect, "10.0.0.1", "10.0.1.1[tcp/443]"),
		pol(Bypass, "10.0.0.1", "10.0.1.1"),
		pol(Protect, "10.0.0.1", "10.0.1.1"),
		pol(Protect, "10.0.0.1", "10.0.1.0/31"),
		pol(Protect, "10.0.0.0/24", "10.0.1.0/24[udp/53]"),
		pol(Protect, "10.0.0.0/24", "10.0.1.0/24"),
		pol(Protect, "2001:db8::/120", "2001:db8:1::/120"), // IPv4 /24 and IPv6 /120: 8 host bits
		pol(Discard, "10.0.0.0/16", "0.0.0.0/0"),
		pol(Protect, "0.0.0.0/0", "0.0.0.0/0"),
	}
	for i := 1; i < len(order); i++ {
		a, b := AutoPriority(order[i-1]), AutoPriority(order[i])
		if i == 10 {
			if a < b { // 32 host bits scaled vs 8 bits of IPv6: equal
				t.Errorf("IPv4 /24 (%d) should not rank before IPv6 /120 (%d)", a, b)
			}
			continue
		}
		if a >= b {
			t.Errorf("%d: %v %v->%v (%d) should rank before %v %v->%v (%d)", i,
				order[i-1].Action, order[i-1].Local, order[i-1].Remote, a,
				order[i].Action, order[i].Local, order[i].Remote, b)
		}
	}
	for _, p := range order {
		if pr := AutoPriority(p); pr < AutoPriorityBase || pr > AutoPriorityMax {
			t.Errorf("priority %d outside [%d, %d]", pr, AutoPriorityBase, AutoPriorityMax)
		}
	}
	if pr := AutoPriority(&Policy{Action: Protect}); pr != AutoPriorityMax {
		t.Errorf("empty policy: %d, want %d", pr, AutoPriorityMax)
	}
	// A policy is ranked by its widest selector.
	mixed := &Policy{Action: Protect, Local: []Selector{mustSel("10.0.0.0/24")},
		Remote: []Selector{mustSel("10.0.1.1"), mustSel("10.0.2.0/24")}}
	if AutoPriority(mixed) != AutoPriority(pol(Protect, "10.0.0.0/24", "10.0.2.0/24")) {
		t.Error("mixed policy not ranked by its widest selector")
	}
}

func mustSel(s string) Selector {
	sel, err := ParseSelector(s)
	if err != nil {
		panic(err)
	}
	return sel
}
