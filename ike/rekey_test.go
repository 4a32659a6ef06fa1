package ike

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/esptun/esptun/ike/wire"
	"github.com/esptun/esptun/sad"
)

// childSPIs returns the SPIs of p's only Child SA as p sees them.
func childSPIs(t testing.TB, p *peer) (in, out uint32) {
	t.Helper()
	sas := p.ikeSAs("ESTABLISHED")
	if len(sas) != 1 || len(sas[0].Children) != 1 {
		t.Fatalf("%s: want one IKE SA with one Child SA, have %+v", p.name, sas)
	}
	c := sas[0].Children[0]
	return parseSPI(t, c.SPIIn), parseSPI(t, c.SPIOut)
}

// TestRekeyChild rekeys the Child SA from either side, with and without
// PFS (RFC 7296 1.3.3): the new SAs replace the old ones on both sides and
// their keys work.
func TestRekeyChild(t *testing.T) {
	for _, pfs := range []bool{false, true} {
		for _, from := range []int{0, 1} {
			t.Run(fmt.Sprintf("%s/pfs=%v", sideName[from], pfs), func(t *testing.T) {
				o := pairOpts{}
				if pfs {
					o.esp = [2]string{`"aes128gcm16-x25519"`, `"aes128gcm16-x25519"`}
				}
				_, moon, sun := newPair(t, o)
				peers := [2]*peer{moon, sun}
				establish(t, moon, sun)
				oldIn, oldOut := childSPIs(t, moon)
				if err := peers[from].m.RekeyChild(ctxT(t, 10*time.Second), "net"); err != nil {
					t.Fatalf("RekeyChild: %v", err)
				}
				ike := waitSettled(t, moon, sun, 1)
				in, out := childSPIs(t, moon)
				if in == oldIn || out == oldOut {
					t.Errorf("SPIs %08x/%08x unchanged after the rekey", in, out)
				}
				wantDH := uint16(0)
				if pfs {
					wantDH = 31 // curve25519
				}
				if got := ike.Children[0].DH; got != wantDH {
					t.Errorf("rekeyed Child SA has DH group %d, want %d", got, wantDH)
				}
				checkTraffic(t, moon, sun)
				checkDataPath(t, moon, sun, "10.1.0.5", "10.2.0.7")
				checkDataPath(t, sun, moon, "10.2.0.7", "10.1.0.5")
				waitSADExact(t, 1, moon, sun)
				for _, p := range peers {
					for spi := range p.sadSPIs(sad.Inbound) {
						if spi == oldIn || spi == oldOut {
							t.Errorf("%s still has the old inbound SA %08x", p.name, spi)
						}
					}
				}
			})
		}
	}
}

// TestRekeyIKE rekeys the IKE SA from either side (RFC 7296 1.3.2): new IKE
// SPIs, the Child SAs move over unchanged, and the new IKE SA works (a
// Child SA rekey runs on it).
func TestRekeyIKE(t *testing.T) {
	for _, from := range []int{0, 1} {
		t.Run(sideName[from], func(t *testing.T) {
			_, moon, sun := newPair(t, pairOpts{})
			peers := [2]*peer{moon, sun}
			old := establish(t, moon, sun)
			childIn, childOut := childSPIs(t, moon)
			if err := peers[from].m.RekeyIKE(ctxT(t, 10*time.Second), "c"); err != nil {
				t.Fatalf("RekeyIKE: %v", err)
			}
			ike := waitSettled(t, moon, sun, 1)
			if ike.SPIi == old.SPIi || ike.SPIr == old.SPIr {
				t.Errorf("IKE SPIs %s_%s unchanged", ike.SPIi, ike.SPIr)
			}
			if in, out := childSPIs(t, moon); in != childIn || out != childOut {
				t.Errorf("Child SA changed from %08x/%08x to %08x/%08x", childIn, childOut, in, out)
			}
			if ike.Initiator != (from == 0) {
				t.Errorf("moon's role in the new IKE SA: initiator=%v, want %v (the rekey's initiator)", ike.Initiator, from == 0)
			}
			checkTraffic(t, moon, sun)
			if err := peers[1-from].m.RekeyChild(ctxT(t, 10*time.Second), "net"); err != nil {
				t.Fatalf("RekeyChild on the new IKE SA: %v", err)
			}
			waitSettled(t, moon, sun, 1)
			checkTraffic(t, moon, sun)
		})
	}
}

