package spd

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
)

// DB is the SPD. Policies are ordered by Priority, then ID (lower first), and
// a lookup returns the first policy in that order whose selectors match
// (RFC 4301 4.4.1: the SPD is an ordered database). The zero value is an
// empty DB ready for use.
//
// DB is safe for concurrent use. Lookups read an immutable snapshot and never
// block or allocate; Replace, Add and Remove are serialised among themselves
// and publish a new snapshot, which lookups see at once. Installed policies
// are shared with the snapshot: they must not be modified afterwards
// (Remove and Add a changed copy instead).
//
// Index: per address family and per distinct remote prefix length, a hash
// table from the masked remote prefix to the policies with that remote
// selector, in order. A lookup masks the destination once per distinct
// length, so its cost grows with the number of distinct remote prefix
// lengths, not with the number of policies. The tables are split into shards
// so that Add and Remove copy a few hundred entries, not the whole table.
type DB struct {
	snap atomic.Pointer[snapshot]

	mu   sync.Mutex         // serialises writers
	byID map[uint32]*Policy // installed policies; guarded by mu
}

const numShards = 256

// snapshot is one immutable version of the index; fam[0] is IPv4, fam[1] IPv6.
type snapshot struct {
	fam [2]*famIndex
}

type famIndex struct {
	tables []*lenTable // sorted by minOrd, lowest first
}

// lenTable holds the entries whose remote prefix has one length.
type lenTable struct {
	bits   int   // prefix length in 128-bit terms (IPv4 lengths + 96)
	minOrd order // no entry orders before this (a lower bound after removals)
	n      int   // number of entries
	shards [numShards]hashShard
}

// hashShard is an immutable open-addressing hash table (linear probing, at
// most half full) from masked prefix to entries. A key with several entries
// has several slots, inserted in order, so the probe sequence meets them in
// order. A slot is one cache line: a lookup that hits touches the shard
// header and one or two slots, and follows no further pointer.
type hashShard struct {
	slots []slot // len is 0 or a power of two
}

type slot struct {
	key addrKey
	e   entry // e.pol == nil: empty slot
}

// rebuild returns a new shard holding sh's entries whose policy is not in
// removed, merged with added (each bucket sorted by order). It walks sh in
// probe order, cluster by cluster, so that every key's entries are inserted,
// and thus probed, in order.
func (sh *hashShard) rebuild(removed map[*Policy]bool, added map[addrKey][]entry) hashShard {
	n := 0
	for _, s := range sh.slots {
		if s.e.pol != nil && !removed[s.e.pol] {
			n++
		}
	}
	for _, es := range added {
		n += len(es)
	}
	if n == 0 {
		return hashShard{}
	}
	size := 4
	for size < 2*n {
		size <<= 1
	}
	if len(removed) == 0 && size == len(sh.slots) && sh.appendable(added) {
		// Common case of Add: copy the slots, probe in the new entries.
		out := hashShard{slots: slices.Clone(sh.slots)}
		for k, es := range added {
			for _, e := range es {
				out.put(k, e)
			}
		}
		return out
	}
	out := hashShard{slots: make([]slot, size)}
	put := out.put
	if len(sh.slots) > 0 {
		// Start right after an empty slot: a cluster never wraps past it.
		mask := len(sh.slots) - 1
		start := 0
		for sh.slots[start].e.pol != nil {
			start++
		}
		for j := 1; j <= len(sh.slots); j++ {
			s := &sh.slots[(start+j)&mask]
			if s.e.pol == nil || removed[s.e.pol] {
				continue
			}
			// Added entries that order before this one go first.
			if es := added[s.key]; len(es) > 0 {
				i := 0
				for i < len(es) && es[i].ord < s.e.ord {
					put(s.key, es[i])
					i++
				}
				added[s.key] = es[i:]
			}
			put(s.key, s.e)
		}
	}
	for k, es := range added {
		for _, e := range es {
			put(k, e)
		}
	}
	return out
}

// put inserts e under k at the end of k's probe sequence; sh has room.
func (sh *hashShard) put(k addrKey, e entry) {
	mask := uint64(len(sh.slots) - 1)
	i := k.hash() & mask
	for sh.slots[i].e.pol != nil {
		i = (i + 1) & mask
	}
	sh.slots[i] = slot{key: k, e: e}
}

// appendable reports whether every added entry orders after all of sh's
// entries under the same key, so that put keeps each key's probe order.
func (sh *hashShard) appendable(added map[addrKey][]entry) bool {
	if len(sh.slots) == 0 {
		return true
	}
	mask := uint64(len(sh.slots) - 1)
	for k, es := range added {
		for i := k.hash() & mask; sh.slots[i].e.pol != nil; i = (i + 1) & mask {
			if sh.slots[i].key == k && sh.slots[i].e.ord > es[0].ord {
				return false
			}
		}
	}
	return true
}

