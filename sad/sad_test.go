package sad

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"runtime"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/esptun/esptun/crypto"
	"github.com/esptun/esptun/esp"
	"github.com/esptun/esptun/internal/pairbench"
	"github.com/esptun/esptun/internal/testlab"
)

// fakeCipher records Wipe and flags use after it.
type fakeCipher struct {
	wipes atomic.Int32
}

func (c *fakeCipher) Suite() crypto.ESPSuite { return crypto.ESPSuite{Name: "fake"} }
func (c *fakeCipher) Seal(pkt []byte, seq uint64, esn bool, s *crypto.Scratch) []byte {
	return pkt
}
func (c *fakeCipher) Open(pkt []byte, seqHi uint32, esn bool, s *crypto.Scratch) ([]byte, error) {
	return pkt, nil
}
func (c *fakeCipher) Wipe() { c.wipes.Add(1) }

// events collects Events; safe for concurrent use.
type events struct {
	mu  sync.Mutex
	evs []Event
}

func (e *events) add(ev Event) {
	e.mu.Lock()
	e.evs = append(e.evs, ev)
	e.mu.Unlock()
}

func (e *events) list() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []string
	for _, ev := range e.evs {
		kind := "soft"
		if ev.Hard {
			kind = "hard"
		}
		out = append(out, fmt.Sprintf("%s:%s:%s", ev.SA.Name, kind, ev.Why))
	}
	return out
}

func inSA(spi uint32) *SA {
	return &SA{Name: fmt.Sprintf("in-%x", spi), Dir: Inbound, SPI: spi, Cipher: &fakeCipher{}, Replay: esp.NewReplayWindow(1024)}
}

func outSA(spi, policy uint32) *SA {
	return &SA{Name: fmt.Sprintf("out-%x", spi), Dir: Outbound, SPI: spi, PolicyID: policy, Cipher: &fakeCipher{}}
}

func TestDropReasonString(t *testing.T) {
	want := []string{"auth", "replay", "policy", "malformed", "no_sa", "expired"}
	for r := range NumDropReasons {
		if r.String() != want[r] {
			t.Errorf("%d: %q, want %q", r, r.String(), want[r])
		}
	}
	if s := DropReason(42).String(); s != "DropReason(42)" {
		t.Errorf("unknown reason: %q", s)
	}
}

func TestAddLookupDelete(t *testing.T) {
	db := New(nil)
	in1, in2 := inSA(0xc0000001), inSA(0xc0000002)
	for _, sa := range []*SA{in1, in2} {
		if err := db.Add(sa); err != nil {
			t.Fatal(err)
		}
	}
	if db.Inbound(0xc0000001) != in1 || db.Inbound(0xc0000002) != in2 || db.Inbound(7) != nil {
		t.Fatal("inbound lookup")
	}
	if in1.Created.IsZero() {
		t.Error("Add did not set Created")
	}
	if err := db.Add(inSA(0xc0000001)); !errors.Is(err, ErrDuplicateSPI) {
		t.Errorf("duplicate SPI: %v", err)
	}
	if err := db.Add(in1); err == nil {
		t.Error("SA added twice")
	}
	if err := db.Add(inSA(0)); err == nil {
		t.Error("SPI 0 accepted")
	}
	if err := db.Add(&SA{SPI: 9, Dir: 7}); err == nil {
		t.Error("bad direction accepted")
	}
	if err := db.Add(nil); err == nil {
		t.Error("nil accepted")
	}

	// Outbound: the same SPI may serve different policies (peers choose
	// outbound SPIs).
	o1, o2 := outSA(0x1000, 1), outSA(0x1000, 2)
	for _, sa := range []*SA{o1, o2} {
		if err := db.Add(sa); err != nil {
			t.Fatal(err)
		}
	}
	if db.Outbound(1) != o1 || db.Outbound(2) != o2 || db.Outbound(3) != nil {
		t.Fatal("outbound lookup")
	}
	// Make-before-break: the new SA is returned at once, the old one stays
	// usable until deleted.
	o1b := outSA(0x1001, 1)
	if err := db.Add(o1b); err != nil {
		t.Fatal(err)
	}
	if db.Outbound(1) != o1b || o1.Dead() {
		t.Fatal("rekeyed outbound SA not returned, or old one killed")
	}
	if got := len(db.All()); got != 5 {
		t.Errorf("All: %d SAs, want 5", got)
	}
	db.Delete(o1)
	if db.Outbound(1) != o1b || !o1.Dead() || o1.Cipher.(*fakeCipher).wipes.Load() != 1 {
		t.Fatal("deleting the replaced SA")
	}
	if got := len(db.All()); got != 4 {
		t.Errorf("All: %d SAs, want 4", got)
	}

	db.Delete(in1)
	db.Delete(in1)
	if db.Inbound(0xc0000001) != nil || !in1.Dead() {
		t.Fatal("inbound delete")
	}
	if n := in1.Cipher.(*fakeCipher).wipes.Load(); n != 1 {
		t.Errorf("Wipe called %d times", n)
	}
	if err := db.Add(in1); err == nil {
		t.Error("deleted SA re-added")
	}
	// The SPI is free again.
	if err := db.Add(inSA(0xc0000001)); err != nil {
		t.Error(err)
	}
	// Deleting an SA whose SPI now names another SA leaves that one alone.
	db.Delete(in1)
	if db.Inbound(0xc0000001) == nil {
		t.Error("Delete of a stale SA removed its successor")
	}
	db.Delete(&SA{Name: "nil cipher", SPI: 5}) // nil Cipher, never added
	db.Delete(nil)
}

