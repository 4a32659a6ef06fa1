package spd

import (
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"

	"github.com/esptun/esptun/internal/pairbench"
)

func policy(id, prio uint32, a Action, local, remote []string) *Policy {
	p := &Policy{ID: id, Name: fmt.Sprintf("p%d", id), Priority: prio, Action: a}
	for _, s := range local {
		p.Local = append(p.Local, mustSel(s))
	}
	for _, s := range remote {
		p.Remote = append(p.Remote, mustSel(s))
	}
	return p
}

func pkt(src, dst string, proto uint8, sport, dport uint16) *Packet {
	return &Packet{Src: mustAddr(src), Dst: mustAddr(dst), Proto: proto, SrcPort: sport, DstPort: dport}
}

// linearLookup is the definition LookupOutbound must agree with.
func linearLookup(policies []*Policy, p *Packet) *Policy {
	sorted := slices.Clone(policies)
	slices.SortFunc(sorted, func(a, b *Policy) int {
		if a.Priority != b.Priority {
			return int(int64(a.Priority) - int64(b.Priority))
		}
		return int(int64(a.ID) - int64(b.ID))
	})
	for _, pol := range sorted {
		if matchAny(pol.Local, p.Src, p.Proto, p.SrcPort) && matchAny(pol.Remote, p.Dst, p.Proto, p.DstPort) {
			return pol
		}
	}
	return nil
}

func TestLookupOutbound(t *testing.T) {
	policies := []*Policy{
		policy(1, 10, Protect, []string{"10.0.0.0/24"}, []string{"10.0.1.0/24"}),
		policy(2, 5, Bypass, []string{"10.0.0.0/24"}, []string{"10.0.1.0/24[tcp/22]"}),
		policy(3, 10, Discard, []string{"10.0.0.0/16"}, []string{"10.0.1.7"}), // tie with 1: higher ID loses
		policy(4, 9, Protect, []string{"10.0.0.5"}, []string{"10.0.1.9", "10.0.2.0/24[udp/500-600]"}),
		policy(5, 100, Discard, []string{"%any"}, []string{"%any"}),
		policy(6, 10, Protect, []string{"2001:db8::/48", "10.9.0.0/16"}, []string{"2001:db8:1::/48[icmpv6/128]"}),
		policy(7, 1, Protect, []string{"10.0.0.0/24"}, []string{"192.168.0.0/16"}),
	}
	tests := []struct {
		name string
		p    *Packet
		want uint32 // 0: no policy
	}{
		{"protect subnet", pkt("10.0.0.1", "10.0.1.1", ProtoTCP, 1000, 80), 1},
		{"bypass ssh wins on priority", pkt("10.0.0.1", "10.0.1.1", ProtoTCP, 1000, 22), 2},
		{"ssh over udp is not bypassed", pkt("10.0.0.1", "10.0.1.1", ProtoUDP, 1000, 22), 1},
		{"tie broken by lower ID", pkt("10.0.0.1", "10.0.1.7", ProtoTCP, 1000, 80), 1},
		{"wider local of 3 catches other source", pkt("10.0.8.1", "10.0.1.7", ProtoTCP, 1000, 80), 3},
		{"host policy wins on priority", pkt("10.0.0.5", "10.0.1.9", ProtoTCP, 1, 2), 4},
		{"second remote selector", pkt("10.0.0.5", "10.0.2.3", ProtoUDP, 1, 550), 4},
		{"second remote selector wrong port", pkt("10.0.0.5", "10.0.2.3", ProtoUDP, 1, 700), 5},
		{"catch-all discard", pkt("172.16.0.1", "8.8.8.8", ProtoUDP, 1, 53), 5},
		{"ipv6 icmp echo", pkt("2001:db8::1", "2001:db8:1::1", ProtoICMPv6, 0x8000, 0x8000), 6},
		{"ipv6 other icmp type", pkt("2001:db8::1", "2001:db8:1::1", ProtoICMPv6, 0x8100, 0x8100), 0},
		{"no ipv6 catch-all", pkt("2001:db8:5::1", "2001:db8:6::1", ProtoTCP, 1, 2), 0},
		{"lowest priority overall", pkt("10.0.0.1", "192.168.3.4", ProtoTCP, 1, 2), 7},
		{"invalid packet", &Packet{}, 0},
	}
	var db DB
	if got := db.LookupOutbound(tests[0].p); got != nil {
		t.Fatalf("zero DB returned %v", got)
	}
	if err := db.Replace(policies); err != nil {
		t.Fatal(err)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := db.LookupOutbound(tt.p)
			var id uint32
			if got != nil {
				id = got.ID
			}
			if id != tt.want {
				t.Errorf("got policy %d, want %d", id, tt.want)
			}
			if ref := linearLookup(policies, tt.p); ref != got {
				t.Errorf("differs from linear lookup %v", ref)
			}
		})
	}

	// Removing policy 2 exposes policy 1 for ssh; adding it back restores it.
	p2 := policies[1]
	db.Remove(2)
	db.Remove(2) // no-op
	if got := db.LookupOutbound(tests[1].p); got == nil || got.ID != 1 {
		t.Errorf("after Remove(2): %v", got)
	}
	if err := db.Add(p2); err != nil {
		t.Fatal(err)
	}
	if got := db.LookupOutbound(tests[1].p); got != p2 {
		t.Errorf("after Add(2): %v", got)
	}
	if err := db.Add(p2); !errors.Is(err, ErrDuplicateID) {
		t.Errorf("duplicate Add: %v", err)
	}
	// Replace swaps everything.
	if err := db.Replace(policies[4:5]); err != nil {
		t.Fatal(err)
	}
	if got := db.LookupOutbound(tests[1].p); got == nil || got.ID != 5 {
		t.Errorf("after Replace: %v", got)
	}
	if err := db.Replace(nil); err != nil {
		t.Fatal(err)
	}
	if got := db.LookupOutbound(tests[1].p); got != nil {
		t.Errorf("after Replace(nil): %v", got)
	}
}

