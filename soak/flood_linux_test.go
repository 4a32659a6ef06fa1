//go:build linux

package soak

import (
	crand "crypto/rand"
	"encoding/binary"
	"fmt"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// rssSampler reads a process's RSS every 100ms (see sampleRSS).
type rssSampler struct {
	rss  []uint64 // KiB; owned by the sampling goroutine until done closes
	quit chan struct{}
	done chan struct{}
}

// sampleRSS starts reading the RSS of process pid every 100ms, and calls
// also (if not nil) at each reading, from the sampling goroutine, until
// stop.
func sampleRSS(pid int, also func()) *rssSampler {
	s := &rssSampler{quit: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-s.quit:
				return
			case <-tick.C:
			}
			if ps, err := readProc(pid); err == nil {
				s.rss = append(s.rss, ps.rssKiB)
			}
			if also != nil {
				also()
			}
		}
	}()
	return s
}

// stop ends the sampling and returns the readings, in KiB, oldest first.
func (s *rssSampler) stop() []uint64 {
	close(s.quit)
	<-s.done
	return s.rss
}

// floodPhase sends datagrams made by mk to dst from a UDP socket in ns at
// rate per second for d, and returns how many the kernel took.
func floodPhase(t *testing.T, from *gateway, dst netip.AddrPort, rate int, d time.Duration, mk func(i uint64, b []byte)) uint64 {
	t.Helper()
	var c *net.UDPConn
	if err := from.ns.Do(func() (err error) {
		c, err = net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(from.outer, 0)), net.UDPAddrFromAddrPort(dst))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetWriteBuffer(4 << 20)
	b := make([]byte, 100)
	var sent, failed uint64
	start := time.Now()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for range tick.C {
		el := time.Since(start)
		if el >= d {
			break
		}
		due := uint64(el.Seconds() * float64(rate))
		for sent < due {
			mk(sent, b)
			if _, err := c.Write(b); err != nil {
				failed++
				break
			}
			sent++
		}
	}
	if failed > 0 {
		t.Logf("flood: %d writes failed (retried)", failed)
	}
	return sent
}

// settle polls get until its value has not changed for 500ms.
func settle(get func() uint64) uint64 {
	v := get()
	for {
		time.Sleep(500 * time.Millisecond)
		w := get()
		if w == v {
			return v
		}
		v = w
	}
}