func TestZeroDB(t *testing.T) {
	var db DB
	if db.Inbound(1) != nil || db.Outbound(1) != nil || len(db.All()) != 0 {
		t.Fatal("zero DB not empty")
	}
	sa := inSA(1)
	if err := db.Add(sa); err != nil {
		t.Fatal(err)
	}
	sa.Lifetime = &Lifetime{HardPackets: 1}
	sa.Account(1, 1) // no callback: nothing to call
	if !sa.Dead() {
		t.Error("hard limit without callback did not kill")
	}
}

func TestPeer(t *testing.T) {
	sa := outSA(1, 1)
	if sa.Peer().IsValid() {
		t.Error("unset peer is valid")
	}
	ap := netip.MustParseAddrPort("192.0.2.1:4500")
	sa.SetPeer(ap)
	if sa.Peer() != ap {
		t.Errorf("Peer() = %v", sa.Peer())
	}
	if n := testing.AllocsPerRun(100, func() { sa.SetPeer(ap) }); n != 0 {
		t.Errorf("SetPeer with an unchanged address: %v allocations", n)
	}
	ap2 := netip.MustParseAddrPort("[2001:db8::1]:4500")
	sa.SetPeer(ap2)
	if sa.Peer() != ap2 {
		t.Errorf("Peer() = %v", sa.Peer())
	}

	// SetPeerOf shares the other SA's copy; a later SetPeer of either
	// changes only that one.
	in := inSA(2)
	in.SetPeerOf(outSA(3, 3)) // no peer there: nothing to take
	if in.Peer().IsValid() {
		t.Errorf("SetPeerOf an SA without peer gave %v", in.Peer())
	}
	if n := testing.AllocsPerRun(100, func() { in.SetPeerOf(sa) }); n != 0 {
		t.Errorf("SetPeerOf: %v allocations", n)
	}
	if in.Peer() != ap2 {
		t.Errorf("after SetPeerOf: Peer() = %v, want %v", in.Peer(), ap2)
	}
	in.SetPeer(ap)
	if in.Peer() != ap || sa.Peer() != ap2 {
		t.Errorf("after SetPeer of one: %v and %v, want %v and %v", in.Peer(), sa.Peer(), ap, ap2)
	}
}

func TestReserveSeq(t *testing.T) {
	var evs events
	db := New(evs.add)
	sa := outSA(1, 1)
	if err := db.Add(sa); err != nil {
		t.Fatal(err)
	}
	if first, ok := sa.ReserveSeq(1); !ok || first != 1 {
		t.Fatalf("first seq %d %v, want 1", first, ok)
	}
	if first, ok := sa.ReserveSeq(128); !ok || first != 2 {
		t.Fatalf("batch starts at %d %v, want 2", first, ok)
	}
	if first, ok := sa.ReserveSeq(1); !ok || first != 130 {
		t.Fatalf("next %d %v, want 130", first, ok)
	}
	if _, ok := sa.ReserveSeq(0); ok {
		t.Error("ReserveSeq(0) ok")
	}
	if len(evs.list()) != 0 {
		t.Errorf("events: %v", evs.list())
	}
}

