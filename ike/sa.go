package ike

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"sync"
	"time"

	"github.com/esptun/esptun/config"
	"github.com/esptun/esptun/crypto"
	"github.com/esptun/esptun/ike/auth"
	"github.com/esptun/esptun/ike/wire"
)

type saState uint8

const (
	stateInitSent    saState = iota // initiator: IKE_SA_INIT sent
	stateInitDone                   // responder: IKE_SA_INIT answered
	stateAuthSent                   // initiator: IKE_AUTH sent
	stateEstablished                // authenticated
	stateDeleting                   // DELETE sent, or rekeyed and on its way out
	stateDead
)

func (s saState) String() string {
	switch s {
	case stateInitSent:
		return "CONNECTING"
	case stateInitDone:
		return "CONNECTING"
	case stateAuthSent:
		return "CONNECTING"
	case stateEstablished:
		return "ESTABLISHED"
	case stateDeleting:
		return "DELETING"
	}
	return "DESTROYING"
}

// ikeSA is one IKE SA and its Child SAs. Every field is guarded by mu
// unless its comment says otherwise. Fields are ordered so that the struct
// packs with little padding into 560 bytes, which with the allocator's
// 8-byte header for objects over 512 bytes is in its 576-byte size class: a
// gateway holds one per peer.
type ikeSA struct {
	mgr      *Manager
	log      saLog
	uniqueID uint32 // immutable

	mu             sync.Mutex
	state          saState
	initiator      bool               // original initiator (RFC 7296 2.2)
	counted        bool               // in Manager.initiated (guarded by the Manager's mutex)
	natt           bool               // IKE on the NAT-T port with the non-ESP marker
	natLocal       bool               // we are behind a NAT, or pretend to be (natFake)
	natFake        bool               // natLocal only because encap = true forces it
	natRemote      bool               // the peer is behind a NAT
	fragOK         bool               // peer announced IKEV2_FRAGMENTATION_SUPPORTED
	haveLastResp   bool               // lastResp answers peerNextID-1
	lastRespFrags  bool               // lastResp holds fragments, each after its length
	leftHalfOpen   bool               // IKE_AUTH done; guarded by Manager.mu, as halfOpenRemote is there
	peerIndexed    bool               // in Manager.peers (guarded by the Manager's mutex, as peerHash and peerNext)
	conn           *config.Connection // nil for a responder until IKE_AUTH picked one
	spiI, spiR     uint64
	created        time.Time
	established    time.Time
	halfOpenRemote netip.AddrPort // with spiI the key in Manager.halfOpen, when valid (guarded by the Manager's mutex)
	peerHash       uint64         // of conn and remoteID, the SA's key in Manager.peers
	peerNext       *ikeSA         // the next SA in the same Manager.peers chain

	local, remote netip.AddrPort // remote moves with NAT-T (2.23)

	// *ikeSetup holds what only IKE_SA_INIT and IKE_AUTH use; it is nil
	// once the SA is established (forgetAuthLocked), so its fields may be
	// read only before that.
	*ikeSetup

	suite   crypto.IKESuite
	keys    *crypto.IKEKeys
	ciphers *ikeCiphers // SK_e/SK_a; nil while an established SA is idle

	localID, remoteID auth.Identity

	// Message IDs, window size 1 in both directions (RFC 7296 2.3).
	nextReqID  uint32 // ID of our next request
	peerNextID uint32 // ID expected in the peer's next request
	pending    *request
	queue      []*task
	lastResp   []byte               // our response to peerNextID-1, resent on retransmits (setLastRespLocked)
	reasm      *[2]wire.Reassembler // RFC 7383 fragments in progress: requests, responses; made for the first fragment

	children  []*childSA
	childReqs []*childReq   // Child SAs waiting for their exchange
	authReq   *childReq     // the child carried by our IKE_AUTH
	lastHeard time.Duration // since created: any authenticated message or ESP packet from the peer

	// Remote access (RFC 7296 3.15): the virtual IPs we got (client) or
	// handed out (gateway); the rest is in rare.
	vips []netip.Addr
	eap  *eapState // EAP in IKE_AUTH (RFC 7296 2.16), while it runs

	// *ikeRare holds what few IKE SAs need, or need only on their way
	// out; nil until one of its fields is set (rareLocked).
	rare *ikeRare

	// The rekey, DPD and keepalive deadlines share one timer (lifecycle.go).
	lifeTimer                   *time.Timer
	rekeyAt, dpdAt, keepaliveAt time.Duration // since created; 0 = not armed
	dpdPackets                  uint64        // inbound ESP packets at the last DPD check
	rekeyedTo                   *ikeSA        // set when this SA was rekeyed into another
	rekeying                    *ikeRekey
}

