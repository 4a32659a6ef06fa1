package ike

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/esptun/esptun/crypto"
	"github.com/esptun/esptun/ike/wire"
)

// sendCreateChildLocked starts a CREATE_CHILD_SA for a new or rekeyed Child
// SA (RFC 7296 1.3.1, 1.3.3).
func (sa *ikeSA) sendCreateChildLocked(r *childReq) {
	if sa.state != stateEstablished {
		r.finish(errors.New("IKE SA is not established"))
		return
	}
	if r.rekey != nil && (r.rekey.rekeyedBy != nil || !sa.hasChild(r.rekey)) {
		r.finish(nil) // already rekeyed or gone
		return
	}
	ps, err := sa.childRequestPayloadsLocked(r, true)
	if err != nil {
		r.finish(err)
		return
	}
	if r.rekey != nil {
		r.rekey.rekeying = true
	}
	err = sa.sendRequestLocked(wire.ExchangeCreateChildSA, ps, func(_ *wire.Message, resp []wire.Payload) {
		sa.handleCreateChildResponseLocked(r, resp)
	}, nil)
	if err != nil {
		r.finish(err)
	}
}

func (sa *ikeSA) hasChild(c *childSA) bool {
	for _, x := range sa.children {
		if x == c {
			return true
		}
	}
	return false
}

func (sa *ikeSA) handleCreateChildResponseLocked(r *childReq, ps []wire.Payload) {
	if r.rekey != nil {
		r.rekey.rekeying = false
		if n := errorNotify(ps); n != nil && (r.rekey.rekeyedBy != nil || !sa.hasChild(r.rekey)) {
			// RFC 7296 2.25: the peer rekeyed or deleted the Child SA
			// while our rekey was in flight (CHILD_SA_NOT_FOUND or
			// TEMPORARY_FAILURE); it needs no rekey of ours any more.
			sa.log.Info("Child SA was rekeyed or deleted by the peer meanwhile", "child", r.cfg.Name, "notify", n.NotifyType.String())
			r.finish(nil)
			return
		}
	}
	if n := findNotify(ps, wire.NotifyInvalidKEPayload); n != nil && len(n.Data) == 2 && r.ke != nil {
		g := binary.BigEndian.Uint16(n.Data)
		if g != r.ke.Group() && proposalsHaveGroup(r.cfg.ESPProposals, g) {
			sa.log.Info("peer asks for another PFS group, retrying", "group", g)
			r.ke.Wipe()
			r.ke = nil
			retry := &childReq{cfg: r.cfg, trap: r.trap, rekey: r.rekey, done: r.done}
			if retry.rekey != nil {
				retry.rekey.dh = g
			}
			r.done = nil
			sa.enqueueLocked("retry child", func() { sa.sendCreateChildWithGroupLocked(retry, g) })
			return
		}
	}
	if n := findNotify(ps, wire.NotifyTemporaryFailure); n != nil && r.rekey != nil {
		// RFC 7296 2.25: the peer is busy with the same SA; try later.
		sa.log.Info("peer answered TEMPORARY_FAILURE to a rekey, retrying later", "child", r.cfg.Name)
		retry := &childReq{cfg: r.cfg, rekey: r.rekey, done: r.done}
		r.done = nil
		time.AfterFunc(time.Second+time.Duration(randInt(2000))*time.Millisecond, func() {
			sa.mu.Lock()
			defer sa.mu.Unlock()
			if sa.state == stateEstablished {
				sa.enqueueLocked("rekey child "+retry.cfg.Name, func() { sa.sendCreateChildLocked(retry) })
			}
		})
		r.finish(nil)
		return
	}
	nr := payloadOf[*wire.Nonce](ps)
	if nr == nil {
		err := errors.New("CREATE_CHILD_SA response without nonce")
		if n := errorNotify(ps); n != nil {
			err = errors.New(n.NotifyType.String())
		}
		sa.log.Warn("Child SA not established", "child", r.cfg.Name, "err", err)
		r.finish(err)
		return
	}
	if err := sa.completeChildLocked(r, ps, r.ni, nr.Data, nil); err != nil {
		sa.log.Warn("Child SA not established", "child", r.cfg.Name, "err", err)
		r.finish(err)
		return
	}
	if old := r.rekey; old != nil {
		newC := old.rekeyedBy
		// RFC 7296 2.8.1: if the peer rekeyed the same Child SA at the same
		// time, the SA made with the lowest of the four nonces is redundant
		// and its initiator (whoever made it) deletes it.
		if peerNew := sa.peerRekeyOf(old, newC); peerNew != nil {
			if newC.nonceLow < peerNew.nonceLow {
				sa.log.Info("rekey collision: ours has the lowest nonce, deleting it", "child", old.cfg.Name)
				old.rekeyedBy = peerNew
				newC.rekeyedBy = peerNew
				sa.deleteChildLocked(newC)
			} else if err := sa.activateOutLocked(newC); err != nil {
				// Ours survives and the peer deletes its redundant SA.
				sa.log.Warn("cannot switch to the new outbound SA", "err", err)
			}
		}
		sa.deleteChildLocked(old)
	}
}