// together runs f(0) and f(1) on two goroutines released at the same
// instant and returns their errors.
func together(f func(i int) error) [2]error {
	var errs [2]error
	var ready, done sync.WaitGroup
	start := make(chan struct{})
	for i := range 2 {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			errs[i] = f(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return errs
}

// TestSimultaneousChildRekey rekeys the same Child SA from both sides at
// once, over and over (RFC 7296 2.8.1): afterwards exactly one Child SA
// pair is left, both sides agree on it, and the SADs hold nothing else.
func TestSimultaneousChildRekey(t *testing.T) {
	_, moon, sun := newPair(t, pairOpts{})
	peers := [2]*peer{moon, sun}
	establish(t, moon, sun)
	for round := range 20 {
		oldIn, _ := childSPIs(t, moon)
		errs := together(func(i int) error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return peers[i].m.RekeyChild(ctx, "net")
		})
		for i, err := range errs {
			if err != nil {
				t.Errorf("round %d: %s's RekeyChild: %v", round, sideName[i], err)
			}
		}
		waitSettled(t, moon, sun, 1)
		if in, _ := childSPIs(t, moon); in == oldIn {
			t.Errorf("round %d: Child SA not rekeyed", round)
		}
		checkTraffic(t, moon, sun)
		checkDataPath(t, moon, sun, "10.1.0.5", "10.2.0.7")
		checkDataPath(t, sun, moon, "10.2.0.7", "10.1.0.5")
		if t.Failed() {
			t.FailNow()
		}
	}
	waitSADExact(t, 1, moon, sun)
}

// TestSimultaneousIKERekey rekeys the IKE SA from both sides at once (RFC
// 7296 2.8.2): one IKE SA is left on each side, the same one, with the
// Child SA on it.
func TestSimultaneousIKERekey(t *testing.T) {
	_, moon, sun := newPair(t, pairOpts{})
	peers := [2]*peer{moon, sun}
	establish(t, moon, sun)
	childIn, childOut := childSPIs(t, moon)
	for round := range 10 {
		old := moon.ikeSAs("")[0]
		errs := together(func(i int) error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return peers[i].m.RekeyIKE(ctx, "c")
		})
		for i, err := range errs {
			if err != nil {
				t.Logf("round %d: %s's RekeyIKE: %v", round, sideName[i], err)
			}
		}
		// When a DELETE overtakes a rekey response, the winner's copy
		// of the redundant IKE SA is deleted by the winner after one
		// retransmit_timeout, and that DELETE goes unanswered.
		ike := waitSettledWithin(t, moon, sun, 1, 6*time.Second)
		if ike.SPIi == old.SPIi && ike.SPIr == old.SPIr {
			t.Errorf("round %d: IKE SA not rekeyed", round)
		}
		if in, out := childSPIs(t, moon); in != childIn || out != childOut {
			t.Errorf("round %d: Child SA changed", round)
		}
		checkTraffic(t, moon, sun)
		checkDataPath(t, moon, sun, "10.1.0.5", "10.2.0.7")
		checkDataPath(t, sun, moon, "10.2.0.7", "10.1.0.5")
		if t.Failed() {
			t.FailNow()
		}
	}
	waitSADExact(t, 1, moon, sun)
	// The surviving IKE SA still works.
	if err := moon.m.RekeyChild(ctxT(t, 10*time.Second), "net"); err != nil {
		t.Fatalf("RekeyChild after the collisions: %v", err)
	}
	waitSettled(t, moon, sun, 1)
}

// TestRekeyWhileDeleting: sun rekeys the Child SA while moon's DELETE of it
// is in flight. RFC 7296 2.25: a peer asked to rekey a Child SA it is
// closing answers TEMPORARY_FAILURE; either way the Child SA is gone on
// both sides afterwards and nothing stays installed.
func TestRekeyWhileDeleting(t *testing.T) {
	_, moon, sun := newPair(t, pairOpts{})
	establish(t, moon, sun)
	// Hold moon's DELETE back so that sun's rekey request crosses it.
	moon.tr.setFilter(func(d *datagramInfo) verdict {
		if d.dir == dirOut && d.valid && d.header.Exchange == wire.ExchangeInformational && !d.header.IsResponse() {
			return verdict{delay: 150 * time.Millisecond}
		}
		return verdict{}
	})
	if err := moon.m.TerminateChild(ctxT(t, 5*time.Second), "net"); err != nil {
		t.Fatalf("TerminateChild: %v", err)
	}
	err := sun.m.RekeyChild(ctxT(t, 10*time.Second), "net")
	t.Logf("sun's RekeyChild: %v", err)
	time.Sleep(300 * time.Millisecond)
	waitSettled(t, moon, sun, 0)
}
