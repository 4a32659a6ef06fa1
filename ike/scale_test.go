package ike

import (
	"context"
	"math/rand/v2"
	"net/netip"
	"sync"
	"testing"
	"time"

	"github.com/esptun/esptun/ike/wire"
)

// TestConcurrentInitiatorsCookieRace: many IKE SAs start at once against a
// responder that asks for cookies (RFC 7296 2.6), and every IKE_SA_INIT
// request without a cookie reaches the responder a second time a little
// later, as a retransmission does. A late copy may be answered while the
// initiator has already resent the request with the cookie, so the
// request the initiator signs in IKE_AUTH is not the one the responder
// answered; every SA must still come up, and none may fail authentication.
func TestConcurrentInitiatorsCookieRace(t *testing.T) {
	const n = 200
	ikeCfg := defaultIKE + "cookie_threshold = 3\n"
	h, moon, sun := newPair(t, pairOpts{ike: [2]string{defaultIKE, ikeCfg}})
	from := netip.AddrPortFrom(addrMoon, h.port)
	local := netip.AddrPortFrom(addrSun, h.port)
	sun.tr.setFilter(func(d *datagramInfo) verdict {
		if d.dir != dirIn || !d.valid || d.header.Exchange != wire.ExchangeIKESAInit || d.header.IsResponse() {
			return verdict{}
		}
		if !isFreshInit(d.pkt) {
			// The request with the cookie is slow to arrive.
			return verdict{delay: 20 * time.Millisecond}
		}
		cp := append([]byte(nil), d.pkt...)
		sun.tr.later(time.Duration(rand.IntN(40))*time.Millisecond, func() {
			sun.m.HandleDatagram(cp, from, local, false)
		})
		return verdict{}
	})
	conn := moon.m.connByName("c")
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			errs <- moon.m.initiate(ctx, conn, nil, nil)
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
			if failed <= 3 {
				t.Errorf("initiate: %v", err)
			}
		}
	}
	if failed > 0 {
		t.Errorf("%d of %d IKE SAs failed", failed, n)
	}
	if c := sun.counters(); c.AuthFailed != 0 || c.CookiesSent == 0 {
		t.Errorf("responder: %d authentication failures (want 0), %d cookies sent (want some)", c.AuthFailed, c.CookiesSent)
	}
	if got := len(sun.ikeSAs("ESTABLISHED")); got != n {
		t.Errorf("responder has %d established IKE SAs, want %d", got, n)
	}
}
