package ike

import (
	"context"
	"encoding/binary"
	"errors"

	"github.com/esptun/esptun/ike/wire"
)

// handleInformationalRequestLocked answers INFORMATIONAL: DELETE, liveness
// checks and notifies (RFC 7296 1.4, 2.4).
func (sa *ikeSA) handleInformationalRequestLocked(h wire.Header, ps []wire.Payload) {
	var resp []wire.Payload
	deleteIKE := false
	var ourSPIs [][]byte
	for _, p := range ps {
		switch p := p.(type) {
		case *wire.Delete:
			switch p.Protocol {
			case wire.ProtocolIKE:
				deleteIKE = true
			case wire.ProtocolESP:
				for _, spi := range p.SPIs {
					if len(spi) != 4 {
						continue
					}
					// The SPI in a Delete is the one its sender receives
					// on: our outbound SPI (1.4.1). Answer with ours.
					out := binary.BigEndian.Uint32(spi)
					for _, c := range sa.children {
						if c.spiOut == out {
							var b [4]byte
							binary.BigEndian.PutUint32(b[:], c.spiIn)
							ourSPIs = append(ourSPIs, b[:])
							sa.removeChildLocked(c, "deleted by peer")
							break
						}
					}
				}
			}
		case *wire.Notify:
			switch p.NotifyType {
			case wire.NotifyAuthenticationFailed:
				sa.mgr.stats.authFailed.Add(1)
				sa.log.Warn("peer says our authentication failed")
				sa.setFailReasonLocked("AUTHENTICATION_FAILED")
				sa.respondLocked(h.Exchange, h.MessageID, nil)
				sa.failLocked("AUTHENTICATION_FAILED")
				return
			}
		}
	}
	if len(ourSPIs) > 0 {
		resp = append(resp, &wire.Delete{Protocol: wire.ProtocolESP, SPISize: 4, SPIs: ourSPIs})
	}
	sa.respondLocked(h.Exchange, h.MessageID, resp)
	if deleteIKE {
		sa.log.Info("peer deleted the IKE SA")
		conn := sa.conn
		// RFC 7296 2.8.2: in a rekey collision the peer deletes the old
		// IKE SA once its own rekey won; the Child SAs move to that one.
		if sa.takePeerRekeyLocked() {
			sa.log.Info("the peer's rekey replaces this IKE SA")
		}
		sa.destroyLocked("deleted by peer")
		if conn != nil && sa.rekeyedTo == nil {
			m := sa.mgr
			for _, ch := range conn.Children {
				if ch.StartAction == "trap" {
					m.reinstallTrap(conn, ch)
				}
			}
		}
	}
}

// removeChildLocked takes a Child SA off the IKE SA and the data path.
func (sa *ikeSA) removeChildLocked(c *childSA, why string) {
	for i, x := range sa.children {
		if x == c {
			sa.children = append(sa.children[:i:i], sa.children[i+1:]...)
			break
		}
	}
	// A child that goes while a sibling serves the same policy (a rekey,
	// or the loser of a rekey collision) hands the policy and, if its own
	// outbound SA was the current one, the sending over to that sibling.
	// The policy may already have lost its current outbound SA: when the
	// redundant SA of a 2.8.1 collision goes before the old one, the old
	// one's outbound SA is no longer current, and the survivor still waits.
	cur := sa.mgr.sad.Outbound(c.policy.ID)
	lost := cur == nil || c.outActive && cur == c.out
	for _, s := range sa.children {
		if s.policy != c.policy {
			continue
		}
		if c.ownsPolicy {
			s.ownsPolicy, c.ownsPolicy = true, false
		}
		if lost && !s.outActive && s.rekeyedBy == nil {
			if err := sa.activateOutLocked(s); err != nil {
				sa.log.Warn("cannot switch to the new outbound SA", "err", err)
			}
			lost = false
		}
	}
	c.uninstall()
	sa.log.Info("Child SA removed", "child", c.cfg.Name, "spi_in", hex32(c.spiIn), "spi_out", hex32(c.spiOut), "reason", why)
}

