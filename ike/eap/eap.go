// Package eap implements the Extensible Authentication Protocol (RFC 3748)
// as IKEv2 uses it for remote access (RFC 7296 2.16): the gateway is the EAP
// server (authenticator), the road warrior is the EAP peer (client). The IKE
// state machine carries the packets this package produces in EAP payloads
// during IKE_AUTH and, once a conversation succeeds, computes the AUTH
// payload from MSK().
//
// Methods: EAP-Identity (RFC 3748 5.1), EAP-MSCHAPv2
// (draft-kamath-pppext-eap-mschapv2 over RFC 2759, keys per RFC 3079) and
// EAP-TLS (RFC 5216, RFC 9190 for TLS 1.3). NewChainServer runs several
// server methods back to back, as strongSwan's eap-identity followed by
// eap-mschapv2 does.
//
// Every packet handed to or returned by this package is a complete RFC 3748
// packet: Code, Identifier, Length and, for Request and Response, Type and
// Type-Data. The package does no I/O and keeps no timers: retransmission is
// IKE's business, so a conversation is strictly lock-step.
//
// Hostile input: every decoder checks lengths explicitly and never panics;
// EAP-TLS reassembly is bounded to MaxTLSMessage bytes and every
// conversation to a bounded number of round trips. Any protocol violation
// ends the conversation.
//
// Concurrency: a Server or Client is one conversation and is not safe for
// concurrent use (Close included); the IKE SA's lock serialises it. Handle
// never blocks on the network: EAP-TLS waits only for its own TLS
// goroutine to finish computing a flight.
package eap

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Code is the EAP packet Code (RFC 3748 4).
type Code uint8

// EAP codes (RFC 3748 4).
const (
	CodeRequest  Code = 1
	CodeResponse Code = 2
	CodeSuccess  Code = 3
	CodeFailure  Code = 4
)

func (c Code) String() string {
	switch c {
	case CodeRequest:
		return "Request"
	case CodeResponse:
		return "Response"
	case CodeSuccess:
		return "Success"
	case CodeFailure:
		return "Failure"
	}
	return fmt.Sprintf("Code(%d)", uint8(c))
}

// Type is the EAP method Type of a Request or Response (RFC 3748 5, IANA
// "Method Types").
type Type uint8

// EAP method types this package knows.
const (
	TypeIdentity     Type = 1  // RFC 3748 5.1
	TypeNotification Type = 2  // RFC 3748 5.2
	TypeNak          Type = 3  // RFC 3748 5.3.1, Legacy Nak (Response only)
	TypeTLS          Type = 13 // RFC 5216
	TypeMSCHAPv2     Type = 26 // draft-kamath-pppext-eap-mschapv2
	TypeExpanded     Type = 254
)

func (t Type) String() string {
	switch t {
	case TypeIdentity:
		return "Identity"
	case TypeNotification:
		return "Notification"
	case TypeNak:
		return "Nak"
	case TypeTLS:
		return "EAP-TLS"
	case TypeMSCHAPv2:
		return "EAP-MSCHAPv2"
	case TypeExpanded:
		return "Expanded"
	}
	return fmt.Sprintf("Type(%d)", uint8(t))
}

// Sizes.
const (
	headerLen = 4 // Code, Identifier, Length

	// MSKLen is the length of the Master Session Key every key-generating
	// method here exports (RFC 3748 7.10: at least 64 octets).
	MSKLen = 64

	// MaxIdentityLen bounds an EAP-Identity or MS-CHAPv2 Name (RADIUS
	// User-Name, RFC 2865 5.1, allows 253; we allow a little more).
	MaxIdentityLen = 255
)

// Sentinel errors. Conversations wrap them with %w and detail; callers
// branch with errors.Is.
var (
	// ErrMalformed: a packet failed to decode (length, code, fields).
	ErrMalformed = errors.New("eap: malformed packet")
	// ErrUnexpected: a well-formed packet that the conversation's state
	// does not allow (wrong code, type, opcode or identifier).
	ErrUnexpected = errors.New("eap: unexpected packet")
	// ErrIdentifier: a Response whose Identifier does not match the
	// outstanding Request (RFC 3748 4.1), or a Success not matching the last
	// Response.
	ErrIdentifier = errors.New("eap: identifier mismatch")
	// ErrAuthFailed: this side rejected the other side's credentials (wrong
	// password, untrusted certificate, bad authenticator response).
	ErrAuthFailed = errors.New("eap: authentication failed")
	// ErrFailure: the client received EAP-Failure (or an MS-CHAPv2 Failure
	// request): the server rejected us.
	ErrFailure = errors.New("eap: server sent failure")
	// ErrNak: the peer refused the proposed method (Legacy Nak).
	ErrNak = errors.New("eap: peer refused the method")
	// ErrTooManyRounds: the conversation exceeded its round-trip bound.
	ErrTooManyRounds = errors.New("eap: too many round trips")
	// ErrTooLarge: a reassembled EAP-TLS message or a TLS flight exceeded
	// MaxTLSMessage.
	ErrTooLarge = errors.New("eap: message too large")
	// ErrDone: the conversation is over (succeeded, failed or closed).
	ErrDone = errors.New("eap: conversation is over")
	// ErrPrematureSuccess: the client got EAP-Success before the method
	// authenticated the server and derived keys (RFC 3748 7.16).
	ErrPrematureSuccess = errors.New("eap: success before the method completed")
)