func TestDBRejects(t *testing.T) {
	ok := policy(1, 1, Protect, []string{"10.0.0.0/24"}, []string{"10.0.1.0/24"})
	tests := []struct {
		name string
		p    *Policy
	}{
		{"nil", nil},
		{"no local", &Policy{ID: 2, Remote: ok.Remote}},
		{"no remote", &Policy{ID: 2, Local: ok.Local}},
		{"bad action", &Policy{ID: 2, Action: 7, Local: ok.Local, Remote: ok.Remote}},
		{"invalid prefix", &Policy{ID: 2, Local: []Selector{{}}, Remote: ok.Remote}},
		{"backward ports", &Policy{ID: 2, Local: ok.Local, Remote: []Selector{sel("10.0.0.0/8", ProtoTCP, 9, 8)}}},
	}
	var db DB
	for _, tt := range tests {
		if err := db.Add(tt.p); err == nil {
			t.Errorf("%s: Add accepted", tt.name)
		}
		if err := db.Replace([]*Policy{ok, tt.p}); err == nil {
			t.Errorf("%s: Replace accepted", tt.name)
		}
	}
	if err := db.Replace([]*Policy{ok, ok}); !errors.Is(err, ErrDuplicateID) {
		t.Errorf("duplicate IDs: %v", err)
	}
	if db.LookupOutbound(pkt("10.0.0.1", "10.0.1.1", ProtoTCP, 1, 2)) != nil {
		t.Error("failed writes changed the DB")
	}
}

