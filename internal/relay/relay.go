// Package relay is a userspace UDP relay that stands between two hosts and
// impairs what it forwards: it drops, delays, jitters, duplicates, reorders
// and corrupts datagrams at configured rates, separately in each direction,
// and counts what it did. esptun's hostile-conditions tests put it between
// two gateways because the kernels they run on have no netem qdisc.
//
// A relay has one or more links. Each link is a pair of UDP sockets owned
// by the relay, one facing side A and one facing side B. A datagram that
// arrives on the A-facing socket is sent, payload untouched, from the
// B-facing socket to side B's host, and the other way round, so each host
// sees the relay's address as its peer's, as behind a NAT. The hosts'
// addresses are fixed per link: the relay learns nothing from the source
// addresses it sees, so a host that answers from the wrong port is not
// followed (and its datagram still reaches the other side, from the
// relay's address on that link).
//
// Nothing here needs privileges or Linux; a Listen hook lets callers open
// the sockets in another network namespace.
package relay

import (
	"container/heap"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Direction is a direction of travel through the relay.
type Direction int

const (
	AtoB Direction = iota // from side A's host to side B's host
	BtoA                  // from side B's host to side A's host
)

func (d Direction) String() string {
	if d == AtoB {
		return "A->B"
	}
	return "B->A"
}

// Link is one pair of relay sockets.
type Link struct {
	// A is the relay's own address facing side A: side A's host sends
	// here. Port 0 picks a free port (see Relay.Addrs).
	A netip.AddrPort
	// PeerA is side A's host: datagrams from side B go there.
	PeerA netip.AddrPort
	// B and PeerB are the same facing side B.
	B, PeerB netip.AddrPort
}

// Impairment says what happens to datagrams going one way. Rates are
// probabilities between 0 and 1, decided independently per datagram in
// this order: loss (the datagram is gone and nothing else applies),
// corruption, duplication, then the delay and the reordering of each copy.
// The zero value forwards everything at once.
type Impairment struct {
	// Match chooses the datagrams that are impaired; the others are
	// forwarded untouched and at once. dst is where the datagram goes;
	// payload must not be kept or changed. nil impairs every datagram.
	Match func(dst netip.AddrPort, payload []byte) bool

	Loss      float64 // drop the datagram
	Corrupt   float64 // flip one random bit of the payload
	Duplicate float64 // send the datagram twice

	// Delay is added to every impaired datagram; Jitter adds a further
	// uniformly random delay in [0, Jitter). Jitter larger than the gap
	// between datagrams reorders them, as netem's jitter does.
	Delay, Jitter time.Duration

	// Reorder holds a datagram back until ReorderDepth later datagrams of
	// the same direction have been sent (a uniformly random number from 1
	// to ReorderDepth; 0 means 1), or ReorderHold has passed (0: 100ms),
	// whichever comes first, so a reordered datagram arrives at most
	// ReorderDepth places late.
	Reorder      float64
	ReorderDepth int
	ReorderHold  time.Duration
}

// Counters count what the relay did in one direction. Sent counts every
// datagram written, duplicates included; a datagram held for reordering
// counts in Reordered when it is held and in Sent when it goes.
type Counters struct {
	Received   uint64 // datagrams read
	Unmatched  uint64 // forwarded untouched: Match said no
	Lost       uint64 // dropped on purpose
	Corrupted  uint64 // one bit flipped
	Duplicated uint64 // sent a second time
	Delayed    uint64 // held for Delay and Jitter (more than zero)
	Reordered  uint64 // held back until later datagrams overtook it
	Sent       uint64 // written to the other side
	SendErrors uint64 // write failures (the datagram is gone)
}

func (c Counters) String() string {
	return fmt.Sprintf("received %d, unmatched %d, lost %d, corrupted %d, duplicated %d, delayed %d, reordered %d, sent %d, send errors %d",
		c.Received, c.Unmatched, c.Lost, c.Corrupted, c.Duplicated, c.Delayed, c.Reordered, c.Sent, c.SendErrors)
}

// Config configures a Relay.
type Config struct {
	Links []Link
	// Impair holds the impairment of each direction, indexed by Direction.
	Impair [2]Impairment
	// Seed seeds the random decisions; 0 takes a random seed. Equal seeds
	// and equal input give equal decisions per direction.
	Seed uint64
	// Listen opens a relay socket; nil uses net.ListenUDP. Tests use it to
	// open the sockets inside a network namespace.
	Listen func(laddr netip.AddrPort) (*net.UDPConn, error)
	// SocketBuffer is the receive and send buffer size asked of each
	// socket; 0 means 4 MiB (the kernel may grant less).
	SocketBuffer int
}

// ErrClosed is returned by operations on a closed Relay.
var ErrClosed = errors.New("relay: closed")

// Relay forwards and impairs datagrams between the hosts of its links. Its
// methods are safe for concurrent use.
type Relay struct {
	links []*link
	dirs  [2]*direction
	done  chan struct{}
	wg    sync.WaitGroup

	closeOnce sync.Once
}

// link is one Link at run time.
type link struct {
	conn [2]*net.UDPConn   // indexed by the side they face: AtoB = A-facing
	peer [2]netip.AddrPort // the same
}

// item is a datagram on its way through one direction.
type item struct {
	payload []byte
	out     *net.UDPConn
	dst     netip.AddrPort
	due     time.Time
	order   uint64 // arrival order, to keep the heap stable
	// For a held (reordered) datagram: how many more datagrams must be
	// sent first, and when it goes anyway.
	left     int
	deadline time.Time
}

// direction is the scheduler of one direction: it takes every datagram the
// readers hand it, decides its fate and sends it when due.
type direction struct {
	d      Direction
	in     chan *item
	impair atomic.Pointer[Impairment]
	rng    *rand.Rand // owned by routineSchedule

	received, unmatched, lost, corrupted, duplicated atomic.Uint64
	delayed, reordered, sent, sendErrors             atomic.Uint64
}

// New opens the sockets of every link and starts forwarding. Close stops
// it.
func New(cfg Config) (*Relay, error) {
	if len(cfg.Links) == 0 {
		return nil, errors.New("relay: no links")
	}
	listen := cfg.Listen
	if listen == nil {
		listen = func(a netip.AddrPort) (*net.UDPConn, error) {
			return net.ListenUDP("udp", net.UDPAddrFromAddrPort(a))
		}
	}
	bufSize := cfg.SocketBuffer
	if bufSize == 0 {
		bufSize = 4 << 20
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = rand.Uint64()
	}
	r := &Relay{done: make(chan struct{})}
	for i := range r.dirs {
		d := &direction{
			d:   Direction(i),
			in:  make(chan *item, 1<<16),
			rng: rand.New(rand.NewPCG(seed, uint64(i)+1)),
		}
		imp := cfg.Impair[i]
		d.impair.Store(&imp)
		r.dirs[i] = d
	}
	for _, l := range cfg.Links {
		rl := &link{peer: [2]netip.AddrPort{l.PeerA, l.PeerB}}
		for side, addr := range []netip.AddrPort{l.A, l.B} {
			c, err := listen(addr)
			if err != nil {
				r.closeConns()
				return nil, fmt.Errorf("relay: listen on %v: %w", addr, err)
			}
			// Best effort: the kernel caps the sizes at its limits.
			_ = c.SetReadBuffer(bufSize)
			_ = c.SetWriteBuffer(bufSize)
			rl.conn[side] = c
		}
		r.links = append(r.links, rl)
	}
	for _, d := range r.dirs {
		r.wg.Add(1)
		go r.routineSchedule(d)
	}
	for _, l := range r.links {
		for side := range l.conn {
			r.wg.Add(1)
			go r.routineRead(l, Direction(side))
		}
	}
	return r, nil
}

// Addrs returns the local addresses of link i's sockets, facing A and B.
func (r *Relay) Addrs(i int) (a, b netip.AddrPort) {
	l := r.links[i]
	return l.conn[AtoB].LocalAddr().(*net.UDPAddr).AddrPort(),
		l.conn[BtoA].LocalAddr().(*net.UDPAddr).AddrPort()
}

// SetImpairment replaces the impairment of direction d for datagrams read
// from now on.
func (r *Relay) SetImpairment(d Direction, imp Impairment) {
	r.dirs[d].impair.Store(&imp)
}

// Counters returns a snapshot of direction d's counters.
func (r *Relay) Counters(d Direction) Counters {
	x := r.dirs[d]
	return Counters{
		Received:   x.received.Load(),
		Unmatched:  x.unmatched.Load(),
		Lost:       x.lost.Load(),
		Corrupted:  x.corrupted.Load(),
		Duplicated: x.duplicated.Load(),
		Delayed:    x.delayed.Load(),
		Reordered:  x.reordered.Load(),
		Sent:       x.sent.Load(),
		SendErrors: x.sendErrors.Load(),
	}
}

// Close stops forwarding, drops whatever is still queued or held, closes
// the sockets and waits for the relay's goroutines to end.
func (r *Relay) Close() error {
	r.closeOnce.Do(func() {
		close(r.done)
		r.closeConns()
		r.wg.Wait()
	})
	return nil
}

func (r *Relay) closeConns() {
	for _, l := range r.links {
		for _, c := range l.conn {
			if c != nil {
				c.Close()
			}
		}
	}
}

// routineRead reads what side's host sends to the relay and hands it to
// the scheduler of the direction away from that side.
func (r *Relay) routineRead(l *link, side Direction) {
	defer r.wg.Done()
	dir := r.dirs[side] // datagrams from A travel AtoB
	other := 1 - side
	conn, out := l.conn[side], l.conn[other]
	buf := make([]byte, 1<<16)
	for {
		n, _, err := conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			select {
			case <-r.done:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				continue
			}
			if errors.Is(err, net.ErrClosed) {
				return
			}
			continue // e.g. ICMP errors reported on the socket
		}
		dir.received.Add(1)
		it := &item{payload: append([]byte(nil), buf[:n]...), out: out, dst: l.peer[other]}
		select {
		case dir.in <- it:
		case <-r.done:
			return
		}
	}
}

