package ike

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"time"

	"github.com/esptun/esptun/config"
	"github.com/esptun/esptun/crypto"
	"github.com/esptun/esptun/ike/auth"
	"github.com/esptun/esptun/ike/wire"
)

// nonceLen is our nonce size: at least half the PRF key size and 128 bits
// (RFC 7296 2.10); 32 bytes covers every PRF we offer.
const nonceLen = 32

func newNonce() []byte {
	n := make([]byte, nonceLen)
	_, _ = rand.Read(n)
	return n
}

// initiate starts a new IKE SA for conn that brings up child (if not nil,
// else the connection's first child). It waits until the IKE SA is
// established or failed, or ctx ends.
func (m *Manager) initiate(ctx context.Context, conn *config.Connection, child *config.Child, tr *trap) error {
	if m.isClosing() {
		return ErrClosed
	}
	remote, err := resolveRemote(conn)
	if err != nil {
		return err
	}
	sa := m.newSA(true, conn, m.localFor(conn, remote), remote)
	sa.spiI = newIKESPI()
	if err := m.register(sa); err != nil {
		return err
	}
	done := make(chan error, 1)
	sa.mu.Lock()
	if conn.Encap && remote.Port() == m.cfg.IKE.NATTPort {
		sa.natt = true
	}
	if child != nil {
		done = sa.queueChildLocked(child, tr).done
	} else {
		sa.initWaiters = append(sa.initWaiters, done)
	}
	sa.sendInitLocked(nil)
	sa.mu.Unlock()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// localFor is the address an initiator's IKE SA of conn sends from.
func (m *Manager) localFor(conn *config.Connection, remote netip.AddrPort) netip.AddrPort {
	if a, ok := firstConcreteAddr(conn.LocalAddrs); ok {
		return netip.AddrPortFrom(a, m.cfg.IKE.Port)
	}
	return localAddrFor(remote, m.cfg.IKE.Port)
}

// restart begins a new IKE SA for conn that takes over the Child SA
// requests and the waiters of one whose IKE_AUTH got no answer; tries is
// the number of attempts made so far (keyingtries).
func (m *Manager) restart(conn *config.Connection, reqs []*childReq, waiters []chan error, tries int) {
	fail := func(err error) {
		for _, r := range reqs {
			r.finish(err)
		}
		for _, w := range waiters {
			w <- err
		}
	}
	if m.isClosing() {
		fail(ErrClosed)
		return
	}
	remote, err := resolveRemote(conn)
	if err != nil {
		fail(err)
		return
	}
	sa := m.newSA(true, conn, m.localFor(conn, remote), remote)
	sa.spiI = newIKESPI()
	if err := m.register(sa); err != nil {
		fail(err)
		return
	}
	sa.mu.Lock()
	defer sa.mu.Unlock()
	if conn.Encap && remote.Port() == m.cfg.IKE.NATTPort {
		sa.natt = true
	}
	sa.childReqs, sa.initWaiters, sa.keyingTries = reqs, waiters, tries
	sa.sendInitLocked(nil)
}

func resolveRemote(conn *config.Connection) (netip.AddrPort, error) {
	port := conn.RemotePort
	if port == 0 {
		port = 500
	}
	for _, r := range conn.RemoteAddrs {
		if r.IsAddr() {
			return netip.AddrPortFrom(r.Prefix.Addr().Unmap(), port), nil
		}
		if r.Host != "" {
			if addrs, err := lookupHost(r.Host); err == nil && len(addrs) > 0 {
				return netip.AddrPortFrom(addrs[0], port), nil
			}
		}
	}
	return netip.AddrPort{}, fmt.Errorf("connection %s: no concrete remote address to initiate to", conn.Name)
}

func firstConcreteAddr(list []config.PeerAddr) (netip.Addr, bool) {
	for _, p := range list {
		if p.IsAddr() && !p.Prefix.Addr().IsUnspecified() {
			return p.Prefix.Addr().Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// ikeProposals converts the connection's proposals to SA payload proposals.
func ikeProposals(list []crypto.Proposal, spi []byte) []wire.Proposal {
	out := make([]wire.Proposal, 0, len(list))
	for i, p := range list {
		out = append(out, toWireProposal(p, uint8(i+1), wire.ProtocolIKE, spi))
	}
	return out
}

func toWireProposal(p crypto.Proposal, num uint8, proto wire.ProtocolID, spi []byte) wire.Proposal {
	wp := wire.Proposal{Num: num, Protocol: proto, SPI: spi}
	for _, t := range p.Transforms {
		wp.Transforms = append(wp.Transforms, wire.Transform{Type: wire.TransformType(t.Type), ID: t.ID, KeyLength: t.KeyLen})
	}
	return wp
}

func fromWireProposal(p wire.Proposal) crypto.Proposal {
	cp := crypto.Proposal{Protocol: uint8(p.Protocol)}
	for _, t := range p.Transforms {
		cp.Transforms = append(cp.Transforms, crypto.Transform{Type: uint8(t.Type), ID: t.ID, KeyLen: t.KeyLength})
	}
	return cp
}

// firstGroup is the key exchange group of the first proposal: the KE
// payload guesses it (RFC 7296 1.2).
func firstGroup(list []crypto.Proposal) uint16 {
	for _, p := range list {
		for _, t := range p.Transforms {
			if t.Type == crypto.TransformDH && t.ID != 0 {
				return t.ID
			}
		}
	}
	return 0
}

func proposalsHaveGroup(list []crypto.Proposal, g uint16) bool {
	for _, p := range list {
		for _, t := range p.Transforms {
			if t.Type == crypto.TransformDH && t.ID == g {
				return true
			}
		}
	}
	return false
}

// sendInitLocked sends (or resends, after a COOKIE or INVALID_KE_PAYLOAD)
// the IKE_SA_INIT request.
func (sa *ikeSA) sendInitLocked(cookie []byte) {
	conn := sa.conn
	group := firstGroup(conn.Proposals)
	if sa.ke == nil {
		ke, err := crypto.NewKeyExchange(group)
		if err != nil {
			sa.setFailReasonLocked(err.Error())
			sa.destroyLocked("key exchange: " + err.Error())
			return
		}
		sa.ke = ke
	}
	if sa.ni == nil {
		sa.ni = newNonce()
	}
	var ps []wire.Payload
	if cookie != nil {
		// RFC 7296 2.6: the COOKIE notify comes first.
		ps = append(ps, notifyData(wire.NotifyCookie, cookie))
	}
	ps = append(ps,
		&wire.SA{Proposals: ikeProposals(conn.Proposals, nil)},
		&wire.KE{Group: sa.ke.Group(), Data: sa.ke.Public()},
		&wire.Nonce{Data: sa.ni},
	)
	ps = append(ps, sa.natDetectionLocked()...)
	if conn.Fragmentation != "no" {
		ps = append(ps, notify(wire.NotifyIKEv2FragmentationSupported))
	}
	ps = append(ps, notifyData(wire.NotifySignatureHashAlgorithms, auth.EncodeSignatureHashAlgorithms(auth.SupportedHashAlgorithms(auth.Policy{}))))
	h := sa.header(wire.ExchangeIKESAInit, 0, false)
	msg := &wire.Message{Header: h, Payloads: ps}
	pkt, err := msg.Encode()
	if err != nil {
		sa.destroyLocked("encode IKE_SA_INIT: " + err.Error())
		return
	}
	sa.initReq = pkt
	sa.state = stateInitSent
	sa.nextReqID = 1
	if sa.pending != nil && sa.pending.timer != nil {
		sa.pending.timer.Stop()
	}
	sa.startRequestLocked(&request{id: 0, exchange: wire.ExchangeIKESAInit, packets: [][]byte{pkt},
		onTimeout: func() {
			sa.setFailReasonLocked("no answer to IKE_SA_INIT")
			sa.retryOrFailLocked()
		}})
}

// natDetectionLocked returns the NAT_DETECTION_SOURCE_IP and _DESTINATION_IP
// notifies (RFC 7296 2.23). With encap forced, the source hash is of an
// address that is not ours, so that both ends see a NAT and use UDP
// encapsulation (as strongSwan does): a random address of the Manager's,
// so that the hash is the same each time the SA sends its IKE_SA_INIT
// request. A request resent with a COOKIE must be unchanged but for it
// (RFC 7296 2.6): the responder may have answered the copy without it.
func (sa *ikeSA) natDetectionLocked() []wire.Payload {
	src := crypto.NATDetectionHash(sa.spiI, sa.spiR, sa.local)
	if sa.conn != nil && sa.conn.Encap || !sa.local.Addr().IsValid() {
		src = crypto.NATDetectionHash(sa.spiI, sa.spiR, sa.mgr.natdDecoy)
	}
	dst := crypto.NATDetectionHash(sa.spiI, sa.spiR, sa.remote)
	return []wire.Payload{
		notifyData(wire.NotifyNATDetectionSourceIP, src),
		notifyData(wire.NotifyNATDetectionDestinationIP, dst),
	}
}

// checkNATLocked evaluates the peer's NAT detection notifies.
func (sa *ikeSA) checkNATLocked(ps []wire.Payload) {
	var srcSeen, dstSeen, srcMatch, dstMatch bool
	// RFC 7296 2.23: the hashes cover the SPIs as in the message's header.
	// The responder checks the request, which was sent with SPIr zero.
	spiR := sa.spiR
	if !sa.initiator {
		spiR = 0
	}
	wantSrc := crypto.NATDetectionHash(sa.spiI, spiR, sa.remote)
	wantDst := crypto.NATDetectionHash(sa.spiI, spiR, sa.local)
	for _, p := range ps {
		n, ok := p.(*wire.Notify)
		if !ok {
			continue
		}
		switch n.NotifyType {
		case wire.NotifyNATDetectionSourceIP:
			srcSeen = true
			srcMatch = srcMatch || bytes.Equal(n.Data, wantSrc)
		case wire.NotifyNATDetectionDestinationIP:
			dstSeen = true
			dstMatch = dstMatch || bytes.Equal(n.Data, wantDst)
		}
	}
	if !srcSeen || !dstSeen {
		return
	}
	sa.natRemote = !srcMatch
	sa.natLocal = !dstMatch
	if sa.conn != nil && sa.conn.Encap && !sa.natLocal {
		sa.natLocal, sa.natFake = true, true // forced: behave as if behind a NAT
	}
}

// handleInitResponseLocked processes the responder's IKE_SA_INIT answer.
func (sa *ikeSA) handleInitResponseLocked(d datagram, h wire.Header) {
	msg, err := wire.Parse(d.pkt)
	if err != nil {
		sa.mgr.stats.invalid.Add(1)
		return
	}
	ps := msg.Payloads
	if n := findNotify(ps, wire.NotifyCookie); n != nil {
		if len(n.Data) < 1 || len(n.Data) > 64 {
			return
		}
		sa.log.Debug("responder asks for a cookie")
		sa.cookie = append([]byte(nil), n.Data...)
		sa.sendInitLocked(sa.cookie)
		return
	}
	if n := findNotify(ps, wire.NotifyInvalidKEPayload); n != nil {
		if len(n.Data) != 2 {
			return
		}
		g := uint16(n.Data[0])<<8 | uint16(n.Data[1])
		if !proposalsHaveGroup(sa.conn.Proposals, g) || g == sa.ke.Group() {
			sa.setFailReasonLocked(fmt.Sprintf("peer wants key exchange group %d, which is not configured", g))
			sa.destroyLocked(sa.failReasonLocked())
			return
		}
		sa.log.Info("peer asks for another key exchange group, retrying", "group", g)
		ke, err := crypto.NewKeyExchange(g)
		if err != nil {
			sa.destroyLocked(err.Error())
			return
		}
		sa.ke.Wipe()
		sa.ke = ke
		sa.sendInitLocked(sa.cookie)
		return
	}
	if n := errorNotify(ps); n != nil {
		sa.setFailReasonLocked(n.NotifyType.String())
		sa.log.Warn("IKE_SA_INIT refused", "notify", n.NotifyType.String())
		sa.destroyLocked("peer refused IKE_SA_INIT: " + n.NotifyType.String())
		return
	}
	saPl := payloadOf[*wire.SA](ps)
	kePl := payloadOf[*wire.KE](ps)
	nPl := payloadOf[*wire.Nonce](ps)
	if saPl == nil || kePl == nil || nPl == nil || len(saPl.Proposals) != 1 || h.SPIr == 0 {
		sa.mgr.stats.invalid.Add(1)
		return
	}
	chosen := fromWireProposal(saPl.Proposals[0])
	if !proposalsContain(sa.conn.Proposals, chosen) {
		sa.setFailReasonLocked("responder chose a proposal we did not offer")
		sa.destroyLocked(sa.failReasonLocked())
		return
	}
	suite, err := crypto.SuiteFromProposal(chosen)
	if err != nil || suite.DH != kePl.Group || kePl.Group != sa.ke.Group() {
		sa.setFailReasonLocked("inconsistent IKE_SA_INIT response")
		sa.destroyLocked(sa.failReasonLocked())
		return
	}
	if len(nPl.Data) < 16 || len(nPl.Data) > 256 {
		sa.mgr.stats.invalid.Add(1)
		return
	}
	shared, err := sa.ke.SharedSecret(kePl.Data)
	if err != nil {
		sa.setFailReasonLocked("invalid key exchange value from the responder")
		sa.destroyLocked(sa.failReasonLocked())
		return
	}
	if r := sa.pending; r != nil && r.timer != nil {
		r.timer.Stop()
	}
	sa.pending = nil
	sa.spiR = h.SPIr
	sa.nr = append([]byte(nil), nPl.Data...)
	sa.initResp = append([]byte(nil), d.pkt...)
	if err := sa.deriveKeysLocked(suite, shared); err != nil {
		sa.destroyLocked(err.Error())
		return
	}
	clear(shared)
	sa.ke.Wipe()
	sa.ke = nil
	sa.fragOK = findNotify(ps, wire.NotifyIKEv2FragmentationSupported) != nil && sa.conn.Fragmentation != "no"
	if n := findNotify(ps, wire.NotifySignatureHashAlgorithms); n != nil {
		sa.peerHashes, _ = auth.DecodeSignatureHashAlgorithms(n.Data)
	}
	sa.checkNATLocked(ps)
	if sa.natLocal || sa.natRemote {
		// RFC 7296 2.23: move to the NAT-T port from IKE_AUTH on.
		sa.natt = true
		sa.local = netip.AddrPortFrom(sa.local.Addr(), sa.mgr.cfg.IKE.NATTPort)
		sa.remote = netip.AddrPortFrom(sa.remote.Addr(), peerNATTPort(sa.remote.Port(), sa.mgr.cfg.IKE))
	}
	certReq := payloadsOf[*wire.CertReq](ps)
	sa.sendAuthLocked(certReq)
}

// retryOrFailLocked handles an IKE_SA_INIT that got no answer: keyingtries
// (swanctl) says how often to start over.
func (sa *ikeSA) retryOrFailLocked() {
	tries := sa.conn.KeyingTries
	sa.keyingTries++
	if tries == 0 || sa.keyingTries < tries {
		sa.log.Info("no answer, trying again", "attempt", sa.keyingTries+1)
		// A new SPI, nonce and key exchange: the responder may hold a
		// half-open SA made from the first attempt (its answers were
		// lost) and would answer this one from that SA's cache, with
		// keys that do not match the new nonce (RFC 7296 2.1).
		if err := sa.mgr.changeLocalSPI(sa, newIKESPI()); err != nil {
			sa.destroyLocked(err.Error())
			return
		}
		sa.ni = nil
		sa.cookie = nil
		if sa.ke != nil {
			sa.ke.Wipe()
			sa.ke = nil
		}
		sa.sendInitLocked(nil)
		return
	}
	sa.destroyLocked(sa.failReasonLocked())
}

func proposalsContain(list []crypto.Proposal, chosen crypto.Proposal) bool {
	for _, p := range list {
		if p.Contains(chosen) {
			return true
		}
	}
	return false
}

func payloadsOf[T wire.Payload](ps []wire.Payload) []T {
	var out []T
	for _, p := range ps {
		if t, ok := p.(T); ok {
			out = append(out, t)
		}
	}
	return out
}

// deriveKeysLocked computes SKEYSEED and the IKE SA keys (RFC 7296 2.14).
func (sa *ikeSA) deriveKeysLocked(suite crypto.IKESuite, shared []byte) error {
	keys, err := crypto.DeriveIKEKeys(suite, sa.ni, sa.nr, shared, sa.spiI, sa.spiR)
	if err != nil {
		return err
	}
	return sa.useKeysLocked(suite, keys)
}

func (sa *ikeSA) useKeysLocked(suite crypto.IKESuite, keys *crypto.IKEKeys) error {
	prf, err := crypto.NewPRF(suite.PRF)
	if err != nil {
		return err
	}
	ei, ai, er, ar := keys.SKei(), keys.SKai(), keys.SKer(), keys.SKar()
	ci, err := crypto.NewIKECipher(suite, ei, ai)
	if err != nil {
		return err
	}
	cr, err := crypto.NewIKECipher(suite, er, ar)
	if err != nil {
		return err
	}
	sa.suite, sa.keys = suite, keys
	if sa.ikeSetup != nil {
		sa.ikeSetup.prf = prf // for the AUTH payloads (prfFunc)
	}
	sa.ciphers = &ikeCiphers{out: ci, in: cr}
	if !sa.initiator {
		sa.ciphers.out, sa.ciphers.in = cr, ci
	}
	return nil
}

// respondInit answers an IKE_SA_INIT request: statelessly with COOKIE,
// INVALID_KE_PAYLOAD or NO_PROPOSAL_CHOSEN where it can, else by creating
// a half-open IKE SA.
func (m *Manager) respondInit(d datagram, h wire.Header) {
	key := halfOpenKey{spiI: h.SPIi, remote: d.remote}
	m.mu.Lock()
	if sa := m.halfOpenLocked(key); sa != nil {
		m.mu.Unlock()
		sa.receive(d, h)
		return
	}
	closed := m.closed
	m.mu.Unlock()
	if closed {
		return
	}
	// What the cookie decision needs, found without parsing (and so
	// without garbage): a flood is answered from here.
	nonce, gotCookie, ok := scanInitRequest(d.pkt)
	if !ok || len(nonce) < 16 || len(nonce) > 256 {
		m.stats.invalid.Add(1)
		return
	}
	// RFC 7296 2.6: under load, demand a cookie before keeping any state.
	limit := m.cfg.IKE.HalfOpenLimit
	if limit > 0 && int(m.halfOpenCount.Load()) >= limit {
		m.stats.dropped.Add(1)
		return
	}
	// cookie_threshold 0 means always (docs/config.md). Fresh requests
	// still queued count as the half-open SAs they may become, as in
	// answerCookieNow: a flood on the NAT-T port gets COOKIEs from its
	// first queued requests on, not once the workers made 30 SAs.
	if th := m.cfg.IKE.CookieThreshold; int(m.halfOpenCount.Load())+len(m.initInbox) >= th {
		if gotCookie == nil || !m.cookies.verify(gotCookie, nonce, d.remote.Addr(), h.SPIi) {
			m.stats.cookiesSent.Add(1)
			m.sendCookie(d, h, m.cookies.make(nonce, d.remote.Addr(), h.SPIi))
			return
		}
	}
	msg, err := wire.Parse(d.pkt)
	if err != nil {
		m.stats.invalid.Add(1)
		return
	}
	ps := msg.Payloads
	saPl := payloadOf[*wire.SA](ps)
	kePl := payloadOf[*wire.KE](ps)
	nPl := payloadOf[*wire.Nonce](ps)
	if saPl == nil || kePl == nil || nPl == nil || len(nPl.Data) < 16 || len(nPl.Data) > 256 {
		m.stats.invalid.Add(1)
		return
	}
	offered := make([]crypto.Proposal, 0, len(saPl.Proposals))
	for _, p := range saPl.Proposals {
		if p.Protocol == wire.ProtocolIKE && len(p.SPI) == 0 {
			offered = append(offered, fromWireProposal(p))
		}
	}
	var (
		conn   *config.Connection
		chosen crypto.Proposal
		cands  []*config.Connection
	)
	for _, c := range m.cfg.Connections {
		if !matchesAddrs(c.LocalAddrs, d.local.Addr()) || !matchesAddrs(c.RemoteAddrs, d.remote.Addr()) {
			continue
		}
		p, _, ok := crypto.SelectProposal(c.Proposals, offered)
		if !ok {
			continue
		}
		if conn == nil {
			conn, chosen = c, p
		}
		if proposalsContain(c.Proposals, chosen) {
			cands = append(cands, c)
		}
	}
	if conn == nil {
		// Unauthenticated input makes at most one log line a second.
		if n, ok := m.noProposalLog.allow(time.Now()); ok {
			m.log.Info("no proposal chosen for IKE_SA_INIT", "peer", d.remote.Addr(), "notify", wire.NotifyNoProposalChosen.String(), "suppressed", n)
		}
		m.sendStateless(d, h, notify(wire.NotifyNoProposalChosen))
		return
	}
	suite, err := crypto.SuiteFromProposal(chosen)
	if err != nil {
		m.sendStateless(d, h, notify(wire.NotifyNoProposalChosen))
		return
	}
	if kePl.Group != suite.DH {
		// RFC 7296 1.3: tell the initiator which group we want.
		m.sendStateless(d, h, notifyData(wire.NotifyInvalidKEPayload, []byte{byte(suite.DH >> 8), byte(suite.DH)}))
		return
	}
	ke, err := crypto.NewKeyExchange(suite.DH)
	if err != nil {
		return
	}
	shared, err := ke.SharedSecret(kePl.Data)
	if err != nil {
		m.stats.invalid.Add(1)
		m.sendStateless(d, h, notify(wire.NotifyInvalidSyntax))
		return
	}
	sa := m.newSA(false, nil, d.local, d.remote)
	sa.candidates = cands
	sa.conn = nil
	sa.spiI = h.SPIi
	sa.spiR = newIKESPI()
	sa.ni = append([]byte(nil), nPl.Data...)
	sa.nr = newNonce()
	sa.initReq = append([]byte(nil), d.pkt...) // d.pkt goes back to its pool
	sa.natt = d.natt
	sa.mu.Lock()
	defer sa.mu.Unlock()
	if err := sa.deriveKeysLocked(suite, shared); err != nil {
		clear(shared)
		return
	}
	clear(shared)
	sa.fragOK = findNotify(ps, wire.NotifyIKEv2FragmentationSupported) != nil
	if n := findNotify(ps, wire.NotifySignatureHashAlgorithms); n != nil {
		sa.peerHashes, _ = auth.DecodeSignatureHashAlgorithms(n.Data)
	}
	sa.conn = conn // provisional, for NAT detection and encap
	sa.checkNATLocked(ps)
	resp := []wire.Payload{
		&wire.SA{Proposals: []wire.Proposal{toWireProposal(chosen, 1, wire.ProtocolIKE, nil)}},
		&wire.KE{Group: ke.Group(), Data: ke.Public()},
		&wire.Nonce{Data: sa.nr},
	}
	resp = append(resp, sa.natDetectionLocked()...)
	sa.conn = nil
	if m.creds.hasCAs() {
		resp = append(resp, &wire.CertReq{Encoding: wire.CertX509Signature, Data: m.creds.certReqData()})
	}
	if conn.Fragmentation != "no" {
		resp = append(resp, notify(wire.NotifyIKEv2FragmentationSupported))
	}
	resp = append(resp, notifyData(wire.NotifySignatureHashAlgorithms, auth.EncodeSignatureHashAlgorithms(auth.SupportedHashAlgorithms(auth.Policy{}))))
	ke.Wipe()
	out := &wire.Message{Header: sa.header(wire.ExchangeIKESAInit, 0, true), Payloads: resp}
	pkt, err := out.Encode()
	if err != nil {
		return
	}
	sa.initResp = pkt
	sa.state = stateInitDone
	sa.peerNextID = 1
	sa.nextReqID = 0
	sa.setLastRespLocked([][]byte{pkt})
	m.mu.Lock()
	hk := m.halfOpenHash(key)
	if m.halfOpen[hk] != nil || m.closed {
		// A copy of this request got here first (RFC 7296 2.1), or,
		// once in 2^64, another request's key hashes the same.
		m.mu.Unlock()
		m.stats.dropped.Add(1)
		return
	}
	m.halfOpen[hk] = sa
	m.halfOpenPeak = max(m.halfOpenPeak, len(m.halfOpen))
	sa.halfOpenRemote = key.remote // key.spiI is sa.spiI
	m.halfOpenCount.Add(1)
	m.sas[sa.spiR] = sa
	m.mu.Unlock()
	if sa.natLocal || sa.natRemote {
		// The initiator moves to the NAT-T port next (RFC 7296 2.23).
		sa.natt = true
		sa.local = netip.AddrPortFrom(sa.local.Addr(), m.cfg.IKE.NATTPort)
		if !sa.natRemote {
			sa.remote = netip.AddrPortFrom(sa.remote.Addr(), peerNATTPort(sa.remote.Port(), m.cfg.IKE))
		}
	}
	m.tx.SendIKE(pkt, d.local, d.remote, d.natt)
}

// scanInitRequest walks the payloads of an IKE_SA_INIT request without
// parsing them: ok when the chain is well formed and has SA, KE and Nonce
// payloads; nonce is the Nonce's data and cookie the data of the first
// COOKIE notify (nil without one), both slices of pkt.
func scanInitRequest(pkt []byte) (nonce, cookie []byte, ok bool) {
	var hasSA, hasKE bool
	next := wire.PayloadType(pkt[16])
	off := wire.HeaderLen
	for next != wire.PayloadNone {
		if off+wire.GenericHeaderLen > len(pkt) {
			return nil, nil, false
		}
		plen := int(binary.BigEndian.Uint16(pkt[off+2:]))
		if plen < wire.GenericHeaderLen || off+plen > len(pkt) {
			return nil, nil, false
		}
		body := pkt[off+wire.GenericHeaderLen : off+plen]
		switch next {
		case wire.PayloadSA:
			hasSA = true
		case wire.PayloadKE:
			hasKE = true
		case wire.PayloadNonce:
			nonce = body
		case wire.PayloadNotify:
			if len(body) >= 4 && cookie == nil && wire.NotifyType(binary.BigEndian.Uint16(body[2:])) == wire.NotifyCookie {
				if spi := int(body[1]); 4+spi <= len(body) {
					cookie = body[4+spi:]
				}
			}
		}
		next = wire.PayloadType(pkt[off])
		off += plen
	}
	return nonce, cookie, hasSA && hasKE && nonce != nil
}

// sendCookie answers an IKE_SA_INIT request with a COOKIE notify (RFC 7296
// 2.6) and keeps no state. The answer is written over the request, which
// is not needed any more, so that a flood makes no garbage.
func (m *Manager) sendCookie(d datagram, h wire.Header, c cookie) {
	if len(d.pkt) < cookieAnswerLen {
		return
	}
	m.tx.SendIKE(putCookieAnswer(d.pkt, h.SPIi, c), d.local, d.remote, d.natt)
}

// sendStateless answers an IKE_SA_INIT request with a single notify and
// keeps no state (RFC 7296 2.6, 2.21.1).
func (m *Manager) sendStateless(d datagram, h wire.Header, n *wire.Notify) {
	rh := wire.Header{SPIi: h.SPIi, SPIr: 0, Exchange: wire.ExchangeIKESAInit, Flags: wire.FlagResponse,
		MessageID: 0, MajorVersion: 2}
	pkt, err := (&wire.Message{Header: rh, Payloads: []wire.Payload{n}}).Encode()
	if err != nil {
		return
	}
	m.tx.SendIKE(pkt, d.local, d.remote, d.natt)
}

// matchesAddrs reports whether addr is allowed by a local_addrs or
// remote_addrs list (empty and %any match everything).
func matchesAddrs(list []config.PeerAddr, addr netip.Addr) bool {
	if len(list) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, p := range list {
		if p.Contains(addr) {
			return true
		}
		if p.Host != "" {
			if addrs, err := lookupHost(p.Host); err == nil {
				for _, a := range addrs {
					if a == addr {
						return true
					}
				}
			}
		}
	}
	return false
}

var errNoAuth = errors.New("authentication failed")

// peerNATTPort is where the peer receives IKE and ESP once NAT-T is in use:
// 4500 when it talks IKE on 500 (RFC 7296 2.23, RFC 3948), whatever our
// own natt_port is; a peer on the same custom IKE port as ours is taken to
// mirror our natt_port; any other port is kept, as strongSwan does for a
// custom remote_port.
func peerNATTPort(ikePort uint16, c config.IKE) uint16 {
	switch ikePort {
	case 500:
		return 4500
	case c.Port:
		return c.NATTPort
	}
	return ikePort
}
