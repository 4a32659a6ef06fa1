//go:build linux

package netns

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"time"

	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// Ping sends count ICMP echo requests from src to dst inside the namespace,
// one every interval, and returns how many matching echo replies arrived
// within timeout of the last request. It needs no ping(8): it uses a raw
// ICMP socket bound to src. payload bytes of data ride in each request.
func (n *NS) Ping(src, dst netip.Addr, count, payload int, interval, timeout time.Duration) (int, error) {
	var (
		network   string
		reqType   icmp.Type
		replyType icmp.Type
		protoNum  int
	)
	if dst.Is4() {
		network, reqType, replyType, protoNum = "ip4:icmp", ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply, 1
	} else {
		network, reqType, replyType, protoNum = "ip6:ipv6-icmp", ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply, 58
	}
	var c *icmp.PacketConn
	err := n.Do(func() error {
		var err error
		c, err = icmp.ListenPacket(network, src.String())
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("netns %s: ping: %w", n.Name, err)
	}
	defer c.Close()

	id := (os.Getpid() ^ int(time.Now().UnixNano())) & 0xffff
	data := make([]byte, payload)
	for i := range data {
		data[i] = byte(i)
	}
	seen := make(map[int]bool)
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 65536)
		for len(seen) < count {
			nr, peer, err := c.ReadFrom(buf)
			if err != nil {
				return // deadline or closed
			}
			if ip, ok := peer.(*net.IPAddr); !ok || !ip.IP.Equal(net.IP(dst.AsSlice())) {
				continue
			}
			m, err := icmp.ParseMessage(protoNum, buf[:nr])
			if err != nil || m.Type != replyType {
				continue
			}
			if e, ok := m.Body.(*icmp.Echo); ok && e.ID == id && e.Seq < count {
				seen[e.Seq] = true
			}
		}
	}()
	c.SetReadDeadline(time.Now().Add(time.Duration(count)*interval + timeout))
	for seq := 0; seq < count; seq++ {
		m := icmp.Message{Type: reqType, Body: &icmp.Echo{ID: id, Seq: seq, Data: data}}
		b, err := m.Marshal(nil)
		if err != nil {
			return 0, err
		}
		if _, err := c.WriteTo(b, &net.IPAddr{IP: net.IP(dst.AsSlice())}); err != nil {
			c.SetReadDeadline(time.Now())
			<-done
			return len(seen), fmt.Errorf("netns %s: ping %v: %w", n.Name, dst, err)
		}
		if seq < count-1 {
			time.Sleep(interval)
		}
	}
	<-done
	if len(seen) == 0 {
		return 0, errors.New("no echo reply")
	}
	return len(seen), nil
}
