package ike

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/esptun/esptun/ike/wire"
)

// dropFirst drops the first n datagrams in dir that match.
func dropFirst(n int64, dir direction, match func(d *datagramInfo) bool) filterFunc {
	var seen atomic.Int64
	return func(d *datagramInfo) verdict {
		if d.dir == dir && match(d) && seen.Add(1) <= n {
			return verdict{drop: true}
		}
		return verdict{}
	}
}

func isExchange(exch wire.ExchangeType, response bool) func(d *datagramInfo) bool {
	return func(d *datagramInfo) bool {
		return d.valid && d.header.Exchange == exch && d.header.IsResponse() == response
	}
}

// TestRetransmit: lost responses are made up for by the initiator's
// retransmissions (RFC 7296 2.1), and the responder answers a retransmitted
// request from its cache instead of processing it again.
func TestRetransmit(t *testing.T) {
	tests := []struct {
		name   string
		filter filterFunc // on sun's transport
		// retransmissions of each exchange moon must have sent
		initRetx, authRetx int64
	}{
		{name: "lose-IKE_SA_INIT-responses", filter: dropFirst(2, dirOut, isExchange(wire.ExchangeIKESAInit, true)), initRetx: 2},
		{name: "lose-IKE_AUTH-responses", filter: dropFirst(2, dirOut, isExchange(wire.ExchangeIKEAuth, true)), authRetx: 2},
		{name: "lose-IKE_AUTH-requests", filter: dropFirst(2, dirIn, isExchange(wire.ExchangeIKEAuth, false)), authRetx: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, moon, sun := newPair(t, pairOpts{})
			sun.tr.setFilter(tc.filter)
			var inits, auths atomic.Int64
			moon.tr.setCapture(func(d *datagramInfo) {
				if d.dir == dirOut && d.valid && !d.header.IsResponse() {
					switch d.header.Exchange {
					case wire.ExchangeIKESAInit:
						inits.Add(1)
					case wire.ExchangeIKEAuth:
						auths.Add(1)
					}
				}
			})
			establish(t, moon, sun)
			checkTraffic(t, moon, sun)
			if got := inits.Load() - 1; got != tc.initRetx {
				t.Errorf("IKE_SA_INIT retransmitted %d times, want %d", got, tc.initRetx)
			}
			if got := auths.Load() - 1; got != tc.authRetx {
				t.Errorf("IKE_AUTH retransmitted %d times, want %d", got, tc.authRetx)
			}
		})
	}
}

// TestRetransmitGiveUp: with every datagram lost, Initiate fails after
// retransmit_tries retransmissions and the waits between them (timeout *
// base^n), and nothing is left behind.
func TestRetransmitGiveUp(t *testing.T) {
	ikeCfg := "retransmit_timeout = \"100ms\"\nretransmit_base = 2\nretransmit_tries = 2\n"
	_, moon, sun := newPair(t, pairOpts{ike: [2]string{ikeCfg, ikeCfg}})
	sun.tr.setFilter(func(d *datagramInfo) verdict { return verdict{drop: true} })
	inits := countExchanges(moon.tr, dirOut, wire.ExchangeIKESAInit, false)
	start := time.Now()
	err := moon.m.Initiate(ctxT(t, 10*time.Second), "net")
	took := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), "IKE_SA_INIT") {
		t.Fatalf("Initiate: %v, want no answer to IKE_SA_INIT", err)
	}
	// 100ms + 200ms + 400ms (RFC 7296 2.4: the peer is dead after the
	// last retransmission went unanswered).
	if want := 700 * time.Millisecond; took < want || took > want+2*time.Second {
		t.Errorf("gave up after %v, want about %v", took, want)
	}
	if n := inits.Load(); n != 3 {
		t.Errorf("moon sent IKE_SA_INIT %d times, want 3 (1 + retransmit_tries)", n)
	}
	if n := len(moon.ikeSAs("")); n != 0 {
		t.Errorf("moon still has %d IKE SAs", n)
	}
	if c := sun.counters(); c.Received != 0 {
		t.Errorf("sun received %d messages through a dead link", c.Received)
	}
}

