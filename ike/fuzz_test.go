package ike

import (
	"encoding/binary"
	"encoding/hex"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/esptun/esptun/config"
	"github.com/esptun/esptun/ike/wire"
	"github.com/esptun/esptun/sad"
	"github.com/esptun/esptun/spd"
)

// capturedExchange is what moon sent to sun in a real exchange over the
// loopback harness: IKE_SA_INIT, IKE_AUTH, CREATE_CHILD_SA (new child and
// rekey), INFORMATIONAL (DELETE), and sun's responses.
type capturedExchange struct {
	port, nport uint16
	requests    [][]byte // moon -> sun, in order
	responses   [][]byte // sun -> moon
}

var (
	captureOnce sync.Once
	captureData *capturedExchange
)

// captureExchange runs moon and sun once and records every datagram that
// reached either of them.
func captureExchange(t testing.TB) *capturedExchange {
	t.Helper()
	captureOnce.Do(func() {
		o := pairOpts{}
		for i := range 2 {
			o.extraConns[i] = "[connections.c.children.more]\nlocal_ts = [" + sideTSAlt[i] + "]\nremote_ts = [" + sideTSAlt[1-i] +
				"]\nesp_proposals = [\"aes128gcm16-x25519\"]\nrekey_time = 0\n"
		}
		h, moon, sun := newPair(t, o)
		c := &capturedExchange{port: h.port, nport: h.nport}
		var mu sync.Mutex
		sun.tr.setCapture(func(d *datagramInfo) {
			if d.dir == dirIn {
				mu.Lock()
				c.requests = append(c.requests, append([]byte(nil), d.pkt...))
				mu.Unlock()
			}
		})
		moon.tr.setCapture(func(d *datagramInfo) {
			if d.dir == dirIn {
				mu.Lock()
				c.responses = append(c.responses, append([]byte(nil), d.pkt...))
				mu.Unlock()
			}
		})
		establish(t, moon, sun)
		if err := moon.m.Initiate(ctxT(t, 10*time.Second), "more"); err != nil {
			t.Fatalf("initiate more: %v", err)
		}
		if err := moon.m.RekeyChild(ctxT(t, 10*time.Second), "net"); err != nil {
			t.Fatalf("rekey: %v", err)
		}
		if err := moon.m.Terminate(ctxT(t, 10*time.Second), "c"); err != nil {
			t.Fatalf("terminate: %v", err)
		}
		// Stop now: the fuzzing engine starts goroutines of its own
		// before the test's cleanup would run.
		h.cleanup()
		mu.Lock()
		defer mu.Unlock()
		if len(c.requests) < 5 || len(c.responses) < 5 {
			t.Fatalf("captured %d requests and %d responses", len(c.requests), len(c.responses))
		}
		captureData = c
	})
	if captureData == nil {
		t.Fatal("no captured exchange")
	}
	return captureData
}

// sinkTransport counts what a Manager sends and sends nothing.
type sinkTransport struct{ sent atomic.Uint64 }

func (s *sinkTransport) SendIKE(pkt []byte, local, remote netip.AddrPort, natt bool) error {
	s.sent.Add(1)
	return nil
}

func (s *sinkTransport) SendKeepalive(local, remote netip.AddrPort) error { return nil }

// fuzzResponder is sun's Manager without workers: datagrams are processed
// on the caller's goroutine.
type fuzzResponder struct {
	m             *Manager
	tx            *sinkTransport
	sad           *sad.DB
	spd           *spd.DB
	remote, local netip.AddrPort
	now           bool // feed with HandleDatagramNow
}

func newFuzzResponder(t testing.TB, c *capturedExchange) *fuzzResponder {
	t.Helper()
	toml := strings.NewReplacer("{{port}}", strconv.Itoa(int(c.port)), "{{natt}}", strconv.Itoa(int(c.nport))).
		Replace(pairConfig(&pairOpts{}, 1, nil))
	cfg, err := config.Parse("sun.toml", []byte(toml))
	if err != nil {
		t.Fatal(err)
	}
	f := &fuzzResponder{tx: &sinkTransport{}, sad: sad.New(nil), spd: &spd.DB{},
		remote: netip.AddrPortFrom(addrMoon, c.port), local: netip.AddrPortFrom(addrSun, c.port)}
	f.m, err = New(Options{Config: cfg, Transport: f.tx, SPD: f.spd, SAD: f.sad, Logger: quietLog("sun")})
	if err != nil {
		t.Fatal(err)
	}
	// Not started: no workers, so feed processes synchronously; Close
	// still destroys whatever is left.
	f.m.closing = make(chan struct{})
	t.Cleanup(func() {
		for _, sa := range f.m.snapshot() {
			sa.mu.Lock()
			sa.destroyLocked("test done")
			sa.mu.Unlock()
		}
	})
	return f
}

// feed hands pkt to the Manager and processes it at once.
func (f *fuzzResponder) feed(pkt []byte) {
	if f.now {
		f.m.HandleDatagramNow(pkt, f.remote, f.local, false)
	} else {
		f.m.HandleDatagram(pkt, f.remote, f.local, false)
	}
	for _, inbox := range append([]chan datagram{f.m.initInbox}, f.m.inbox...) {
	drain:
		for {
			select {
			case d := <-inbox:
				f.m.process(d)
			default:
				break drain
			}
		}
	}
}

