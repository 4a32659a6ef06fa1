package ike

import (
	"context"
	stdcrypto "crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/binary"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/esptun/esptun/config"
	"github.com/esptun/esptun/crypto"
	"github.com/esptun/esptun/esp"
	"github.com/esptun/esptun/ike/wire"
	"github.com/esptun/esptun/sad"
	"github.com/esptun/esptun/spd"
)

// The harness runs Managers against each other over real UDP sockets on
// loopback: every peer owns an IKE socket and a NAT-T socket (RFC 3948 2.2)
// on its own address, its own SPD and SAD, and a transport that can drop,
// duplicate and delay datagrams in either direction on command.

// Peer addresses: Linux routes all of 127.0.0.0/8 to the loopback device.
var (
	addrMoon = netip.MustParseAddr("127.0.0.1")
	addrSun  = netip.MustParseAddr("127.0.0.2")
	addrMars = netip.MustParseAddr("127.0.0.3")
)

// nonESPMarker precedes IKE messages on the NAT-T port (RFC 3948 2.2).
var nonESPMarker = []byte{0, 0, 0, 0}

// direction of a datagram as a transport filter sees it.
type direction int

const (
	dirOut direction = iota // sent by this peer
	dirIn                   // received by this peer
)

// datagramInfo describes one IKE datagram to a filter.
type datagramInfo struct {
	dir    direction
	pkt    []byte // the IKE message (no marker); do not modify or retain
	natt   bool
	header wire.Header // zero if pkt has no valid header
	valid  bool
}

// response reports whether the datagram is an IKE response.
func (d *datagramInfo) response() bool { return d.valid && d.header.IsResponse() }

// verdict is what a filter decides for one datagram: drop it, pass it
// copies times (0 means once), and after delay.
type verdict struct {
	drop   bool
	copies int
	delay  time.Duration
}

// filterFunc decides the fate of a datagram. It runs on the sender's or
// the reader's goroutine and must be safe for concurrent use.
type filterFunc func(d *datagramInfo) verdict

// testTransport is a Transport with two UDP sockets: the IKE port and the
// NAT-T port, where the non-ESP marker is added on send and stripped on
// receipt before Manager.HandleDatagram.
type testTransport struct {
	name       string
	addr       netip.Addr
	ike, natt  *net.UDPConn
	port, nprt uint16
	handler    atomic.Pointer[Manager]

	mu      sync.Mutex
	filter  filterFunc
	closed  bool
	capture func(d *datagramInfo) // sees every datagram that passed the filter

	wg sync.WaitGroup // readers and delayed deliveries

	sent, received, dropped, keepalives, espIn atomic.Uint64
}

func (tr *testTransport) setFilter(f filterFunc) {
	tr.mu.Lock()
	tr.filter = f
	tr.mu.Unlock()
}

func (tr *testTransport) setCapture(f func(d *datagramInfo)) {
	tr.mu.Lock()
	tr.capture = f
	tr.mu.Unlock()
}

// decide runs the filter and capture hook; it returns the verdict.
func (tr *testTransport) decide(dir direction, pkt []byte, natt bool) verdict {
	tr.mu.Lock()
	f, capture := tr.filter, tr.capture
	tr.mu.Unlock()
	d := &datagramInfo{dir: dir, pkt: pkt, natt: natt}
	if h, err := wire.ParseHeader(pkt); err == nil {
		d.header, d.valid = h, true
	}
	var v verdict
	if f != nil {
		v = f(d)
	}
	if v.drop {
		tr.dropped.Add(1)
	} else if capture != nil {
		capture(d)
	}
	return v
}

// later runs fn after delay unless the transport closes first.
func (tr *testTransport) later(delay time.Duration, fn func()) {
	tr.mu.Lock()
	if tr.closed {
		tr.mu.Unlock()
		return
	}
	tr.wg.Add(1)
	tr.mu.Unlock()
	time.AfterFunc(delay, func() {
		defer tr.wg.Done()
		tr.mu.Lock()
		closed := tr.closed
		tr.mu.Unlock()
		if !closed {
			fn()
		}
	})
}

