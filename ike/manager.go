package ike

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/esptun/esptun/config"
	"github.com/esptun/esptun/ike/auth"
	"github.com/esptun/esptun/ike/wire"
	"github.com/esptun/esptun/sad"
	"github.com/esptun/esptun/spd"
)

// Options configure a Manager.
type Options struct {
	Config    *config.Config
	Transport Transport
	SPD       *spd.DB
	SAD       *sad.DB
	Logger    *slog.Logger
	// Flush is called after an outbound SA was installed for a policy, so
	// that packets the data path queued while the SA was being negotiated
	// (start_action = trap) go out. It may be nil.
	Flush func(policyID uint32)
	// Workers process received IKE messages; 0 = GOMAXPROCS.
	Workers int
	// OnVirtualIP is called (with the IKE SA's lock held: do not call back
	// into the Manager) when a client's IKE SA got or lost its virtual IPs
	// and DNS configuration. It may be nil.
	OnVirtualIP func(VirtualIPEvent)
}

// Manager runs every IKE SA of one daemon.
type Manager struct {
	opts  Options
	cfg   *config.Config
	log   *slog.Logger
	tx    Transport
	spd   *spd.DB
	sad   *sad.DB
	creds *credentials

	inbox     []chan datagram // one per worker; an IKE SA's datagrams always go to the same one
	initInbox chan datagram   // IKE_SA_INIT requests without a cookie, served after the inboxes
	// Bytes queued in the inboxes and in initInbox: the bounds that hold
	// whatever the size of the datagrams (maxInboxBytes, maxFreshBytes).
	inboxBytes, freshBytes atomic.Int64
	freshBufs              chan []byte // free freshBufSize buffers for fresh IKE_SA_INIT requests
	freshSmall             chan []byte // free freshSmallSize buffers, for the usual small ones
	closing                chan struct{}
	wg                     sync.WaitGroup

	mu  sync.Mutex        // guards the tables below
	sas map[uint64]*ikeSA // by local SPI
	// halfOpen finds a responder's IKE SA by halfOpenHash of its key,
	// which halfOpenLocked checks: a 16-byte map slot instead of 48.
	halfOpen map[uint64]*ikeSA
	// halfOpenPeak is the most entries halfOpen had since it was made: a
	// Go map keeps the room of its peak, and after a burst of setups
	// expireHalfOpen makes a small one again (see shrinkHalfOpenLocked).
	halfOpenPeak int
	// initiated counts the IKE SAs we initiated per connection, for
	// INITIAL_CONTACT without a scan of every SA.
	initiated map[*config.Connection]int
	// peers holds the established IKE SAs by a hash of connection and
	// peer identity (peerHash), for INITIAL_CONTACT and unique without a
	// scan of every SA: each entry heads a chain through ikeSA.peerNext.
	// A chain may hold SAs of another peer whose hash collides; the users
	// of samePeer compare connection and identity.
	peers  map[uint64]*ikeSA
	seed   maphash.Seed     // for the keys of peers and halfOpen
	traps  map[uint32]*trap // by trap policy ID
	closed bool

	// localIDs are our configured identities, parsed: string to
	// auth.Identity. A reload that changes one leaves the old entry,
	// a few bytes per identity ever configured.
	localIDs sync.Map

	pools   map[string]*addrPool // virtual IP pools by name
	poolCfg map[string]*poolConfig

	halfOpenCount atomic.Int32
	noProposalLog logLimit
	nextPolicyID  atomic.Uint32
	nextUnique    atomic.Uint32
	cookies       cookieJar
	natdDecoy     netip.AddrPort // random; stands for our address in forced-NAT detection hashes

	// Counters for status.
	stats struct {
		received, dropped, invalid, authFailed, cookiesSent, inboxFull atomic.Uint64
	}
}

// halfOpenKey finds a responder's half-open IKE SA when the initiator
// retransmits IKE_SA_INIT (RFC 7296 2.1).
type halfOpenKey struct {
	spiI   uint64
	remote netip.AddrPort
}

