package ike

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"time"

	"github.com/esptun/esptun/config"
	"github.com/esptun/esptun/sad"
	"github.com/esptun/esptun/spd"
)

func randInt(n int) int {
	if n <= 0 {
		return 0
	}
	return rand.IntN(n)
}

func hex32(v uint32) string { return fmt.Sprintf("%08x", v) }

var lookupHost = func(name string) ([]netip.Addr, error) {
	addrs, err := net.DefaultResolver.LookupNetIP(context.Background(), "ip", name)
	for i := range addrs {
		addrs[i] = addrs[i].Unmap()
	}
	return addrs, err
}

// An established IKE SA has up to three periodic duties: its rekey, dead
// peer detection and NAT keepalives. They share one runtime timer per SA
// (rather than one each: a runtime timer and its callback take about 150
// bytes, and a gateway holds many thousands of IKE SAs) that fires at the
// earliest of the deadlines below, kept as durations since sa.created
// (monotonic; 0 = not armed). onLifeTimer runs the ones that are due and
// arms the timer for the next.

// scheduleRekeyLocked arms the IKE SA rekey: rekey_time minus a random part
// of rand_time, so that the two ends do not collide every time.
func (sa *ikeSA) scheduleRekeyLocked() {
	if sa.conn == nil || sa.conn.RekeyTime <= 0 {
		return
	}
	d := sa.conn.RekeyTime
	if r := sa.conn.RandTime; r > 0 {
		d -= time.Duration(rand.Int64N(int64(r) + 1))
	}
	if d < time.Second {
		d = time.Second
	}
	now := sa.sinceCreated()
	sa.rekeyAt = now + d
	sa.armLifeTimerLocked(now)
}

// scheduleDPDLocked arms dead peer detection: after dpd_delay without any
// traffic from the peer, an empty INFORMATIONAL asks whether it is alive
// (RFC 7296 2.4); retransmissions that all go unanswered declare it dead.
func (sa *ikeSA) scheduleDPDLocked() {
	if sa.conn == nil || sa.conn.DPDDelay <= 0 {
		return
	}
	now := sa.sinceCreated()
	sa.dpdAt = now + sa.conn.DPDDelay
	sa.armLifeTimerLocked(now)
}

// scheduleKeepaliveLocked sends NAT-keepalives while we are behind a NAT
// (RFC 3948 2.3), so that the mapping stays open.
func (sa *ikeSA) scheduleKeepaliveLocked() {
	if !sa.natLocal || !sa.natt {
		return
	}
	now := sa.sinceCreated()
	sa.keepaliveAt = now + sa.keepaliveInterval()
	sa.armLifeTimerLocked(now)
}

func (sa *ikeSA) keepaliveInterval() time.Duration {
	if iv := sa.mgr.cfg.IKE.KeepaliveInterval; iv > 0 {
		return iv
	}
	return 20 * time.Second
}

// sinceCreated is the clock of the life timer's deadlines.
func (sa *ikeSA) sinceCreated() time.Duration {
	return max(time.Since(sa.created), 1) // 0 means "not armed"
}

// armLifeTimerLocked sets the life timer to the earliest armed deadline;
// with none armed it leaves the timer alone (it has fired, or it fires
// once more and finds nothing due).
func (sa *ikeSA) armLifeTimerLocked(now time.Duration) {
	next := time.Duration(0)
	for _, at := range [...]time.Duration{sa.rekeyAt, sa.dpdAt, sa.keepaliveAt} {
		if at != 0 && (next == 0 || at < next) {
			next = at
		}
	}
	if next == 0 || sa.state == stateDead {
		return
	}
	d := max(next-now, 0)
	if sa.lifeTimer == nil {
		sa.lifeTimer = time.AfterFunc(d, sa.onLifeTimer)
	} else {
		sa.lifeTimer.Reset(d) // the same timer again: no garbage per duty
	}
}

