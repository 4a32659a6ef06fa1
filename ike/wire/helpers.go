package wire

import (
	"encoding/binary"
	"net/netip"
)

// NewNotify returns a Notify payload about the IKE SA (no protocol, no SPI).
// data is not copied.
func NewNotify(t NotifyType, data []byte) *Notify {
	return &Notify{NotifyType: t, Data: data}
}

// NewChildNotify returns a Notify payload about a Child SA, such as REKEY_SA
// or CHILD_SA_NOT_FOUND (RFC 7296 3.10: Protocol ID and SPI name the SA).
func NewChildNotify(proto ProtocolID, spi uint32, t NotifyType, data []byte) *Notify {
	return &Notify{Protocol: proto, SPI: binary.BigEndian.AppendUint32(nil, spi), NotifyType: t, Data: data}
}

// NewInvalidKEPayload returns INVALID_KE_PAYLOAD naming the group the
// responder wants (RFC 7296 1.3, 3.10.1: two octets, the group number).
func NewInvalidKEPayload(group uint16) *Notify {
	return NewNotify(NotifyInvalidKEPayload, binary.BigEndian.AppendUint16(nil, group))
}

// NewUnsupportedCriticalPayload returns UNSUPPORTED_CRITICAL_PAYLOAD naming
// the rejected payload type (RFC 7296 3.10.1: one octet).
func NewUnsupportedCriticalPayload(t PayloadType) *Notify {
	return NewNotify(NotifyUnsupportedCriticalPayload, []byte{byte(t)})
}

// NewSignatureHashAlgorithms returns SIGNATURE_HASH_ALGORITHMS listing hash
// algorithm identifiers (RFC 7427 4: two octets each).
func NewSignatureHashAlgorithms(algs ...uint16) *Notify {
	d := make([]byte, 0, 2*len(algs))
	for _, a := range algs {
		d = binary.BigEndian.AppendUint16(d, a)
	}
	return NewNotify(NotifySignatureHashAlgorithms, d)
}

// NewSetWindowSize returns SET_WINDOW_SIZE (RFC 7296 2.3: four octets).
func NewSetWindowSize(n uint32) *Notify {
	return NewNotify(NotifySetWindowSize, binary.BigEndian.AppendUint32(nil, n))
}

// Group returns the group of an INVALID_KE_PAYLOAD notification.
func (n *Notify) Group() (uint16, bool) {
	if n.NotifyType != NotifyInvalidKEPayload || len(n.Data) != 2 {
		return 0, false
	}
	return be16(n.Data), true
}

// HashAlgorithms returns the identifiers of a SIGNATURE_HASH_ALGORITHMS
// notification; false if Data is not a whole number of them.
func (n *Notify) HashAlgorithms() ([]uint16, bool) {
	if n.NotifyType != NotifySignatureHashAlgorithms || len(n.Data)%2 != 0 {
		return nil, false
	}
	out := make([]uint16, 0, len(n.Data)/2)
	for b := n.Data; len(b) > 0; b = b[2:] {
		out = append(out, be16(b))
	}
	return out, true
}

// SPI32 returns a 4-octet SPI (ESP or AH) as a number.
func (n *Notify) SPI32() (uint32, bool) {
	if len(n.SPI) != 4 {
		return 0, false
	}
	return binary.BigEndian.Uint32(n.SPI), true
}

// NewDeleteIKE returns the Delete payload that deletes the IKE SA (RFC 7296
// 3.11).
func NewDeleteIKE() *Delete { return &Delete{Protocol: ProtocolIKE} }

// NewDeleteChild returns a Delete payload for ESP or AH SAs by their inbound
// SPIs (RFC 7296 3.11).
func NewDeleteChild(proto ProtocolID, spis ...uint32) *Delete {
	d := &Delete{Protocol: proto, SPISize: 4, SPIs: make([][]byte, len(spis))}
	buf := make([]byte, 4*len(spis))
	for i, s := range spis {
		binary.BigEndian.PutUint32(buf[4*i:], s)
		d.SPIs[i] = buf[4*i : 4*i+4 : 4*i+4]
	}
	return d
}

// SPI32s returns the SPIs of a Delete payload with 4-octet SPIs.
func (d *Delete) SPI32s() ([]uint32, bool) {
	if d.SPISize != 4 {
		return nil, false
	}
	out := make([]uint32, len(d.SPIs))
	for i, s := range d.SPIs {
		if len(s) != 4 {
			return nil, false
		}
		out[i] = binary.BigEndian.Uint32(s)
	}
	return out, true
}

// SelectorFromPrefix returns the traffic selector covering p for IP protocol
// proto (0: any) and ports start..end (0..65535: any), RFC 7296 3.13.1. The
// type follows the address family of p. It reports false for an invalid
// prefix.
func SelectorFromPrefix(p netip.Prefix, proto uint8, start, end uint16) (TrafficSelector, bool) {
	if !p.IsValid() {
		return TrafficSelector{}, false
	}
	p = p.Masked()
	addr := p.Addr().WithZone("")
	ts := TrafficSelector{
		Type:       TSIPv6AddrRange,
		IPProtocol: proto,
		StartPort:  start,
		EndPort:    end,
		StartAddr:  addr,
	}
	if addr.Is4() {
		ts.Type = TSIPv4AddrRange
		a := addr.As4()
		setHostBits(a[:], p.Bits())
		ts.EndAddr = netip.AddrFrom4(a)
	} else {
		a := addr.As16()
		setHostBits(a[:], p.Bits())
		ts.EndAddr = netip.AddrFrom16(a)
	}
	return ts, true
}

func setHostBits(a []byte, bits int) {
	for i := range a {
		switch {
		case bits >= 8*(i+1):
		case bits <= 8*i:
			a[i] = 0xff
		default:
			a[i] |= 0xff >> (bits - 8*i)
		}
	}
}

// Prefix returns the prefix a selector's address range covers exactly, if
// it is one.
func (s *TrafficSelector) Prefix() (netip.Prefix, bool) {
	if s.Type != TSIPv4AddrRange && s.Type != TSIPv6AddrRange {
		return netip.Prefix{}, false
	}
	for bits := 0; bits <= s.StartAddr.BitLen(); bits++ {
		p := netip.PrefixFrom(s.StartAddr, bits)
		if p.Masked().Addr() != s.StartAddr {
			continue
		}
		q, _ := SelectorFromPrefix(p, 0, 0, 0)
		if q.EndAddr == s.EndAddr {
			return p, true
		}
		if q.EndAddr.Less(s.EndAddr) {
			return netip.Prefix{}, false
		}
	}
	return netip.Prefix{}, false
}