// deleteChildLocked sends DELETE for a Child SA (1.4.1) and removes it once
// the peer answered (or gave up).
func (sa *ikeSA) deleteChildLocked(c *childSA) {
	c.deleting = true
	sa.enqueueLocked("delete child", func() {
		if !sa.hasChild(c) {
			return
		}
		var b [4]byte
		binary.BigEndian.PutUint32(b[:], c.spiIn)
		ps := []wire.Payload{&wire.Delete{Protocol: wire.ProtocolESP, SPISize: 4, SPIs: [][]byte{b[:]}}}
		err := sa.sendRequestLocked(wire.ExchangeInformational, ps, func(_ *wire.Message, _ []wire.Payload) {
			if sa.hasChild(c) {
				sa.removeChildLocked(c, "deleted")
			}
		}, func() {
			sa.removeChildLocked(c, "deleted, peer did not answer")
			sa.peerDeadLocked("no answer to DELETE")
		})
		if err != nil {
			sa.removeChildLocked(c, "deleted")
		}
	})
}

// sendDeleteIKELocked deletes the IKE SA with the peer (1.4.1); done gets
// the outcome.
func (sa *ikeSA) sendDeleteIKELocked(done chan error) {
	if done != nil {
		if sa.state == stateDead {
			done <- nil
			return
		}
		// destroyLocked answers done however the SA ends: our DELETE
		// answered or timed out, or the peer's DELETE crossing ours.
		r := sa.rareLocked()
		r.deleteWaiters = append(r.deleteWaiters, done)
	}
	sa.enqueueLocked("delete IKE", func() {
		if sa.state == stateDead {
			return
		}
		sa.state = stateDeleting
		ps := []wire.Payload{&wire.Delete{Protocol: wire.ProtocolIKE}}
		finish := func(why string) { sa.destroyLocked(why) }
		err := sa.sendRequestLocked(wire.ExchangeInformational, ps, func(_ *wire.Message, _ []wire.Payload) {
			finish("deleted")
		}, func() { finish("deleted, peer did not answer") })
		if err != nil {
			finish("deleted")
		}
	})
}

// terminate deletes the IKE SA and waits for the peer's answer until ctx
// ends; then it is removed anyway.
func (sa *ikeSA) terminate(ctx context.Context, why string) {
	if ctx == nil {
		ctx = context.Background()
	}
	done := make(chan error, 1)
	sa.mu.Lock()
	switch {
	case sa.state == stateDead:
		sa.mu.Unlock()
		return
	case sa.state < stateEstablished && sa.state != stateDeleting:
		sa.setFailReasonLocked(why)
		sa.failLocked(why)
		sa.mu.Unlock()
		return
	}
	// Drop queued work: only the DELETE goes out now.
	sa.queue = nil
	if sa.pending != nil && sa.pending.exchange != wire.ExchangeInformational {
		if sa.pending.timer != nil {
			sa.pending.timer.Stop()
		}
		sa.pending = nil
	}
	sa.log.Info("deleting IKE SA", "reason", why)
	sa.sendDeleteIKELocked(done)
	sa.mu.Unlock()
	select {
	case <-done:
	case <-ctx.Done():
		sa.mu.Lock()
		sa.destroyLocked(why + ", peer did not answer in time")
		sa.mu.Unlock()
	}
}

// sendDPDLocked sends an empty INFORMATIONAL request (liveness check, 2.4).
func (sa *ikeSA) sendDPDLocked() {
	sa.enqueueLocked("dpd", func() {
		_ = sa.sendRequestLocked(wire.ExchangeInformational, nil, func(_ *wire.Message, _ []wire.Payload) {}, nil)
	})
}

var errNotFound = errors.New("not found")