// ikeRare is the part of an IKE SA that most never use: the DNS
// configuration and pool leases of remote access, the peer's IKE rekey
// that collided with ours (RFC 7296 2.8.2), those waiting for the SA to
// go, and why it failed. Keeping it out of ikeSA keeps that struct in a
// smaller size class.
type ikeRare struct {
	dns               []netip.Addr // with the virtual IPs (client)
	domains           []string
	leases            []leaseRef // pool leases to give back (gateway)
	peerIKERekey      *ikeSA     // the peer's IKE rekey that collided with ours
	peerIKERekeyNonce []byte
	deleteWaiters     []chan error
	failReason        string
}

// rareLocked returns the SA's ikeRare, made on first use.
func (sa *ikeSA) rareLocked() *ikeRare {
	if sa.rare == nil {
		sa.rare = new(ikeRare)
	}
	return sa.rare
}

// setFailReasonLocked records why the SA failed, for those waiting on it.
func (sa *ikeSA) setFailReasonLocked(why string) { sa.rareLocked().failReason = why }

// failReasonLocked is what setFailReasonLocked recorded, or "".
func (sa *ikeSA) failReasonLocked() string {
	if sa.rare == nil {
		return ""
	}
	return sa.rare.failReason
}

// ikeSetup is what an IKE SA needs only until it is established: the
// IKE_SA_INIT messages, nonces and PRF for the AUTH payloads (RFC 7296 2.15),
// the key exchange, the cookie, the candidate connections, the peer's
// signature hash algorithms, the initiator's retries and waiters.
type ikeSetup struct {
	candidates        []*config.Connection // responder: connections that matched at IKE_SA_INIT
	peerHashes        []auth.HashAlgorithm
	ni, nr            []byte
	ke                crypto.KeyExchange
	cookie            []byte
	initReq, initResp []byte // IKE_SA_INIT messages for AUTH (2.15)
	initWaiters       []chan error
	keyingTries       int
	prf               crypto.PRF // the suite's, for the AUTH payloads
}

// request is our outstanding request, kept for retransmission.
type request struct {
	id         uint32
	exchange   wire.ExchangeType
	packets    [][]byte
	tries      int
	timer      *time.Timer
	onResponse func(msg *wire.Message, payloads []wire.Payload)
	onTimeout  func()
}

// task is an exchange waiting for the request window.
type task struct {
	name  string
	start func() // called with mu held when the window is free
}

func (m *Manager) newSA(initiator bool, conn *config.Connection, local, remote netip.AddrPort) *ikeSA {
	sa := &ikeSA{
		mgr:       m,
		uniqueID:  m.nextUnique.Add(1),
		initiator: initiator,
		conn:      conn,
		created:   time.Now(),
		local:     local,
		remote:    remote,
		ikeSetup:  new(ikeSetup),
	}
	sa.log = saLog{sa}
	return sa
}

// saLog writes log lines that name an IKE SA by its connection, unique ID
// and peer address. The SA keeps no logger of its own (a slog.Logger with
// attributes costs a few hundred bytes per SA); the attributes are made
// only for lines that are written, with the SA's lock held as for every
// other use of its fields.
type saLog struct{ sa *ikeSA }

func (l saLog) Debug(msg string, args ...any) { l.log(slog.LevelDebug, msg, args) }
func (l saLog) Info(msg string, args ...any)  { l.log(slog.LevelInfo, msg, args) }
func (l saLog) Warn(msg string, args ...any)  { l.log(slog.LevelWarn, msg, args) }

