package spd

import (
	"maps"
	"math"
	"math/rand/v2"
	"slices"
	"sync/atomic"
	"unsafe"
)

// A lenTable holds the entries whose remote prefix has one length: an
// extendible hash table (a directory of 2^depth entries, indexed by the top
// bits of a key's hash, pointing at chunks, each a small open-addressing
// table of its own) from masked prefix to entries.
//
// Lookups never lock. A lenTable value is immutable once published (in a
// snapshot's famIndex); its directory entries are atomic pointers that
// writers (serialised by DB.mu) change in place, and a writer never
// changes a chunk a reader may see: it builds a changed copy of the one
// chunk a key lives in and points the directory entries at it, so that Add
// and Remove copy at most maxChunk slots however many policies there are.
// A chunk more than half full splits in two (by one more bit of the hash),
// doubling the directory when its depth is already the directory's (a new
// directory, published with a new lenTable value); until the table has
// more than one chunk, its only chunk grows instead, so a small table stays
// small. Every chunk of a directory has the same number of slots, so a
// lookup reads no chunk header: the directory entry, then the slots.
//
// A key with several entries (several policies with the same remote
// prefix) has several slots in its chunk, inserted in order, so the probe
// sequence meets them in order. A key with more than bulkyKey entries
// moves to the side map, a sorted slice per key, since no split can
// separate entries with one hash; so does a key that finds its chunk full of
// keys with one hash.
type lenTable struct {
	bits   int                     // prefix length in 128-bit terms (IPv4 lengths + 96)
	minOrd order                   // no entry orders before this (a lower bound after removals)
	seed   uint64                  // hash seed, random per table
	shift  uint                    // 64 - the directory's depth, at least 1
	mask   uint64                  // slots per chunk - 1
	first  []atomic.Pointer[slot]  // the directory: first slot of each entry's chunk (IPv6)
	first4 []atomic.Pointer[slot4] // the same for an IPv4 table
	side   *sideMap                // nil when empty
	w      *tableState
}

// tableState is the writer's side of a table, shared by all its lenTable
// values.
type tableState struct {
	chunks   []*chunk // parallel to the current directory
	n        int      // entries, including the side map's
	fresh    bool     // no reader can see the table yet: chunks change in place
	replaced int      // chunks replaced since the last compact
}

const (
	maxChunkBits = 8
	maxChunk     = 1 << maxChunkBits // slots per chunk, at most
	minChunk     = 4
	maxDepth     = 64 - maxChunkBits // the directory's bits stay clear of the slot's
	bulkyKey     = 8
)

// chunk is an immutable open-addressing hash table (linear probing, at most
// half full unless no split can help) of mask+1 slots.
type chunk struct {
	slots  []slot  // of an IPv6 table
	slots4 []slot4 // of an IPv4 table
	depth  uint    // bits of the hash that all its keys share
	n      int     // entries
}

// slot is one entry under its key, in an IPv6 table. A slot is one cache
// line: a lookup that hits touches one or two slots and follows no further
// pointer.
type slot struct {
	key addrKey
	e   entry // e.pol == nil: empty slot
}

// slot4 is one entry in an IPv4 table, in half a cache line: the key and
// the local selector as IPv4 addresses, and the policy's priority rather
// than its whole order (a lookup reads the ID from the policy on a tie of
// priorities, which the gateway case does not have).
type slot4 struct {
	key       uint32 // the masked remote prefix
	prio      uint32 // pol.Priority
	pol       *Policy
	local     uint32 // the local selector's masked prefix, if oneLocal
	rPortLow  uint16
	rPortHigh uint16
	lPortLow  uint16
	lPortHigh uint16
	localBits uint8 // its length, 0-32
	proto     uint8
	oneLocal  bool // the only local selector, an IPv4 one
}

// toSlot4 returns e under k, which is IPv4, as a slot4.
func toSlot4(k addrKey, e entry) slot4 {
	s := slot4{key: uint32(k.lo), prio: uint32(e.ord >> 32), pol: e.pol, rPortLow: e.rPortLow, rPortHigh: e.rPortHigh, proto: e.proto}
	if e.oneLocal && !e.localV6 {
		s.oneLocal, s.local, s.localBits = true, uint32(e.local.lo), e.localBits-96
		s.lPortLow, s.lPortHigh = e.lPortLow, e.lPortHigh
	}
	// Otherwise matches checks the local selectors with matchAny; e.proto,
	// the remote selector's protocol or one the local selector requires,
	// is still right to check.
	return s
}

