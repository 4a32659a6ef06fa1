package tunnel

import (
	"errors"
	"net/netip"

	"golang.zx2c4.com/wireguard/tun"

	"github.com/esptun/esptun/crypto"
	"github.com/esptun/esptun/esp"
	"github.com/esptun/esptun/sad"
	"github.com/esptun/esptun/spd"
)

// workerState is one crypto worker's scratch space.
type workerState struct {
	scratch crypto.Scratch
	params  esp.SealParams
}

func newWorkerState() *workerState { return new(workerState) }

// routineReadTUN reads outbound packets from the TUN device in batches and
// takes each batch all the way to the socket.
func (t *Tunnel) routineReadTUN() {
	defer t.readers.Done()
	ws := newWorkerState()
	var tally saTally
	for {
		b := t.getBatch(t.outPool)
		if b == nil {
			return
		}
		var n int
		var err error
		if r := t.tunR; r != nil {
			var dropped int
			n, dropped, err = r.read(b.bufs, b.sizes, tunReadOffset)
			if dropped > 0 {
				t.tunErrors.Add(uint64(dropped))
			}
		} else {
			n, err = t.tun.Read(b.bufs, b.sizes, tunReadOffset)
		}
		if err != nil && !errors.Is(err, tun.ErrTooManySegments) {
			t.outPool.put(b)
			if t.isClosing() {
				return
			}
			t.tunErrors.Add(1)
			t.log.Error("TUN read failed; stopping outbound path", "err", err)
			return
		}
		if err != nil {
			// Segments that did not fit the batch are lost; the kernel
			// already counted them as sent, so count them here.
			t.tunErrors.Add(1)
		}
		if n == 0 {
			t.outPool.put(b)
			continue
		}
		b.n = n
		t.processOutbound(b, ws, &tally)
	}
}

// processOutbound classifies, seals and sends b, then returns it to its
// pool. The batch stays with the calling goroutine from the read to the
// send: no hand-over, no wake-up, and packets leave in the order they were
// read.
func (t *Tunnel) processOutbound(b *batch, ws *workerState, tally *saTally) {
	t.classifyOutbound(b)
	t.crypt(b, ws)
	t.sendMu.Lock()
	t.send(b, tally)
	t.sendMu.Unlock()
	t.putBatch(b)
}

// classifyOutbound looks up the policy and SA of every packet of b and
// reserves sequence numbers, one atomic add per SA and batch.
func (t *Tunnel) classifyOutbound(b *batch) {
	var pkt spd.Packet
	policies := t.opts.SPD
	sadb := t.opts.SAD
	var (
		nsa    int
		sas    [8]*sad.SA
		counts [8]int
		// The previous packet's flow and what it found: the segments of
		// a TSO super-packet, most of a batch, share one flow, so they
		// share one SPD and one SAD lookup.
		lastPkt   spd.Packet
		lastPol   *spd.Policy
		lastSAPol *spd.Policy
		lastSA    *sad.SA
		haveLast  bool
	)
	for i := 0; i < b.n; i++ {
		b.sas[i] = nil
		p := b.bufs[i][tunReadOffset : tunReadOffset+b.sizes[i]]
		if spd.ParsePacket(p, &pkt) != nil {
			b.verdict[i] = sad.DropMalformed
			sadb.GlobalDrop(sad.DropMalformed, 1)
			continue
		}
		var pol *spd.Policy
		if haveLast && pkt == lastPkt {
			pol = lastPol
		} else {
			pol = policies.LookupOutbound(&pkt)
			lastPkt, lastPol, haveLast = pkt, pol, true
		}
		if pol == nil || pol.Action != spd.Protect {
			// RFC 4301 5.1: no policy, DISCARD and BYPASS all end here: a
			// packet routed into the tunnel that is not to be protected has
			// nowhere else to go.
			b.verdict[i] = sad.DropPolicy
			sadb.GlobalDrop(sad.DropPolicy, 1)
			continue
		}
		var sa *sad.SA
		if pol == lastSAPol {
			sa = lastSA
		} else {
			sa = sadb.Outbound(pol.ID)
			lastSAPol, lastSA = pol, sa
		}
		if sa == nil {
			// No SA yet: with trap policies IKE negotiates one and the
			// packet waits for it (RFC 4301 5.1.1 acquire).
			if t.acquire(pol.ID, p) {
				b.verdict[i] = verdictSilent
				continue
			}
			b.verdict[i] = sad.DropNoSA
			sadb.GlobalDrop(sad.DropNoSA, 1)
			continue
		}
		if !b.hold(sa) {
			// The SA died between the lookup and the hold: a rekey just
			// replaced and deleted it. Its successor carries the packet.
			cur := sadb.Outbound(pol.ID)
			if cur == nil || cur == sa || !b.hold(cur) {
				b.verdict[i] = sad.DropExpired
				sa.Drop(sad.DropExpired, 1)
				continue
			}
			sa = cur
			lastSA = cur
		}
		b.verdict[i] = verdictOK
		b.sas[i] = sa
		j := 0
		for j < nsa && sas[j] != sa {
			j++
		}
		if j == nsa && nsa < len(sas) {
			sas[j] = sa
			nsa++
		}
		if j < nsa {
			counts[j]++
		}
	}
	// Reserve a block of sequence numbers per SA, then hand them out in
	// packet order. SAs beyond the eighth distinct one in a batch reserve
	// per packet.
	var next [8]uint64
	var ok [8]bool
	for j := 0; j < nsa; j++ {
		next[j], ok[j] = sas[j].ReserveSeq(counts[j])
	}
	for i := 0; i < b.n; i++ {
		sa := b.sas[i]
		if sa == nil {
			continue
		}
		j := 0
		for j < nsa && sas[j] != sa {
			j++
		}
		if j == nsa {
			seq, good := sa.ReserveSeq(1)
			if !good {
				b.verdict[i] = sad.DropExpired
				sa.Drop(sad.DropExpired, 1)
				b.sas[i] = nil
				continue
			}
			b.seqs[i] = seq
			continue
		}
		if !ok[j] {
			// RFC 4303 3.3.3: the counter must not cycle; the SA is done.
			b.verdict[i] = sad.DropExpired
			sa.Drop(sad.DropExpired, 1)
			b.sas[i] = nil
			continue
		}
		b.seqs[i] = next[j]
		next[j]++
	}
}