// randomPolicy draws selectors from a small address space so that policies
// overlap often, with a few prefix lengths, protocols and port ranges.
func randomPolicy(r *rand.Rand, id uint32) *Policy {
	rsel := func() Selector {
		var s Selector
		if r.IntN(5) == 0 {
			a := [16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(r.IntN(4))}
			s.Prefix = netip.PrefixFrom(netip.AddrFrom16(a), []int{0, 120, 126, 128}[r.IntN(4)]).Masked()
		} else {
			a := [4]byte{10, 0, byte(r.IntN(2)), byte(r.IntN(8))}
			s.Prefix = netip.PrefixFrom(netip.AddrFrom4(a), []int{0, 16, 24, 30, 32}[r.IntN(5)]).Masked()
		}
		s.PortLow, s.PortHigh = 0, 0xffff
		switch r.IntN(4) {
		case 0:
			s.Proto = ProtoTCP
		case 1:
			s.Proto = ProtoUDP
			s.PortLow = uint16(r.IntN(4))
			s.PortHigh = s.PortLow + uint16(r.IntN(3))
		}
		return s
	}
	p := &Policy{ID: id, Priority: uint32(r.IntN(6)), Action: Action(r.IntN(3))}
	for range 1 + r.IntN(2) {
		p.Local = append(p.Local, rsel())
	}
	for range 1 + r.IntN(3) {
		p.Remote = append(p.Remote, rsel())
	}
	return p
}

func randomPacket(r *rand.Rand) *Packet {
	p := &Packet{Proto: []uint8{ProtoTCP, ProtoUDP, ProtoICMP}[r.IntN(3)],
		SrcPort: uint16(r.IntN(5)), DstPort: uint16(r.IntN(5))}
	if r.IntN(5) == 0 {
		p.Src = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(r.IntN(4))})
		p.Dst = netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 15: byte(r.IntN(4))})
	} else {
		p.Src = netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(2)), byte(r.IntN(8))})
		p.Dst = netip.AddrFrom4([4]byte{10, 0, byte(r.IntN(2)), byte(r.IntN(8))})
	}
	return p
}

// TestLookupMatchesLinear drives the DB through random Add, Remove and
// Replace and checks every lookup against a linear scan of the policies.
func TestLookupMatchesLinear(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	var db DB
	var installed []*Policy
	nextID := uint32(1)
	for step := range 3000 {
		switch op := r.IntN(10); {
		case op < 6:
			p := randomPolicy(r, nextID)
			nextID++
			if err := db.Add(p); err != nil {
				t.Fatal(err)
			}
			installed = append(installed, p)
		case op < 9 && len(installed) > 0:
			i := r.IntN(len(installed))
			db.Remove(installed[i].ID)
			installed = slices.Delete(installed, i, i+1)
		case op == 9 && r.IntN(20) == 0:
			installed = installed[:0]
			for range r.IntN(30) {
				installed = append(installed, randomPolicy(r, nextID))
				nextID++
			}
			if err := db.Replace(installed); err != nil {
				t.Fatal(err)
			}
		}
		for range 20 {
			p := randomPacket(r)
			if got, want := db.LookupOutbound(p), linearLookup(installed, p); got != want {
				t.Fatalf("step %d: %+v: got %+v, want %+v", step, p, got, want)
			}
		}
	}
}

