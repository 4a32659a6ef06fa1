package tunnel

import (
	"errors"
	"net/netip"
	"sync"

	"github.com/esptun/esptun/sad"
)

// ikeBatch is the read batch of the plain IKE sockets.
const ikeBatch = 16

// localReader is a socket that tells the local address each datagram was
// sent to (Linux: IP_PKTINFO, IPV6_PKTINFO).
type localReader interface {
	ReadBatchLocal(bufs [][]byte, off int, sizes []int, srcs, locals []netip.AddrPort) (int, error)
}

// routineReceiveIKE reads the plain IKE port and hands every datagram to
// the IKE handler with the local address it was sent to, where the socket
// tells it, else the socket's own address.
func (t *Tunnel) routineReceiveIKE(c batchConn) {
	defer t.readers.Done()
	bufs := make([][]byte, ikeBatch)
	for i := range bufs {
		bufs[i] = make([]byte, bufSize)
	}
	sizes := make([]int, ikeBatch)
	srcs := make([]netip.AddrPort, ikeBatch)
	locals := make([]netip.AddrPort, ikeBatch)
	local := c.LocalAddr()
	lr, _ := c.(localReader)
	for {
		var n int
		var err error
		if lr != nil {
			n, err = lr.ReadBatchLocal(bufs, 0, sizes, srcs, locals)
		} else {
			n, err = c.ReadBatch(bufs, 0, sizes, srcs)
			for i := range n {
				locals[i] = local
			}
		}
		if err != nil {
			if t.isClosing() {
				return
			}
			t.log.Error("IKE socket read failed; stopping this receiver", "local", local, "err", err)
			return
		}
		for i := 0; i < n; i++ {
			if h := t.opts.IKE; h != nil {
				// The last message of the read may be processed here
				// (see deliverIKE), the others by IKE's workers.
				h(bufs[i][:sizes[i]], srcs[i], locals[i], false, i == n-1)
			}
		}
	}
}

// connForIKE picks the socket for an IKE message: the plain IKE port or the
// NAT-T port, of the remote's family, bound to local if one is.
func (t *Tunnel) connForIKE(local, remote netip.AddrPort, natt bool) batchConn {
	list := t.ikeConns
	if natt {
		list = t.conns
	}
	want6 := remote.Addr().Is6() && !remote.Addr().Is4In6()
	var fallback batchConn
	for _, c := range list {
		la := c.LocalAddr().Addr()
		if la.Is6() != want6 || c.Raw() {
			continue
		}
		if local.Addr().IsValid() && la == local.Addr() {
			return c
		}
		if fallback == nil && (la.IsUnspecified() || !local.Addr().IsValid()) {
			fallback = c
		}
	}
	return fallback
}

// SendIKE sends an IKE message (see ike.Transport), from local's address
// even on a socket bound to every address (see batchConn.WriteOne).
func (t *Tunnel) SendIKE(pkt []byte, local, remote netip.AddrPort, natt bool) error {
	c := t.connForIKE(local, remote, natt)
	if c == nil {
		return errors.New("tunnel: no socket for this IKE message")
	}
	if natt {
		// RFC 3948 2.2: the non-ESP marker tells IKE from ESP.
		if g, ok := c.(gatherWriter); ok {
			return g.writeGather(nonESPMarker[:], pkt, local.Addr(), remote)
		}
		// Elsewhere the copy goes in a pooled buffer, so that answering
		// IKE_SA_INIT requests on the NAT-T port makes no garbage either.
		if 4+len(pkt) > ikeMarkedSize {
			b := make([]byte, 4+len(pkt))
			copy(b[4:], pkt)
			return c.WriteOne(b, local.Addr(), remote)
		}
		bp := ikeMarkedPool.Get().(*[ikeMarkedSize]byte)
		b := bp[:4+len(pkt)]
		clear(b[:4])
		copy(b[4:], pkt)
		err := c.WriteOne(b, local.Addr(), remote)
		ikeMarkedPool.Put(bp)
		return err
	}
	return c.WriteOne(pkt, local.Addr(), remote)
}

// nonESPMarker precedes IKE messages on the NAT-T port (RFC 3948 2.2).
var nonESPMarker = [4]byte{}

// gatherWriter is a batchConn that sends a datagram made of two slices
// without copying them together (sendmsg with two iovecs).
type gatherWriter interface {
	writeGather(a, b []byte, src netip.Addr, dst netip.AddrPort) error
}

// ikeMarkedSize bounds the IKE messages SendIKE sends on the NAT-T port
// from a pooled buffer (non-ESP marker included) where the socket cannot
// gather; larger ones, rare (IKE fragments are smaller), get a buffer of
// their own.
const ikeMarkedSize = 2048

var ikeMarkedPool = sync.Pool{New: func() any { return new([ikeMarkedSize]byte) }}

// SendKeepalive sends a NAT-keepalive (RFC 3948 2.3).
func (t *Tunnel) SendKeepalive(local, remote netip.AddrPort) error {
	c := t.connForIKE(local, remote, true)
	if c == nil {
		return errors.New("tunnel: no NAT-T socket")
	}
	return c.WriteOne(natKeepalive[:], local.Addr(), remote)
}

// acquireQueue holds outbound packets whose policy waits for an SA
// (start_action = trap), a few per policy, until Flush.
type acquireQueue struct {
	mu sync.Mutex
	q  map[uint32][][]byte
}

const (
	acquirePerPolicy = 32
	acquirePolicies  = 256
)

func (a *acquireQueue) init() { a.q = make(map[uint32][][]byte) }

// add copies pkt into the queue of policyID; it reports false when the
// queue is full.
func (a *acquireQueue) add(policyID uint32, pkt []byte) (first, ok bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	q, exists := a.q[policyID]
	if !exists && len(a.q) >= acquirePolicies || len(q) >= acquirePerPolicy {
		return false, false
	}
	a.q[policyID] = append(q, append([]byte(nil), pkt...))
	return !exists, true
}

func (a *acquireQueue) take(policyID uint32) [][]byte {
	a.mu.Lock()
	defer a.mu.Unlock()
	q := a.q[policyID]
	delete(a.q, policyID)
	return q
}

// acquire queues a packet that hit a protect policy without an SA and asks
// IKE for one. Slow path: this only happens while an SA is negotiated.
func (t *Tunnel) acquire(policyID uint32, pkt []byte) bool {
	if t.opts.Acquire == nil {
		return false
	}
	_, ok := t.acq.add(policyID, pkt)
	t.opts.Acquire(policyID)
	return ok
}

// Flush sends the packets queued for policyID now that it has an SA.
func (t *Tunnel) Flush(policyID uint32) {
	pkts := t.acq.take(policyID)
	if len(pkts) == 0 {
		return
	}
	t.flushMu.Lock()
	defer t.flushMu.Unlock()
	b := t.getBatch(t.outPool)
	if b == nil {
		return
	}
	for i, p := range pkts {
		if i == len(b.bufs) {
			break
		}
		b.sizes[i] = copy(b.bufs[i][tunReadOffset:], p)
		b.n = i + 1
	}
	t.processOutbound(b, t.flushWS, &t.flushTally)
}

// peerMoved reports a NAT rebinding seen on authenticated ESP.
func (t *Tunnel) peerMoved(sa *sad.SA, from netip.AddrPort) {
	if t.opts.PeerMoved != nil {
		t.opts.PeerMoved(sa, from)
	}
}

// natKeepalive is the NAT-keepalive packet (RFC 3948 2.3).
var natKeepalive = [1]byte{0xff}