// halfOpenHash is k's key in Manager.halfOpen, seeded per Manager so that
// no one can choose requests whose keys collide.
func (m *Manager) halfOpenHash(k halfOpenKey) uint64 {
	var b [8 + 16 + 2]byte
	binary.BigEndian.PutUint64(b[:8], k.spiI)
	a := k.remote.Addr().As16()
	copy(b[8:24], a[:])
	binary.BigEndian.PutUint16(b[24:], k.remote.Port())
	return maphash.Bytes(m.seed, b[:])
}

// halfOpenLocked returns the half-open (or recently established) IKE SA
// of k, or nil. The caller holds m.mu.
func (m *Manager) halfOpenLocked(k halfOpenKey) *ikeSA {
	sa := m.halfOpen[m.halfOpenHash(k)]
	if sa == nil || sa.spiI != k.spiI || sa.halfOpenRemote != k.remote {
		return nil // none, or another key that hashes the same
	}
	return sa
}

type datagram struct {
	pkt           []byte
	remote, local netip.AddrPort
	natt          bool
	fresh         bool // queued in initInbox, pkt from freshBufs or freshSmall by its capacity
}

// Bounds of what received datagrams may hold while they wait for a
// worker. A flood of IKE_SA_INIT requests fills maxFreshBytes or the
// queue's freshPlaces, whichever comes first, and is dropped beyond (the
// initiators retransmit); the buffers of the fresh requests are reused,
// so that a flood answered with cookies makes no garbage, and come in two
// sizes, so that a flood of small requests (a flood is usually made of the
// smallest valid one, about 150 bytes) holds 512 KiB, not 2 MiB.
const (
	maxInboxBytes  = 4 << 20 // all per-worker inboxes together
	maxFreshBytes  = 2 << 20 // initInbox
	freshBufSize   = 2048    // an IKE_SA_INIT request larger than this gets a buffer of its own
	freshSmallSize = 512     // requests up to this size get a buffer this size
	freshPlaces    = maxFreshBytes / freshBufSize
)

// queuedCost is what a queued datagram of n bytes counts against its
// bound: the buffer it is copied into.
func queuedCost(n int, fresh bool) int64 {
	if fresh && n <= freshSmallSize {
		return freshSmallSize
	}
	return int64(max(n, freshBufSize))
}

type trap struct {
	conn    *config.Connection
	child   *config.Child
	policy  *spd.Policy
	pending atomic.Bool // an acquire is being negotiated
	lastTry atomic.Int64
}

// ErrClosed is returned by Manager methods after Close.
var ErrClosed = errors.New("ike: manager is closed")

// New validates what the configuration needs at run time (certificates,
// keys, secrets) and returns a Manager that is not started yet.
func New(o Options) (*Manager, error) {
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Workers <= 0 {
		o.Workers = runtime.GOMAXPROCS(0)
	}
	creds, err := loadCredentials(o.Config)
	if err != nil {
		return nil, err
	}
	m := &Manager{
		opts:      o,
		cfg:       o.Config,
		log:       o.Logger,
		tx:        o.Transport,
		spd:       o.SPD,
		sad:       o.SAD,
		creds:     creds,
		inbox:     make([]chan datagram, o.Workers),
		closing:   make(chan struct{}),
		sas:       make(map[uint64]*ikeSA),
		halfOpen:  make(map[uint64]*ikeSA),
		initiated: make(map[*config.Connection]int),
		peers:     make(map[uint64]*ikeSA),
		seed:      maphash.MakeSeed(),
		traps:     make(map[uint32]*trap),
	}
	for i := range m.inbox {
		m.inbox[i] = make(chan datagram, 1024)
	}
	m.initInbox = make(chan datagram, freshPlaces)
	m.freshBufs = make(chan []byte, freshPlaces)
	m.freshSmall = make(chan []byte, freshPlaces)
	m.nextPolicyID.Store(1 << 20) // manual policies use small IDs
	m.pools = map[string]*addrPool{}
	m.poolCfg = map[string]*poolConfig{}
	for _, p := range cfgPools(o.Config) {
		m.pools[p.Name] = newAddrPool(p.Name, p.First, p.Last)
		m.poolCfg[p.Name] = p
	}
	m.cookies.init()
	var decoy [18]byte
	_, _ = rand.Read(decoy[:])
	m.natdDecoy = netip.AddrPortFrom(netip.AddrFrom16([16]byte(decoy[:16])), binary.BigEndian.Uint16(decoy[16:]))
	return m, nil
}