// trace sums the counters that say a datagram was seen and handled.
func (f *fuzzResponder) trace() uint64 {
	s := &f.m.stats
	n := s.dropped.Load() + s.invalid.Load() + s.inboxFull.Load() + s.cookiesSent.Load() + f.tx.sent.Load()
	f.m.mu.Lock()
	n += uint64(len(f.m.sas))
	f.m.mu.Unlock()
	return n
}

// checkNothingInstalled fails unless no SA and no policy was installed and
// no IKE SA is established.
func (f *fuzzResponder) checkNothingInstalled(t testing.TB) {
	t.Helper()
	if n := len(f.sad.All()); n != 0 {
		t.Fatalf("%d SAs installed", n)
	}
	if p := f.spd.LookupOutbound(&spd.Packet{Src: netip.MustParseAddr("10.2.0.7"), Dst: netip.MustParseAddr("10.1.0.5")}); p != nil {
		t.Fatalf("policy %s installed", p.Name)
	}
	for _, sa := range f.m.snapshot() {
		sa.mu.Lock()
		st := sa.state
		sa.mu.Unlock()
		if st == stateEstablished {
			t.Fatal("an IKE SA got established")
		}
	}
}

// checkInput feeds one input and checks that it left a trace in the
// counters (or was answered, or created a half-open SA).
func (f *fuzzResponder) checkInput(t testing.TB, pkt []byte) {
	t.Helper()
	before, rcvd := f.trace(), f.m.stats.received.Load()
	f.feed(pkt)
	if f.m.stats.received.Load() != rcvd+1 {
		t.Fatalf("received counter did not move")
	}
	if f.trace() == before {
		t.Fatalf("a %d-byte datagram left no trace in the counters", len(pkt))
	}
	f.checkNothingInstalled(t)
}

func seedFuzz(f *testing.F, c *capturedExchange) {
	for _, p := range c.requests {
		f.Add(p, false)
		f.Add(p, true)
	}
	for _, p := range c.responses {
		f.Add(p, true)
	}
	// IKE_SA_INIT and IKE_AUTH as strongSwan and esptun sent them to
	// each other in an interop run (see wire/testdata/README.md).
	for _, name := range []string{"strongswan-5.9.8-ike_sa_init-request.hex",
		"strongswan-5.9.8-ike_sa_init-request-ecdsa.hex", "esptun-ike_sa_init-response-ecdsa.hex",
		"strongswan-5.9.8-ike_auth-request-ecdsa.hex", "esptun-ike_auth-response-ecdsa.hex"} {
		s, err := os.ReadFile(filepath.Join("wire", "testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		p, err := hex.DecodeString(strings.TrimSpace(string(s)))
		if err != nil {
			f.Fatalf("%s: %v", name, err)
		}
		f.Add(p, false)
	}
	f.Add([]byte{}, false)
	f.Add(make([]byte, wire.HeaderLen), false)
}

// FuzzHandleDatagram feeds arbitrary datagrams to a responder without any
// IKE SA, queued or (now) processed at once by HandleDatagramNow: it must
// never panic, never install anything, and account for every datagram.
func FuzzHandleDatagram(f *testing.F) {
	c := captureExchange(f)
	seedFuzz(f, c)
	r := newFuzzResponder(f, c)
	f.Fuzz(func(t *testing.T, data []byte, now bool) {
		r.now = now
		r.checkInput(t, data)
	})
}

// FuzzResponder: after a real IKE_SA_INIT request created a half-open IKE
// SA on the responder, random datagrams and mutated real messages carrying
// that SA's SPIs (target) reach the SA. It must never panic, the half-open
// SA must keep its state, nothing gets installed, and every datagram is
// accounted for.
func FuzzResponder(f *testing.F) {
	c := captureExchange(f)
	seedFuzz(f, c)
	r := newFuzzResponder(f, c)
	r.feed(c.requests[0])
	if r.m.halfOpenCount.Load() != 1 {
		f.Fatalf("the captured IKE_SA_INIT created %d half-open SAs", r.m.halfOpenCount.Load())
	}
	half := r.m.snapshot()[0]
	half.mu.Lock()
	spiI, spiR := half.spiI, half.spiR
	half.mu.Unlock()
	f.Fuzz(func(t *testing.T, data []byte, target bool) {
		if target && len(data) >= wire.HeaderLen {
			data = append([]byte(nil), data...)
			binary.BigEndian.PutUint64(data[0:], spiI)
			binary.BigEndian.PutUint64(data[8:], spiR)
		}
		r.checkInput(t, data)
		half.mu.Lock()
		st, next, dead := half.state, half.peerNextID, half.state == stateDead
		half.mu.Unlock()
		if dead || st != stateInitDone || next != 1 {
			t.Fatalf("half-open SA changed: state %v, next message ID %d", st, next)
		}
		r.m.mu.Lock()
		reg := r.m.sas[spiR] == half
		r.m.mu.Unlock()
		if !reg {
			t.Fatal("half-open SA no longer registered")
		}
	})
}
