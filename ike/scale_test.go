package ike

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
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
// With encap = true the initiator's NAT_DETECTION_SOURCE_IP is random,
// and must be the same in the request with the cookie as without.
func TestConcurrentInitiatorsCookieRace(t *testing.T) {
	for _, encap := range []bool{false, true} {
		t.Run(fmt.Sprintf("encap=%v", encap), func(t *testing.T) { concurrentCookieRace(t, encap) })
	}
}

func concurrentCookieRace(t *testing.T, encap bool) {
	const n = 200
	ikeCfg := defaultIKE + "cookie_threshold = 3\n"
	o := pairOpts{ike: [2]string{defaultIKE, ikeCfg}}
	if encap {
		o.conn = [2]string{"encap = true\n", "encap = true\n"}
	}
	h, moon, sun := newPair(t, o)
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

// scaleConfigs returns the TOML of an initiator with n connections, each
// with its own identity and inner /32, and of a responder with one
// connection for all of them.
func scaleConfigs(n int) (initiator, responder string) {
	var b strings.Builder
	fmt.Fprintf(&b, "[ike]\nport = {{port}}\nnatt_port = {{natt}}\n%s\n", defaultIKE)
	for i := range n {
		c := fmt.Sprintf("connections.c%05d", i)
		fmt.Fprintf(&b, "[%s]\nlocal_addrs = [%q]\nremote_addrs = [%q]\nremote_port = {{port}}\nproposals = [\"aes128gcm16-prfsha256-x25519\"]\nrekey_time = 0\n", c, addrMoon, addrSun)
		fmt.Fprintf(&b, "[%s.local]\nauth = \"psk\"\nid = \"i%05d.example\"\n[%s.remote]\nauth = \"psk\"\nid = \"sun.example\"\n", c, i, c)
		fmt.Fprintf(&b, "[%s.children.net]\nlocal_ts = [\"10.200.%d.%d/32\"]\nremote_ts = [\"10.2.0.0/16\"]\nesp_proposals = [\"aes128gcm16\"]\nrekey_time = 0\n\n", c, (i+1)>>8, (i+1)&255)
	}
	fmt.Fprintf(&b, "[secrets.ike-all]\nsecret = %q\n", "correct horse battery staple")
	initiator = b.String()
	responder = fmt.Sprintf(`[ike]
port = {{port}}
natt_port = {{natt}}
%s
[connections.any]
remote_addrs = ["%%any"]
proposals = ["aes128gcm16-prfsha256-x25519"]
rekey_time = 0
[connections.any.local]
auth = "psk"
id = "sun.example"
[connections.any.remote]
auth = "psk"
[connections.any.children.net]
local_ts = ["10.2.0.0/16"]
remote_ts = ["10.200.0.0/16"]
esp_proposals = ["aes128gcm16"]
rekey_time = 0
[secrets.ike-all]
secret = %q
`, defaultIKE, "correct horse battery staple")
	return initiator, responder
}

// BenchmarkConcurrentSetup starts b.N IKE SAs, each with a Child SA and
// its own connection and identity, all at once against one responder, and
// reports the process's CPU time (both ends) per IKE SA and the setup rate.
// Run with growing -benchtime=Nx to see whether the cost per SA grows with
// the number of SAs.
func BenchmarkConcurrentSetup(b *testing.B) {
	initCfg, respCfg := scaleConfigs(b.N)
	h := newHarness(b)
	moon := h.addPeer(0, "moon", initCfg)
	sun := h.addPeer(1, "sun", respCfg)
	cpu0, haveCPU := processCPU()
	b.ResetTimer()
	var wg sync.WaitGroup
	var failed atomic.Int64
	for _, conn := range moon.m.cfg.Connections {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
			defer cancel()
			if err := moon.m.initiate(ctx, conn, conn.Children[0], nil); err != nil {
				failed.Add(1)
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	if f := failed.Load(); f > 0 {
		b.Errorf("%d of %d setups failed; responder counters %+v", f, b.N, sun.counters())
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "SAs/s")
	if cpu1, ok := processCPU(); ok && haveCPU {
		b.ReportMetric(float64((cpu1-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/SA")
	}
}

// TestKeyingTriesNewSPI: when IKE_SA_INIT got no answer and keyingtries
// starts over, the new attempt (a new nonce) must not meet the half-open
// SA the responder made from the first one, whose answers were lost: it
// comes with a new SPI, and the IKE SA comes up.
func TestKeyingTriesNewSPI(t *testing.T) {
	ikeCfg := "retransmit_timeout = \"200ms\"\nretransmit_tries = 0\n"
	_, moon, sun := newPair(t, pairOpts{ike: [2]string{ikeCfg, defaultIKE}, conn: [2]string{"keyingtries = 3\n", ""}})
	sun.tr.setFilter(dropFirst(1, dirOut, isExchange(wire.ExchangeIKESAInit, true)))
	if err := moon.m.Initiate(ctxT(t, 10*time.Second), "net"); err != nil {
		t.Fatalf("initiate: %v", err)
	}
	if c := sun.counters(); c.Invalid != 0 {
		t.Errorf("responder dropped %d messages it could not decrypt", c.Invalid)
	}
}

// TestKeyingTriesAfterIKEAuth: a responder too busy to answer any copy of
// IKE_AUTH does not end the attempt while keyingtries allows more: the
// initiator starts over with a new IKE SA and gets its Child SA.
func TestKeyingTriesAfterIKEAuth(t *testing.T) {
	ikeCfg := "retransmit_timeout = \"100ms\"\nretransmit_base = 1\nretransmit_tries = 2\n"
	_, moon, sun := newPair(t, pairOpts{ike: [2]string{ikeCfg, defaultIKE}, conn: [2]string{"keyingtries = 3\n", ""}})
	sun.tr.setFilter(dropFirst(3, dirIn, isExchange(wire.ExchangeIKEAuth, false)))
	if err := moon.m.Initiate(ctxT(t, 10*time.Second), "net"); err != nil {
		t.Fatalf("initiate: %v", err)
	}
	// sun still holds the first attempt's half-open SA until
	// half_open_timeout.
	m, s := moon.ikeSAs("ESTABLISHED"), sun.ikeSAs("ESTABLISHED")
	if len(m) != 1 || len(s) != 1 || len(m[0].Children) != 1 {
		t.Fatalf("established: moon %d, sun %d IKE SAs", len(m), len(s))
	}
	checkTraffic(t, moon, sun)
}

// TestHalfOpenTableShrinks: the responder's table of IKE SAs by
// IKE_SA_INIT request holds an established SA only for half_open_timeout,
// not for as long as the SA lives.
func TestHalfOpenTableShrinks(t *testing.T) {
	_, moon, sun := newPair(t, pairOpts{ike: [2]string{defaultIKE, defaultIKE + "half_open_timeout = \"1s\"\n"}})
	establish(t, moon, sun)
	size := func() int {
		sun.m.mu.Lock()
		defer sun.m.mu.Unlock()
		return len(sun.m.halfOpen)
	}
	if size() != 1 {
		t.Fatalf("half-open table holds %d SAs right after IKE_AUTH, want 1", size())
	}
	waitFor(t, 5*time.Second, "half-open table to empty", func() bool { return size() == 0 })
	if got := len(sun.ikeSAs("ESTABLISHED")); got != 1 {
		t.Errorf("%d established IKE SAs, want 1", got)
	}
}
