//go:build linux

package soak

import (
	"fmt"
	"testing"
	"time"

	"github.com/esptun/esptun/internal/relay"
)

// TestESPReorder reorders 20% of the ESP packets from A to B, each by up to
// 64 places, well inside the default replay window of 1024 (RFC 4303
// 3.4.3): B must take every one of them, so its inbound SA counts no
// replay drop and a sequence-numbered UDP stream arrives complete (in the
// order the relay made).
func TestESPReorder(t *testing.T) {
	const depth = 64
	rate, d := 5000, 4*time.Second
	if full {
		rate, d = 10000, 30*time.Second
	}
	l := newLab(t, labConfig{topo: relayed, a: gwConfig{startAction: "start"}})
	sa, _ := l.established(t, 20*time.Second, true)
	l.a.pingEventually(t, l.b, 10*time.Second)
	spiIn := sa.Children[0].SPIOut // B's inbound SA
	l.relay.SetImpairment(relay.AtoB, relay.Impairment{Match: relay.MatchESP(4500), Reorder: 0.2, ReorderDepth: depth, ReorderHold: 20 * time.Millisecond})
	before := l.relay.Counters(relay.AtoB)

	stream := startUDPStream(t, l.a, l.b, 9001, rate, 1000)
	time.Sleep(d)
	res := stream.stop(time.Second)
	rc := l.relay.Counters(relay.AtoB)
	reordered, esp := rc.Reordered-before.Reordered, rc.Received-before.Received

	st := l.b.status(t)
	in, ok := inboundSA(st, spiIn)
	if !ok {
		t.Fatalf("gateway b: no inbound SA %s after the stream", spiIn)
	}
	t.Logf("UDP stream: %v", res)
	t.Logf("relay A->B: %v", rc)
	t.Logf("gateway b: inbound SA %s: %d packets, drops %v, replay window %d", in.SPI, in.Packets, in.Drops, in.ReplayWin)
	if n := in.Drops["replay"]; n != 0 {
		t.Errorf("gateway b: %d replay drops on %s with every packet reordered inside the window", n, in.SPI)
	}
	if res.lost() != 0 {
		t.Errorf("UDP stream lost %d of %d datagrams (first %v)", res.lost(), res.sent, res.missing)
	}
	if reordered < esp/10 || res.late == 0 {
		t.Errorf("the relay reordered %d of %d ESP packets and %d datagrams arrived late: the scenario did not reorder", reordered, esp, res.late)
	}
	record(t, "ESP reordering 20%, up to 64 places",
		"replay drops = 0 and the sequence-numbered stream arrives complete",
		fmt.Sprintf("%d of %d ESP packets reordered; %d replay drops; %d/%d datagrams received, %d out of order (up to %d places)",
			reordered, esp, in.Drops["replay"], res.received, res.sent, res.late, res.maxLate))
}