func TestSeqExhaustion(t *testing.T) {
	tests := []struct {
		name  string
		esn   bool
		limit uint64
	}{
		{"32-bit", false, MaxSeq},
		{"ESN", true, MaxSeqESN},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var evs events
			db := New(evs.add)
			sa := outSA(1, 1)
			sa.ESN = tt.esn
			if err := db.Add(sa); err != nil {
				t.Fatal(err)
			}
			// Just below the soft threshold: no event yet.
			sa.SetSeq(tt.limit - SeqSoftMargin - 10)
			if _, ok := sa.ReserveSeq(10); !ok || len(evs.list()) != 0 {
				t.Fatalf("below soft threshold: %v %v", ok, evs.list())
			}
			if _, ok := sa.ReserveSeq(1); !ok {
				t.Fatal("refused above soft threshold")
			}
			sa.ReserveSeq(1)
			if got := evs.list(); !slices.Equal(got, []string{"out-1:soft:seq"}) {
				t.Fatalf("events %v", got)
			}
			// Last 10 numbers: a batch of 8 fits, then 2 remain, a batch
			// of 3 does not; the SA is then dead.
			sa.SetSeq(tt.limit - 10)
			first, ok := sa.ReserveSeq(8)
			if !ok || first != tt.limit-9 {
				t.Fatalf("got %d %v, want %d", first, ok, tt.limit-9)
			}
			if _, ok := sa.ReserveSeq(3); ok {
				t.Fatal("handed out numbers past the limit")
			}
			if !sa.Dead() {
				t.Fatal("exhausted SA not dead")
			}
			if _, ok := sa.ReserveSeq(1); ok {
				t.Fatal("dead SA handed out a number")
			}
			if got := evs.list(); !slices.Equal(got, []string{"out-1:soft:seq", "out-1:hard:seq"}) {
				t.Fatalf("events %v", got)
			}
		})
	}
}

// TestSeqNeverTwice has goroutines race for the last sequence numbers.
func TestSeqNeverTwice(t *testing.T) {
	for _, esn := range []bool{false, true} {
		var hard atomic.Int32
		db := New(func(ev Event) {
			if ev.Hard {
				hard.Add(1)
			}
		})
		sa := outSA(1, 1)
		sa.ESN = esn
		if err := db.Add(sa); err != nil {
			t.Fatal(err)
		}
		limit := sa.seqLimit()
		const avail = 10000
		sa.SetSeq(limit - avail)
		var mu sync.Mutex
		seen := make(map[uint64]bool)
		var wg sync.WaitGroup
		for g := range 8 {
			wg.Go(func() {
				var mine []uint64
				for i := 0; ; i++ {
					n := 1 + (g+i)%7
					first, ok := sa.ReserveSeq(n)
					if !ok {
						break
					}
					for s := first; s < first+uint64(n); s++ {
						mine = append(mine, s)
					}
				}
				mu.Lock()
				defer mu.Unlock()
				for _, s := range mine {
					if s > limit || s <= limit-avail || seen[s] {
						t.Errorf("esn=%v: seq %d handed out twice or out of range", esn, s)
					}
					seen[s] = true
				}
			})
		}
		wg.Wait()
		if hard.Load() != 1 {
			t.Errorf("esn=%v: %d hard events, want 1", esn, hard.Load())
		}
		if len(seen) < avail-8*7 {
			t.Errorf("esn=%v: only %d of %d numbers used", esn, len(seen), avail)
		}
	}
}

