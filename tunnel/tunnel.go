package tunnel

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.zx2c4.com/wireguard/tun"

	"github.com/esptun/esptun/esp"
	"github.com/esptun/esptun/sad"
	"github.com/esptun/esptun/spd"
)

// Options configure a Tunnel.
type Options struct {
	TunName   string
	MTU       int
	Offload   bool           // use the Linux TUN offloads (TSO split on read, GRO on write)
	Addresses []netip.Prefix // put on the TUN device
	Routes    []netip.Prefix // routed into the TUN device
	Peers     []netip.Addr   // outer peer addresses, kept routed outside the tunnel

	Listen   []netip.Addr // local outer addresses; empty = every address, v4 and v6
	NATTPort uint16       // ESP-in-UDP port (RFC 3948), usually 4500
	RawESP   bool         // also open raw ESP (IP protocol 50) sockets

	// Workers is the number of goroutines that help the readers seal and
	// open large batches. 0 picks automatically (see autoWorkers); a
	// negative value means none: every reader does its own crypto.
	Workers int
	// NormalScheduling keeps the process's threads under the default
	// scheduler policy. Otherwise New puts them under SCHED_BATCH on Linux,
	// so that a woken data-path thread does not preempt the applications it
	// carries traffic for (see batchScheduling).
	NormalScheduling bool
	Logger           *slog.Logger

	SPD *spd.DB
	SAD *sad.DB

	// IKEPort, if not zero, is the plain IKE port (usually 500): the
	// tunnel opens it on every listen address and hands what arrives to
	// IKE.
	IKEPort uint16
	// IKE receives IKE messages: datagrams on IKEPort (natt false), and
	// datagrams on the ESP-in-UDP port that start with the non-ESP marker
	// (RFC 3948 2.2, natt true; pkt excludes the marker). pkt is only valid
	// during the call. alone is set for the last IKE message of a read,
	// once the read's ESP packets are delivered: the handler may process
	// that one before it returns, on the reader's goroutine, instead of
	// handing it to another one (no thread switch), while the read's other
	// IKE messages go to other goroutines and run alongside it.
	IKE func(pkt []byte, remote, local netip.AddrPort, natt, alone bool)
	// Acquire is called when an outbound packet matches a protect policy
	// that has no SA yet. The packet waits in a small queue until Flush.
	Acquire func(policyID uint32)
	// PeerMoved is called when authenticated ESP arrives from another
	// address than the SA's peer (a NAT rebinding, RFC 3948 / RFC 7296
	// 2.23). It is called at most once per SA and batch.
	PeerMoved func(sa *sad.SA, from netip.AddrPort)
}

// Tunnel is a running data path. Its methods are safe for concurrent use.
type Tunnel struct {
	opts       Options
	log        *slog.Logger
	tun        tun.Device
	tunR       *tunReader // nil: tun.Read; used by routineReadTUN only
	tunName    string
	osState    *osConfig
	conns      []batchConn
	ikeConns   []batchConn // plain IKE sockets (IKEPort)
	acq        acquireQueue
	flushMu    sync.Mutex
	flushWS    *workerState // guarded by flushMu
	flushTally saTally      // guarded by flushMu

	outPool *batchPool
	inPool  *batchPool
	workQ   chan work // nil when the readers seal and open everything themselves

	// sendMu serialises the senders (the TUN reader and Flush): a
	// batchConn's WriteBatch has one caller at a time.
	sendMu sync.Mutex

	// finishMu serialises the receivers' in-order stage: replay windows
	// are updated and the TUN is written by one receiver at a time.
	finishMu sync.Mutex
	fin      finisher // guarded by finishMu

	closing   chan struct{}
	closeOnce sync.Once
	wg        sync.WaitGroup // routines that end when their input closes
	readers   sync.WaitGroup // routines blocked in reads

	// Global counters not tied to one SA.
	keepalives atomic.Uint64
	nonESP     atomic.Uint64
	dummies    atomic.Uint64
	tunErrors  atomic.Uint64
	sendErrors atomic.Uint64
	started    time.Time
}

type work struct {
	b      *batch
	lo, hi int
}

