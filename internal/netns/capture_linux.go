//go:build linux

package netns

import (
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// Capture records the IP packets that cross one interface of a namespace,
// through an AF_PACKET socket as tcpdump does. Packet taps see a received
// packet before netfilter, so a packet that nftables drops is still
// captured.
type Capture struct {
	fd   int
	done chan struct{}

	mu   sync.Mutex
	pkts [][]byte
}

// StartCapture starts capturing on ifname inside the namespace. keep, if not
// nil, chooses the packets to record; it is called from the capture
// goroutine with a packet that stays valid only during the call.
func (n *NS) StartCapture(ifname string, keep func(pkt []byte) bool) (*Capture, error) {
	proto := int(htons(unix.ETH_P_ALL))
	var fd int
	err := n.Do(func() error {
		ifi, err := net.InterfaceByName(ifname)
		if err != nil {
			return err
		}
		fd, err = unix.Socket(unix.AF_PACKET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, proto)
		if err != nil {
			return err
		}
		if err := unix.Bind(fd, &unix.SockaddrLinklayer{Protocol: uint16(proto), Ifindex: ifi.Index}); err != nil {
			unix.Close(fd)
			return err
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("netns %s: capture on %s: %w", n.Name, ifname, err)
	}
	tv := unix.NsecToTimeval(int64(50 * time.Millisecond))
	if err := unix.SetsockoptTimeval(fd, unix.SOL_SOCKET, unix.SO_RCVTIMEO, &tv); err != nil {
		unix.Close(fd)
		return nil, err
	}
	c := &Capture{fd: fd, done: make(chan struct{})}
	ready := make(chan struct{})
	go c.routineRead(keep, ready)
	<-ready
	return c, nil
}

func (c *Capture) routineRead(keep func([]byte) bool, ready chan struct{}) {
	buf := make([]byte, 1<<16+512)
	close(ready)
	for {
		select {
		case <-c.done:
			return
		default:
		}
		n, _, err := unix.Recvfrom(c.fd, buf, 0)
		if err != nil {
			continue // timeout: look at done again
		}
		pkt := buf[:n]
		if keep != nil && !keep(pkt) {
			continue
		}
		c.mu.Lock()
		c.pkts = append(c.pkts, append([]byte(nil), pkt...))
		c.mu.Unlock()
	}
}

// Packets returns a copy of the list of packets recorded so far.
func (c *Capture) Packets() [][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([][]byte(nil), c.pkts...)
}

// Stop ends the capture and returns every recorded packet.
func (c *Capture) Stop() [][]byte {
	select {
	case <-c.done:
	default:
		close(c.done)
		// The reader wakes up at its next receive timeout.
		time.Sleep(100 * time.Millisecond)
		unix.Close(c.fd)
	}
	return c.Packets()
}

func htons(v uint16) uint16 { return v<<8 | v>>8 }

// SendRawIP sends pkt, a whole IPv4 or IPv6 packet with its header, from
// inside the namespace as it is, through a raw socket (IPPROTO_RAW implies
// IP_HDRINCL). For IPv4 the kernel fills in the total length and the header
// checksum.
func (n *NS) SendRawIP(pkt []byte) error {
	if len(pkt) < 20 {
		return errors.New("netns: short IP packet")
	}
	return n.Do(func() error {
		var (
			fd  int
			err error
			sa  unix.Sockaddr
		)
		switch pkt[0] >> 4 {
		case 4:
			fd, err = unix.Socket(unix.AF_INET, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
			sa = &unix.SockaddrInet4{Addr: [4]byte(pkt[16:20])}
		case 6:
			if len(pkt) < 40 {
				return errors.New("netns: short IPv6 packet")
			}
			fd, err = unix.Socket(unix.AF_INET6, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.IPPROTO_RAW)
			sa = &unix.SockaddrInet6{Addr: [16]byte(pkt[24:40])}
		default:
			return errors.New("netns: not an IP packet")
		}
		if err != nil {
			return err
		}
		defer unix.Close(fd)
		return unix.Sendto(fd, pkt, 0, sa)
	})
}
