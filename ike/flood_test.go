package ike

import (
	"crypto/ecdh"
	"crypto/rand"
	"encoding/binary"
	"net/netip"
	"testing"

	"github.com/esptun/esptun/config"
	"github.com/esptun/esptun/ike/wire"
	"github.com/esptun/esptun/sad"
	"github.com/esptun/esptun/spd"
)

// nopTransport counts what is sent and keeps a copy of the last message
// (without allocating, so that allocation counts stay those of the Manager).
type nopTransport struct {
	sent     int
	last     [256]byte
	lastLen  int
	lastNATT bool
}

func (t *nopTransport) SendIKE(pkt []byte, local, remote netip.AddrPort, natt bool) error {
	t.sent++
	t.lastLen = copy(t.last[:], pkt)
	t.lastNATT = natt
	return nil
}
func (t *nopTransport) SendKeepalive(local, remote netip.AddrPort) error { return nil }

// floodRequest is an IKE_SA_INIT request offering aes128gcm16-prfsha256-x25519,
// as a flood sends it.
func floodRequest(tb testing.TB) []byte {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	nonce := make([]byte, 32)
	_, _ = rand.Read(nonce)
	pkt, err := (&wire.Message{
		Header: wire.Header{SPIi: 1, Exchange: wire.ExchangeIKESAInit, Flags: wire.FlagInitiator, MajorVersion: 2},
		Payloads: []wire.Payload{
			&wire.SA{Proposals: []wire.Proposal{{Num: 1, Protocol: wire.ProtocolIKE, Transforms: []wire.Transform{
				{Type: wire.TransformType(1), ID: 20, KeyLength: 128},
				{Type: wire.TransformType(2), ID: 5},
				{Type: wire.TransformType(4), ID: 31},
			}}}},
			&wire.KE{Group: 31, Data: k.PublicKey().Bytes()},
			&wire.Nonce{Data: nonce},
		},
	}).Encode()
	if err != nil {
		tb.Fatal(err)
	}
	return pkt
}

func floodManager(tb testing.TB) (*Manager, *nopTransport) {
	toml := `[ike]
cookie_threshold = 0
[connections.any]
remote_addrs = ["%any"]
proposals = ["aes128gcm16-prfsha256-x25519"]
[connections.any.local]
auth = "psk"
id = "gw.example"
[connections.any.remote]
auth = "psk"
[connections.any.children.net]
local_ts = ["10.2.0.0/16"]
remote_ts = ["10.200.0.0/16"]
[secrets.ike-all]
secret = "correct horse battery staple"
`
	cfg, err := config.Parse("flood.toml", []byte(toml))
	if err != nil {
		tb.Fatal(err)
	}
	tr := &nopTransport{}
	m, err := New(Options{Config: cfg, Transport: tr, SPD: &spd.DB{}, SAD: sad.New(func(sad.Event) {}), Logger: quietLog("gw")})
	if err != nil {
		tb.Fatal(err)
	}
	return m, tr
}

// BenchmarkInitFlood answers spoofed IKE_SA_INIT requests with a COOKIE
// (cookie_threshold 0): the work and garbage one flood request costs,
// from HandleDatagram to the answer. On the plain IKE port the answer is
// made in HandleDatagram; on the NAT-T port the request queues for a
// worker.
func BenchmarkInitFlood(b *testing.B) {
	for _, natt := range []bool{false, true} {
		name := "ike-port"
		if natt {
			name = "natt-port"
		}
		b.Run(name, func(b *testing.B) {
			m, tr := floodManager(b)
			pkt := floodRequest(b)
			remote := netip.MustParseAddrPort("192.0.2.1:500")
			local := netip.MustParseAddrPort("192.0.2.2:500")
			b.ReportAllocs()
			b.SetBytes(int64(len(pkt)))
			b.ResetTimer()
			for i := range b.N {
				binary.BigEndian.PutUint64(pkt[0:8], uint64(i)+1)
				m.HandleDatagram(pkt, remote, local, natt)
				if natt {
					d := <-m.initInbox
					m.process(d)
					m.done(d)
				}
			}
			b.StopTimer()
			if tr.sent != b.N || m.halfOpenCount.Load() != 0 || len(m.initInbox) != 0 {
				b.Fatalf("%d answers to %d requests, %d half-open, %d queued", tr.sent, b.N, m.halfOpenCount.Load(), len(m.initInbox))
			}
		})
	}
}

