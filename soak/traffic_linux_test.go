//go:build linux

package soak

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// rcvbuf is the receive buffer forced on the test's receiving sockets
// (SO_RCVBUFFORCE, root only): two seconds of the fastest stream, so that
// the receiver's own scheduling never loses a datagram.
const rcvbuf = 64 << 20

func forceRcvbuf(c *net.UDPConn) error {
	rc, err := c.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUFFORCE, rcvbuf)
	}); err != nil {
		return err
	}
	return serr
}

// udpStream sends sequence-numbered datagrams from one gateway's inner
// address to the other's at a fixed rate, and counts at the receiver
// which sequence numbers arrived.
type udpStream struct {
	send, recv *net.UDPConn
	rate, size int
	stopSend   chan struct{}
	sendDone   chan struct{}
	recvDone   chan struct{}
	started    time.Time
	elapsed    time.Duration // sending time, set by stop

	sent       atomic.Uint64
	sendErrors atomic.Uint64

	mu       sync.Mutex
	seen     []uint64 // bitmap of received sequence numbers
	received uint64
	dups     uint64
	late     uint64 // arrived after a higher sequence number
	maxLate  uint64 // largest distance to the highest seen so far
	highest  uint64
	any      bool
}

// startUDPStream starts rate datagrams/s of size bytes from from.inner to
// to.inner:port.
func startUDPStream(t *testing.T, from, to *gateway, port, rate, size int) *udpStream {
	t.Helper()
	s := &udpStream{rate: rate, size: size, stopSend: make(chan struct{}), sendDone: make(chan struct{}), recvDone: make(chan struct{})}
	dst := netip.AddrPortFrom(to.inner, uint16(port))
	if err := to.ns.Do(func() (err error) {
		s.recv, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(dst))
		if err != nil {
			return err
		}
		return forceRcvbuf(s.recv)
	}); err != nil {
		t.Fatalf("stream receiver in %s: %v", to.name, err)
	}
	if err := from.ns.Do(func() (err error) {
		s.send, err = net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(from.inner, 0)), net.UDPAddrFromAddrPort(dst))
		if err == nil {
			s.send.SetWriteBuffer(4 << 20)
		}
		return err
	}); err != nil {
		s.recv.Close()
		t.Fatalf("stream sender in %s: %v", from.name, err)
	}
	t.Cleanup(func() { s.stop(0) })
	go s.routineReceive()
	s.started = time.Now()
	go s.routineSend()
	return s
}

func (s *udpStream) routineSend() {
	defer close(s.sendDone)
	b := make([]byte, s.size)
	for i := 8; i < len(b); i++ {
		b[i] = byte(i)
	}
	var seq uint64
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-s.stopSend:
			return
		case <-tick.C:
		}
		due := uint64(time.Since(s.started).Seconds() * float64(s.rate))
		for seq < due {
			binary.BigEndian.PutUint64(b, seq)
			if _, err := s.send.Write(b); err != nil {
				// Never sent: the sequence number is used again.
				s.sendErrors.Add(1)
				break
			}
			seq++
			s.sent.Store(seq)
		}
	}
}

func (s *udpStream) routineReceive() {
	defer close(s.recvDone)
	buf := make([]byte, 65536)
	for {
		n, err := s.recv.Read(buf)
		if err != nil {
			return
		}
		if n < 8 {
			continue
		}
		seq := binary.BigEndian.Uint64(buf)
		s.mu.Lock()
		w := seq / 64
		for uint64(len(s.seen)) <= w {
			s.seen = append(s.seen, 0)
		}
		if s.seen[w]&(1<<(seq%64)) != 0 {
			s.dups++
		} else {
			s.seen[w] |= 1 << (seq % 64)
			s.received++
		}
		if s.any && seq < s.highest {
			s.late++
			s.maxLate = max(s.maxLate, s.highest-seq)
		}
		if !s.any || seq > s.highest {
			s.highest, s.any = seq, true
		}
		s.mu.Unlock()
	}
}