func TestMatchesInbound(t *testing.T) {
	p := policy(1, 1, Protect, []string{"10.0.0.0/24", "2001:db8::/64"}, []string{"10.0.1.0/24[tcp/443]", "2001:db8:1::/64[tcp]"})
	tests := []struct {
		name string
		pkt  *Packet
		want bool
	}{
		{"reply from remote server", pkt("10.0.1.5", "10.0.0.9", ProtoTCP, 443, 40000), true},
		{"wrong source port", pkt("10.0.1.5", "10.0.0.9", ProtoTCP, 80, 40000), false},
		{"source outside remote", pkt("10.0.2.5", "10.0.0.9", ProtoTCP, 443, 40000), false},
		{"destination outside local", pkt("10.0.1.5", "10.0.5.9", ProtoTCP, 443, 40000), false},
		{"directions swapped", pkt("10.0.0.9", "10.0.1.5", ProtoTCP, 40000, 443), false},
		{"wrong protocol", pkt("10.0.1.5", "10.0.0.9", ProtoUDP, 443, 40000), false},
		{"ipv6", pkt("2001:db8:1::5", "2001:db8::9", ProtoTCP, 1, 2), true},
	}
	for _, tt := range tests {
		if got := p.MatchesInbound(tt.pkt); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
}

func TestLookupAllocs(t *testing.T) {
	var db DB
	policies := gatewayPolicies(1000)
	if err := db.Replace(policies); err != nil {
		t.Fatal(err)
	}
	flows := gatewayFlows(1000, 64)
	var sink *Policy
	if n := testing.AllocsPerRun(100, func() {
		for _, f := range flows {
			sink = db.LookupOutbound(f)
		}
	}); n != 0 {
		t.Errorf("LookupOutbound: %v allocations, want 0", n)
	}
	inbound := pkt("10.1.0.5", "10.0.0.9", ProtoTCP, 443, 40000)
	if n := testing.AllocsPerRun(100, func() { _ = sink.MatchesInbound(inbound) }); n != 0 {
		t.Errorf("MatchesInbound: %v allocations, want 0", n)
	}
}

// TestLookupConcurrent runs lookups while a writer adds and removes
// policies; a policy that is never removed must always be found.
func TestLookupConcurrent(t *testing.T) {
	var db DB
	stable := policy(1, 1000, Protect, []string{"10.0.0.0/16"}, []string{"10.200.0.0/16"})
	if err := db.Add(stable); err != nil {
		t.Fatal(err)
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			p := pkt("10.0.0.1", "10.200.3.4", ProtoTCP, 1, 2)
			other := pkt("10.0.0.1", "10.100.3.4", ProtoTCP, 1, 2)
			for !stop.Load() {
				if got := db.LookupOutbound(p); got != stable {
					t.Errorf("lookup returned %v", got)
					return
				}
				if got := db.LookupOutbound(other); got != nil && got.ID < 2 {
					t.Errorf("lookup returned %v", got)
					return
				}
			}
		})
	}
	for i := range uint32(2000) {
		p := policy(i+2, 500, Protect, []string{"10.0.0.0/16"}, []string{fmt.Sprintf("10.100.%d.%d", i/256, i%256)})
		if err := db.Add(p); err != nil {
			t.Fatal(err)
		}
		if i%3 == 0 {
			db.Remove(i + 2)
		}
	}
	stop.Store(true)
	wg.Wait()
}

// gatewayPolicies returns a typical road-warrior gateway SPD: one /32
// remote selector (a virtual IP) per client, plus bypass and discard
// catch-alls.
func gatewayPolicies(n int) []*Policy {
	local := []Selector{mustSel("10.0.0.0/16")}
	ps := []*Policy{
		{ID: 1, Name: "bypass-lan", Priority: 10, Action: Bypass, Local: local, Remote: []Selector{mustSel("10.0.0.0/16")}},
		{ID: 2, Name: "discard", Priority: AutoPriorityMax + 1, Action: Discard, Local: []Selector{mustSel("%any")}, Remote: []Selector{mustSel("%any")}},
	}
	for i := range n - len(ps) {
		a := netip.AddrFrom4([4]byte{10, byte(64 + i>>16), byte(i >> 8), byte(i)})
		p := &Policy{ID: uint32(i + 3), Name: "client", Action: Protect, Local: local,
			Remote: []Selector{{Prefix: netip.PrefixFrom(a, 32), PortHigh: 0xffff}}}
		p.Priority = AutoPriority(p)
		ps = append(ps, p)
	}
	return ps
}

// gatewayFlows returns k packets towards clients of gatewayPolicies(n).
func gatewayFlows(n, k int) []*Packet {
	clients := max(n-2, 1)
	flows := make([]*Packet, k)
	for i := range flows {
		c := (i * 7919) % clients
		flows[i] = &Packet{Src: mustAddr("10.0.3.4"), Dst: netip.AddrFrom4([4]byte{10, byte(64 + c>>16), byte(c >> 8), byte(c)}),
			Proto: ProtoTCP, SrcPort: 443, DstPort: uint16(40000 + i)}
	}
	return flows
}

