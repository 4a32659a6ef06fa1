//go:build linux

package tunnel

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"golang.zx2c4.com/wireguard/tun"

	"github.com/esptun/esptun/internal/netns"
)

// TestTUNWriterUDP writes UDP segments through tunWriter into a real TUN
// device in a namespace and reads them from a UDP socket there: the kernel
// takes the super-packet (where it has UDP GSO on TUN devices) and hands
// every datagram over intact and in order.
func TestTUNWriterUDP(t *testing.T) {
	if err := netns.Available(); err != nil {
		t.Skipf("needs root, /dev/net/tun and ip(8): %v", err)
	}
	ns, err := netns.New(fmt.Sprintf("esptungro-%d", os.Getpid()))
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Delete()
	var dev tun.Device
	if err := ns.Do(func() (err error) {
		dev, err = tun.CreateTUN("esptungro0", 1400)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer dev.Close()
	for _, args := range [][]string{
		{"ip", "addr", "add", "10.1.0.1/8", "dev", "esptungro0"},
		{"ip", "link", "set", "esptungro0", "up"},
	} {
		if _, err := ns.Run(args...); err != nil {
			t.Fatal(err)
		}
	}
	var uc *net.UDPConn
	if err := ns.Do(func() (err error) {
		uc, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 1, 0, 1), Port: 5001})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer uc.Close()
	w := newTUNWriter(dev)
	if w == nil {
		t.Fatal("no TUN writer on a device with offloads")
	}
	t.Logf("UDP GSO on the TUN device: %v", w.plan.udp)

	// 20 datagrams of 1000 bytes and a short one: one super-packet where
	// the kernel takes them, 21 writes otherwise.
	var out, want [][]byte
	for i := range 21 {
		n := 1000
		if i == 20 {
			n = 300
		}
		b := groSeg(false, protoUDP, 1111, uint32(i*1000), n, false)
		out = append(out, b)
		want = append(want, append([]byte(nil), b[tunWriteOffset+28:]...))
	}
	if failed := w.write(out); failed != 0 {
		t.Fatalf("%d writes failed", failed)
	}
	if w.plan.udp && len(w.plan.runs) != 1 {
		t.Fatalf("%d writes, want one super-packet", len(w.plan.runs))
	}
	uc.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2000)
	for i, wnt := range want {
		n, err := uc.Read(buf)
		if err != nil {
			t.Fatalf("datagram %d: %v", i, err)
		}
		if !bytes.Equal(buf[:n], wnt) {
			t.Fatalf("datagram %d: %d bytes, differs from what was sent (%d bytes)", i, n, len(wnt))
		}
	}
}
