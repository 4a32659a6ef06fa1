package ike

import "net/netip"

// Transport sends IKE datagrams for the Manager. Implementations are safe
// for concurrent use.
type Transport interface {
	// SendIKE sends one IKE message from local to remote. With natt set it
	// goes out from the NAT-T port with the non-ESP marker in front (RFC
	// 3948 2.2); otherwise from the plain IKE port. pkt is not retained.
	SendIKE(pkt []byte, local, remote netip.AddrPort, natt bool) error
	// SendKeepalive sends a NAT-keepalive (a single 0xFF byte, RFC 3948
	// 2.3) from local to remote on the NAT-T port.
	SendKeepalive(local, remote netip.AddrPort) error
}
