//go:build linux

package soak

import (
	"fmt"
	"net/netip"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vishvananda/netlink"

	"github.com/esptun/esptun/control"
)

// flushConntrack empties the connection tracking table of R's namespace,
// as conntrack -F does, through ctnetlink.
func (l *lab) flushConntrack(t *testing.T) {
	t.Helper()
	if err := l.r.Do(func() error {
		h, err := netlink.NewHandle()
		if err != nil {
			return err
		}
		defer h.Close()
		return h.ConntrackTableFlush(netlink.ConntrackTable)
	}); err != nil {
		t.Fatalf("flushing conntrack in %s: %v", l.r.Name, err)
	}
}

// TestNATRebinding puts A behind a masquerading router and, in the middle
// of a transfer, makes the router forget its mappings and hand out ports
// from another range, as a NAT does when it reboots or times a mapping
// out: A's packets reach B from a new port. B must follow A there on the
// first authenticated packet (RFC 7296 2.23, RFC 3948), without a new IKE
// handshake, and traffic must resume within 2 seconds.
func TestNATRebinding(t *testing.T) {
	const resumeBound = 2 * time.Second
	d := 2 * time.Second
	if full {
		d = 10 * time.Second
	}
	l := newLab(t, labConfig{topo: natted, a: gwConfig{startAction: "start"}})
	sa0, sb0 := l.established(t, 20*time.Second, true)
	if !sb0.NATRemote || !sa0.NATLocal {
		t.Errorf("NAT detection: A nat_local %v, B nat_remote %v; want both true behind a masquerade", sa0.NATLocal, sb0.NATRemote)
	}
	l.a.pingEventually(t, l.b, 10*time.Second)
	before := sb0.RemoteAddr
	beforePort := netip.MustParseAddrPort(before).Port()
	if beforePort < 20000 || beforePort > 20999 {
		t.Errorf("B sees A at %s, not from the masquerade's ports 20000-20999", before)
	}

	probe := startEchoProbe(t, l.a, l.b, 7000, 10*time.Millisecond)
	var stopTCP atomic.Bool
	tcp := startTCPTransfer(t, l.a, l.b, 1<<20, func() bool { return !stopTCP.Load() })
	time.Sleep(d / 2)
	if _, ok := probe.firstAnswerAfter(time.Now().Add(-500 * time.Millisecond)); !ok {
		t.Fatal("no echo answer through the tunnel before the rebinding")
	}

	l.setMasquerade(t, "21000-21999")
	l.flushConntrack(t)
	rebound := time.Now()
	time.Sleep(d / 2)

	// Resumed: the first echo answer after the flush, which took the
	// whole round trip through the new mapping.
	first, ok := probe.firstAnswerAfter(rebound)
	if !ok {
		waitFor(5*time.Second, func() bool { _, ok = probe.firstAnswerAfter(rebound); return ok })
		first, ok = probe.firstAnswerAfter(rebound)
	}
	stopTCP.Store(true)
	tcpBytes, tcpErr := tcp.wait(time.Minute)
	probe.close()
	if !ok {
		t.Fatalf("no echo answer through the tunnel within %v of the rebinding", d/2+5*time.Second)
	}
	resumed := first.Sub(rebound)

	sa1, sb1 := l.established(t, 5*time.Second, false)
	after := sb1.RemoteAddr
	afterPort := netip.MustParseAddrPort(after).Port()
	t.Logf("B sees A at %s before and %s after the rebinding; traffic resumed %v after it; TCP %d KiB, %v",
		before, after, resumed.Round(time.Millisecond), tcpBytes>>10, tcpErr)
	if afterPort < 21000 || afterPort > 21999 {
		t.Errorf("B sends to %s after the rebinding, not to the new mapping in 21000-21999", after)
	}
	var outPeer string
	for _, esp := range l.b.status(t).SAs {
		if esp.Direction == "out" {
			outPeer = esp.Peer
		}
	}
	if outPeer != after {
		t.Errorf("B's outbound ESP SA goes to %s, its IKE SA to %s", outPeer, after)
	}
	for _, x := range []struct {
		name   string
		b4, af control.IKESA
	}{{"A", sa0, sa1}, {"B", sb0, sb1}} {
		if x.b4.SPIi != x.af.SPIi || x.b4.SPIr != x.af.SPIr {
			t.Errorf("gateway %s: IKE SA %s_i %s_r replaced by %s_i %s_r: a new handshake, not a rebinding", x.name, x.b4.SPIi, x.b4.SPIr, x.af.SPIi, x.af.SPIr)
		}
	}
	if resumed > resumeBound {
		t.Errorf("traffic resumed %v after the rebinding, more than %v", resumed.Round(time.Millisecond), resumeBound)
	}
	if tcpErr != nil {
		t.Errorf("TCP transfer across the rebinding: %v", tcpErr)
	}
	record(t, "NAT rebinding (conntrack flushed, new port range)",
		fmt.Sprintf("traffic resumes within %v, same IKE SPIs, B follows the new port", resumeBound),
		fmt.Sprintf("resumed after %v; B's peer %s -> %s; IKE SPIs unchanged: %v; TCP %d KiB sha256 %s",
			resumed.Round(time.Millisecond), before, after, sa0.SPIi == sa1.SPIi && sa0.SPIr == sa1.SPIr, tcpBytes>>10,
			map[bool]string{true: "equal", false: "DIFFERENT"}[tcpErr == nil]))
}
