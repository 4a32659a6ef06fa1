package ike

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"

	"github.com/esptun/esptun/config"
	"github.com/esptun/esptun/ike/auth"
	"github.com/esptun/esptun/ike/eap"
	"github.com/esptun/esptun/ike/wire"
)

// EAP in IKE_AUTH (RFC 7296 2.16): the initiator leaves out AUTH, the
// responder authenticates itself (unless EAP-only, RFC 5998) and runs an EAP
// method over further IKE_AUTH exchanges; both then send AUTH computed with
// the method's MSK (or SK_pi/SK_pr for methods without one).

// eapState is an EAP conversation in progress on an IKE SA.
type eapState struct {
	client  eap.Client
	server  eap.Server
	pending []wire.Payload // responder: the first request's child and CP payloads
	eapOnly bool
	done    bool
}

func (e *eapState) close() {
	if e == nil {
		return
	}
	if e.client != nil {
		e.client.Close()
	}
	if e.server != nil {
		e.server.Close()
	}
}

func (e *eapState) msk() []byte {
	if e.client != nil {
		return e.client.MSK()
	}
	if e.server != nil {
		return e.server.MSK()
	}
	return nil
}

// mskKey is the key for the AUTH payloads after EAP: the MSK, or SK_p of the
// side when the method generates no MSK (RFC 7296 2.16).
func (sa *ikeSA) mskKeyLocked(initiatorSide bool) []byte {
	if k := sa.eap.msk(); len(k) > 0 {
		return k
	}
	if initiatorSide {
		return sa.keys.SKpi()
	}
	return sa.keys.SKpr()
}

// eapPassword finds the EAP secret of user.
func (c *credentials) eapPassword(user string) ([]byte, bool) {
	id, err := auth.ParseIdentity(user)
	for _, e := range c.eaps {
		for _, x := range e.ids {
			if (err == nil && x.Equal(id)) || x.String() == user {
				return e.secret, true
			}
		}
	}
	return nil, false
}

// newEAPClient starts the client side for the connection's local round.
func (sa *ikeSA) newEAPClient(conn *config.Connection) (eap.Client, error) {
	r := &conn.Local
	user := r.EAPID
	if user == "" {
		user = r.ID
	}
	switch r.Auth {
	case config.AuthEAPTLS:
		cfg, err := sa.mgr.creds.tlsConfig(r, &conn.Remote, false)
		if err != nil {
			return nil, err
		}
		return eap.NewTLSClient(user, cfg, nil)
	default: // eap, eap-mschapv2
		pw, ok := sa.mgr.creds.eapPassword(user)
		if !ok {
			return nil, fmt.Errorf("no EAP secret for %q", user)
		}
		return eap.NewMSCHAPv2Client(user, pw)
	}
}

// newEAPServer starts the server side for the connection's remote round:
// EAP-Identity first when eap_id is %any (or unset), then the method.
func (sa *ikeSA) newEAPServer(conn *config.Connection) (eap.Server, error) {
	r := &conn.Remote
	var method eap.Server
	switch r.Auth {
	case config.AuthEAPTLS:
		cfg, err := sa.mgr.creds.tlsConfig(&conn.Local, r, true)
		if err != nil {
			return nil, err
		}
		s, err := eap.NewTLSServer(cfg, nil)
		if err != nil {
			return nil, err
		}
		method = s
	default:
		creds := sa.mgr.creds
		method = eap.NewMSCHAPv2Server(func(user string) ([]byte, bool) { return creds.eapPassword(user) })
	}
	if r.EAPID == "" || r.EAPID == "%any" {
		return eap.NewChainServer(eap.NewIdentityServer(), method)
	}
	return method, nil
}

