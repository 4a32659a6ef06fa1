//go:build linux

package tunnel

import (
	"bytes"
	"fmt"
	"net/netip"
	"testing"
	"time"
)

// TestLinuxConnBatches sends runs of equal and unequal datagrams through a
// real UDP socket pair on loopback, with GSO on the sender and GRO on the
// receiver where the kernel offers them, and checks that every datagram
// arrives intact, in order and split at its original boundaries.
func TestLinuxConnBatches(t *testing.T) {
	for _, family := range []string{"127.0.0.1", "::1"} {
		t.Run(family, func(t *testing.T) {
			addr := netip.MustParseAddr(family)
			rx, err := listenUDP(netip.AddrPortFrom(addr, 0), batchCap)
			if err != nil {
				t.Skipf("no %s socket here: %v", family, err)
			}
			defer rx.Close()
			tx, err := listenUDP(netip.AddrPortFrom(addr, 0), batchCap)
			if err != nil {
				t.Fatal(err)
			}
			defer tx.Close()
			gso, gro := tx.Offload()
			_, rgro := rx.Offload()
			t.Logf("gso=%v gro=%v", gso, gro && rgro)

			// 150 datagrams: a run of 100 of 1400 bytes (more than one GSO
			// message), a short tail, then mixed sizes.
			var sent [][]byte
			for i := 0; i < 150; i++ {
				size := 1400
				switch {
				case i == 100:
					size = 333
				case i > 100:
					size = 40 + i*7
				}
				b := make([]byte, size, bufSize)
				for j := range b {
					b[j] = byte(i + j)
				}
				copy(b, fmt.Sprintf("%04d", i))
				sent = append(sent, b)
			}
			if err := tx.WriteBatch(sent, rx.LocalAddr()); err != nil {
				t.Fatalf("WriteBatch: %v", err)
			}

			bufs := make([][]byte, batchCap)
			for i := range bufs {
				bufs[i] = make([]byte, bufSize)
			}
			sizes := make([]int, batchCap)
			srcs := make([]netip.AddrPort, batchCap)
			var got [][]byte
			deadline := time.Now().Add(5 * time.Second)
			for len(got) < len(sent) && time.Now().Before(deadline) {
				n, err := rx.ReadBatch(bufs, rxOffset, sizes, srcs)
				if err != nil {
					t.Fatalf("ReadBatch: %v", err)
				}
				for i := 0; i < n; i++ {
					if srcs[i] != tx.LocalAddr() {
						t.Fatalf("source %v, want %v", srcs[i], tx.LocalAddr())
					}
					got = append(got, append([]byte(nil), bufs[i][rxOffset:rxOffset+sizes[i]]...))
				}
			}
			if len(got) != len(sent) {
				t.Fatalf("received %d datagrams, want %d", len(got), len(sent))
			}
			for i := range sent {
				if !bytes.Equal(got[i], sent[i]) {
					t.Fatalf("datagram %d: got %d bytes %q..., want %d bytes %q...", i, len(got[i]), got[i][:4], len(sent[i]), sent[i][:4])
				}
			}
		})
	}
}

// TestLinuxConnNoAllocs checks that a steady-state batched write and read
// allocate nothing.
func TestLinuxConnNoAllocs(t *testing.T) {
	addr := netip.MustParseAddr("127.0.0.1")
	rx, err := listenUDP(netip.AddrPortFrom(addr, 0), batchCap)
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	tx, err := listenUDP(netip.AddrPortFrom(addr, 0), batchCap)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	out := make([][]byte, 32)
	for i := range out {
		out[i] = make([]byte, 1400, bufSize)
	}
	bufs := make([][]byte, batchCap)
	for i := range bufs {
		bufs[i] = make([]byte, bufSize)
	}
	sizes := make([]int, batchCap)
	srcs := make([]netip.AddrPort, batchCap)
	dst := rx.LocalAddr()
	allocs := testing.AllocsPerRun(50, func() {
		if err := tx.WriteBatch(out, dst); err != nil {
			t.Fatal(err)
		}
		for got := 0; got < len(out); {
			n, err := rx.ReadBatch(bufs, rxOffset, sizes, srcs)
			if err != nil {
				t.Fatal(err)
			}
			got += n
		}
	})
	if allocs != 0 {
		t.Fatalf("%.1f allocations per batch, want 0", allocs)
	}
}