// TestInitFloodBounds: what waits for a worker is bounded in bytes, for
// small and for large datagrams, and answering a flood with cookies
// allocates nothing. Requests on the NAT-T port queue for the workers
// (those on the plain IKE port are answered at once: TestCookieAtOnce).
func TestInitFloodBounds(t *testing.T) {
	m, tr := floodManager(t)
	remote := netip.MustParseAddrPort("192.0.2.1:4500")
	local := netip.MustParseAddrPort("192.0.2.2:4500")
	small := floodRequest(t)
	big := make([]byte, 60000)
	copy(big, small)
	for i := range 5000 {
		binary.BigEndian.PutUint64(small[0:8], uint64(i)+1)
		m.HandleDatagram(small, remote, local, true)
		binary.BigEndian.PutUint64(big[0:8], uint64(i)+1)
		m.HandleDatagram(big, remote, local, true)
	}
	if tr.sent != 0 {
		t.Errorf("%d requests on the NAT-T port answered without a worker", tr.sent)
	}
	queued := 0
	for len(m.initInbox) > 0 {
		d := <-m.initInbox
		queued += len(d.pkt)
		m.done(d)
	}
	if queued > maxFreshBytes || m.freshBytes.Load() != 0 {
		t.Errorf("%d bytes were queued (bound %d), %d still counted", queued, maxFreshBytes, m.freshBytes.Load())
	}
	if full := m.stats.inboxFull.Load(); full < 10000-freshPlaces {
		t.Errorf("only %d of 10000 requests refused", full)
	}
	// A flood of small requests fills the queue's places in 512-octet
	// buffers: a quarter of the byte bound.
	full0 := m.stats.inboxFull.Load()
	for i := range 2 * freshPlaces {
		binary.BigEndian.PutUint64(small[0:8], uint64(i)+1)
		m.HandleDatagram(small, remote, local, true)
	}
	if n, b := len(m.initInbox), m.freshBytes.Load(); n != freshPlaces || b != freshPlaces*freshSmallSize ||
		m.stats.inboxFull.Load()-full0 != freshPlaces {
		t.Errorf("small requests: %d queued in %d bytes, %d refused", n, b, m.stats.inboxFull.Load()-full0)
	}
	for len(m.initInbox) > 0 {
		d := <-m.initInbox
		if cap(d.pkt) != freshSmallSize {
			t.Fatalf("a %d-octet request queued in a %d-octet buffer", len(d.pkt), cap(d.pkt))
		}
		m.done(d)
	}
	sent := tr.sent
	allocs := testing.AllocsPerRun(1000, func() {
		binary.BigEndian.PutUint64(small[0:8], binary.BigEndian.Uint64(small[0:8])+1)
		m.HandleDatagram(small, remote, local, true)
		d := <-m.initInbox
		m.process(d)
		m.done(d)
	})
	if allocs != 0 && !raceEnabled || tr.sent == sent || m.stats.cookiesSent.Load() == 0 || !tr.lastNATT {
		t.Errorf("%.1f allocations per flood request, %d answers", allocs, tr.sent-sent)
	}
}