// lookupSetup returns an SPD of gatewayPolicies(n) and 256 flows to its
// clients.
func lookupSetup(b *testing.B, n int) (*DB, []*Packet) {
	db := new(DB)
	if err := db.Replace(gatewayPolicies(n)); err != nil {
		b.Fatal(err)
	}
	flows := gatewayFlows(n, 256)
	for _, f := range flows {
		if p := db.LookupOutbound(f); p == nil || p.Action != Protect {
			b.Fatalf("flow %v: %v", f.Dst, p)
		}
	}
	return db, flows
}

// BenchmarkLookupScale times lookups among 100 000 policies and among 10
// in alternating blocks of 1024 (both see the same load on a shared
// machine) and reports the ratio of the median blocks as x10, with each
// side's ns/op.
func BenchmarkLookupScale(b *testing.B) {
	big, bf := lookupSetup(b, 100000)
	small, sf := lookupSetup(b, 10)
	b.ReportAllocs()
	pairbench.Run(b, 1024, 1<<14, pairbench.Metrics{X: "ns/op-100000", Y: "ns/op-10", Ratio: "x10"},
		func(n int) { lookupBlock(big, bf, n) }, func(n int) { lookupBlock(small, sf, n) })
}

// BenchmarkLookupScale4096 is BenchmarkLookupScale with 4096 flows, each
// block going on where the last stopped, as benchrun dbscale walks them: the
// flows' slots no longer fit in the L1 and L2 caches, so this is the one
// that shows what the size of the tables costs.
func BenchmarkLookupScale4096(b *testing.B) {
	big, small := new(DB), new(DB)
	if err := big.Replace(gatewayPolicies(100000)); err != nil {
		b.Fatal(err)
	}
	if err := small.Replace(gatewayPolicies(10)); err != nil {
		b.Fatal(err)
	}
	const k = 4096
	bf, sf := make([]Packet, k), make([]Packet, k)
	for i, f := range gatewayFlows(100000, k) {
		bf[i] = *f
	}
	for i, f := range gatewayFlows(10, k) {
		sf[i] = *f
	}
	var bi, si int
	b.ReportAllocs()
	pairbench.Run(b, 1024, 1<<14, pairbench.Metrics{X: "ns/op-100000", Y: "ns/op-10", Ratio: "x10"},
		func(n int) {
			for range n {
				big.LookupOutbound(&bf[bi&(k-1)])
				bi++
			}
		},
		func(n int) {
			for range n {
				small.LookupOutbound(&sf[si&(k-1)])
				si++
			}
		})
}

// lookupBlock looks up n of the flows (256 of them) in db.
func lookupBlock(db *DB, flows []*Packet, n int) {
	for i := range n {
		db.LookupOutbound(flows[i&255])
	}
}

func benchmarkLookup(b *testing.B, n int) {
	db, flows := lookupSetup(b, n)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		db.LookupOutbound(flows[i&255])
		i++
	}
}

func BenchmarkLookup(b *testing.B) {
	for _, n := range []int{10, 1000, 100000} {
		b.Run(fmt.Sprintf("policies=%d", n), func(b *testing.B) { benchmarkLookup(b, n) })
	}
}

// TestLookupScales logs the cost of a lookup among 100 000 policies relative
// to 10; the target is at most about 1.5.
func TestLookupScales(t *testing.T) {
	if testing.Short() {
		t.Skip("timing")
	}
	small := testing.Benchmark(func(b *testing.B) { benchmarkLookup(b, 10) })
	large := testing.Benchmark(func(b *testing.B) { benchmarkLookup(b, 100000) })
	ratio := float64(large.NsPerOp()) / float64(max(small.NsPerOp(), 1))
	t.Logf("lookup: 10 policies %d ns, 100000 policies %d ns, ratio %.2f", small.NsPerOp(), large.NsPerOp(), ratio)
	if large.AllocsPerOp() != 0 {
		t.Errorf("%d allocations per lookup", large.AllocsPerOp())
	}
}