// onLifeTimer runs the duties that are due: the rekey once, DPD and
// keepalives again and again while the SA lasts.
func (sa *ikeSA) onLifeTimer() {
	sa.mu.Lock()
	defer sa.mu.Unlock()
	if sa.state == stateDead {
		return
	}
	now := sa.sinceCreated()
	if at := sa.rekeyAt; at != 0 && now >= at {
		sa.rekeyAt = 0
		if sa.state == stateEstablished && sa.rekeyedTo == nil {
			sa.enqueueLocked("rekey IKE", func() { sa.sendIKERekeyLocked(nil) })
		}
	}
	if at := sa.dpdAt; at != 0 && now >= at {
		sa.dpdAt = 0
		if sa.state == stateEstablished {
			delay := sa.conn.DPDDelay
			var in uint64
			for _, c := range sa.children {
				if c.in != nil {
					in += c.in.Packets.Load()
				}
			}
			if in != sa.dpdPackets {
				sa.dpdPackets = in
				sa.lastHeard = now
			}
			if now-sa.lastHeard >= delay && sa.pending == nil {
				sa.sendDPDLocked()
			}
			if sa.state == stateEstablished {
				sa.dpdAt = now + delay
			}
		}
	}
	if at := sa.keepaliveAt; at != 0 && now >= at {
		sa.keepaliveAt = 0
		if sa.state == stateEstablished || sa.state == stateDeleting {
			_ = sa.mgr.tx.SendKeepalive(sa.local, sa.remote)
			sa.keepaliveAt = now + sa.keepaliveInterval()
		}
	}
	sa.armLifeTimerLocked(now)
}

// childOf returns the Child SA an ESP SA belongs to (sad.SA.Owner), or nil
// for an SA the IKE layer did not make.
func childOf(s *sad.SA) *childSA {
	c, _ := s.Owner.(*childSA)
	return c
}

// HandleSAEvent takes the SAD's lifetime events: a soft limit rekeys the
// Child SA, a hard limit deletes it (RFC 4301 4.4.2.1).
func (m *Manager) HandleSAEvent(ev sad.Event) {
	c := childOf(ev.SA)
	if c == nil {
		return
	}
	go func() {
		sa := c.ike
		sa.mu.Lock()
		defer sa.mu.Unlock()
		if sa.mgr != m || c.ike != sa || !sa.hasChild(c) {
			return
		}
		if ev.Hard {
			sa.log.Info("Child SA reached its hard lifetime", "child", c.cfg.Name, "limit", ev.Why)
			sa.deleteChildLocked(c)
			return
		}
		if c.rekeying || c.rekeyedBy != nil {
			return
		}
		sa.log.Info("rekeying Child SA", "child", c.cfg.Name, "limit", ev.Why)
		r := &childReq{cfg: c.cfg, rekey: c}
		sa.enqueueLocked("rekey child "+c.cfg.Name, func() { sa.sendCreateChildLocked(r) })
	}()
}

// installTrap installs a policy without SA for a child with start_action =
// trap: the first matching packet starts IKE (RFC 4301 5.1.1 "acquire").
func (m *Manager) installTrap(conn *config.Connection, child *config.Child) {
	if child.LocalTS.Dynamic || child.RemoteTS.Dynamic || len(child.LocalTS.Selectors) == 0 || len(child.RemoteTS.Selectors) == 0 {
		m.log.Warn("trap needs explicit traffic selectors", "conn", conn.Name, "child", child.Name)
		return
	}
	p := &spd.Policy{ID: m.allocPolicyID(), Name: conn.Name + "/" + child.Name + " (trap)", Action: spd.Protect,
		Local: child.LocalTS.Selectors, Remote: child.RemoteTS.Selectors}
	p.Priority = spd.AutoPriority(p)
	if err := m.spd.Add(p); err != nil {
		m.log.Warn("cannot install trap policy", "conn", conn.Name, "child", child.Name, "err", err)
		return
	}
	m.mu.Lock()
	m.traps[p.ID] = &trap{conn: conn, child: child, policy: p}
	m.mu.Unlock()
	m.log.Info("trap installed", "conn", conn.Name, "child", child.Name)
}

// reinstallTrap is called when the SAs of a trapped child went away; the
// trap policy itself stays installed, so there is nothing to do but allow a
// new acquire.
func (m *Manager) reinstallTrap(conn *config.Connection, child *config.Child) {
	if tr := m.trapFor(conn, child); tr != nil {
		tr.pending.Store(false)
	}
}

func (m *Manager) trapFor(conn *config.Connection, child *config.Child) *trap {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, t := range m.traps {
		if t.conn == conn && t.child == child {
			return t
		}
	}
	return nil
}

func (m *Manager) removeTraps() {
	m.mu.Lock()
	traps := m.traps
	m.traps = map[uint32]*trap{}
	m.mu.Unlock()
	for id := range traps {
		m.spd.Remove(id)
	}
}