// TestESPFlood floods A's NAT-T port from B's namespace, first with ESP
// packets for random SPIs, then with garbage under A's real inbound SPI
// (sequence numbers above the window, so every one is decrypted and fails
// its ICV, RFC 4303 3.4.4). A's daemon must count every one (global no_sa,
// then the inbound SA's auth), keep its memory flat and its CPU bounded,
// and keep carrying tunnel traffic. Datagrams the kernel dropped before the
// daemon saw them are counted from /proc/net/snmp (Udp RcvbufErrors) and
// the veths' drop counters, so that sent = counted + dropped exactly.
func TestESPFlood(t *testing.T) {
	rate, d := 40000, 1500*time.Millisecond
	if full {
		d = 5 * time.Second
	}
	l := newLab(t, labConfig{topo: direct, a: gwConfig{startAction: "start"}})
	sa, _ := l.established(t, 20*time.Second, true)
	l.a.pingEventually(t, l.b, 10*time.Second)
	spiIn := sa.Children[0].SPIIn
	spiInN, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(spiIn), "0x"), 16, 32)
	if err != nil {
		t.Fatalf("A's inbound SPI %q: %v", spiIn, err)
	}
	known := map[uint32]bool{uint32(spiInN): true}
	if n, err := strconv.ParseUint(strings.TrimPrefix(strings.ToLower(sa.Children[0].SPIOut), "0x"), 16, 32); err == nil {
		known[uint32(n)] = true
	}
	pid := l.a.cmd.Process.Pid
	dst := netip.AddrPortFrom(l.a.outer, 4500)

	// RSS of A's daemon, sampled every 100ms while flooding.
	sampler := sampleRSS(pid, nil)
	p0, err := readProc(pid)
	if err != nil {
		t.Fatal(err)
	}
	globalDrop := func(reason string) func() uint64 {
		return func() uint64 { return l.a.status(t).Drops[reason] }
	}
	saDrop := func(reason string) func() uint64 {
		return func() uint64 {
			in, _ := inboundSA(l.a.status(t), spiIn)
			return in.Drops[reason]
		}
	}
	counters := func() (netCounters, netCounters) { return l.a.netCounters(t), l.b.netCounters(t) }
	type phase struct {
		name    string
		counter func() uint64
		mk      func(i uint64, b []byte)
	}
	rng := mrand.New(mrand.NewPCG(1, 2))
	phases := []phase{
		{"random SPIs", globalDrop("no_sa"), func(i uint64, b []byte) {
			spi := uint32(0)
			for spi < 256 || known[spi] {
				spi = rng.Uint32()
			}
			binary.BigEndian.PutUint32(b, spi)
			binary.BigEndian.PutUint32(b[4:], uint32(i+1))
			crand.Read(b[8:])
		}},
		{"garbage on the inbound SPI", saDrop("auth"), func(i uint64, b []byte) {
			binary.BigEndian.PutUint32(b, uint32(spiInN))
			binary.BigEndian.PutUint32(b[4:], 1<<31+uint32(i))
			crand.Read(b[8:])
		}},
	}
	var (
		figures   []string
		pingOK    int
		pings     int
		floodCPU  time.Duration
		floodTime time.Duration
		floodSent uint64
	)
	start := time.Now()
	for _, ph := range phases {
		c0 := settle(ph.counter)
		a0, b0 := counters()
		// Tunnel traffic during the flood.
		var wg sync.WaitGroup
		wg.Add(1)
		var got int
		n := int(d / (100 * time.Millisecond))
		go func() {
			defer wg.Done()
			got, _ = l.b.ns.Ping(l.b.inner, l.a.inner, n, 56, 100*time.Millisecond, time.Second)
		}()
		q0, _ := readProc(pid)
		fs := time.Now()
		sent := floodPhase(t, l.b, dst, rate, d, ph.mk)
		q1, _ := readProc(pid)
		floodCPU += q1.cpu - q0.cpu
		floodTime += time.Since(fs)
		floodSent += sent
		wg.Wait()
		pingOK, pings = pingOK+got, pings+n
		c1 := settle(ph.counter)
		a1, b1 := counters()
		counted := c1 - c0
		dropped, detail := kernelDrops(a0, a1)
		bdropped, bdetail := kernelDrops(b0, b1)
		t.Logf("%s: sent %d, counted %d, kernel drops in A %d (%s), in B %d (%s); %d of %d pings answered during the flood",
			ph.name, sent, counted, dropped, detail, bdropped, bdetail, got, n)
		if counted+dropped+bdropped != sent {
			t.Errorf("%s: sent %d datagrams, the daemon counted %d and the kernel dropped %d in A and %d in B: %d unaccounted for",
				ph.name, sent, counted, dropped, bdropped, int64(sent)-int64(counted+dropped+bdropped))
		}
		figures = append(figures, fmt.Sprintf("%s: %d sent = %d counted + %d kernel drops", ph.name, sent, counted, dropped+bdropped))
	}
	elapsed := time.Since(start)
	samples := sampler.stop()
	p1, err := readProc(pid)
	if err != nil {
		t.Fatal(err)
	}
	// The daemon's CPU while the flood ran (the readings tick at 10ms),
	// and over the whole test part, settling included.
	cpu := float64(floodCPU) / float64(floodTime) * 100
	perPkt := floodCPU / time.Duration(max(floodSent, 1))
	overall := float64(p1.cpu-p0.cpu) / float64(elapsed) * 100
	rssMax, rssLast := uint64(0), uint64(0)
	for _, s := range samples {
		rssMax = max(rssMax, s)
	}
	if len(samples) > 0 {
		rssLast = samples[len(samples)-1]
	}
	var early uint64
	if len(samples) > 5 {
		early = samples[len(samples)/5]
	}
	t.Logf("A's daemon: RSS %d KiB before, %d KiB after a fifth of the flood, %d KiB at the end, %d KiB at most; CPU %.0f%% while flooding (%v per datagram), %.0f%% over %v",
		p0.rssKiB, early, rssLast, rssMax, cpu, perPkt, overall, elapsed.Round(time.Millisecond))
	// Flat memory: the flood may warm up pools and the runtime, but the
	// last four fifths must not grow.
	if early > 0 && rssLast > early+4<<10 {
		t.Errorf("RSS grew from %d KiB to %d KiB during the flood", early, rssLast)
	}
	if rssMax > p0.rssKiB+32<<10 {
		t.Errorf("RSS peaked at %d KiB, %d KiB before the flood", rssMax, p0.rssKiB)
	}
	// Bounded CPU: at most a core and a half of the two.
	if cpu > 150 {
		t.Errorf("A's daemon used %.0f%% CPU during the flood", cpu)
	}
	if pingOK < pings/2 {
		t.Errorf("only %d of %d pings through the tunnel answered during the flood", pingOK, pings)
	}
	if !l.a.running() {
		t.Fatalf("gateway a exited during the flood: %v", l.a.err)
	}
	record(t, fmt.Sprintf("ESP flood, %d datagrams/s for 2 x %v", rate, d),
		"every datagram counted (no_sa, then the SA's auth) or dropped by the kernel; RSS flat; CPU bounded",
		fmt.Sprintf("%s; RSS %d -> %d KiB (max %d); CPU %.0f%% of one core (%v per datagram); %d/%d pings answered meanwhile",
			strings.Join(figures, "; "), p0.rssKiB, rssLast, rssMax, cpu, perPkt, pingOK, pings))
}
