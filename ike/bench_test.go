package ike

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"log/slog"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/esptun/esptun/config"
	"github.com/esptun/esptun/crypto"
	"github.com/esptun/esptun/ike/auth"
	"github.com/esptun/esptun/ike/wire"
	"github.com/esptun/esptun/sad"
	"github.com/esptun/esptun/spd"
)

// BenchmarkEstablishIKESA measures IKE SAs set up per second (IKE_SA_INIT
// and IKE_AUTH with PSK, aes128gcm16-prfsha256-x25519) between two
// Managers in this process over loopback UDP, one after the other and
// with 8 in flight at once. cpu-ms/SA is the process's CPU time (both
// ends) per IKE SA, from getrusage where the OS has it.
func BenchmarkEstablishIKESA(b *testing.B) {
	for _, par := range []int{1, 8} {
		name := "serial"
		if par > 1 {
			name = "parallel-8"
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			_, moon, _ := newPair(b, pairOpts{})
			conn := moon.m.connByName("c")
			cpu0, haveCPU := processCPU()
			b.ResetTimer()
			var wg sync.WaitGroup
			work := make(chan struct{})
			for range par {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for range work {
						ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
						// child nil: an IKE SA without Child SA, so that
						// only IKE is measured.
						err := moon.m.initiate(ctx, conn, nil, nil)
						cancel()
						if err != nil {
							b.Error(err)
						}
					}
				}()
			}
			for range b.N {
				work <- struct{}{}
			}
			close(work)
			wg.Wait()
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "SAs/s")
			if cpu1, ok := processCPU(); ok && haveCPU {
				b.ReportMetric(float64((cpu1-cpu0).Microseconds())/1000/float64(b.N), "cpu-ms/SA")
			}
		})
	}
}

// responderBenchConf is the responder of bench/run.sh's handshake section
// (bench/cmd/benchrun): one connection for %any, PSK, forced UDP
// encapsulation, one Child SA.
const responderBenchConf = `
[ike]
port = 500
natt_port = 4500

[connections.lt]
remote_addrs = ["%any"]
local_addrs = ["10.77.0.2"]
proposals = ["aes128gcm16-prfsha256-x25519"]
encap = true

[connections.lt.local]
auth = "psk"
id = "responder.bench"

[connections.lt.remote]
auth = "psk"

[connections.lt.children.net]
local_ts = ["10.80.0.0/16"]
remote_ts = ["10.79.0.0/16"]
esp_proposals = ["aes128gcm16"]

[secrets.ike-lt]
secret = "esptun-bench-psk-0123456789abcdef"
`

// captureTransport keeps the last IKE message a Manager sent.
type captureTransport struct {
	mu   sync.Mutex
	last []byte
	sent int
}

func (c *captureTransport) SendIKE(pkt []byte, local, remote netip.AddrPort, natt bool) error {
	c.mu.Lock()
	c.last = append(c.last[:0], pkt...)
	c.sent++
	c.mu.Unlock()
	return nil
}

func (c *captureTransport) SendKeepalive(local, remote netip.AddrPort) error { return nil }

// take returns a copy of the last message sent and how many were sent.
func (c *captureTransport) take() ([]byte, int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.sent
	c.sent = 0
	return append([]byte(nil), c.last...), n
}

// scriptedInitiator plays strongSwan's load tester against a responder
// Manager: it builds the requests of one IKE SA and checks the answers.
type scriptedInitiator struct {
	tb     testing.TB
	m      *Manager
	tr     *captureTransport
	suite  crypto.IKESuite
	ikeP   crypto.Proposal
	espP   []crypto.Proposal
	secret []byte
	local  netip.Addr // the responder's
	remote netip.Addr // the initiator's
	n      int

	// per IKE SA
	spiI, spiR uint64
	ni, nr     []byte
	ke         crypto.KeyExchange
	initReq    []byte
	out, in    crypto.IKECipher
	keys       *crypto.IKEKeys
	espSPI     uint32
	msgID      uint32
}

