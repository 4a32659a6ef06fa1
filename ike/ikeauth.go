package ike

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"time"

	"github.com/esptun/esptun/config"
	"github.com/esptun/esptun/ike/auth"
	"github.com/esptun/esptun/ike/wire"
)

// idBody is the ID payload body after the generic header: ID type, three
// reserved bytes and the identification data (RFC 7296 2.15, 3.5).
func idBody(id auth.Identity) []byte { return id.PayloadBody() }

func (sa *ikeSA) prfFunc() auth.PRF {
	prf := sa.ikeSetup.prf
	return func(key, data []byte) []byte { return prf.Compute(key, data) }
}

func idPayload(initiator bool, id auth.Identity) *wire.ID {
	return &wire.ID{Initiator: initiator, IDType: wire.IDType(id.Type), Data: id.Data}
}

// idOf copies the identity out of the message, so that an SA that keeps it
// does not keep the whole decrypted message alive.
func idOf(p *wire.ID) auth.Identity {
	return auth.Identity{Type: uint8(p.IDType), Data: append([]byte(nil), p.Data...)}
}

// localIdentity is the connection's own identity: the configured id, else
// the certificate's subject, else the local address (swanctl's defaults).
func (sa *ikeSA) localIdentity(conn *config.Connection) (auth.Identity, error) {
	r := &conn.Local
	if r.ID != "" && r.ID != "%any" {
		// Parsed once per identity string: every IKE SA of the
		// connection then shares its Data (16 bytes or more each), which
		// nothing changes.
		if id, ok := sa.mgr.localIDs.Load(r.ID); ok {
			return id.(auth.Identity), nil
		}
		id, err := auth.ParseIdentity(r.ID)
		if err == nil {
			sa.mgr.localIDs.Store(r.ID, id)
		}
		return id, err
	}
	if certs := sa.mgr.creds.localCerts[r]; len(certs) > 0 {
		return auth.Identity{Type: uint8(wire.IDDerASN1DN), Data: certs[0].RawSubject}, nil
	}
	a := sa.local.Addr().Unmap()
	if a.Is4() {
		return auth.Identity{Type: uint8(wire.IDIPv4Addr), Data: a.AsSlice()}, nil
	}
	return auth.Identity{Type: uint8(wire.IDIPv6Addr), Data: a.AsSlice()}, nil
}

// remotePattern is the identity the peer must prove (%any when not set).
func remotePattern(conn *config.Connection) string {
	if conn.Remote.ID == "" {
		return "%any"
	}
	return conn.Remote.ID
}

// makeAuthLocked computes our AUTH payload (and CERT payloads) over octets.
func (sa *ikeSA) makeAuthLocked(conn *config.Connection, octets []byte, localID, remoteID auth.Identity) ([]wire.Payload, error) {
	r := &conn.Local
	switch r.Auth {
	case config.AuthPSK:
		secret, err := sa.mgr.creds.psk(localID, remoteID)
		if err != nil {
			return nil, err
		}
		return []wire.Payload{&wire.Auth{Method: wire.AuthPSK, Data: auth.PSKAuth(sa.prfFunc(), secret, octets)}}, nil
	case config.AuthPubkey, config.AuthRSA, config.AuthECDSA:
		certs := sa.mgr.creds.localCerts[r]
		if len(certs) == 0 {
			return nil, errors.New("pubkey authentication needs certs")
		}
		key := sa.mgr.creds.keyFor(certs[0])
		if key == nil {
			return nil, errors.New("no private key for the local certificate")
		}
		method, data, err := auth.Sign(key, 0, octets, sa.peerHashes)
		if err != nil {
			return nil, err
		}
		var ps []wire.Payload
		if conn.SendCert != "never" {
			for _, c := range certs {
				ps = append(ps, &wire.Cert{Encoding: wire.CertX509Signature, Data: c.Raw})
			}
		}
		return append(ps, &wire.Auth{Method: wire.AuthMethod(method), Data: data}), nil
	}
	return nil, fmt.Errorf("local authentication %q is not supported", r.Auth)
}

