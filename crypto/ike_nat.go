package crypto

import (
	"crypto/sha1"
	"encoding/binary"
	"net/netip"
)

// NATDetectionHash returns the 20-byte Notification Data of a
// NAT_DETECTION_SOURCE_IP or NAT_DETECTION_DESTINATION_IP notify (RFC 7296
// 2.23):
//
//	SHA-1(SPIi | SPIr | IP address | port)
//
// RFC 7296 mandates SHA-1 here; it serves as a checksum, not for security.
// The address is hashed in its own family: 4 bytes for IPv4 (an
// IPv4-mapped IPv6 address counts as IPv4, as a dual-stack socket reports
// IPv4 peers that way), 16 for IPv6; any zone is ignored. spir is 0 in an
// IKE_SA_INIT request. The port is in network byte order.
func NATDetectionHash(spii, spir uint64, addr netip.AddrPort) []byte {
	var buf [8 + 8 + 16 + 2]byte
	binary.BigEndian.PutUint64(buf[0:8], spii)
	binary.BigEndian.PutUint64(buf[8:16], spir)
	ip := addr.Addr().Unmap()
	n := 16
	if ip.Is4() {
		a4 := ip.As4()
		n += copy(buf[n:], a4[:])
	} else {
		a16 := ip.As16()
		n += copy(buf[n:], a16[:])
	}
	binary.BigEndian.PutUint16(buf[n:], addr.Port())
	n += 2
	sum := sha1.Sum(buf[:n])
	return sum[:]
}