func TestLifetimeEvents(t *testing.T) {
	var evs events
	db := New(evs.add)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	bytesSA := &SA{Name: "bytes", Dir: Outbound, SPI: 1, PolicyID: 1, Created: t0,
		Lifetime: &Lifetime{SoftBytes: 1000, HardBytes: 2000}}
	pktsSA := &SA{Name: "packets", Dir: Inbound, SPI: 2, Created: t0,
		Lifetime: &Lifetime{SoftPackets: 10, HardPackets: 20}}
	timeSA := &SA{Name: "time", Dir: Inbound, SPI: 3, Created: t0,
		Lifetime: &Lifetime{SoftTime: time.Hour, HardTime: 2 * time.Hour}}
	for _, sa := range []*SA{bytesSA, pktsSA, timeSA} {
		if err := db.Add(sa); err != nil {
			t.Fatal(err)
		}
	}
	for range 30 {
		bytesSA.Account(1, 100)
		pktsSA.Account(1, 100)
	}
	for _, d := range []time.Duration{0, 59 * time.Minute, time.Hour, 90 * time.Minute, 2 * time.Hour, 3 * time.Hour} {
		db.Tick(t0.Add(d))
	}
	want := []string{
		"bytes:soft:bytes", "packets:soft:packets", "bytes:hard:bytes", "packets:hard:packets",
		"time:soft:time", "time:hard:time",
	}
	if got := evs.list(); !slices.Equal(got, want) {
		t.Errorf("events\n got %v\nwant %v", got, want)
	}
	for _, sa := range []*SA{bytesSA, pktsSA, timeSA} {
		if !sa.Dead() {
			t.Errorf("%s: not dead after hard limit", sa.Name)
		}
	}
	if bytesSA.Bytes.Load() != 3000 || pktsSA.Packets.Load() != 30 {
		t.Error("counters")
	}

	// A hard limit crossed in one step raises only the hard event; a
	// deleted SA raises none; an SA that shares the Lifetime counts
	// against it on its own; an SA without one never expires.
	evs = events{}
	jump := &SA{Name: "jump", Dir: Inbound, SPI: 4, Lifetime: &Lifetime{SoftPackets: 10, HardPackets: 20}}
	twin := &SA{Name: "twin", Dir: Outbound, SPI: 7, PolicyID: 7, Lifetime: jump.Lifetime}
	gone := &SA{Name: "gone", Dir: Inbound, SPI: 5, Lifetime: &Lifetime{SoftPackets: 10, HardTime: time.Second}}
	free := &SA{Name: "free", Dir: Inbound, SPI: 6}
	for _, sa := range []*SA{jump, twin, gone, free} {
		if err := db.Add(sa); err != nil {
			t.Fatal(err)
		}
	}
	jump.Account(25, 0)
	twin.Account(5, 0)
	free.Account(1<<62, 1<<62)
	db.Delete(gone)
	gone.Account(25, 0)
	db.Tick(time.Now().Add(time.Hour))
	db.Tick(time.Now().Add(1 << 62))
	if got := evs.list(); !slices.Equal(got, []string{"jump:hard:packets"}) {
		t.Errorf("events %v", got)
	}
}

// TestEventsWithoutLock checks that the callback may call back into the DB.
func TestEventsWithoutLock(t *testing.T) {
	var db *DB
	db = New(func(ev Event) {
		if ev.Hard {
			db.Delete(ev.SA)
		} else {
			_ = db.Add(inSA(ev.SA.SPI + 1))
		}
	})
	sa := inSA(10)
	sa.Lifetime = &Lifetime{SoftTime: time.Second, HardTime: 2 * time.Second}
	if err := db.Add(sa); err != nil {
		t.Fatal(err)
	}
	db.Tick(sa.Created.Add(time.Second))
	db.Tick(sa.Created.Add(3 * time.Second))
	if db.Inbound(10) != nil || db.Inbound(11) == nil {
		t.Error("callback could not use the DB")
	}
}

func TestDrops(t *testing.T) {
	db := New(nil)
	sa := inSA(1)
	sa.Drop(DropReplay, 3)
	sa.Drop(DropReason(-1), 1)
	sa.Drop(NumDropReasons, 1)
	db.GlobalDrop(DropNoSA, 2)
	db.GlobalDrop(DropNoSA, 1)
	db.GlobalDrop(99, 1)
	if d := sa.Drops(); d != [NumDropReasons]uint64{DropReplay: 3} {
		t.Errorf("SA drops %v", d)
	}
	if d := db.GlobalDrops(); d != [NumDropReasons]uint64{DropNoSA: 3} {
		t.Errorf("global drops %v", d)
	}
}

