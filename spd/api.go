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
// (0 = any) and port range (the whole range 0-65535 = any; ignored when the
// protocol is any, so Selector{Prefix: p} matches all of p). Its text form is
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
	Src, Dst netip.Addr
	Proto    uint8
	// SrcPort and DstPort are zero when the protocol has no ports or the
	// packet is a non-first fragment; for ICMP and ICMPv6 both hold
	// type<<8 | code (see ParsePacket).
	SrcPort, DstPort uint16
}

// ParsePacket is in packet.go; ParseSelector and the Selector methods in
// selector.go; AutoPriority in priority.go; DB and Policy.MatchesInbound in
// db.go.