// count returns the number of entries of policy p under key k.
func (sh *hashShard) count(k addrKey, p *Policy) int {
	if len(sh.slots) == 0 {
		return 0
	}
	n := 0
	mask := uint64(len(sh.slots) - 1)
	for i := k.hash() & mask; sh.slots[i].e.pol != nil; i = (i + 1) & mask {
		if sh.slots[i].key == k && sh.slots[i].e.pol == p {
			n++
		}
	}
	return n
}

// order is a policy's place in the SPD: Priority, then ID.
type order uint64

func orderOf(p *Policy) order { return order(p.Priority)<<32 | order(p.ID) }

// entry is one remote selector of one policy. Its prefix is the slot's
// key, so only protocol and ports are left to check. When the policy has one
// local selector, the entry carries it too, so that a lookup needs no
// pointer chasing until it has found its policy.
type entry struct {
	ord       order
	pol       *Policy
	local     addrKey // the local selector's masked prefix, if oneLocal
	localBits uint8   // its length in 128-bit terms
	localV6   bool
	oneLocal  bool
	proto     uint8 // protocol of both selectors if oneLocal, else of the remote one
	lPortLow  uint16
	lPortHigh uint16
	rPortLow  uint16
	rPortHigh uint16
}

func newEntry(p *Policy, ord order, remote Selector) entry {
	e := entry{ord: ord, pol: p, proto: remote.Proto, rPortLow: remote.PortLow, rPortHigh: remote.PortHigh}
	if remote.Proto == 0 {
		e.rPortLow, e.rPortHigh = 0, 0xffff
	}
	if len(p.Local) == 1 {
		l := p.Local[0]
		if l.Proto == 0 || remote.Proto == 0 || l.Proto == remote.Proto {
			e.oneLocal = true
			_, bits, k := selectorPlace(l)
			e.local, e.localBits, e.localV6 = k, uint8(bits), !l.Prefix.Addr().Is4()
			e.lPortLow, e.lPortHigh = l.PortLow, l.PortHigh
			if l.Proto == 0 {
				e.lPortLow, e.lPortHigh = 0, 0xffff
			}
			e.proto = max(l.Proto, remote.Proto)
		}
	}
	return e
}

// matches checks protocol, ports and the local side of p, whose destination
// is known to be within the remote prefix; src is p.Src as a key.
func (e *entry) matches(p *Packet, src addrKey, srcV6 bool) bool {
	if e.proto != 0 && e.proto != p.Proto {
		return false
	}
	if p.DstPort < e.rPortLow || p.DstPort > e.rPortHigh {
		return false
	}
	if !e.oneLocal {
		return matchAny(e.pol.Local, p.Src, p.Proto, p.SrcPort)
	}
	return srcV6 == e.localV6 && src.mask(int(e.localBits)) == e.local &&
		p.SrcPort >= e.lPortLow && p.SrcPort <= e.lPortHigh
}

// addrKey is a masked address as two big-endian halves (IPv4 as IPv4-mapped).
type addrKey struct{ hi, lo uint64 }

func keyOf(a netip.Addr) addrKey {
	b := a.As16()
	return addrKey{hi: binary.BigEndian.Uint64(b[:8]), lo: binary.BigEndian.Uint64(b[8:])}
}

// mask keeps the first bits (0-128) of k.
func (k addrKey) mask(bits int) addrKey {
	if bits >= 64 {
		k.lo &= ^uint64(0) << (128 - bits)
	} else {
		k.hi &= ^uint64(0) << (64 - bits)
		k.lo = 0
	}
	return k
}

// hash mixes both halves of k (splitmix64's finaliser): the top byte picks
// the shard, the low bits the slot.
func (k addrKey) hash() uint64 {
	h := k.hi ^ k.lo*0x9e3779b97f4a7c15
	h = (h ^ h>>30) * 0xbf58476d1ce4e5b9
	h = (h ^ h>>27) * 0x94d049bb133111eb
	return h ^ h>>31
}

func family(a netip.Addr) int {
	if a.Is4() {
		return 0
	}
	return 1
}

