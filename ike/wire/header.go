package wire

import (
	"encoding/binary"
	"strconv"
)

// Lengths fixed by RFC 7296 3.1 and 3.2.
const (
	HeaderLen        = 28 // IKE header
	GenericHeaderLen = 4  // generic payload header
	// MaxPayloadLen is the largest payload the 16-bit Payload Length field
	// can describe, generic header included.
	MaxPayloadLen = 0xffff
)

// Major and minor version this package speaks (RFC 7296 3.1).
const (
	MajorVersion = 2
	MinorVersion = 0
)

// Header is the IKE header (RFC 7296 3.1).
//
// The SPIs are uint64 values of the 8 octets read big-endian: they compare,
// hash and print (%016x) directly, and zero means "not yet known" as in the
// RFC's IKE_SA_INIT request. Encoders write them big-endian again.
type Header struct {
	SPIi, SPIr   uint64
	NextPayload  PayloadType // type of the first payload
	MajorVersion uint8       // 2; an encoder writes 2 when zero
	MinorVersion uint8       // ignored on receipt (RFC 7296 3.1)
	Exchange     ExchangeType
	Flags        Flags // reserved bits are cleared on decode and encode
	MessageID    uint32
	Length       uint32 // whole message, header included
}

// IsResponse reports whether the R flag is set.
func (h *Header) IsResponse() bool { return h.Flags.Has(FlagResponse) }

// IsInitiator reports whether the I flag is set (the sender is the original
// initiator of the IKE SA).
func (h *Header) IsInitiator() bool { return h.Flags.Has(FlagInitiator) }

// ParseHeader decodes the IKE header at the start of b. It checks that b
// holds a whole header, that the major version is 2 and that Length is at
// least HeaderLen; it does not compare Length with len(b) (Parse does), so a
// stream reader (RFC 8229) can use it to frame messages. Reserved flag bits
// are cleared (RFC 7296 3.1: ignored on receipt) and the minor version is
// returned as received.
//
// When the major version is not 2 the error wraps ErrInvalidMajorVersion and
// the returned Header is nonetheless filled in, so the caller can answer with
// INVALID_MAJOR_VERSION (RFC 7296 2.5).
func ParseHeader(b []byte) (Header, error) {
	if len(b) < HeaderLen {
		return Header{}, errSyntax(PayloadNone, "short header")
	}
	h := Header{
		SPIi:         binary.BigEndian.Uint64(b[0:8]),
		SPIr:         binary.BigEndian.Uint64(b[8:16]),
		NextPayload:  PayloadType(b[16]),
		MajorVersion: b[17] >> 4,
		MinorVersion: b[17] & 0x0f,
		Exchange:     ExchangeType(b[18]),
		Flags:        Flags(b[19]) & flagsKnown,
		MessageID:    binary.BigEndian.Uint32(b[20:24]),
		Length:       binary.BigEndian.Uint32(b[24:28]),
	}
	if h.MajorVersion != MajorVersion {
		return h, &versionError{h.MajorVersion}
	}
	if h.Length < HeaderLen {
		return h, errSyntax(PayloadNone, "header length below 28")
	}
	return h, nil
}

type versionError struct{ major uint8 }

func (e *versionError) Error() string {
	return "wire: invalid major version " + strconv.Itoa(int(e.major))
}
func (e *versionError) Is(target error) bool { return target == ErrInvalidMajorVersion }

// put writes h into b[:HeaderLen] with the given next payload and length.
func (h *Header) put(b []byte, next PayloadType, length int) {
	binary.BigEndian.PutUint64(b[0:8], h.SPIi)
	binary.BigEndian.PutUint64(b[8:16], h.SPIr)
	b[16] = byte(next)
	major := h.MajorVersion
	if major == 0 {
		major = MajorVersion
	}
	b[17] = major<<4 | h.MinorVersion&0x0f
	b[18] = byte(h.Exchange)
	b[19] = byte(h.Flags & flagsKnown)
	binary.BigEndian.PutUint32(b[20:24], h.MessageID)
	binary.BigEndian.PutUint32(b[24:28], uint32(length))
}

func (h *Header) checkEncode() error {
	if h.MajorVersion != 0 && h.MajorVersion != MajorVersion {
		return errEncode("major version must be 2")
	}
	if h.MinorVersion > 0x0f {
		return errEncode("minor version exceeds 4 bits")
	}
	return nil
}

func (h Header) String() string {
	kind := "request"
	if h.IsResponse() {
		kind = "response"
	}
	return h.Exchange.String() + " " + kind + " " + strconv.FormatUint(uint64(h.MessageID), 10)
}