// TestDuplicateRequests: every request moon sends arrives twice. The
// responder answers the copy of a request it has answered from its response
// cache (RFC 7296 2.1) and processes each request once: one half-open SA
// per IKE_SA_INIT, one Child SA pair per IKE_AUTH or CREATE_CHILD_SA.
func TestDuplicateRequests(t *testing.T) {
	o := pairOpts{}
	for i := range 2 {
		o.extraConns[i] = "[connections.c.children.more]\nlocal_ts = [" + sideTSAlt[i] + "]\nremote_ts = [" + sideTSAlt[1-i] +
			"]\nesp_proposals = [\"aes128gcm16\"]\nrekey_time = 0\n"
	}
	_, moon, sun := newPair(t, o)
	moon.tr.setFilter(func(d *datagramInfo) verdict {
		if d.dir == dirOut && d.valid && !d.header.IsResponse() {
			return verdict{copies: 2}
		}
		return verdict{}
	})
	var responses [256]atomic.Int64
	sun.tr.setCapture(func(d *datagramInfo) {
		if d.dir == dirOut && d.response() {
			responses[d.header.Exchange].Add(1)
		}
	})
	establish(t, moon, sun)
	if err := moon.m.Initiate(ctxT(t, 10*time.Second), "more"); err != nil {
		t.Fatalf("initiate more: %v", err)
	}
	waitSettled(t, moon, sun, 2)
	checkTraffic(t, moon, sun)
	// The copies may still be on their way when the originals are done.
	// A copy is answered from the half-open SA or the response cache; one
	// that a second worker handled at the same time as the original, or
	// only after the next request (the cache holds one response, RFC 7296
	// 2.3), is dropped and counted.
	exchanges := []wire.ExchangeType{wire.ExchangeIKESAInit, wire.ExchangeIKEAuth, wire.ExchangeCreateChildSA}
	done := func() bool {
		missing := uint64(0)
		for _, exch := range exchanges {
			n := responses[exch].Load()
			if n < 1 || n > 2 {
				return false
			}
			missing += uint64(2 - n)
		}
		return missing <= sun.counters().Dropped
	}
	deadline := time.Now().Add(2 * time.Second)
	for !done() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if !done() {
		t.Errorf("sun sent %d IKE_SA_INIT, %d IKE_AUTH and %d CREATE_CHILD_SA responses and dropped %d; want 2 of each, one less for each drop",
			responses[wire.ExchangeIKESAInit].Load(), responses[wire.ExchangeIKEAuth].Load(), responses[wire.ExchangeCreateChildSA].Load(), sun.counters().Dropped)
	}
	if n := len(sun.sad.All()); n != 4 {
		t.Errorf("sun has %d SAs installed, want 4", n)
	}
	if c := sun.counters(); c.HalfOpen != 0 {
		t.Errorf("sun has %d half-open SAs", c.HalfOpen)
	}
	if n := len(sun.ikeSAs("")); n != 1 {
		t.Errorf("sun has %d IKE SAs, want 1", n)
	}
}

// TestReorderedRetransmit: moon's IKE_AUTH request is delayed past its
// first retransmission, so the responder sees the retransmission first and
// the original late: still one IKE SA and one Child SA.
func TestReorderedRetransmit(t *testing.T) {
	_, moon, sun := newPair(t, pairOpts{})
	var first atomic.Bool
	moon.tr.setFilter(func(d *datagramInfo) verdict {
		if d.dir == dirOut && d.valid && d.header.Exchange == wire.ExchangeIKEAuth && !d.header.IsResponse() && first.CompareAndSwap(false, true) {
			return verdict{delay: 700 * time.Millisecond}
		}
		return verdict{}
	})
	establish(t, moon, sun)
	time.Sleep(800 * time.Millisecond) // let the late original arrive
	waitSettled(t, moon, sun, 1)
	checkTraffic(t, moon, sun)
}
