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
// Index: per address family and per distinct remote prefix length, a map from
// the masked remote prefix to the policies with that remote selector, in
// order. A lookup masks the destination once per distinct length, so its cost
// grows with the number of distinct remote prefix lengths, not with the
// number of policies. The maps are split into shards so that Add and Remove
// copy a few hundred entries, not the whole table.
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
	shards [numShards]map[addrKey][]entry
}

// order is a policy's place in the SPD: Priority, then ID.
type order uint64

func orderOf(p *Policy) order { return order(p.Priority)<<32 | order(p.ID) }

// entry is one remote selector of one policy. Its prefix is the bucket's
// key, so only protocol and ports are left to check.
type entry struct {
	ord      order
	pol      *Policy
	proto    uint8
	portLow  uint16
	portHigh uint16
}

func (e *entry) matches(proto uint8, port uint16) bool {
	return e.proto == 0 || (e.proto == proto && port >= e.portLow && port <= e.portHigh)
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

func (k addrKey) shard() int {
	h := (k.hi ^ k.lo) * 0x9e3779b97f4a7c15
	return int(h >> 56)
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
	if s == nil || !p.Dst.IsValid() {
		return nil
	}
	fi := s.fam[family(p.Dst)]
	if fi == nil {
		return nil
	}
	dst := keyOf(p.Dst)
	var best *Policy
	bestOrd := order(math.MaxUint64)
	for _, t := range fi.tables {
		if t.minOrd >= bestOrd {
			break // tables are sorted by minOrd
		}
		k := dst.mask(t.bits)
		bucket := t.shards[k.shard()][k]
		for i := range bucket {
			e := &bucket[i]
			if e.ord >= bestOrd {
				break
			}
			if e.matches(p.Proto, p.DstPort) && matchAny(e.pol.Local, p.Src, p.Proto, p.SrcPort) {
				best, bestOrd = e.pol, e.ord
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
// touches. Buckets (entry slices) are never modified in place.
type builder struct {
	s     *snapshot
	owned map[any]bool // *famIndex, *lenTable and shardRef created by this builder
	dirty [2]bool      // family whose tables need sorting
}

type shardRef struct {
	t *lenTable
	i int
}

func newBuilder(old *snapshot) *builder {
	b := &builder{s: &snapshot{}, owned: make(map[any]bool)}
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

// shardFor returns shard i of t, owned by the builder.
func (b *builder) shardFor(t *lenTable, i int) map[addrKey][]entry {
	ref := shardRef{t, i}
	if !b.owned[ref] {
		m := make(map[addrKey][]entry, len(t.shards[i])+1)
		for k, v := range t.shards[i] {
			m[k] = v
		}
		t.shards[i] = m
		b.owned[ref] = true
	}
	return t.shards[i]
}

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
		m := b.shardFor(t, k.shard())
		old := m[k]
		i, _ := slices.BinarySearchFunc(old, ord, func(e entry, o order) int {
			if e.ord <= o {
				return -1 // after equal orders: keep insertion order
			}
			return 1
		})
		e := entry{ord: ord, pol: p, proto: rs.Proto, portLow: rs.PortLow, portHigh: rs.PortHigh}
		m[k] = slices.Insert(slices.Clip(old), i, e)
		t.n++
		t.minOrd = min(t.minOrd, ord)
		b.dirty[f] = true
	}
}

func (b *builder) remove(p *Policy) {
	for _, rs := range p.Remote {
		f, bits, k := selectorPlace(rs)
		t := b.tableFor(f, bits, false)
		if t == nil {
			continue
		}
		m := b.shardFor(t, k.shard())
		old := m[k]
		kept := make([]entry, 0, len(old))
		for _, e := range old {
			if e.pol != p {
				kept = append(kept, e)
			}
		}
		t.n -= len(old) - len(kept)
		if len(kept) == 0 {
			delete(m, k)
		} else {
			m[k] = kept
		}
		b.dirty[f] = true
	}
}

// finish drops empty tables, orders tables by minOrd and returns the
// snapshot, which must not be changed afterwards.
func (b *builder) finish() *snapshot {
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
