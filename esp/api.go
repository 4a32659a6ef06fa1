package esp

import "github.com/esptun/esptun/crypto"

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
	// MaxTrailer is the room Seal needs after the inner packet: at most
	// BlockSize-1+... padding, pad length, next header and the largest ICV.
	MaxTrailer = 255 + 2 + 32
)

// SealParams is what Seal needs to know about the outbound SA.
type SealParams struct {
	SPI    uint32
	Cipher crypto.ESPCipher
	ESN    bool
}

// Seal builds an ESP packet in tunnel mode around the inner packet
// buf[off:off+n] and protects it with seq. It writes the ESP header and IV into
// buf[off-HeaderLen-IVLen:off] and the trailer and ICV after the packet, so
// off must be at least HeaderLen+IVLen and cap(buf) at least off+n+MaxTrailer.
// The returned slice aliases buf. nextHeader is NextHeaderIPv4 or
// NextHeaderIPv6. Seal does not allocate; s is the calling goroutine's scratch.
func Seal(p *SealParams, seq uint64, nextHeader byte, buf []byte, off, n int, s *crypto.Scratch) ([]byte, error)

// Header returns the SPI and low sequence number of an ESP packet, or
// ErrShort when pkt is too short to hold a header.
func Header(pkt []byte) (spi, seqLo uint32, err error)

// Open verifies and decrypts the ESP packet pkt in place and returns the
// inner packet (aliasing pkt) and its next header. seq is the full sequence
// number the caller inferred (see InferSeq); only its high half is used, and
// only when esn is set. Errors: ErrShort/ErrMalformed for framing, ErrAuth for
// a failed ICV, ErrPadding for padding that is not 1, 2, 3, ... (RFC 4303 2.4),
// ErrDummy for a dummy packet (next header 59), which callers drop silently.
func Open(c crypto.ESPCipher, pkt []byte, seq uint64, esn bool, s *crypto.Scratch) (inner []byte, nextHeader byte, err error)

// ReplayWindow is the anti-replay window of RFC 4303 3.4.3, kept as the
// bitmap of RFC 6479 so that the window can be large (default 1024 packets,
// up to MaxReplayWindow). Check and CheckAndUpdate must be called from one
// goroutine at a time (the SA's in-order receiver); Top may be read from any
// goroutine.
//
//	func NewReplayWindow(size int) *ReplayWindow  // size 0 disables the check
//	func (w *ReplayWindow) Size() int
//	func (w *ReplayWindow) Top() uint64                 // highest verified seq, atomic
//	func (w *ReplayWindow) Check(seq uint64) bool        // true if seq would be accepted
//	func (w *ReplayWindow) CheckAndUpdate(seq uint64) bool // RFC 4303 3.4.3: call only after the ICV verified
//
// InferSeq reconstructs the full sequence number from the low 32 bits
// received, given the window's Top and size (RFC 4303 appendix A2.1).
// Without ESN it returns seqLo.
//
//	func InferSeq(seqLo uint32, top uint64, window int, esn bool) uint64