// Start begins processing and brings up every child whose start_action is
// start, and installs trap policies for those with trap.
func (m *Manager) Start() {
	for _, inbox := range m.inbox {
		m.wg.Add(1)
		go m.routineWorker(inbox)
	}
	m.wg.Add(1)
	go m.routineHousekeeping()
	for _, conn := range m.cfg.Connections {
		for _, child := range conn.Children {
			switch child.StartAction {
			case "start":
				go func() {
					if err := m.initiate(context.Background(), conn, child, nil); err != nil {
						m.log.Warn("initiate failed", "conn", conn.Name, "child", child.Name, "err", err)
					}
				}()
			case "trap":
				m.installTrap(conn, child)
			}
		}
	}
}

// HandleDatagram takes one received IKE message (the non-ESP marker already
// removed). It copies pkt and returns at once; the message is processed by
// a worker. When the workers fall behind, messages are dropped and counted
// (the initiator retransmits). The exception is an IKE_SA_INIT request
// without a cookie on the plain IKE port (natt false) while COOKIEs are
// asked for: it is answered with one from here, before it costs a copy or
// a place in a queue (see answerCookieNow). pkt is only read.
func (m *Manager) HandleDatagram(pkt []byte, remote, local netip.AddrPort, natt bool) {
	m.handleDatagram(pkt, remote, local, natt, false)
}

// HandleDatagramNow is HandleDatagram for a receiver that may wait while
// the message is processed: when nothing is queued for the worker that
// would take it, it is processed on the caller's goroutine before
// HandleDatagramNow returns. That saves waking the worker, a thread switch
// per message, which on a virtual machine costs about as much as an
// IKE_SA_INIT's own work. A receiver calls it for the last datagram of its
// read only, so that a burst still spreads over the workers, and a flood
// still queues (and gets its COOKIEs) as with HandleDatagram. A fresh
// IKE_SA_INIT request on the NAT-T port (natt) always queues: that
// receiver also carries ESP, which must not wait behind a flood.
func (m *Manager) HandleDatagramNow(pkt []byte, remote, local netip.AddrPort, natt bool) {
	m.handleDatagram(pkt, remote, local, natt, true)
}

func (m *Manager) handleDatagram(pkt []byte, remote, local netip.AddrPort, natt, now bool) {
	m.stats.received.Add(1)
	if len(pkt) < wire.HeaderLen || len(pkt) > maxMessage {
		m.stats.invalid.Add(1)
		return
	}
	d := datagram{remote: remote, local: local, natt: natt}
	q, bytes, limit := m.inbox[m.worker(pkt)], &m.inboxBytes, int64(maxInboxBytes)
	if isFreshInit(pkt) {
		if !natt && m.answerCookieNow(pkt, remote, local) {
			return
		}
		// A flood of IKE_SA_INIT requests without a cookie fills only
		// this queue; messages of existing IKE SAs and requests that
		// bring a cookie go ahead of it (RFC 7296 2.6).
		q, bytes, limit = m.initInbox, &m.freshBytes, maxFreshBytes
		d.fresh = true
	}
	size := queuedCost(len(pkt), d.fresh)
	if bytes.Add(size) > limit {
		bytes.Add(-size)
		m.stats.inboxFull.Add(1)
		return
	}
	if d.fresh && len(pkt) <= freshBufSize {
		pool, c := m.freshBufs, freshBufSize
		if len(pkt) <= freshSmallSize {
			pool, c = m.freshSmall, freshSmallSize
		}
		select {
		case b := <-pool:
			d.pkt = append(b[:0], pkt...)
		default:
			d.pkt = append(make([]byte, 0, c), pkt...)
		}
	} else {
		d.pkt = append([]byte(nil), pkt...)
	}
	if now && len(q) == 0 && !(natt && d.fresh) {
		m.process(d)
		m.done(d)
		return
	}
	select {
	case q <- d:
	default:
		bytes.Add(-size)
		m.release(d)
		m.stats.inboxFull.Add(1)
	}
}