func (l saLog) log(level slog.Level, msg string, args []any) {
	lg := l.sa.mgr.log
	if !lg.Enabled(context.Background(), level) {
		return
	}
	all := make([]any, 0, 4+len(args))
	name := "?"
	if c := l.sa.conn; c != nil {
		name = c.Name
	}
	all = append(all, "ike", fmt.Sprintf("%s[%d]", name, l.sa.uniqueID), "peer", l.sa.remote.Addr())
	lg.Log(context.Background(), level, msg, append(all, args...)...)
}

// halfOpenKeyOf is the SA's key in Manager.halfOpen (by its hash): a
// responder's SPIi never changes, so only the address the request came
// from is kept.
func (sa *ikeSA) halfOpenKeyOf() halfOpenKey {
	return halfOpenKey{spiI: sa.spiI, remote: sa.halfOpenRemote}
}

func (sa *ikeSA) localSPI() uint64 {
	if sa.initiator {
		return sa.spiI
	}
	return sa.spiR
}

func (sa *ikeSA) name() string {
	if sa.conn != nil {
		return sa.conn.Name
	}
	return ""
}

// header returns a header for a message of ours.
func (sa *ikeSA) header(exch wire.ExchangeType, id uint32, response bool) wire.Header {
	h := wire.Header{SPIi: sa.spiI, SPIr: sa.spiR, Exchange: exch, MessageID: id,
		MajorVersion: 2, MinorVersion: 0}
	if sa.initiator {
		h.Flags |= wire.FlagInitiator
	}
	if response {
		h.Flags |= wire.FlagResponse
	}
	return h
}

// encode builds the datagrams of one encrypted message, fragmented (RFC
// 7383) when it would not fit and the peer supports fragments.
func (sa *ikeSA) encode(h wire.Header, payloads []wire.Payload) ([][]byte, error) {
	cs, err := sa.ciphersLocked()
	if err != nil {
		return nil, err
	}
	out := cs.out
	pkt, err := wire.EncodeEncrypted(h, payloads, out)
	if err != nil {
		return nil, err
	}
	max := sa.mgr.cfg.IKE.FragmentSize
	if max <= 0 {
		max = 1280
	}
	if sa.fragOK && len(pkt) > max && h.Exchange != wire.ExchangeIKESAInit {
		return wire.Fragment(h, payloads, out, max-28) // room for IP/UDP headers and the marker
	}
	return [][]byte{pkt}, nil
}

func (sa *ikeSA) transmit(pkts [][]byte) {
	for _, p := range pkts {
		if err := sa.mgr.tx.SendIKE(p, sa.local, sa.remote, sa.natt); err != nil {
			sa.log.Debug("send failed", "err", err)
		}
	}
}

// sendRequestLocked queues an exchange; it starts when the window is free.
func (sa *ikeSA) enqueueLocked(name string, start func()) {
	sa.queue = append(sa.queue, &task{name: name, start: start})
	sa.kickLocked()
}

func (sa *ikeSA) kickLocked() {
	for sa.pending == nil && len(sa.queue) > 0 && sa.state < stateDead {
		t := sa.queue[0]
		sa.queue[0] = nil // the array outlives the task otherwise
		sa.queue = sa.queue[1:]
		if len(sa.queue) == 0 {
			sa.queue = nil
		}
		t.start()
	}
}

// sendRequestLocked sends an encrypted request with the next message ID and
// keeps it for retransmission.
func (sa *ikeSA) sendRequestLocked(exch wire.ExchangeType, payloads []wire.Payload, onResponse func(*wire.Message, []wire.Payload), onTimeout func()) error {
	id := sa.nextReqID
	pkts, err := sa.encode(sa.header(exch, id, false), payloads)
	if err != nil {
		return err
	}
	sa.nextReqID++
	sa.startRequestLocked(&request{id: id, exchange: exch, packets: pkts, onResponse: onResponse, onTimeout: onTimeout})
	return nil
}

func (sa *ikeSA) startRequestLocked(r *request) {
	sa.pending = r
	sa.transmit(r.packets)
	sa.armRetransmitLocked(r)
}

