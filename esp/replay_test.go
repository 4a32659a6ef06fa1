package esp

import (
	"fmt"
	"testing"
)

func TestNewReplayWindowSize(t *testing.T) {
	tests := []struct{ in, want int }{
		{-1, 0}, {0, 0}, {1, 64}, {32, 64}, {64, 64}, {65, 128}, {1000, 1024},
		{1024, 1024}, {8192, 8192}, {MaxReplayWindow, MaxReplayWindow}, {MaxReplayWindow + 1, MaxReplayWindow},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.in), func(t *testing.T) {
			if got := NewReplayWindow(tt.in).Size(); got != tt.want {
				t.Fatalf("Size() = %d, want %d", got, tt.want)
			}
		})
	}
}

// TestReplayWindow walks the edge cases RFC 6479 and RFC 4303 3.4.3 call
// out: the first packet, in-order and reordered arrival, duplicates, the
// window's left edge (size-1 back is inside, size back is outside), jumps of
// less than, exactly and more than the ring, and the 2^32 ESN boundary.
func TestReplayWindow(t *testing.T) {
	type step struct {
		seq  uint64
		want bool
	}
	cases := func(w uint64) map[string][]step {
		return map[string][]step{
			"zero is never valid": {{0, false}, {1, true}, {0, false}},
			"first packet":        {{1, true}, {1, false}},
			"first packet high":   {{w * 3, true}, {w*3 - w + 1, true}, {w*3 - w, false}},
			"in order":            {{1, true}, {2, true}, {3, true}, {2, false}, {4, true}},
			"reordered":           {{5, true}, {3, true}, {4, true}, {1, true}, {2, true}, {3, false}, {5, false}},
			"edge": {
				{w + 100, true},
				{101, true},  // exactly size-1 back: inside
				{100, false}, // exactly size back: outside
				{101, false}, // duplicate at the edge
				{w + 99, true},
			},
			"slide one block": {{1, true}, {64, true}, {65, true}, {1, false}, {64, false}, {63, true}},
			"far jump": {
				{10, true}, {11, true},
				{10 + 100*w, true},         // far beyond the ring: every block cleared
				{10 + 99*w + 1, true},      // size-1 back of the new top
				{11, false},                // long gone
				{10 + 100*w - 1, true},     // just below top
				{10 + 100*w - 1, false},    // duplicate
				{10 + 100*w + w - 1, true}, // jump of just under a window
				{10 + 100*w, false},        // size-1 back and seen: still remembered
			},
			"jump exactly a window": {
				{1, true}, {2, true},
				{1 + w, true},
				{1, false}, // exactly size back
				{2, false}, // size-1 back, seen before the jump
				{3, true},  // size-2 back, never seen
			},
			"esn boundary": {
				{1<<32 - 3, true}, {1<<32 - 1, true},
				{1 << 32, true},       // 2^32-1 -> 2^32
				{1<<32 - 2, true},     // reordered across the boundary
				{1<<32 - 1, false},    // duplicate across the boundary
				{1<<32 + 1, true},     //
				{1<<32 + w, true},     // slide by a whole window
				{1<<32 - 1, false},    // now left of the window
				{1<<32 + 1, false},    // size-1 back and seen
				{1<<32 + 2, true},     // size-2 back, never seen
				{1 << 32, false},      // exactly size back
				{1<<32 + w + 1, true}, //
			},
		}
	}
	for _, size := range []int{64, 1024, 8192} {
		w := uint64(size)
		for name, steps := range cases(w) {
			t.Run(fmt.Sprintf("%d/%s", size, name), func(t *testing.T) {
				rw := NewReplayWindow(size)
				for i, st := range steps {
					want := st.want
					if got := rw.Check(st.seq); got != want {
						t.Fatalf("step %d: Check(%#x) = %v, want %v (top %#x)", i, st.seq, got, want, rw.Top())
					}
					if got := rw.CheckAndUpdate(st.seq); got != want {
						t.Fatalf("step %d: CheckAndUpdate(%#x) = %v, want %v (top %#x)", i, st.seq, got, want, rw.Top())
					}
				}
			})
		}
	}
}

// TestReplayWindowModel compares the bitmap with a plain set on a long
// pseudo-random walk of arrivals, for every size class.
func TestReplayWindowModel(t *testing.T) {
	for _, size := range []int{64, 128, 1024, 8192} {
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			rw := NewReplayWindow(size)
			seen := map[uint64]bool{}
			var top uint64
			x := uint64(0x9e3779b97f4a7c15)
			base := uint64(1<<32 - 5000)
			for range 200000 {
				x ^= x << 13
				x ^= x >> 7
				x ^= x << 17
				var seq uint64
				switch x % 8 {
				case 0: // far ahead
					seq = top + 1 + x>>40%uint64(4*size)
				case 1: // duplicate of a recent one
					seq = top - x>>40%16
				default: // near the top, either side
					seq = top + 8 - x>>40%uint64(size+16)
				}
				if top == 0 {
					seq = base
				}
				want := seq != 0 && !seen[seq] && (seq > top || top-seq < uint64(size))
				if got := rw.CheckAndUpdate(seq); got != want {
					t.Fatalf("CheckAndUpdate(%#x) = %v, want %v (top %#x)", seq, got, want, top)
				}
				if want {
					seen[seq] = true
					top = max(top, seq)
				}
				if rw.Top() != top {
					t.Fatalf("Top() = %#x, want %#x", rw.Top(), top)
				}
			}
		})
	}
}