// SendIKE implements Transport.
func (tr *testTransport) SendIKE(pkt []byte, local, remote netip.AddrPort, natt bool) error {
	if local.Addr().IsValid() && local.Addr() != tr.addr {
		return fmt.Errorf("%s: send from %s, which is not ours", tr.name, local)
	}
	v := tr.decide(dirOut, pkt, natt)
	if v.drop {
		return nil
	}
	conn := tr.ike
	buf := append([]byte(nil), pkt...)
	if natt {
		conn = tr.natt
		buf = append(append([]byte(nil), nonESPMarker...), pkt...)
	}
	send := func() {
		for range max(v.copies, 1) {
			tr.sent.Add(1)
			_, _ = conn.WriteToUDPAddrPort(buf, remote)
		}
	}
	if v.delay > 0 {
		tr.later(v.delay, send)
		return nil
	}
	send()
	return nil
}

// SendKeepalive implements Transport.
func (tr *testTransport) SendKeepalive(local, remote netip.AddrPort) error {
	_, err := tr.natt.WriteToUDPAddrPort([]byte{0xff}, remote)
	return err
}

func (tr *testTransport) start() {
	tr.wg.Add(2)
	go tr.routineRead(tr.ike, false)
	go tr.routineRead(tr.natt, true)
}

// routineRead feeds one socket's datagrams to the Manager until the socket
// is closed.
func (tr *testTransport) routineRead(c *net.UDPConn, natt bool) {
	defer tr.wg.Done()
	buf := make([]byte, 65536)
	local := netip.AddrPortFrom(tr.addr, tr.port)
	if natt {
		local = netip.AddrPortFrom(tr.addr, tr.nprt)
	}
	for {
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue
		}
		from = netip.AddrPortFrom(from.Addr().Unmap(), from.Port())
		pkt := buf[:n]
		if natt {
			switch {
			case n == 1 && pkt[0] == 0xff:
				tr.keepalives.Add(1) // RFC 3948 2.3
				continue
			case n >= 4 && binary.BigEndian.Uint32(pkt) == 0:
				pkt = pkt[4:]
			default:
				tr.espIn.Add(1)
				continue
			}
		}
		v := tr.decide(dirIn, pkt, natt)
		if v.drop {
			continue
		}
		m := tr.handler.Load()
		if m == nil {
			continue
		}
		tr.received.Add(1)
		deliver := func(p []byte) {
			for range max(v.copies, 1) {
				m.HandleDatagram(p, from, local, natt)
			}
		}
		if v.delay > 0 {
			cp := append([]byte(nil), pkt...)
			tr.later(v.delay, func() { deliver(cp) })
			continue
		}
		deliver(pkt)
	}
}

func (tr *testTransport) close() {
	tr.mu.Lock()
	tr.closed = true
	tr.mu.Unlock()
	tr.ike.Close()
	tr.natt.Close()
	tr.wg.Wait()
}

// bindPorts binds an IKE and a NAT-T socket on each address, with the same
// two port numbers on all of them: a Manager assumes its peer's NAT-T port
// is its own natt_port.
func bindPorts(t testing.TB, addrs ...netip.Addr) (ike, natt []*net.UDPConn, port, nport uint16) {
	t.Helper()
	bindSame := func() ([]*net.UDPConn, uint16) {
		for range 50 {
			first, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(addrs[0], 0)))
			if err != nil {
				t.Fatalf("bind %s: %v", addrs[0], err)
			}
			p := uint16(first.LocalAddr().(*net.UDPAddr).Port)
			conns := []*net.UDPConn{first}
			for _, a := range addrs[1:] {
				c, err := net.ListenUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(a, p)))
				if err != nil {
					break
				}
				conns = append(conns, c)
			}
			if len(conns) == len(addrs) {
				return conns, p
			}
			for _, c := range conns {
				c.Close()
			}
		}
		t.Fatal("no port free on every loopback address")
		return nil, 0
	}
	ike, port = bindSame()
	natt, nport = bindSame()
	return ike, natt, port, nport
}