// verifyAuthLocked checks the peer's AUTH payload over octets for round r.
func (sa *ikeSA) verifyAuthLocked(conn *config.Connection, peer, self auth.Identity, a *wire.Auth, certs []*wire.Cert, octets []byte) error {
	if a == nil {
		return errNoAuth
	}
	r := &conn.Remote
	switch r.Auth {
	case config.AuthPSK:
		if a.Method != wire.AuthPSK {
			return fmt.Errorf("peer used auth method %d, psk is configured", a.Method)
		}
		secret, err := sa.mgr.creds.psk(self, peer)
		if err != nil {
			return err
		}
		if !constantTimeEqual(a.Data, auth.PSKAuth(sa.prfFunc(), secret, octets)) {
			return errNoAuth
		}
		return nil
	case config.AuthPubkey, config.AuthRSA, config.AuthECDSA:
		if len(certs) == 0 {
			return errors.New("peer sent no certificate")
		}
		var chain []*x509.Certificate
		for _, c := range certs {
			if c.Encoding != wire.CertX509Signature {
				continue
			}
			cert, err := x509.ParseCertificate(c.Data)
			if err != nil {
				return fmt.Errorf("peer certificate: %w", err)
			}
			chain = append(chain, cert)
		}
		if len(chain) == 0 {
			return errors.New("peer sent no X.509 certificate")
		}
		roots := sa.mgr.creds.cas[r]
		if len(roots) == 0 {
			roots = sa.mgr.creds.allCAs
		}
		if _, err := auth.VerifyChain(chain[0], chain[1:], roots, time.Now()); err != nil {
			return fmt.Errorf("peer certificate: %w", err)
		}
		if !auth.MatchCertificate(peer, chain[0]) {
			return fmt.Errorf("peer identity %s is not in its certificate", peer)
		}
		return auth.Verify(chain[0].PublicKey, uint8(a.Method), octets, a.Data, auth.Policy{})
	}
	return fmt.Errorf("remote authentication %q is not supported", r.Auth)
}

// sendAuthLocked sends the initiator's IKE_AUTH request (RFC 7296 1.2).
func (sa *ikeSA) sendAuthLocked(certReq []*wire.CertReq) {
	conn := sa.conn
	localID, err := sa.localIdentity(conn)
	if err != nil {
		sa.failLocked(err.Error())
		return
	}
	sa.localID = localID
	ps := []wire.Payload{idPayload(true, localID)}
	if pat := remotePattern(conn); pat != "%any" && !hasWildcard(pat) {
		if rid, err := auth.ParseIdentity(pat); err == nil {
			ps = append(ps, idPayload(false, rid))
			sa.remoteID = rid
		}
	}
	if conn.Remote.Auth != config.AuthPSK && sa.mgr.creds.hasCAs() && conn.SendCertReq {
		ps = append(ps, &wire.CertReq{Encoding: wire.CertX509Signature, Data: sa.mgr.creds.certReqData()})
	}
	if conn.Local.IsEAP() {
		// RFC 7296 2.16: no AUTH payload asks for EAP.
		c, err := sa.newEAPClient(conn)
		if err != nil {
			sa.failLocked("EAP: " + err.Error())
			return
		}
		sa.eap = &eapState{client: c, eapOnly: conn.EAPOnly()}
		if conn.EAPOnly() {
			ps = append(ps, notify(wire.NotifyEAPOnlyAuthentication))
		}
	} else {
		octets := auth.SignedOctets(sa.initReq, sa.nr, sa.prfFunc(), sa.keys.SKpi(), idBody(localID))
		authPs, err := sa.makeAuthLocked(conn, octets, localID, sa.remoteID)
		if err != nil {
			sa.failLocked("local authentication: " + err.Error())
			return
		}
		// CERT payloads go before AUTH; insert them after the IDs.
		ps = append(ps, authPs...)
	}
	if !sa.mgr.hasOtherSA(sa, conn) {
		ps = append(ps, notify(wire.NotifyInitialContact))
	}
	if wantsVIPs(conn) {
		ps = append(ps, cpRequest(conn))
	}
	req := sa.nextChildReqLocked()
	sa.authReq = req
	if req != nil {
		childPs, err := sa.childRequestPayloadsLocked(req, false)
		if err != nil {
			req.finish(err)
			req = nil
			sa.authReq = nil
		} else {
			ps = append(ps, childPs...)
		}
	}
	sa.state = stateAuthSent
	err = sa.sendRequestLocked(wire.ExchangeIKEAuth, ps, func(_ *wire.Message, resp []wire.Payload) {
		sa.handleAuthResponseLocked(resp, req)
	}, func() {
		sa.setFailReasonLocked("no answer to IKE_AUTH")
		if sa.restartLocked(req) {
			return
		}
		if req != nil {
			req.finish(errors.New(sa.failReasonLocked()))
		}
		sa.destroyLocked(sa.failReasonLocked())
	})
	if err != nil {
		sa.failLocked(err.Error())
	}
}