// slot returns s as a key and an entry. The entry's order has the
// priority but not the ID, which would take reading the policy: the writer
// uses orderOf(e.pol) where it compares orders.
func (s *slot4) slot() slot {
	k := key4(s.key)
	e := entry{ord: order(s.prio) << 32, pol: s.pol, proto: s.proto, rPortLow: s.rPortLow, rPortHigh: s.rPortHigh}
	if s.oneLocal {
		e.oneLocal, e.localBits = true, s.localBits+96
		e.local = key4(s.local)
		e.lPortLow, e.lPortHigh = s.lPortLow, s.lPortHigh
	}
	return slot{key: k, e: e}
}

// matches checks protocol, ports and the local side of p, whose destination
// is known to be within the remote prefix; src is p.Src if it is IPv4.
func (s *slot4) matches(p *Packet, src uint32, srcV4 bool) bool {
	if s.proto != 0 && s.proto != p.Proto {
		return false
	}
	if p.DstPort < s.rPortLow || p.DstPort > s.rPortHigh {
		return false
	}
	if !s.oneLocal {
		return matchAny(s.pol.Local, p.Src, p.Proto, p.SrcPort)
	}
	return srcV4 && src&mask4(s.localBits) == s.local && p.SrcPort >= s.lPortLow && p.SrcPort <= s.lPortHigh
}

// key4 returns an IPv4 address as a key.
func key4(a uint32) addrKey { return addrKey{lo: 0xffff<<32 | uint64(a)} }

// mask4 returns the mask of an IPv4 prefix length (0-32).
func mask4(bits uint8) uint32 { return ^uint32(0) << (32 - bits) }

// sideMap holds the keys with more than bulkyKey entries, and keys that
// found their chunk full and could not split it (hashes that collide), each
// with its entries in order. It is immutable.
type sideMap struct {
	m map[addrKey][]entry
}

// newLenTable returns a table for a prefix length (in 128-bit terms) of
// IPv4 (v4) or IPv6.
func newLenTable(bits int, v4 bool) lenTable {
	t := lenTable{bits: bits, minOrd: math.MaxUint64, seed: rand.Uint64(), shift: 63, mask: minChunk - 1,
		w: &tableState{chunks: make([]*chunk, 2), fresh: true}}
	if v4 {
		t.first4 = make([]atomic.Pointer[slot4], 2)
	} else {
		t.first = make([]atomic.Pointer[slot], 2)
	}
	t.set(0, 2, t.newChunk(minChunk, 0))
	return t
}

// newChunk returns an empty chunk of size slots for t.
func (t *lenTable) newChunk(size int, depth uint) *chunk {
	if t.first4 != nil {
		return &chunk{slots4: make([]slot4, size), depth: depth}
	}
	return &chunk{slots: make([]slot, size), depth: depth}
}

// clone returns a copy of c.
func (c *chunk) clone() *chunk {
	return &chunk{slots: slices.Clone(c.slots), slots4: slices.Clone(c.slots4), depth: c.depth, n: c.n}
}

func (t *lenTable) hash(k addrKey) uint64 { return k.hash(t.seed) }

// chunkAt returns the first slot of the chunk for hash h.
func (t *lenTable) chunkAt(h uint64) *slot {
	return t.first[h>>(t.shift&63)].Load()
}

// chunkAt4 returns the first slot of the chunk for hash h, of an IPv4 table.
func (t *lenTable) chunkAt4(h uint64) *slot4 {
	return t.first4[h>>(t.shift&63)].Load()
}

// slotAt returns slot i (at most the table's mask) of the chunk whose first
// slot is first. Every chunk of a directory has mask+1 slots.
func slotAt(first *slot, i uint64) *slot {
	return (*slot)(unsafe.Add(unsafe.Pointer(first), uintptr(i)*unsafe.Sizeof(slot{})))
}

// slotAt4 is slotAt for an IPv4 table.
func slotAt4(first *slot4, i uint64) *slot4 {
	return (*slot4)(unsafe.Add(unsafe.Pointer(first), uintptr(i)*unsafe.Sizeof(slot4{})))
}

