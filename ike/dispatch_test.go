package ike

import (
	"net/netip"
	"reflect"
	"testing"
	"time"

	"github.com/esptun/esptun/ike/wire"
)

// TestHandleDatagramNow: with nothing queued, HandleDatagramNow processes a
// message before it returns (the Manager's workers are not even started
// here), through a whole IKE SA with its Child SA, except a fresh
// IKE_SA_INIT request on the NAT-T port, which queues; with a message
// queued for the same worker, it queues behind it, and the workers answer
// both once they run.
func TestHandleDatagramNow(t *testing.T) {
	s := newScriptedInitiator(t)
	m := s.m
	ike := func(port uint16) (remote, local netip.AddrPort) {
		return netip.AddrPortFrom(s.remote, port), netip.AddrPortFrom(s.local, port)
	}
	r500, l500 := ike(500)
	r4500, l4500 := ike(4500)

	m.HandleDatagramNow(s.initRequest(), r500, l500, false)
	resp, n := s.tr.take()
	if n != 1 {
		t.Fatalf("IKE_SA_INIT: %d answers before HandleDatagramNow returned, want 1", n)
	}
	m.HandleDatagramNow(s.authRequest(resp), r4500, l4500, true)
	resp, n = s.tr.take()
	if n != 1 {
		t.Fatalf("IKE_AUTH: %d answers before HandleDatagramNow returned, want 1", n)
	}
	if ps := s.open(resp); payloadOf[*wire.Auth](ps) == nil || payloadOf[*wire.SA](ps) == nil {
		t.Fatalf("IKE_AUTH response without AUTH or SA: %s", wire.PayloadsString(ps))
	}
	if got := len(m.snapshot()); got != 1 {
		t.Fatalf("%d IKE SAs, want 1", got)
	}

	// A fresh IKE_SA_INIT request on the NAT-T port queues even so: that
	// port's receiver carries ESP, which must not wait behind a flood.
	m.HandleDatagramNow(s.initRequest(), r4500, l4500, true)
	if _, n := s.tr.take(); n != 0 {
		t.Fatalf("fresh IKE_SA_INIT on the NAT-T port: %d answers before the workers ran, want 0", n)
	}
	if got := len(m.initInbox); got != 1 {
		t.Fatalf("fresh IKE_SA_INIT on the NAT-T port: %d requests queued, want 1", got)
	}
	d := <-m.initInbox
	m.done(d)

	// A fresh request waits in the queue (no worker runs): the next one
	// must not overtake it.
	m.HandleDatagram(s.initRequest(), r500, l500, false)
	m.HandleDatagramNow(s.initRequest(), r500, l500, false)
	if _, n := s.tr.take(); n != 0 {
		t.Fatalf("%d answers with a request queued ahead, want 0", n)
	}
	if got := len(m.initInbox); got != 2 {
		t.Fatalf("%d requests queued, want 2", got)
	}
	m.Start()
	deadline := time.Now().Add(5 * time.Second)
	answered := 0
	for answered < 2 && time.Now().Before(deadline) {
		_, n := s.tr.take()
		answered += n
		time.Sleep(5 * time.Millisecond)
	}
	if answered != 2 {
		t.Fatalf("the workers answered %d queued requests, want 2", answered)
	}
}

// TestHalfOpenMapMadeSmaller: once the SAs of a burst of setups have left
// the half-open table, expireHalfOpen gives the Manager a map of the size
// it needs instead of keeping the room of the burst; a table that holds a
// quarter of its peak or more, or that never grew large, is kept.
func TestHalfOpenMapMadeSmaller(t *testing.T) {
	m := newScriptedInitiator(t).m
	now := time.Now()
	fill := func(n int, age time.Duration) {
		for i := range n {
			key := halfOpenKey{spiI: uint64(i + 1), remote: netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), uint16(i))}
			sa := &ikeSA{created: now.Add(-age), leftHalfOpen: true}
			m.mu.Lock()
			m.halfOpen[m.halfOpenHash(key)] = sa
			m.halfOpenPeak = max(m.halfOpenPeak, len(m.halfOpen))
			m.mu.Unlock()
		}
	}
	table := func() uintptr {
		m.mu.Lock()
		defer m.mu.Unlock()
		return uintptr(reflect.ValueOf(m.halfOpen).UnsafePointer())
	}

	// A burst of 20 000, all established long ago: the table is made
	// again.
	fill(20000, time.Hour)
	before := table()
	m.expireHalfOpen(now)
	if n := len(m.halfOpen); n != 0 {
		t.Fatalf("%d entries left after expiry, want 0", n)
	}
	if table() == before {
		t.Fatal("the half-open table kept the room of 20 000 entries")
	}
	if m.halfOpenPeak != 0 {
		t.Errorf("peak %d after the table was made again, want 0", m.halfOpenPeak)
	}

	fill(4000, time.Hour)
	fill(2000, 0) // the first 2000 keys again, now recent: half stays
	before = table()
	m.expireHalfOpen(now)
	if n := len(m.halfOpen); n != 2000 {
		t.Fatalf("%d entries left, want the 2000 recent ones", n)
	}
	if table() != before {
		t.Error("a table holding half its peak was made again")
	}

	m.mu.Lock()
	m.halfOpen, m.halfOpenPeak = make(map[uint64]*ikeSA), 0
	m.mu.Unlock()
	fill(1000, time.Hour)
	before = table()
	m.expireHalfOpen(now)
	if table() != before {
		t.Error("a table that never held 1024 entries was made again")
	}
}
