package esp

import (
	"errors"

	"github.com/esptun/esptun/crypto"
)

// Errors returned by Seal and Open. Callers count drops by them; none wraps
// per-packet detail, so returning them never allocates.
var (
	// ErrShort: the packet cannot hold an ESP header, IV, trailer and ICV.
	ErrShort = errors.New("esp: short packet")
	// ErrMalformed: framing that no conforming peer sends, such as AES-CBC
	// ciphertext that is not whole blocks or a Next Header other than IPv4,
	// IPv6 or dummy in tunnel mode.
	ErrMalformed = errors.New("esp: malformed packet")
	// ErrAuth: the ICV did not verify. It is crypto.ErrAuth itself.
	ErrAuth = crypto.ErrAuth
	// ErrPadding: the pad length runs past the payload, or the padding bytes
	// are not 1, 2, 3, ... (RFC 4303 2.4).
	ErrPadding = errors.New("esp: bad padding")
	// ErrDummy: a dummy packet (Next Header 59, RFC 4303 2.6), authentic but
	// to be dropped silently.
	ErrDummy = errors.New("esp: dummy packet")
	// ErrSeqNum: Seal was given sequence number 0, or one past 2^32-1
	// without ESN; the SA must be rekeyed instead (RFC 4303 3.3.3).
	ErrSeqNum = errors.New("esp: sequence number out of range")
	// ErrBuffer: Seal's buffer lacks the headroom or tailroom it needs.
	ErrBuffer = errors.New("esp: buffer lacks headroom or tailroom")
)