// tlsConfig builds the EAP-TLS configuration from an auth round pair.
func (c *credentials) tlsConfig(local, remote *config.AuthRound, server bool) (*tls.Config, error) {
	certs := c.localCerts[local]
	if len(certs) == 0 {
		return nil, errors.New("EAP-TLS needs a certificate (certs)")
	}
	key := c.keyFor(certs[0])
	if key == nil {
		return nil, errors.New("EAP-TLS: no private key for the certificate")
	}
	chain := tls.Certificate{PrivateKey: key, Leaf: certs[0]}
	for _, x := range certs {
		chain.Certificate = append(chain.Certificate, x.Raw)
	}
	pool := x509.NewCertPool()
	cas := c.cas[remote]
	if len(cas) == 0 {
		cas = c.allCAs
	}
	for _, ca := range cas {
		pool.AddCert(ca)
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{chain}, MinVersion: tls.VersionTLS12}
	if server {
		cfg.ClientCAs = pool
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	} else {
		cfg.RootCAs = pool
		cfg.ServerName = remote.ID
		if remote.ID == "" || remote.ID == "%any" {
			// No name to check: the chain to the configured CA is what
			// identifies the server.
			cfg.InsecureSkipVerify = true
			cfg.VerifyPeerCertificate = verifyChainOnly(pool)
		}
	}
	return cfg, nil
}

func verifyChainOnly(roots *x509.CertPool) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("no server certificate")
		}
		leaf, err := x509.ParseCertificate(raw[0])
		if err != nil {
			return err
		}
		inter := x509.NewCertPool()
		for _, r := range raw[1:] {
			if c, err := x509.ParseCertificate(r); err == nil {
				inter.AddCert(c)
			}
		}
		_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		return err
	}
}

// continueEAPLocked runs one client step after a response to our IKE_AUTH:
// it answers the gateway's EAP request, or, after EAP-Success, sends the
// final AUTH computed with the MSK.
func (sa *ikeSA) continueEAPLocked(ps []wire.Payload, req *childReq) {
	e := sa.eap
	pl := payloadOf[*wire.EAP](ps)
	if pl == nil {
		sa.authFailedLocked(req, "gateway sent no EAP payload")
		return
	}
	resp, done, err := e.client.Handle(pl.Data)
	if err != nil {
		sa.authFailedLocked(req, "EAP: "+err.Error())
		return
	}
	if !done {
		sa.state = stateAuthSent
		err := sa.sendRequestLocked(wire.ExchangeIKEAuth, []wire.Payload{&wire.EAP{Data: resp}}, func(_ *wire.Message, next []wire.Payload) {
			sa.continueEAPLocked(next, req)
		}, func() { sa.failLocked("no answer during EAP") })
		if err != nil {
			sa.failLocked(err.Error())
		}
		return
	}
	e.done = true
	octets := auth.SignedOctets(sa.initReq, sa.nr, sa.prfFunc(), sa.keys.SKpi(), idBody(sa.localID))
	a := &wire.Auth{Method: wire.AuthPSK, Data: auth.PSKAuth(sa.prfFunc(), sa.mskKeyLocked(true), octets)}
	err = sa.sendRequestLocked(wire.ExchangeIKEAuth, []wire.Payload{a}, func(_ *wire.Message, final []wire.Payload) {
		sa.finishEAPClientLocked(final, req)
	}, func() { sa.failLocked("no answer to the final IKE_AUTH") })
	if err != nil {
		sa.failLocked(err.Error())
	}
}

// finishEAPClientLocked checks the gateway's MSK-based AUTH and completes
// the IKE SA with its Child SA and configuration.
func (sa *ikeSA) finishEAPClientLocked(ps []wire.Payload, req *childReq) {
	if n := findNotify(ps, wire.NotifyAuthenticationFailed); n != nil {
		sa.mgr.stats.authFailed.Add(1)
		if req != nil {
			req.finish(errors.New("AUTHENTICATION_FAILED"))
		}
		sa.failLocked("AUTHENTICATION_FAILED")
		return
	}
	a := payloadOf[*wire.Auth](ps)
	octets := auth.SignedOctets(sa.initResp, sa.ni, sa.prfFunc(), sa.keys.SKpr(), idBody(sa.remoteID))
	if a == nil || a.Method != wire.AuthPSK || !constantTimeEqual(a.Data, auth.PSKAuth(sa.prfFunc(), sa.mskKeyLocked(false), octets)) {
		sa.authFailedLocked(req, "gateway's AUTH after EAP does not verify")
		return
	}
	sa.completeAuthLocked(ps, req)
}