// done is called when a worker has processed d: its bytes leave the
// bound, and a fresh request's buffer goes back to the pool. Nothing may
// keep d.pkt of a fresh request (respondInit copies what it keeps).
func (m *Manager) done(d datagram) {
	size := queuedCost(len(d.pkt), d.fresh)
	if d.fresh {
		m.freshBytes.Add(-size)
	} else {
		m.inboxBytes.Add(-size)
	}
	m.release(d)
}

func (m *Manager) release(d datagram) {
	if !d.fresh {
		return
	}
	pool := m.freshBufs
	switch cap(d.pkt) {
	case freshBufSize:
	case freshSmallSize:
		pool = m.freshSmall
	default:
		return
	}
	select {
	case pool <- d.pkt[:0]:
	default:
	}
}

// answerCookieNow answers a fresh IKE_SA_INIT request (isFreshInit) with a
// COOKIE (RFC 7296 2.6), or drops it at half_open_limit, in the goroutine
// that received it, when that is all a worker would do with it: the
// request is well formed and no half-open IKE SA has its SPIi and address
// (a retransmission of one is answered from the SA, by a worker). It
// reports whether it took care of pkt. A flood past cookie_threshold then
// costs an HMAC and a send per request, no copy and no queued memory, and
// the workers stay free for the IKE SAs (and the initiators that return
// their COOKIE). Only the plain IKE port is answered from here: the NAT-T
// port's receiver also carries ESP, which must not wait behind a flood,
// so requests there queue (and are dropped when their queue is full).
func (m *Manager) answerCookieNow(pkt []byte, remote, local netip.AddrPort) bool {
	open := int(m.halfOpenCount.Load())
	limit := m.cfg.IKE.HalfOpenLimit
	atLimit := limit > 0 && open >= limit
	// The fresh requests waiting for a worker count as the half-open SAs
	// they may become: when a flood starts, COOKIEs are asked for as soon
	// as enough requests are queued to reach the threshold, not once the
	// workers made the SAs, and no more than that many wait in the queue.
	// cookie_threshold 0 means always (docs/config.md).
	if open+len(m.initInbox) < m.cfg.IKE.CookieThreshold && !atLimit {
		return false // the request may make a half-open SA
	}
	h, err := wire.ParseHeader(pkt)
	if err != nil || h.MessageID != 0 {
		return false // a worker counts it
	}
	nonce, gotCookie, ok := scanInitRequest(pkt)
	if !ok || gotCookie != nil || len(nonce) < 16 || len(nonce) > 256 {
		return false
	}
	key := halfOpenKey{spiI: h.SPIi, remote: remote}
	m.mu.Lock()
	known, closed := m.halfOpenLocked(key) != nil, m.closed
	m.mu.Unlock()
	if known || closed {
		return false
	}
	if atLimit {
		m.stats.dropped.Add(1)
		return true
	}
	m.stats.cookiesSent.Add(1)
	b := cookieAnswers.Get().(*[cookieAnswerLen]byte)
	m.tx.SendIKE(putCookieAnswer(b[:], h.SPIi, m.cookies.make(nonce, remote.Addr(), h.SPIi)), local, remote, false)
	cookieAnswers.Put(b)
	return true
}

// isFreshInit reports whether pkt is an IKE_SA_INIT request that does not
// start with a COOKIE notify: the kind of message a flood is made of.
func isFreshInit(pkt []byte) bool {
	if pkt[18] != byte(wire.ExchangeIKESAInit) || wire.Flags(pkt[19])&wire.FlagResponse != 0 {
		return false
	}
	if binary.BigEndian.Uint64(pkt[8:16]) != 0 {
		return false
	}
	// Notify payload first, with its type at offset 6 of the payload.
	if wire.PayloadType(pkt[16]) == wire.PayloadNotify && len(pkt) >= wire.HeaderLen+8 &&
		wire.NotifyType(binary.BigEndian.Uint16(pkt[wire.HeaderLen+6:])) == wire.NotifyCookie {
		return false
	}
	return true
}

// maxMessage bounds what is accepted from the network: IKE messages larger
// than this come in fragments (RFC 7383).
const maxMessage = 64 * 1024