func (sa *ikeSA) sendCreateChildWithGroupLocked(r *childReq, g uint16) {
	// The first group of the proposals decides the KE; put the asked one
	// first for this attempt.
	cfg := *r.cfg
	cfg.ESPProposals = preferGroup(cfg.ESPProposals, g)
	r.cfg = &cfg
	sa.sendCreateChildLocked(r)
}

func preferGroup(list []crypto.Proposal, g uint16) []crypto.Proposal {
	out := make([]crypto.Proposal, 0, len(list))
	for _, p := range list {
		q := crypto.Proposal{Protocol: p.Protocol}
		var rest []crypto.Transform
		for _, t := range p.Transforms {
			if t.Type == crypto.TransformDH && t.ID == g {
				q.Transforms = append(q.Transforms, t)
			} else {
				rest = append(rest, t)
			}
		}
		q.Transforms = append(q.Transforms, rest...)
		out = append(out, q)
	}
	return out
}

// peerRekeyOf returns the Child SA the peer created by rekeying old, other
// than ours.
func (sa *ikeSA) peerRekeyOf(old, ours *childSA) *childSA {
	for _, c := range sa.children {
		if c != ours && c.rekeyOf == old && !c.initiatedByUs {
			return c
		}
	}
	return nil
}

// handleCreateChildRequestLocked answers CREATE_CHILD_SA: a new Child SA, a
// Child SA rekey, or an IKE SA rekey.
func (sa *ikeSA) handleCreateChildRequestLocked(h wire.Header, ps []wire.Payload) {
	reply := func(resp []wire.Payload) { sa.respondLocked(h.Exchange, h.MessageID, resp) }
	if sa.state != stateEstablished {
		reply([]wire.Payload{notify(wire.NotifyTemporaryFailure)})
		return
	}
	saPl := payloadOf[*wire.SA](ps)
	ni := payloadOf[*wire.Nonce](ps)
	if saPl == nil || ni == nil || len(saPl.Proposals) == 0 || len(ni.Data) < 16 || len(ni.Data) > 256 {
		reply([]wire.Payload{notify(wire.NotifyInvalidSyntax)})
		return
	}
	if saPl.Proposals[0].Protocol == wire.ProtocolIKE {
		sa.respondIKERekeyLocked(h, ps, saPl, ni.Data)
		return
	}
	nr := newNonce()
	var old *childSA
	if n := findNotify(ps, wire.NotifyRekeySA); n != nil {
		if len(n.SPI) != 4 {
			reply([]wire.Payload{notify(wire.NotifyInvalidSyntax)})
			return
		}
		// The REKEY_SA SPI is the one the peer receives on: our outbound.
		spi := binary.BigEndian.Uint32(n.SPI)
		for _, c := range sa.children {
			if c.spiOut == spi && c.rekeyedBy == nil {
				old = c
				break
			}
		}
		if old == nil {
			reply([]wire.Payload{&wire.Notify{Protocol: wire.ProtocolESP, SPI: n.SPI, NotifyType: wire.NotifyChildSANotFound}})
			return
		}
		if old.deleting {
			// RFC 7296 2.25: a Child SA we are closing is not rekeyed.
			reply([]wire.Payload{notify(wire.NotifyTemporaryFailure)})
			return
		}
	}
	resp := sa.respondChildLocked(ps, ni.Data, nr, payloadOf[*wire.KE](ps), old, true)
	if old != nil {
		if nc := old.rekeyedBy; nc != nil && nc.in != nil && len(sa.children) > 0 && sa.children[len(sa.children)-1] == nc {
			nc.rekeyOf = old
			if !old.rekeying {
				// No collision: the peer deletes the old SA when done;
				// nothing else to do here.
				old.rekeyedBy = nc
			}
		}
	}
	reply(resp)
}

