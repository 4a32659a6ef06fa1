package main

import (
	"crypto/rand"
	"encoding/json"
	"flag"
	"fmt"
	"net/netip"
	"os"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/esptun/esptun/crypto"
	"github.com/esptun/esptun/esp"
	"github.com/esptun/esptun/sad"
	"github.com/esptun/esptun/spd"
)

// dbScale is the SPD and SAD with N Child SAs installed, as a gateway holds
// them: N protect policies 10.0.0.0/16 <-> one /32 per client, an inbound
// and an outbound AES-128-GCM SA per policy (with real ciphers, whose
// AES-GCM state is made by the first packet, so an SA that has carried
// none holds only its key, and a 1024-packet replay window on the inbound
// SA, whose bitmap is also made by the first packet), plus a bypass and a
// catch-all discard policy.
type dbScale struct {
	ChildSAs        int     `json:"child_sas"`
	RSSKiB          int64   `json:"rss_kib"`            // whole process after installing
	RSSDeltaKiB     int64   `json:"rss_delta_kib"`      // installed minus empty
	BytesPerChildSA float64 `json:"bytes_per_child_sa"` // RSS delta / N (policy + 2 SAs)
	HeapPerChildSA  float64 `json:"heap_per_child_sa"`  // live heap delta / N
	SPDLookupNs     float64 `json:"spd_lookup_outbound_ns"`
	SADInboundNs    float64 `json:"sad_inbound_ns"`
	SADOutboundNs   float64 `json:"sad_outbound_ns"`
	Allocs          int64   `json:"allocs_per_lookup"`
	// The same lookups against a DB of 10 Child SAs built in the same
	// process, timed in alternating blocks (see pairedRatio): N's cost
	// over 10's, which separate processes on a shared machine cannot
	// measure to better than tens of percent.
	SPDOver10    float64 `json:"spd_over_10"`
	SADInOver10  float64 `json:"sad_in_over_10"`
	SADOutOver10 float64 `json:"sad_out_over_10"`
}

// runDBScale measures 10, 1 000 and 100 000 Child SAs, each size in a
// fresh process so that RSS is its own.
func runDBScale(e *env) ([]dbScale, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	var out []dbScale
	for _, n := range []int{10, 1000, 100000} {
		logf("SPD/SAD with %d Child SAs", n)
		o, err := runOut(e.root, self, "dbscale", "-n", fmt.Sprint(n))
		if err != nil {
			return out, err
		}
		var d dbScale
		line := o[strings.LastIndex(strings.TrimRight(o, "\n"), "\n")+1:]
		if err := json.Unmarshal([]byte(line), &d); err != nil {
			return out, fmt.Errorf("dbscale %d: %v: %s", n, err, o)
		}
		out = append(out, d)
	}
	return out, nil
}

func dbscaleMain(args []string) int {
	fs := flag.NewFlagSet("dbscale", flag.ExitOnError)
	n := fs.Int("n", 1000, "Child SAs")
	fs.Parse(args)
	d, err := dbscaleRun(*n)
	if err != nil {
		fmt.Fprintln(os.Stderr, "dbscale:", err)
		return 1
	}
	b, _ := json.Marshal(d)
	fmt.Println(string(b))
	return 0
}

func settledMem() (rss int64, heap uint64) {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	rss, _ = rssKiB(os.Getpid())
	return rss, ms.HeapAlloc
}

func clientAddr(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{10, byte(64 + i>>16), byte(i >> 8), byte(i)})
}

// dbSet is the SPD and SAD of N Child SAs with k flows over them.
type dbSet struct {
	pdb   *spd.DB
	sdb   *sad.DB
	flows []spd.Packet
	spis  []uint32
	ids   []uint32

	n      int
	inSPIs []uint32 // of Child SA i
}

// flowCount is how many flows the lookups cycle through, the same for
// every N.
const flowCount = 4096

func dbscaleRun(n int) (dbScale, error) {
	d := dbScale{ChildSAs: n}
	rss0, heap0 := settledMem()
	big, err := buildDBs(n)
	if err != nil {
		return d, err
	}
	rss1, heap1 := settledMem()
	d.RSSKiB, d.RSSDeltaKiB = rss1, rss1-rss0
	d.BytesPerChildSA = float64(d.RSSDeltaKiB*1024) / float64(n)
	d.HeapPerChildSA = float64(int64(heap1)-int64(heap0)) / float64(n)
	small, err := buildDBs(10)
	if err != nil {
		return d, err
	}
	if err := big.makeFlows(); err != nil {
		return d, err
	}
	if err := small.makeFlows(); err != nil {
		return d, err
	}

	const k = flowCount
	nsop := func(r testing.BenchmarkResult) float64 { return float64(r.T.Nanoseconds()) / float64(r.N) }
	// best is the median (by time per op) of three testing.Benchmark runs.
	best := func(f func(b *testing.B)) testing.BenchmarkResult {
		rs := []testing.BenchmarkResult{testing.Benchmark(f), testing.Benchmark(f), testing.Benchmark(f)}
		sort.Slice(rs, func(i, j int) bool { return nsop(rs[i]) < nsop(rs[j]) })
		return rs[1]
	}
	spdLookup := func(s *dbSet) func(int) {
		return func(i int) { s.pdb.LookupOutbound(&s.flows[i&(k-1)]) }
	}
	sadIn := func(s *dbSet) func(int) { return func(i int) { s.sdb.Inbound(s.spis[i&(k-1)]) } }
	sadOut := func(s *dbSet) func(int) { return func(i int) { s.sdb.Outbound(s.ids[i&(k-1)]) } }
	loop := func(f func(int)) func(b *testing.B) {
		return func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				f(i)
				i++
			}
		}
	}
	r := best(loop(spdLookup(big)))
	d.SPDLookupNs, d.Allocs = nsop(r), r.AllocsPerOp()
	r = best(loop(sadIn(big)))
	d.SADInboundNs, d.Allocs = nsop(r), d.Allocs+r.AllocsPerOp()
	r = best(loop(sadOut(big)))
	d.SADOutboundNs, d.Allocs = nsop(r), d.Allocs+r.AllocsPerOp()
	d.SPDOver10 = pairedRatio(spdLookup(big), spdLookup(small))
	d.SADInOver10 = pairedRatio(sadIn(big), sadIn(small))
	d.SADOutOver10 = pairedRatio(sadOut(big), sadOut(small))
	runtime.KeepAlive(big)
	runtime.KeepAlive(small)
	return d, nil
}