// TestAcquireDefersWipe: keys in use by a worker are wiped only after it is
// done with them.
func TestAcquireDefersWipe(t *testing.T) {
	db := New(nil)
	sa := inSA(1)
	c := sa.Cipher.(*fakeCipher)
	if err := db.Add(sa); err != nil {
		t.Fatal(err)
	}
	if !sa.Acquire() {
		t.Fatal("Acquire of a live SA failed")
	}
	db.Delete(sa)
	if c.wipes.Load() != 0 {
		t.Fatal("keys wiped while held")
	}
	if sa.Acquire() {
		t.Fatal("Acquire of a deleted SA succeeded")
	}
	sa.Release()
	if c.wipes.Load() != 1 {
		t.Fatalf("Wipe called %d times after the last Release", c.wipes.Load())
	}

	// Race many Acquire/Release pairs against Delete: Wipe happens exactly
	// once and never while a goroutine holds the SA.
	for range 50 {
		sa := inSA(2)
		c := &wipeChecker{}
		sa.Cipher = c
		if err := db.Add(sa); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for range 200 {
					if sa.Acquire() {
						c.use()
						sa.Release()
					}
				}
			})
		}
		db.Delete(sa)
		wg.Wait()
		if c.wipes.Load() != 1 || c.bad.Load() {
			t.Fatalf("wipes %d, used after wipe %v", c.wipes.Load(), c.bad.Load())
		}
	}
}

type wipeChecker struct {
	fakeCipher
	bad atomic.Bool
}

func (c *wipeChecker) use() {
	if c.wipes.Load() != 0 {
		c.bad.Store(true)
	}
}

func TestAllocs(t *testing.T) {
	db := New(func(Event) {})
	for i := range uint32(1000) {
		if err := db.Add(inSA(i + 1)); err != nil {
			t.Fatal(err)
		}
		if err := db.Add(outSA(i+1, i)); err != nil {
			t.Fatal(err)
		}
	}
	out := db.Outbound(5)
	out.Lifetime = &Lifetime{SoftBytes: 1 << 40, HardBytes: 1 << 50}
	checks := []struct {
		name string
		f    func()
	}{
		{"Inbound", func() { _ = db.Inbound(500) }},
		{"Inbound miss", func() { _ = db.Inbound(5000) }},
		{"Outbound", func() { _ = db.Outbound(5) }},
		{"ReserveSeq", func() { _, _ = out.ReserveSeq(64) }},
		{"Account", func() { out.Account(64, 64*1400) }},
		{"Drop", func() { out.Drop(DropAuth, 1) }}, // but the first (TestDropCounters)
		{"GlobalDrop", func() { db.GlobalDrop(DropNoSA, 1) }},
		{"Acquire/Release", func() {
			if out.Acquire() {
				out.Release()
			}
		}},
		{"Peer", func() { _ = out.Peer() }},
	}
	for _, c := range checks {
		if n := testing.AllocsPerRun(1000, c.f); n != 0 {
			t.Errorf("%s: %v allocations, want 0", c.name, n)
		}
	}
}

// TestConcurrentReadersWriter hammers Inbound and Outbound while a writer
// adds, rekeys and deletes SAs (run with -race). SAs that are never deleted
// must always be found.
func TestConcurrentReadersWriter(t *testing.T) {
	db := New(func(Event) {})
	const stable = 64
	for i := range uint32(stable) {
		if err := db.Add(inSA(i + 1)); err != nil {
			t.Fatal(err)
		}
		if err := db.Add(outSA(i+1, i)); err != nil {
			t.Fatal(err)
		}
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			for !stop.Load() {
				i := uint32(r.IntN(stable))
				in := db.Inbound(i + 1)
				if in == nil || in.SPI != i+1 {
					t.Errorf("stable inbound SA %d missing", i+1)
					return
				}
				out := db.Outbound(i)
				if out == nil || out.PolicyID != i {
					t.Errorf("stable outbound SA %d missing", i)
					return
				}
				if out.Acquire() {
					out.ReserveSeq(4)
					out.Account(4, 400)
					out.Release()
				}
				if sa := db.Inbound(1000 + uint32(r.IntN(1000))); sa != nil && sa.SPI < 1000 {
					t.Error("wrong SA")
					return
				}
				_ = db.Outbound(1000 + uint32(r.IntN(100)))
			}
		})
	}
	var live []*SA
	for i := range uint32(3000) {
		sa := inSA(1000 + i%1000)
		if db.Inbound(sa.SPI) == nil {
			if err := db.Add(sa); err != nil {
				t.Fatal(err)
			}
			live = append(live, sa)
		}
		// Rekey an outbound policy: add the new SA, then delete the old.
		pid := 1000 + i%100
		old := db.Outbound(pid)
		if err := db.Add(outSA(0x2000+i, pid)); err != nil {
			t.Fatal(err)
		}
		if old != nil {
			db.Delete(old)
		}
		if len(live) > 200 {
			k := int(i) % len(live)
			db.Delete(live[k])
			live = slices.Delete(live, k, k+1)
		}
		if i%100 == 0 {
			db.Tick(time.Now())
			_ = db.All()
		}
	}
	stop.Store(true)
	wg.Wait()
}