// streamResult is what a stream counted.
type streamResult struct {
	sent, received, dups, late, maxLate, sendErrors uint64
	missing                                         []uint64 // the first few lost sequence numbers
	elapsed                                         time.Duration
}

func (r streamResult) lost() uint64 { return r.sent - r.received }

func (r streamResult) String() string {
	s := fmt.Sprintf("%d sent in %v (%.0f/s), %d received, %d lost, %d duplicated, %d late (at most %d places)",
		r.sent, r.elapsed.Round(time.Millisecond), float64(r.sent)/r.elapsed.Seconds(), r.received, r.lost(), r.dups, r.late, r.maxLate)
	if len(r.missing) > 0 {
		s += fmt.Sprintf(", first lost %v", r.missing)
	}
	if r.sendErrors > 0 {
		s += fmt.Sprintf(", %d send errors", r.sendErrors)
	}
	return s
}

// stop stops sending, waits drain for the last datagrams and returns the
// counts. It may be called more than once; later calls return the first
// call's counts.
func (s *udpStream) stop(drain time.Duration) streamResult {
	select {
	case <-s.stopSend:
	default:
		close(s.stopSend)
		<-s.sendDone
		s.elapsed = time.Since(s.started)
		time.Sleep(drain)
		s.recv.Close()
		<-s.recvDone
		s.send.Close()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	r := streamResult{sent: s.sent.Load(), received: s.received, dups: s.dups, late: s.late, maxLate: s.maxLate, sendErrors: s.sendErrors.Load(), elapsed: s.elapsed}
	for seq := uint64(0); seq < r.sent && len(r.missing) < 10; seq++ {
		if w := seq / 64; w >= uint64(len(s.seen)) || s.seen[w]&(1<<(seq%64)) == 0 {
			r.missing = append(r.missing, seq)
		}
	}
	return r
}

// tcpTransfer sends pseudo-random bytes over one TCP connection from
// from.inner to to.inner at about rate bytes/s until more returns false,
// and compares the SHA-256 of what was sent and what arrived.
type tcpTransfer struct {
	done chan struct{}
	n    int64
	err  error
}

func startTCPTransfer(t *testing.T, from, to *gateway, rate int64, more func() bool) *tcpTransfer {
	t.Helper()
	var ln net.Listener
	if err := to.ns.Do(func() (err error) {
		ln, err = net.Listen("tcp4", netip.AddrPortFrom(to.inner, 0).String())
		return err
	}); err != nil {
		t.Fatal(err)
	}
	var conn net.Conn
	if err := from.ns.Do(func() (err error) {
		d := net.Dialer{LocalAddr: net.TCPAddrFromAddrPort(netip.AddrPortFrom(from.inner, 0)), Timeout: 10 * time.Second}
		conn, err = d.Dial("tcp4", ln.Addr().String())
		return err
	}); err != nil {
		ln.Close()
		t.Fatal(err)
	}
	x := &tcpTransfer{done: make(chan struct{})}
	type sum struct {
		h   [32]byte
		n   int64
		err error
	}
	got := make(chan sum, 1)
	go func() {
		c, err := ln.Accept()
		ln.Close()
		if err != nil {
			got <- sum{err: err}
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Minute))
		h := sha256.New()
		n, err := io.Copy(h, c)
		var r sum
		copy(r.h[:], h.Sum(nil))
		r.n, r.err = n, err
		got <- r
	}()
	go func() {
		defer close(x.done)
		defer conn.Close()
		rng := mrand.NewChaCha8([32]byte{'s', 'o', 'a', 'k'})
		h := sha256.New()
		w := io.MultiWriter(conn, h)
		start := time.Now()
		const chunk = 16 << 10
		for more() {
			if ahead := time.Duration(float64(x.n)/float64(rate)*float64(time.Second)) - time.Since(start); ahead > 0 {
				time.Sleep(ahead)
			}
			n, err := io.CopyN(w, rng, chunk)
			x.n += n
			if err != nil {
				x.err = fmt.Errorf("sending: %w after %d bytes", err, x.n)
				return
			}
		}
		conn.(*net.TCPConn).CloseWrite()
		var want [32]byte
		copy(want[:], h.Sum(nil))
		select {
		case r := <-got:
			switch {
			case r.err != nil:
				x.err = fmt.Errorf("receiving: %w after %d bytes", r.err, r.n)
			case r.n != x.n || r.h != want:
				x.err = fmt.Errorf("received %d bytes with sha256 %x; sent %d bytes with sha256 %x", r.n, r.h, x.n, want)
			}
		case <-time.After(time.Minute):
			x.err = errors.New("receiver did not finish within a minute of the last byte sent")
		}
	}()
	return x
}

