package esp

import "sync/atomic"

const (
	// DefaultReplayWindow is the anti-replay window esptun uses unless
	// configured otherwise: large enough for the reordering a multi-core
	// sender and receiver produce (RFC 4303 3.4.3 asks for at least 32; the
	// Linux kernel and strongSwan default to far smaller windows).
	DefaultReplayWindow = 1024
	// MaxReplayWindow is the largest window NewReplayWindow accepts.
	MaxReplayWindow = 65536
)

// ReplayWindow is the anti-replay window of RFC 4303 3.4.3, kept as the
// bitmap of RFC 6479 so that the window can be large (default 1024 packets,
// up to MaxReplayWindow). Check and CheckAndUpdate must be called from one
// goroutine at a time (the SA's in-order receiver); Top may be read from any
// goroutine.
//
// The bitmap is a ring of 64-bit blocks, one block more than the window
// (rounded up to a power of two) so that sliding forward clears whole blocks
// and never a bit still inside the window (RFC 6479 2). Sequence number seq
// lives in block (seq/64) mod the ring size, bit seq mod 64.
type ReplayWindow struct {
	top    atomic.Uint64 // highest sequence number accepted so far, 0 before the first
	size   uint64        // window in packets, a multiple of 64; 0 = no replay check
	mask   uint64        // len(bitmap)-1
	bitmap []uint64      // nil until the first CheckAndUpdate
}

// NewReplayWindow returns a window of size packets, rounded up to a multiple
// of 64 and capped at MaxReplayWindow. size 0 (or negative) disables the
// replay check, as RFC 4303 3.4.3 allows a receiver to; Top is still kept
// for InferSeq.
func NewReplayWindow(size int) *ReplayWindow {
	w := &ReplayWindow{}
	if size <= 0 {
		return w
	}
	size = min(size, MaxReplayWindow)
	w.size = uint64((size + 63) &^ 63)
	blocks := uint64(1)
	for blocks < w.size/64+1 {
		blocks <<= 1
	}
	// The bitmap (256 bytes for the default window) is made by the first
	// CheckAndUpdate: an inbound SA that never receives a packet, as most
	// of a gateway's many idle SAs, keeps none.
	w.mask = blocks - 1
	return w
}

// Size returns the window in packets (0 when the check is disabled).
func (w *ReplayWindow) Size() int { return int(w.size) }

// Top returns the highest sequence number that CheckAndUpdate has accepted,
// 0 before the first. Safe to call from any goroutine.
func (w *ReplayWindow) Top() uint64 { return w.top.Load() }

// Check reports whether CheckAndUpdate would accept seq, without changing the
// window. Receivers may call it before spending work on the ICV
// (RFC 4303 3.4.3 suggests the check first to reject duplicates cheaply).
// Sequence number 0 is never valid: the first packet of an SA carries 1.
func (w *ReplayWindow) Check(seq uint64) bool {
	if seq == 0 {
		return false
	}
	top := w.top.Load()
	if w.size == 0 || seq > top {
		return true
	}
	if top-seq >= w.size {
		return false // left of the window
	}
	if w.bitmap == nil {
		return true // nothing recorded yet
	}
	return w.bitmap[(seq>>6)&w.mask]&(1<<(seq&63)) == 0
}

// CheckAndUpdate accepts seq and records it if it is new and inside the
// window, sliding the window when seq is beyond Top. It returns false for a
// duplicate or a packet left of the window, and changes nothing then.
//
// RFC 4303 3.4.3: call it only after the packet's ICV verified, so that
// forged packets cannot move the window.
func (w *ReplayWindow) CheckAndUpdate(seq uint64) bool {
	if seq == 0 {
		return false
	}
	top := w.top.Load()
	if w.size == 0 {
		if seq > top {
			w.top.Store(seq)
		}
		return true
	}
	if w.bitmap == nil {
		w.bitmap = make([]uint64, w.mask+1) // first packet: all blocks clear
	}
	if seq > top {
		// Clear the blocks that slide into the window; a jump of a whole
		// ring or more clears them all.
		diff := (seq >> 6) - (top >> 6)
		if n := uint64(len(w.bitmap)); diff > n {
			diff = n
		}
		for i := uint64(1); i <= diff; i++ {
			w.bitmap[((top>>6)+i)&w.mask] = 0
		}
		w.top.Store(seq)
	} else if top-seq >= w.size {
		return false
	}
	word, bit := &w.bitmap[(seq>>6)&w.mask], uint64(1)<<(seq&63)
	if *word&bit != 0 {
		return false
	}
	*word |= bit
	return true
}

// InferSeq reconstructs the full sequence number from the low 32 bits
// received, given the window's Top and size (RFC 4303 appendix A2.1).
// Without ESN it returns seqLo.
//
// A packet whose low half lies at or right of the window's bottom (in 2^32
// arithmetic) belongs to Top's 2^32 block, one left of it belongs to the next
// block, and when the window straddles a 2^32 boundary the part left of the
// boundary belongs to the previous block. With window 0 (replay check
// disabled) the window is taken to be 2^31: the nearest candidate wins.
func InferSeq(seqLo uint32, top uint64, window int, esn bool) uint64 {
	if !esn {
		return uint64(seqLo)
	}
	w := uint32(1 << 31)
	if window > 0 && window < 1<<31 {
		w = uint32(window)
	}
	th, tl := uint32(top>>32), uint32(top)
	bottom := tl - w + 1 // wraps in Case B, as A2.1 intends
	var sh uint32
	if tl >= w-1 {
		// Case A: the window lies within one 2^32 block.
		sh = th
		if seqLo < bottom {
			sh = th + 1 // wraps only when the 64-bit space is exhausted
		}
	} else {
		// Case B: the window spans two blocks.
		sh = th
		if seqLo >= bottom && th > 0 {
			sh = th - 1
		}
	}
	return uint64(sh)<<32 | uint64(seqLo)
}