// LookupOutbound returns the first policy, in (Priority, ID) order, with a
// local selector matching the source (address, protocol, source port) and a
// remote selector matching the destination (address, protocol, destination
// port) of p, or nil if none does; the caller then discards the packet and
// counts it. It never blocks and never allocates.
func (db *DB) LookupOutbound(p *Packet) *Policy {
	s := db.snap.Load()
	if s == nil || !p.Dst.IsValid() || !p.Src.IsValid() {
		return nil
	}
	fi := s.fam[family(p.Dst)]
	if fi == nil {
		return nil
	}
	dst, src, srcV6 := keyOf(p.Dst), keyOf(p.Src), !p.Src.Is4()
	var best *Policy
	bestOrd := order(math.MaxUint64)
	for _, t := range fi.tables {
		if t.minOrd >= bestOrd {
			break // tables are sorted by minOrd
		}
		k := dst.mask(t.bits)
		h := k.hash()
		slots := t.shards[h>>56].slots
		if len(slots) == 0 {
			continue
		}
		mask := uint64(len(slots) - 1)
		for i := h & mask; ; i = (i + 1) & mask {
			s := &slots[i]
			if s.e.pol == nil {
				break
			}
			if s.key != k {
				continue
			}
			if s.e.ord >= bestOrd {
				break // the key's later slots order after this one
			}
			if s.e.matches(p, src, srcV6) {
				best, bestOrd = s.e.pol, s.e.ord
				break
			}
		}
	}
	return best
}

func matchAny(sels []Selector, a netip.Addr, proto uint8, port uint16) bool {
	for i := range sels {
		if sels[i].Matches(a, proto, port) {
			return true
		}
	}
	return false
}

// MatchesInbound reports whether the inner packet pkt, received on an SA of
// this policy, is one the policy admits: RFC 4301 5.2 step 4 requires its
// source (address, protocol, source port) to match a remote selector and its
// destination (address, protocol, destination port) a local one. It never
// allocates.
func (p *Policy) MatchesInbound(pkt *Packet) bool {
	return matchAny(p.Remote, pkt.Src, pkt.Proto, pkt.SrcPort) &&
		matchAny(p.Local, pkt.Dst, pkt.Proto, pkt.DstPort)
}

// ErrDuplicateID is returned when a policy's ID is already installed.
var ErrDuplicateID = errors.New("spd: duplicate policy ID")

func validate(p *Policy) error {
	if p == nil {
		return errors.New("spd: nil policy")
	}
	if p.Action > Protect {
		return fmt.Errorf("spd: policy %d (%s): unknown action %d", p.ID, p.Name, p.Action)
	}
	if len(p.Local) == 0 || len(p.Remote) == 0 {
		return fmt.Errorf("spd: policy %d (%s): needs at least one local and one remote selector", p.ID, p.Name)
	}
	for _, sels := range [2][]Selector{p.Local, p.Remote} {
		for _, s := range sels {
			if !s.Prefix.IsValid() {
				return fmt.Errorf("spd: policy %d (%s): selector without a valid prefix", p.ID, p.Name)
			}
			if s.Proto != 0 && s.PortLow > s.PortHigh {
				return fmt.Errorf("spd: policy %d (%s): selector %v: port range runs backwards", p.ID, p.Name, s)
			}
		}
	}
	return nil
}

