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

type nopTransport struct{ sent int }

func (t *nopTransport) SendIKE(pkt []byte, local, remote netip.AddrPort, natt bool) error {
	t.sent++
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
// from HandleDatagram to the answer.
func BenchmarkInitFlood(b *testing.B) {
	m, tr := floodManager(b)
	pkt := floodRequest(b)
	remote := netip.MustParseAddrPort("192.0.2.1:500")
	local := netip.MustParseAddrPort("192.0.2.2:500")
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		binary.BigEndian.PutUint64(pkt[0:8], uint64(i)+1)
		m.HandleDatagram(pkt, remote, local, false)
		d := <-m.initInbox
		m.process(d)
		m.done(d)
	}
	b.StopTimer()
	if tr.sent != b.N || m.halfOpenCount.Load() != 0 {
		b.Fatalf("%d answers to %d requests, %d half-open", tr.sent, b.N, m.halfOpenCount.Load())
	}
}

// TestInitFloodBounds: what waits for a worker is bounded in bytes, for
// small and for large datagrams, and answering a flood with cookies
// allocates nothing.
func TestInitFloodBounds(t *testing.T) {
	m, tr := floodManager(t)
	remote := netip.MustParseAddrPort("192.0.2.1:500")
	local := netip.MustParseAddrPort("192.0.2.2:500")
	small := floodRequest(t)
	big := make([]byte, 60000)
	copy(big, small)
	for i := range 5000 {
		binary.BigEndian.PutUint64(small[0:8], uint64(i)+1)
		m.HandleDatagram(small, remote, local, false)
		binary.BigEndian.PutUint64(big[0:8], uint64(i)+1)
		m.HandleDatagram(big, remote, local, false)
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
	if full := m.stats.inboxFull.Load(); full < 10000-maxFreshBytes/freshBufSize {
		t.Errorf("only %d of 10000 requests refused", full)
	}
	sent := tr.sent
	allocs := testing.AllocsPerRun(1000, func() {
		binary.BigEndian.PutUint64(small[0:8], binary.BigEndian.Uint64(small[0:8])+1)
		m.HandleDatagram(small, remote, local, false)
		d := <-m.initInbox
		m.process(d)
		m.done(d)
	})
	if allocs != 0 && !raceEnabled || tr.sent == sent || m.stats.cookiesSent.Load() == 0 {
		t.Errorf("%.1f allocations per flood request, %d answers", allocs, tr.sent-sent)
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