// restartLocked starts over with a new IKE SA when IKE_AUTH got no answer
// and keyingtries allows another attempt, as after an unanswered
// IKE_SA_INIT: an overloaded responder may have dropped every copy of the
// request. The new SA takes over the Child SA requests and the waiters;
// this one goes without a word to the peer.
func (sa *ikeSA) restartLocked(req *childReq) bool {
	conn := sa.conn
	if !sa.initiator || conn == nil || sa.eap != nil || sa.mgr.isClosing() {
		return false
	}
	if tries := conn.KeyingTries; tries != 0 && sa.keyingTries+1 >= tries {
		return false
	}
	var reqs []*childReq
	if req != nil {
		reqs = append(reqs, req)
	}
	reqs = append(reqs, sa.childReqs...)
	waiters := sa.initWaiters
	sa.childReqs, sa.initWaiters, sa.authReq = nil, nil, nil
	sa.log.Info("no answer to IKE_AUTH, starting over", "attempt", sa.keyingTries+2)
	m, tries := sa.mgr, sa.keyingTries+1 // destroyLocked drops the setup state
	sa.destroyLocked("no answer to IKE_AUTH, starting over")
	go m.restart(conn, reqs, waiters, tries)
	return true
}

func hasWildcard(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '*' {
			return true
		}
	}
	return false
}

// handleAuthResponseLocked completes IKE_AUTH as the initiator.
func (sa *ikeSA) handleAuthResponseLocked(ps []wire.Payload, req *childReq) {
	conn := sa.conn
	sa.authReq = nil
	if n := findNotify(ps, wire.NotifyAuthenticationFailed); n != nil {
		sa.mgr.stats.authFailed.Add(1)
		sa.log.Warn("peer refused our authentication", "notify", "AUTHENTICATION_FAILED")
		if req != nil {
			req.finish(errors.New("AUTHENTICATION_FAILED"))
		}
		sa.failLocked("AUTHENTICATION_FAILED")
		return
	}
	idr := payloadOf[*wire.ID](ps)
	if idr == nil || idr.Initiator {
		if n := errorNotify(ps); n != nil {
			if req != nil {
				req.finish(errors.New(n.NotifyType.String()))
			}
			sa.failLocked(n.NotifyType.String())
			return
		}
		sa.failLocked("IKE_AUTH response without IDr")
		return
	}
	peer := idOf(idr)
	if !identityMatches(remotePattern(conn), peer) {
		sa.authFailedLocked(req, fmt.Sprintf("peer identity %s does not match %s", peer, remotePattern(conn)))
		return
	}
	octets := auth.SignedOctets(sa.initResp, sa.ni, sa.prfFunc(), sa.keys.SKpr(), idBody(peer))
	a := payloadOf[*wire.Auth](ps)
	// RFC 5998: with EAP-only the gateway proves itself through the EAP
	// method and the MSK-based AUTH at the end.
	if !(sa.eap != nil && sa.eap.eapOnly && a == nil) {
		if err := sa.verifyAuthLocked(conn, peer, sa.localID, a, payloadsOf[*wire.Cert](ps), octets); err != nil {
			sa.authFailedLocked(req, "peer authentication: "+err.Error())
			return
		}
	}
	sa.remoteID = peer
	if sa.eap != nil {
		sa.authReq = req
		sa.continueEAPLocked(ps, req)
		return
	}
	sa.completeAuthLocked(ps, req)
}

// completeAuthLocked finishes IKE_AUTH as the initiator once the peer is
// authenticated: configuration payload, the IKE SA, its first Child SA.
func (sa *ikeSA) completeAuthLocked(ps []wire.Payload, req *childReq) {
	conn := sa.conn
	sa.authReq = nil
	if wantsVIPs(conn) {
		cp := payloadOf[*wire.CP](ps)
		if cp != nil && cp.CfgType == wire.CfgReply {
			var dns []netip.Addr
			var domains []string
			sa.vips, dns, domains = parseCPReply(cp)
			if len(dns) > 0 || len(domains) > 0 || sa.rare != nil {
				r := sa.rareLocked()
				r.dns, r.domains = dns, domains
			}
		}
		if len(sa.vips) == 0 {
			if req != nil {
				req.finish(errors.New("gateway assigned no virtual IP"))
			}
			sa.failLocked("no virtual IP from the gateway (INTERNAL_ADDRESS_FAILURE)")
			return
		}
		var dns []netip.Addr
		var domains []string
		if r := sa.rare; r != nil {
			dns, domains = r.dns, r.domains
		}
		sa.log.Info("virtual IPs assigned", "vips", sa.vips, "dns", dns, "domains", domains)
	}
	sa.establishLocked()
	if req != nil {
		if err := sa.completeChildLocked(req, ps, sa.ni, sa.nr, nil); err != nil {
			sa.log.Warn("Child SA not established", "child", req.cfg.Name, "err", err)
			req.finish(err)
		}
	}
	sa.forgetAuthLocked()
	if len(sa.vips) > 0 {
		if f := sa.mgr.opts.OnVirtualIP; f != nil {
			f(sa.vipEventLocked(true))
		}
	}
	sa.startPendingChildrenLocked()
}

