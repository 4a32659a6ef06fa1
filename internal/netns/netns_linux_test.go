//go:build linux

package netns

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// pair makes two namespaces joined by a veth with 10.79.0.1/24 and
// 10.79.0.2/24, and removes them when the test ends.
func pair(t *testing.T) (a, b *NS) {
	t.Helper()
	if err := Available(); err != nil {
		t.Skipf("skipping: %v", err)
	}
	prefix := fmt.Sprintf("esptunnstest-%d-", os.Getpid())
	var err error
	if a, err = New(prefix + "a"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Delete() })
	if b, err = New(prefix + "b"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Delete() })
	if err := Veth(a, "va", b, "vb"); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][]string{
		{a.Name, "10.79.0.1/24", "va"}, {b.Name, "10.79.0.2/24", "vb"},
	} {
		n := &NS{Name: c[0]}
		if _, err := n.Run("ip", "addr", "add", c[1], "dev", c[2]); err != nil {
			t.Fatal(err)
		}
	}
	return a, b
}

func TestPingCaptureRawSend(t *testing.T) {
	a, b := pair(t)
	src, dst := netip.MustParseAddr("10.79.0.1"), netip.MustParseAddr("10.79.0.2")
	got, err := a.Ping(src, dst, 3, 56, 50*time.Millisecond, time.Second)
	if err != nil || got != 3 {
		t.Fatalf("ping: %d replies, %v", got, err)
	}

	// A UDP listener in b, a datagram crafted in a and sent raw.
	var c *net.UDPConn
	if err := b.Do(func() error {
		var err error
		c, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(10, 79, 0, 2), Port: 4599})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	capt, err := b.StartCapture("vb", func(p []byte) bool {
		u, ok := ParseUDP(p)
		return ok && u.Dst.Port() == 4599
	})
	if err != nil {
		t.Fatal(err)
	}
	var sender *net.UDPConn
	if err := a.Do(func() error {
		var err error
		sender, err = net.DialUDP("udp4", nil, &net.UDPAddr{IP: net.IPv4(10, 79, 0, 2), Port: 4599})
		return err
	}); err != nil {
		t.Fatal(err)
	}
	defer sender.Close()
	if _, err := sender.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 100)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	if n, _, err := c.ReadFrom(buf); err != nil || string(buf[:n]) != "hello" {
		t.Fatalf("first datagram: %q %v", buf[:n], err)
	}
	time.Sleep(100 * time.Millisecond)
	pkts := capt.Stop()
	if len(pkts) != 1 {
		t.Fatalf("captured %d packets, want 1", len(pkts))
	}
	// Send it again, with one payload byte changed and the UDP checksum
	// recomputed (the capture holds only the offloaded partial sum): the
	// receiving kernel checks it, so the datagram arrives only if it is right.
	p := pkts[0]
	u, _ := ParseUDP(p)
	u.Payload[0] = 'j'
	FixUDPChecksum(p, u)
	if err := a.SendRawIP(p); err != nil {
		t.Fatal(err)
	}
	if n, _, err := c.ReadFrom(buf); err != nil || string(buf[:n]) != "jello" {
		t.Fatalf("raw datagram: %q %v", buf[:n], err)
	}

	path := filepath.Join(t.TempDir(), "x.pcap")
	if err := WritePcap(path, pkts); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Size() != int64(24+16+len(p)) {
		t.Fatalf("pcap: %v %v", st, err)
	}
}

func TestNewRefusesExisting(t *testing.T) {
	a, _ := pair(t)
	if _, err := New(a.Name); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("New(%s) twice: %v", a.Name, err)
	}
}
