package spd

import "net/netip"

// Action is what a policy does with a matching packet (RFC 4301 4.4.1).
type Action uint8

const (
	Discard Action = iota
	Bypass
	Protect
)

// Selector is one traffic selector: a prefix with an optional IP protocol
// (0 = any) and port range (the whole range 0-65535 = any). Its text form is
// swanctl's: "10.0.0.0/24", "10.0.0.1/32[tcp/443]", "::/0[udp/500-600]",
// "10.0.0.0/8[icmp]", "dynamic" is resolved by the config layer.
type Selector struct {
	Prefix   netip.Prefix
	Proto    uint8
	PortLow  uint16
	PortHigh uint16
}

// Policy is one SPD entry. Local selectors match the source of outbound
// packets (destination of inbound ones), remote selectors the other end.
type Policy struct {
	ID       uint32 // unique, chosen by the owner; the SAD keys outbound SAs by it
	Name     string // config name, e.g. "manual/site"
	Priority uint32 // lower wins; ties broken by ID
	Action   Action
	Local    []Selector
	Remote   []Selector
}

// Packet is what a lookup needs from an IP packet (see ParsePacket).
type Packet struct {
	Src, Dst         netip.Addr
	Proto            uint8
	SrcPort, DstPort uint16 // zero when the protocol has no ports or the packet is a non-first fragment
}

//	func ParsePacket(pkt []byte, p *Packet) error   // IPv4/IPv6 header (+ extension headers) to Packet; no allocation
//	func ParseSelector(s string) (Selector, error)
//	func (s Selector) String() string
//	func (s Selector) Matches(a netip.Addr, proto uint8, port uint16) bool
//	func AutoPriority(p *Policy) uint32            // strongSwan-like: narrower selectors first, shunts before protect
//	type DB struct{...}                            // zero value usable
//	func (db *DB) Replace(policies []*Policy) error // build and publish a new snapshot
//	func (db *DB) Add(p *Policy) error / Remove(id uint32)
//	func (db *DB) LookupOutbound(p *Packet) *Policy // nil = no policy (caller discards and counts)
//	func (p *Policy) MatchesInbound(pkt *Packet) bool // RFC 4301 5.2: src in Remote, dst in Local