// startEAPServerLocked answers the first IKE_AUTH of an EAP client: pick
// the connection, authenticate ourselves (unless EAP-only), send the first
// EAP request and keep the child and CP payloads for the last round.
func (sa *ikeSA) startEAPServerLocked(h wire.Header, ps []wire.Payload, peer auth.Identity, idr *wire.ID) {
	eapOnly := findNotify(ps, wire.NotifyEAPOnlyAuthentication) != nil
	var conn *config.Connection
	var self auth.Identity
	for _, c := range sa.candidates {
		if !c.Remote.IsEAP() || !identityMatches(remotePattern(c), peer) && !identityMatches(c.Remote.EAPID, peer) {
			continue
		}
		id, err := sa.localIdentity(c)
		if err != nil {
			continue
		}
		if idr != nil && c.Local.ID != "" && !id.Equal(idOf(idr)) {
			continue
		}
		conn, self = c, id
		break
	}
	if conn == nil {
		sa.respondAuthFailedLocked(h, fmt.Sprintf("no EAP connection for identity %s", peer))
		return
	}
	server, err := sa.newEAPServer(conn)
	if err != nil {
		sa.respondAuthFailedLocked(h, "EAP: "+err.Error())
		return
	}
	first, err := server.Start()
	if err != nil {
		server.Close()
		sa.respondAuthFailedLocked(h, "EAP: "+err.Error())
		return
	}
	sa.conn = conn
	sa.localID, sa.remoteID = self, peer
	sa.eap = &eapState{server: server, pending: ps, eapOnly: eapOnly && conn.EAPOnly()}
	resp := []wire.Payload{idPayload(false, self)}
	if !sa.eap.eapOnly {
		octets := auth.SignedOctets(sa.initResp, sa.ni, sa.prfFunc(), sa.keys.SKpr(), idBody(self))
		authPs, err := sa.makeAuthLocked(conn, octets, self, peer)
		if err != nil {
			sa.respondAuthFailedLocked(h, "local authentication: "+err.Error())
			return
		}
		resp = append(resp, authPs...)
	}
	resp = append(resp, &wire.EAP{Data: first})
	sa.respondLocked(h.Exchange, h.MessageID, resp)
}

// handleEAPRoundLocked continues the server side: EAP responses until the
// method ends, then the client's MSK-based AUTH, answered with ours and the
// Child SA and configuration asked for in the first IKE_AUTH.
func (sa *ikeSA) handleEAPRoundLocked(h wire.Header, ps []wire.Payload) {
	e := sa.eap
	if !e.done {
		pl := payloadOf[*wire.EAP](ps)
		if pl == nil {
			sa.respondAuthFailedLocked(h, "EAP round without EAP payload")
			return
		}
		next, done, err := e.server.Handle(pl.Data)
		if err != nil {
			sa.mgr.stats.authFailed.Add(1)
			sa.log.Warn("EAP authentication failed", "remote_id", sa.remoteID.String(), "err", err)
			resp := []wire.Payload{}
			if next != nil {
				resp = append(resp, &wire.EAP{Data: next})
			}
			resp = append(resp, notify(wire.NotifyAuthenticationFailed))
			sa.respondLocked(h.Exchange, h.MessageID, resp)
			sa.setFailReasonLocked("AUTHENTICATION_FAILED")
			sa.destroyLocked("EAP authentication failed")
			return
		}
		e.done = done
		sa.respondLocked(h.Exchange, h.MessageID, []wire.Payload{&wire.EAP{Data: next}})
		return
	}
	a := payloadOf[*wire.Auth](ps)
	if a == nil || a.Method != wire.AuthPSK || sa.verifyInitiatorLocked(sa.remoteID, func(octets []byte) error {
		if !constantTimeEqual(a.Data, auth.PSKAuth(sa.prfFunc(), sa.mskKeyLocked(true), octets)) {
			return errNoAuth
		}
		return nil
	}) != nil {
		sa.respondAuthFailedLocked(h, "AUTH after EAP does not verify")
		return
	}
	identity := e.server.Identity()
	if identity == "" {
		identity = sa.remoteID.String()
	}
	myOctets := auth.SignedOctets(sa.initResp, sa.ni, sa.prfFunc(), sa.keys.SKpr(), idBody(sa.localID))
	resp := []wire.Payload{&wire.Auth{Method: wire.AuthPSK, Data: auth.PSKAuth(sa.prfFunc(), sa.mskKeyLocked(false), myOctets)}}
	sa.log.Info("EAP authentication succeeded", "eap_id", identity)
	sa.finishResponderAuthLocked(h, e.pending, resp, identity)
}
