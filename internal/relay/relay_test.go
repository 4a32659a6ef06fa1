package relay

import (
	"encoding/binary"
	"math/bits"
	"net"
	"net/netip"
	"runtime"
	"slices"
	"testing"
	"time"
)

// pair is a client and a server on the loopback with a relay between them:
// the client talks to the relay's A side, the server to its B side.
type pair struct {
	r              *Relay
	client, server *net.UDPConn
	relayA, relayB netip.AddrPort
}

func listenLoopback(t *testing.T) *net.UDPConn {
	t.Helper()
	c, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Skipf("skipping: no IPv4 loopback: %v", err)
	}
	c.SetReadBuffer(4 << 20)
	t.Cleanup(func() { c.Close() })
	return c
}

func addrOf(c *net.UDPConn) netip.AddrPort {
	return c.LocalAddr().(*net.UDPAddr).AddrPort()
}

func newPair(t *testing.T, ab, ba Impairment) *pair {
	t.Helper()
	p := &pair{client: listenLoopback(t), server: listenLoopback(t)}
	lo := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0)
	r, err := New(Config{
		Links:  []Link{{A: lo, PeerA: addrOf(p.client), B: lo, PeerB: addrOf(p.server)}},
		Impair: [2]Impairment{ab, ba},
		Seed:   42,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	p.r = r
	p.relayA, p.relayB = r.Addrs(0)
	return p
}

// sendSeq sends n datagrams of size bytes from c to dst, each starting with
// its index and the send time, a few at a time so that the loopback
// buffers never overflow.
func sendSeq(t *testing.T, c *net.UDPConn, dst netip.AddrPort, n, size int) {
	t.Helper()
	b := make([]byte, size)
	for i := range n {
		binary.BigEndian.PutUint32(b, uint32(i))
		binary.BigEndian.PutUint64(b[4:], uint64(time.Now().UnixNano()))
		if _, err := c.WriteToUDPAddrPort(b, dst); err != nil {
			t.Fatal(err)
		}
		if i%50 == 49 {
			time.Sleep(time.Millisecond)
		}
	}
}

type received struct {
	payload []byte
	from    netip.AddrPort
	at      time.Time
}

// recvAll reads from c until nothing arrives for quiet.
func recvAll(c *net.UDPConn, quiet time.Duration) []received {
	var out []received
	buf := make([]byte, 1<<16)
	for {
		c.SetReadDeadline(time.Now().Add(quiet))
		n, from, err := c.ReadFromUDPAddrPort(buf)
		if err != nil {
			return out
		}
		out = append(out, received{append([]byte(nil), buf[:n]...), from, time.Now()})
	}
}

func TestForwardBothWays(t *testing.T) {
	p := newPair(t, Impairment{}, Impairment{})
	sendSeq(t, p.client, p.relayA, 10, 100)
	got := recvAll(p.server, 200*time.Millisecond)
	if len(got) != 10 {
		t.Fatalf("server got %d datagrams, want 10", len(got))
	}
	for i, g := range got {
		if seq := binary.BigEndian.Uint32(g.payload); seq != uint32(i) || len(g.payload) != 100 {
			t.Errorf("datagram %d: seq %d, %d bytes", i, seq, len(g.payload))
		}
		if g.from != p.relayB {
			t.Errorf("datagram %d came from %v, want the relay's B side %v", i, g.from, p.relayB)
		}
	}
	// The server answers the relay; the answer reaches the client.
	if _, err := p.server.WriteToUDPAddrPort([]byte("pong"), p.relayB); err != nil {
		t.Fatal(err)
	}
	back := recvAll(p.client, 200*time.Millisecond)
	if len(back) != 1 || string(back[0].payload) != "pong" || back[0].from != p.relayA {
		t.Fatalf("client got %+v, want one pong from %v", back, p.relayA)
	}
	for d, want := range map[Direction]Counters{
		AtoB: {Received: 10, Sent: 10},
		BtoA: {Received: 1, Sent: 1},
	} {
		if got := p.r.Counters(d); got != want {
			t.Errorf("%v counters: %v, want %v", d, got, want)
		}
	}
}

// TestFixedPeers checks that answers go to the configured peer, whoever
// sent last.
func TestFixedPeers(t *testing.T) {
	p := newPair(t, Impairment{}, Impairment{})
	other := listenLoopback(t)
	sendSeq(t, other, p.relayA, 1, 20)
	if got := recvAll(p.server, 200*time.Millisecond); len(got) != 1 {
		t.Fatalf("server got %d datagrams, want 1", len(got))
	}
	p.server.WriteToUDPAddrPort([]byte("to client"), p.relayB)
	if got := recvAll(p.client, 200*time.Millisecond); len(got) != 1 || string(got[0].payload) != "to client" {
		t.Fatalf("the configured peer got %+v, want the answer", got)
	}
	if got := recvAll(other, 50*time.Millisecond); len(got) != 0 {
		t.Fatalf("another sender got %d datagrams", len(got))
	}
}

func TestImpairments(t *testing.T) {
	const n = 2000
	cases := []struct {
		name  string
		imp   Impairment
		check func(t *testing.T, c Counters, got []received)
	}{
		{"loss", Impairment{Loss: 0.3}, func(t *testing.T, c Counters, got []received) {
			if c.Lost < n*25/100 || c.Lost > n*35/100 {
				t.Errorf("lost %d of %d at a rate of 0.3", c.Lost, n)
			}
			if uint64(len(got)) != n-c.Lost || c.Sent != n-c.Lost {
				t.Errorf("received %d, sent %d; want %d", len(got), c.Sent, n-c.Lost)
			}
		}},
		{"duplicate", Impairment{Duplicate: 0.2}, func(t *testing.T, c Counters, got []received) {
			if c.Duplicated < n*15/100 || c.Duplicated > n*25/100 {
				t.Errorf("duplicated %d of %d at a rate of 0.2", c.Duplicated, n)
			}
			if uint64(len(got)) != n+c.Duplicated {
				t.Errorf("received %d, want %d", len(got), n+c.Duplicated)
			}
			count := make(map[uint32]int)
			for _, g := range got {
				count[binary.BigEndian.Uint32(g.payload)]++
			}
			twice := 0
			for _, k := range count {
				if k == 2 {
					twice++
				}
			}
			if len(count) != n || uint64(twice) != c.Duplicated {
				t.Errorf("%d distinct datagrams, %d twice; want %d and %d", len(count), twice, n, c.Duplicated)
			}
		}},
		{"corrupt", Impairment{Corrupt: 0.5}, func(t *testing.T, c Counters, got []received) {
			// The payloads are compared with what was sent: seq and
			// timestamp are unknown here, so only the zero tail counts,
			// and a flipped bit lands in it 80% of the time; expect
			// between 30% and 50% of the datagrams with one bit set there.
			flipped := 0
			for _, g := range got {
				ones := 0
				for _, b := range g.payload[12:] {
					ones += bits.OnesCount8(b)
				}
				if ones > 1 {
					t.Fatalf("datagram with %d bits flipped in its tail", ones)
				}
				flipped += ones
			}
			if c.Corrupted < n*45/100 || c.Corrupted > n*55/100 {
				t.Errorf("corrupted %d of %d at a rate of 0.5", c.Corrupted, n)
			}
			if flipped > int(c.Corrupted) || flipped < n*30/100 {
				t.Errorf("%d datagrams with a flipped bit in the tail, %d corrupted", flipped, c.Corrupted)
			}
		}},
		{"reorder", Impairment{Reorder: 0.2, ReorderDepth: 8}, func(t *testing.T, c Counters, got []received) {
			if len(got) != n {
				t.Fatalf("received %d, want %d: reordering must not lose datagrams", len(got), n)
			}
			late, maxLate := 0, 0
			for i, g := range got {
				seq := binary.BigEndian.Uint32(g.payload)
				overtaken := 0
				for _, h := range got[:i] {
					if binary.BigEndian.Uint32(h.payload) > seq {
						overtaken++
					}
				}
				if overtaken > 0 {
					late++
				}
				maxLate = max(maxLate, overtaken)
			}
			if c.Reordered < n*15/100 || c.Reordered > n*25/100 {
				t.Errorf("reordered %d of %d at a rate of 0.2", c.Reordered, n)
			}
			if late < n/10 {
				t.Errorf("only %d datagrams arrived after a later one", late)
			}
			if maxLate > 4*8 {
				t.Errorf("a datagram arrived %d places late, depth 8", maxLate)
			}
			t.Logf("%d of %d arrived late, at most %d places", late, n, maxLate)
		}},
		{"delay-jitter", Impairment{Delay: 20 * time.Millisecond, Jitter: 30 * time.Millisecond}, func(t *testing.T, c Counters, got []received) {
			if len(got) != n || c.Delayed != n {
				t.Fatalf("received %d, delayed %d; want %d", len(got), c.Delayed, n)
			}
			var ds []time.Duration
			for _, g := range got {
				ds = append(ds, g.at.Sub(time.Unix(0, int64(binary.BigEndian.Uint64(g.payload[4:])))))
			}
			slices.Sort(ds)
			// Percentiles, so that a busy machine's scheduling delays
			// on a few datagrams do not count; nothing arrives early.
			lo, p10, p50, p90 := ds[0], ds[len(ds)/10], ds[len(ds)/2], ds[len(ds)*9/10]
			if lo < 20*time.Millisecond || p50 > 150*time.Millisecond || p90-p10 < 10*time.Millisecond {
				t.Errorf("one-way delays: min %v, 10th percentile %v, median %v, 90th %v; want at least 20ms, a median near 35ms (150ms allowed for a busy machine) and a spread of the 30ms jitter", lo, p10, p50, p90)
			}
		}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := newPair(t, c.imp, Impairment{})
			sendSeq(t, p.client, p.relayA, n, 64)
			got := recvAll(p.server, 300*time.Millisecond)
			ctr := p.r.Counters(AtoB)
			if ctr.Received != n {
				t.Fatalf("relay read %d datagrams, want %d", ctr.Received, n)
			}
			c.check(t, ctr, got)
			if back := p.r.Counters(BtoA); back != (Counters{}) {
				t.Errorf("the other direction counted %v", back)
			}
		})
	}
}

