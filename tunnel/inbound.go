package tunnel

import (
	"encoding/binary"
	"errors"
	"net/netip"

	"github.com/esptun/esptun/esp"
	"github.com/esptun/esptun/sad"
	"github.com/esptun/esptun/spd"
)

// routineReceive reads datagrams from one socket in batches, demultiplexes
// them (RFC 3948 2.2) and takes the ESP packets all the way to the TUN
// device.
func (t *Tunnel) routineReceive(c batchConn) {
	defer t.readers.Done()
	ws := newWorkerState()
	for {
		b := t.getBatch(t.inPool)
		if b == nil {
			return
		}
		n, err := c.ReadBatch(b.bufs, rxOffset, b.sizes, b.srcs)
		if err != nil {
			t.inPool.put(b)
			if t.isClosing() {
				return
			}
			t.log.Error("socket read failed; stopping this receiver", "local", c.LocalAddr(), "err", err)
			return
		}
		if n == 0 {
			t.inPool.put(b)
			continue
		}
		b.n = n
		t.processInbound(b, c, ws)
	}
}

// processInbound classifies and opens b, then finishes it in order and
// writes it to the TUN device, and returns it to its pool. As on the way
// out, the batch never leaves the calling goroutine.
func (t *Tunnel) processInbound(b *batch, c batchConn, ws *workerState) {
	t.classifyInbound(b, c)
	t.crypt(b, ws)
	t.finishMu.Lock()
	t.finishInbound(b, &t.fin)
	if len(b.out) > 0 {
		if w := t.fin.tw; w != nil {
			if n := w.write(b.out); n > 0 {
				t.tunErrors.Add(uint64(n))
			}
		} else if _, err := t.tun.Write(b.out, tunWriteOffset); err != nil {
			t.tunErrors.Add(1)
		}
	}
	t.fin.tally.flush()
	t.finishMu.Unlock()
	t.deliverIKE(b, c)
	t.putBatch(b)
}

// deliverIKE hands the batch's IKE messages (verdictIKE) to the IKE hook,
// after the batch's ESP packets went to the TUN device, so that none of
// them waits while IKE works. The last one is marked alone: the hook may
// process it on this goroutine, where it costs no thread switch; the
// others go to IKE's workers and run alongside it. A burst of handshakes
// then still spreads over the cores, and at most one IKE message is
// processed before the next read.
func (t *Tunnel) deliverIKE(b *batch, c batchConn) {
	h := t.opts.IKE
	last := -1
	for i := b.n - 1; i >= 0; i-- {
		if b.verdict[i] == verdictIKE {
			last = i
			break
		}
	}
	if last < 0 {
		return
	}
	for i := 0; i <= last; i++ {
		if b.verdict[i] != verdictIKE {
			continue
		}
		if h != nil {
			h(b.bufs[i][rxOffset+4:rxOffset+b.sizes[i]], b.srcs[i], c.LocalAddr(), true, i == last)
		}
	}
}

// classifyInbound sorts out keepalives and IKE datagrams, finds the SA of
// every ESP packet and infers its full sequence number.
func (t *Tunnel) classifyInbound(b *batch, c batchConn) {
	sadb := t.opts.SAD
	raw := c.Raw()
	for i := 0; i < b.n; i++ {
		b.sas[i] = nil
		p := b.bufs[i][rxOffset : rxOffset+b.sizes[i]]
		if !raw {
			// RFC 3948 2.2/2.3: a lone 0xFF is a NAT-keepalive; four zero
			// bytes (where an SPI cannot be zero) mark a non-ESP (IKE)
			// message.
			if len(p) == 1 && p[0] == 0xff {
				t.keepalives.Add(1)
				b.verdict[i] = verdictSilent
				continue
			}
			if len(p) >= 4 && binary.BigEndian.Uint32(p) == 0 {
				t.nonESP.Add(1)
				b.verdict[i] = verdictIKE // for deliverIKE, once the ESP is out
				continue
			}
		}
		spi, seqLo, err := esp.Header(p)
		if err != nil {
			b.verdict[i] = sad.DropMalformed
			sadb.GlobalDrop(sad.DropMalformed, 1)
			continue
		}
		sa := sadb.Inbound(spi)
		if sa == nil {
			b.verdict[i] = sad.DropNoSA
			sadb.GlobalDrop(sad.DropNoSA, 1)
			continue
		}
		if !b.hold(sa) {
			b.verdict[i] = sad.DropExpired
			sa.Drop(sad.DropExpired, 1)
			continue
		}
		w := sa.Replay
		var seq uint64
		if w != nil && w.Size() > 0 {
			top := w.Top()
			seq = esp.InferSeq(seqLo, top, w.Size(), sa.ESN)
			// RFC 4303 3.4.3: reject what is left of the window before
			// spending a decryption on it. The full check follows the ICV.
			if seq == 0 || (top >= uint64(w.Size()) && seq <= top-uint64(w.Size())) {
				b.verdict[i] = sad.DropReplay
				sa.Drop(sad.DropReplay, 1)
				continue
			}
		} else {
			seq = esp.InferSeq(seqLo, 0, 0, sa.ESN)
		}
		b.verdict[i] = verdictOK
		b.sas[i] = sa
		b.seqs[i] = seq
	}
}

