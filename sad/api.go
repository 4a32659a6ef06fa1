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

// String returns the reason's name as shown by `esptun status` ("auth",
// "replay", "policy", "malformed", "no_sa", "expired").
//
//	func (r DropReason) String() string

// Direction of an SA.
type Direction uint8

const (
	Inbound Direction = iota
	Outbound
)

// Lifetime limits an SA; zero fields are unlimited. Soft limits raise
// EventSoft once (time to rekey), hard limits raise EventHard once and kill
// the SA.
type Lifetime struct {
	SoftTime, HardTime       time.Duration
	SoftBytes, HardBytes     uint64
	SoftPackets, HardPackets uint64
}

// SA is one IPsec SA. Fields above the line are set before Add and never
// change; the rest are updated atomically by the data path.
type SA struct {
	Name      string // e.g. "manual/site"
	Dir       Direction
	SPI       uint32
	PolicyID  uint32 // SPD policy this SA serves
	Cipher    crypto.ESPCipher
	ESN       bool
	Local     []spd.Selector // selectors negotiated or configured
	Remote    []spd.Selector
	LocalAddr netip.Addr // outer local address (may be invalid = any)
	Encap     bool       // ESP-in-UDP (RFC 3948) rather than raw ESP
	Lifetime  Lifetime
	Created   time.Time
	// Replay is the inbound anti-replay window (nil on outbound SAs).
	Replay *esp.ReplayWindow

	// ---- data path state ----
	peer    atomic.Pointer[netip.AddrPort] // outer destination (outbound) / last source (inbound)
	seq     atomic.Uint64                  // outbound: last sequence number handed out
	dead    atomic.Bool
	Packets atomic.Uint64
	Bytes   atomic.Uint64
	Drops   [NumDropReasons]atomic.Uint64
	softHit atomic.Bool
	hardHit atomic.Bool
}

// Methods (implemented in sa.go):
//
//	func (sa *SA) Peer() netip.AddrPort / SetPeer(netip.AddrPort)
//	// ReserveSeq hands out n consecutive outbound sequence numbers with one
//	// atomic add and returns the first. ok is false when fewer than n remain
//	// before the hard limit (2^32-1 without ESN, 2^64-1 with; RFC 4303 3.3.3:
//	// never wrap); then the SA is marked dead and EventHard raised.
//	func (sa *SA) ReserveSeq(n int) (first uint64, ok bool)
//	func (sa *SA) SetSeq(last uint64)          // start near a limit (tests)
//	func (sa *SA) Dead() bool
//	func (sa *SA) Account(packets, bytes uint64) // adds traffic and checks byte/packet lifetimes
//	func (sa *SA) Drop(r DropReason, n uint64)
//
// DB (implemented in db.go):
//
//	func New(events func(Event)) *DB           // events is called (from any goroutine, never with a lock held) on soft/hard expiry
//	func (db *DB) Add(sa *SA) error           // inbound: unique SPI; outbound: replaces the policy's SA (make-before-break)
//	func (db *DB) Delete(sa *SA)              // marks it dead, wipes its keys, removes it
//	func (db *DB) Inbound(spi uint32) *SA     // lock-free, allocation-free
//	func (db *DB) Outbound(policyID uint32) *SA
//	func (db *DB) All() []*SA                 // for status; allocates
//	func (db *DB) Tick(now time.Time)         // checks time lifetimes; the owner calls it every second
//	func (db *DB) GlobalDrop(r DropReason, n uint64) / GlobalDrops() [NumDropReasons]uint64
//
// Event reports a lifetime crossing.
type Event struct {
	SA   *SA
	Hard bool // false: soft (rekey now); true: hard (SA is dead)
	Why  string // "time", "bytes", "packets", "seq"
}