// ikeRekey tracks our IKE SA rekey in flight.
type ikeRekey struct {
	spi      uint64
	ni       []byte
	ke       crypto.KeyExchange
	nonceLow []byte
	newSA    *ikeSA
	done     chan error // RekeyIKE's waiter, or nil; answered once
}

// sendIKERekeyLocked rekeys the IKE SA (RFC 7296 1.3.2, 2.18).
func (sa *ikeSA) sendIKERekeyLocked(done chan error) {
	if sa.state != stateEstablished || sa.rekeyedTo != nil {
		if done != nil {
			done <- errors.New("IKE SA is not established")
		}
		return
	}
	rk := &ikeRekey{spi: newIKESPI(), ni: newNonce(), done: done}
	var spi [8]byte
	binary.BigEndian.PutUint64(spi[:], rk.spi)
	props := ikeProposals(sa.conn.Proposals, spi[:])
	g := sa.suite.DH
	ke, err := crypto.NewKeyExchange(g)
	if err != nil {
		if done != nil {
			done <- err
		}
		return
	}
	rk.ke = ke
	sa.rekeying = rk
	ps := []wire.Payload{&wire.SA{Proposals: props}, &wire.Nonce{Data: rk.ni}, &wire.KE{Group: g, Data: ke.Public()}}
	err = sa.sendRequestLocked(wire.ExchangeCreateChildSA, ps, func(_ *wire.Message, resp []wire.Payload) {
		err := sa.handleIKERekeyResponseLocked(rk, resp)
		if err != nil && sa.takePeerRekeyLocked() {
			// RFC 7296 2.8.2: ours was refused (TEMPORARY_FAILURE from
			// a peer that finished its own rekey first), but the peer's
			// rekey of this IKE SA went through: its SA replaces this
			// one, which the peer deletes.
			sa.log.Info("IKE rekey refused, the peer's rekey replaces this IKE SA", "err", err)
			err = nil
		}
		if err != nil {
			sa.log.Warn("IKE SA rekey failed", "err", err)
		}
		if done != nil {
			done <- err
		}
	}, nil)
	if err != nil && done != nil {
		done <- err
	}
}

