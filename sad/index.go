package sad

import (
	"crypto/rand"
	"encoding/binary"
	"sync/atomic"
)

// index maps a uint32 key (inbound SPI, or outbound policy ID) to an SA.
//
// Most keys live in a direct-mapped table: key k sits in slot k & mask, and
// a lookup is one array index and one comparison, whatever the number of
// SAs. esptun picks its inbound SPIs (DB.NewSPI) so that their slot is free,
// and the IKE layer numbers policies sequentially, so in practice every key
// gets its own slot. A key whose slot is taken (a configured SPI, a race
// between two new SPIs) goes to a sharded copy-on-write map instead, which
// lookups consult only when it is not empty.
//
// Readers take no lock: the table is immutable but for its chunk pointers,
// and a chunk is never changed once published. A writer (holding DB.mu)
// copies the one chunk of 64 slots (1 KiB) it changes. When the table gets
// half full it doubles: every key moves to slot k & newMask, which cannot
// collide for keys that had their own slot before (distinct modulo 2^n
// means distinct modulo 2^(n+1)), and keys from the map move into the table
// where their new slot is free.
type index struct {
	tab   atomic.Pointer[table]
	extra [numShards]shardMap // keys whose slot was taken
	nX    atomic.Int64        // number of keys in extra
	n     int                 // keys in the table and in extra; guarded by DB.mu
}

const (
	chunkBits = 6
	chunkLen  = 1 << chunkBits

	minTableSlots = 4 * chunkLen
	// maxTableSlots caps the table (16 B per slot, 64 MiB); beyond
	// 2^21 SAs further keys go to the map.
	maxTableSlots = 1 << 22
)

type slot struct {
	key uint32
	sa  *SA // nil: empty
}

type chunk [chunkLen]slot

type table struct {
	mask   uint32
	chunks []atomic.Pointer[chunk] // nil: all slots empty
}

func newTable(slots int) *table {
	return &table{mask: uint32(slots - 1), chunks: make([]atomic.Pointer[chunk], slots/chunkLen)}
}

// slotOf returns k's slot in t, or nil if its chunk is empty.
func (t *table) slotOf(k uint32) *slot {
	i := k & t.mask
	if c := t.chunks[i>>chunkBits].Load(); c != nil {
		return &c[i&(chunkLen-1)]
	}
	return nil
}

// get returns the SA under k, or nil. Lock-free and allocation-free.
func (x *index) get(k uint32) *SA {
	if t := x.tab.Load(); t != nil {
		if s := t.slotOf(k); s != nil && s.key == k && s.sa != nil {
			return s.sa
		}
	}
	if x.nX.Load() == 0 {
		return nil
	}
	return x.extra[shardOf(k)].get(k)
}

// slotFree reports whether k would get a slot of its own in the table.
func (x *index) slotFree(k uint32) bool {
	t := x.tab.Load()
	if t == nil {
		return true
	}
	s := t.slotOf(k)
	return s == nil || s.sa == nil
}

// setSlotLocked publishes t's chunk of slot k with the slot set to sa (nil:
// emptied). The caller holds DB.mu.
func (t *table) setSlotLocked(k uint32, sa *SA) {
	i := k & t.mask
	p := &t.chunks[i>>chunkBits]
	c := new(chunk)
	if old := p.Load(); old != nil {
		*c = *old
	}
	c[i&(chunkLen-1)] = slot{key: k, sa: sa}
	if sa == nil && *c == (chunk{}) {
		p.Store(nil)
		return
	}
	p.Store(c)
}

// setLocked sets k to sa, replacing the SA k had. The caller holds DB.mu.
func (x *index) setLocked(k uint32, sa *SA) {
	t := x.tab.Load()
	if t == nil {
		t = newTable(minTableSlots)
		x.tab.Store(t)
	}
	if s := t.slotOf(k); s != nil && s.sa != nil && s.key == k {
		t.setSlotLocked(k, sa) // replace in place
		return
	}
	if x.nX.Load() > 0 {
		if sh := &x.extra[shardOf(k)]; sh.get(k) != nil {
			sh.withLocked(k, sa)
			return
		}
	}
	x.n++
	if 2*x.n > len(t.chunks)*chunkLen && len(t.chunks)*chunkLen < maxTableSlots {
		t = x.growLocked(t)
	}
	if s := t.slotOf(k); s == nil || s.sa == nil {
		t.setSlotLocked(k, sa)
		return
	}
	x.extra[shardOf(k)].withLocked(k, sa)
	x.nX.Add(1)
}