// peer is one Manager with its transport, SPD and SAD.
type peer struct {
	name string
	addr netip.Addr
	cfg  *config.Config
	m    *Manager
	tr   *testTransport
	spd  *spd.DB
	sad  *sad.DB
	dir  string // where its config and credentials are

	closeOnce sync.Once
}

// harness owns a set of peers and stops them in t.Cleanup, then checks
// that no goroutine was left behind.
type harness struct {
	t     testing.TB
	peers []*peer
	port  uint16 // IKE port of every peer
	nport uint16 // NAT-T port of every peer
	ike   []*net.UDPConn
	natt  []*net.UDPConn
	used  []bool
	base  int // goroutines before the harness started

	stopOnce sync.Once
}

// quietLog discards log output unless ESPTUN_TEST_LOG is set.
func quietLog(name string) *slog.Logger {
	if os.Getenv("ESPTUN_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("side", name)
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// newHarness binds sockets for peers on addrs (moon, sun, ... by default).
func newHarness(t testing.TB, addrs ...netip.Addr) *harness {
	t.Helper()
	if len(addrs) == 0 {
		addrs = []netip.Addr{addrMoon, addrSun}
	}
	h := &harness{t: t, base: runtime.NumGoroutine()}
	h.ike, h.natt, h.port, h.nport = bindPorts(t, addrs...)
	h.used = make([]bool, len(addrs))
	t.Cleanup(h.cleanup)
	return h
}

// addPeer starts a Manager on the i-th address with the given TOML. The
// TOML may use {{port}}, {{natt}} and {{dir}}; the [ike] section's ports
// are filled in when the TOML has no [ike] section.
func (h *harness) addPeer(i int, name, toml string) *peer {
	t := h.t
	t.Helper()
	dir := t.TempDir()
	toml = strings.NewReplacer("{{port}}", strconv.Itoa(int(h.port)), "{{natt}}", strconv.Itoa(int(h.nport)),
		"{{dir}}", dir).Replace(toml)
	file := filepath.Join(dir, name+".toml")
	if err := os.WriteFile(file, []byte(toml), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse(file, []byte(toml))
	if err != nil {
		t.Fatalf("%s: config: %v\n%s", name, err, toml)
	}
	addr := h.ike[i].LocalAddr().(*net.UDPAddr).AddrPort().Addr()
	tr := &testTransport{name: name, addr: addr, ike: h.ike[i], natt: h.natt[i], port: h.port, nprt: h.nport}
	h.used[i] = true
	p := &peer{name: name, addr: addr, cfg: cfg, tr: tr, spd: &spd.DB{}, dir: dir}
	var mp atomic.Pointer[Manager]
	p.sad = sad.New(func(ev sad.Event) {
		if m := mp.Load(); m != nil {
			m.HandleSAEvent(ev)
		}
	})
	m, err := New(Options{Config: cfg, Transport: tr, SPD: p.spd, SAD: p.sad, Logger: quietLog(name), Workers: 2})
	if err != nil {
		t.Fatalf("%s: New: %v", name, err)
	}
	mp.Store(m)
	p.m = m
	tr.handler.Store(m)
	tr.start()
	m.Start()
	h.peers = append(h.peers, p)
	return p
}

// close stops p's Manager (sending DELETEs) and then its transport.
func (p *peer) close(ctx context.Context) {
	p.closeOnce.Do(func() {
		p.m.Close(ctx)
	})
}

// cleanup stops every peer once and checks for leaked goroutines; it runs
// in t.Cleanup, or earlier when a test calls it.
func (h *harness) cleanup() { h.stopOnce.Do(h.stop) }

func (h *harness) stop() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	for _, p := range h.peers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.close(ctx)
		}()
	}
	wg.Wait()
	for _, p := range h.peers {
		p.tr.close()
	}
	for i := range h.ike {
		if !h.used[i] {
			h.ike[i].Close()
			h.natt[i].Close()
		}
	}
	checkGoroutines(h.t, h.base)
}

