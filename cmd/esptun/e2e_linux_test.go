//go:build linux

package main

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/esptun/esptun/internal/netns"
)

// TestPing pings across the tunnel over IPv4 and IPv6 and checks what
// esptun status reports about it, in JSON and as a table.
func TestPing(t *testing.T) {
	l := newLab(t, labConfig{})
	outBefore := l.a.sa(t, "out", spiAB)
	l.a.ping(t, innerA4, innerB4, 5)
	l.a.ping(t, innerA6, innerB6, 5)
	l.b.ping(t, innerB4, innerA4, 5)
	l.b.ping(t, innerB6, innerA6, 5)

	// A sent 10 echo requests and 10 echo replies through its outbound SA.
	out := l.a.sa(t, "out", spiAB)
	if got := out.Packets - outBefore.Packets; got < 20 {
		t.Errorf("A's outbound SA counted %d packets for 20 pings/replies sent", got)
	}
	in := l.b.sa(t, "in", spiAB)
	if in.Packets < 20 || in.Bytes < 20*84 {
		t.Errorf("B's inbound SA counted %d packets, %d bytes; want at least 20 and %d", in.Packets, in.Bytes, 20*84)
	}
	for _, sa := range []SAStatus{out, in} {
		if sa.Name != saName || sa.ESP != "aes128gcm16" || sa.ESN || !sa.Encap {
			t.Errorf("SA %s: name %q esp %q esn %v encap %v; want %q aes128gcm16 false true", sa.SPI, sa.Name, sa.ESP, sa.ESN, sa.Encap, saName)
		}
		if _, err := time.Parse(time.RFC3339, sa.Created); err != nil {
			t.Errorf("SA %s: created %q is not RFC 3339: %v", sa.SPI, sa.Created, err)
		}
		if sa.Drops != (Drops{}) {
			t.Errorf("SA %s: drops %+v on a clean link", sa.SPI, sa.Drops)
		}
	}
	if out.Peer != "10.77.0.2:4500" || in.Peer != "10.77.0.1:4500" {
		t.Errorf("peers: A's out SA %q, B's in SA %q; want 10.77.0.2:4500 and 10.77.0.1:4500", out.Peer, in.Peer)
	}
	if strings.Join(out.LocalTS, ",") != "10.78.1.0/24,fd78:1::/64" || strings.Join(out.RemoteTS, ",") != "10.78.2.0/24,fd78:2::/64" {
		t.Errorf("A's out SA selectors: local %v remote %v", out.LocalTS, out.RemoteTS)
	}

	// The JSON has every key of the documented shape.
	var doc map[string]any
	raw := l.a.statusRaw(t)
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	dropKeys := []string{"auth", "replay", "policy", "malformed", "no_sa", "expired"}
	requireKeys(t, "status", doc, "version", "tun", "offload", "drops", "sas")
	if m, ok := doc["offload"].(map[string]any); ok {
		requireKeys(t, "status.offload", m, "tun", "udp_gso", "udp_gro")
	}
	if m, ok := doc["drops"].(map[string]any); ok {
		requireKeys(t, "status.drops", m, dropKeys...)
	}
	if sas, ok := doc["sas"].([]any); !ok || len(sas) != 2 {
		t.Errorf("status.sas: want a list of 2 SAs (in and out), got %s", raw)
	} else {
		for i, s := range sas {
			m, _ := s.(map[string]any)
			requireKeys(t, fmt.Sprintf("status.sas[%d]", i), m, "name", "direction", "spi", "esp", "esn",
				"local_ts", "remote_ts", "peer", "encap", "packets", "bytes", "drops", "created")
			if d, ok := m["drops"].(map[string]any); ok {
				requireKeys(t, fmt.Sprintf("status.sas[%d].drops", i), d, dropKeys...)
			}
		}
	}
	if link := l.a.mustRun(t, "ip", "-o", "link", "show", "dev", tunDev); !strings.Contains(link, "mtu 1400 ") {
		t.Errorf("%s: want the default MTU 1400: %s", tunDev, link)
	}
	if doc["tun"] != tunDev {
		t.Errorf("status.tun = %v, want %s", doc["tun"], tunDev)
	}

	// Manual SAs are SAD records without IKE SAs.
	l.a.checkStats(t, 0, 0, 1, 1)

	// The table names the SA, its SPIs and its suite.
	table, code := runCLI(t, 10*time.Second, "status", "-s", l.a.sock)
	if code != 0 {
		t.Fatalf("esptun status: exit %d\n%s", code, table)
	}
	for _, want := range []string{saName, "0xc0000001", "0xc0000002", "aes128gcm16"} {
		if !strings.Contains(strings.ToLower(table), want) {
			t.Errorf("esptun status table lacks %q:\n%s", want, table)
		}
	}
}

