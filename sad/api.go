package sad

import (
	"net/netip"
	"sync/atomic"
	"time"

	"github.com/esptun/esptun/crypto"
	"github.com/esptun/esptun/esp"
	"github.com/esptun/esptun/spd"
)

// DropReason says why a packet was dropped. Reasons index SA.Drops and the
// global counters.
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
// passed to SA.Account.
type Lifetime struct {
	SoftTime, HardTime       time.Duration
	SoftBytes, HardBytes     uint64
	SoftPackets, HardPackets uint64
}

// SA is one IPsec SA. Fields above the line are set before Add and never
// change; the rest are updated atomically by the data path. (Fields are
// ordered so that the struct packs without padding into 320 bytes, the
// allocator's size class below 352: two SAs per Child SA.)
type SA struct {
	Name      string // e.g. "manual/site"
	SPI       uint32
	PolicyID  uint32 // SPD policy this SA serves
	Dir       Direction
	ESN       bool
	Encap     bool // ESP-in-UDP (RFC 3948) rather than raw ESP
	Cipher    crypto.ESPCipher
	Local     []spd.Selector // selectors negotiated or configured
	Remote    []spd.Selector
	LocalAddr netip.Addr // outer local address (may be invalid = any)
	Lifetime  Lifetime
	Created   time.Time
	// Replay is the inbound anti-replay window (nil on outbound SAs).
	Replay *esp.ReplayWindow

	// ---- data path state ----
	peer     atomic.Pointer[netip.AddrPort] // outer destination (outbound) / last source (inbound)
	seq      atomic.Uint64                  // outbound: last sequence number handed out
	Packets  atomic.Uint64
	Bytes    atomic.Uint64
	Drops    [NumDropReasons]atomic.Uint64
	db       atomic.Pointer[DB] // set by Add; events go to its callback
	inflight atomic.Int64       // data path goroutines between Acquire and Release
	dead     atomic.Bool
	softHit  atomic.Bool
	hardHit  atomic.Bool
	deleted  atomic.Bool // Delete has been called
	wiped    atomic.Bool // Cipher.Wipe has been called
}

// The SA's methods are in sa.go, the DB in db.go.

// Event reports a lifetime crossing.
type Event struct {
	SA   *SA
	Hard bool   // false: soft (rekey now); true: hard (SA is dead)
	Why  string // "time", "bytes", "packets", "seq"
}
