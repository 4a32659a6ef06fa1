package ike

import (
	"net/netip"
	"testing"

	"github.com/esptun/esptun/ike/wire"
)

func TestParseCPReply(t *testing.T) {
	cp := &wire.CP{CfgType: wire.CfgReply, Attributes: []wire.CPAttribute{
		{Type: wire.CPInternalIP4Address, Value: []byte{10, 3, 0, 7}},
		{Type: wire.CPInternalIP6Address, Value: append(netip.MustParseAddr("fd03::7").AsSlice(), 128)},
		{Type: wire.CPInternalIP4DNS, Value: []byte{10, 1, 0, 53}},
		{Type: wire.CPInternalIP4DNS, Value: []byte{10, 1}},                   // short: ignored
		{Type: wire.CPInternalIP4Address, Value: []byte{0, 0, 0, 0}},          // unspecified: ignored
		{Type: wire.CPInternalDNSDomain, Value: []byte("corp.example.")},      // trailing dot removed
		{Type: wire.CPInternalDNSDomain, Value: []byte("evil\nnameserver 6")}, // not a domain: ignored
	}}
	vips, dns, domains := parseCPReply(cp)
	if len(vips) != 2 || vips[0] != netip.MustParseAddr("10.3.0.7") || vips[1] != netip.MustParseAddr("fd03::7") {
		t.Fatalf("vips %v", vips)
	}
	if len(dns) != 1 || dns[0] != netip.MustParseAddr("10.1.0.53") {
		t.Fatalf("dns %v", dns)
	}
	if len(domains) != 1 || domains[0] != "corp.example" {
		t.Fatalf("domains %q", domains)
	}
}

// FuzzCPAttributes feeds hostile configuration payloads to both sides: the
// client's reply parser and the gateway's request handling. Neither may
// panic, and whatever the client accepts must be well formed.
func FuzzCPAttributes(f *testing.F) {
	f.Add(uint16(1), []byte{10, 3, 0, 7}, uint16(25), []byte("corp.example"))
	f.Add(uint16(8), append(netip.MustParseAddr("fd03::7").AsSlice(), 64), uint16(10), make([]byte, 16))
	f.Add(uint16(3), []byte{}, uint16(25), []byte{0xff, 0})
	f.Fuzz(func(t *testing.T, t1 uint16, v1 []byte, t2 uint16, v2 []byte) {
		cp := &wire.CP{CfgType: wire.CfgReply, Attributes: []wire.CPAttribute{
			{Type: wire.CPAttrType(t1), Value: v1}, {Type: wire.CPAttrType(t2), Value: v2}}}
		vips, dns, domains := parseCPReply(cp)
		for _, a := range append(vips, dns...) {
			if !a.IsValid() {
				t.Fatalf("invalid address accepted")
			}
		}
		for _, d := range domains {
			if !validDomain(d) {
				t.Fatalf("invalid domain %q accepted", d)
			}
		}
		// The gateway side: a request with these attributes against a
		// small pool.
		m := &Manager{pools: map[string]*addrPool{"p": newAddrPool("p", netip.MustParseAddr("10.9.0.1"), netip.MustParseAddr("10.9.0.2"))},
			poolCfg: map[string]*poolConfig{"p": {Name: "p"}}}
		sa := &ikeSA{mgr: m}
		req := &wire.CP{CfgType: wire.CfgRequest, Attributes: cp.Attributes}
		if reply, err := sa.cpReplyLockedFor(req, "fuzz", []string{"p"}); err == nil && reply == nil {
			t.Fatalf("no reply and no error")
		}
		sa.releaseLeasesLocked()
	})
}