// sealRange encapsulates packets lo..hi of b in place.
func (t *Tunnel) sealRange(b *batch, lo, hi int, w *workerState) {
	for i := lo; i < hi; i++ {
		if b.verdict[i] != verdictOK {
			continue
		}
		sa := b.sas[i]
		buf := b.bufs[i]
		nh := byte(esp.NextHeaderIPv4)
		if buf[tunReadOffset]>>4 == 6 {
			nh = esp.NextHeaderIPv6
		}
		w.params = esp.SealParams{SPI: sa.SPI, Cipher: sa.Cipher, ESN: sa.ESN}
		out, err := esp.Seal(&w.params, b.seqs[i], nh, buf, tunReadOffset, b.sizes[i], &w.scratch)
		if err != nil {
			b.verdict[i] = sad.DropMalformed
			continue
		}
		b.pkts[i] = out
	}
	w.params = esp.SealParams{}
}

// send sends the sealed packets of b, grouping runs of packets to the same
// peer into one batched write (and, on Linux, into UDP GSO
// super-datagrams), and counts the dropped ones. The caller holds sendMu.
func (t *Tunnel) send(b *batch, tally *saTally) {
	for i := 0; i < b.n; {
		if b.verdict[i] != verdictOK {
			if b.verdict[i] < sad.NumDropReasons && b.sas[i] != nil {
				b.sas[i].Drop(b.verdict[i], 1)
			}
			i++
			continue
		}
		sa := b.sas[i]
		peer := sa.Peer()
		c := t.connFor(sa, peer)
		b.out = b.out[:0]
		j := i
		for ; j < b.n; j++ {
			if b.verdict[j] != verdictOK {
				break
			}
			if b.sas[j] != sa && (b.sas[j].Peer() != peer || b.sas[j].LocalAddr != sa.LocalAddr || t.connFor(b.sas[j], peer) != c) {
				break
			}
			b.out = append(b.out, b.pkts[j])
			tally.add(b.sas[j], b.sizes[j])
		}
		if c == nil {
			t.sendErrors.Add(uint64(len(b.out)))
		} else if err := c.WriteBatch(b.out, sa.LocalAddr, peer); err != nil {
			t.sendErrors.Add(uint64(len(b.out)))
		}
		i = j
	}
	tally.flush()
}

// connFor picks the socket that carries sa's packets to peer: ESP-in-UDP or
// raw ESP of the peer's family, bound to the SA's local address if it has
// one.
func (t *Tunnel) connFor(sa *sad.SA, peer netip.AddrPort) batchConn {
	want6 := peer.Addr().Is6() && !peer.Addr().Is4In6()
	var fallback batchConn
	for _, c := range t.conns {
		la := c.LocalAddr().Addr()
		if la.Is6() != want6 || c.Raw() == sa.Encap {
			continue
		}
		if sa.LocalAddr.IsValid() && la == sa.LocalAddr {
			return c
		}
		if fallback == nil {
			fallback = c
		}
	}
	return fallback
}
