package ike

import (
	"testing"
	"time"
)

// TestLifeTimer: an IKE SA's rekey, DPD and keepalive duties share one
// runtime timer: keepalives go out every keepalive_interval and DPD checks
// every dpd_delay (answered, so the SA stays) at the same time, and the
// rekey runs at its deadline on the same timer.
func TestLifeTimer(t *testing.T) {
	moonIKE := defaultIKE + "keepalive_interval = \"100ms\"\n"
	_, moon, sun := newPair(t, pairOpts{
		ike:  [2]string{moonIKE, ""},
		conn: [2]string{"encap = true\ndpd_delay = \"300ms\"\n", ""},
	})
	old := establish(t, moon, sun)
	sas := moon.m.snapshot()
	if len(sas) != 1 {
		t.Fatalf("%d IKE SAs", len(sas))
	}
	sa := sas[0]
	sa.mu.Lock()
	timer, ka, dpd := sa.lifeTimer, sa.keepaliveAt, sa.dpdAt
	sa.mu.Unlock()
	if timer == nil || ka == 0 || dpd == 0 {
		t.Fatalf("life timer %v, keepalive deadline %v, DPD deadline %v: want all armed", timer != nil, ka, dpd)
	}
	k0, r0 := sun.tr.keepalives.Load(), sun.tr.received.Load()
	time.Sleep(time.Second)
	if n := sun.tr.keepalives.Load() - k0; n < 5 {
		t.Errorf("%d keepalives in 1s at keepalive_interval 100ms, want at least 5", n)
	}
	if n := sun.tr.received.Load() - r0; n < 1 {
		t.Errorf("no DPD check in 1s at dpd_delay 300ms without ESP from the peer")
	}
	if n := len(moon.ikeSAs("ESTABLISHED")); n != 1 {
		t.Fatalf("%d established IKE SAs after the DPD checks, want 1", n)
	}

	sa.mu.Lock()
	now := sa.sinceCreated()
	sa.rekeyAt = now + 50*time.Millisecond
	sa.armLifeTimerLocked(now)
	if sa.lifeTimer != timer {
		t.Error("the rekey deadline made a timer of its own")
	}
	sa.mu.Unlock()
	waitFor(t, 5*time.Second, "the IKE SA rekeyed at its deadline", func() bool {
		s := moon.ikeSAs("ESTABLISHED")
		return len(s) == 1 && s[0].SPIi != old.SPIi && s[0].SPIr != old.SPIr
	})
	waitSettled(t, moon, sun, 1)
}