func requireKeys(t *testing.T, what string, m map[string]any, keys ...string) {
	t.Helper()
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			t.Errorf("%s has no key %q: %v", what, k, m)
		}
	}
}

// TestTCPTransfer sends 256 MiB over one TCP connection through the tunnel
// and compares the SHA-256 of what was sent with that of what arrived.
func TestTCPTransfer(t *testing.T) {
	const size = 256 << 20
	l := newLab(t, labConfig{})

	var ln net.Listener
	if err := l.b.ns.Do(func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(innerB4, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	type result struct {
		sum [32]byte
		n   int64
		err error
	}
	got := make(chan result, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			got <- result{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Minute))
		h := sha256.New()
		n, err := io.Copy(h, c)
		var r result
		copy(r.sum[:], h.Sum(nil))
		r.n, r.err = n, err
		got <- r
	}()

	var conn net.Conn
	if err := l.a.ns.Do(func() (err error) {
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(innerA4, 0)), Timeout: 10 * time.Second}
		conn, err = d.Dial("tcp4", ln.Addr().String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Minute))
	src := rand.NewChaCha8([32]byte{'e', 's', 'p', 't', 'u', 'n'})
	h := sha256.New()
	start := time.Now()
	if _, err := io.CopyN(io.MultiWriter(conn, h), src, size); err != nil {
		t.Fatalf("sending: %v", err)
	}
	conn.(*net.TCPConn).CloseWrite()
	var sent [32]byte
	copy(sent[:], h.Sum(nil))
	var r result
	select {
	case r = <-got:
	case <-time.After(5 * time.Minute):
		t.Fatal("receiver did not finish within 5 minutes")
	}
	elapsed := time.Since(start)
	if r.err != nil {
		t.Fatalf("receiving: %v after %d bytes", r.err, r.n)
	}
	if r.n != size || r.sum != sent {
		t.Fatalf("received %d bytes with sha256 %x; sent %d bytes with sha256 %x", r.n, r.sum, size, sent)
	}
	t.Logf("256 MiB through the tunnel in %v (%.2f Gbit/s), sha256 %x at both ends",
		elapsed.Round(time.Millisecond), float64(size)*8/elapsed.Seconds()/1e9, sent)
	if out := l.a.sa(t, "out", spiAB); out.Bytes < size {
		t.Errorf("A's outbound SA counted %d bytes for a %d-byte transfer", out.Bytes, size)
	}
}

// captureESP pings from A to B count times while capturing on B's veth and
// returns the ESP-in-UDP datagrams A sent with spiAB, as IP packets.
func (l *lab) captureESP(t *testing.T, count int, wantReplies bool) [][]byte {
	t.Helper()
	c, err := l.b.ns.StartCapture(vethB, espFilter(outerA4, outerB4, spiAB))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := l.a.ns.Ping(innerA4, innerB4, count, 56, 50*time.Millisecond, time.Second)
	if wantReplies && n != count {
		c.Stop()
		t.Fatalf("ping while capturing: %d of %d replies", n, count)
	}
	time.Sleep(100 * time.Millisecond)
	pkts := c.Stop()
	if len(pkts) < count {
		t.Fatalf("captured %d ESP packets with SPI %#x, want %d", len(pkts), spiAB, count)
	}
	return pkts[:count]
}