// Packet is a decoded EAP packet (RFC 3748 4). For Success and Failure,
// Type and TypeData are zero.
type Packet struct {
	Code       Code
	Identifier uint8
	Type       Type   // Request and Response only
	TypeData   []byte // Request and Response only; aliases the input of Parse
}

// Parse decodes one EAP packet. TypeData aliases b. Octets beyond the
// Length field are link-layer padding and ignored (RFC 3748 4); a Length
// larger than b, a Request or Response without Type, or a Success or Failure
// with data is an error wrapping ErrMalformed.
func Parse(b []byte) (Packet, error) {
	if len(b) < headerLen {
		return Packet{}, fmt.Errorf("%w: %d octets, need at least %d", ErrMalformed, len(b), headerLen)
	}
	p := Packet{Code: Code(b[0]), Identifier: b[1]}
	n := int(binary.BigEndian.Uint16(b[2:4]))
	if n < headerLen || n > len(b) {
		return Packet{}, fmt.Errorf("%w: length field %d, have %d octets", ErrMalformed, n, len(b))
	}
	b = b[:n]
	switch p.Code {
	case CodeRequest, CodeResponse:
		if n < headerLen+1 {
			return Packet{}, fmt.Errorf("%w: %v without a type", ErrMalformed, p.Code)
		}
		p.Type = Type(b[4])
		p.TypeData = b[5:]
	case CodeSuccess, CodeFailure:
		// RFC 3748 4.2: Success and Failure carry no data.
		if n != headerLen {
			return Packet{}, fmt.Errorf("%w: %v with %d octets of data", ErrMalformed, p.Code, n-headerLen)
		}
	default:
		return Packet{}, fmt.Errorf("%w: unknown code %d", ErrMalformed, b[0])
	}
	return p, nil
}

// Marshal encodes p into a new slice. It fails only if the packet would
// exceed the 16-bit Length field.
func (p Packet) Marshal() ([]byte, error) {
	n := headerLen
	if p.Code == CodeRequest || p.Code == CodeResponse {
		n += 1 + len(p.TypeData)
	}
	if n > 0xffff {
		return nil, fmt.Errorf("%w: %d octets exceed the length field", ErrTooLarge, n)
	}
	b := make([]byte, n)
	b[0] = byte(p.Code)
	b[1] = p.Identifier
	binary.BigEndian.PutUint16(b[2:4], uint16(n))
	if p.Code == CodeRequest || p.Code == CodeResponse {
		b[4] = byte(p.Type)
		copy(b[5:], p.TypeData)
	}
	return b, nil
}

// Server is the authenticator's side of one EAP conversation (one per IKE
// SA). Start returns the first Request; then every Response the peer sends is
// passed to Handle, which returns the next packet to send.
//
// Contract of Handle:
//   - done == false, err == nil: next is a Request to send.
//   - done == true, err == nil: next is EAP-Success; MSK and Identity are
//     valid.
//   - err != nil: done is true and next, if not nil, is EAP-Failure to send
//     (RFC 7296 2.16 then calls for AUTHENTICATION_FAILED). The error wraps
//     one of the sentinels above and never contains secrets.
//
// Returned slices are owned by the caller. Close releases resources (the
// EAP-TLS goroutine); it is idempotent and safe after the conversation ended.
type Server interface {
	Start() (req []byte, err error)
	Handle(resp []byte) (next []byte, done bool, err error)
	// MSK returns the Master Session Key after success, nil before or if
	// the methods run generate no key (EAP-Identity alone).
	MSK() []byte
	// Identity is the peer's identity after success: the MS-CHAPv2 Name
	// (which the password proved) if MS-CHAPv2 ran, else the EAP-Identity
	// response, which only claims (for EAP-TLS see PeerCertificate).
	Identity() string
	Close() error
}

// Client is the peer's side of one EAP conversation. Every packet received
// in an EAP payload is passed to Handle.
//
// Contract of Handle:
//   - done == false, err == nil: resp is the Response to send.
//   - done == true, err == nil: EAP-Success arrived after the method
//     authenticated the server; resp is nil; MSK is valid.
//   - err != nil: done is true, resp is nil; the conversation is over (the
//     server sent Failure, or we rejected the server, or the input was
//     malformed).
//
// A Request identical to the previous one (a retransmission, RFC 3748 4.1)
// is answered with the previous Response again.
type Client interface {
	Handle(req []byte) (resp []byte, done bool, err error)
	MSK() []byte
	Close() error
}