// Acquire is called by the data path when a packet hits a policy that has
// no SA yet. For a trap policy it starts the negotiation, at most once at a
// time and once a second.
func (m *Manager) Acquire(policyID uint32) {
	m.mu.Lock()
	tr := m.traps[policyID]
	m.mu.Unlock()
	if tr == nil {
		return
	}
	now := time.Now().UnixNano()
	if last := tr.lastTry.Load(); now-last < int64(time.Second) {
		return
	}
	if !tr.pending.CompareAndSwap(false, true) {
		return
	}
	tr.lastTry.Store(now)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := m.initiateChild(ctx, tr.conn, tr.child, tr); err != nil {
			m.log.Info("acquire failed", "conn", tr.conn.Name, "child", tr.child.Name, "err", err)
		}
		tr.pending.Store(false)
	}()
}

// initiateChild brings up child: through CREATE_CHILD_SA when an IKE SA of
// its connection is established, else with a new IKE SA.
func (m *Manager) initiateChild(ctx context.Context, conn *config.Connection, child *config.Child, tr *trap) error {
	for _, sa := range m.snapshot() {
		sa.mu.Lock()
		if sa.conn == conn && sa.state == stateEstablished && sa.rekeyedTo == nil {
			r := sa.queueChildLocked(child, tr)
			sa.startPendingChildrenLocked()
			sa.mu.Unlock()
			select {
			case err := <-r.done:
				return err
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		sa.mu.Unlock()
	}
	return m.initiate(ctx, conn, child, tr)
}

// Initiate brings up a Child SA by name ("CHILD" or "CONNECTION/CHILD") and
// waits for the result, as `swanctl --initiate --child` does.
func (m *Manager) Initiate(ctx context.Context, child string) error {
	conn, ch, err := m.childByName(child)
	if err != nil {
		return err
	}
	return m.initiateChild(ctx, conn, ch, m.trapFor(conn, ch))
}

// InitiateIKE brings up every start child of a connection (or its first
// child when none is marked start).
func (m *Manager) InitiateIKE(ctx context.Context, name string) error {
	conn := m.connByName(name)
	if conn == nil {
		return fmt.Errorf("no connection named %q", name)
	}
	if len(conn.Children) == 0 {
		return fmt.Errorf("connection %q has no children", name)
	}
	return m.initiateChild(ctx, conn, conn.Children[0], m.trapFor(conn, conn.Children[0]))
}

// Terminate deletes the IKE SAs of a connection (or the one with that
// unique ID, "NAME[ID]") and waits for the peer's answers.
func (m *Manager) Terminate(ctx context.Context, name string) error {
	var found []*ikeSA
	for _, sa := range m.snapshot() {
		sa.mu.Lock()
		ok := sa.name() == name || fmt.Sprintf("%s[%d]", sa.name(), sa.uniqueID) == name
		if sa.state == stateDead || sa.rekeyedTo != nil {
			ok = false
		}
		sa.mu.Unlock()
		if ok {
			found = append(found, sa)
		}
	}
	if len(found) == 0 {
		return fmt.Errorf("no IKE SA named %q", name)
	}
	for _, sa := range found {
		sa.terminate(ctx, "terminated by request")
	}
	return nil
}

// TerminateChild deletes the Child SAs of a child configuration.
func (m *Manager) TerminateChild(ctx context.Context, name string) error {
	conn, ch, err := m.childByName(name)
	if err != nil {
		return err
	}
	n := 0
	for _, sa := range m.snapshot() {
		sa.mu.Lock()
		if sa.conn == conn && sa.state == stateEstablished {
			for _, c := range sa.children {
				if c.cfg == ch && c.rekeyedBy == nil {
					sa.deleteChildLocked(c)
					n++
				}
			}
		}
		sa.mu.Unlock()
	}
	if n == 0 {
		return fmt.Errorf("no Child SA named %q", name)
	}
	return nil
}

// RekeyChild rekeys the Child SAs of a child configuration and waits for
// the rekeys to finish.
func (m *Manager) RekeyChild(ctx context.Context, name string) error {
	conn, ch, err := m.childByName(name)
	if err != nil {
		return err
	}
	var waits []chan error
	busy := 0
	for _, sa := range m.snapshot() {
		sa.mu.Lock()
		if sa.conn == conn && sa.state == stateEstablished && sa.rekeyedTo == nil {
			for _, c := range sa.children {
				if c.cfg != ch || c.rekeyedBy != nil {
					continue
				}
				if c.rekeying || c.rekeyOf != nil && sa.hasChild(c.rekeyOf) {
					// Our rekey of it is in flight, or it comes from the
					// peer's rekey, which the peer has not finished (it
					// may not know the SA yet): it is being rekeyed.
					busy++
					continue
				}
				r := &childReq{cfg: ch, rekey: c, done: make(chan error, 1)}
				waits = append(waits, r.done)
				sa.enqueueLocked("rekey child "+ch.Name, func() { sa.sendCreateChildLocked(r) })
			}
		}
		sa.mu.Unlock()
	}
	if len(waits) == 0 {
		if busy > 0 {
			return nil
		}
		return fmt.Errorf("no Child SA named %q to rekey", name)
	}
	return waitAll(ctx, waits)
}

// RekeyIKE rekeys the IKE SAs of a connection and waits for the rekeys.
func (m *Manager) RekeyIKE(ctx context.Context, name string) error {
	var waits []chan error
	busy := 0
	for _, sa := range m.snapshot() {
		sa.mu.Lock()
		if sa.name() == name && sa.state == stateEstablished && sa.rekeyedTo == nil {
			done := make(chan error, 1)
			waits = append(waits, done)
			sa.enqueueLocked("rekey IKE", func() { sa.sendIKERekeyLocked(done) })
		} else if sa.name() == name && sa.rekeyedTo != nil {
			// The peer's rekey replaced it while we looked (its
			// successor may not be in our snapshot): it is rekeyed.
			busy++
		}
		sa.mu.Unlock()
	}
	if len(waits) == 0 {
		if busy > 0 {
			return nil
		}
		return fmt.Errorf("no IKE SA named %q to rekey", name)
	}
	return waitAll(ctx, waits)
}

func waitAll(ctx context.Context, waits []chan error) error {
	var errs []error
	for _, w := range waits {
		select {
		case err := <-w:
			if err != nil {
				errs = append(errs, err)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return errors.Join(errs...)
}

// hasOtherSA reports whether another IKE SA of conn exists (for
// INITIAL_CONTACT, RFC 7296 2.4).
func (m *Manager) hasOtherSA(self *ikeSA, conn *config.Connection) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.initiated[conn]
	if self.counted && self.conn == conn {
		n--
	}
	return n > 0
}

// initialContact removes older IKE SAs with the same peer identity: the
// peer says it has no state left (RFC 7296 2.4, INITIAL_CONTACT).
func (m *Manager) initialContact(fresh *ikeSA) {
	for _, sa := range m.samePeer(fresh) {
		go func() {
			sa.mu.Lock()
			defer sa.mu.Unlock()
			if sa.conn == fresh.conn && sa.remoteID.Equal(fresh.remoteID) && sa.state == stateEstablished && sa.rekeyedTo == nil {
				sa.destroyLocked("replaced after INITIAL_CONTACT")
			}
		}()
	}
}

// enforceUnique applies the connection's unique policy (swanctl
// "unique"): replace deletes older IKE SAs of the same identity.
func (m *Manager) enforceUnique(fresh *ikeSA) {
	if fresh.conn == nil || fresh.conn.Unique != "replace" {
		return
	}
	for _, sa := range m.samePeer(fresh) {
		go func() {
			sa.mu.Lock()
			same := sa.conn == fresh.conn && sa.remoteID.Equal(fresh.remoteID) && sa.state == stateEstablished && sa.rekeyedTo == nil
			sa.mu.Unlock()
			if same {
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				sa.terminate(ctx, "replaced by a newer IKE SA (unique = replace)")
			}
		}()
	}
}

// PeerMoved follows a NAT rebinding seen on authenticated ESP (RFC 7296
// 2.23, RFC 3948): the IKE SA and its Child SAs send to the new address.
func (m *Manager) PeerMoved(in *sad.SA, from netip.AddrPort) {
	c := childOf(in)
	if c == nil {
		return
	}
	go func() {
		sa := c.ike
		sa.mu.Lock()
		defer sa.mu.Unlock()
		if sa.mgr != m || c.ike != sa || !sa.hasChild(c) || !sa.natt || !followsPeer(sa.natLocal && !sa.natFake, sa.natRemote) || sa.remote == from || sa.state != stateEstablished {
			return
		}
		sa.log.Info("peer moved (ESP)", "from", sa.remote, "to", from)
		sa.remote = from
		for _, c := range sa.children {
			c.setPeer(from)
		}
	}()
}