func (sa *ikeSA) handleIKERekeyResponseLocked(rk *ikeRekey, ps []wire.Payload) error {
	defer rk.ke.Wipe()
	if sa.rekeying == rk {
		sa.rekeying = nil
	}
	if n := errorNotify(ps); n != nil {
		if n.NotifyType == wire.NotifyTemporaryFailure {
			sa.log.Info("peer answered TEMPORARY_FAILURE to an IKE rekey, retrying later")
			time.AfterFunc(time.Second+time.Duration(randInt(2000))*time.Millisecond, func() {
				sa.mu.Lock()
				defer sa.mu.Unlock()
				if sa.state == stateEstablished && sa.rekeyedTo == nil {
					sa.enqueueLocked("rekey IKE", func() { sa.sendIKERekeyLocked(nil) })
				}
			})
		}
		return errors.New(n.NotifyType.String())
	}
	saPl := payloadOf[*wire.SA](ps)
	nr := payloadOf[*wire.Nonce](ps)
	kePl := payloadOf[*wire.KE](ps)
	if saPl == nil || nr == nil || kePl == nil || len(saPl.Proposals) != 1 || len(saPl.Proposals[0].SPI) != 8 {
		return errors.New("malformed IKE rekey response")
	}
	chosen := fromWireProposal(saPl.Proposals[0])
	if !proposalsContain(sa.conn.Proposals, chosen) {
		return errors.New("responder chose an IKE proposal we did not offer")
	}
	suite, err := crypto.SuiteFromProposal(chosen)
	if err != nil || suite.DH != kePl.Group || kePl.Group != rk.ke.Group() {
		return errors.New("inconsistent IKE rekey response")
	}
	shared, err := rk.ke.SharedSecret(kePl.Data)
	if err != nil {
		return err
	}
	defer clear(shared)
	peerSPI := binary.BigEndian.Uint64(saPl.Proposals[0].SPI)
	// We initiated the rekey: we are the initiator of the new IKE SA.
	n, err := sa.rekeyedSA(true, rk.spi, peerSPI, suite, shared, rk.ni, nr.Data)
	if err != nil {
		return err
	}
	rk.newSA = n
	rk.nonceLow = lowest(rk.ni, nr.Data)
	// RFC 7296 2.8.2: on a collision, the new IKE SA with the lowest nonce
	// is deleted by its initiator.
	var other *ikeSA
	var otherNonce []byte
	if r := sa.rare; r != nil {
		other, otherNonce = r.peerIKERekey, r.peerIKERekeyNonce
	}
	otherUp := false
	if other != nil {
		other.mu.Lock() // the same order as moveToLocked: old SA, then new
		otherUp = other.state == stateEstablished
		other.mu.Unlock()
	}
	if otherUp {
		if bytes.Compare(rk.nonceLow, otherNonce) < 0 {
			sa.log.Info("IKE rekey collision: ours has the lowest nonce, deleting it")
			n.mu.Lock()
			n.rekeyedTo = other
			n.mu.Unlock()
			go n.terminate(context.Background(), "redundant after rekey collision")
			// The peer's new SA survives and the peer deletes the old one.
			sa.moveToLocked(other)
			return nil
		}
		// Ours survives: take the children back from the peer's SA,
		// which the peer deletes.
		other.mu.Lock()
		other.children = nil
		other.rekeyedTo = n
		other.mu.Unlock()
		// A peer whose rekey response came after our DELETE of the old
		// SA forgets its rekey (2.25) and never deletes that SA: delete
		// it ourselves if it is still there after a while.
		wait := sa.mgr.cfg.IKE.RetransmitTimeout
		if wait <= 0 {
			wait = 4 * time.Second
		}
		time.AfterFunc(wait, func() {
			other.mu.Lock()
			alive := other.state == stateEstablished
			other.mu.Unlock()
			if alive {
				// The peer has most likely forgotten it: do not wait the
				// whole retransmission schedule for an answer.
				ctx, cancel := context.WithTimeout(context.Background(), wait)
				defer cancel()
				other.terminate(ctx, "redundant after rekey collision, the peer did not delete it")
			}
		})
	}
	sa.moveToLocked(n)
	// The initiator of the rekey deletes the old IKE SA (1.3.2).
	sa.sendDeleteIKELocked(nil)
	return nil
}

// takePeerRekeyLocked moves the Child SAs to the IKE SA the peer's rekey
// created, when there is one that is still up, and reports whether it did.
func (sa *ikeSA) takePeerRekeyLocked() bool {
	var other *ikeSA
	if r := sa.rare; r != nil {
		other = r.peerIKERekey
	}
	if other == nil || sa.rekeyedTo != nil || sa.state != stateEstablished {
		return false
	}
	other.mu.Lock()
	up := other.state == stateEstablished
	other.mu.Unlock()
	if !up {
		return false
	}
	sa.moveToLocked(other)
	return true
}