// span returns the directory entries [lo, hi) that point at c, the chunk of
// entry i.
func (t *lenTable) span(i int, c *chunk) (lo, hi int) {
	n := 1 << (64 - t.shift - c.depth)
	lo = i &^ (n - 1)
	return lo, lo + n
}

// set points the directory entries [lo, hi) at c.
func (t *lenTable) set(lo, hi int, c *chunk) {
	t.w.replaced++
	for i := lo; i < hi; i++ {
		t.w.chunks[i] = c
		if t.first4 != nil {
			t.first4[i].Store(&c.slots4[0])
		} else {
			t.first[i].Store(&c.slots[0])
		}
	}
}

// size returns the number of slots of c.
func (c *chunk) size() int { return len(c.slots) + len(c.slots4) }

// at returns slot i of c as a key and an entry (e.pol == nil: empty).
func (c *chunk) at(i uint64) slot {
	if c.slots4 != nil {
		if c.slots4[i].pol == nil {
			return slot{}
		}
		return c.slots4[i].slot()
	}
	return c.slots[i]
}

// used reports whether slot i of c holds an entry.
func (c *chunk) used(i uint64) bool {
	if c.slots4 != nil {
		return c.slots4[i].pol != nil
	}
	return c.slots[i].e.pol != nil
}

// put inserts e under k (hash h) at the end of k's probe sequence; c has
// room.
func (c *chunk) put(h uint64, k addrKey, e entry) {
	mask := uint64(c.size() - 1)
	i := h & mask
	for c.used(i) {
		i = (i + 1) & mask
	}
	if c.slots4 != nil {
		c.slots4[i] = toSlot4(k, e)
	} else {
		c.slots[i] = slot{key: k, e: e}
	}
	c.n++
}

// walk calls f for c's entries, each key's in probe order: it starts right
// after an empty slot, which a cluster never wraps past.
func (c *chunk) walk(f func(s slot)) {
	if c.n == 0 {
		return
	}
	size := uint64(c.size())
	start := uint64(0)
	for c.used(start) {
		start++
	}
	for j := uint64(1); j <= size; j++ {
		if i := (start + j) & (size - 1); c.used(i) {
			f(c.at(i))
		}
	}
}

// count returns the number of entries under k (hash h) and whether any
// of them orders after ord.
func (c *chunk) count(h uint64, k addrKey, ord order) (n int, later bool) {
	mask := uint64(c.size() - 1)
	for i := h & mask; c.used(i); i = (i + 1) & mask {
		if s := c.at(i); s.key == k {
			n++
			later = later || orderOf(s.e.pol) > ord
		}
	}
	return n, later
}

// countOf returns the number of entries of p under k (hash h).
func (c *chunk) countOf(h uint64, k addrKey, p *Policy) int {
	n := 0
	mask := uint64(c.size() - 1)
	for i := h & mask; c.used(i); i = (i + 1) & mask {
		if s := c.at(i); s.key == k && s.e.pol == p {
			n++
		}
	}
	return n
}

// rebuilt returns a copy of c with size slots, without the entries for
// which drop returns true, plus e under k if add.
func (t *lenTable) rebuilt(c *chunk, size int, drop func(s slot) bool, add bool, k addrKey, e entry) *chunk {
	nc := t.newChunk(size, c.depth)
	c.walk(func(s slot) {
		if drop != nil && drop(s) {
			return
		}
		if add && s.key == k && orderOf(s.e.pol) > e.ord {
			nc.put(t.hash(k), k, e) // before the key's later entries
			add = false
		}
		nc.put(t.hash(s.key), s.key, s.e)
	})
	if add {
		nc.put(t.hash(k), k, e)
	}
	return nc
}

// insert adds e under k. t is the writer's copy of the table, to be
// published after.
func (t *lenTable) insert(k addrKey, e entry) {
	t.w.n++
	t.minOrd = min(t.minOrd, e.ord)
	if sm := t.side; sm != nil {
		if es, ok := sm.m[k]; ok {
			t.setSide(k, insertSorted(slices.Clone(es), e))
			return
		}
	}
	h := t.hash(k)
	for {
		i := int(h >> t.shift)
		c := t.w.chunks[i]
		size := c.size()
		n, later := c.count(h, k, e.ord)
		if n >= bulkyKey {
			t.toSide(i, c, k, e)
			return
		}
		if c.n+1 > size/2 {
			switch {
			case c.depth == 0 && size < maxChunk:
				t.regrow(2 * size)
				continue
			case c.depth < maxDepth && t.splits(c, h):
				t.split(i, c)
				continue
			case c.n+1 >= size:
				// Full, and no split helps: keys whose hashes collide
				// (IPv6 keys can be made to) go to the side map.
				t.toSide(i, c, k, e)
				return
			}
		}
		if t.w.fresh && !later {
			c.put(h, k, e)
			return
		}
		var nc *chunk
		if !later {
			nc = c.clone()
			nc.put(h, k, e)
		} else {
			nc = t.rebuilt(c, size, nil, true, k, e)
		}
		lo, hi := t.span(i, c)
		t.set(lo, hi, nc)
		return
	}
}