// armRetransmitLocked schedules the next retransmission of r: timeout *
// base^tries (RFC 7296 2.1, 2.4; strongSwan's retransmit_* knobs).
func (sa *ikeSA) armRetransmitLocked(r *request) {
	ikec := sa.mgr.cfg.IKE
	timeout := ikec.RetransmitTimeout
	if timeout <= 0 {
		timeout = 4 * time.Second
	}
	base := ikec.RetransmitBase
	if base < 1 {
		base = 1.8
	}
	d := time.Duration(float64(timeout) * math.Pow(base, float64(r.tries)))
	r.timer = time.AfterFunc(d, func() {
		sa.mu.Lock()
		defer sa.mu.Unlock()
		if sa.pending != r || sa.state == stateDead {
			return
		}
		// retransmit_tries = 0 means send once and never again.
		if r.tries >= ikec.RetransmitTries {
			sa.pending = nil
			sa.log.Info("peer did not answer, giving up", "exchange", r.exchange.String(), "tries", r.tries+1)
			if r.onTimeout != nil {
				r.onTimeout()
			} else {
				sa.peerDeadLocked("retransmits exhausted")
			}
			return
		}
		r.tries++
		sa.log.Debug("retransmit", "exchange", r.exchange.String(), "msgid", r.id, "try", r.tries)
		sa.transmit(r.packets)
		sa.armRetransmitLocked(r)
	})
}

// respondLocked sends the response to the peer's current request and keeps
// it for the peer's retransmits.
func (sa *ikeSA) respondLocked(exch wire.ExchangeType, id uint32, payloads []wire.Payload) {
	pkts, err := sa.encode(sa.header(exch, id, true), payloads)
	if err != nil {
		sa.log.Warn("cannot encode response", "err", err)
		return
	}
	sa.setLastRespLocked(pkts)
	sa.transmit(pkts)
}

// setLastRespLocked keeps the datagrams of our response to peerNextID-1
// for the peer's retransmits (RFC 7296 2.1): one datagram as it is, with
// no slice of slices to hold it (every SA keeps its last response), or
// RFC 7383 fragments in one buffer, each after a 2-byte length.
func (sa *ikeSA) setLastRespLocked(pkts [][]byte) {
	sa.haveLastResp = true
	if len(pkts) == 1 {
		sa.lastResp, sa.lastRespFrags = pkts[0], false
		return
	}
	n := 0
	for _, p := range pkts {
		n += 2 + len(p)
	}
	b := make([]byte, 0, n)
	for _, p := range pkts {
		b = binary.BigEndian.AppendUint16(b, uint16(len(p)))
		b = append(b, p...)
	}
	sa.lastResp, sa.lastRespFrags = b, true
}

// sendLastRespLocked sends the kept response again, from local to
// remote.
func (sa *ikeSA) sendLastRespLocked(local, remote netip.AddrPort, natt bool) {
	send := func(p []byte) {
		if err := sa.mgr.tx.SendIKE(p, local, remote, natt); err != nil {
			sa.log.Debug("send failed", "err", err)
		}
	}
	if !sa.lastRespFrags {
		if sa.lastResp != nil {
			send(sa.lastResp)
		}
		return
	}
	for b := sa.lastResp; len(b) >= 2; {
		n := int(binary.BigEndian.Uint16(b))
		send(b[2 : 2+n])
		b = b[2+n:]
	}
}

