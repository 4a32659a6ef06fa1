//go:build linux

package soak

import (
	"encoding/binary"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esptun/esptun/internal/netns"
)

// TestSequenceExhaustion runs a Child SA into its packet limits under a
// 20 000 datagrams/s stream. esptun has no knob to start an IKE-keyed SA
// near the 32-bit sequence number limit (the SAD raises its soft event
// 2^26 numbers before it, about an hour at this rate), so the limits are
// made small instead: rekey_packets = 20000 (the soft limit, with
// rand_packets = 0), life_packets = 30000 (the hard limit), ESN off. Every SA must be rekeyed before its hard limit, no sequence
// number may be used twice on one SPI (RFC 4303 3.3.3: the counter never
// cycles), and no datagram may be lost. The ESP packets are captured on
// A's veth, with UDP GSO disabled there so that each is seen on its own.
func TestSequenceExhaustion(t *testing.T) {
	const (
		rekeyPackets = 20000
		lifePackets  = 30000
	)
	rate, d := 20000, 4*time.Second
	if full {
		d = 30 * time.Second
	}
	// rand_packets = 0: both ends reach the soft limit on the same packet
	// and rekey at once, with 10000 packets (half a second) to spare.
	gw := gwConfig{rekeyPackets: rekeyPackets, lifePackets: lifePackets, randPackets: ptr(uint64(0))}
	a := gw
	a.startAction = "start"
	l := newLab(t, labConfig{topo: direct, a: a, b: gw})
	l.established(t, 20*time.Second, true)
	l.a.pingEventually(t, l.b, 10*time.Second)
	// Software segmentation before the packet tap: one ESP packet per
	// captured frame.
	if _, err := l.a.ns.Run("ip", "link", "set", "dev", "sa", "gso_max_segs", "1"); err != nil {
		t.Fatal(err)
	}

	type key struct{ spi, seq uint32 }
	var (
		mu       sync.Mutex
		seen     = make(map[key]int)
		maxSeq   = make(map[uint32]uint32)
		count    = make(map[uint32]int)
		big      int // frames bigger than one ESP packet: GSO not disabled
		zeroSeq  int
		captured int
	)
	src := l.a.outer
	capt, err := l.a.ns.StartCapture("sa", func(p []byte) bool {
		u, ok := netns.ParseUDP(p)
		if !ok || u.Src.Addr() != src || u.Dst.Port() != 4500 || len(u.Payload) < 8 {
			return false
		}
		spi := binary.BigEndian.Uint32(u.Payload)
		if spi == 0 { // RFC 3948 2.2: non-ESP marker, an IKE message
			return false
		}
		seq := binary.BigEndian.Uint32(u.Payload[4:])
		mu.Lock()
		defer mu.Unlock()
		captured++
		if len(p) > 1500 {
			big++
		}
		if seq == 0 {
			zeroSeq++
		}
		seen[key{spi, seq}]++
		count[spi]++
		maxSeq[spi] = max(maxSeq[spi], seq)
		return false
	})
	if err != nil {
		t.Fatal(err)
	}
	defer capt.Stop()

	nc0 := l.a.netCounters(t)
	stream := startUDPStream(t, l.a, l.b, 9002, rate, 1000)
	time.Sleep(d)
	res := stream.stop(time.Second)
	capt.Stop()
	_, kA := kernelDrops(nc0, l.a.netCounters(t))
	l.established(t, 10*time.Second, false)

	mu.Lock()
	defer mu.Unlock()
	dups := 0
	for _, n := range seen {
		if n > 1 {
			dups += n - 1
		}
	}
	var spis []uint32
	for spi := range maxSeq {
		spis = append(spis, spi)
	}
	sort.Slice(spis, func(i, j int) bool { return count[spis[i]] < count[spis[j]] })
	var per []string
	highest := uint32(0)
	for _, spi := range spis {
		per = append(per, fmt.Sprintf("%08x:%d", spi, maxSeq[spi]))
		highest = max(highest, maxSeq[spi])
	}
	t.Logf("UDP stream: %v; kernel drops on A: %s", res, kA)
	t.Logf("captured %d ESP packets from A on %d SPIs (highest sequence number per SPI: %s)", captured, len(spis), strings.Join(per, " "))
	var expired uint64
	for _, g := range []*gateway{l.a, l.b} {
		st := g.status(t)
		expired += st.Drops["expired"]
		for _, sa := range st.SAs {
			expired += sa.Drops["expired"]
		}
	}
	if big > 0 {
		t.Errorf("%d captured frames were bigger than 1500 bytes: UDP GSO was not disabled, the check is incomplete", big)
	}
	if dups > 0 || zeroSeq > 0 {
		t.Errorf("%d ESP packets reused an SPI and sequence number pair; %d had sequence number 0", dups, zeroSeq)
	}
	if highest > lifePackets {
		t.Errorf("an SA sent sequence number %d, beyond life_packets = %d", highest, lifePackets)
	}
	if expired > 0 {
		t.Errorf("%d packets dropped on an expired SA: an SA hit its hard limit before its rekey was done", expired)
	}
	if res.lost() != 0 {
		t.Errorf("UDP stream lost %d of %d datagrams (first %v)", res.lost(), res.sent, res.missing)
	}
	if want := int(res.sent / rekeyPackets); len(spis) < want {
		t.Errorf("%d outbound SPIs for %d packets: fewer rekeys than rekey_packets = %d demands", len(spis), res.sent, rekeyPackets)
	}
	record(t, "sequence exhaustion (rekey_packets 20000, rand_packets 0, life_packets 30000, ESN off, 20 000 datagrams/s)",
		"rekeyed before the hard limit on every SA; no (SPI, seq) used twice in the capture; 0 datagrams lost",
		fmt.Sprintf("%d SAs used, highest seq %d; %d of ~%d ESP packets captured, 0 reused: %v; %d/%d datagrams lost; %d expired drops",
			len(spis), highest, captured, res.sent, dups == 0, res.lost(), res.sent, expired))
}