// checkGoroutines fails t if more goroutines run than before, after a grace
// period for timers that were firing when everything stopped.
func checkGoroutines(t testing.TB, before int) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		n := runtime.NumGoroutine()
		if n <= before {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			buf = buf[:runtime.Stack(buf, true)]
			t.Errorf("goroutine leak: %d running, %d before\n%s", n, before, buf)
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// pairOpts describe a moon (127.0.0.1) / sun (127.0.0.2) pair. Index 0 is
// moon, the usual initiator; index 1 is sun. Empty fields take defaults.
type pairOpts struct {
	ike        [2]string // [ike] lines besides the ports
	proposals  [2]string // IKE proposals, TOML array body
	esp        [2]string // ESP proposals, TOML array body
	localTS    [2]string // TOML array body
	remoteTS   [2]string
	psk        [2]string
	conn       [2]string // extra [connections.c] lines
	child      [2]string // extra [connections.c.children.net] lines
	auth       [2]string // "" (psk), or a key type for certificates: "ecdsa", "rsa", "ed25519"
	extraConns [2]string // whole further TOML sections
	foreignCA  [2]bool   // trust a CA that did not issue the peer's certificate
}

// defaultIKE keeps retransmission short so that failures end quickly.
const defaultIKE = `retransmit_timeout = "400ms"
retransmit_base = 1.5
retransmit_tries = 3
`

func pick(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

var (
	sideName = [2]string{"moon", "sun"}
	sideID   = [2]string{"moon.example", "sun.example"}
	sideAddr = [2]netip.Addr{addrMoon, addrSun}
	sideTS   = [2]string{`"10.1.0.0/24"`, `"10.2.0.0/24"`}
)

// pairConfig is the TOML of side i.
func pairConfig(o *pairOpts, i int, creds *testCreds) string {
	j := 1 - i
	var b strings.Builder
	fmt.Fprintf(&b, "[ike]\nport = {{port}}\nnatt_port = {{natt}}\n%s%s\n", pick(o.ike[i], defaultIKE), "")
	fmt.Fprintf(&b, "[connections.c]\nlocal_addrs = [%q]\nremote_addrs = [%q]\nremote_port = {{port}}\nproposals = [%s]\nrekey_time = 0\n%s\n",
		sideAddr[i], sideAddr[j], pick(o.proposals[i], `"aes128gcm16-prfsha256-x25519"`), o.conn[i])
	if o.auth[i] == "" {
		fmt.Fprintf(&b, "[connections.c.local]\nauth = \"psk\"\nid = %q\n\n", sideID[i])
		fmt.Fprintf(&b, "[connections.c.remote]\nauth = \"psk\"\nid = %q\n\n", sideID[j])
	} else {
		fmt.Fprintf(&b, "[connections.c.local]\nauth = \"pubkey\"\nid = %q\ncerts = [%q]\n\n", sideID[i], creds.cert[i])
		ca := creds.ca
		if o.foreignCA[i] {
			ca = creds.foreignCA
		}
		fmt.Fprintf(&b, "[connections.c.remote]\nauth = \"pubkey\"\nid = %q\ncacerts = [%q]\n\n", sideID[j], ca)
	}
	fmt.Fprintf(&b, "[connections.c.children.net]\nlocal_ts = [%s]\nremote_ts = [%s]\nesp_proposals = [%s]\nrekey_time = 0\n%s\n",
		pick(o.localTS[i], sideTS[i]), pick(o.remoteTS[i], sideTS[j]), pick(o.esp[i], `"aes128gcm16"`), o.child[i])
	if o.auth[i] == "" {
		fmt.Fprintf(&b, "[secrets.ike-c]\nid = [%q, %q]\nsecret = %q\n\n", sideID[0], sideID[1], pick(o.psk[i], "correct horse battery staple"))
	} else {
		fmt.Fprintf(&b, "[secrets.private-c]\nfile = %q\n\n", creds.key[i])
	}
	b.WriteString(o.extraConns[i])
	return b.String()
}

// newPair starts moon and sun with o.
func newPair(t testing.TB, o pairOpts) (h *harness, moon, sun *peer) {
	t.Helper()
	h = newHarness(t)
	var creds *testCreds
	if o.auth[0] != "" || o.auth[1] != "" {
		creds = makeCreds(t, pick(o.auth[0], o.auth[1]))
	}
	moon = h.addPeer(0, "moon", pairConfig(&o, 0, creds))
	sun = h.addPeer(1, "sun", pairConfig(&o, 1, creds))
	return h, moon, sun
}

// ctxT is a context that ends with the test's time budget for one step.
func ctxT(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// waitFor polls cond until it holds or d passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ikeSAs returns p's IKE SAs in state (all when state is "").
func (p *peer) ikeSAs(state string) []IKESAStatus {
	all, _ := p.m.Status()
	var out []IKESAStatus
	for _, s := range all {
		if state == "" || s.State == state {
			out = append(out, s)
		}
	}
	return out
}

func (p *peer) counters() Counters {
	_, c := p.m.Status()
	return c
}

// childPair is the Child SA state both sides agree on.
type childPair struct {
	moonIn, moonOut uint32
	ike             IKESAStatus
}

func parseSPI(t testing.TB, s string) uint32 {
	t.Helper()
	v, err := strconv.ParseUint(s, 16, 32)
	if err != nil {
		t.Fatalf("SPI %q: %v", s, err)
	}
	return uint32(v)
}

// settled reports whether a and b each have exactly one established IKE SA
// with the same SPIs and exactly n Child SAs, with nothing else in the
// SADs; it returns a description of what differs.
func settled(a, b *peer, n int) (string, bool) {
	as, bs := a.ikeSAs(""), b.ikeSAs("")
	if len(as) != 1 || len(bs) != 1 {
		return fmt.Sprintf("IKE SAs: %s has %d, %s has %d", a.name, len(as), b.name, len(bs)), false
	}
	x, y := as[0], bs[0]
	if x.State != "ESTABLISHED" || y.State != "ESTABLISHED" {
		return fmt.Sprintf("states %s/%s", x.State, y.State), false
	}
	if x.SPIi != y.SPIi || x.SPIr != y.SPIr {
		return fmt.Sprintf("IKE SPIs differ: %s_%s vs %s_%s", x.SPIi, x.SPIr, y.SPIi, y.SPIr), false
	}
	if len(x.Children) != n || len(y.Children) != n {
		return fmt.Sprintf("children: %s has %d, %s has %d, want %d", a.name, len(x.Children), b.name, len(y.Children), n), false
	}
	for _, c := range x.Children {
		found := false
		for _, d := range y.Children {
			if c.SPIIn == d.SPIOut && c.SPIOut == d.SPIIn {
				found = true
			}
		}
		if !found {
			return fmt.Sprintf("%s's child %s/%s has no partner", a.name, c.SPIIn, c.SPIOut), false
		}
	}
	// A deleted Child SA's inbound SA lingers a moment (inboundLinger);
	// waitSADExact checks that it goes.
	for _, p := range []*peer{a, b} {
		in, out := 0, 0
		for _, s := range p.sad.All() {
			if s.Dir == sad.Outbound {
				out++
			} else {
				in++
			}
		}
		if out != n || in < n {
			return fmt.Sprintf("SAD of %s: %d inbound, %d outbound SAs, want %d each", p.name, in, out, n), false
		}
	}
	for _, pr := range [][2]*peer{{a, b}, {b, a}} {
		for _, c := range pr[0].ikeSAs("")[0].Children {
			spiIn, _ := strconv.ParseUint(c.SPIIn, 16, 32)
			if s := pr[0].sad.Inbound(uint32(spiIn)); s == nil || s.Dead() {
				return fmt.Sprintf("%s's inbound SA %s is not installed", pr[0].name, c.SPIIn), false
			}
		}
	}
	return "", true
}

// waitSADExact waits until each peer's SAD holds exactly n inbound and n
// outbound SAs: nothing leaked once the lingering inbound SAs are gone.
func waitSADExact(t testing.TB, n int, peers ...*peer) {
	t.Helper()
	for _, p := range peers {
		waitFor(t, 3*time.Second, fmt.Sprintf("%s's SAD to hold %d SAs", p.name, 2*n), func() bool {
			return len(p.sad.All()) == 2*n
		})
	}
}

// waitSettled waits until settled(a, b, n) and returns a's IKE SA.
func waitSettled(t testing.TB, a, b *peer, n int) IKESAStatus {
	t.Helper()
	// Shorter than deferOutFallback: a rekey responder that never starts
	// sending on its new SA is a failure, not a slow success.
	return waitSettledWithin(t, a, b, n, 3*time.Second)
}

func waitSettledWithin(t testing.TB, a, b *peer, n int, d time.Duration) IKESAStatus {
	t.Helper()
	var why string
	deadline := time.Now().Add(d)
	for {
		var ok bool
		if why, ok = settled(a, b, n); ok {
			return a.ikeSAs("")[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("peers did not settle: %s", why)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkTraffic seals a packet with each of a's outbound Child SAs and opens
// it with b's inbound SA of the same SPI, and the other way round.
func checkTraffic(t testing.TB, a, b *peer) {
	t.Helper()
	for _, pr := range [][2]*peer{{a, b}, {b, a}} {
		from, to := pr[0], pr[1]
		n := 0
		for _, out := range from.sad.All() {
			if out.Dir != sad.Outbound || out.Dead() {
				continue
			}
			n++
			in := to.sad.Inbound(out.SPI)
			if in == nil {
				t.Errorf("%s sends with SPI %08x, which %s has not installed", from.name, out.SPI, to.name)
				continue
			}
			if in.Cipher.Suite().Name != out.Cipher.Suite().Name {
				t.Errorf("SPI %08x: suites %s and %s", out.SPI, out.Cipher.Suite().Name, in.Cipher.Suite().Name)
			}
			inner := []byte("\x45\x00\x00\x1cinner packet for esp check")
			buf := make([]byte, esp.MaxHeadroom+len(inner)+esp.MaxTrailer)
			copy(buf[esp.MaxHeadroom:], inner)
			var s crypto.Scratch
			pkt, err := esp.Seal(&esp.SealParams{SPI: out.SPI, Cipher: out.Cipher, ESN: out.ESN}, 1, esp.NextHeaderIPv4, buf, esp.MaxHeadroom, len(inner), &s)
			if err != nil {
				t.Fatalf("seal: %v", err)
			}
			got, _, err := esp.Open(in.Cipher, pkt, 1, in.ESN, &s)
			if err != nil {
				t.Errorf("%s -> %s SPI %08x: open: %v", from.name, to.name, out.SPI, err)
				continue
			}
			if string(got) != string(inner) {
				t.Errorf("SPI %08x: inner packet changed", out.SPI)
			}
		}
		if n == 0 {
			t.Errorf("%s has no outbound SA", from.name)
		}
	}
}

// checkDataPath checks that p's SPD sends traffic from src to dst through
// an outbound SA whose SPI the peer has installed inbound.
func checkDataPath(t testing.TB, p, peer *peer, src, dst string) {
	t.Helper()
	pol := p.spd.LookupOutbound(&spd.Packet{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Proto: 6, SrcPort: 1000, DstPort: 80})
	if pol == nil || pol.Action != spd.Protect {
		t.Errorf("%s: no protect policy for %s -> %s", p.name, src, dst)
		return
	}
	out := p.sad.Outbound(pol.ID)
	if out == nil || out.Dead() {
		t.Errorf("%s: policy %s has no outbound SA", p.name, pol.Name)
		return
	}
	if peer.sad.Inbound(out.SPI) == nil {
		t.Errorf("%s sends %s -> %s with SPI %08x, which %s has not installed", p.name, src, dst, out.SPI, peer.name)
	}
}

// hasPolicyFor reports whether p's SPD protects a packet from src to dst.
func (p *peer) hasPolicyFor(src, dst string) bool {
	pol := p.spd.LookupOutbound(&spd.Packet{Src: netip.MustParseAddr(src), Dst: netip.MustParseAddr(dst), Proto: 6, SrcPort: 1000, DstPort: 80})
	return pol != nil && pol.Action == spd.Protect
}

// establish initiates moon's child "net" and waits for both sides to agree.
func establish(t testing.TB, moon, sun *peer) IKESAStatus {
	t.Helper()
	if err := moon.m.Initiate(ctxT(t, 10*time.Second), "net"); err != nil {
		t.Fatalf("initiate: %v", err)
	}
	return waitSettled(t, moon, sun, 1)
}

// sadSPIs returns the SPIs of p's installed SAs in one direction.
func (p *peer) sadSPIs(dir sad.Direction) map[uint32]bool {
	out := map[uint32]bool{}
	for _, s := range p.sad.All() {
		if s.Dir == dir {
			out[s.SPI] = true
		}
	}
	return out
}

// testCreds are certificate files for moon and sun, issued by one CA.
type testCreds struct {
	ca        string
	foreignCA string // another CA of the same kind, which issued nothing here
	cert      [2]string
	key       [2]string
}

// makeCreds writes a CA and a leaf per side (SAN = the side's identity) with
// keys of kind "ecdsa" (P-256), "rsa" (2048 bits, RSA-PSS signatures) or
// "ed25519" to a temporary directory.
func makeCreds(t testing.TB, kind string) *testCreds {
	t.Helper()
	dir := t.TempDir()
	newKey := func() stdcrypto.Signer {
		var (
			k   stdcrypto.Signer
			err error
		)
		switch kind {
		case "ecdsa":
			k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		case "rsa":
			k, err = rsa.GenerateKey(rand.Reader, 2048)
		case "ed25519":
			_, k, err = ed25519.GenerateKey(rand.Reader)
		default:
			t.Fatalf("unknown key kind %q", kind)
		}
		if err != nil {
			t.Fatal(err)
		}
		return k
	}
	sigAlg := x509.UnknownSignatureAlgorithm
	if kind == "rsa" {
		sigAlg = x509.SHA256WithRSAPSS
	}
	write := func(name, typ string, der []byte) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	now := time.Now()
	caKey := newKey()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{Organization: []string{"esptun test"}, CommonName: "esptun test CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		SignatureAlgorithm:    sigAlg,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	c := &testCreds{ca: write("ca.crt", "CERTIFICATE", caDER)}
	otherKey := newKey()
	otherDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, otherKey.Public(), otherKey)
	if err != nil {
		t.Fatal(err)
	}
	c.foreignCA = write("foreign-ca.crt", "CERTIFICATE", otherDER)
	for i := range 2 {
		k := newKey()
		tmpl := &x509.Certificate{
			SerialNumber:       big.NewInt(int64(10 + i)),
			Subject:            pkix.Name{Organization: []string{"esptun test"}, CommonName: sideID[i]},
			DNSNames:           []string{sideID[i]},
			NotBefore:          now.Add(-time.Hour),
			NotAfter:           now.Add(24 * time.Hour),
			KeyUsage:           x509.KeyUsageDigitalSignature,
			SignatureAlgorithm: sigAlg,
		}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, k.Public(), caKey)
		if err != nil {
			t.Fatal(err)
		}
		c.cert[i] = write(sideName[i]+".crt", "CERTIFICATE", der)
		p8, err := x509.MarshalPKCS8PrivateKey(k)
		if err != nil {
			t.Fatal(err)
		}
		c.key[i] = write(sideName[i]+".key", "PRIVATE KEY", p8)
	}
	return c
}