// benchmarkInbound looks up 256 SPIs among n. With random set, the SPIs
// are random numbers, as configured SPIs may be; else they come from
// NewSPI, as the SPIs esptun negotiates do.
func benchmarkInbound(b *testing.B, n int, random bool) {
	db, lookups := inboundSetup(b, n, random)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if db.Inbound(lookups[i&255]) == nil {
			b.Fatal("miss")
		}
		i++
	}
}

// BenchmarkInboundScale times lookups among 100 000 SAs and among 10 in
// alternating blocks of 1024 (both see the same load on a shared machine)
// and reports the ratio of the median blocks as x10, with each side's
// ns/op.
func BenchmarkInboundScale(b *testing.B) {
	big, bl := inboundSetup(b, 100000, false)
	small, sl := inboundSetup(b, 10, false)
	b.ReportAllocs()
	pairbench.Run(b, 1024, 1<<14, pairbench.Metrics{X: "ns/op-100000", Y: "ns/op-10", Ratio: "x10"},
		func(n int) { inboundBlock(b, big, bl, n) }, func(n int) { inboundBlock(b, small, sl, n) })
}

// inboundBlock looks up n of the SPIs in l (256 of them) in db.
func inboundBlock(b *testing.B, db *DB, l []uint32, n int) {
	for i := range n {
		if db.Inbound(l[i&255]) == nil {
			b.Fatal("miss")
		}
	}
}

// inboundSetup returns a DB of n inbound SAs and 256 of their SPIs.
func inboundSetup(b *testing.B, n int, random bool) (*DB, []uint32) {
	db := New(nil)
	spis := make([]uint32, n)
	r := rand.New(rand.NewPCG(1, 1))
	for i := range spis {
		for {
			spis[i] = r.Uint32()
			if !random {
				spis[i] = db.NewSPI()
			}
			if spis[i] != 0 && db.Inbound(spis[i]) == nil {
				break
			}
		}
		if err := db.Add(inSA(spis[i])); err != nil {
			b.Fatal(err)
		}
	}
	lookups := make([]uint32, 256)
	for i := range lookups {
		lookups[i] = spis[r.IntN(n)]
	}
	return db, lookups
}

func BenchmarkInbound(b *testing.B) {
	for _, n := range []int{10, 1000, 100000} {
		b.Run(fmt.Sprintf("sas=%d", n), func(b *testing.B) { benchmarkInbound(b, n, false) })
	}
}

// BenchmarkInboundRandomSPIs is BenchmarkInbound with SPIs not chosen by
// NewSPI: some share a table slot and are found in the fallback map.
func BenchmarkInboundRandomSPIs(b *testing.B) {
	for _, n := range []int{10, 1000, 100000} {
		b.Run(fmt.Sprintf("sas=%d", n), func(b *testing.B) { benchmarkInbound(b, n, true) })
	}
}

func BenchmarkAdd(b *testing.B) {
	db := New(nil)
	for i := range uint32(100000) {
		if err := db.Add(inSA(i + 1)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportAllocs()
	spi := uint32(1 << 24)
	for b.Loop() {
		sa := inSA(spi)
		if err := db.Add(sa); err != nil {
			b.Fatal(err)
		}
		db.Delete(sa)
		spi++
	}
}

func BenchmarkReserveSeq(b *testing.B) {
	sa := outSA(1, 1)
	sa.ESN = true
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			sa.ReserveSeq(64)
		}
	})
}

// BenchmarkAccount is the data path's per-batch accounting of an SA with
// byte limits, as IKE's Child SAs have.
func BenchmarkAccount(b *testing.B) {
	sa := outSA(1, 1)
	sa.Lifetime = &Lifetime{SoftBytes: 1 << 60, HardBytes: 1 << 61}
	b.ReportAllocs()
	for b.Loop() {
		sa.Account(64, 64*1400)
	}
}

// BenchmarkDrop counts drops on an SA that has dropped before.
func BenchmarkDrop(b *testing.B) {
	sa := inSA(1)
	sa.Drop(DropReplay, 1)
	b.ReportAllocs()
	for b.Loop() {
		sa.Drop(DropReplay, 1)
	}
}

