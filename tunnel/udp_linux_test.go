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
			s := loopbackSockets(t, addr, batchCap, 2)
			rx, tx := s[0], s[1]
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
			if err := tx.WriteBatch(sent, netip.Addr{}, rx.LocalAddr()); err != nil {
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
	s := loopbackSockets(t, addr, batchCap, 2)
	rx, tx := s[0], s[1]
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
		if err := tx.WriteBatch(out, netip.Addr{}, dst); err != nil {
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

// TestSendIKEGather sends IKE messages the way the Manager does, on the
// plain IKE port and on the NAT-T port with the non-ESP marker in front
// (RFC 3948 2.2), over IPv4 and IPv6 loopback, and checks what arrives, and
// that a send allocates nothing.
func TestSendIKEGather(t *testing.T) {
	for _, family := range []string{"127.0.0.1", "::1"} {
		t.Run(family, func(t *testing.T) {
			addr := netip.MustParseAddr(family)
			s := loopbackSockets(t, addr, batchCap, 3)
			rx, ikeConn, nattConn := s[0], s[1], s[2]
			tun := &Tunnel{ikeConns: []batchConn{ikeConn}, conns: []batchConn{nattConn}}
			msg := make([]byte, 300)
			for i := range msg {
				msg[i] = byte(i*7 + 1)
			}
			bufs := [][]byte{make([]byte, bufSize)}
			sizes := make([]int, 1)
			srcs := make([]netip.AddrPort, 1)
			recv := func() ([]byte, netip.AddrPort) {
				n, err := rx.ReadBatch(bufs, 0, sizes, srcs)
				if err != nil || n != 1 {
					t.Fatalf("ReadBatch: %d, %v", n, err)
				}
				return bufs[0][:sizes[0]], srcs[0]
			}
			dst := rx.LocalAddr()
			for _, natt := range []bool{false, true} {
				if err := tun.SendIKE(msg, netip.AddrPort{}, dst, natt); err != nil {
					t.Fatalf("SendIKE natt=%v: %v", natt, err)
				}
				got, from := recv()
				want, wantFrom := msg, ikeConn.LocalAddr()
				if natt {
					want, wantFrom = append([]byte{0, 0, 0, 0}, msg...), nattConn.LocalAddr()
				}
				if !bytes.Equal(got, want) || from != wantFrom {
					t.Fatalf("natt=%v: got %d bytes from %v, want %d bytes from %v", natt, len(got), from, len(want), wantFrom)
				}
			}
			if err := tun.SendKeepalive(netip.AddrPort{}, dst); err != nil {
				t.Fatal(err)
			}
			if got, _ := recv(); !bytes.Equal(got, []byte{0xff}) {
				t.Fatalf("keepalive: got %x", got)
			}
			allocs := testing.AllocsPerRun(50, func() {
				if err := tun.SendIKE(msg, netip.AddrPort{}, dst, true); err != nil {
					t.Fatal(err)
				}
				recv()
			})
			if allocs != 0 && !raceEnabled {
				t.Fatalf("%.1f allocations per IKE message, want 0", allocs)
			}
		})
	}
}

// loopbackSockets opens n UDP sockets with batches of batch on addr (port
// chosen by the kernel), closed when the test ends. A test on IPv6 is
// skipped when the machine has no IPv6 socket; any other failure fails it.
func loopbackSockets(t *testing.T, addr netip.Addr, batch, n int) []batchConn {
	t.Helper()
	out := make([]batchConn, n)
	for i := range out {
		c, err := listenUDP(netip.AddrPortFrom(addr, 0), batch)
		if err != nil {
			if i == 0 && addr.Is6() {
				t.Skipf("no %s socket here: %v", addr, err)
			}
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		out[i] = c
	}
	return out
}
