package spd

import (
	"cmp"
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
// DB is safe for concurrent use. Lookups never block or allocate; Replace,
// Add and Remove are serialised among themselves. Replace publishes a new
// index at once; Add and Remove change the current one in place, each
// remote selector in one atomic step, which lookups see at once. Installed
// policies are shared with the index: they must not be modified afterwards
// (Remove and Add a changed copy instead).
//
// Index: per address family and per distinct remote prefix length, a hash
// table from the masked remote prefix to the policies with that remote
// selector, in order. A lookup masks the destination once per distinct
// length, so its cost grows with the number of distinct remote prefix
// lengths, not with the number of policies. The tables are made of small
// chunks (see lenTable), so that Add and Remove copy one chunk, not a whole
// table.
type DB struct {
	snap atomic.Pointer[snapshot]

	mu   sync.Mutex         // serialises writers
	byID map[uint32]*Policy // installed policies; guarded by mu
}

// snapshot is one version of the index; fam[0] is IPv4, fam[1] IPv6. It is
// immutable but for the tables' directory entries (see lenTable).
type snapshot struct {
	fam [2]*famIndex
}

type famIndex struct {
	tables []lenTable // sorted by minOrd, lowest first
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

// hash mixes both halves of k and a seed (splitmix64's finaliser): the top
// bits pick the directory entry, the low bits the slot. Distinct IPv4 keys
// have distinct hashes.
func (k addrKey) hash(seed uint64) uint64 {
	h := k.hi ^ seed ^ k.lo*0x9e3779b97f4a7c15
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
	if p.Dst.Is4() {
		if fi := s.fam[0]; fi != nil {
			return fi.lookup4(p)
		}
		return nil
	}
	if fi := s.fam[1]; fi != nil {
		return fi.lookup6(p)
	}
	return nil
}

// lookup4 is LookupOutbound in the IPv4 tables. Its slots hold priorities,
// not orders: it reads the best policy's ID only when priorities tie.
func (fi *famIndex) lookup4(p *Packet) *Policy {
	d4 := p.Dst.As4()
	dst := binary.BigEndian.Uint32(d4[:])
	var src uint32
	srcV4 := p.Src.Is4()
	if srcV4 {
		s4 := p.Src.As4()
		src = binary.BigEndian.Uint32(s4[:])
	}
	var best *Policy
	var bestPrio uint32 // best's priority
	for ti := range fi.tables {
		t := &fi.tables[ti]
		if best != nil && !earlier(uint32(t.minOrd>>32), uint32(t.minOrd), bestPrio, best) {
			break // tables are sorted by minOrd
		}
		k := dst & mask4(uint8(t.bits-96))
		h := key4(k).hash(t.seed)
		first := t.chunkAt4(h)
		for i := h & t.mask; ; i = (i + 1) & t.mask {
			s := slotAt4(first, i)
			if s.pol == nil {
				break
			}
			if s.key != k {
				continue
			}
			if best != nil && (s.prio > bestPrio || s.prio == bestPrio && s.pol.ID >= best.ID) {
				break // the key's later slots order after this one
			}
			if s.matches(p, src, srcV4) {
				best, bestPrio = s.pol, s.prio
				break
			}
		}
		if t.side != nil {
			es := t.side.m[key4(k)]
			srcKey := key4(src)
			if !srcV4 {
				srcKey = keyOf(p.Src)
			}
			for i := range es {
				if best != nil && !earlier(uint32(es[i].ord>>32), uint32(es[i].ord), bestPrio, best) {
					break
				}
				if es[i].matches(p, srcKey, !srcV4) {
					best, bestPrio = es[i].pol, uint32(es[i].ord>>32)
					break
				}
			}
		}
	}
	return best
}

// earlier reports whether (prio, id) orders before best, whose priority is
// bestPrio; it reads best.ID only if the priorities are equal.
func earlier(prio, id, bestPrio uint32, best *Policy) bool {
	if prio != bestPrio {
		return prio < bestPrio
	}
	return id < best.ID
}

// lookup6 is LookupOutbound in the IPv6 tables.
func (fi *famIndex) lookup6(p *Packet) *Policy {
	dst, src, srcV6 := keyOf(p.Dst), keyOf(p.Src), !p.Src.Is4()
	var best *Policy
	bestOrd := order(math.MaxUint64)
	for ti := range fi.tables {
		t := &fi.tables[ti]
		if t.minOrd >= bestOrd {
			break // tables are sorted by minOrd
		}
		k := dst.mask(t.bits)
		h := k.hash(t.seed)
		first := t.chunkAt(h)
		for i := h & t.mask; ; i = (i + 1) & t.mask {
			s := slotAt(first, i)
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
		if t.side != nil {
			es := t.side.m[k]
			for i := range es {
				if es[i].ord >= bestOrd {
					break
				}
				if es[i].matches(p, src, srcV6) {
					best, bestOrd = es[i].pol, es[i].ord
					break
				}
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
	s := build(policies)
	db.mu.Lock()
	defer db.mu.Unlock()
	db.byID = byID
	db.snap.Store(s)
	return nil
}

// build returns a snapshot of policies, built where no reader sees it.
func build(policies []*Policy) *snapshot {
	type item struct {
		t int // in tables
		k addrKey
		e entry
	}
	var items []item
	var tables []lenTable
	index := make(map[[2]int]int)
	for _, p := range policies {
		ord := orderOf(p)
		for _, rs := range p.Remote {
			f, bits, k := selectorPlace(rs)
			i, ok := index[[2]int{f, bits}]
			if !ok {
				i = len(tables)
				index[[2]int{f, bits}] = i
				tables = append(tables, newLenTable(bits, f == 0))
			}
			items = append(items, item{i, k, newEntry(p, ord, rs)})
		}
	}
	// In order, every entry goes after those under its key: no chunk is
	// rebuilt to keep a key's entries in order.
	slices.SortStableFunc(items, func(x, y item) int { return cmp.Compare(x.e.ord, y.e.ord) })
	for _, it := range items {
		tables[it.t].insert(it.k, it.e)
	}
	var fams [2][]lenTable
	for fb, i := range index {
		fams[fb[0]] = append(fams[fb[0]], tables[i])
	}
	return snapshotOf(fams)
}

// snapshotOf returns a snapshot of the non-empty tables, sorted; from now
// on readers may see them.
func snapshotOf(fams [2][]lenTable) *snapshot {
	s := &snapshot{}
	for f, tables := range fams {
		tables = slices.DeleteFunc(tables, func(t lenTable) bool { return t.w.n == 0 })
		if len(tables) == 0 {
			continue
		}
		slices.SortFunc(tables, func(x, y lenTable) int {
			if c := cmp.Compare(x.minOrd, y.minOrd); c != 0 {
				return c
			}
			return y.bits - x.bits
		})
		for _, t := range tables {
			t.w.fresh = false
		}
		s.fam[f] = &famIndex{tables: tables}
	}
	return s
}

// tables returns a copy of the snapshot's tables, per family, for a writer
// to change and publish with snapshotOf.
func (s *snapshot) tables() [2][]lenTable {
	var fams [2][]lenTable
	if s != nil {
		for f, fi := range s.fam {
			if fi != nil {
				fams[f] = slices.Clone(fi.tables)
			}
		}
	}
	return fams
}

// tableOf returns the table for bits in tables, creating it if create is
// set; nil if there is none.
func tableOf(tables *[]lenTable, f, bits int, create bool) *lenTable {
	for i := range *tables {
		if (*tables)[i].bits == bits {
			return &(*tables)[i]
		}
	}
	if !create {
		return nil
	}
	*tables = append(*tables, newLenTable(bits, f == 0))
	return &(*tables)[len(*tables)-1]
}

// Add installs one policy. It copies, per remote selector, one chunk of at
// most a few hundred slots, however many policies are installed (and now
// and then the directory, which doubles). It fails if the policy is
// invalid or its ID is installed (ErrDuplicateID).
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
	fams := db.snap.Load().tables()
	ord := orderOf(p)
	for _, rs := range p.Remote {
		f, bits, k := selectorPlace(rs)
		tableOf(&fams[f], f, bits, true).insert(k, newEntry(p, ord, rs))
	}
	db.byID[p.ID] = p
	db.snap.Store(snapshotOf(fams))
	return nil
}

// Remove uninstalls the policy with this ID, if any. Its cost is that of
// Add.
func (db *DB) Remove(id uint32) {
	db.mu.Lock()
	defer db.mu.Unlock()
	p, ok := db.byID[id]
	if !ok {
		return
	}
	delete(db.byID, id)
	fams := db.snap.Load().tables()
	for _, rs := range p.Remote {
		f, bits, k := selectorPlace(rs)
		if t := tableOf(&fams[f], f, bits, false); t != nil {
			t.remove(k, p) // all of p's entries under k: a repeat finds none
		}
	}
	db.snap.Store(snapshotOf(fams))
}

// Compact gathers each table's chunks into one allocation (see
// lenTable.compact), so that the heap spans the copies of a burst of
// installs and removals left them scattered over can go back to the OS.
// Lookups go on meanwhile; writers wait. It costs a copy of every table
// that changed since the last Compact: call it when the daemon is quiet.
func (db *DB) Compact() {
	db.mu.Lock()
	defer db.mu.Unlock()
	s := db.snap.Load()
	if s == nil {
		return
	}
	for _, fi := range s.fam {
		if fi == nil {
			continue
		}
		for i := range fi.tables {
			fi.tables[i].compact()
		}
	}
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
