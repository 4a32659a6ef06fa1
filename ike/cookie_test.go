package ike

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/esptun/esptun/ike/wire"
)

// TestCookieVariants: the forms of an IKE_SA_INIT request the initiator
// may have signed when the copy we answered is not the one it sent last
// (RFC 7296 2.6, 2.15). A request without a cookie may have been resent
// with either cookie we hand out; one with a cookie may have been sent
// without it, or resent with the cookie made after the secret changed (a
// late copy without the cookie got that one).
func TestCookieVariants(t *testing.T) {
	m := &Manager{}
	m.cookies.init()
	ni := bytes.Repeat([]byte{7}, 32)
	ip := netip.MustParseAddr("192.0.2.7")
	const spi = 0x1122334455667788
	build := func(c []byte) []byte {
		var ps []wire.Payload
		if c != nil {
			ps = append(ps, notifyData(wire.NotifyCookie, c))
		}
		ps = append(ps, &wire.Nonce{Data: ni}, notify(wire.NotifyIKEv2FragmentationSupported))
		msg := &wire.Message{Header: wire.Header{SPIi: spi, Exchange: wire.ExchangeIKESAInit, Flags: wire.FlagInitiator, MajorVersion: 2}, Payloads: ps}
		pkt, err := msg.Encode()
		if err != nil {
			t.Fatal(err)
		}
		return pkt
	}
	has := func(vs [][]byte, want []byte) bool {
		for _, v := range vs {
			if bytes.Equal(v, want) {
				return true
			}
		}
		return false
	}
	check := func(what string, req []byte, want, notWant [][]byte) {
		t.Helper()
		vs := m.cookieVariants(req, ni, ip, spi)
		for i, w := range want {
			if !has(vs, w) {
				t.Errorf("%s: form %d missing among %d variants", what, i, len(vs))
			}
		}
		for i, w := range notWant {
			if has(vs, w) {
				t.Errorf("%s: unwanted form %d among the variants", what, i)
			}
		}
	}

	plain := build(nil)
	c1 := m.cookies.make(ni, ip, spi)
	withC1 := build(c1[:])
	check("no cookie", plain, [][]byte{withC1}, [][]byte{plain})
	check("cookie", withC1, [][]byte{plain}, [][]byte{withC1})

	m.cookies.maybeRotate(time.Now().Add(cookieRotate))
	c2 := m.cookies.make(ni, ip, spi)
	if c2 == c1 {
		t.Fatal("the cookie did not change with the secret")
	}
	withC2 := build(c2[:])
	check("cookie of the previous secret", withC1, [][]byte{plain, withC2}, [][]byte{withC1})
	check("cookie of the current secret", withC2, [][]byte{plain, withC1}, [][]byte{withC2})
	check("no cookie, after the change", plain, [][]byte{withC1, withC2}, [][]byte{plain})
}
