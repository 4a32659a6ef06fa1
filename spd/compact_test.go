package spd

import (
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"unsafe"
)

// TestCompact installs thousands of host policies one by one (each install
// copies a chunk), compacts while lookups run, and checks that every
// table's chunks then lie one after the other in one allocation, that
// every policy is still found, and that installs and removals after the
// compaction leave the compacted chunks as they were (they copy).
func TestCompact(t *testing.T) {
	var db DB
	host := func(i int) netip.Addr { return netip.AddrFrom4([4]byte{10, 200, byte(i >> 8), byte(i)}) }
	const n = 6000
	for i := range n {
		p := &Policy{ID: uint32(i + 1), Action: Protect, Local: []Selector{mustSel("10.100.0.0/16")},
			Remote: []Selector{{Prefix: netip.PrefixFrom(host(i), 32), PortHigh: 0xffff}}}
		if err := db.Add(p); err != nil {
			t.Fatal(err)
		}
	}
	lookup := func(i int) *Policy {
		return db.LookupOutbound(&Packet{Src: mustAddr("10.100.0.1"), Dst: host(i), Proto: ProtoTCP, SrcPort: 1, DstPort: 2})
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var misses atomic.Int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; !stop.Load(); i = (i + 1) % n {
			if p := lookup(i); p == nil || p.ID != uint32(i+1) {
				misses.Add(1)
			}
		}
	}()
	for range 3 {
		db.Compact()
	}
	stop.Store(true)
	wg.Wait()
	if m := misses.Load(); m != 0 {
		t.Errorf("%d lookups during Compact missed their policy", m)
	}
	checkTables(t, &db)
	tab := db.snap.Load().fam[0].tables[0]
	size := uintptr(tab.mask+1) * unsafe.Sizeof(slot4{})
	var prev uintptr
	chunks := 0
	for i := 0; i < len(tab.w.chunks); {
		c := tab.w.chunks[i]
		_, hi := tab.span(i, c)
		at := uintptr(unsafe.Pointer(&c.slots4[0]))
		if chunks > 0 && at != prev+size {
			t.Fatalf("chunk %d at %#x, want %#x: the chunks are not in one allocation", chunks, at, prev+size)
		}
		prev = at
		chunks++
		i = hi
	}
	if chunks < 8 {
		t.Fatalf("%d chunks for %d policies: the test wants a table of many chunks", chunks, n)
	}
	compacted := slicesOf(tab)
	for i := range n {
		if p := lookup(i); p == nil || p.ID != uint32(i+1) {
			t.Fatalf("after Compact, %v finds %v", host(i), p)
		}
	}
	// Changes after Compact copy chunks out of the compacted allocation
	// and never write into it: what a reader of the old chunk sees stays.
	for i := range n / 2 {
		db.Remove(uint32(i + 1))
	}
	for i, c := range compacted {
		if c.n != countUsed(c.slots4) {
			t.Fatalf("compacted chunk %d changed after Compact: %d entries, %d slots used", i, c.n, countUsed(c.slots4))
		}
	}
	for i := range n {
		p := lookup(i)
		if want := i >= n/2; (p != nil) != want {
			t.Fatalf("after removing half, %v finds %v", host(i), p)
		}
	}
	checkTables(t, &db)
}

func slicesOf(t lenTable) []chunk {
	var out []chunk
	for i := 0; i < len(t.w.chunks); {
		c := t.w.chunks[i]
		_, hi := t.span(i, c)
		out = append(out, chunk{slots4: c.slots4, n: c.n})
		i = hi
	}
	return out
}

func countUsed(s []slot4) int {
	n := 0
	for i := range s {
		if s[i].pol != nil {
			n++
		}
	}
	return n
}