// receive handles a datagram for this SA.
func (sa *ikeSA) receive(d datagram, h wire.Header) {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	defer sa.idleLocked()
	if sa.state == stateDead {
		return
	}
	response := h.Flags&wire.FlagResponse != 0
	if h.Exchange == wire.ExchangeIKESAInit {
		if response && sa.initiator && sa.state == stateInitSent && sa.pending != nil && h.MessageID == 0 {
			sa.handleInitResponseLocked(d, h)
		} else if !response && !sa.initiator && h.MessageID == 0 && sa.haveLastResp && sa.state == stateInitDone {
			// A retransmitted IKE_SA_INIT request (RFC 7296 2.1): the
			// cached response goes back the way the request came. The SA
			// has moved to the NAT-T port already when a NAT was
			// detected (RFC 7296 2.23); the initiator only moves once it
			// has this response.
			sa.sendLastRespLocked(d.local, d.remote, d.natt)
		} else {
			sa.mgr.stats.dropped.Add(1)
		}
		return
	}
	if sa.keys == nil {
		sa.mgr.stats.dropped.Add(1)
		return
	}
	// Message ID checks before any decryption work (RFC 7296 2.3).
	if response {
		if sa.pending == nil || h.MessageID != sa.pending.id {
			sa.mgr.stats.dropped.Add(1)
			return
		}
	} else {
		switch {
		case h.MessageID == sa.peerNextID:
		case h.MessageID+1 == sa.peerNextID && sa.haveLastResp:
			// Retransmitted request: answer from the cache without
			// processing it again. Only an authentic message may trigger
			// that, so verify it first.
			if _, err := sa.decrypt(d.pkt, h); err == nil || errors.Is(err, errIncomplete) {
				sa.sendLastRespLocked(sa.local, sa.remote, sa.natt)
			} else {
				sa.mgr.stats.invalid.Add(1)
			}
			return
		default:
			sa.mgr.stats.dropped.Add(1)
			return
		}
	}
	payloads, err := sa.decrypt(d.pkt, h)
	if err != nil {
		if !errors.Is(err, errIncomplete) {
			sa.mgr.stats.invalid.Add(1)
			sa.log.Debug("dropped undecryptable message", "exchange", h.Exchange.String(), "err", err)
		}
		return
	}
	sa.lastHeard = time.Since(sa.created)
	sa.updatePeerLocked(d)
	if response {
		r := sa.pending
		sa.pending = nil
		if r.timer != nil {
			r.timer.Stop()
		}
		msg := &wire.Message{Header: h}
		r.onResponse(msg, payloads)
		sa.kickLocked()
		return
	}
	sa.peerNextID++
	sa.haveLastResp = false
	var crit *wire.UnsupportedCriticalPayloadError
	for _, p := range payloads {
		if u, ok := p.(*wire.Unknown); ok && u.Critical {
			crit = &wire.UnsupportedCriticalPayloadError{Type: u.T}
		}
	}
	if crit != nil {
		// RFC 7296 2.5: reject the whole message.
		sa.respondLocked(h.Exchange, h.MessageID, []wire.Payload{notifyData(wire.NotifyUnsupportedCriticalPayload, []byte{byte(crit.Type)})})
		return
	}
	switch h.Exchange {
	case wire.ExchangeIKEAuth:
		sa.handleAuthRequestLocked(h, payloads)
	case wire.ExchangeCreateChildSA:
		sa.handleCreateChildRequestLocked(h, payloads)
	case wire.ExchangeInformational:
		sa.handleInformationalRequestLocked(h, payloads)
	default:
		sa.respondLocked(h.Exchange, h.MessageID, []wire.Payload{notify(wire.NotifyInvalidSyntax)})
	}
}

var errIncomplete = errors.New("ike: fragment kept, message incomplete")

// ikeCiphers protect the IKE SA's messages: out with our SK_e/SK_a, in
// with the peer's (RFC 7296 2.14).
type ikeCiphers struct {
	out, in crypto.IKECipher
}

// ciphersLocked returns the SA's IKE ciphers, made from its keys again if
// the SA dropped them while idle.
func (sa *ikeSA) ciphersLocked() (*ikeCiphers, error) {
	if sa.ciphers == nil {
		k := sa.keys
		if k == nil || k.SKei() == nil {
			return nil, errors.New("ike: IKE SA has no keys")
		}
		ci, err := crypto.NewIKECipher(sa.suite, k.SKei(), k.SKai())
		if err != nil {
			return nil, err
		}
		cr, err := crypto.NewIKECipher(sa.suite, k.SKer(), k.SKar())
		if err != nil {
			return nil, err
		}
		sa.ciphers = &ikeCiphers{out: ci, in: cr}
		if !sa.initiator {
			sa.ciphers.out, sa.ciphers.in = cr, ci
		}
	}
	return sa.ciphers, nil
}

