//go:build linux

package tunnel

import (
	"net/netip"
	"testing"
	"time"
)

// TestIKESocketLocalAddrs checks IP_PKTINFO / IPV6_PKTINFO on a plain IKE
// socket bound to an unspecified address: a datagram sent to one of the
// host's addresses reports that address (not the unspecified one), and
// WriteOne with a source address sends from it, whatever the kernel would
// route from. 127.0.0.0/8 is all local on Linux, so 127.0.0.2 and
// 127.0.0.3 stand for a multihomed host's addresses.
func TestIKESocketLocalAddrs(t *testing.T) {
	for _, c := range []struct {
		any, dst, src, peer string
	}{
		{"0.0.0.0", "127.0.0.2", "127.0.0.3", "127.0.0.1"},
		{"::", "::1", "::1", "::1"},
	} {
		t.Run(c.any, func(t *testing.T) {
			ike, err := listenIKE(netip.AddrPortFrom(netip.MustParseAddr(c.any), 0))
			if err != nil {
				t.Skipf("no %s socket here: %v", c.any, err)
			}
			defer ike.Close()
			peer, err := listenUDP(netip.AddrPortFrom(netip.MustParseAddr(c.peer), 0), 4)
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			port := ike.LocalAddr().Port()
			dst := netip.AddrPortFrom(netip.MustParseAddr(c.dst), port)

			// Received: the address the datagram was sent to.
			if err := peer.WriteOne([]byte("request"), netip.Addr{}, dst); err != nil {
				t.Fatal(err)
			}
			bufs, sizes, srcs := recvBufs(1)
			locals := make([]netip.AddrPort, 1)
			n, err := ike.(localReader).ReadBatchLocal(bufs, 0, sizes, srcs, locals)
			if err != nil || n != 1 {
				t.Fatalf("ReadBatchLocal: %d, %v", n, err)
			}
			if string(bufs[0][:sizes[0]]) != "request" || srcs[0] != peer.LocalAddr() {
				t.Fatalf("got %q from %v, want %q from %v", bufs[0][:sizes[0]], srcs[0], "request", peer.LocalAddr())
			}
			if locals[0] != dst {
				t.Errorf("local address %v, want %v", locals[0], dst)
			}

			// Sent: from the given source.
			src := netip.MustParseAddr(c.src)
			if err := ike.WriteOne([]byte("response"), src, peer.LocalAddr()); err != nil {
				t.Fatal(err)
			}
			done := make(chan struct{})
			go func() {
				defer close(done)
				n, err = peer.ReadBatch(bufs, 0, sizes, srcs)
			}()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				peer.Close()
				<-done
				t.Fatal("no response within 5s")
			}
			if err != nil || n != 1 {
				t.Fatalf("ReadBatch: %d, %v", n, err)
			}
			if want := netip.AddrPortFrom(src, port); srcs[0] != want {
				t.Errorf("response from %v, want %v", srcs[0], want)
			}
			// Setting the source costs no allocation (an IKE_SA_INIT
			// flood is answered with one COOKIE per request).
			msg := []byte("response")
			allocs := testing.AllocsPerRun(50, func() {
				if err := ike.WriteOne(msg, src, peer.LocalAddr()); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 && !raceEnabled {
				t.Errorf("WriteOne with a source: %.1f allocations per datagram", allocs)
			}
		})
	}
}

func recvBufs(n int) ([][]byte, []int, []netip.AddrPort) {
	bufs := make([][]byte, n)
	for i := range bufs {
		bufs[i] = make([]byte, bufSize)
	}
	return bufs, make([]int, n), make([]netip.AddrPort, n)
}

// TestWriteBatchSource sends ESP-in-UDP batches (a GSO run of equal
// datagrams and a shorter one) from a socket bound to 0.0.0.0 with a
// source address, as the data path does for an SA whose IKE SA has a local
// address: every datagram must leave from that address, and the send must
// allocate nothing.
func TestWriteBatchSource(t *testing.T) {
	tx, err := listenUDP(netip.AddrPortFrom(netip.IPv4Unspecified(), 0), batchCap)
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Close()
	rx, err := listenUDP(netip.MustParseAddrPort("127.0.0.1:0"), batchCap)
	if err != nil {
		t.Fatal(err)
	}
	defer rx.Close()
	src := netip.MustParseAddr("127.0.0.3")
	want := netip.AddrPortFrom(src, tx.LocalAddr().Port())
	var out [][]byte
	for i := range 9 {
		size := 1200
		if i == 8 {
			size = 300
		}
		out = append(out, make([]byte, size, bufSize))
	}
	if err := tx.WriteBatch(out, src, rx.LocalAddr()); err != nil {
		t.Fatal(err)
	}
	bufs, sizes, srcs := recvBufs(batchCap)
	got := 0
	for got < len(out) {
		n, err := rx.ReadBatch(bufs, 0, sizes, srcs)
		if err != nil {
			t.Fatal(err)
		}
		for i := range n {
			if srcs[i] != want {
				t.Fatalf("datagram %d from %v, want %v", got+i, srcs[i], want)
			}
		}
		got += n
	}
	allocs := testing.AllocsPerRun(20, func() {
		if err := tx.WriteBatch(out, src, rx.LocalAddr()); err != nil {
			t.Fatal(err)
		}
		for n := 0; n < len(out); {
			k, err := rx.ReadBatch(bufs, 0, sizes, srcs)
			if err != nil {
				t.Fatal(err)
			}
			n += k
		}
	})
	if allocs != 0 && !raceEnabled {
		t.Errorf("WriteBatch with a source: %.1f allocations per batch", allocs)
	}
}
