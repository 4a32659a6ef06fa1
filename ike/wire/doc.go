// Package wire is the IKEv2 message codec (RFC 7296 section 3), with the
// Encrypted payload's framing and padding (RFC 7296 3.14, RFC 5282 for AEAD)
// and IKE message fragmentation (RFC 7383).
//
// Decoding is strict and never panics: the header Length must equal the
// datagram length, every payload length must be at least 4 and fit in its
// parent, and every sub-structure (proposals, transforms, attributes,
// selectors, configuration attributes, deleted SPIs) must exactly fill the
// payload that carries it. Syntax failures wrap ErrInvalidSyntax so the
// state machine can answer INVALID_SYNTAX; an unrecognised payload with the
// critical bit set is an *UnsupportedCriticalPayloadError (RFC 7296 2.5, 3.2).
//
// Decoders do not copy: byte slices in decoded payloads alias the input
// buffer, which the caller must leave untouched while it uses the result.
// Encoders compute every length and the Next Payload chain themselves and
// write into one buffer sized up front.
//
// Payload values are plain data; the package keeps no state except in a
// Reassembler, which is not safe for concurrent use.
package wire
