package sad

import (
	"net/netip"
	"strconv"
	"sync/atomic"
)

// Sequence number limits (RFC 4303 3.3.3: the sender's counter never
// wraps; the SA must be replaced before it would).
const (
	MaxSeq    = 1<<32 - 1 // without ESN
	MaxSeqESN = 1<<64 - 1 // with ESN (RFC 4303 2.2.1)

	// SeqSoftMargin is how many sequence numbers before the hard limit
	// ReserveSeq raises a soft Event (Why "seq"): 2^26, about a minute at
	// one million packets per second, time enough for a rekey.
	SeqSoftMargin = 1 << 26

	// esnSlowZone: within this distance of MaxSeqESN (or for batches this
	// large) ReserveSeq uses compare-and-swap so that the 64-bit counter
	// itself can never wrap and hand out a number twice.
	esnSlowZone = 1 << 40
)

var dropNames = [NumDropReasons]string{
	DropAuth:      "auth",
	DropReplay:    "replay",
	DropPolicy:    "policy",
	DropMalformed: "malformed",
	DropNoSA:      "no_sa",
	DropExpired:   "expired",
}

// String returns the reason's name as shown by `esptun status` ("auth",
// "replay", "policy", "malformed", "no_sa", "expired").
func (r DropReason) String() string {
	if r >= 0 && r < NumDropReasons {
		return dropNames[r]
	}
	return "DropReason(" + strconv.Itoa(int(r)) + ")"
}

// String returns "in" or "out".
func (d Direction) String() string {
	switch d {
	case Inbound:
		return "in"
	case Outbound:
		return "out"
	}
	return "Direction(" + strconv.Itoa(int(d)) + ")"
}

// Peer returns the outer peer address: the destination of outbound packets,
// or the source of the last verified inbound packet. It is the zero AddrPort
// until SetPeer is called. Safe for concurrent use; never allocates.
func (sa *SA) Peer() netip.AddrPort {
	if p := sa.peer.Load(); p != nil {
		return *p
	}
	return netip.AddrPort{}
}

// SetPeer sets the outer peer address. It allocates only when the address
// changes, so the inbound path may call it for every verified packet to
// follow NAT rebinding (RFC 3948). Safe for concurrent use.
func (sa *SA) SetPeer(ap netip.AddrPort) {
	if p := sa.peer.Load(); p != nil && *p == ap {
		return
	}
	v := new(netip.AddrPort)
	*v = ap
	sa.peer.Store(v)
}

// SetPeerOf sets the outer peer address to other's, sharing its copy
// rather than allocating one (the two SAs of a Child SA have the same
// peer). It does nothing if other has no peer address. Safe for
// concurrent use.
func (sa *SA) SetPeerOf(other *SA) {
	if p := other.peer.Load(); p != nil {
		sa.peer.Store(p)
	}
}

func (sa *SA) seqLimit() uint64 {
	if sa.ESN {
		return MaxSeqESN
	}
	return MaxSeq
}

// ReserveSeq hands out n consecutive outbound sequence numbers with one
// atomic add and returns the first; the first number an SA hands out is 1
// (RFC 4303 3.3.3). ok is false when fewer than n remain before the hard
// limit (MaxSeq without ESN, MaxSeqESN with; RFC 4303 3.3.3: never wrap),
// when the SA is dead, or when n < 1. Exhaustion marks the SA dead and raises
// a hard Event with Why "seq"; the numbers left before the limit are not
// handed out. Crossing MaxSeq-SeqSoftMargin (with ESN, MaxSeqESN-SeqSoftMargin)
// raises a soft Event with Why "seq". No number is ever handed out twice.
// Safe for concurrent use; never allocates.
func (sa *SA) ReserveSeq(n int) (first uint64, ok bool) {
	if n < 1 || sa.has(flagDead) {
		return 0, false
	}
	limit, un := sa.seqLimit(), uint64(n)
	var last uint64
	if sa.ESN && (un >= esnSlowZone || sa.seq.Load() >= limit-esnSlowZone) {
		for {
			cur := sa.seq.Load()
			if limit-cur < un {
				sa.expire("seq")
				return 0, false
			}
			if sa.seq.CompareAndSwap(cur, cur+un) {
				last = cur + un
				break
			}
		}
	} else {
		// Without ESN the 64-bit counter is 2^32 times the limit away
		// from wrapping; with ESN the slow zone above keeps it away.
		last = sa.seq.Add(un)
		if last > limit {
			sa.expire("seq")
			return 0, false
		}
	}
	if last > limit-SeqSoftMargin {
		sa.soft("seq")
	}
	return last - un + 1, true
}

// SetSeq sets the last sequence number handed out, so that the next
// ReserveSeq starts at last+1: to start near a limit in tests, or to resume
// an SA. Call it before the SA carries traffic.
func (sa *SA) SetSeq(last uint64) { sa.seq.Store(last) }

// Seq returns the last sequence number handed out (for status).
func (sa *SA) Seq() uint64 { return sa.seq.Load() }