// BenchmarkTick checks the time lifetimes of 20 000 SAs (10 000 Child
// SAs), none of them due.
func BenchmarkTick(b *testing.B) {
	db := New(nil)
	now := time.Now()
	for i := range uint32(10000) {
		in, out := inSA(i+1), outSA(i+1, i)
		lt := &Lifetime{SoftTime: time.Hour, HardTime: 2 * time.Hour}
		for _, sa := range []*SA{in, out} {
			sa.Lifetime = lt
			sa.Created = now
			if err := db.Add(sa); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportAllocs()
	for b.Loop() {
		db.Tick(now)
	}
}

// TestSASize keeps an SA within the allocator's 256-byte size class on
// 64-bit platforms: a Child SA has two, and 100 000 Child SAs are a
// gateway's load.
func TestSASize(t *testing.T) {
	if unsafe.Sizeof(uintptr(0)) != 8 {
		t.Skip("sizes differ on 32-bit platforms")
	}
	if n := unsafe.Sizeof(SA{}); n > 256 {
		t.Errorf("SA is %d bytes, want at most 256 (reorder fields to remove padding)", n)
	}
	if per := testlab.HeapPerObject[SA](); per > 256 {
		t.Errorf("an SA takes %d bytes of heap, want at most 256", per)
	}
}

// TestDropCounters: an SA's first drop makes its counters, with one
// allocation; later drops, and reading them, make none.
func TestDropCounters(t *testing.T) {
	sa := inSA(1)
	if d := sa.Drops(); d != [NumDropReasons]uint64{} {
		t.Fatalf("drops %v before any", d)
	}
	fresh := make([]*SA, 101)
	for i := range fresh {
		fresh[i] = inSA(uint32(i + 1))
	}
	i := 0
	if n := testing.AllocsPerRun(100, func() {
		fresh[i].Drop(DropAuth, 1)
		i++
	}); n != 1 {
		t.Errorf("first drop: %v allocations, want 1", n)
	}
	sa.Drop(DropAuth, 1)
	r := DropReason(0)
	if n := testing.AllocsPerRun(1000, func() {
		sa.Drop(r, 1)
		r = (r + 1) % NumDropReasons
	}); n != 0 {
		t.Errorf("Drop after the first: %v allocations, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = sa.Drops() }); n != 0 {
		t.Errorf("Drops: %v allocations, want 0", n)
	}
	d := sa.Drops()
	var sum uint64
	for _, n := range d {
		sum += n
	}
	if sum != 1+1001 {
		t.Errorf("drops %v, want 1002 in all", d)
	}
}

// TestFirstDropRace: goroutines that count an SA's first drops at once,
// while it is deleted, lose no count, whichever makes the counters: every
// count ends up on DeletedDrops.
func TestFirstDropRace(t *testing.T) {
	// The race made step by step: two goroutines found no counters and
	// made their own; the one that installs second counts into the
	// first one's.
	sa := inSA(1)
	first, second := new([NumDropReasons]atomic.Uint64), new([NumDropReasons]atomic.Uint64)
	if got := sa.installDrops(first); got != first {
		t.Fatal("the first counters were not installed")
	}
	if got := sa.installDrops(second); got != first {
		t.Fatal("the second counters replaced the first")
	}
	first[DropAuth].Add(1)
	sa.Drop(DropAuth, 1)
	if d := sa.Drops(); d != [NumDropReasons]uint64{DropAuth: 2} {
		t.Fatalf("drops %v, want auth 2", d)
	}

	const workers, rounds = 2, 2000
	db := New(nil)
	for round := range uint64(rounds) {
		sa := inSA(1)
		if err := db.Add(sa); err != nil {
			t.Fatal(err)
		}
		var start atomic.Bool
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				for !start.Load() {
					runtime.Gosched()
				}
				sa.Drop(DropReason(w), 1)
				sa.Drop(DropReplay, 1)
			})
		}
		start.Store(true)
		db.Delete(sa)
		wg.Wait()
		if d := sa.Drops(); d != [NumDropReasons]uint64{} {
			t.Fatalf("deleted SA still holds drops %v", d)
		}
		var sum uint64
		for _, n := range db.DeletedDrops() {
			sum += n
		}
		if want := 2 * workers * (round + 1); sum != want {
			t.Fatalf("round %d: DeletedDrops %v, %d in all, want %d", round, db.DeletedDrops(), sum, want)
		}
	}
}