const (
	batchCap  = 128 // packets per batch (wireguard's conn.IdealBatchSize)
	poolDepth = 8   // batches in flight per direction (one per reader and Flush)
)

// New creates the TUN device, opens the sockets and starts the data path.
func New(o Options) (*Tunnel, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Workers == 0 {
		o.Workers = autoWorkers(runtime.GOMAXPROCS(0))
	}
	o.Workers = max(o.Workers, 0)
	if o.SPD == nil || o.SAD == nil {
		return nil, errors.New("tunnel: SPD and SAD are required")
	}
	t := &Tunnel{
		opts: o,
		log:  o.Logger,
		// Outbound buffers hold one packet of at most the MTU (the TUN
		// offloads split super-packets into them); inbound ones must take
		// a GRO super-packet (tun.Write coalesces into them).
		outPool: newBatchPool(poolDepth, true, max(o.MTU, 1500)+tunReadOffset+esp.MaxTrailer+64),
		inPool:  newBatchPool(poolDepth, false, bufSize),
		closing: make(chan struct{}),
		started: time.Now(),
		flushWS: newWorkerState(),
	}
	if o.Workers > 0 {
		t.workQ = make(chan work, 4*o.Workers)
	}
	t.acq.init()
	if err := t.openSockets(); err != nil {
		t.closeSockets()
		return nil, err
	}
	dev, err := createTUN(o.TunName, o.MTU, o.Offload)
	if err != nil {
		t.closeSockets()
		return nil, fmt.Errorf("tunnel: create TUN %q: %w", o.TunName, err)
	}
	t.tun = dev
	t.fin.tw = newTUNWriter(dev)
	t.tunR = newTUNReader(dev)
	t.tunName, _ = dev.Name()
	t.osState, err = configureOS(t.tunName, o.MTU, o.Addresses, o.Routes, o.Peers, t.log)
	if err != nil {
		dev.Close()
		t.closeSockets()
		return nil, fmt.Errorf("tunnel: configure %s: %w", t.tunName, err)
	}
	if !o.NormalScheduling {
		if n, err := batchScheduling(); err != nil {
			t.log.Debug("SCHED_BATCH not set on every thread", "changed", n, "err", err)
		}
	}
	for i := 0; i < o.Workers; i++ {
		t.wg.Add(1)
		go t.routineCrypto()
	}
	t.wg.Add(1)
	go t.routineTick()
	t.readers.Add(1)
	go t.routineReadTUN()
	for _, c := range t.conns {
		t.readers.Add(1)
		go t.routineReceive(c)
	}
	for _, c := range t.ikeConns {
		t.readers.Add(1)
		go t.routineReceiveIKE(c)
	}
	gso, gro := t.udpOffload()
	t.log.Info("data path up", "tun", t.tunName, "mtu", o.MTU, "tun_offload", t.tunOffload(),
		"udp_gso", gso, "udp_gro", gro, "workers", o.Workers, "sockets", len(t.conns))
	return t, nil
}

func (t *Tunnel) openSockets() error {
	listen := t.opts.Listen
	if len(listen) == 0 {
		listen = []netip.Addr{netip.IPv4Unspecified(), netip.IPv6Unspecified()}
	}
	for _, a := range listen {
		c, err := listenUDP(netip.AddrPortFrom(a, t.opts.NATTPort), batchCap)
		if err != nil {
			if a.IsUnspecified() && a.Is6() && len(t.opts.Listen) == 0 && isNoIPv6(err) {
				t.log.Warn("no IPv6 on this host: ESP-in-UDP over IPv6 is off", "err", err)
				continue
			}
			return fmt.Errorf("tunnel: listen on %v: %w", netip.AddrPortFrom(a, t.opts.NATTPort), err)
		}
		t.conns = append(t.conns, c)
		if t.opts.IKEPort != 0 {
			ic, err := listenIKE(netip.AddrPortFrom(a, t.opts.IKEPort))
			if err != nil {
				return fmt.Errorf("tunnel: listen on %v: %w", netip.AddrPortFrom(a, t.opts.IKEPort), err)
			}
			t.ikeConns = append(t.ikeConns, ic)
		}
		if t.opts.RawESP {
			r, err := listenRawESP(a, batchCap)
			if err != nil {
				return err
			}
			t.conns = append(t.conns, r)
		}
	}
	return nil
}