func (m *Manager) routineWorker(inbox chan datagram) {
	defer m.wg.Done()
	for {
		// Existing IKE SAs and cookie-bearing requests first.
		select {
		case d := <-inbox:
			m.process(d)
			m.done(d)
			continue
		default:
		}
		select {
		case d := <-inbox:
			m.process(d)
			m.done(d)
		case d := <-m.initInbox:
			m.process(d)
			m.done(d)
		case <-m.closing:
			return
		}
	}
}

// worker picks the inbox of a datagram by the SPI we chose for its IKE SA
// (SPIi of an IKE_SA_INIT request), so that one IKE SA's messages are handled
// in the order they arrived while different IKE SAs spread over the workers.
func (m *Manager) worker(pkt []byte) int {
	spiI := binary.BigEndian.Uint64(pkt[0:8])
	spiR := binary.BigEndian.Uint64(pkt[8:16])
	flags := wire.Flags(pkt[19])
	spi := spiI
	if flags&wire.FlagInitiator != 0 && spiR != 0 {
		spi = spiR
	}
	return int((spi * 0x9e3779b97f4a7c15) >> 32 % uint64(len(m.inbox)))
}

// process dispatches one datagram to its IKE SA, or to the IKE_SA_INIT
// responder.
func (m *Manager) process(d datagram) {
	h, err := wire.ParseHeader(d.pkt)
	if err != nil {
		m.stats.invalid.Add(1)
		return
	}
	response := h.Flags&wire.FlagResponse != 0
	fromInitiator := h.Flags&wire.FlagInitiator != 0
	if h.Exchange == wire.ExchangeIKESAInit && !response && h.SPIr == 0 && h.MessageID == 0 {
		m.respondInit(d, h)
		return
	}
	// The SPI we chose is SPIr when the sender is the original initiator
	// (RFC 7296 3.1), SPIi otherwise.
	local := h.SPIi
	if fromInitiator {
		local = h.SPIr
	}
	m.mu.Lock()
	sa := m.sas[local]
	m.mu.Unlock()
	if sa == nil {
		if h.Exchange == wire.ExchangeIKESAInit && response {
			// Our IKE_SA_INIT request had SPIr zero; the response names
			// the responder's SPI, so find our SA by SPIi.
			m.mu.Lock()
			sa = m.sas[h.SPIi]
			m.mu.Unlock()
		}
		if sa == nil {
			m.stats.dropped.Add(1)
			return
		}
	}
	sa.receive(d, h)
}

// routineHousekeeping expires half-open SAs and rotates the cookie secret.
func (m *Manager) routineHousekeeping() {
	defer m.wg.Done()
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case now := <-t.C:
			m.cookies.maybeRotate(now)
			m.expireHalfOpen(now)
		case <-m.closing:
			return
		}
	}
}

func (m *Manager) expireHalfOpen(now time.Time) {
	timeout := m.cfg.IKE.HalfOpenTimeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	var stale []*ikeSA
	m.mu.Lock()
	for key, sa := range m.halfOpen {
		if now.Sub(sa.created) <= timeout {
			continue
		}
		if sa.leftHalfOpen {
			// Established: a copy of its IKE_SA_INIT request cannot
			// still be on its way, so the entry goes, and the table
			// holds only recent SAs, not every SA the responder has.
			delete(m.halfOpen, key)
			continue
		}
		stale = append(stale, sa)
	}
	m.shrinkHalfOpenLocked()
	m.mu.Unlock()
	for _, sa := range stale {
		sa.mu.Lock()
		if sa.state < stateEstablished {
			sa.destroyLocked("half-open timeout")
		}
		sa.mu.Unlock()
	}
}

// register adds sa to the tables under its local SPI.
func (m *Manager) register(sa *ikeSA) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if _, dup := m.sas[sa.localSPI()]; dup {
		return errors.New("ike: SPI collision")
	}
	m.sas[sa.localSPI()] = sa
	if sa.initiator && sa.conn != nil {
		m.initiated[sa.conn]++
		sa.counted = true
	}
	return nil
}

// changeLocalSPI moves an initiator's IKE SA that has not heard from the
// responder yet to a new SPIi.
func (m *Manager) changeLocalSPI(sa *ikeSA, spi uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, dup := m.sas[spi]; dup {
		return errors.New("ike: SPI collision")
	}
	if m.sas[sa.spiI] == sa {
		delete(m.sas, sa.spiI)
	}
	sa.spiI = spi
	m.sas[spi] = sa
	return nil
}