// openRange verifies and decrypts packets lo..hi of b in place.
func (t *Tunnel) openRange(b *batch, lo, hi int, w *workerState) {
	for i := lo; i < hi; i++ {
		if b.verdict[i] != verdictOK {
			continue
		}
		sa := b.sas[i]
		p := b.bufs[i][rxOffset : rxOffset+b.sizes[i]]
		inner, nh, err := esp.Open(sa.Cipher, p, b.seqs[i], sa.ESN, &w.scratch)
		switch {
		case err == nil:
		case errors.Is(err, esp.ErrAuth):
			b.verdict[i] = sad.DropAuth
			continue
		case errors.Is(err, esp.ErrDummy):
			// RFC 4303 2.6: dummy packets are discarded silently, but
			// only once they authenticated.
			b.verdict[i] = verdictDummy
			continue
		default:
			b.verdict[i] = sad.DropMalformed
			continue
		}
		n := innerLen(inner, nh)
		if n < 0 {
			b.verdict[i] = sad.DropMalformed
			continue
		}
		// RFC 4303 2.7: whatever follows the inner packet is TFC padding.
		b.pkts[i] = inner[:n]
	}
}

// finisher is the scratch space of the in-order stage (guarded by
// finishMu).
type finisher struct {
	tw       *tunWriter // nil: t.tun.Write
	lastPeer netip.AddrPort
	tally    saTally
	pkt      spd.Packet
	pol      spd.Policy
}

// finishInbound applies the in-order checks to a decrypted batch and
// collects the inner packets that pass in b.out, each with tunWriteOffset
// bytes of room in front. The caller holds finishMu: RFC 4303 3.4.3 replay
// windows are updated by one goroutine at a time.
func (t *Tunnel) finishInbound(b *batch, f *finisher) {
	b.out = b.out[:0]
	for i := 0; i < b.n; i++ {
		v := b.verdict[i]
		sa := b.sas[i]
		switch {
		case v == verdictSilent || v == verdictIKE:
			continue
		case v == verdictDummy:
			if sa.Replay != nil && sa.Replay.Size() > 0 {
				sa.Replay.CheckAndUpdate(b.seqs[i])
			}
			t.dummies.Add(1)
			continue
		case v != verdictOK:
			if sa != nil {
				sa.Drop(v, 1)
			}
			continue
		}
		// RFC 4303 3.4.3: the window moves only for packets whose ICV
		// verified, and here, in arrival order.
		if sa.Replay != nil && sa.Replay.Size() > 0 && !sa.Replay.CheckAndUpdate(b.seqs[i]) {
			sa.Drop(sad.DropReplay, 1)
			continue
		}
		inner := b.pkts[i]
		if spd.ParsePacket(inner, &f.pkt) != nil {
			sa.Drop(sad.DropMalformed, 1)
			continue
		}
		// RFC 4301 5.2: the inner packet must be one the SA may carry.
		f.pol.Local, f.pol.Remote = sa.Local, sa.Remote
		ok := f.pol.MatchesInbound(&f.pkt)
		f.pol.Local, f.pol.Remote = nil, nil
		if !ok {
			sa.Drop(sad.DropPolicy, 1)
			continue
		}
		if sa.Encap && b.srcs[i] != f.lastPeer && t.opts.PeerMoved != nil && b.srcs[i] != sa.Peer() {
			f.lastPeer = b.srcs[i]
			t.peerMoved(sa, b.srcs[i])
		}
		start := cap(b.bufs[i]) - cap(inner)
		b.out = append(b.out, b.bufs[i][start-tunWriteOffset:start+len(inner)])
		f.tally.add(sa, len(inner))
	}
}

// innerLen returns the length the inner IP header claims, or -1 when the
// header does not match nh or claims more than there is.
func innerLen(p []byte, nh byte) int {
	switch {
	case nh == esp.NextHeaderIPv4 && len(p) >= 20 && p[0]>>4 == 4:
		n := int(binary.BigEndian.Uint16(p[2:]))
		if n < 20 || n > len(p) {
			return -1
		}
		return n
	case nh == esp.NextHeaderIPv6 && len(p) >= 40 && p[0]>>4 == 6:
		n := 40 + int(binary.BigEndian.Uint16(p[4:]))
		if n > len(p) {
			return -1
		}
		return n
	}
	return -1
}