func TestReplayWindowDisabled(t *testing.T) {
	rw := NewReplayWindow(0)
	for _, seq := range []uint64{5, 5, 1, 1 << 40, 3} {
		if !rw.Check(seq) || !rw.CheckAndUpdate(seq) {
			t.Fatalf("disabled window rejected %d", seq)
		}
	}
	if rw.CheckAndUpdate(0) {
		t.Fatal("sequence number 0 accepted")
	}
	if rw.Top() != 1<<40 {
		t.Fatalf("Top() = %#x", rw.Top())
	}
}

func TestReplayWindowZeroAllocs(t *testing.T) {
	rw := NewReplayWindow(DefaultReplayWindow)
	seq := uint64(0)
	if n := testing.AllocsPerRun(1000, func() {
		seq += 3
		rw.CheckAndUpdate(seq)
		rw.CheckAndUpdate(seq - 1)
	}); n != 0 {
		t.Fatalf("CheckAndUpdate allocates %v per call", n)
	}
}

// TestInferSeq covers RFC 4303 appendix A2.1: both cases and both directions
// across the 2^32 boundary.
func TestInferSeq(t *testing.T) {
	const w = 1024
	tests := []struct {
		name   string
		seqLo  uint32
		top    uint64
		window int
		esn    bool
		want   uint64
	}{
		{"no esn", 7, 1<<32 + 5, w, false, 7},
		{"first packet", 1, 0, w, true, 1},
		{"before first, high low half", 0xfffffff0, 0, w, true, 0xfffffff0},
		{"case A same block", 5000, 6000, w, true, 5000},
		{"case A ahead", 7000, 6000, w, true, 7000},
		{"case A bottom of window", 6000 - w + 1, 6000, w, true, 6000 - w + 1},
		{"case A left of window wraps up", 6000 - w, 6000, w, true, 1<<32 + 6000 - w},
		{"case A top at 2^32-1, next is 2^32", 0, 1<<32 - 1, w, true, 1 << 32},
		{"case A top at 2^32-1, reordered", 0xfffffff0, 1<<32 - 1, w, true, 0xfffffff0},
		{"case A top in block 3", 10, 3<<32 + 0x80000000, w, true, 4<<32 + 10},
		{"case B just past boundary", 2, 1<<32 + 1, w, true, 1<<32 + 2},
		{"case B reordered from below boundary", 0xffffffff, 1<<32 + 1, w, true, 0xffffffff},
		{"case B bottom of window", uint32(1<<32 + 1 - w + 1), 1<<32 + 1, w, true, 1<<32 + 1 - w + 1},
		{"case B left of window", uint32(1<<32 + 1 - w), 1<<32 + 1, w, true, 2<<32 + 1 - w},
		{"case B far ahead", 0x7fffffff, 1<<32 + 1, w, true, 1<<32 + 0x7fffffff},
		{"window 64", 0xffffffc2, 1<<32 + 1, 64, true, 0xffffffc2},
		{"window 64 left of it", 0xffffffc1, 1<<32 + 1, 64, true, 1<<32 + 0xffffffc1},
		{"disabled window: nearest", 0xfffffff0, 1<<32 + 100, 0, true, 0xfffffff0},
		{"disabled window: ahead", 0x70000000, 1<<32 + 100, 0, true, 1<<32 + 0x70000000},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := InferSeq(tt.seqLo, tt.top, tt.window, tt.esn); got != tt.want {
				t.Fatalf("InferSeq(%#x, %#x, %d) = %#x, want %#x", tt.seqLo, tt.top, tt.window, got, tt.want)
			}
		})
	}
}

// TestInferSeqInverse checks that every sequence number inside the window or
// up to 2^31 ahead of top is recovered from its low half.
func TestInferSeqInverse(t *testing.T) {
	for _, top := range []uint64{1, 1000, 1<<32 - 1, 1 << 32, 1<<32 + 7, 5<<32 + 1<<31} {
		for _, size := range []int{64, 1024, 8192} {
			for _, d := range []int64{-int64(size) + 1, -1, 0, 1, 63, 64, int64(size), 1 << 20, 1<<31 - int64(size)} {
				seq := uint64(int64(top) + d)
				if seq == 0 || int64(top)+d < 1 {
					continue
				}
				if got := InferSeq(uint32(seq), top, size, true); got != seq {
					t.Fatalf("top %#x size %d seq %#x: got %#x", top, size, seq, got)
				}
			}
		}
	}
}

// TestReplayWindowLazyBitmap: a window keeps no bitmap until its first
// CheckAndUpdate (an idle inbound SA holds none), behaves as before from
// then on, and the first update is the only one that allocates.
func TestReplayWindowLazyBitmap(t *testing.T) {
	w := NewReplayWindow(DefaultReplayWindow)
	if w.bitmap != nil {
		t.Fatal("bitmap made before the first packet")
	}
	if !w.Check(5) || w.Check(0) {
		t.Fatal("Check on an empty window")
	}
	first := testing.AllocsPerRun(1, func() {
		w = NewReplayWindow(DefaultReplayWindow)
		w.CheckAndUpdate(5)
	})
	if first != 2 && !raceEnabled { // the window and its bitmap
		t.Fatalf("%v allocations for a window and its first packet, want 2", first)
	}
	if len(w.bitmap) != 32 {
		t.Fatalf("bitmap of %d blocks, want 32", len(w.bitmap))
	}
	if w.CheckAndUpdate(5) || !w.CheckAndUpdate(3) || w.Check(3) || !w.Check(4) {
		t.Fatal("window does not record what it accepted")
	}
}