func (m *Manager) unregister(sa *ikeSA) {
	m.mu.Lock()
	if m.sas[sa.localSPI()] == sa {
		delete(m.sas, sa.localSPI())
	}
	if sa.counted {
		sa.counted = false
		if m.initiated[sa.conn]--; m.initiated[sa.conn] <= 0 {
			delete(m.initiated, sa.conn)
		}
	}
	if sa.peerIndexed {
		m.dropPeerLocked(sa)
	}
	if sa.halfOpenRemote.IsValid() {
		if hk := m.halfOpenHash(sa.halfOpenKeyOf()); m.halfOpen[hk] == sa {
			delete(m.halfOpen, hk)
			if !sa.leftHalfOpen {
				m.halfOpenCount.Add(-1)
			}
		}
		sa.halfOpenRemote = netip.AddrPort{}
	}
	m.mu.Unlock()
}

// peerHash hashes an IKE SA's connection (by name) and peer identity for
// Manager.peers. An entry there costs a map slot of 16 bytes; a key of
// connection and identity cost a 48-byte slot and a copy of the identity.
func (m *Manager) peerHash(conn *config.Connection, id auth.Identity) uint64 {
	var h maphash.Hash
	h.SetSeed(m.seed)
	h.WriteString(conn.Name)
	h.WriteByte(0)
	h.WriteByte(id.Type)
	h.Write(id.Data)
	return h.Sum64()
}

// indexPeer adds an established SA to m.peers. The caller holds sa.mu.
func (m *Manager) indexPeer(sa *ikeSA) {
	if sa.conn == nil {
		return
	}
	h := m.peerHash(sa.conn, sa.remoteID)
	m.mu.Lock()
	defer m.mu.Unlock()
	if sa.peerIndexed || m.sas[sa.localSPI()] != sa {
		return // indexed already, or gone
	}
	sa.peerIndexed, sa.peerHash = true, h
	sa.peerNext = m.peers[h]
	m.peers[h] = sa
}

func (m *Manager) dropPeerLocked(sa *ikeSA) {
	h := sa.peerHash
	if head := m.peers[h]; head == sa {
		if sa.peerNext == nil {
			delete(m.peers, h)
		} else {
			m.peers[h] = sa.peerNext
		}
	} else {
		for p := head; p != nil; p = p.peerNext {
			if p.peerNext == sa {
				p.peerNext = sa.peerNext
				break
			}
		}
	}
	sa.peerIndexed, sa.peerHash, sa.peerNext = false, 0, nil
}

// samePeer returns the other established IKE SAs that may be of fresh's
// connection and peer identity: those of its chain in m.peers. The caller
// compares connection and identity with each SA's lock held.
func (m *Manager) samePeer(fresh *ikeSA) []*ikeSA {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !fresh.peerIndexed {
		return nil
	}
	var out []*ikeSA
	for sa := m.peers[fresh.peerHash]; sa != nil; sa = sa.peerNext {
		if sa != fresh {
			out = append(out, sa)
		}
	}
	return out
}

// leaveHalfOpen is called once the responder's IKE_AUTH completed. The SA
// stops counting as half-open, but stays in m.halfOpen for
// half_open_timeout after it was made, so that a late copy of the
// IKE_SA_INIT request finds it rather than making a new half-open SA (RFC
// 7296 2.1).
// shrinkHalfOpenLocked replaces the half-open table with a map of the
// size it needs once it holds less than a quarter of its peak: a burst of
// 10 000 setups leaves a map of about 90 bytes per entry behind for good
// otherwise. Small tables are left as they are. The caller holds m.mu.
func (m *Manager) shrinkHalfOpenLocked() {
	n := len(m.halfOpen)
	m.halfOpenPeak = max(m.halfOpenPeak, n)
	if m.halfOpenPeak < halfOpenShrinkMin || n*4 > m.halfOpenPeak {
		return
	}
	fresh := make(map[uint64]*ikeSA, n)
	for k, sa := range m.halfOpen {
		fresh[k] = sa
	}
	m.halfOpen, m.halfOpenPeak = fresh, n
}