// routineSchedule decides the fate of each datagram of d and sends it when
// it is due.
func (r *Relay) routineSchedule(d *direction) {
	defer r.wg.Done()
	var (
		q     itemHeap
		held  []*item
		order uint64
		timer = time.NewTimer(time.Hour)
	)
	defer timer.Stop()
	send := func(it *item) {
		if _, err := it.out.WriteToUDPAddrPort(it.payload, it.dst); err != nil {
			d.sendErrors.Add(1)
			return
		}
		d.sent.Add(1)
	}
	// sendOvertaking sends it, then every held datagram whose count of
	// datagrams to wait for runs out.
	sendOvertaking := func(it *item) {
		send(it)
		kept := held[:0]
		var release []*item
		for _, h := range held {
			if h.left--; h.left <= 0 {
				release = append(release, h)
			} else {
				kept = append(kept, h)
			}
		}
		held = kept
		for _, h := range release {
			send(h)
		}
	}
	accept := func(it *item, now time.Time) {
		imp := d.impair.Load()
		it.due = now
		it.order = order
		order++
		if imp.Match != nil && !imp.Match(it.dst, it.payload) {
			d.unmatched.Add(1)
			heap.Push(&q, it)
			return
		}
		if imp.Loss > 0 && d.rng.Float64() < imp.Loss {
			d.lost.Add(1)
			return
		}
		if imp.Corrupt > 0 && len(it.payload) > 0 && d.rng.Float64() < imp.Corrupt {
			bit := d.rng.IntN(len(it.payload) * 8)
			it.payload[bit/8] ^= 1 << (bit % 8)
			d.corrupted.Add(1)
		}
		copies := []*item{it}
		if imp.Duplicate > 0 && d.rng.Float64() < imp.Duplicate {
			dup := *it
			dup.payload = append([]byte(nil), it.payload...)
			dup.order = order
			order++
			copies = append(copies, &dup)
			d.duplicated.Add(1)
		}
		for _, c := range copies {
			delay := imp.Delay
			if imp.Jitter > 0 {
				delay += time.Duration(d.rng.Int64N(int64(imp.Jitter)))
			}
			if delay > 0 {
				c.due = now.Add(delay)
				d.delayed.Add(1)
			}
			if imp.Reorder > 0 && d.rng.Float64() < imp.Reorder {
				depth := max(imp.ReorderDepth, 1)
				hold := imp.ReorderHold
				if hold <= 0 {
					hold = 100 * time.Millisecond
				}
				c.left = 1 + d.rng.IntN(depth)
				c.deadline = c.due.Add(hold)
				d.reordered.Add(1)
			}
			heap.Push(&q, c)
		}
	}
	for {
		now := time.Now()
		// Send what is due; a datagram chosen for reordering is held
		// when it comes due, and later ones overtake it.
		for q.Len() > 0 && !q[0].due.After(now) {
			it := heap.Pop(&q).(*item)
			if it.left > 0 {
				held = append(held, it)
				continue
			}
			sendOvertaking(it)
		}
		kept := held[:0]
		for _, h := range held {
			if !h.deadline.After(now) {
				send(h)
			} else {
				kept = append(kept, h)
			}
		}
		held = kept

		var wake time.Time
		if q.Len() > 0 {
			wake = q[0].due
		}
		for _, h := range held {
			if wake.IsZero() || h.deadline.Before(wake) {
				wake = h.deadline
			}
		}
		var tc <-chan time.Time
		if !wake.IsZero() {
			timer.Reset(time.Until(wake))
			tc = timer.C
		}
		select {
		case <-r.done:
			return
		case it := <-d.in:
			accept(it, time.Now())
			// Take whatever else is waiting before sending, so that a
			// burst is impaired as a burst.
			for drained := false; !drained; {
				select {
				case it := <-d.in:
					accept(it, time.Now())
				default:
					drained = true
				}
			}
		case <-tc:
		}
		if !timer.Stop() {
			select {
			case <-timer.C:
			default:
			}
		}
	}
}

// itemHeap orders datagrams by due time, then arrival.
type itemHeap []*item

func (h itemHeap) Len() int { return len(h) }
func (h itemHeap) Less(i, j int) bool {
	if !h[i].due.Equal(h[j].due) {
		return h[i].due.Before(h[j].due)
	}
	return h[i].order < h[j].order
}
func (h itemHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *itemHeap) Push(x any)   { *h = append(*h, x.(*item)) }
func (h *itemHeap) Pop() any {
	old := *h
	it := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return it
}