func TestMatch(t *testing.T) {
	p := newPair(t, Impairment{}, Impairment{})
	nattPort := p.server.LocalAddr().(*net.UDPAddr).AddrPort().Port()
	p.r.SetImpairment(AtoB, Impairment{Match: MatchESP(nattPort), Loss: 1})
	ike := make([]byte, 40)                              // non-ESP marker
	esp := []byte{0xc0, 0, 0, 1, 0, 0, 0, 1, 9, 9, 9, 9} // SPI, seq, data
	for range 5 {
		p.client.WriteToUDPAddrPort(ike, p.relayA)
		p.client.WriteToUDPAddrPort(esp, p.relayA)
		p.client.WriteToUDPAddrPort([]byte{0xff}, p.relayA) // NAT-keepalive
	}
	got := recvAll(p.server, 200*time.Millisecond)
	if len(got) != 10 {
		t.Fatalf("server got %d datagrams, want the 10 that are not ESP", len(got))
	}
	for _, g := range got {
		if len(g.payload) == len(esp) {
			t.Fatal("an ESP packet went through a relay that loses every one")
		}
	}
	if c := p.r.Counters(AtoB); c.Lost != 5 || c.Unmatched != 10 {
		t.Errorf("counters %v, want 5 lost and 10 unmatched", c)
	}
}