// sendAgain sends a captured ESP-in-UDP packet again from g, unchanged but
// for the UDP checksum: the capture holds the sender's offloaded partial
// sum, which the receiving kernel would reject before esptun sees the
// datagram.
func sendAgain(t *testing.T, g *gateway, pkt []byte) {
	t.Helper()
	p := append([]byte(nil), pkt...)
	u, ok := netns.ParseUDP(p)
	if !ok {
		t.Fatal("captured packet is not UDP")
	}
	netns.FixUDPChecksum(p, u)
	if err := g.ns.SendRawIP(p); err != nil {
		t.Fatal(err)
	}
}

// TestReplay sends ESP packets that B has already accepted again, from A's
// address and port: B must drop each one and count it as a replay on its
// inbound SA (RFC 4303 3.4.3), and nothing else.
func TestReplay(t *testing.T) {
	l := newLab(t, labConfig{})
	const count = 3
	pkts := l.captureESP(t, count, true)

	before := l.b.sa(t, "in", spiAB)
	for _, p := range pkts {
		sendAgain(t, l.a, p)
	}
	var after SAStatus
	waitCounter(func() uint64 { after = l.b.sa(t, "in", spiAB); return after.Drops.Replay }, before.Drops.Replay+count, 3*time.Second, 300*time.Millisecond)
	after = l.b.sa(t, "in", spiAB)
	if got := after.Drops.Replay - before.Drops.Replay; got != count {
		t.Errorf("B's inbound SA: replay drops went up by %d for %d replayed packets", got, count)
	}
	if after.Packets != before.Packets {
		t.Errorf("B's inbound SA counted %d more packets received; replays must not count", after.Packets-before.Packets)
	}
	if after.Drops.Auth != before.Drops.Auth {
		t.Errorf("B's inbound SA: auth drops went up by %d for replays of authentic packets", after.Drops.Auth-before.Drops.Auth)
	}
	l.a.ping(t, innerA4, innerB4, 3)
}

