//go:build linux

package tunnel

import (
	"bytes"
	"net"
	"net/netip"
	"testing"
	"time"
)

// TestSendIKENoGarbage sends IKE messages through real sockets on the
// plain IKE port and on the NAT-T port (with the non-ESP marker, RFC 3948
// 2.2): what arrives is the message, and a send allocates nothing, since
// an IKE_SA_INIT flood is answered with one COOKIE per request.
func TestSendIKENoGarbage(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	s := loopbackSockets(t, lo, ikeBatch, 2)
	ike, natt := s[0], s[1]
	tn := &Tunnel{ikeConns: []batchConn{ike}, conns: []batchConn{natt}}
	msg := bytes.Repeat([]byte{0x2e}, 53) // the size of a COOKIE answer
	for _, c := range []struct {
		name  string
		natt  bool
		from  netip.AddrPort
		want  []byte
		local netip.AddrPort
	}{
		{"ike", false, ike.LocalAddr(), msg, ike.LocalAddr()},
		{"natt", true, natt.LocalAddr(), append([]byte{0, 0, 0, 0}, msg...), natt.LocalAddr()},
	} {
		t.Run(c.name, func(t *testing.T) {
			peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
			if err != nil {
				t.Fatal(err)
			}
			defer peer.Close()
			remote := peer.LocalAddr().(*net.UDPAddr).AddrPort()
			if err := tn.SendIKE(msg, c.local, remote, c.natt); err != nil {
				t.Fatal(err)
			}
			buf := make([]byte, 2048)
			peer.SetReadDeadline(time.Now().Add(5 * time.Second))
			n, from, err := peer.ReadFromUDPAddrPort(buf)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(buf[:n], c.want) || from.Port() != c.from.Port() {
				t.Fatalf("got %x from %v, want %x from %v", buf[:n], from, c.want, c.from)
			}
			allocs := testing.AllocsPerRun(200, func() {
				if err := tn.SendIKE(msg, c.local, remote, c.natt); err != nil {
					t.Fatal(err)
				}
			})
			if allocs != 0 && !raceEnabled {
				t.Errorf("SendIKE: %.1f allocations per message", allocs)
			}
		})
	}
}

// TestReceiveIKEAlone checks what the IKE port's reader tells the handler:
// of datagrams that were waiting together only the last comes with alone
// set (the rest of a burst is for the workers), and one that came by
// itself with alone set.
func TestReceiveIKEAlone(t *testing.T) {
	lo := netip.MustParseAddr("127.0.0.1")
	c, err := listenUDP(netip.AddrPortFrom(lo, 0), ikeBatch)
	if err != nil {
		t.Fatal(err)
	}
	peer, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	type got struct {
		b     byte
		alone bool
	}
	ch := make(chan got, 8)
	tn := &Tunnel{closing: make(chan struct{}), opts: Options{
		IKE: func(pkt []byte, remote, local netip.AddrPort, natt, alone bool) {
			ch <- got{pkt[0], alone}
		},
	}}
	dst := net.UDPAddrFromAddrPort(c.LocalAddr())
	// Three datagrams wait in the socket before the reader starts.
	for i := byte(1); i <= 3; i++ {
		if _, err := peer.WriteToUDP([]byte{i}, dst); err != nil {
			t.Fatal(err)
		}
	}
	time.Sleep(50 * time.Millisecond)
	tn.readers.Add(1)
	go tn.routineReceiveIKE(c)
	defer func() {
		close(tn.closing)
		c.Close()
		tn.readers.Wait()
	}()
	wait := func() got {
		select {
		case g := <-ch:
			return g
		case <-time.After(5 * time.Second):
			t.Fatal("no datagram")
		}
		return got{}
	}
	for i := byte(1); i <= 3; i++ {
		if g := wait(); g.b != i || g.alone != (i == 3) {
			t.Fatalf("datagram %d of a burst: got %d, alone %v", i, g.b, g.alone)
		}
	}
	if _, err := peer.WriteToUDP([]byte{4}, dst); err != nil {
		t.Fatal(err)
	}
	if g := wait(); g.b != 4 || !g.alone {
		t.Fatalf("a datagram by itself: got %d, alone %v", g.b, g.alone)
	}
}