// wait returns the number of bytes sent and the outcome.
func (x *tcpTransfer) wait(timeout time.Duration) (int64, error) {
	select {
	case <-x.done:
		return x.n, x.err
	case <-time.After(timeout):
		return 0, fmt.Errorf("TCP transfer not done within %v", timeout)
	}
}

// echoProbe sends a small datagram from one gateway to a UDP echo service
// on the other every interval, and records when each answer came back.
type echoProbe struct {
	srv, cli *net.UDPConn
	stop     chan struct{}
	done     sync.WaitGroup

	mu      sync.Mutex
	answers []time.Time // arrival time of each answer, in order
}

func startEchoProbe(t *testing.T, from, to *gateway, port int, interval time.Duration) *echoProbe {
	t.Helper()
	p := &echoProbe{stop: make(chan struct{})}
	dst := netip.AddrPortFrom(to.inner, uint16(port))
	if err := to.ns.Do(func() (err error) {
		p.srv, err = net.ListenUDP("udp4", net.UDPAddrFromAddrPort(dst))
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := from.ns.Do(func() (err error) {
		p.cli, err = net.DialUDP("udp4", net.UDPAddrFromAddrPort(netip.AddrPortFrom(from.inner, 0)), net.UDPAddrFromAddrPort(dst))
		return err
	}); err != nil {
		p.srv.Close()
		t.Fatal(err)
	}
	p.done.Add(3)
	go func() { // echo service
		defer p.done.Done()
		buf := make([]byte, 2048)
		for {
			n, from, err := p.srv.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			p.srv.WriteToUDPAddrPort(buf[:n], from)
		}
	}()
	go func() { // answers
		defer p.done.Done()
		buf := make([]byte, 2048)
		for {
			if _, err := p.cli.Read(buf); err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				continue // ICMP errors while the tunnel is down
			}
			p.mu.Lock()
			p.answers = append(p.answers, time.Now())
			p.mu.Unlock()
		}
	}()
	go func() { // requests
		defer p.done.Done()
		tick := time.NewTicker(interval)
		defer tick.Stop()
		var seq uint64
		b := make([]byte, 64)
		for {
			select {
			case <-p.stop:
				return
			case <-tick.C:
			}
			binary.BigEndian.PutUint64(b, seq)
			seq++
			p.cli.Write(b)
		}
	}()
	t.Cleanup(p.close)
	return p
}

// firstAnswerAfter returns the arrival time of the first answer after at.
func (p *echoProbe) firstAnswerAfter(at time.Time) (time.Time, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, a := range p.answers {
		if a.After(at) {
			return a, true
		}
	}
	return time.Time{}, false
}

func (p *echoProbe) close() {
	select {
	case <-p.stop:
		return
	default:
	}
	close(p.stop)
	p.srv.Close()
	p.cli.Close()
	p.done.Wait()
}

// errnoOf digs a syscall.Errno out of err, for messages.
func errnoOf(err error) syscall.Errno {
	var e syscall.Errno
	errors.As(err, &e)
	return e
}