// authFailedLocked tells the peer (RFC 7296 2.21.2) and removes the SA.
func (sa *ikeSA) authFailedLocked(req *childReq, why string) {
	sa.mgr.stats.authFailed.Add(1)
	sa.log.Warn("authentication failed", "reason", why)
	if req != nil {
		req.finish(errors.New("AUTHENTICATION_FAILED: " + why))
	}
	if pkts, err := sa.encode(sa.header(wire.ExchangeInformational, sa.nextReqID, false), []wire.Payload{notify(wire.NotifyAuthenticationFailed)}); err == nil {
		sa.transmit(pkts)
	}
	sa.failLocked("AUTHENTICATION_FAILED")
}

func (sa *ikeSA) failLocked(why string) {
	sa.setFailReasonLocked(why)
	for _, r := range sa.childReqs {
		r.finish(errors.New(why))
	}
	sa.childReqs = nil
	sa.destroyLocked(why)
}

// identityMatches compares a configured identity pattern with what the
// peer presented.
func identityMatches(pattern string, id auth.Identity) bool {
	if pattern == "" || pattern == "%any" {
		return true
	}
	p, err := auth.ParseIdentity(pattern)
	if err != nil {
		return false
	}
	return p.Matches(id)
}

// handleAuthRequestLocked answers IKE_AUTH as the responder: pick the
// connection by identities, verify the initiator, authenticate ourselves and
// set up the Child SA.
func (sa *ikeSA) handleAuthRequestLocked(h wire.Header, ps []wire.Payload) {
	if sa.initiator || sa.state != stateInitDone {
		sa.respondLocked(h.Exchange, h.MessageID, []wire.Payload{notify(wire.NotifyInvalidSyntax)})
		return
	}
	if sa.eap != nil {
		sa.handleEAPRoundLocked(h, ps)
		return
	}
	var idi, idr *wire.ID
	for _, p := range ps {
		if id, ok := p.(*wire.ID); ok {
			if id.Initiator && idi == nil {
				idi = id
			} else if !id.Initiator && idr == nil {
				idr = id
			}
		}
	}
	if idi == nil {
		sa.respondAuthFailedLocked(h, "IKE_AUTH without IDi")
		return
	}
	peer := idOf(idi)
	if payloadOf[*wire.Auth](ps) == nil {
		// RFC 7296 2.16: an initiator that leaves out AUTH wants EAP.
		sa.startEAPServerLocked(h, ps, peer, idr)
		return
	}
	var (
		conn   *config.Connection
		selfID auth.Identity
	)
	for _, c := range sa.candidates {
		if !identityMatches(remotePattern(c), peer) {
			continue
		}
		self, err := sa.localIdentity(c)
		if err != nil {
			continue
		}
		if idr != nil {
			want := idOf(idr)
			if !self.Equal(want) && c.Local.ID != "" {
				continue
			}
		}
		conn, selfID = c, self
		break
	}
	if conn == nil {
		sa.respondAuthFailedLocked(h, fmt.Sprintf("no connection for identity %s", peer))
		return
	}
	if err := sa.verifyInitiatorLocked(peer, func(octets []byte) error {
		return sa.verifyAuthLocked(conn, peer, selfID, payloadOf[*wire.Auth](ps), payloadsOf[*wire.Cert](ps), octets)
	}); err != nil {
		sa.respondAuthFailedLocked(h, err.Error())
		return
	}
	sa.conn = conn
	sa.localID, sa.remoteID = selfID, peer
	myOctets := auth.SignedOctets(sa.initResp, sa.ni, sa.prfFunc(), sa.keys.SKpr(), idBody(selfID))
	authPs, err := sa.makeAuthLocked(conn, myOctets, selfID, peer)
	if err != nil {
		sa.log.Warn("cannot authenticate ourselves", "err", err)
		sa.respondAuthFailedLocked(h, "local authentication: "+err.Error())
		return
	}
	resp := []wire.Payload{idPayload(false, selfID)}
	resp = append(resp, authPs...)
	sa.finishResponderAuthLocked(h, ps, resp, peer.String())
}

