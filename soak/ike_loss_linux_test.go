//go:build linux

package soak

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/esptun/esptun/internal/relay"
)

// TestIKELossJitter sets up the IKE SA through a relay that loses 30% of
// the IKE messages in each direction and delays each by a random 0-200ms:
// the handshake (IKE_SA_INIT and IKE_AUTH) must complete through
// retransmissions (RFC 7296 2.1) within the time the retransmission
// settings allow, every time. The figure is the time esptun initiate took.
func TestIKELossJitter(t *testing.T) {
	const (
		loss    = 0.3
		jitter  = 200 * time.Millisecond
		timeout = time.Second
		base    = 1.2
		tries   = 10
	)
	trials := 4
	if full {
		trials = 25
	}
	// One exchange gives up after timeout*(1+base+...+base^tries); the
	// handshake has two.
	var giveUp time.Duration
	for i := 0; i <= tries; i++ {
		giveUp += time.Duration(float64(timeout) * math.Pow(base, float64(i)))
	}
	bound := 2 * giveUp
	impair := relay.Impairment{Match: relay.MatchIKE(500, 4500), Loss: loss, Jitter: jitter}
	gw := gwConfig{retransmitTimeout: timeout.String(), retransmitBase: base, retransmitTries: ptr(tries)}
	l := newLab(t, labConfig{topo: relayed, a: gw, b: gw})

	var took []time.Duration
	for i := range trials {
		l.relay.SetImpairment(relay.AtoB, impair)
		l.relay.SetImpairment(relay.BtoA, impair)
		before := [2]relay.Counters{l.relay.Counters(relay.AtoB), l.relay.Counters(relay.BtoA)}
		start := time.Now()
		out, code := runCLI(t, bound+30*time.Second, "initiate", "--child", childName, "-s", l.a.sock, "--timeout", bound.String())
		d := time.Since(start)
		if code != 0 {
			sa, sb := l.a.status(t), l.b.status(t)
			t.Fatalf("trial %d: esptun initiate through %v loss and %v jitter: exit %d after %v\n%s\nrelay A->B: %v\nrelay B->A: %v\nIKE counters A %+v B %+v",
				i, loss, jitter, code, d, out, l.relay.Counters(relay.AtoB), l.relay.Counters(relay.BtoA), sa.IKE, sb.IKE)
		}
		// B may still wait for a retransmitted IKE_AUTH to learn that
		// its answer arrived; it holds the SA once it sent it.
		l.established(t, bound, false)
		after := [2]relay.Counters{l.relay.Counters(relay.AtoB), l.relay.Counters(relay.BtoA)}
		took = append(took, d)
		t.Logf("trial %d: established in %v; IKE datagrams A->B %d lost of %d, B->A %d lost of %d", i, d.Round(time.Millisecond),
			after[0].Lost-before[0].Lost, after[0].Received-before[0].Received,
			after[1].Lost-before[1].Lost, after[1].Received-before[1].Received)
		if d > bound {
			t.Errorf("trial %d: handshake took %v, beyond the %v the retransmission settings allow", i, d, bound)
		}
		// Tear down on a clean link, so that the next trial starts empty.
		l.relay.SetImpairment(relay.AtoB, relay.Impairment{})
		l.relay.SetImpairment(relay.BtoA, relay.Impairment{})
		if out, code := runCLI(t, 40*time.Second, "terminate", "--ike", connName, "-s", l.a.sock); code != 0 {
			t.Fatalf("esptun terminate: exit %d\n%s", code, out)
		}
		if !waitFor(10*time.Second, func() bool {
			sa, sb := l.a.status(t), l.b.status(t)
			return len(sa.IKESAs) == 0 && len(sb.IKESAs) == 0 && len(sa.SAs) == 0 && len(sb.SAs) == 0
		}) {
			t.Fatalf("trial %d: SAs left 10s after esptun terminate", i)
		}
	}
	ab, ba := l.relay.Counters(relay.AtoB), l.relay.Counters(relay.BtoA)
	slices.Sort(took)
	var parts []string
	for _, d := range took {
		parts = append(parts, d.Round(10*time.Millisecond).String())
	}
	record(t, "IKE loss 30% + jitter 0-200ms",
		fmt.Sprintf("every handshake completes within %v (2 exchanges x retransmit_timeout %v, base %v, tries %d)", bound.Round(time.Second), timeout, base, tries),
		fmt.Sprintf("%d handshakes, median %v, max %v (%s); IKE datagrams lost A->B %d/%d, B->A %d/%d",
			len(took), took[len(took)/2].Round(10*time.Millisecond), took[len(took)-1].Round(10*time.Millisecond), strings.Join(parts, " "),
			ab.Lost, ab.Received, ba.Lost, ba.Received))
}