// deleteLocked removes k if it maps to sa. The caller holds DB.mu.
func (x *index) deleteLocked(k uint32, sa *SA) {
	if t := x.tab.Load(); t != nil {
		if s := t.slotOf(k); s != nil && s.key == k && s.sa == sa {
			t.setSlotLocked(k, nil)
			x.n--
			return
		}
	}
	if x.nX.Load() > 0 {
		if sh := &x.extra[shardOf(k)]; sh.get(k) == sa {
			sh.withLocked(k, nil)
			x.nX.Add(-1)
			x.n--
		}
	}
}

// growLocked publishes a table twice the size of t holding t's keys and as
// many keys of extra as get a slot, then removes those from extra. Readers
// see each key in the old table, the new one or extra at every moment.
func (x *index) growLocked(t *table) *table {
	nt := newTable(2 * len(t.chunks) * chunkLen)
	var fresh []*chunk // chunks of nt, filled before publication
	fresh = make([]*chunk, len(nt.chunks))
	put := func(k uint32, sa *SA) bool {
		i := k & nt.mask
		c := fresh[i>>chunkBits]
		if c == nil {
			c = new(chunk)
			fresh[i>>chunkBits] = c
		}
		if c[i&(chunkLen-1)].sa != nil {
			return false
		}
		c[i&(chunkLen-1)] = slot{key: k, sa: sa}
		return true
	}
	for i := range t.chunks {
		if c := t.chunks[i].Load(); c != nil {
			for _, s := range c {
				if s.sa != nil {
					put(s.key, s.sa) // never collides, see index
				}
			}
		}
	}
	var moved []uint32
	if x.nX.Load() > 0 {
		for i := range x.extra {
			if m := x.extra[i].m.Load(); m != nil {
				for k, sa := range *m {
					if put(k, sa) {
						moved = append(moved, k)
					}
				}
			}
		}
	}
	for i, c := range fresh {
		if c != nil {
			nt.chunks[i].Store(c)
		}
	}
	x.tab.Store(nt)
	for _, k := range moved {
		x.extra[shardOf(k)].withLocked(k, nil)
		x.nX.Add(-1)
	}
	return nt
}

// each calls f for every SA in the index, without locks.
func (x *index) each(f func(*SA)) {
	if t := x.tab.Load(); t != nil {
		for i := range t.chunks {
			if c := t.chunks[i].Load(); c != nil {
				for j := range c {
					if c[j].sa != nil {
						f(c[j].sa)
					}
				}
			}
		}
	}
	if x.nX.Load() > 0 {
		for i := range x.extra {
			x.extra[i].each(f)
		}
	}
}

// NewSPI returns a random SPI for a new inbound SA: at least 256 (RFC 4303
// 2.1: 1-255 are reserved), not installed, and, as far as the DB can tell,
// one whose slot in the inbound table is free, so that Inbound finds it with
// one array index. Its low bits are that slot's number, chosen at random
// among the free ones, and the rest is random, so SPIs stay unpredictable.
// Two SPIs handed out before either SA is added may share a slot; the second
// SA then takes the slower path, nothing worse. Safe for concurrent use.
func (db *DB) NewSPI() uint32 {
	var b [64]byte
	for {
		_, _ = rand.Read(b[:])
		for i := 0; i < len(b); i += 4 {
			v := binary.LittleEndian.Uint32(b[i:])
			if v >= 256 && db.in.slotFree(v) && db.in.get(v) == nil {
				return v
			}
		}
		// Table and map full enough to miss 16 times: take any SPI not
		// installed.
		v := binary.LittleEndian.Uint32(b[:])
		if v >= 256 && db.in.get(v) == nil {
			return v
		}
	}
}