func newScriptedInitiator(tb testing.TB) *scriptedInitiator {
	cfg, err := config.Parse("responder.toml", []byte(responderBenchConf))
	if err != nil {
		tb.Fatal(err)
	}
	tr := &captureTransport{}
	var mp atomic.Pointer[Manager]
	sadb := sad.New(func(ev sad.Event) {
		if m := mp.Load(); m != nil {
			m.HandleSAEvent(ev)
		}
	})
	// log_level = "warn", as the responder of bench/run.sh runs.
	log := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m, err := New(Options{Config: cfg, Transport: tr, SPD: &spd.DB{}, SAD: sadb, Logger: log})
	if err != nil {
		tb.Fatal(err)
	}
	mp.Store(m)
	tb.Cleanup(func() {
		// Nobody answers the DELETEs of what is left.
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		defer cancel()
		m.Close(ctx)
	})
	conn := cfg.Connections[0]
	suite, err := crypto.SuiteFromProposal(conn.Proposals[0])
	if err != nil {
		tb.Fatal(err)
	}
	return &scriptedInitiator{tb: tb, m: m, tr: tr, suite: suite, ikeP: conn.Proposals[0],
		espP: conn.Children[0].ESPProposals, secret: []byte("esptun-bench-psk-0123456789abcdef"),
		local: netip.MustParseAddr("10.77.0.2"), remote: netip.MustParseAddr("10.77.0.1")}
}

// deliver hands pkt to the responder as its reader would and returns its
// answer.
func (s *scriptedInitiator) deliver(pkt []byte, natt bool) []byte {
	port := uint16(500)
	if natt {
		port = 4500
	}
	s.m.process(datagram{pkt: append([]byte(nil), pkt...), remote: netip.AddrPortFrom(s.remote, port),
		local: netip.AddrPortFrom(s.local, port), natt: natt})
	resp, n := s.tr.take()
	if n != 1 {
		s.tb.Fatalf("responder sent %d messages, want 1", n)
	}
	return resp
}

// initRequest builds a new IKE SA's IKE_SA_INIT request.
func (s *scriptedInitiator) initRequest() []byte {
	s.n++
	s.spiI, s.spiR, s.msgID = newIKESPI(), 0, 1
	s.ni = newNonce()
	ke, err := crypto.NewKeyExchange(s.suite.DH)
	if err != nil {
		s.tb.Fatal(err)
	}
	s.ke = ke
	natd := func(a netip.AddrPort) []byte { return crypto.NATDetectionHash(s.spiI, 0, a) }
	msg := &wire.Message{
		Header: wire.Header{SPIi: s.spiI, Exchange: wire.ExchangeIKESAInit, Flags: wire.FlagInitiator, MajorVersion: 2},
		Payloads: []wire.Payload{
			&wire.SA{Proposals: []wire.Proposal{toWireProposal(s.ikeP, 1, wire.ProtocolIKE, nil)}},
			&wire.KE{Group: ke.Group(), Data: ke.Public()},
			&wire.Nonce{Data: s.ni},
			notifyData(wire.NotifyNATDetectionSourceIP, natd(netip.AddrPortFrom(s.remote, 500))),
			notifyData(wire.NotifyNATDetectionDestinationIP, natd(netip.AddrPortFrom(s.local, 500))),
			notify(wire.NotifyIKEv2FragmentationSupported),
			notifyData(wire.NotifySignatureHashAlgorithms, []byte{0, 2, 0, 3, 0, 4}),
		},
	}
	pkt, err := msg.Encode()
	if err != nil {
		s.tb.Fatal(err)
	}
	s.initReq = pkt
	return pkt
}

// authRequest takes the IKE_SA_INIT response and builds the IKE_AUTH
// request with a Child SA.
func (s *scriptedInitiator) authRequest(resp []byte) []byte {
	msg, err := wire.Parse(resp)
	if err != nil {
		s.tb.Fatal(err)
	}
	kePl, nPl := payloadOf[*wire.KE](msg.Payloads), payloadOf[*wire.Nonce](msg.Payloads)
	if kePl == nil || nPl == nil || msg.Header.SPIr == 0 {
		s.tb.Fatalf("IKE_SA_INIT response without KE or Nonce: %v", msg)
	}
	s.spiR, s.nr = msg.Header.SPIr, nPl.Data
	shared, err := s.ke.SharedSecret(kePl.Data)
	if err != nil {
		s.tb.Fatal(err)
	}
	keys, err := crypto.DeriveIKEKeys(s.suite, s.ni, s.nr, shared, s.spiI, s.spiR)
	if err != nil {
		s.tb.Fatal(err)
	}
	s.keys = keys
	if s.out, err = crypto.NewIKECipher(s.suite, keys.SKei(), keys.SKai()); err != nil {
		s.tb.Fatal(err)
	}
	if s.in, err = crypto.NewIKECipher(s.suite, keys.SKer(), keys.SKar()); err != nil {
		s.tb.Fatal(err)
	}
	prf, err := crypto.NewPRF(s.suite.PRF)
	if err != nil {
		s.tb.Fatal(err)
	}
	prfFunc := func(key, data []byte) []byte { return prf.Compute(key, data) }
	idi := auth.Identity{Type: uint8(wire.IDFQDN), Data: fmt.Appendf(nil, "lt-%d.bench", s.n)}
	idr := auth.Identity{Type: uint8(wire.IDFQDN), Data: []byte("responder.bench")}
	octets := auth.SignedOctets(s.initReq, s.nr, prfFunc, keys.SKpi(), idi.PayloadBody())
	s.espSPI = 0xc0000000 | uint32(s.n)
	props, _ := espProposals(s.espP, s.espSPI, false)
	ts := func(p string) wire.TrafficSelector {
		pr := netip.MustParsePrefix(p)
		last := pr.Addr().As4()
		for i := pr.Bits() / 8; i < 4; i++ {
			last[i] = 0xff
		}
		return wire.TrafficSelector{Type: wire.TSIPv4AddrRange, EndPort: 0xffff, StartAddr: pr.Addr(), EndAddr: netip.AddrFrom4(last)}
	}
	return s.encrypt(wire.ExchangeIKEAuth, []wire.Payload{
		idPayload(true, idi),
		idPayload(false, idr),
		&wire.Auth{Method: wire.AuthPSK, Data: auth.PSKAuth(prfFunc, s.secret, octets)},
		&wire.SA{Proposals: props},
		&wire.TS{Initiator: true, Selectors: []wire.TrafficSelector{ts("10.79.0.0/16")}},
		&wire.TS{Initiator: false, Selectors: []wire.TrafficSelector{ts("10.80.0.0/16")}},
	})
}