// Replace installs policies in place of all installed ones, in one step:
// lookups see either the old set or the new one. It fails, changing nothing,
// if a policy is invalid (no local or remote selector, invalid prefix,
// backward port range) or two share an ID.
func (db *DB) Replace(policies []*Policy) error {
	byID := make(map[uint32]*Policy, len(policies))
	for _, p := range policies {
		if err := validate(p); err != nil {
			return err
		}
		if _, dup := byID[p.ID]; dup {
			return fmt.Errorf("%w %d (%s)", ErrDuplicateID, p.ID, p.Name)
		}
		byID[p.ID] = p
	}
	b := newBuilder(nil)
	for _, p := range policies {
		b.add(p)
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	db.byID = byID
	db.snap.Store(b.finish())
	return nil
}

// Add installs one policy. Its cost is proportional to the policies sharing
// a shard with its remote selectors (about n/256), not to all n. It fails if
// the policy is invalid or its ID is installed (ErrDuplicateID).
func (db *DB) Add(p *Policy) error {
	if err := validate(p); err != nil {
		return err
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if _, dup := db.byID[p.ID]; dup {
		return fmt.Errorf("%w %d (%s)", ErrDuplicateID, p.ID, p.Name)
	}
	if db.byID == nil {
		db.byID = make(map[uint32]*Policy)
	}
	b := newBuilder(db.snap.Load())
	b.add(p)
	db.byID[p.ID] = p
	db.snap.Store(b.finish())
	return nil
}

// Remove uninstalls the policy with this ID, if any.
func (db *DB) Remove(id uint32) {
	db.mu.Lock()
	defer db.mu.Unlock()
	p, ok := db.byID[id]
	if !ok {
		return
	}
	b := newBuilder(db.snap.Load())
	b.remove(p)
	delete(db.byID, id)
	db.snap.Store(b.finish())
}

// builder derives a new snapshot from an old one, copying on write only the
// parts it changes: the family indexes, the length tables and the shards it
// touches. Changes to a shard are collected and applied by finish, which
// rebuilds each touched shard once.
type builder struct {
	s       *snapshot
	owned   map[any]bool                     // *famIndex and *lenTable created by this builder
	added   map[shardRef]map[addrKey][]entry // new entries per touched shard, sorted by order
	removed map[*Policy]bool                 // policies whose entries go
	touched map[shardRef]bool
	dirty   [2]bool // family whose tables need sorting
}

type shardRef struct {
	t *lenTable
	i int
}

func newBuilder(old *snapshot) *builder {
	b := &builder{
		s:       &snapshot{},
		owned:   make(map[any]bool),
		added:   make(map[shardRef]map[addrKey][]entry),
		removed: make(map[*Policy]bool),
		touched: make(map[shardRef]bool),
	}
	if old != nil {
		*b.s = *old
	}
	return b
}

func (b *builder) famFor(f int) *famIndex {
	fi := b.s.fam[f]
	if fi == nil || !b.owned[fi] {
		nfi := &famIndex{}
		if fi != nil {
			nfi.tables = slices.Clone(fi.tables)
		}
		b.s.fam[f] = nfi
		b.owned[nfi] = true
		fi = nfi
	}
	return fi
}

// tableFor returns the family's table for bits, owned by the builder,
// creating it when create is set; nil if absent.
func (b *builder) tableFor(f, bits int, create bool) *lenTable {
	fi := b.famFor(f)
	for i, t := range fi.tables {
		if t.bits != bits {
			continue
		}
		if !b.owned[t] {
			nt := new(lenTable)
			*nt = *t
			fi.tables[i] = nt
			b.owned[nt] = true
			t = nt
		}
		return t
	}
	if !create {
		return nil
	}
	t := &lenTable{bits: bits, minOrd: math.MaxUint64}
	fi.tables = append(fi.tables, t)
	b.owned[t] = true
	return t
}

// selectorPlace returns the family index, 128-bit prefix length and masked
// key of a selector's prefix.
func selectorPlace(s Selector) (f, bits int, k addrKey) {
	f = family(s.Prefix.Addr())
	bits = s.Prefix.Bits()
	if f == 0 {
		bits += 96
	}
	return f, bits, keyOf(s.Prefix.Addr()).mask(bits)
}

func (b *builder) add(p *Policy) {
	ord := orderOf(p)
	for _, rs := range p.Remote {
		f, bits, k := selectorPlace(rs)
		t := b.tableFor(f, bits, true)
		ref := shardRef{t, int(k.hash() >> 56)}
		m := b.added[ref]
		if m == nil {
			m = make(map[addrKey][]entry)
			b.added[ref] = m
		}
		old := m[k]
		i, _ := slices.BinarySearchFunc(old, ord, func(e entry, o order) int {
			if e.ord <= o {
				return -1 // after equal orders: keep insertion order
			}
			return 1
		})
		m[k] = slices.Insert(old, i, newEntry(p, ord, rs))
		b.touched[ref] = true
		t.n++
		t.minOrd = min(t.minOrd, ord)
		b.dirty[f] = true
	}
}

// remove drops p's entries. It must not be mixed with add in one builder.
func (b *builder) remove(p *Policy) {
	b.removed[p] = true
	type place struct {
		t *lenTable
		k addrKey
	}
	seen := make(map[place]bool)
	for _, rs := range p.Remote {
		f, bits, k := selectorPlace(rs)
		t := b.tableFor(f, bits, false)
		if t == nil || seen[place{t, k}] {
			continue
		}
		seen[place{t, k}] = true
		ref := shardRef{t, int(k.hash() >> 56)}
		t.n -= t.shards[ref.i].count(k, p)
		b.touched[ref] = true
		b.dirty[f] = true
	}
}

// finish rebuilds the edited shards, drops empty tables, orders tables by
// minOrd and returns the snapshot, which must not be changed afterwards.
func (b *builder) finish() *snapshot {
	for ref := range b.touched {
		ref.t.shards[ref.i] = ref.t.shards[ref.i].rebuild(b.removed, b.added[ref])
	}
	for f, d := range b.dirty {
		if !d {
			continue
		}
		fi := b.famFor(f)
		fi.tables = slices.DeleteFunc(fi.tables, func(t *lenTable) bool { return t.n == 0 })
		slices.SortFunc(fi.tables, func(x, y *lenTable) int {
			switch {
			case x.minOrd < y.minOrd:
				return -1
			case x.minOrd > y.minOrd:
				return 1
			}
			return y.bits - x.bits
		})
		if len(fi.tables) == 0 {
			b.s.fam[f] = nil
		}
	}
	return b.s
}
