package sad

import (
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// ErrDuplicateSPI is returned by Add for an inbound SA whose SPI is installed.
var ErrDuplicateSPI = errors.New("sad: inbound SPI already installed")

const numShards = 256

// shardMap is one shard of an index: an immutable map behind an atomic
// pointer, replaced whole by writers (copy-on-write).
type shardMap struct {
	m atomic.Pointer[map[uint32]*SA]
}

func (s *shardMap) get(k uint32) *SA {
	if m := s.m.Load(); m != nil {
		return (*m)[k]
	}
	return nil
}

// withLocked returns a copy of the shard's map with k set to sa, or deleted
// if sa is nil, and publishes it. The caller holds DB.mu.
func (s *shardMap) withLocked(k uint32, sa *SA) {
	var old map[uint32]*SA
	if p := s.m.Load(); p != nil {
		old = *p
	}
	m := make(map[uint32]*SA, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	if sa != nil {
		m[k] = sa
	} else {
		delete(m, k)
	}
	s.m.Store(&m)
}

func (s *shardMap) each(f func(*SA)) {
	if m := s.m.Load(); m != nil {
		for _, sa := range *m {
			f(sa)
		}
	}
}

// shardOf spreads SPIs and policy IDs, which may be sequential, over the
// shards (Fibonacci hashing).
func shardOf(k uint32) int { return int((k * 0x9e3779b1) >> 24) }

// DB is the SAD. Inbound SAs are found by SPI, outbound SAs by the SPD
// policy they serve. Lookups are lock-free and allocation-free: each index is
// a direct-mapped table indexed by the key's low bits, with a sharded
// copy-on-write map for keys whose slot is taken (see index). A writer copies
// one chunk of 64 slots, or when the table doubles, the table. Writers (Add,
// Delete) are serialised by a mutex that readers never take.
//
// The zero value is a DB without an events callback, ready for use.
type DB struct {
	events func(Event)

	in  index // SPI -> inbound SA
	out index // policy ID -> outbound SA

	mu sync.Mutex // serialises writers
	// retired holds outbound SAs replaced by a newer SA of their policy and
	// not yet deleted, so that Tick and All still see them. Written under
	// mu, read lock-free.
	retired atomic.Pointer[[]*SA]

	drops        [NumDropReasons]atomic.Uint64
	deletedDrops [NumDropReasons]atomic.Uint64

	lastIdleSweep time.Time // Tick's last IdleCiphers; only Tick's caller touches it
}

// CipherIdleAfter is how long an SA carries no traffic before Tick drops
// the cipher state its Cipher made from the key (see IdleCiphers): between
// one and two of these periods.
const CipherIdleAfter = 5 * time.Minute

// idler is a Cipher whose state, made from its key on first use, can be
// dropped and made again (crypto's AEAD ciphers).
type idler interface{ Idle() }

// New returns an empty DB. events, if not nil, is called on soft and hard
// lifetime crossings from whichever goroutine noticed them (a data path
// worker in ReserveSeq or Account, the caller of Tick), never with a DB lock
// held; it must not block for long. It may call Add and Delete.
func New(events func(Event)) *DB {
	return &DB{events: events}
}

// Add installs sa. An inbound SA needs an SPI not installed yet
// (ErrDuplicateSPI). An outbound SA replaces the one its policy had
// (make-before-break): Outbound returns the new SA at once, while the old one
// stays valid, and visible to Tick and All, until Delete is called for it.
// SPI 0 is rejected (RFC 4303 2.1: reserved for local use, never sent). A
// zero Created is set to the current time. The SA's fields above the line
// must not change once it is added.
func (db *DB) Add(sa *SA) error {
	if sa == nil {
		return errors.New("sad: nil SA")
	}
	if sa.SPI == 0 {
		return fmt.Errorf("sad: SA %s: SPI 0 is reserved (RFC 4303 2.1)", sa.Name)
	}
	if sa.Dir != Inbound && sa.Dir != Outbound {
		return fmt.Errorf("sad: SA %s: unknown direction %d", sa.Name, sa.Dir)
	}
	db.mu.Lock()
	defer db.mu.Unlock()
	if sa.has(flagDead) {
		return fmt.Errorf("sad: SA %s (SPI %08x) is dead", sa.Name, sa.SPI)
	}
	if other := sa.db.Load(); other != nil {
		return fmt.Errorf("sad: SA %s (SPI %08x) is already installed", sa.Name, sa.SPI)
	}
	if sa.Created.IsZero() {
		sa.Created = time.Now()
	}
	switch sa.Dir {
	case Inbound:
		if db.in.get(sa.SPI) != nil {
			return fmt.Errorf("%w: %08x (%s)", ErrDuplicateSPI, sa.SPI, sa.Name)
		}
		sa.db.Store(db)
		db.in.setLocked(sa.SPI, sa)
	case Outbound:
		old := db.out.get(sa.PolicyID)
		sa.db.Store(db)
		db.out.setLocked(sa.PolicyID, sa)
		if old != nil {
			db.setRetiredLocked(append(db.retiredList(), old))
		}
	}
	return nil
}

// Delete marks sa dead, removes it from the DB and wipes its keys: at once
// if no data path goroutine holds it (see SA.Acquire), else at the last
// Release. No lifetime Event is raised for it afterwards. Deleting an SA
// twice, or one never added, is harmless. An outbound SA's policy keeps the
// SA that replaced it; deleting the current outbound SA leaves the policy
// without one, even if an older SA is still installed.
func (db *DB) Delete(sa *SA) {
	if sa == nil {
		return
	}
	db.mu.Lock()
	// No events from now on. Order matters (see Acquire and Release):
	// dead, which Acquire checks, is stored no later than deleted, which
	// Release checks (here in the same atomic operation), and both before
	// inflight is read below. A Release that sees deleted thus knows that
	// no Acquire can succeed any more.
	sa.flags.Or(flagSoftHit | flagHardHit | flagDead | flagDeleted)
	if sa.db.Load() == db {
		switch sa.Dir {
		case Inbound:
			db.in.deleteLocked(sa.SPI, sa)
		case Outbound:
			db.out.deleteLocked(sa.PolicyID, sa)
			if r := db.retiredList(); slices.Contains(r, sa) {
				db.setRetiredLocked(slices.DeleteFunc(slices.Clone(r), func(x *SA) bool { return x == sa }))
			}
		}
	}
	db.mu.Unlock()
	if sa.inflight.Load() == 0 {
		sa.wipe()
	}
}

func (db *DB) retiredList() []*SA {
	if r := db.retired.Load(); r != nil {
		return *r
	}
	return nil
}

// setRetiredLocked publishes r, which must be a slice no reader has seen.
func (db *DB) setRetiredLocked(r []*SA) {
	r = slices.Clip(r)
	db.retired.Store(&r)
}

// Inbound returns the inbound SA with this SPI, or nil. Lock-free and
// allocation-free.
func (db *DB) Inbound(spi uint32) *SA {
	return db.in.get(spi)
}

// Outbound returns the current outbound SA of the SPD policy, or nil.
// Lock-free and allocation-free.
func (db *DB) Outbound(policyID uint32) *SA {
	return db.out.get(policyID)
}

// each calls f for every installed SA, without locks.
func (db *DB) each(f func(*SA)) {
	db.in.each(f)
	db.out.each(f)
	for _, sa := range db.retiredList() {
		f(sa)
	}
}

// All returns every installed SA (inbound, outbound and replaced outbound
// SAs not yet deleted), in no particular order. For status; it allocates.
func (db *DB) All() []*SA {
	var all []*SA
	db.each(func(sa *SA) { all = append(all, sa) })
	return all
}

// Tick checks the time lifetimes of every installed SA against now, raising
// each Event at most once; times count from SA.Created. The owner calls it
// about once a second. It takes no lock, so events are raised from the
// caller's goroutine with none held.
func (db *DB) Tick(now time.Time) {
	if db.lastIdleSweep.IsZero() {
		db.lastIdleSweep = now
	} else if now.Sub(db.lastIdleSweep) >= CipherIdleAfter {
		db.lastIdleSweep = now
		db.IdleCiphers()
	}
	db.each(func(sa *SA) {
		if sa.has(flagDead) {
			return
		}
		lt := sa.Lifetime
		if lt == nil {
			return
		}
		age := now.Sub(sa.Created)
		switch {
		case lt.HardTime != 0 && age >= lt.HardTime:
			sa.expire("time")
		case lt.SoftTime != 0 && age >= lt.SoftTime:
			sa.soft("time")
		}
	})
}

// IdleCiphers drops the cipher state of every SA that has carried no
// traffic (no Account) since the previous call, and starts a new period
// for the others. A gateway's SAs are mostly idle at any moment, and an
// AES-GCM state is 768 bytes; the next packet makes it again from the
// key. Tick calls it every CipherIdleAfter. Lock-free: a data path
// goroutine in the middle of a Seal or Open keeps the state it loaded.
func (db *DB) IdleCiphers() {
	db.each(func(sa *SA) {
		if sa.has(flagUsed) {
			sa.flags.And(^flagUsed)
			return
		}
		if c, ok := sa.Cipher.(idler); ok {
			c.Idle()
		}
	})
}

// GlobalDrop counts n packets dropped for reason r that belong to no SA
// (unknown SPI, no policy); unknown reasons are ignored. Allocation-free.
func (db *DB) GlobalDrop(r DropReason, n uint64) {
	if r >= 0 && r < NumDropReasons {
		db.drops[r].Add(n)
	}
}

// GlobalDrops returns the counters of GlobalDrop.
func (db *DB) GlobalDrops() [NumDropReasons]uint64 {
	return loadDrops(&db.drops)
}

// DeletedDrops returns the drops counted on SAs that have since been
// deleted: an SA's counters move here once no data path goroutine holds it,
// so that GlobalDrops, DeletedDrops and the drops of the SAs still installed
// together account for every dropped packet.
func (db *DB) DeletedDrops() [NumDropReasons]uint64 {
	return loadDrops(&db.deletedDrops)
}

func loadDrops(c *[NumDropReasons]atomic.Uint64) [NumDropReasons]uint64 {
	var d [NumDropReasons]uint64
	for i := range d {
		d[i] = c[i].Load()
	}
	return d
}