// rekeyedSA creates and registers the IKE SA that replaces sa.
func (sa *ikeSA) rekeyedSA(initiator bool, ourSPI, peerSPI uint64, suite crypto.IKESuite, shared, ni, nr []byte) (*ikeSA, error) {
	m := sa.mgr
	n := m.newSA(initiator, sa.conn, sa.local, sa.remote)
	if initiator {
		n.spiI, n.spiR = ourSPI, peerSPI
	} else {
		n.spiI, n.spiR = peerSPI, ourSPI
	}
	keys, err := crypto.DeriveRekeyedIKEKeys(suite, sa.suite.PRF, sa.keys.SKd(), shared, ni, nr, n.spiI, n.spiR)
	if err != nil {
		return nil, err
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if err := n.useKeysLocked(suite, keys); err != nil {
		return nil, err
	}
	n.natt, n.natLocal, n.natRemote, n.natFake, n.fragOK = sa.natt, sa.natLocal, sa.natRemote, sa.natFake, sa.fragOK
	n.localID, n.remoteID = sa.localID, sa.remoteID
	n.nextReqID, n.peerNextID = 0, 0
	if err := m.register(n); err != nil {
		return nil, err
	}
	n.establishLocked()
	n.forgetAuthLocked()
	return n, nil
}

// moveToLocked hands sa's Child SAs to its successor n.
func (sa *ikeSA) moveToLocked(n *ikeSA) {
	sa.rekeyedTo = n
	n.mu.Lock()
	for _, c := range sa.children {
		c.ike = n
		n.children = append(n.children, c)
	}
	n.childReqs = append(n.childReqs, sa.childReqs...)
	// What remote access gave the client goes with the IKE SA too: it
	// keeps its virtual IPs and DNS servers, the gateway keeps their pool
	// leases online (else they would go offline with this SA and could be
	// handed to another client), and the EAP identity stays on record.
	n.vips, sa.vips = sa.vips, nil
	if r := sa.rare; r != nil && (len(r.leases) > 0 || len(r.dns) > 0 || len(r.domains) > 0) {
		nr := n.rareLocked()
		nr.leases, nr.dns, nr.domains = r.leases, r.dns, r.domains
		r.leases, r.dns, r.domains = nil, nil, nil
	}
	n.eap, sa.eap = sa.eap, nil
	n.mu.Unlock()
	sa.children = nil
	sa.childReqs = nil
	sa.state = stateDeleting
	sa.log.Info("IKE SA rekeyed", "new_spi_i", fmt.Sprintf("%016x", n.spiI), "new_spi_r", fmt.Sprintf("%016x", n.spiR))
}

// respondIKERekeyLocked answers a CREATE_CHILD_SA that rekeys the IKE SA.
func (sa *ikeSA) respondIKERekeyLocked(h wire.Header, ps []wire.Payload, saPl *wire.SA, ni []byte) {
	reply := func(resp []wire.Payload) { sa.respondLocked(h.Exchange, h.MessageID, resp) }
	// RFC 7296 2.25: while our own child exchanges are in flight, ask the
	// peer to retry, except for a rekey collision which both sides finish.
	if sa.pending != nil && sa.pending.exchange == wire.ExchangeCreateChildSA && sa.rekeying == nil {
		reply([]wire.Payload{notify(wire.NotifyTemporaryFailure)})
		return
	}
	var offered []crypto.Proposal
	var spis []uint64
	for _, p := range saPl.Proposals {
		if p.Protocol == wire.ProtocolIKE && len(p.SPI) == 8 {
			offered = append(offered, fromWireProposal(p))
			spis = append(spis, binary.BigEndian.Uint64(p.SPI))
		}
	}
	chosen, idx, ok := crypto.SelectProposal(sa.conn.Proposals, offered)
	if !ok {
		reply([]wire.Payload{notify(wire.NotifyNoProposalChosen)})
		return
	}
	suite, err := crypto.SuiteFromProposal(chosen)
	if err != nil {
		reply([]wire.Payload{notify(wire.NotifyNoProposalChosen)})
		return
	}
	kePl := payloadOf[*wire.KE](ps)
	if kePl == nil || kePl.Group != suite.DH {
		reply([]wire.Payload{notifyData(wire.NotifyInvalidKEPayload, []byte{byte(suite.DH >> 8), byte(suite.DH)})})
		return
	}
	ke, err := crypto.NewKeyExchange(suite.DH)
	if err != nil {
		reply([]wire.Payload{notify(wire.NotifyNoProposalChosen)})
		return
	}
	defer ke.Wipe()
	shared, err := ke.SharedSecret(kePl.Data)
	if err != nil {
		reply([]wire.Payload{notify(wire.NotifyInvalidSyntax)})
		return
	}
	defer clear(shared)
	nr := newNonce()
	ourSPI := newIKESPI()
	var spiB [8]byte
	binary.BigEndian.PutUint64(spiB[:], ourSPI)
	// The peer initiated the rekey: it is the initiator of the new SA.
	n, err := sa.rekeyedSA(false, ourSPI, spis[idx], suite, shared, ni, nr)
	if err != nil {
		reply([]wire.Payload{notify(wire.NotifyNoProposalChosen)})
		return
	}
	reply([]wire.Payload{
		&wire.SA{Proposals: []wire.Proposal{toWireProposal(chosen, saPl.Proposals[idx].Num, wire.ProtocolIKE, spiB[:])}},
		&wire.Nonce{Data: nr},
		&wire.KE{Group: suite.DH, Data: ke.Public()},
	})
	if sa.rekeying != nil {
		// A collision (2.8.2): both new SAs exist for now; the outcome is
		// decided when our own rekey completes.
		r := sa.rareLocked()
		r.peerIKERekey = n
		r.peerIKERekeyNonce = lowest(ni, nr)
		return
	}
	// The peer deletes this SA next; until then the children move over.
	sa.moveToLocked(n)
}
