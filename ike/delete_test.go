package ike

import (
	"context"
	"testing"
	"time"
)

// TestDelete: Terminate and TerminateChild from either side remove the SAs
// on both (RFC 7296 1.4.1); Close sends DELETE for every IKE SA.
func TestDelete(t *testing.T) {
	tests := []struct {
		name  string
		from  int
		child bool // TerminateChild instead of Terminate
		close bool // Manager.Close
	}{
		{name: "terminate-moon", from: 0},
		{name: "terminate-sun", from: 1},
		{name: "terminate-child-moon", from: 0, child: true},
		{name: "terminate-child-sun", from: 1, child: true},
		{name: "close-moon", from: 0, close: true},
		{name: "close-sun", from: 1, close: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, moon, sun := newPair(t, pairOpts{})
			peers := [2]*peer{moon, sun}
			establish(t, moon, sun)
			checkTraffic(t, moon, sun)
			p, other := peers[tc.from], peers[1-tc.from]
			switch {
			case tc.child:
				if err := p.m.TerminateChild(ctxT(t, 5*time.Second), "net"); err != nil {
					t.Fatalf("TerminateChild: %v", err)
				}
				// The IKE SA stays; only the Child SA goes.
				waitSettled(t, moon, sun, 0)
			case tc.close:
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				start := time.Now()
				p.close(ctx)
				cancel()
				// Only a DELETE makes the other side drop its SA this
				// soon: it does no liveness checks here.
				waitFor(t, time.Second, "the peer to remove its IKE SA", func() bool { return len(other.ikeSAs("")) == 0 })
				if took := time.Since(start); took > time.Second {
					t.Errorf("Close took %v; the peer answers DELETE at once", took)
				}
				if n := len(p.ikeSAs("")); n != 0 {
					t.Errorf("%s still lists %d IKE SAs after Close", p.name, n)
				}
				if err := p.m.Initiate(ctxT(t, time.Second), "net"); err == nil {
					t.Errorf("Initiate after Close succeeded")
				}
			default:
				if err := p.m.Terminate(ctxT(t, 5*time.Second), "c"); err != nil {
					t.Fatalf("Terminate: %v", err)
				}
				if n := len(p.ikeSAs("")); n != 0 {
					t.Errorf("%s still lists %d IKE SAs after Terminate returned", p.name, n)
				}
				waitFor(t, time.Second, "the peer to remove its IKE SA", func() bool { return len(other.ikeSAs("")) == 0 })
			}
			waitSADExact(t, 0, moon, sun)
			for _, q := range peers {
				if q.hasPolicyFor(q.sideTSHost(), q.otherTSHost()) {
					t.Errorf("%s still has a protect policy", q.name)
				}
			}
			if tc.child || tc.close {
				return
			}
			// The connection can be brought up again.
			establish(t, moon, sun)
			checkTraffic(t, moon, sun)
		})
	}
}

// TestDPD: with dpd_delay = 1s and the peer gone silent, the liveness
// check (RFC 7296 2.4) is retransmitted and the IKE SA declared dead
// within dpd_delay (up to twice, as the check runs every dpd_delay) plus
// the retransmission sequence.
func TestDPD(t *testing.T) {
	ikeCfg := "retransmit_timeout = \"200ms\"\nretransmit_base = 1.5\nretransmit_tries = 2\n"
	_, moon, sun := newPair(t, pairOpts{ike: [2]string{ikeCfg, ikeCfg}, conn: [2]string{"dpd_delay = \"1s\"\n", ""}})
	establish(t, moon, sun)
	sun.tr.setFilter(func(d *datagramInfo) verdict { return verdict{drop: true} })
	start := time.Now()
	waitFor(t, 6*time.Second, "moon to declare sun dead", func() bool { return len(moon.ikeSAs("")) == 0 })
	took := time.Since(start)
	// 200ms + 300ms + 450ms of retransmissions after the first check.
	if min, max := time.Second, 2*time.Second+950*time.Millisecond+500*time.Millisecond; took < min || took > max {
		t.Errorf("declared dead after %v, want between %v and %v", took, min, max)
	}
	waitSADExact(t, 0, moon)
	if moon.hasPolicyFor("10.1.0.5", "10.2.0.7") {
		t.Errorf("moon still has a protect policy after the peer died (dpd_action = clear)")
	}
}
