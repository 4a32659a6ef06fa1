package esp

import (
	"encoding/binary"
	"errors"
	"math"

	"github.com/esptun/esptun/crypto"
)

// RFC 4303 2 and the IANA protocol numbers carried in the Next Header field.
const (
	HeaderLen = 8 // SPI(4) || Sequence Number(4)

	NextHeaderIPv4  = 4
	NextHeaderIPv6  = 41
	NextHeaderDummy = 59 // RFC 4303 2.6: dummy packet, dropped silently on receipt

	// MaxIVLen is the largest explicit IV of any supported suite (AES-CBC).
	MaxIVLen = 16
	// MaxHeadroom is the room Seal needs in front of the inner packet.
	MaxHeadroom = HeaderLen + MaxIVLen
	// MaxTrailer bounds the room Seal needs after the inner packet: padding
	// (at most 255 bytes by the Pad Length field's width; Seal itself pads at
	// most BlockSize-1 = 15), pad length, next header and the largest ICV.
	MaxTrailer = 255 + 2 + 32
)

// SealParams is what Seal needs to know about the outbound SA.
type SealParams struct {
	SPI    uint32
	Cipher crypto.ESPCipher
	ESN    bool
}

// padLen returns the padding RFC 4303 2.4 requires after n bytes of payload:
// payload || padding || pad length || next header must end on a multiple of
// blockSize (the cipher block size, at least 4).
func padLen(n, blockSize int) int {
	if blockSize > 0 && blockSize&(blockSize-1) == 0 {
		// Every suite's block size is a power of two (4 or 16): a mask
		// instead of two divisions, which cost more than the rest of
		// Seal's framing.
		return -(n + 2) & (blockSize - 1)
	}
	return (blockSize - (n+2)%blockSize) % blockSize
}

// Seal builds an ESP packet in tunnel mode around the inner packet
// buf[off:off+n] and protects it with seq. It writes the ESP header and IV into
// buf[off-HeaderLen-IVLen:off] and the trailer and ICV after the packet, so
// off must be at least HeaderLen+IVLen and cap(buf) at least off+n+MaxTrailer
// (exactly: off+n+BlockSize-1+2+ICVLen; ErrBuffer otherwise). The returned
// slice aliases buf. nextHeader is NextHeaderIPv4 or NextHeaderIPv6, or
// NextHeaderDummy for a dummy packet (RFC 4303 2.6); anything else is
// ErrMalformed. seq must be at least 1 and, without ESN, at most 2^32-1
// (ErrSeqNum, RFC 4303 3.3.3). Seal does not allocate; s is the calling
// goroutine's scratch.
func Seal(p *SealParams, seq uint64, nextHeader byte, buf []byte, off, n int, s *crypto.Scratch) ([]byte, error) {
	switch nextHeader {
	case NextHeaderIPv4, NextHeaderIPv6, NextHeaderDummy:
	default:
		return nil, ErrMalformed
	}
	if seq == 0 || (!p.ESN && seq > math.MaxUint32) {
		return nil, ErrSeqNum
	}
	suite := p.Cipher.Suite()
	start := off - HeaderLen - suite.IVLen
	pad := padLen(n, suite.BlockSize)
	end := off + n + pad + 2 // end of plaintext
	if start < 0 || n < 0 || end+suite.ICVLen > cap(buf) {
		return nil, ErrBuffer
	}
	pkt := buf[start:end]
	binary.BigEndian.PutUint32(pkt[0:4], p.SPI)
	binary.BigEndian.PutUint32(pkt[4:8], uint32(seq))
	trailer := pkt[len(pkt)-pad-2:]
	for i := range pad {
		trailer[i] = byte(i + 1) // RFC 4303 2.4: 1, 2, 3, ...
	}
	trailer[pad] = byte(pad)
	trailer[pad+1] = nextHeader
	return p.Cipher.Seal(pkt, seq, p.ESN, s), nil
}

// Header returns the SPI and low sequence number of an ESP packet, or
// ErrShort when pkt is too short to hold a header.
func Header(pkt []byte) (spi, seqLo uint32, err error) {
	if len(pkt) < HeaderLen {
		return 0, 0, ErrShort
	}
	return binary.BigEndian.Uint32(pkt[0:4]), binary.BigEndian.Uint32(pkt[4:8]), nil
}

// Open verifies and decrypts the ESP packet pkt in place and returns the
// inner packet (aliasing pkt) and its next header. seq is the full sequence
// number the caller inferred (see InferSeq); only its high half is used, and
// only when esn is set. Errors: ErrShort/ErrMalformed for framing, ErrAuth for
// a failed ICV, ErrPadding for padding that is not 1, 2, 3, ... (RFC 4303 2.4),
// ErrDummy for a dummy packet (next header 59), which callers drop silently.
//
// Open checks only the ICV and the ESP trailer: the caller updates the replay
// window after Open succeeds (RFC 4303 3.4.3) and checks the inner packet
// against the SA's selectors (RFC 4301 5.2). inner may end with TFC padding
// (RFC 4303 2.7); the inner IP header's length says where the packet ends.
// Open never panics and does not allocate.
func Open(c crypto.ESPCipher, pkt []byte, seq uint64, esn bool, s *crypto.Scratch) (inner []byte, nextHeader byte, err error) {
	suite := c.Suite()
	if len(pkt) < HeaderLen+suite.IVLen+2+suite.ICVLen {
		return nil, 0, ErrShort
	}
	// RFC 4303 2.4 makes the sender align the trailer to 4 bytes; the
	// receiver enforces alignment only where the cipher needs it (AES-CBC
	// blocks, checked by c.Open), and checks the padding contents below.
	plain, err := c.Open(pkt, uint32(seq>>32), esn, s)
	if err != nil {
		if errors.Is(err, crypto.ErrAuth) {
			return nil, 0, ErrAuth
		}
		return nil, 0, ErrMalformed // crypto.ErrLength: e.g. CBC not whole blocks
	}
	if len(plain) < 2 {
		return nil, 0, ErrShort
	}
	nextHeader = plain[len(plain)-1]
	pad := int(plain[len(plain)-2])
	payloadLen := len(plain) - 2 - pad
	if payloadLen < 0 {
		return nil, nextHeader, ErrPadding
	}
	// RFC 4303 2.4: the receiver SHOULD check that the padding is the
	// default 1, 2, 3, ... The ICV has verified, so this need not be
	// constant time.
	for i, b := range plain[payloadLen : payloadLen+pad] {
		if b != byte(i+1) {
			return nil, nextHeader, ErrPadding
		}
	}
	switch nextHeader {
	case NextHeaderIPv4, NextHeaderIPv6:
		return plain[:payloadLen], nextHeader, nil
	case NextHeaderDummy:
		return nil, nextHeader, ErrDummy
	}
	// Tunnel mode carries only IP packets (RFC 4303 2.6, RFC 4301 5.2).
	return nil, nextHeader, ErrMalformed
}