// toSide moves k's entries in c, the chunk of directory entry i, and e to
// the side map.
func (t *lenTable) toSide(i int, c *chunk, k addrKey, e entry) {
	var es []entry
	c.walk(func(s slot) {
		if s.key == k {
			s.e.ord = orderOf(s.e.pol)
			es = append(es, s.e)
		}
	})
	t.setSide(k, insertSorted(es, e))
	if len(es) > 0 {
		lo, hi := t.span(i, c)
		t.set(lo, hi, t.rebuilt(c, c.size(), func(s slot) bool { return s.key == k }, false, k, e))
	}
}

// remove drops p's entries under k and returns how many there were. t is
// the writer's copy of the table, to be published after.
func (t *lenTable) remove(k addrKey, p *Policy) int {
	if sm := t.side; sm != nil {
		if es, ok := sm.m[k]; ok {
			kept := slices.DeleteFunc(slices.Clone(es), func(e entry) bool { return e.pol == p })
			n := len(es) - len(kept)
			if n > 0 {
				t.setSide(k, kept)
				t.w.n -= n
			}
			return n
		}
	}
	h := t.hash(k)
	i := int(h >> t.shift)
	c := t.w.chunks[i]
	n := c.countOf(h, k, p)
	if n == 0 {
		return 0
	}
	nc := c.clone()
	mask := uint64(nc.size() - 1)
	for j := h & mask; nc.used(j); {
		if nc.keyAt(j) == k && nc.polAt(j) == p {
			t.deleteAt(nc, j) // moves a later slot, if any, to j
			continue
		}
		j = (j + 1) & mask
	}
	lo, hi := t.span(i, c)
	t.set(lo, hi, nc)
	t.w.n -= n
	return n
}

// deleteAt empties slot i of c, which no reader sees yet, and moves back
// the slots after it that would be unreachable from their home slot
// otherwise (backward-shift deletion). The first slot of the cluster that
// may move into the gap is the one that moves, so entries under one key
// keep their order.
func (t *lenTable) deleteAt(c *chunk, i uint64) {
	mask := uint64(c.size() - 1)
	for j := (i + 1) & mask; c.used(j); j = (j + 1) & mask {
		home := t.hash(c.keyAt(j)) & mask
		// j may move to i unless its home is cyclically in (i, j].
		if (j-home)&mask >= (j-i)&mask {
			c.move(i, j)
			i = j
		}
	}
	c.clear(i)
	c.n--
}

// keyAt returns the key of slot i of c.
func (c *chunk) keyAt(i uint64) addrKey {
	if c.slots4 != nil {
		return key4(c.slots4[i].key)
	}
	return c.slots[i].key
}

// polAt returns the policy of slot i of c.
func (c *chunk) polAt(i uint64) *Policy {
	if c.slots4 != nil {
		return c.slots4[i].pol
	}
	return c.slots[i].e.pol
}

// move copies slot j of c to slot i.
func (c *chunk) move(i, j uint64) {
	if c.slots4 != nil {
		c.slots4[i] = c.slots4[j]
	} else {
		c.slots[i] = c.slots[j]
	}
}

// clear empties slot i of c.
func (c *chunk) clear(i uint64) {
	if c.slots4 != nil {
		c.slots4[i] = slot4{}
	} else {
		c.slots[i] = slot{}
	}
}

// setSide sets a side map with es under k (none if es is empty).
func (t *lenTable) setSide(k addrKey, es []entry) {
	var m map[addrKey][]entry
	if sm := t.side; sm != nil {
		m = maps.Clone(sm.m)
	} else {
		m = make(map[addrKey][]entry)
	}
	if len(es) > 0 {
		m[k] = es
	} else {
		delete(m, k)
	}
	t.side = nil
	if len(m) > 0 {
		t.side = &sideMap{m: m}
	}
}