func isNoIPv6(err error) bool {
	var se *os.SyscallError
	if errors.As(err, &se) {
		return true
	}
	var oe *net.OpError
	return errors.As(err, &oe)
}

func (t *Tunnel) closeSockets() {
	for _, c := range t.conns {
		c.Close()
	}
	for _, c := range t.ikeConns {
		c.Close()
	}
}

// Name is the name of the TUN device.
func (t *Tunnel) Name() string { return t.tunName }

// Close stops the data path, closes the sockets and removes the TUN device
// and what was configured on it. It waits for every routine to end.
func (t *Tunnel) Close() error {
	var err error
	t.closeOnce.Do(func() {
		close(t.closing)
		t.closeSockets()
		err = t.tun.Close()
		t.readers.Wait()
		if t.workQ != nil {
			close(t.workQ)
		}
		t.wg.Wait()
		if t.osState != nil {
			t.osState.undo(t.log)
		}
	})
	return err
}

func (t *Tunnel) isClosing() bool {
	select {
	case <-t.closing:
		return true
	default:
		return false
	}
}

func (t *Tunnel) getBatch(pool *batchPool) *batch { return pool.get(t.closing) }

func (t *Tunnel) putBatch(b *batch) {
	b.reset()
	if b.outbound {
		t.outPool.put(b)
	} else {
		t.inPool.put(b)
	}
}

// crypt seals or opens every packet of b and returns when all are done.
// The calling reader does it all itself unless the batch is large and
// there are workers: then the workers take chunks of it and the reader the
// last one, and it waits for theirs (fork and join, so the batch never
// changes hands and needs no ordering afterwards).
func (t *Tunnel) crypt(b *batch, w *workerState) {
	live := 0
	for i := 0; i < b.n; i++ {
		if b.verdict[i] == verdictOK {
			live++
		}
	}
	if live == 0 {
		return
	}
	if t.workQ == nil || live < forkMin {
		t.cryptRange(b, 0, b.n, w)
		return
	}
	per := max((b.n+t.opts.Workers)/(t.opts.Workers+1), minChunk)
	lo, handed := 0, int32(0)
	for ; lo+per < b.n; lo += per {
		handed++
	}
	b.pending.Store(handed)
	for lo = 0; lo+per < b.n; lo += per {
		t.workQ <- work{b: b, lo: lo, hi: lo + per}
	}
	t.cryptRange(b, lo, b.n, w)
	<-b.done
}

const (
	// minChunk is the fewest packets worth handing to another goroutine.
	minChunk = 8
	// forkMin is the fewest live packets for which a reader asks the
	// workers for help: below it the wake-ups cost more than they save.
	forkMin = 4 * minChunk
)

// autoWorkers is the number of crypto workers for gomaxprocs CPUs. With
// two CPUs or fewer there are none: on such machines the readers' system
// calls and the peer processes (the application at the other end of the
// TUN device) occupy the other CPU, and handing chunks across costs more
// in wake-ups than the parallel crypto saves (measured, docs/performance.md).
func autoWorkers(gomaxprocs int) int {
	if gomaxprocs <= 2 {
		return -1
	}
	return gomaxprocs - 1
}

func (t *Tunnel) cryptRange(b *batch, lo, hi int, w *workerState) {
	if b.outbound {
		t.sealRange(b, lo, hi, w)
	} else {
		t.openRange(b, lo, hi, w)
	}
}

// routineCrypto seals and opens chunks of batches for the readers. Each
// worker owns its scratch space, so workers share nothing but the
// read-only SA ciphers.
func (t *Tunnel) routineCrypto() {
	defer t.wg.Done()
	s := newWorkerState()
	for w := range t.workQ {
		t.cryptRange(w.b, w.lo, w.hi, s)
		if w.b.pending.Add(-1) == 0 {
			w.b.done <- struct{}{}
		}
	}
}

// routineTick drives the SAD's time lifetimes once a second.
func (t *Tunnel) routineTick() {
	defer t.wg.Done()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case now := <-tick.C:
			t.opts.SAD.Tick(now)
		case <-t.closing:
			return
		}
	}
}
