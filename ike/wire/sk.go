package wire

import (
	"fmt"
)

// SKCipher protects the Encrypted payload (RFC 7296 3.14) and the Encrypted
// Fragment payload (RFC 7383 2.5) of one direction of an IKE SA: an AEAD
// (RFC 5282) or an ENCR transform with an INTEG transform. Package crypto
// provides the implementations; this package only frames the payload.
type SKCipher interface {
	// IVLen is the length of the Initialization Vector at the start of the
	// SK body.
	IVLen() int
	// ICVLen is the length of the Integrity Checksum Data at its end.
	ICVLen() int
	// BlockSize is the alignment of the plaintext including the Pad Length
	// octet (RFC 7296 3.14): the cipher block size for CBC, 1 (or 4) for
	// AEADs that need none. Values below 1 are taken as 1.
	BlockSize() int
	// Encrypt fills body = IV | ciphertext | ICV, len(body) being
	// IVLen()+len(plaintext)+ICVLen(). plaintext is already padded and
	// aliases body[IVLen():IVLen()+len(plaintext)] exactly, so the cipher
	// works in place. prefix is the message from the IKE header to the end
	// of the SK (or SKF) payload header, with final lengths: for an AEAD it
	// is the associated data (RFC 5282 5.1), for ENCR+INTEG the ICV covers
	// prefix | IV | ciphertext (RFC 7296 3.14). The IV must be fresh.
	Encrypt(body, prefix, plaintext []byte) error
	// Decrypt verifies body = IV | ciphertext | ICV against prefix (as for
	// Encrypt) and returns the plaintext including padding and the Pad
	// Length octet. It must not return plaintext that failed to verify.
	// The plaintext may alias body or be a slice of its own; this package
	// assumes neither. (Package crypto's ciphers return a fresh slice and
	// leave body as it was, so that a message's octets stay as received.)
	Decrypt(prefix, body []byte) ([]byte, error)
}

func blockSize(c SKCipher) int {
	if bs := c.BlockSize(); bs > 1 {
		return bs
	}
	return 1
}

// paddedLen is the plaintext length for n octets of inner payloads: the
// payloads, minimal padding and the Pad Length octet, a multiple of bs.
func paddedLen(n, bs int) int {
	return (n + 1 + bs - 1) / bs * bs
}

// skPrefixLen is the length of the prefix before an SK body.
const skPrefixLen = HeaderLen + GenericHeaderLen

// skfPrefixLen is the length of the prefix before an SKF body (RFC 7383 2.5:
// the generic header and the Fragment Number and Total Fragments fields).
const skfPrefixLen = HeaderLen + GenericHeaderLen + 4

// EncodeEncrypted encodes a protected message: the IKE header h (NextPayload
// and Length are computed) and one SK payload holding inner, padded with
// zeros to the cipher's block size (RFC 7296 3.14: the padding content is
// the sender's choice) and encrypted by c. The result is a new buffer.
func EncodeEncrypted(h Header, inner []Payload, c SKCipher) ([]byte, error) {
	if err := h.checkEncode(); err != nil {
		return nil, err
	}
	n, err := chainLen(inner, false)
	if err != nil {
		return nil, err
	}
	ivLen, icvLen := c.IVLen(), c.ICVLen()
	ptLen := paddedLen(n, blockSize(c))
	skLen := GenericHeaderLen + ivLen + ptLen + icvLen
	if skLen > MaxPayloadLen || ivLen < 0 || icvLen < 0 {
		return nil, errEncode("encrypted payload too long")
	}
	total := HeaderLen + skLen
	buf := make([]byte, total)
	h.put(buf, PayloadSK, total)
	sk := buf[HeaderLen:skPrefixLen]
	sk[0] = byte(firstType(inner))
	sk[2], sk[3] = byte(skLen>>8), byte(skLen)
	body := buf[skPrefixLen:]
	pt := body[ivLen : ivLen+ptLen]
	if _, err := appendChain(pt[:0], inner); err != nil {
		return nil, err
	}
	pt[ptLen-1] = byte(ptLen - 1 - n) // Pad Length; the padding is zero
	if err := c.Encrypt(body, buf[:skPrefixLen], pt); err != nil {
		return nil, fmt.Errorf("wire: encrypt: %w", err)
	}
	return buf, nil
}

// DecryptSK verifies and decrypts the SK payload of m, the Parse result of
// raw, and decodes the inner payloads. raw is the whole message as received;
// its SK body is decrypted in place and the returned payloads alias raw. An
// SKF payload is accepted only when it is fragment 1 of 1; use a Reassembler
// for real fragments.
//
// Errors: ErrIntegrity when c rejects the body (drop the message silently,
// RFC 7296 2.21.2), ErrInvalidSyntax for a body of impossible length or bad
// padding or a malformed inner chain, or *UnsupportedCriticalPayloadError.
func DecryptSK(raw []byte, m *Message, c SKCipher) ([]Payload, error) {
	next, pt, err := openLast(raw, m, c)
	if err != nil {
		return nil, err
	}
	if f, ok := m.Payloads[len(m.Payloads)-1].(*EncryptedFragment); ok && f.TotalFragments != 1 {
		return nil, errSyntax(PayloadSKF, "message is one of several fragments")
	}
	return ParsePayloads(next, pt)
}

// openLast decrypts the SK or SKF payload that ends m and returns the inner
// first payload type and the unpadded plaintext.
func openLast(raw []byte, m *Message, c SKCipher) (PayloadType, []byte, error) {
	if m == nil || len(m.Payloads) == 0 {
		return 0, nil, errSyntax(PayloadNone, "no encrypted payload")
	}
	var (
		body []byte
		next PayloadType
		t    PayloadType
	)
	switch p := m.Payloads[len(m.Payloads)-1].(type) {
	case *Encrypted:
		body, next, t = p.Body, p.NextPayload, PayloadSK
	case *EncryptedFragment:
		body, next, t = p.Body, p.NextPayload, PayloadSKF
	default:
		return 0, nil, errSyntax(PayloadNone, "no encrypted payload")
	}
	off := len(raw) - len(body)
	if int64(m.Length) != int64(len(raw)) || off < HeaderLen ||
		(len(body) > 0 && &raw[off] != &body[0]) {
		return 0, nil, fmt.Errorf("wire: message was not parsed from these octets")
	}
	pt, err := open(c, t, raw[:off], raw[off:])
	return next, pt, err
}

// open checks the framing of an SK or SKF body, decrypts it and strips the
// padding (RFC 7296 3.14).
func open(c SKCipher, t PayloadType, prefix, body []byte) ([]byte, error) {
	ct := len(body) - c.IVLen() - c.ICVLen()
	if ct < 1 || ct%blockSize(c) != 0 {
		return nil, errSyntax(t, "encrypted body length does not fit the cipher")
	}
	pt, err := c.Decrypt(prefix, body)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrIntegrity, err)
	}
	if len(pt) < 1 {
		return nil, errSyntax(t, "empty plaintext")
	}
	pad := int(pt[len(pt)-1])
	if pad+1 > len(pt) {
		return nil, errSyntax(t, "pad length exceeds plaintext")
	}
	return pt[:len(pt)-1-pad], nil
}