// finishResponderAuthLocked establishes the IKE SA as the responder and
// answers the last IKE_AUTH: resp (our ID and AUTH) plus the configuration
// payload and the Child SA the initiator asked for in ps. leaseID names the
// client for its address lease.
func (sa *ikeSA) finishResponderAuthLocked(h wire.Header, ps, resp []wire.Payload, leaseID string) {
	conn := sa.conn
	if cp := payloadOf[*wire.CP](ps); cp != nil && cp.CfgType == wire.CfgRequest && len(connPools(conn)) > 0 {
		reply, err := sa.cpReplyLocked(cp, leaseID)
		if err != nil {
			// RFC 7296 3.15.4: no address for this client, which cannot
			// work without one; the others keep theirs. Both ends drop
			// the IKE SA without further messages.
			sa.log.Warn("no virtual IP for the client", "remote_id", leaseID, "err", err)
			resp = append(resp, notify(wire.NotifyInternalAddressFailure))
			sa.respondLocked(h.Exchange, h.MessageID, resp)
			sa.setFailReasonLocked("INTERNAL_ADDRESS_FAILURE")
			sa.destroyLocked("no virtual IP for the client")
			return
		}
		resp = append(resp, reply)
		sa.log.Info("virtual IPs assigned", "remote_id", leaseID, "vips", sa.vips)
	}
	sa.establishLocked()
	sa.mgr.leaveHalfOpen(sa)
	if findNotify(ps, wire.NotifyInitialContact) != nil {
		sa.mgr.initialContact(sa)
	}
	sa.mgr.enforceUnique(sa)
	if payloadOf[*wire.SA](ps) != nil {
		childPs := sa.respondChildLocked(ps, sa.ni, sa.nr, nil, nil, false)
		resp = append(resp, childPs...)
	}
	sa.forgetAuthLocked()
	sa.respondLocked(h.Exchange, h.MessageID, resp)
}

// verifyInitiatorLocked runs verify on the octets the initiator signs
// (RFC 7296 2.15): its IKE_SA_INIT request as we got it, and when that
// fails while we hand out cookies, the request's other form (see
// cookieVariants), which then becomes the request of this SA.
func (sa *ikeSA) verifyInitiatorLocked(peer auth.Identity, verify func(octets []byte) error) error {
	err := verify(auth.SignedOctets(sa.initReq, sa.nr, sa.prfFunc(), sa.keys.SKpi(), idBody(peer)))
	if err == nil || sa.mgr.stats.cookiesSent.Load() == 0 {
		return err
	}
	for _, req := range sa.mgr.cookieVariants(sa.initReq, sa.ni, sa.halfOpenRemote.Addr(), sa.spiI) {
		if verify(auth.SignedOctets(req, sa.nr, sa.prfFunc(), sa.keys.SKpi(), idBody(peer))) == nil {
			sa.initReq = req
			return nil
		}
	}
	return err
}

func (sa *ikeSA) respondAuthFailedLocked(h wire.Header, why string) {
	sa.mgr.stats.authFailed.Add(1)
	sa.log.Warn("authentication of the peer failed", "reason", why)
	sa.respondLocked(h.Exchange, h.MessageID, []wire.Payload{notify(wire.NotifyAuthenticationFailed)})
	sa.setFailReasonLocked("AUTHENTICATION_FAILED")
	sa.destroyLocked("AUTHENTICATION_FAILED: " + why)
}

// establishLocked marks the IKE SA up and starts its timers.
func (sa *ikeSA) establishLocked() {
	sa.state = stateEstablished
	sa.established = time.Now()
	sa.mgr.indexPeer(sa)
	if sa.mgr.log.Enabled(context.Background(), slog.LevelInfo) {
		// The arguments cost a few allocations: none at log_level warn.
		sa.log.Info("IKE SA established", "local_id", sa.localID.String(), "remote_id", sa.remoteID.String(),
			"proposal", sa.suite.String(), "natt", sa.natt)
	}
	sa.scheduleRekeyLocked()
	sa.scheduleDPDLocked()
	sa.scheduleKeepaliveLocked()
	for _, w := range sa.initWaiters {
		w <- nil
	}
	sa.initWaiters = nil
}

func addrOf(ap netip.AddrPort) netip.Addr { return ap.Addr() }