// insertSorted inserts e into es (sorted by order) after the entries that
// order the same or before.
func insertSorted(es []entry, e entry) []entry {
	i, _ := slices.BinarySearchFunc(es, e.ord, func(x entry, o order) int {
		if x.ord <= o {
			return -1
		}
		return 1
	})
	return slices.Insert(es, i, e)
}

// splits reports whether splitting c separates its entries, with one more
// under hash h: whether the next bit of their hashes differs.
func (t *lenTable) splits(c *chunk, h uint64) bool {
	bit := uint64(1) << (63 - c.depth)
	want := h & bit
	differ := false
	c.walk(func(s slot) {
		differ = differ || t.hash(s.key)&bit != want
	})
	return differ
}

// split replaces c, the chunk of directory entry i, by two chunks of one
// more bit, doubling the directory first if c's depth is already the
// directory's.
func (t *lenTable) split(i int, c *chunk) {
	if c.depth == 64-t.shift {
		old := t.w.chunks
		t.newDirectory(2 * len(old))
		for j, cj := range old {
			t.set(2*j, 2*j+2, cj)
		}
		t.shift, i = t.shift-1, 2*i
	}
	bit := uint64(1) << (63 - c.depth)
	halves := [2]*chunk{t.newChunk(c.size(), c.depth+1), t.newChunk(c.size(), c.depth+1)}
	c.walk(func(s slot) {
		h := t.hash(s.key)
		half := 0
		if h&bit != 0 {
			half = 1
		}
		halves[half].put(h, s.key, s.e)
	})
	lo, hi := t.span(i, c)
	mid := (lo + hi) / 2
	t.set(lo, mid, halves[0])
	t.set(mid, hi, halves[1])
}

// regrow gives t a new directory whose chunks have size slots.
func (t *lenTable) regrow(size int) {
	old := t.w.chunks
	t.newDirectory(len(old))
	t.mask = uint64(size - 1)
	for i := 0; i < len(old); {
		c := old[i]
		lo, hi := t.span(i, c)
		t.set(lo, hi, t.rebuilt(c, size, nil, false, addrKey{}, entry{}))
		i = hi
	}
}

// newDirectory gives t a new, empty directory of n entries, which readers
// see when t is published.
func (t *lenTable) newDirectory(n int) {
	if t.first4 != nil {
		t.first4 = make([]atomic.Pointer[slot4], n)
	} else {
		t.first = make([]atomic.Pointer[slot], n)
	}
	t.w.chunks = make([]*chunk, n)
}

// compact moves the slots of all of t's chunks into one allocation, in new
// chunks that readers see in place of the old ones (the same slots: a
// lookup finds the same either way). Every install or removal copies the
// chunk it changes, so after a burst of them the chunks that live are
// scattered over the heap, one or two in each span among the garbage
// copies, and keep those spans from going back to the OS: at 10 000 Child
// SAs, 133 live chunks of 9 KiB held 8 MB of spans. Once t's chunks are
// in one place, those spans empty. It copies every slot; a table whose
// chunks have not changed since is left alone.
func (t *lenTable) compact() {
	if t.w.replaced == 0 || t.w.fresh {
		return
	}
	size := int(t.mask + 1)
	n := 0
	for i := 0; i < len(t.w.chunks); {
		_, hi := t.span(i, t.w.chunks[i])
		n++
		i = hi
	}
	if n < 2 {
		t.w.replaced = 0
		return
	}
	var arena4 []slot4
	var arena []slot
	if t.first4 != nil {
		arena4 = make([]slot4, n*size)
	} else {
		arena = make([]slot, n*size)
	}
	off := 0
	for i := 0; i < len(t.w.chunks); {
		c := t.w.chunks[i]
		lo, hi := t.span(i, c)
		nc := &chunk{depth: c.depth, n: c.n}
		if arena4 != nil {
			nc.slots4 = arena4[off : off+size : off+size]
			copy(nc.slots4, c.slots4)
		} else {
			nc.slots = arena[off : off+size : off+size]
			copy(nc.slots, c.slots)
		}
		off += size
		t.set(lo, hi, nc)
		i = hi
	}
	t.w.replaced = 0
}