// encrypt builds the next request of the IKE SA.
func (s *scriptedInitiator) encrypt(exch wire.ExchangeType, ps []wire.Payload) []byte {
	h := wire.Header{SPIi: s.spiI, SPIr: s.spiR, Exchange: exch, Flags: wire.FlagInitiator, MessageID: s.msgID, MajorVersion: 2}
	s.msgID++
	pkt, err := wire.EncodeEncrypted(h, ps, s.out)
	if err != nil {
		s.tb.Fatal(err)
	}
	return pkt
}

// open decrypts a response of the responder.
func (s *scriptedInitiator) open(resp []byte) []wire.Payload {
	msg, err := wire.Parse(resp)
	if err != nil {
		s.tb.Fatal(err)
	}
	ps, err := wire.DecryptSK(resp, msg, s.in)
	if err != nil {
		s.tb.Fatal(err)
	}
	if n := errorNotify(ps); n != nil {
		s.tb.Fatalf("responder answered %v", n.NotifyType)
	}
	return ps
}

// deleteRequest deletes the Child SA (as the load tester does once it is
// up) or, with ike set, the IKE SA.
func (s *scriptedInitiator) deleteRequest(ike bool) []byte {
	d := &wire.Delete{Protocol: wire.ProtocolIKE}
	if !ike {
		spi := binary.BigEndian.AppendUint32(nil, s.espSPI)
		d = &wire.Delete{Protocol: wire.ProtocolESP, SPISize: 4, SPIs: [][]byte{spi}}
	}
	return s.encrypt(wire.ExchangeInformational, []wire.Payload{d})
}

// BenchmarkResponder measures the responder's own work for one IKE SA as
// strongSwan's load tester makes it in bench/run.sh: IKE_SA_INIT, IKE_AUTH
// with PSK and a Child SA (aes128gcm16-prfsha256-x25519, ESP
// aes128gcm16), and the INFORMATIONAL exchange in which the initiator
// deletes the Child SA. The initiator is scripted here and runs with the
// timer stopped; the responder's Manager handles each request on the
// benchmark's goroutine, so ns/op, B/op and allocs/op are the responder's
// alone, without sockets and goroutine hand-offs. Each IKE SA is deleted
// afterwards, outside the measurement.
func BenchmarkResponder(b *testing.B) {
	b.ReportAllocs()
	s := newScriptedInitiator(b)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		req := s.initRequest()
		b.StartTimer()
		resp := s.deliver(req, false)
		b.StopTimer()
		req = s.authRequest(resp)
		b.StartTimer()
		resp = s.deliver(req, true)
		b.StopTimer()
		if ps := s.open(resp); payloadOf[*wire.Auth](ps) == nil || payloadOf[*wire.SA](ps) == nil {
			b.Fatalf("IKE_AUTH response without AUTH or SA: %s", wire.PayloadsString(ps))
		}
		req = s.deleteRequest(false)
		b.StartTimer()
		resp = s.deliver(req, true)
		b.StopTimer()
		s.open(resp)
		s.open(s.deliver(s.deleteRequest(true), true))
		b.StartTimer()
	}
}
