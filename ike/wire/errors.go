package wire

import (
	"errors"
	"strconv"
)

// Errors callers branch on. Syntax failures are *SyntaxError values that
// match ErrInvalidSyntax under errors.Is.
var (
	// ErrInvalidSyntax: the message is malformed (RFC 7296 3.10.1
	// INVALID_SYNTAX).
	ErrInvalidSyntax = errors.New("wire: invalid syntax")
	// ErrInvalidMajorVersion: the header's major version is not 2 (RFC 7296
	// 2.5: answer INVALID_MAJOR_VERSION).
	ErrInvalidMajorVersion = errors.New("wire: invalid major version")
	// ErrIntegrity: the SK or SKF payload failed to verify or decrypt. The
	// message must be dropped silently (RFC 7296 2.21.2).
	ErrIntegrity = errors.New("wire: integrity check failed")
	// ErrEncode: the payloads cannot be encoded as given (a field too long
	// for its length field, an address of the wrong family, ...).
	ErrEncode = errors.New("wire: cannot encode")
	// ErrFragmentDiscarded: RFC 7383 2.6.2 says to discard this fragment (a
	// duplicate, or one from an older fragmentation of the message).
	ErrFragmentDiscarded = errors.New("wire: fragment discarded")
	// ErrReassemblyLimit: the fragments exceed the Reassembler's bounds; the
	// partial message was dropped.
	ErrReassemblyLimit = errors.New("wire: reassembly limit exceeded")
)

// SyntaxError describes a malformed message. It matches ErrInvalidSyntax
// under errors.Is. Reason never contains message contents.
type SyntaxError struct {
	Payload PayloadType // the payload being decoded; PayloadNone for the header
	Reason  string
}

func (e *SyntaxError) Error() string {
	if e.Payload == PayloadNone {
		return "wire: invalid syntax: " + e.Reason
	}
	return "wire: invalid syntax: " + e.Payload.String() + " payload: " + e.Reason
}

// Is makes errors.Is(err, ErrInvalidSyntax) true.
func (e *SyntaxError) Is(target error) bool { return target == ErrInvalidSyntax }

func errSyntax(t PayloadType, reason string) error {
	return &SyntaxError{Payload: t, Reason: reason}
}

// UnsupportedCriticalPayloadError reports a payload of a type this package
// does not know with the critical bit set. RFC 7296 2.5 and 3.2: reject the
// whole message and, for a request, answer UNSUPPORTED_CRITICAL_PAYLOAD with
// Type as the notification data (see NewUnsupportedCriticalPayload).
type UnsupportedCriticalPayloadError struct {
	Type PayloadType
}

func (e *UnsupportedCriticalPayloadError) Error() string {
	return "wire: unsupported critical payload " + strconv.Itoa(int(e.Type))
}

type encodeError struct{ reason string }

func (e *encodeError) Error() string        { return "wire: cannot encode: " + e.reason }
func (e *encodeError) Is(target error) bool { return target == ErrEncode }

func errEncode(reason string) error { return &encodeError{reason} }
