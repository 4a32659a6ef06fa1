package sad

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/esptun/esptun/crypto"
	"github.com/esptun/esptun/esp"
	"github.com/esptun/esptun/spd"
)

// DropReason says why a packet was dropped. Reasons index the counters of
// SA.Drops and DB.GlobalDrops.
type DropReason int

const (
	DropAuth      DropReason = iota // ICV did not verify
	DropReplay                      // sequence number seen before or left of the window
	DropPolicy                      // inner packet outside the SA's selectors, or no policy
	DropMalformed                   // truncated, bad padding, bad next header
	DropNoSA                        // unknown SPI, or policy without an SA
	DropExpired                     // SA past its hard lifetime or out of sequence numbers
	NumDropReasons
)

// Direction of an SA.
type Direction uint8

const (
	Inbound Direction = iota
	Outbound
)

// Lifetime limits an SA; zero fields are unlimited. Soft limits raise a
// soft Event once (time to rekey), hard limits raise a hard Event once and
// kill the SA. Times count from SA.Created; bytes are inner packet bytes as
// passed to SA.Account. SAs point to their Lifetime, so that the two SAs
// of a Child SA can share one; it must not change once an SA pointing to
// it is added.
type Lifetime struct {
	SoftTime, HardTime       time.Duration
	SoftBytes, HardBytes     uint64
	SoftPackets, HardPackets uint64
}

// SA is one IPsec SA. Fields above the line are set before Add and never
// change; the rest are updated atomically by the data path. (The struct is
// 240 bytes on 64-bit platforms, an allocator size class, and must stay
// within 256: two SAs per Child SA. Behind pointers is what most SAs never
// need, the drop counters, made by the first drop, and what the two SAs of
// a Child SA share, the Lifetime.)
type SA struct {
	Name     string // e.g. "manual/site"
	SPI      uint32
	PolicyID uint32 // SPD policy this SA serves
	Dir      Direction
	ESN      bool
	Encap    bool // ESP-in-UDP (RFC 3948) rather than raw ESP
	Cipher   crypto.ESPCipher
	// Owner is whatever the SA's creator needs to find from the SA (the
	// IKE layer's Child SA, for lifetime Events and NAT rebinding), so
	// that it keeps no table of its own. The SAD never looks at it.
	Owner     any
	Local     []spd.Selector // selectors negotiated or configured
	Remote    []spd.Selector
	LocalAddr netip.Addr // outer local address (may be invalid = any)
	Lifetime  *Lifetime  // nil: unlimited; may be shared with other SAs
	Created   time.Time
	// Replay is the inbound anti-replay window (nil on outbound SAs).
	Replay *esp.ReplayWindow

	// ---- data path state ----
	peer    atomic.Pointer[netip.AddrPort] // outer destination (outbound) / last source (inbound)
	seq     atomic.Uint64                  // outbound: last sequence number handed out
	Packets atomic.Uint64
	Bytes   atomic.Uint64
	// drops counts the SA's drops by reason; nil until its first (see Drop).
	drops    atomic.Pointer[[NumDropReasons]atomic.Uint64]
	db       atomic.Pointer[DB] // set by Add; events go to its callback
	inflight atomic.Int64       // data path goroutines between Acquire and Release
	flags    atomic.Uint32      // flagDead, ...: one word rather than five atomic.Bools
}

// Bits of SA.flags. Each is set once and never cleared, but flagUsed,
// which Account sets and DB.IdleCiphers clears.
const (
	flagDead    uint32 = 1 << iota // hard limit hit or deleted: the data path must not use the SA
	flagSoftHit                    // soft Event raised (or no longer wanted)
	flagHardHit                    // hard Event raised (or no longer wanted)
	flagDeleted                    // Delete has been called
	flagWiped                      // Cipher.Wipe has been called
	flagUsed                       // traffic accounted since the last IdleCiphers
)

// has reports whether any of the bits f is set.
func (sa *SA) has(f uint32) bool { return sa.flags.Load()&f != 0 }

// set sets the bit f and reports whether this call set it.
func (sa *SA) set(f uint32) bool { return sa.flags.Or(f)&f == 0 }

// The SA's methods are in sa.go, the DB in db.go.

// Event reports a lifetime crossing.
type Event struct {
	SA   *SA
	Hard bool   // false: soft (rekey now); true: hard (SA is dead)
	Why  string // "time", "bytes", "packets", "seq"
}