// TestDeletedDropsKept checks that the drops of a deleted SA stay counted:
// they move to DeletedDrops once no batch holds the SA, and drops counted
// on it later follow them.
func TestDeletedDropsKept(t *testing.T) {
	db := New(nil)
	a, b := inSA(0x1001), outSA(0x2002, 7)
	for _, sa := range []*SA{a, b} {
		if err := db.Add(sa); err != nil {
			t.Fatal(err)
		}
	}
	a.Drop(DropAuth, 3)
	b.Drop(DropExpired, 1)
	db.Delete(b) // held by no one: its counts move at once
	if got := db.DeletedDrops(); got[DropExpired] != 1 || got[DropAuth] != 0 {
		t.Fatalf("after deleting an idle SA: DeletedDrops %v, want expired 1", got)
	}
	if !a.Acquire() {
		t.Fatal("Acquire of a live SA failed")
	}
	db.Delete(a)
	a.Drop(DropReplay, 2) // counted by the batch that still holds it
	if got := db.DeletedDrops(); got[DropAuth] != 0 || got[DropReplay] != 0 {
		t.Fatalf("SA still held: DeletedDrops %v, want its counts still on the SA", got)
	}
	a.Release()
	a.Drop(DropExpired, 4) // a late drop on the dead SA
	got := db.DeletedDrops()
	if got[DropAuth] != 3 || got[DropReplay] != 2 || got[DropExpired] != 5 {
		t.Fatalf("DeletedDrops %v, want auth 3, replay 2, expired 5", got)
	}
	if a.Drops() != [NumDropReasons]uint64{} || b.Drops() != [NumDropReasons]uint64{} {
		t.Errorf("deleted SAs still hold drops: %v, %v", a.Drops(), b.Drops())
	}
	if g := db.GlobalDrops(); g != [NumDropReasons]uint64{} {
		t.Errorf("GlobalDrops %v, want none", g)
	}
}

// TestIdleCiphers: an SA that carried no traffic for a whole period loses
// the AEAD state its cipher made, one that did keeps it, and both still
// seal and open afterwards. Tick runs the sweep every CipherIdleAfter.
func TestIdleCiphers(t *testing.T) {
	suite, err := crypto.LookupESP("aes128gcm16")
	if err != nil {
		t.Fatal(err)
	}
	type readier interface{ Ready() bool }
	db := New(nil)
	mk := func(spi uint32) *SA {
		c, err := crypto.NewESPCipher(suite, make([]byte, suite.KeyLen()))
		if err != nil {
			t.Fatal(err)
		}
		sa := inSA(spi)
		sa.Cipher = c
		if err := db.Add(sa); err != nil {
			t.Fatal(err)
		}
		return sa
	}
	s := new(crypto.Scratch)
	roundTrip := func(sa *SA) {
		t.Helper()
		pkt := make([]byte, 16, 16+8+suite.ICVLen)
		pkt = append(pkt, 0xaa, 0xbb, 0xcc, 0xdd, 1, 2, 2, 4) // payload, padding 1 2, pad length, next header
		pkt = sa.Cipher.Seal(pkt, 1, false, s)
		if _, err := sa.Cipher.Open(pkt, 0, false, s); err != nil {
			t.Fatalf("SA %d: %v", sa.SPI, err)
		}
	}
	busy, idle := mk(1), mk(2)
	roundTrip(busy)
	roundTrip(idle)
	ready := func(sa *SA) bool { return sa.Cipher.(readier).Ready() }
	if !ready(busy) || !ready(idle) {
		t.Fatal("no cipher state after use")
	}
	t0 := time.Now()
	db.Tick(t0) // starts the first period
	busy.Account(1, 100)
	db.Tick(t0.Add(CipherIdleAfter))
	if !ready(busy) {
		t.Error("an SA with traffic in the period lost its cipher state")
	}
	if ready(idle) {
		t.Error("an SA without traffic in the period kept its cipher state")
	}
	db.Tick(t0.Add(2 * CipherIdleAfter))
	if ready(busy) {
		t.Error("an SA without traffic in the second period kept its cipher state")
	}
	roundTrip(busy)
	roundTrip(idle)
	if !ready(busy) || !ready(idle) {
		t.Fatal("cipher state not made again by the next packet")
	}
}
