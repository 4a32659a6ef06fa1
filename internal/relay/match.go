package relay

import (
	"encoding/binary"
	"net/netip"
)

// MatchIKE returns a Match for IKE messages: every datagram to ikePort, and
// those to nattPort that start with the non-ESP marker, four zero bytes
// (RFC 3948 2.2).
func MatchIKE(ikePort, nattPort uint16) func(netip.AddrPort, []byte) bool {
	return func(dst netip.AddrPort, p []byte) bool {
		switch dst.Port() {
		case ikePort:
			return true
		case nattPort:
			return len(p) >= 4 && binary.BigEndian.Uint32(p) == 0
		}
		return false
	}
}

// MatchESP returns a Match for ESP packets in UDP to nattPort (RFC 3948
// 2.1): neither IKE (non-ESP marker) nor a NAT-keepalive (the single byte
// 0xFF, RFC 3948 2.3).
func MatchESP(nattPort uint16) func(netip.AddrPort, []byte) bool {
	return func(dst netip.AddrPort, p []byte) bool {
		return dst.Port() == nattPort && len(p) >= 8 && binary.BigEndian.Uint32(p) != 0
	}
}