// TestCookieAtOnce: past cookie_threshold, a fresh IKE_SA_INIT request on
// the plain IKE port is answered with a valid COOKIE (RFC 7296 2.6) by
// HandleDatagram itself, without queueing and without allocating; what a
// worker must see still queues: requests below the threshold (queued ones
// count towards it), a retransmission of a half-open SA's request,
// malformed requests and requests that bring a cookie. At half_open_limit
// requests are dropped.
func TestCookieAtOnce(t *testing.T) {
	m, tr := floodManager(t) // cookie_threshold 0: COOKIEs from the start
	remote := netip.MustParseAddrPort("192.0.2.1:500")
	local := netip.MustParseAddrPort("192.0.2.2:500")
	pkt := floodRequest(t)
	nonce, _, _ := scanInitRequest(pkt)
	queued := func() int {
		n := len(m.initInbox)
		for _, q := range m.inbox {
			n += len(q)
		}
		return n
	}
	drain := func() {
		for len(m.initInbox) > 0 {
			m.done(<-m.initInbox)
		}
		for _, q := range m.inbox {
			for len(q) > 0 {
				m.done(<-q)
			}
		}
	}

	binary.BigEndian.PutUint64(pkt[0:8], 0x1122334455667788)
	m.HandleDatagram(pkt, remote, local, false)
	if tr.sent != 1 || queued() != 0 || m.stats.cookiesSent.Load() != 1 || tr.lastNATT {
		t.Fatalf("%d answers, %d queued, %d cookies counted", tr.sent, queued(), m.stats.cookiesSent.Load())
	}
	ans, err := wire.Parse(tr.last[:tr.lastLen])
	if err != nil {
		t.Fatal(err)
	}
	n := ans.GetNotify(wire.NotifyCookie)
	if !ans.IsResponse() || ans.Header.SPIi != 0x1122334455667788 || ans.Header.SPIr != 0 || ans.Header.Exchange != wire.ExchangeIKESAInit ||
		len(ans.Payloads) != 1 || n == nil || !m.cookies.verify(n.Data, nonce, remote.Addr(), 0x1122334455667788) {
		t.Fatalf("answer %x is not a valid COOKIE for the request", tr.last[:tr.lastLen])
	}
	allocs := testing.AllocsPerRun(1000, func() {
		binary.BigEndian.PutUint64(pkt[0:8], binary.BigEndian.Uint64(pkt[0:8])+1)
		m.HandleDatagram(pkt, remote, local, false)
	})
	if allocs != 0 && !raceEnabled || tr.sent != 1002 || queued() != 0 {
		t.Errorf("%.1f allocations per request; %d answers, %d queued", allocs, tr.sent, queued())
	}

	// What needs a worker.
	req, err := wire.Parse(pkt)
	if err != nil {
		t.Fatal(err)
	}
	withCookie, err := (&wire.Message{Header: req.Header, Payloads: append([]wire.Payload{notifyData(wire.NotifyCookie, n.Data)}, req.Payloads...)}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	// The Nonce payload comes last with 32 octets; cut it to 8.
	shortNonce := append([]byte(nil), pkt[:len(pkt)-24]...)
	binary.BigEndian.PutUint16(shortNonce[len(shortNonce)-12+2:], 12)
	binary.BigEndian.PutUint32(shortNonce[24:], uint32(len(shortNonce)))
	if got, _, ok := scanInitRequest(shortNonce); !ok || len(got) != 8 {
		t.Fatalf("short nonce: scan found %d octets, ok %v", len(got), ok)
	}
	for _, c := range []struct {
		name string
		pkt  []byte
	}{
		{"cookie", withCookie},
		{"short-nonce", shortNonce},
		{"short", pkt[:wire.HeaderLen+4]},
		{"message-id", func() []byte { b := append([]byte(nil), pkt...); b[23] = 1; return b }()},
	} {
		sent := tr.sent
		m.HandleDatagram(c.pkt, remote, local, false)
		if tr.sent != sent || queued() != 1 {
			t.Errorf("%s: %d answers, %d queued; want it queued for a worker", c.name, tr.sent-sent, queued())
		}
		drain()
	}
	key := halfOpenKey{spiI: 0x99, remote: remote}
	m.halfOpen[m.halfOpenHash(key)] = &ikeSA{spiI: 0x99, halfOpenRemote: remote}
	binary.BigEndian.PutUint64(pkt[0:8], 0x99)
	m.HandleDatagram(pkt, remote, local, false)
	if queued() != 1 {
		t.Errorf("retransmission of a half-open SA's request: %d queued", queued())
	}
	delete(m.halfOpen, m.halfOpenHash(key))
	drain()
	// Queued requests count towards cookie_threshold: with 2, two are
	// queued, the third is answered.
	m.cfg.IKE.CookieThreshold = 2
	sent := tr.sent
	for i := range 3 {
		binary.BigEndian.PutUint64(pkt[0:8], 0x100+uint64(i))
		m.HandleDatagram(pkt, remote, local, false)
	}
	if queued() != 2 || tr.sent != sent+1 {
		t.Errorf("cookie_threshold 2: %d of 3 requests queued, %d answered", queued(), tr.sent-sent)
	}
	drain()

	m.cfg.IKE.HalfOpenLimit = 1
	m.halfOpenCount.Store(1)
	dropped := m.stats.dropped.Load()
	sent = tr.sent
	m.HandleDatagram(pkt, remote, local, false)
	if tr.sent != sent || queued() != 0 || m.stats.dropped.Load() != dropped+1 {
		t.Errorf("at half_open_limit: %d answers, %d queued, %d dropped", tr.sent-sent, queued(), m.stats.dropped.Load()-dropped)
	}
}

// TestScanInitRequest: the scan that answers floods finds what the parser
// finds, and rejects broken payload chains without reading past the end.
func TestScanInitRequest(t *testing.T) {
	pkt := floodRequest(t)
	nonce, cookie, ok := scanInitRequest(pkt)
	msg, err := wire.Parse(pkt)
	if err != nil || !ok || cookie != nil || string(nonce) != string(payloadOf[*wire.Nonce](msg.Payloads).Data) {
		t.Fatalf("scan: ok %v, cookie %x, nonce %x; parse error %v", ok, cookie, nonce, err)
	}
	withCookie, err := (&wire.Message{Header: msg.Header, Payloads: append([]wire.Payload{notifyData(wire.NotifyCookie, []byte("0123456789abcdefg"))}, msg.Payloads...)}).Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, cookie, ok := scanInitRequest(withCookie); !ok || string(cookie) != "0123456789abcdefg" {
		t.Errorf("cookie %q, ok %v", cookie, ok)
	}
	for n := wire.HeaderLen; n < len(pkt); n++ {
		if _, _, ok := scanInitRequest(pkt[:n]); ok {
			t.Errorf("truncated to %d bytes: accepted", n)
		}
	}
	bad := append([]byte(nil), pkt...)
	binary.BigEndian.PutUint16(bad[wire.HeaderLen+2:], 2) // payload length below its header
	if _, _, ok := scanInitRequest(bad); ok {
		t.Errorf("payload length 2 accepted")
	}
}

// FuzzCookieAtOnce feeds arbitrary datagrams to HandleDatagram on the plain
// IKE port of a responder that asks every initiator for a COOKIE: nothing
// panics, a datagram is either answered at once or queued or counted, and
// every answer is a valid COOKIE for the SPIi and nonce of the request.
func FuzzCookieAtOnce(f *testing.F) {
	pkt := floodRequest(f)
	f.Add(pkt)
	f.Add(pkt[:wire.HeaderLen+8])
	msg, err := wire.Parse(pkt)
	if err != nil {
		f.Fatal(err)
	}
	withCookie, err := (&wire.Message{Header: msg.Header, Payloads: append([]wire.Payload{notifyData(wire.NotifyCookie, make([]byte, cookieLen))}, msg.Payloads...)}).Encode()
	if err != nil {
		f.Fatal(err)
	}
	f.Add(withCookie)
	m, tr := floodManager(f)
	remote := netip.MustParseAddrPort("192.0.2.1:500")
	local := netip.MustParseAddrPort("192.0.2.2:500")
	f.Fuzz(func(t *testing.T, data []byte) {
		sent, cookies := tr.sent, m.stats.cookiesSent.Load()
		counted := m.stats.invalid.Load() + m.stats.dropped.Load() + m.stats.inboxFull.Load()
		m.HandleDatagram(data, remote, local, false)
		queued := len(m.initInbox)
		for _, q := range m.inbox {
			queued += len(q)
		}
		answered := tr.sent - sent
		if answered+queued+int(m.stats.invalid.Load()+m.stats.dropped.Load()+m.stats.inboxFull.Load()-counted) != 1 {
			t.Fatalf("%d answered, %d queued, %d counted", answered, queued, m.stats.invalid.Load()+m.stats.dropped.Load()+m.stats.inboxFull.Load()-counted)
		}
		if answered == 1 {
			nonce, _, ok := scanInitRequest(data)
			spi := binary.BigEndian.Uint64(data[0:8])
			ans, err := wire.Parse(tr.last[:tr.lastLen])
			if !ok || err != nil || m.stats.cookiesSent.Load() != cookies+1 {
				t.Fatalf("answered a request that does not scan (ok %v) or with %x (%v)", ok, tr.last[:tr.lastLen], err)
			}
			if n := ans.GetNotify(wire.NotifyCookie); n == nil || ans.Header.SPIi != spi || !m.cookies.verify(n.Data, nonce, remote.Addr(), spi) {
				t.Fatalf("answer %x is not a valid COOKIE", tr.last[:tr.lastLen])
			}
		}
		for len(m.initInbox) > 0 {
			m.done(<-m.initInbox)
		}
		for _, q := range m.inbox {
			for len(q) > 0 {
				m.done(<-q)
			}
		}
	})
}

// TestQueuedRequestsCountTowardsThreshold: on the NAT-T port, where fresh
// IKE_SA_INIT requests queue for the workers, the requests still waiting
// count towards cookie_threshold, so that the first of a flood's requests
// already get a COOKIE; a request alone makes a half-open SA.
func TestQueuedRequestsCountTowardsThreshold(t *testing.T) {
	m, tr := floodManager(t)
	m.cfg.IKE.CookieThreshold = 2
	remote := netip.MustParseAddrPort("192.0.2.1:4500")
	local := netip.MustParseAddrPort("192.0.2.2:4500")
	pkt := floodRequest(t)
	for i := range 3 {
		binary.BigEndian.PutUint64(pkt[0:8], 0x200+uint64(i))
		m.HandleDatagram(pkt, remote, local, true)
	}
	d := <-m.initInbox // two still queued
	m.process(d)
	m.done(d)
	if m.stats.cookiesSent.Load() != 1 || m.halfOpenCount.Load() != 0 || tr.sent != 1 {
		t.Fatalf("with two more queued: %d cookies, %d half-open, %d sent", m.stats.cookiesSent.Load(), m.halfOpenCount.Load(), tr.sent)
	}
	for len(m.initInbox) > 0 {
		m.done(<-m.initInbox)
	}
	binary.BigEndian.PutUint64(pkt[0:8], 0x300)
	m.HandleDatagram(pkt, remote, local, true)
	d = <-m.initInbox
	m.process(d)
	m.done(d)
	if m.stats.cookiesSent.Load() != 1 || m.halfOpenCount.Load() != 1 || tr.sent != 2 {
		t.Fatalf("alone: %d cookies, %d half-open, %d sent", m.stats.cookiesSent.Load(), m.halfOpenCount.Load(), tr.sent)
	}
	for _, sa := range m.snapshot() {
		sa.mu.Lock()
		sa.destroyLocked("test done")
		sa.mu.Unlock()
	}
}