// idleLocked drops what an established IKE SA needs only while an
// exchange runs: the IKE ciphers (about 2 KB with AES-GCM) are made again
// from the keys for the next message. Most IKE SAs exchange a message a
// minute or less, and there may be many thousands of them.
func (sa *ikeSA) idleLocked() {
	if sa.state == stateEstablished && sa.pending == nil && len(sa.queue) == 0 && sa.keys != nil {
		sa.ciphers = nil
	}
}

// forgetAuthLocked drops what only IKE_AUTH needed, once it is done: the
// setup state (the IKE_SA_INIT messages and nonces of RFC 7296 2.15, the
// cookie, the candidate connections, the peer's signature hash
// algorithms) and SK_pi/SK_pr.
func (sa *ikeSA) forgetAuthLocked() {
	if s := sa.ikeSetup; s != nil {
		if s.ke != nil {
			s.ke.Wipe()
		}
		sa.ikeSetup = nil
	}
	sa.keys.DropAuth()
}

// decrypt verifies and decrypts an SK or SKF message.
func (sa *ikeSA) decrypt(pkt []byte, h wire.Header) ([]wire.Payload, error) {
	msg, err := wire.Parse(pkt)
	if err != nil {
		return nil, err
	}
	cs, err := sa.ciphersLocked()
	if err != nil {
		return nil, err
	}
	if len(msg.Payloads) == 0 {
		return nil, errors.New("ike: no encrypted payload")
	}
	switch p := msg.Payloads[len(msg.Payloads)-1].(type) {
	case *wire.Encrypted:
		return wire.DecryptSK(pkt, msg, cs.in)
	case *wire.EncryptedFragment:
		_ = p
		if sa.reasm == nil {
			sa.reasm = new([2]wire.Reassembler)
		}
		r := &sa.reasm[0]
		if h.IsResponse() {
			r = &sa.reasm[1]
		}
		payloads, done, err := r.Add(pkt, msg, cs.in)
		if err != nil {
			return nil, err
		}
		if !done {
			return nil, errIncomplete
		}
		return payloads, nil
	}
	return nil, errors.New("ike: message without SK payload")
}

// updatePeerLocked follows the peer to a new address after an authenticated
// message, when NAT-T is in use (RFC 7296 2.23).
func (sa *ikeSA) updatePeerLocked(d datagram) {
	if d.remote == sa.remote || !sa.natt {
		return
	}
	if !sa.initiator && d.remote.Addr() == sa.remote.Addr() && sa.remote.Port() == sa.mgr.cfg.IKE.Port {
		// The initiator's ordinary switch to the NAT-T port, which a
		// responder follows whichever end the NAT is at.
		sa.log.Debug("peer moved to the NAT-T port", "to", d.remote)
	} else if !followsPeer(sa.natLocal && !sa.natFake, sa.natRemote) {
		return
	} else {
		sa.log.Info("peer moved", "from", sa.remote, "to", d.remote)
	}
	sa.remote = d.remote
	for _, c := range sa.children {
		c.setPeer(sa.remote)
	}
}