// pairedRatio times blocks of 1024 calls of big and of small in turn (each
// block a few tens of microseconds, so both see the same load) for about a
// second and returns the ratio of their median blocks.
func pairedRatio(big, small func(int)) float64 {
	const block, blocks = 1024, 4000
	tb := make([]time.Duration, 0, blocks)
	ts := make([]time.Duration, 0, blocks)
	run := func(f func(int), base int) time.Duration {
		t0 := time.Now()
		for i := range block {
			f(base + i)
		}
		return time.Since(t0)
	}
	for j := range blocks {
		if j%2 == 0 {
			tb = append(tb, run(big, j*block))
			ts = append(ts, run(small, j*block))
		} else {
			ts = append(ts, run(small, j*block))
			tb = append(tb, run(big, j*block))
		}
	}
	slices.Sort(tb)
	slices.Sort(ts)
	return float64(tb[blocks/2]) / float64(ts[blocks/2])
}

// buildDBs installs n Child SAs: n protect policies, a bypass and a
// discard policy, and an inbound and an outbound SA per protect policy.
func buildDBs(n int) (*dbSet, error) {
	suite, err := crypto.LookupESP("aes128gcm16")
	if err != nil {
		return nil, err
	}
	pdb := new(spd.DB)
	sdb := sad.New(nil)
	local := []spd.Selector{{Prefix: netip.MustParsePrefix("10.0.0.0/16"), PortHigh: 0xffff}}
	pols := []*spd.Policy{
		{ID: 1, Name: "bypass-lan", Priority: 10, Action: spd.Bypass, Local: local, Remote: local},
		{ID: 2, Name: "discard", Priority: spd.AutoPriorityMax + 1, Action: spd.Discard,
			Local:  []spd.Selector{{Prefix: netip.MustParsePrefix("0.0.0.0/0"), PortHigh: 0xffff}},
			Remote: []spd.Selector{{Prefix: netip.MustParsePrefix("0.0.0.0/0"), PortHigh: 0xffff}}},
	}
	key := make([]byte, suite.KeyLen())
	now := time.Now()
	inSPIs := make([]uint32, n) // chosen by NewSPI, as the IKE layer does
	for i := range n {
		id := uint32(i + 3)
		remote := []spd.Selector{{Prefix: netip.PrefixFrom(clientAddr(i), 32), PortHigh: 0xffff}}
		p := &spd.Policy{ID: id, Name: "bench/net", Action: spd.Protect, Local: local, Remote: remote}
		p.Priority = spd.AutoPriority(p)
		pols = append(pols, p)
		for dir := range 2 {
			rand.Read(key)
			c, err := crypto.NewESPCipher(suite, key)
			if err != nil {
				return nil, err
			}
			sa := &sad.SA{Name: "bench/net", PolicyID: id, Cipher: c, Local: local, Remote: remote, Encap: true, Created: now}
			if dir == 0 {
				inSPIs[i] = sdb.NewSPI()
				sa.Dir, sa.SPI = sad.Inbound, inSPIs[i]
				sa.Replay = esp.NewReplayWindow(1024)
			} else {
				sa.Dir, sa.SPI = sad.Outbound, 0x80000000+uint32(i)
				sa.SetPeer(netip.AddrPortFrom(netip.AddrFrom4([4]byte{192, 0, 2, byte(i)}), 4500))
			}
			if err := sdb.Add(sa); err != nil {
				return nil, err
			}
		}
	}
	if err := pdb.Replace(pols); err != nil {
		return nil, err
	}
	return &dbSet{pdb: pdb, sdb: sdb, n: n, inSPIs: inSPIs}, nil
}

// makeFlows sets up flowCount flows spread over all n Child SAs, in an
// order that defeats the CPU's prefetcher, and checks that each finds its
// policy and SAs. (Apart from buildDBs, so that RSS and heap are measured
// without them.)
func (set *dbSet) makeFlows() error {
	const k = flowCount
	n, pdb, sdb, inSPIs := set.n, set.pdb, set.sdb, set.inSPIs
	set.flows, set.spis, set.ids = make([]spd.Packet, k), make([]uint32, k), make([]uint32, k)
	for i := range set.flows {
		c := (i * 7919) % n
		set.flows[i] = spd.Packet{Src: netip.AddrFrom4([4]byte{10, 0, 3, 4}), Dst: clientAddr(c), Proto: 6, SrcPort: 443, DstPort: uint16(40000 + i)}
		set.spis[i] = inSPIs[c]
		set.ids[i] = uint32(c + 3)
		if p := pdb.LookupOutbound(&set.flows[i]); p == nil || p.ID != set.ids[i] {
			return fmt.Errorf("flow %d: wrong policy %v", i, p)
		}
		if sdb.Inbound(set.spis[i]) == nil || sdb.Outbound(set.ids[i]) == nil {
			return fmt.Errorf("flow %d: SA missing", i)
		}
	}
	return nil
}