func TestMatchFuncs(t *testing.T) {
	dst := func(port uint16) netip.AddrPort {
		return netip.AddrPortFrom(netip.MustParseAddr("192.0.2.1"), port)
	}
	ikeMsg := make([]byte, 28)
	natt := append([]byte{0, 0, 0, 0}, ikeMsg...)
	esp := []byte{0xc0, 0, 0, 1, 0, 0, 0, 7, 1, 2, 3, 4}
	cases := []struct {
		name     string
		dst      netip.AddrPort
		p        []byte
		ike, esp bool
	}{
		{"ike on 500", dst(500), ikeMsg, true, false},
		{"ike on 4500", dst(4500), natt, true, false},
		{"esp on 4500", dst(4500), esp, false, true},
		{"keepalive", dst(4500), []byte{0xff}, false, false},
		{"short", dst(4500), []byte{1, 2, 3}, false, false},
		{"other port", dst(53), esp, false, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if got := MatchIKE(500, 4500)(c.dst, c.p); got != c.ike {
				t.Errorf("MatchIKE = %v, want %v", got, c.ike)
			}
			if got := MatchESP(4500)(c.dst, c.p); got != c.esp {
				t.Errorf("MatchESP = %v, want %v", got, c.esp)
			}
		})
	}
}

// TestCloseEndsGoroutines checks that Close stops everything the relay
// started, with datagrams still held.
func TestCloseEndsGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	c := listenLoopback(t)
	lo := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0)
	r, err := New(Config{
		Links:  []Link{{A: lo, PeerA: addrOf(c), B: lo, PeerB: addrOf(c)}, {A: lo, PeerA: addrOf(c), B: lo, PeerB: addrOf(c)}},
		Impair: [2]Impairment{{Delay: time.Hour}, {}},
	})
	if err != nil {
		t.Fatal(err)
	}
	a, _ := r.Addrs(0)
	c.WriteToUDPAddrPort([]byte("held for an hour"), a)
	time.Sleep(50 * time.Millisecond)
	r.Close()
	r.Close() // twice is fine
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines after Close, %d before New", n, before)
	}
}

func TestNewErrors(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New without links succeeded")
	}
	c := listenLoopback(t)
	taken := addrOf(c)
	lo := netip.AddrPortFrom(netip.MustParseAddr("127.0.0.1"), 0)
	if _, err := New(Config{Links: []Link{{A: lo, B: taken}}}); err == nil {
		t.Error("New on a port in use succeeded")
	}
}