// Dead reports whether the SA has hit a hard limit or been deleted; the data
// path drops its packets (DropExpired) and must not use it further.
func (sa *SA) Dead() bool { return sa.has(flagDead) }

// Account adds traffic to the SA's counters and checks the byte and packet
// lifetimes, raising each of the soft and hard Events at most once. Call it
// once per batch. Safe for concurrent use; never allocates (the Event
// callback aside).
func (sa *SA) Account(packets, bytes uint64) {
	if !sa.has(flagUsed) { // a load per batch; a write once per idle period
		sa.flags.Or(flagUsed)
	}
	p := sa.Packets.Add(packets)
	b := sa.Bytes.Add(bytes)
	lt := sa.Lifetime
	if lt == nil {
		return
	}
	switch {
	case lt.HardPackets != 0 && p >= lt.HardPackets:
		sa.expire("packets")
	case lt.HardBytes != 0 && b >= lt.HardBytes:
		sa.expire("bytes")
	case lt.SoftPackets != 0 && p >= lt.SoftPackets:
		sa.soft("packets")
	case lt.SoftBytes != 0 && b >= lt.SoftBytes:
		sa.soft("bytes")
	}
}

// Drop counts n packets dropped for reason r; unknown reasons are ignored.
// Safe for concurrent use. The SA's first drop allocates its counters (48
// bytes: most SAs never drop a packet); later drops never allocate.
// A drop counted on an SA that is already deleted and wiped moves on to its
// DB's DeletedDrops, so that no count leaves with the SA.
func (sa *SA) Drop(r DropReason, n uint64) {
	if r >= 0 && r < NumDropReasons {
		c := sa.drops.Load()
		if c == nil {
			c = sa.installDrops(new([NumDropReasons]atomic.Uint64))
		}
		c[r].Add(n)
		if sa.has(flagWiped) {
			sa.moveDrop(r)
		}
	}
}

// installDrops makes c the SA's drop counters unless another goroutine's
// are installed already, and returns the ones installed: of goroutines
// that race to make them, one wins and all count into its array.
func (sa *SA) installDrops(c *[NumDropReasons]atomic.Uint64) *[NumDropReasons]atomic.Uint64 {
	if sa.drops.CompareAndSwap(nil, c) {
		return c
	}
	return sa.drops.Load()
}

// Drops returns the SA's drop counters by reason (all zero if it has never
// dropped a packet, and once its counts have moved to DeletedDrops).
func (sa *SA) Drops() [NumDropReasons]uint64 {
	if c := sa.drops.Load(); c != nil {
		return loadDrops(c)
	}
	return [NumDropReasons]uint64{}
}

// moveDrop moves the SA's count for r to its DB's DeletedDrops. Swap makes
// it safe to race with wipe's own move. Without counters there is nothing
// to move: a Drop that makes them after wipe has looked sees flagWiped,
// which wipe sets first, and moves its count itself.
func (sa *SA) moveDrop(r DropReason) {
	c := sa.drops.Load()
	if c == nil {
		return
	}
	if db := sa.db.Load(); db != nil {
		if n := c[r].Swap(0); n != 0 {
			db.deletedDrops[r].Add(n)
		}
	}
}

// Acquire marks a data path goroutine as using the SA's Cipher, so that
// Delete defers Cipher.Wipe until the matching Release. It returns false,
// holding nothing, when the SA is dead; the caller then drops its packets.
// Call once per batch, not per packet.
func (sa *SA) Acquire() bool {
	sa.inflight.Add(1)
	// Seen together with Delete's store of dead and load of inflight,
	// either Delete sees this goroutine or this goroutine sees dead.
	if sa.has(flagDead) {
		sa.Release()
		return false
	}
	return true
}

// Release ends an Acquire. The last Release of a deleted SA wipes its keys.
func (sa *SA) Release() {
	if sa.inflight.Add(-1) == 0 && sa.has(flagDeleted) {
		sa.wipe()
	}
}

// wipe calls Cipher.Wipe once, and hands the SA's drop counts to its DB
// (DeletedDrops): no data path goroutine holds the SA any more, so they are
// final but for drops counted on it later, which Drop moves itself.
func (sa *SA) wipe() {
	if !sa.set(flagWiped) {
		return
	}
	if sa.Cipher != nil {
		sa.Cipher.Wipe()
	}
	for r := range NumDropReasons {
		sa.moveDrop(r)
	}
}

// soft raises the soft Event unless it or the hard one has been raised.
func (sa *SA) soft(why string) {
	if sa.set(flagSoftHit) {
		sa.emit(Event{SA: sa, Why: why})
	}
}

// expire kills the SA and raises the hard Event, once.
func (sa *SA) expire(why string) {
	if sa.set(flagHardHit) {
		sa.flags.Or(flagSoftHit | flagDead) // a rekey warning after death is noise
		sa.emit(Event{SA: sa, Hard: true, Why: why})
	}
}

func (sa *SA) emit(ev Event) {
	if db := sa.db.Load(); db != nil && db.events != nil {
		db.events(ev)
	}
}