// benchmarkUpdate times Add (add) or Remove (!add) of one client policy
// in an SPD of gatewayPolicies(n), where all clients' /32s share one prefix
// length; the other half of each Add and Remove pair is not timed.
func benchmarkUpdate(b *testing.B, n int, add bool) {
	var db DB
	if err := db.Replace(gatewayPolicies(n)); err != nil {
		b.Fatal(err)
	}
	local := []Selector{mustSel("10.0.0.0/16")}
	b.ReportAllocs()
	id := uint32(1 << 20)
	for b.Loop() {
		a := netip.AddrFrom4([4]byte{10, 200, byte(id >> 8), byte(id)})
		p := &Policy{ID: id, Action: Protect, Local: local, Remote: []Selector{{Prefix: netip.PrefixFrom(a, 32), PortHigh: 0xffff}}}
		p.Priority = AutoPriority(p)
		if !add {
			b.StopTimer()
		}
		if err := db.Add(p); err != nil {
			b.Fatal(err)
		}
		if add {
			b.StopTimer()
		} else {
			b.StartTimer()
		}
		db.Remove(id)
		if add {
			b.StartTimer()
		}
		id++
	}
}

func BenchmarkAdd(b *testing.B) {
	for _, n := range []int{10, 1000, 100000} {
		b.Run(fmt.Sprintf("policies=%d", n), func(b *testing.B) { benchmarkUpdate(b, n, true) })
	}
}

func BenchmarkRemove(b *testing.B) {
	for _, n := range []int{10, 1000, 100000} {
		b.Run(fmt.Sprintf("policies=%d", n), func(b *testing.B) { benchmarkUpdate(b, n, false) })
	}
}

// TestSlotSize keeps a slot within one cache line, an IPv4 slot within
// half of one.
func TestSlotSize(t *testing.T) {
	if n := unsafe.Sizeof(slot{}); n > 64 {
		t.Errorf("slot is %d bytes, want at most 64", n)
	}
	if n := unsafe.Sizeof(slot4{}); n > 32 {
		t.Errorf("slot4 is %d bytes, want at most 32", n)
	}
}

// checkTables verifies the index's invariants: each table's count, every
// directory entry pointing at the chunk whose hash prefix it is, every
// entry in its chunk and findable, chunks at most half full (unless no
// split could help) and keys in the side map only there.
func checkTables(t *testing.T, db *DB) {
	t.Helper()
	s := db.snap.Load()
	if s == nil {
		return
	}
	for f, fi := range s.fam {
		if fi == nil {
			continue
		}
		if len(fi.tables) == 0 {
			t.Fatalf("family %d: empty famIndex", f)
		}
		for i := range fi.tables {
			lt := &fi.tables[i]
			if i > 0 && fi.tables[i-1].minOrd > lt.minOrd {
				t.Fatalf("family %d: tables out of order", f)
			}
			depth := 64 - lt.shift
			chunks := lt.w.chunks
			v4 := f == 0
			dirLen := len(lt.first)
			if v4 {
				dirLen = len(lt.first4)
				if lt.first != nil {
					t.Fatalf("/%d: IPv4 table with an IPv6 directory", lt.bits)
				}
			}
			if dirLen != 1<<depth || len(chunks) != dirLen {
				t.Fatalf("/%d: directory of depth %d has %d entries", lt.bits, depth, dirLen)
			}
			if lt.w.fresh {
				t.Fatalf("/%d: published table marked fresh", lt.bits)
			}
			n := 0
			for j := 0; j < len(chunks); {
				c := chunks[j]
				if c.depth > depth || uint64(c.size()) != lt.mask+1 || v4 != (c.slots4 != nil) || v4 == (c.slots != nil) {
					t.Fatalf("/%d: chunk depth %d in directory depth %d, %d slots, mask %d", lt.bits, c.depth, depth, c.size(), lt.mask)
				}
				lo, hi := lt.span(j, c)
				if lo != j {
					t.Fatalf("/%d: chunk at %d spans %d-%d", lt.bits, j, lo, hi)
				}
				for x := lo; x < hi; x++ {
					ok := chunks[x] == c
					if v4 {
						ok = ok && lt.first4[x].Load() == &c.slots4[0]
					} else {
						ok = ok && lt.first[x].Load() == &c.slots[0]
					}
					if !ok {
						t.Fatalf("/%d: entry %d does not point at its chunk", lt.bits, x)
					}
				}
				cn := 0
				for si := range uint64(c.size()) {
					if !c.used(si) {
						continue
					}
					sl := c.at(si)
					cn++
					if v4 && toSlot4(sl.key, sl.e) != c.slots4[si] {
						t.Fatalf("/%d: slot4 %+v does not convert back and forth", lt.bits, c.slots4[si])
					}
					h := lt.hash(sl.key)
					if int(h>>lt.shift) < lo || int(h>>lt.shift) >= hi {
						t.Fatalf("/%d: key %v in the wrong chunk", lt.bits, sl.key)
					}
					if sm := lt.side; sm != nil && sm.m[sl.key] != nil {
						t.Fatalf("/%d: key %v in a chunk and the side map", lt.bits, sl.key)
					}
					// Reachable from its home slot without an empty slot.
					for p := h & lt.mask; p != si; p = (p + 1) & lt.mask {
						if !c.used(p) {
							t.Fatalf("/%d: slot %d unreachable", lt.bits, si)
						}
					}
				}
				if cn != c.n {
					t.Fatalf("/%d: chunk counts %d, holds %d", lt.bits, c.n, cn)
				}
				if cn >= c.size() {
					t.Fatalf("/%d: chunk full", lt.bits)
				}
				n += cn
				j = hi
			}
			if sm := lt.side; sm != nil {
				if len(sm.m) == 0 {
					t.Fatalf("/%d: empty side map", lt.bits)
				}
				for _, es := range sm.m {
					if len(es) == 0 || !slices.IsSortedFunc(es, func(a, b entry) int { return cmp.Compare(a.ord, b.ord) }) {
						t.Fatalf("/%d: side map entries empty or out of order", lt.bits)
					}
					n += len(es)
				}
			}
			if n != lt.w.n || n == 0 {
				t.Fatalf("/%d: %d entries, counted %d", lt.bits, n, lt.w.n)
			}
		}
	}
}