// halfOpenShrinkMin is the peak below which the half-open table is kept.
const halfOpenShrinkMin = 1024

func (m *Manager) leaveHalfOpen(sa *ikeSA) {
	m.mu.Lock()
	if sa.halfOpenRemote.IsValid() && m.halfOpen[m.halfOpenHash(sa.halfOpenKeyOf())] == sa && !sa.leftHalfOpen {
		sa.leftHalfOpen = true
		m.halfOpenCount.Add(-1)
	}
	m.mu.Unlock()
}

// snapshot returns every IKE SA, for status and control verbs.
func (m *Manager) snapshot() []*ikeSA {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]*ikeSA, 0, len(m.sas))
	for _, sa := range m.sas {
		out = append(out, sa)
	}
	return out
}

func (m *Manager) allocPolicyID() uint32 { return m.nextPolicyID.Add(1) }

// newSPI returns a random IKE SPI that no local IKE SA uses.
func newIKESPI() uint64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:])
		if v := binary.BigEndian.Uint64(b[:]); v != 0 {
			return v
		}
	}
}

// newChildSPI returns a random ESP SPI >= 256 (RFC 4303 2.1) that is not
// installed inbound; the SAD picks it so that its lookup is one array index.
func (m *Manager) newChildSPI() uint32 { return m.sad.NewSPI() }

// localAddrFor returns the local address the kernel would use to reach
// remote, for NAT detection and logs.
func localAddrFor(remote netip.AddrPort, port uint16) netip.AddrPort {
	c, err := net.DialUDP("udp", nil, net.UDPAddrFromAddrPort(remote))
	if err != nil {
		return netip.AddrPortFrom(netip.Addr{}, port)
	}
	defer c.Close()
	la := c.LocalAddr().(*net.UDPAddr).AddrPort()
	return netip.AddrPortFrom(la.Addr().Unmap(), port)
}

// Close deletes every IKE SA (sending DELETE, RFC 7296 1.4.1) and waits up
// to ctx for the peers' answers, then stops.
func (m *Manager) Close(ctx context.Context) {
	m.mu.Lock()
	if m.closed {
		m.mu.Unlock()
		return
	}
	m.closed = true
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, sa := range m.snapshot() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			sa.terminate(ctx, "shutdown")
		}()
	}
	wg.Wait()
	close(m.closing)
	m.wg.Wait()
	for _, sa := range m.snapshot() {
		sa.mu.Lock()
		sa.destroyLocked("shutdown")
		sa.mu.Unlock()
	}
	m.removeTraps()
}

func (m *Manager) isClosing() bool {
	select {
	case <-m.closing:
		return true
	default:
		return false
	}
}

func (m *Manager) connByName(name string) *config.Connection {
	for _, c := range m.cfg.Connections {
		if c.Name == name {
			return c
		}
	}
	return nil
}

func (m *Manager) childByName(name string) (*config.Connection, *config.Child, error) {
	var found []*config.Connection
	var child *config.Child
	for _, c := range m.cfg.Connections {
		for _, ch := range c.Children {
			if ch.Name == name || c.Name+"/"+ch.Name == name {
				found = append(found, c)
				child = ch
			}
		}
	}
	switch len(found) {
	case 0:
		return nil, nil, fmt.Errorf("no child named %q", name)
	case 1:
		return found[0], child, nil
	}
	return nil, nil, fmt.Errorf("child name %q is ambiguous: use CONNECTION/CHILD", name)
}

func (m *Manager) pool(name string) *addrPool { return m.pools[name] }

func (m *Manager) poolConfig(name string) *poolConfig { return m.poolCfg[name] }

// logLimit lets one log line through per second and counts the rest.
type logLimit struct {
	last       atomic.Int64
	suppressed atomic.Uint64
}

// allow reports whether to log now, and how many lines were held back
// since the last one.
func (l *logLimit) allow(now time.Time) (uint64, bool) {
	t := now.UnixNano()
	last := l.last.Load()
	if t-last < int64(time.Second) || !l.last.CompareAndSwap(last, t) {
		l.suppressed.Add(1)
		return 0, false
	}
	return l.suppressed.Swap(0), true
}