// TestTamper changes one bit of genuine ESP packets and checks that B
// drops them and counts why: a failed ICV on the inbound SA, or an unknown
// SPI globally. The ping afterwards checks that a forged sequence number did
// not move the replay window (RFC 4303 3.4.3: update only after the ICV
// verified).
func TestTamper(t *testing.T) {
	l := newLab(t, labConfig{})

	inject := func(t *testing.T, p []byte, mutate func(esp []byte)) {
		t.Helper()
		p = append([]byte(nil), p...)
		u, ok := netns.ParseUDP(p)
		if !ok {
			t.Fatal("captured packet is not UDP")
		}
		mutate(u.Payload)
		netns.FixUDPChecksum(p, u) // let the kernel hand the changed datagram to esptun
		if err := l.a.ns.SendRawIP(p); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("sequence-number-bit", func(t *testing.T) {
		pkts := l.captureESP(t, 1, true)
		before := l.b.sa(t, "in", spiAB)
		// A sequence number far right of the window passes the replay
		// pre-check, so only the ICV can reject it.
		inject(t, pkts[0], func(esp []byte) { esp[4] ^= 0x40 })
		var after SAStatus
		waitCounter(func() uint64 { after = l.b.sa(t, "in", spiAB); return after.Drops.Auth }, before.Drops.Auth+1, 3*time.Second, 300*time.Millisecond)
		after = l.b.sa(t, "in", spiAB)
		if got := after.Drops.Auth - before.Drops.Auth; got != 1 {
			t.Errorf("B's inbound SA: auth drops went up by %d for 1 tampered packet (drops now %+v)", got, after.Drops)
		}
		l.a.ping(t, innerA4, innerB4, 3)
	})

	t.Run("ciphertext-and-icv-bits", func(t *testing.T) {
		if _, err := exec.LookPath("nft"); err != nil {
			t.Skip("skipping: needs nft (nftables) to hold back fresh packets")
		}
		// Drop ESP on B's side before esptun sees it, so that the captured
		// packets carry sequence numbers B has not received yet: the packet
		// tap still sees them.
		l.b.mustRun(t, "nft", "add", "table", "ip", "esptune2e")
		t.Cleanup(func() { l.b.ns.Run("nft", "delete", "table", "ip", "esptune2e") })
		l.b.mustRun(t, "nft", "add chain ip esptune2e pre { type filter hook prerouting priority -300 ; }")
		l.b.mustRun(t, "nft", "add rule ip esptune2e pre udp dport 4500 drop")
		pkts := l.captureESP(t, 2, false)
		l.b.mustRun(t, "nft", "delete", "table", "ip", "esptune2e")

		before := l.b.sa(t, "in", spiAB)
		inject(t, pkts[0], func(esp []byte) { esp[len(esp)/2] ^= 0x01 }) // inside the ciphertext
		inject(t, pkts[1], func(esp []byte) { esp[len(esp)-1] ^= 0x80 }) // last ICV byte
		var after SAStatus
		waitCounter(func() uint64 { after = l.b.sa(t, "in", spiAB); return after.Drops.Auth }, before.Drops.Auth+2, 3*time.Second, 300*time.Millisecond)
		after = l.b.sa(t, "in", spiAB)
		if got := after.Drops.Auth - before.Drops.Auth; got != 2 {
			t.Errorf("B's inbound SA: auth drops went up by %d for 2 tampered packets (drops now %+v)", got, after.Drops)
		}
		if after.Packets != before.Packets {
			t.Errorf("B's inbound SA counted %d tampered packets as received", after.Packets-before.Packets)
		}
		// The untouched originals are still acceptable: the failed ICVs
		// must not have moved the window.
		for _, p := range pkts {
			sendAgain(t, l.a, p)
		}
		waitCounter(func() uint64 { after = l.b.sa(t, "in", spiAB); return after.Packets }, before.Packets+2, 3*time.Second, 100*time.Millisecond)
		if got := after.Packets - before.Packets; got != 2 {
			t.Errorf("B's inbound SA accepted %d of the 2 genuine held-back packets after their tampered copies (drops %+v)", got, after.Drops)
		}
	})

	t.Run("unknown-spi", func(t *testing.T) {
		pkts := l.captureESP(t, 1, true)
		before := l.b.status(t).Drops
		inject(t, pkts[0], func(esp []byte) { binary.BigEndian.PutUint32(esp, 0x0badf00d) })
		var after Drops
		waitCounter(func() uint64 { after = l.b.status(t).Drops; return after.NoSA }, before.NoSA+1, 3*time.Second, 300*time.Millisecond)
		after = l.b.status(t).Drops
		if got := after.NoSA - before.NoSA; got != 1 {
			t.Errorf("B: global no_sa drops went up by %d for 1 packet with an unknown SPI (drops now %+v)", got, after)
		}
	})
}

// TestPolicyOutbound routes a prefix into the TUN that no selector covers:
// esptun must discard those packets and count them as global policy drops.
func TestPolicyOutbound(t *testing.T) {
	l := newLab(t, labConfig{})
	l.a.mustRun(t, "ip", "route", "add", "10.99.0.0/24", "dev", tunDev)
	l.a.mustRun(t, "ip", "-6", "route", "add", "fd99::/64", "dev", tunDev)
	outBefore := l.a.sa(t, "out", spiAB)
	before := l.a.status(t).Drops
	for _, p := range [][2]string{{"10.78.1.1", "10.99.0.1"}, {"fd78:1::1", "fd99::1"}} {
		n, _ := l.a.ns.Ping(netip.MustParseAddr(p[0]), netip.MustParseAddr(p[1]), 3, 56, 50*time.Millisecond, 500*time.Millisecond)
		if n != 0 {
			t.Errorf("ping %s -> %s (no policy): %d replies", p[0], p[1], n)
		}
	}
	var after Drops
	waitCounter(func() uint64 { after = l.a.status(t).Drops; return after.Policy }, before.Policy+6, 3*time.Second, 300*time.Millisecond)
	if got := after.Policy - before.Policy; got < 6 {
		t.Errorf("A: global policy drops went up by %d for 6 packets outside every policy (drops now %+v)", got, after)
	}
	if out := l.a.sa(t, "out", spiAB); out.Packets != outBefore.Packets {
		t.Errorf("A's outbound SA sent %d packets while only unprotected destinations were pinged", out.Packets-outBefore.Packets)
	}
}

// TestPolicyInbound makes B protect traffic from 10.78.9.1, which A's SA
// does not list as a remote selector: A must drop the decrypted packets and
// count them on its inbound SA (RFC 4301 5.2).
func TestPolicyInbound(t *testing.T) {
	l := newLab(t, labConfig{ExtraLocalTSB: []string{"10.78.9.0/24"}, ExtraAddrB: []string{"10.78.9.1/32"}})
	before := l.a.sa(t, "in", spiBA)
	n, _ := l.b.ns.Ping(netip.MustParseAddr("10.78.9.1"), innerA4, 3, 56, 50*time.Millisecond, 500*time.Millisecond)
	if n != 0 {
		t.Errorf("ping from outside A's remote selectors: %d replies, want 0", n)
	}
	var after SAStatus
	waitCounter(func() uint64 { after = l.a.sa(t, "in", spiBA); return after.Drops.Policy }, before.Drops.Policy+3, 3*time.Second, 300*time.Millisecond)
	if got := after.Drops.Policy - before.Drops.Policy; got != 3 {
		t.Errorf("A's inbound SA: policy drops went up by %d for 3 packets outside its selectors (drops now %+v)", got, after.Drops)
	}
	l.b.ping(t, innerB4, innerA4, 3)
}

// TestSignalShutdown stops A with SIGTERM and B with SIGINT: both must exit
// 0 and take their TUN device with them.
func TestSignalShutdown(t *testing.T) {
	l := newLab(t, labConfig{})
	l.a.ping(t, innerA4, innerB4, 2)
	for _, c := range []struct {
		g   *gateway
		sig syscall.Signal
	}{{l.a, syscall.SIGTERM}, {l.b, syscall.SIGINT}} {
		if err := c.g.cmd.Process.Signal(c.sig); err != nil {
			t.Fatal(err)
		}
		select {
		case <-c.g.done:
		case <-time.After(10 * time.Second):
			t.Fatalf("gateway %s: esptun up still running 10s after %v", c.g.name, c.sig)
		}
		if c.g.err != nil {
			t.Errorf("gateway %s: esptun up after %v: %v, want exit status 0", c.g.name, c.sig, c.g.err)
		}
		if _, err := os.Stat(c.g.sock); err == nil {
			t.Logf("note: gateway %s left its control socket %s behind", c.g.name, c.g.sock)
		}
		links := c.g.mustRun(t, "ip", "-o", "link", "show")
		if strings.Contains(links, tunDev) {
			t.Errorf("gateway %s: %s still exists after %v:\n%s", c.g.name, tunDev, c.sig, links)
		}
		if routes := c.g.mustRun(t, "ip", "route", "show", "table", "all"); strings.Contains(routes, tunDev) {
			t.Errorf("gateway %s: routes via %s left after %v:\n%s", c.g.name, tunDev, c.sig, routes)
		}
	}
}

// TestInstallRoutes checks both values of [tun] install_routes: by default
// every remote selector is routed into the TUN; with false, none is, and
// traffic flows once the operator adds the route.
func TestInstallRoutes(t *testing.T) {
	l := newLab(t, labConfig{})
	for _, prefix := range []string{"10.78.2.0/24", "fd78:2::/64"} {
		if r := l.a.mustRun(t, "ip", "route", "show", "table", "all", prefix); !strings.Contains(r, "dev "+tunDev) {
			t.Errorf("install_routes default: no route for %s into %s: %q", prefix, tunDev, r)
		}
	}

	l = newLab(t, labConfig{NoRoutes: true})
	for _, prefix := range []string{"10.78.2.0/24", "fd78:2::/64"} {
		if r := l.a.mustRun(t, "ip", "route", "show", "table", "all", prefix); strings.TrimSpace(r) != "" {
			t.Errorf("install_routes = false: route for %s installed anyway: %q", prefix, r)
		}
	}
	l.a.mustRun(t, "ip", "route", "add", "10.78.2.0/24", "dev", tunDev)
	l.b.mustRun(t, "ip", "route", "add", "10.78.1.0/24", "dev", tunDev)
	l.a.ping(t, innerA4, innerB4, 3)
}

// TestSuites pings through every ESP suite, with and without ESN, over raw
// ESP and over IPv6 outer addresses.
func TestSuites(t *testing.T) {
	cases := []struct {
		name string
		cfg  labConfig
	}{
		{"aes128gcm16", labConfig{ESP: "aes128gcm16"}},
		{"aes256gcm16", labConfig{ESP: "aes256gcm16"}},
		{"chacha20poly1305", labConfig{ESP: "chacha20poly1305"}},
		{"aes128-sha256", labConfig{ESP: "aes128-sha256"}},
		{"aes256-sha384", labConfig{ESP: "aes256-sha384"}},
		{"aes256-sha512", labConfig{ESP: "aes256-sha512"}},
		{"null-sha256", labConfig{ESP: "null-sha256"}},
		{"aes128gcm16-esn", labConfig{ESP: "aes128gcm16", ESN: true}},
		{"aes256-sha512-esn", labConfig{ESP: "aes256-sha512", ESN: true}},
		{"outer-ipv6", labConfig{OuterV6: true}},
		{"raw-esp", labConfig{NoEncap: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := newLab(t, c.cfg)
			l.a.ping(t, innerA4, innerB4, 3)
			l.a.ping(t, innerA6, innerB6, 3)
			// Bigger than one AES block and an odd length, for padding.
			if n, err := l.b.ns.Ping(innerB4, innerA4, 2, 1001, 50*time.Millisecond, 2*time.Second); n != 2 {
				t.Errorf("ping with 1001-byte payload: %d of 2 replies (%v)", n, err)
			}
			out := l.a.sa(t, "out", spiAB)
			if out.ESP != l.cfg.ESP || out.ESN != c.cfg.ESN || out.Encap == c.cfg.NoEncap {
				t.Errorf("A's outbound SA: esp %q esn %v encap %v; want %q %v %v", out.ESP, out.ESN, out.Encap, l.cfg.ESP, c.cfg.ESN, !c.cfg.NoEncap)
			}
			if c.cfg.OuterV6 && out.Peer != "[fd77::2]:4500" {
				t.Errorf("A's outbound SA: peer %q, want [fd77::2]:4500", out.Peer)
			}
			if in := l.b.sa(t, "in", spiAB); in.Packets < 6 || in.Drops != (Drops{}) {
				t.Errorf("B's inbound SA: %d packets, drops %+v; want at least 6 and none", in.Packets, in.Drops)
			}
		})
	}
}

// TestKnownAnswerTshark has Wireshark's independent ESP dissector decrypt
// and authenticate what esptun sends, in both directions, for AES-GCM and
// AES-CBC with HMAC-SHA-256-128 (command lines: tshark 4.0, esp_sa UAT).
func TestKnownAnswerTshark(t *testing.T) {
	skipUnlessNetwork(t)
	if _, err := exec.LookPath("tshark"); err != nil {
		t.Skip("skipping: tshark is not installed (Debian package tshark)")
	}
	for _, c := range []struct {
		esp, encName, authName string
		encLen                 int
	}{
		{"aes128gcm16", "AES-GCM with 16 octet ICV [RFC4106]", "NULL", 20},
		{"aes128-sha256", "AES-CBC [RFC3602]", "HMAC-SHA-256-128 [RFC4868]", 16},
	} {
		t.Run(c.esp, func(t *testing.T) {
			l := newLab(t, labConfig{ESP: c.esp})
			capt, err := l.b.ns.StartCapture(vethB, func(p []byte) bool {
				return espFilter(outerA4, outerB4, spiAB)(p) || espFilter(outerB4, outerA4, spiBA)(p)
			})
			if err != nil {
				t.Fatal(err)
			}
			l.a.ping(t, innerA4, innerB4, 4)
			l.a.ping(t, innerA6, innerB6, 2)
			time.Sleep(100 * time.Millisecond)
			pkts := capt.Stop()
			pcap := filepath.Join(l.dir, c.esp+".pcap")
			if err := netns.WritePcap(pcap, pkts); err != nil {
				t.Fatal(err)
			}
			uat := func(src, dst netip.Addr, spi uint32, key []byte) string {
				authKey := ""
				if c.authName != "NULL" {
					authKey = hexKey(key[c.encLen:])
				}
				return fmt.Sprintf(`uat:esp_sa:"IPv4","%s","%s","0x%08x","%s","%s","%s","%s"`,
					src, dst, spi, c.encName, hexKey(key[:c.encLen]), c.authName, authKey)
			}
			tshark := func(filter string, fields ...string) []string {
				args := []string{"-r", pcap,
					"-o", "esp.enable_encryption_decode:TRUE",
					"-o", "esp.enable_authentication_check:TRUE",
					"-o", uat(outerA4, outerB4, spiAB, l.cfg.KeyAB),
					"-o", uat(outerB4, outerA4, spiBA, l.cfg.KeyBA),
					"-Y", filter, "-T", "fields", "-E", "occurrence=l"}
				for _, f := range fields {
					args = append(args, "-e", f)
				}
				cmd := exec.Command("tshark", args...)
				var stderr strings.Builder
				cmd.Stderr = &stderr
				out, err := cmd.Output()
				if err != nil {
					t.Fatalf("tshark %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
				}
				var lines []string
				for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
					if line != "" {
						lines = append(lines, line)
					}
				}
				return lines
			}
			count := func(lines []string, want string) int {
				n := 0
				for _, l := range lines {
					if strings.Join(strings.Fields(l), " ") == want {
						n++
					}
				}
				return n
			}
			v4 := tshark("icmp && esp.icv_good == 1", "esp.spi", "ip.src", "ip.dst", "icmp.type")
			v6 := tshark("icmpv6 && esp.icv_good == 1", "esp.spi", "ipv6.src", "ipv6.dst", "icmpv6.type")
			bad := tshark("esp.icv_bad == 1", "esp.spi", "esp.sequence")
			all := tshark("esp", "esp.spi", "esp.sequence")
			t.Logf("%d ESP packets captured; tshark authenticated %d IPv4 and %d IPv6 inner ICMP packets", len(pkts), len(v4), len(v6))
			for _, c := range []struct {
				lines []string
				want  string
				n     int
			}{
				{v4, "0xc0000001 10.78.1.1 10.78.2.1 8", 4},
				{v4, "0xc0000002 10.78.2.1 10.78.1.1 0", 4},
				{v6, "0xc0000001 fd78:1::1 fd78:2::1 128", 2},
				{v6, "0xc0000002 fd78:2::1 fd78:1::1 129", 2},
			} {
				if got := count(c.lines, c.want); got != c.n {
					t.Errorf("tshark found %d authenticated packets %q, want %d; all authenticated:\n%s", got, c.want, c.n, strings.Join(c.lines, "\n"))
				}
			}
			if len(bad) != 0 {
				t.Errorf("tshark found %d packets with a bad ICV:\n%s", len(bad), strings.Join(bad, "\n"))
			}
			if len(all) != len(pkts) {
				t.Errorf("tshark dissected %d ESP packets of %d captured", len(all), len(pkts))
			}
		})
	}
}