// TestManyPoliciesMatchLinear drives the DB through random Add and Remove
// of thousands of policies, enough for chunks to split, directories to
// double and keys with many policies to move to the side map, and checks
// lookups against a linear scan and the index against its invariants.
func TestManyPoliciesMatchLinear(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	locals := []Selector{mustSel("10.0.0.0/16"), mustSel("10.0.3.4"), mustSel("10.0.0.0/16[tcp]"), mustSel("%any"), mustSel("2001:db8::/32")}
	remote := func() Selector {
		switch x := r.IntN(20); {
		case x == 0:
			return mustSel("10.9.9.9") // many policies, one key
		case x == 1:
			return Selector{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 1, byte(r.IntN(256)), 0}), 24), PortHigh: 0xffff}
		case x == 2:
			return Selector{Prefix: netip.PrefixFrom(netip.AddrFrom16([16]byte{0x20, 0x01, 0x0d, 0xb8, 1, 14: byte(r.IntN(256)), 15: byte(r.IntN(256))}), 128), PortHigh: 0xffff}
		case x == 3:
			return Selector{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 1, byte(r.IntN(256)), byte(r.IntN(256))}), 32), Proto: ProtoUDP, PortLow: 500, PortHigh: 500}
		}
		return Selector{Prefix: netip.PrefixFrom(netip.AddrFrom4([4]byte{10, 1, byte(r.IntN(256)), byte(r.IntN(256))}), 32), PortHigh: 0xffff}
	}
	var db DB
	var installed []*Policy
	check := func(step int) {
		checkTables(t, &db)
		for range 300 {
			p := &Packet{Src: mustAddr("10.0.3.4"), Proto: ProtoTCP, SrcPort: 1000, DstPort: 80}
			if r.IntN(4) == 0 {
				p.Proto, p.DstPort = ProtoUDP, 500
			}
			if len(installed) > 0 && r.IntN(3) > 0 {
				pol := installed[r.IntN(len(installed))]
				rs := pol.Remote[r.IntN(len(pol.Remote))]
				p.Dst = rs.Prefix.Addr()
			} else {
				p.Dst = netip.AddrFrom4([4]byte{10, 1, byte(r.IntN(256)), byte(r.IntN(256))})
			}
			if !p.Dst.Is4() || r.IntN(8) == 0 {
				p.Src = mustAddr("2001:db8::1") // also from an IPv6 source to an IPv4 one
			}
			if got, want := db.LookupOutbound(p), linearLookup(installed, p); got != want {
				t.Fatalf("step %d: %+v: got %+v, want %+v", step, p, got, want)
			}
		}
	}
	nextID := uint32(1)
	for step := range 12000 {
		if r.IntN(10) < 6 || len(installed) == 0 {
			p := &Policy{ID: nextID, Priority: uint32(r.IntN(4)), Action: Protect, Local: []Selector{locals[r.IntN(len(locals))]}}
			for range 1 + r.IntN(2) {
				p.Remote = append(p.Remote, remote())
			}
			if r.IntN(2) == 0 {
				p.ID = 1<<31 - nextID // IDs out of order: inserts before a key's entries
			}
			nextID++
			if err := db.Add(p); err != nil {
				t.Fatal(err)
			}
			installed = append(installed, p)
		} else {
			i := r.IntN(len(installed))
			db.Remove(installed[i].ID)
			installed = slices.Delete(installed, i, i+1)
		}
		if step%1000 == 999 {
			check(step)
		}
		if step%2000 == 1499 {
			db.Compact() // the chunks in one place; what changes next is copied out again
			check(step)
		}
	}
	check(-1)
	// Replace builds the same index in one go.
	if err := db.Replace(slices.Clone(installed)); err != nil {
		t.Fatal(err)
	}
	check(-2)
	for len(installed) > 0 {
		i := r.IntN(len(installed))
		db.Remove(installed[i].ID)
		installed = slices.Delete(installed, i, i+1)
		if len(installed)%500 == 0 {
			check(-3)
		}
	}
	if s := db.snap.Load(); s.fam[0] != nil || s.fam[1] != nil {
		t.Errorf("tables left after removing every policy")
	}
}

