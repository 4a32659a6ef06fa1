package tunnel

import (
	"net/netip"
	"sync/atomic"

	"github.com/esptun/esptun/sad"
)

// Offsets into every packet buffer.
const (
	// tunReadOffset is where tun.Read puts an outbound inner packet: room
	// in front for the ESP header and the largest IV (esp.MaxHeadroom), and
	// for the virtio-net header the Linux TUN offloads write there.
	tunReadOffset = 32
	// rxOffset is where an inbound datagram lands. The inner packet that
	// Open leaves behind the ESP header and IV is written to the TUN with
	// tunWriteOffset bytes of room in front of it for the virtio-net header.
	rxOffset       = 16
	tunWriteOffset = 16
)

// batch is the unit that travels through the data path: up to cap packets
// read together, sealed or opened by the crypto workers in parallel and sent
// or written in their original order. A batch owns its buffers; it goes back
// to its pool after the sender or the TUN writer is done with it.
type batch struct {
	outbound bool
	n        int
	bufs     [][]byte // each of capacity bufSize; kept at full length
	sizes    []int
	pkts     [][]byte // outbound: sealed ESP packet; inbound: inner packet
	sas      []*sad.SA
	seqs     []uint64
	srcs     []netip.AddrPort
	verdict  []sad.DropReason // verdictOK, or why packet i is dropped
	out      [][]byte         // scratch for the sender / TUN writer
	held     []*sad.SA        // SAs acquired for this batch (see hold)

	pending atomic.Int32  // crypto chunks not yet done
	done    chan struct{} // receives once when pending reaches zero
}

// verdictOK marks a packet that is still on its way; verdictSilent one that
// is dropped without counting it as a drop (RFC 4303 2.6 dummy packets,
// keepalives, IKE datagrams handed to the IKE hook).
const (
	verdictOK     = sad.NumDropReasons
	verdictSilent = sad.NumDropReasons + 1
	verdictDummy  = sad.NumDropReasons + 2
	verdictIKE    = sad.NumDropReasons + 3 // an IKE message (non-ESP marker), delivered after the batch
)

func newBatch(size int, outbound bool, bufLen int) *batch {
	b := &batch{
		outbound: outbound,
		bufs:     make([][]byte, size),
		sizes:    make([]int, size),
		pkts:     make([][]byte, size),
		sas:      make([]*sad.SA, size),
		seqs:     make([]uint64, size),
		srcs:     make([]netip.AddrPort, size),
		verdict:  make([]sad.DropReason, size),
		out:      make([][]byte, 0, size),
		held:     make([]*sad.SA, 0, size),
		done:     make(chan struct{}, 1),
	}
	for i := range b.bufs {
		b.bufs[i] = make([]byte, bufLen)
	}
	return b
}

// hold acquires sa for the lifetime of the batch, so that a concurrent
// Delete cannot wipe its keys while a worker still uses them. It reports
// false when the SA is dead.
func (b *batch) hold(sa *sad.SA) bool {
	if n := len(b.held); n > 0 && b.held[n-1] == sa {
		return true
	}
	for _, h := range b.held {
		if h == sa {
			return true
		}
	}
	if !sa.Acquire() {
		return false
	}
	b.held = append(b.held, sa)
	return true
}

// reset prepares b for reuse: the SAs it held are released and the SA
// pointers cleared so that a dead SA is not kept alive by an idle batch.
func (b *batch) reset() {
	for i, sa := range b.held {
		sa.Release()
		b.held[i] = nil
	}
	b.held = b.held[:0]
	for i := 0; i < b.n; i++ {
		b.sas[i] = nil
		b.pkts[i] = nil
	}
	b.n = 0
	b.out = b.out[:0]
}

// saTally adds up packets and bytes per SA over one batch so that the shared
// atomic counters are touched once per SA and batch, not once per packet.
type saTally struct {
	n       int
	sa      [8]*sad.SA
	packets [8]uint64
	bytes   [8]uint64
}

func (t *saTally) add(sa *sad.SA, bytes int) {
	for i := 0; i < t.n; i++ {
		if t.sa[i] == sa {
			t.packets[i]++
			t.bytes[i] += uint64(bytes)
			return
		}
	}
	if t.n == len(t.sa) {
		sa.Account(1, uint64(bytes))
		return
	}
	t.sa[t.n], t.packets[t.n], t.bytes[t.n] = sa, 1, uint64(bytes)
	t.n++
}

func (t *saTally) flush() {
	for i := 0; i < t.n; i++ {
		t.sa[i].Account(t.packets[i], t.bytes[i])
		t.sa[i] = nil
	}
	t.n = 0
}

// batchPool hands out batches, making them only when every one made so far
// is in flight (at most max): an idle tunnel holds one batch per direction,
// a busy one up to max.
type batchPool struct {
	free     chan *batch
	made     atomic.Int32
	max      int32
	outbound bool
	bufLen   int
}

func newBatchPool(max int, outbound bool, bufLen int) *batchPool {
	return &batchPool{free: make(chan *batch, max), max: int32(max), outbound: outbound, bufLen: bufLen}
}

// get returns a free batch, or a new one, or waits for one to come back;
// nil once closing is closed.
func (p *batchPool) get(closing <-chan struct{}) *batch {
	select {
	case b := <-p.free:
		return b
	default:
	}
	if p.made.Add(1) <= p.max {
		return newBatch(batchCap, p.outbound, p.bufLen)
	}
	p.made.Add(-1)
	select {
	case b := <-p.free:
		return b
	case <-closing:
		return nil
	}
}

func (p *batchPool) put(b *batch) { p.free <- b }