// destroyLocked removes the IKE SA and its Child SAs from everything,
// without telling the peer.
func (sa *ikeSA) destroyLocked(why string) {
	if sa.state == stateDead {
		return
	}
	prev := sa.state
	sa.state = stateDead
	if sa.pending != nil && sa.pending.timer != nil {
		sa.pending.timer.Stop()
	}
	sa.pending = nil
	sa.queue = nil
	if sa.lifeTimer != nil {
		sa.lifeTimer.Stop()
	}
	if sa.rekeyedTo == nil {
		for _, c := range sa.children {
			c.uninstall()
		}
	}
	sa.children = nil
	sa.releaseLeasesLocked()
	sa.eap.close()
	sa.eap = nil
	// A client's virtual IPs go with its last IKE SA (a rekey hands them
	// on, and then either side may be the new SA's initiator).
	if sa.conn != nil && len(sa.conn.VIPs) > 0 && len(sa.vips) > 0 && sa.rekeyedTo == nil {
		if f := sa.mgr.opts.OnVirtualIP; f != nil {
			f(sa.vipEventLocked(false))
		}
		sa.vips = nil
	}
	if sa.keys != nil {
		sa.keys.Wipe()
	}
	sa.ciphers = nil
	setup := sa.ikeSetup
	sa.ikeSetup = nil
	if setup != nil && setup.ke != nil {
		setup.ke.Wipe()
	}
	sa.mgr.unregister(sa)
	if prev >= stateEstablished || why != "" {
		sa.log.Info("IKE SA removed", "reason", why)
	}
	err := errors.New(why)
	if why := sa.failReasonLocked(); why != "" {
		err = errors.New(why)
	}
	if setup != nil {
		for _, w := range setup.initWaiters {
			w <- err
		}
	}
	if sa.authReq != nil {
		sa.authReq.finish(err)
		sa.authReq = nil
	}
	for _, r := range sa.childReqs {
		r.finish(err)
	}
	sa.childReqs = nil
	if r := sa.rare; r != nil {
		for _, w := range r.deleteWaiters {
			w <- nil
		}
		r.deleteWaiters = nil
	}
	if rk := sa.rekeying; rk != nil && rk.done != nil {
		// Our IKE rekey was in flight; the SA went before its answer
		// (replaced by the peer's rekey in a collision, or failed).
		if sa.rekeyedTo != nil {
			rk.done <- nil
		} else {
			rk.done <- err
		}
		rk.done = nil
	}
}

// peerDeadLocked handles a peer that stopped answering: the SA goes, and
// the connection's dpd_action says what happens next.
func (sa *ikeSA) peerDeadLocked(why string) {
	conn := sa.conn
	var restart []*config.Child
	if sa.state >= stateEstablished && conn != nil {
		for _, c := range sa.children {
			switch c.cfg.DPDAction {
			case "restart":
				restart = append(restart, c.cfg)
			}
		}
	}
	sa.log.Info("peer is dead", "reason", why)
	sa.setFailReasonLocked("peer did not answer")
	sa.destroyLocked("dead peer: " + why)
	m := sa.mgr
	for _, ch := range restart {
		go func() {
			if err := m.initiate(context.Background(), conn, ch, nil); err != nil {
				m.log.Info("restart after dead peer failed", "conn", conn.Name, "child", ch.Name, "err", err)
			}
		}()
	}
	if conn != nil {
		for _, ch := range conn.Children {
			if ch.StartAction == "trap" {
				m.reinstallTrap(conn, ch)
			}
		}
	}
}

func notify(t wire.NotifyType) *wire.Notify { return &wire.Notify{NotifyType: t} }

func notifyData(t wire.NotifyType, data []byte) *wire.Notify {
	return &wire.Notify{NotifyType: t, Data: data}
}

func findNotify(ps []wire.Payload, t wire.NotifyType) *wire.Notify {
	for _, p := range ps {
		if n, ok := p.(*wire.Notify); ok && n.NotifyType == t {
			return n
		}
	}
	return nil
}

// errorNotify returns the first error notify (type < 16384, RFC 7296 3.10.1).
func errorNotify(ps []wire.Payload) *wire.Notify {
	for _, p := range ps {
		if n, ok := p.(*wire.Notify); ok && n.NotifyType < 16384 {
			return n
		}
	}
	return nil
}

func payloadOf[T wire.Payload](ps []wire.Payload) T {
	var zero T
	for _, p := range ps {
		if t, ok := p.(T); ok {
			return t
		}
	}
	return zero
}

// followsPeer reports whether an IKE SA updates the peer's address and port
// from authenticated packets (RFC 7296 2.23): a host that is not behind a
// NAT does, when the peer is behind one, so that a NAT rebinding does not
// cut the tunnel; a host behind a NAT does not, as that would let anyone
// who replays a packet from elsewhere redirect its traffic. Pretending to
// be behind a NAT (encap = true) does not count as being behind one.
func followsPeer(behindNAT, peerBehindNAT bool) bool {
	return peerBehindNAT && !behindNAT
}