// TestCollidingKeys installs policies for IPv6 hosts whose keys all hash
// alike (made from the hash function), which no split separates: they
// fill one chunk and then go to the side map, and every one is found, also
// while they are removed.
func TestCollidingKeys(t *testing.T) {
	var db DB
	var installed []*Policy
	for i := range uint64(2 * maxChunk) {
		lo := i + 1
		hi := 0x20010db800000000 ^ lo*0x9e3779b97f4a7c15
		var a [16]byte
		binary.BigEndian.PutUint64(a[:8], hi)
		binary.BigEndian.PutUint64(a[8:], lo)
		p := &Policy{ID: uint32(i + 1), Action: Protect, Local: []Selector{mustSel("::/0")},
			Remote: []Selector{{Prefix: netip.PrefixFrom(netip.AddrFrom16(a), 128), PortHigh: 0xffff}}}
		if err := db.Add(p); err != nil {
			t.Fatal(err)
		}
		installed = append(installed, p)
	}
	checkTables(t, &db)
	lt := db.snap.Load().fam[1].tables[0]
	if sm := lt.side; sm == nil || len(sm.m) < maxChunk {
		t.Errorf("side map does not hold the colliding keys")
	}
	if lt.mask+1 > maxChunk {
		t.Errorf("chunks of %d slots", lt.mask+1)
	}
	for len(installed) > 0 {
		for _, p := range installed[:min(len(installed), 50)] {
			pk := &Packet{Src: mustAddr("2001:db8::1"), Dst: p.Remote[0].Prefix.Addr(), Proto: ProtoTCP}
			if got := db.LookupOutbound(pk); got != p {
				t.Fatalf("policy %d: got %v", p.ID, got)
			}
		}
		i := len(installed) / 3
		db.Remove(installed[i].ID)
		installed = slices.Delete(installed, i, i+1)
		checkTables(t, &db)
	}
}
