package ike

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"time"

	"github.com/esptun/esptun/config"
	"github.com/esptun/esptun/crypto"
	"github.com/esptun/esptun/esp"
	"github.com/esptun/esptun/ike/wire"
	"github.com/esptun/esptun/sad"
	"github.com/esptun/esptun/spd"
)

// childReq is a Child SA we want: a new one, or the rekey of an existing
// one. It lives in ikeSA.childReqs until its exchange starts.
type childReq struct {
	cfg   *config.Child
	trap  *trap
	rekey *childSA // the Child SA being rekeyed, or nil
	done  chan error

	// exchange state
	spiIn     uint32
	ni        []byte
	ke        crypto.KeyExchange
	proposals []crypto.Proposal
	tsi, tsr  []wire.TrafficSelector
	finished  bool
}

func (r *childReq) finish(err error) {
	if r.finished {
		return
	}
	r.finished = true
	if r.ke != nil {
		r.ke.Wipe()
		r.ke = nil
	}
	if r.trap != nil {
		r.trap.pending.Store(false)
	}
	if r.done != nil {
		r.done <- err
	}
}

// childSA is one negotiated Child SA: a pair of ESP SAs and the policy they
// serve.
type childSA struct {
	ike      *ikeSA
	cfg      *config.Child
	uniqueID uint32
	spiIn    uint32
	spiOut   uint32
	dh       uint16
	esn      bool
	// ownsPolicy: the policy is this Child SA's to remove (not a trap's,
	// nor handed over to the SA that rekeyed it).
	ownsPolicy bool
	policy     *spd.Policy
	// in and out are set once the SA is installed, and never change; their
	// Cipher knows the ESP suite, in.Created is when the Child SA came up
	// and in.Local and in.Remote are the negotiated traffic selectors, so
	// that it keeps no copies of them.
	in, out   *sad.SA
	rekeyedBy *childSA // the SA that replaced it
	rekeyOf   *childSA // the SA this one replaced
	// The lowest nonce of the rekey exchange that created it, to settle
	// a collision with the peer's rekey (RFC 7296 2.8.1); "" for a Child
	// SA that no rekey made. A copy: the nonce may point into the
	// message it came in, which the SA would otherwise keep.
	nonceLow      string
	rekeying      bool // our rekey of it is in flight
	deleting      bool // our DELETE of it is queued or in flight
	outActive     bool // out is installed in the SAD
	initiatedByUs bool
}

func (c *childSA) name() string { return c.ike.name() + "/" + c.cfg.Name }

// localTS and remoteTS are the negotiated traffic selectors, made from
// those the SAs keep: one per prefix, the same set of packets as the
// ranges negotiated.
func (c *childSA) localTS() []wire.TrafficSelector  { return selectorsToTS(c.in.Local) }
func (c *childSA) remoteTS() []wire.TrafficSelector { return selectorsToTS(c.in.Remote) }

func (c *childSA) setPeer(p netip.AddrPort) {
	if c.out != nil && c.out.Encap {
		c.out.SetPeer(p)
		c.in.SetPeerOf(c.out)
	}
}

// queueChildLocked adds a Child SA request to the IKE SA.
func (sa *ikeSA) queueChildLocked(cfg *config.Child, tr *trap) *childReq {
	r := &childReq{cfg: cfg, trap: tr, done: make(chan error, 1)}
	sa.childReqs = append(sa.childReqs, r)
	return r
}

func (sa *ikeSA) nextChildReqLocked() *childReq {
	if len(sa.childReqs) == 0 {
		return nil
	}
	r := sa.childReqs[0]
	sa.childReqs[0] = nil // the array outlives the request otherwise
	sa.childReqs = sa.childReqs[1:]
	if len(sa.childReqs) == 0 {
		sa.childReqs = nil
	}
	return r
}

// startPendingChildrenLocked runs a CREATE_CHILD_SA for every queued
// request once the IKE SA is up.
func (sa *ikeSA) startPendingChildrenLocked() {
	for {
		r := sa.nextChildReqLocked()
		if r == nil {
			return
		}
		sa.enqueueLocked("create child "+r.cfg.Name, func() { sa.sendCreateChildLocked(r) })
	}
}

// espProposals are the child's ESP proposals as SA payload proposals with
// our SPI; without PFS (IKE_AUTH) the key exchange transforms are removed
// (RFC 7296 1.2).
func espProposals(list []crypto.Proposal, spi uint32, withKE bool) ([]wire.Proposal, []crypto.Proposal) {
	var spiB [4]byte
	binary.BigEndian.PutUint32(spiB[:], spi)
	var out []wire.Proposal
	var kept []crypto.Proposal
	for _, p := range list {
		q := crypto.Proposal{Protocol: uint8(wire.ProtocolESP)}
		for _, t := range p.Transforms {
			if t.Type == crypto.TransformDH && !withKE {
				continue
			}
			q.Transforms = append(q.Transforms, t)
		}
		out = append(out, toWireProposal(q, uint8(len(out)+1), wire.ProtocolESP, spiB[:]))
		kept = append(kept, q)
	}
	return out, kept
}

// trafficSelectors returns the configured selectors of one side; "dynamic"
// (no selectors) stands for the IKE SA's own outer address on that side.
func (sa *ikeSA) trafficSelectors(cfg *config.Child, local bool) []wire.TrafficSelector {
	ts := cfg.LocalTS
	addr := sa.local.Addr()
	if !local {
		ts = cfg.RemoteTS
		addr = sa.remote.Addr()
	}
	dynamic := ts.Dynamic
	out := selectorsToTS(ts.Selectors)
	if !dynamic && len(out) > 0 {
		return out
	}
	// "dynamic" is the virtual IP on the client's side of a remote-access
	// connection: ours when we asked for one (everything of its family
	// until the gateway assigned it), the client's when we handed it out.
	switch {
	case local && wantsVIPs(sa.conn) && len(sa.vips) > 0:
		return append(out, selectorsToTS(vipSelectors(sa.vips))...)
	case local && wantsVIPs(sa.conn):
		return append(out, selectorsToTS(anySelectors(connVIPs(sa.conn)))...)
	case !local && len(connPools(sa.conn)) > 0 && len(sa.vips) > 0:
		return append(out, selectorsToTS(vipSelectors(sa.vips))...)
	}
	return append(out, selectorToTS(spd.Selector{Prefix: netip.PrefixFrom(addr, addr.BitLen()), PortHigh: 65535}))
}

// childRequestPayloadsLocked builds SA, [Ni, KE,] TSi and TSr for a child
// request; withNonce is false inside IKE_AUTH.
func (sa *ikeSA) childRequestPayloadsLocked(r *childReq, createChild bool) ([]wire.Payload, error) {
	r.spiIn = sa.mgr.newChildSPI()
	withKE := createChild && firstGroup(r.cfg.ESPProposals) != 0
	wps, kept := espProposals(r.cfg.ESPProposals, r.spiIn, withKE)
	r.proposals = kept
	r.tsi = sa.trafficSelectors(r.cfg, true)
	r.tsr = sa.trafficSelectors(r.cfg, false)
	if r.rekey != nil {
		// Rekeying keeps the negotiated selectors (RFC 7296 2.8).
		r.tsi, r.tsr = r.rekey.localTS(), r.rekey.remoteTS()
	}
	var ps []wire.Payload
	if r.rekey != nil {
		var spi [4]byte
		binary.BigEndian.PutUint32(spi[:], r.rekey.spiIn)
		ps = append(ps, &wire.Notify{Protocol: wire.ProtocolESP, SPI: spi[:], NotifyType: wire.NotifyRekeySA})
	}
	ps = append(ps, &wire.SA{Proposals: wps})
	if createChild {
		r.ni = newNonce()
		ps = append(ps, &wire.Nonce{Data: r.ni})
		if withKE {
			g := firstGroup(r.cfg.ESPProposals)
			if r.rekey != nil && r.rekey.dh != 0 {
				g = r.rekey.dh
			}
			ke, err := crypto.NewKeyExchange(g)
			if err != nil {
				return nil, err
			}
			r.ke = ke
			ps = append(ps, &wire.KE{Group: g, Data: ke.Public()})
		}
	}
	ps = append(ps, &wire.TS{Initiator: true, Selectors: r.tsi}, &wire.TS{Initiator: false, Selectors: r.tsr})
	return ps, nil
}

// completeChildLocked finishes a child we asked for, from the response
// payloads; ni/nr are the nonces of the exchange and shared the PFS secret.
func (sa *ikeSA) completeChildLocked(r *childReq, ps []wire.Payload, ni, nr, shared []byte) error {
	if n := errorNotify(ps); n != nil {
		return errors.New(n.NotifyType.String())
	}
	saPl := payloadOf[*wire.SA](ps)
	if saPl == nil || len(saPl.Proposals) != 1 || len(saPl.Proposals[0].SPI) != 4 {
		return errors.New("response has no usable SA payload")
	}
	chosen := fromWireProposal(saPl.Proposals[0])
	if !proposalsContain(r.proposals, chosen) {
		return errors.New("responder chose an ESP proposal we did not offer")
	}
	suite, dh, esn, err := crypto.ChildFromProposal(chosen)
	if err != nil {
		return err
	}
	if dh != 0 && shared == nil {
		if r.ke == nil || dh != r.ke.Group() {
			return errors.New("responder chose PFS we did not ask for")
		}
		ke := payloadOf[*wire.KE](ps)
		if ke == nil || ke.Group != dh {
			return errors.New("response lacks the KE payload")
		}
		s, err := r.ke.SharedSecret(ke.Data)
		if err != nil {
			return err
		}
		shared = s
		defer clear(shared)
	}
	var tsi, tsr []wire.TrafficSelector
	for _, p := range ps {
		if t, ok := p.(*wire.TS); ok {
			if t.Initiator {
				tsi = t.Selectors
			} else {
				tsr = t.Selectors
			}
		}
	}
	if !subsetOf(tsi, r.tsi) || !subsetOf(tsr, r.tsr) {
		return errors.New("responder's traffic selectors are not within ours")
	}
	spiOut := binary.BigEndian.Uint32(saPl.Proposals[0].SPI)
	i2r, r2i, err := crypto.DeriveChildKeys(sa.suite.PRF, sa.keys.SKd(), shared, ni, nr, suite)
	if err != nil {
		return err
	}
	c := &childSA{ike: sa, cfg: r.cfg, uniqueID: sa.mgr.nextUnique.Add(1), spiIn: r.spiIn, spiOut: spiOut,
		esn: esn, dh: dh, initiatedByUs: true}
	if r.rekey != nil {
		c.nonceLow = string(lowest(ni, nr))
	}
	// Our traffic to the responder uses the initiator-to-responder keys.
	// In a rekey collision (RFC 7296 2.8.1) ours may be the redundant SA:
	// it starts sending only once handleCreateChildResponseLocked knows
	// it survives, so that the policy's current outbound SA is never one
	// that is deleted at once.
	collision := r.rekey != nil && sa.peerRekeyOf(r.rekey, nil) != nil
	if err := sa.installChildLocked(c, suite, tsi, tsr, i2r, r2i, r.rekey, r.trap, collision); err != nil {
		return err
	}
	r.finish(nil)
	return nil
}

func lowest(nonces ...[]byte) []byte {
	var low []byte
	for _, n := range nonces {
		if low == nil || bytes.Compare(n, low) < 0 {
			low = n
		}
	}
	return low
}

// respondChildLocked handles the child part of an IKE_AUTH or
// CREATE_CHILD_SA request and returns the response payloads. rekey is the
// Child SA the request rekeys (CREATE_CHILD_SA with REKEY_SA).
func (sa *ikeSA) respondChildLocked(ps []wire.Payload, ni, nr []byte, peerKE *wire.KE, rekey *childSA, createChild bool) []wire.Payload {
	saPl := payloadOf[*wire.SA](ps)
	var tsi, tsr []wire.TrafficSelector
	for _, p := range ps {
		if t, ok := p.(*wire.TS); ok {
			if t.Initiator {
				tsi = t.Selectors
			} else {
				tsr = t.Selectors
			}
		}
	}
	if saPl == nil || tsi == nil || tsr == nil {
		return []wire.Payload{notify(wire.NotifyInvalidSyntax)}
	}
	// Pick the child config whose selectors fit (RFC 7296 2.9).
	var (
		cfg        *config.Child
		nTSi, nTSr []wire.TrafficSelector
	)
	if rekey != nil {
		cfg = rekey.cfg
		nTSi, nTSr = narrow(tsi, rekey.remoteTS()), narrow(tsr, rekey.localTS())
	} else {
		for _, ch := range sa.conn.Children {
			a := narrow(tsi, sa.trafficSelectors(ch, false))
			b := narrow(tsr, sa.trafficSelectors(ch, true))
			if len(a) > 0 && len(b) > 0 {
				cfg, nTSi, nTSr = ch, a, b
				break
			}
		}
	}
	if cfg == nil || len(nTSi) == 0 || len(nTSr) == 0 {
		sa.log.Info("traffic selectors unacceptable", "tsi", fmtTS(tsi), "tsr", fmtTS(tsr))
		return []wire.Payload{notify(wire.NotifyTSUnacceptable)}
	}
	var offered []crypto.Proposal
	var offeredSPIs []uint32
	for _, p := range saPl.Proposals {
		if p.Protocol == wire.ProtocolESP && len(p.SPI) == 4 {
			offered = append(offered, fromWireProposal(p))
			offeredSPIs = append(offeredSPIs, binary.BigEndian.Uint32(p.SPI))
		}
	}
	_, local := espProposals(cfg.ESPProposals, 0, createChild)
	chosen, idx, ok := crypto.SelectProposal(local, offered)
	if !ok && !createChild {
		// Some initiators leave the KE transforms in IKE_AUTH; accept our
		// PFS proposals without the group there.
		chosen, idx, ok = crypto.SelectProposal(stripDH(local), stripDHAll(offered))
	}
	if !ok {
		sa.log.Info("no ESP proposal chosen", "child", cfg.Name, "notify", wire.NotifyNoProposalChosen.String())
		return []wire.Payload{notify(wire.NotifyNoProposalChosen)}
	}
	suite, dh, esn, err := crypto.ChildFromProposal(chosen)
	if err != nil {
		return []wire.Payload{notify(wire.NotifyNoProposalChosen)}
	}
	if !createChild {
		dh = 0
	}
	var shared []byte
	var resp []wire.Payload
	spiIn := sa.mgr.newChildSPI()
	var spiB [4]byte
	binary.BigEndian.PutUint32(spiB[:], spiIn)
	wchosen := toWireProposal(chosen, saPl.Proposals[idx].Num, wire.ProtocolESP, spiB[:])
	resp = append(resp, &wire.SA{Proposals: []wire.Proposal{wchosen}})
	if createChild {
		resp = append(resp, &wire.Nonce{Data: nr})
	}
	if dh != 0 {
		if peerKE == nil || peerKE.Group != dh {
			return []wire.Payload{notifyData(wire.NotifyInvalidKEPayload, []byte{byte(dh >> 8), byte(dh)})}
		}
		ke, err := crypto.NewKeyExchange(dh)
		if err != nil {
			return []wire.Payload{notify(wire.NotifyNoProposalChosen)}
		}
		shared, err = ke.SharedSecret(peerKE.Data)
		if err != nil {
			ke.Wipe()
			return []wire.Payload{notify(wire.NotifyInvalidSyntax)}
		}
		defer clear(shared)
		resp = append(resp, &wire.KE{Group: dh, Data: ke.Public()})
		ke.Wipe()
	}
	resp = append(resp, &wire.TS{Initiator: true, Selectors: nTSi}, &wire.TS{Initiator: false, Selectors: nTSr})
	i2r, r2i, err := crypto.DeriveChildKeys(sa.suite.PRF, sa.keys.SKd(), shared, ni, nr, suite)
	if err != nil {
		return []wire.Payload{notify(wire.NotifyNoProposalChosen)}
	}
	c := &childSA{ike: sa, cfg: cfg, uniqueID: sa.mgr.nextUnique.Add(1), spiIn: spiIn, spiOut: offeredSPIs[idx],
		esn: esn, dh: dh}
	if rekey != nil {
		c.nonceLow = string(lowest(ni, nr))
	}
	// We are the responder: we send with the responder-to-initiator keys.
	// As the responder of a rekey we keep sending on the old SA until the
	// initiator deletes it, so that nothing in flight is lost (RFC 7296
	// 2.8: make-before-break).
	if err := sa.installChildLocked(c, suite, nTSr, nTSi, r2i, i2r, rekey, sa.mgr.trapFor(sa.conn, cfg), rekey != nil); err != nil {
		sa.log.Warn("cannot install Child SA", "err", err)
		return []wire.Payload{notify(wire.NotifyNoAdditionalSAs)}
	}
	return resp
}

func stripDH(list []crypto.Proposal) []crypto.Proposal { return stripDHAll(list) }

func stripDHAll(list []crypto.Proposal) []crypto.Proposal {
	out := make([]crypto.Proposal, 0, len(list))
	for _, p := range list {
		q := crypto.Proposal{Protocol: p.Protocol}
		for _, t := range p.Transforms {
			if t.Type != crypto.TransformDH {
				q.Transforms = append(q.Transforms, t)
			}
		}
		out = append(out, q)
	}
	return out
}

func fmtTS(list []wire.TrafficSelector) string {
	var b bytes.Buffer
	for i, t := range list {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s-%s", t.StartAddr, t.EndAddr)
		if t.IPProtocol != 0 {
			fmt.Fprintf(&b, "[%d/%d-%d]", t.IPProtocol, t.StartPort, t.EndPort)
		}
	}
	return b.String()
}

// installChildLocked puts a negotiated Child SA into the SAD and SPD: the
// inbound SA first, then the policy and the outbound SA, so that nothing
// the peer sends once it has the SA is dropped. A rekeyed child hands over
// its policy; its own SAs stay until it is deleted (make-before-break).
// With deferOut the outbound SA waits for activateOutLocked.
func (sa *ikeSA) installChildLocked(c *childSA, suite crypto.ESPSuite, localTS, remoteTS []wire.TrafficSelector, outKey, inKey []byte, old *childSA, tr *trap, deferOut bool) error {
	m := sa.mgr
	outCipher, err := crypto.NewESPCipher(suite, outKey)
	clear(outKey)
	if err != nil {
		return err
	}
	inCipher, err := crypto.NewESPCipher(suite, inKey)
	clear(inKey)
	if err != nil {
		outCipher.Wipe()
		return err
	}
	local := configSelectors(tsListToSelectors(localTS), c.cfg)
	remote := configSelectors(tsListToSelectors(remoteTS), c.cfg)
	name := c.name() // one copy for the policy and both SAs
	switch {
	case old != nil && old.policy != nil:
		c.policy, c.ownsPolicy = old.policy, old.ownsPolicy
		old.ownsPolicy = false
		if !sa.hasChild(old) && m.spd.Add(c.policy) == nil {
			// The peer deleted old while we rekeyed it (the other side
			// of a 2.8.1 collision), and its policy went with it.
			c.ownsPolicy = true
		}
	case tr != nil && sameSelectors(tr.policy.Local, local) && sameSelectors(tr.policy.Remote, remote):
		c.policy = tr.policy
	default:
		p := &spd.Policy{ID: m.allocPolicyID(), Name: name, Action: spd.Protect, Local: local, Remote: remote}
		p.Priority = spd.AutoPriority(p)
		if p.Priority > 0 {
			p.Priority-- // ahead of an equal trap policy
		}
		if c.cfg.Priority != 0 {
			p.Priority = c.cfg.Priority
		}
		c.policy, c.ownsPolicy = p, true
	}
	life := childLifetime(c.cfg)
	encap := sa.natt || sa.conn.Encap
	peer := sa.remote
	if encap {
		peer = netip.AddrPortFrom(sa.remote.Addr(), sa.remote.Port())
		if !sa.natt {
			peer = netip.AddrPortFrom(sa.remote.Addr(), peerNATTPort(sa.remote.Port(), m.cfg.IKE))
		}
	}
	window := c.cfg.ReplayWindow
	c.in = &sad.SA{Name: name, Dir: sad.Inbound, SPI: c.spiIn, PolicyID: c.policy.ID, Cipher: inCipher,
		ESN: c.esn, Local: local, Remote: remote, LocalAddr: sa.local.Addr(), Encap: encap,
		Lifetime: life, Created: time.Now(), Replay: esp.NewReplayWindow(window), Owner: c}
	c.out = &sad.SA{Name: name, Dir: sad.Outbound, SPI: c.spiOut, PolicyID: c.policy.ID, Cipher: outCipher,
		ESN: c.esn, Local: local, Remote: remote, LocalAddr: sa.local.Addr(), Encap: encap, Lifetime: life, Created: c.in.Created, Owner: c}
	c.in.SetPeer(peer)
	c.out.SetPeerOf(c.in)
	if err := m.sad.Add(c.in); err != nil {
		inCipher.Wipe()
		outCipher.Wipe()
		return err
	}
	if c.ownsPolicy && (old == nil || old.policy != c.policy) {
		if err := m.spd.Add(c.policy); err != nil {
			m.sad.Delete(c.in)
			outCipher.Wipe()
			return err
		}
	}
	sa.children = append(sa.children, c)
	if old != nil {
		old.rekeyedBy = c
	}
	if deferOut {
		// Fall back to switching after a while should the initiator never
		// delete the old SA.
		time.AfterFunc(deferOutFallback, func() {
			sa := c.ike
			sa.mu.Lock()
			defer sa.mu.Unlock()
			if sa.hasChild(c) {
				sa.activateOutLocked(c)
			}
		})
	} else if err := sa.activateOutLocked(c); err != nil {
		sa.children = sa.children[:len(sa.children)-1]
		m.sad.Delete(c.in)
		return err
	}
	if m.log.Enabled(context.Background(), slog.LevelInfo) {
		// The arguments cost about 14 allocations: none at log_level warn.
		sa.log.Info("Child SA installed", "child", c.cfg.Name, "spi_in", fmt.Sprintf("%08x", c.spiIn),
			"spi_out", fmt.Sprintf("%08x", c.spiOut), "esp", suite.Name, "local_ts", fmtTS(localTS),
			"remote_ts", fmtTS(remoteTS), "rekey", old != nil)
	}
	if m.opts.Flush != nil && tr != nil && tr.policy != c.policy {
		m.opts.Flush(tr.policy.ID)
	}
	return nil
}

// inboundLinger is how long a deleted Child SA still accepts packets.
const inboundLinger = time.Second

// deferOutFallback bounds how long a rekey responder keeps sending on the
// old SA when the initiator does not delete it.
const deferOutFallback = 5 * time.Second

// activateOutLocked makes c's outbound SA the one its policy uses.
func (sa *ikeSA) activateOutLocked(c *childSA) error {
	if c.outActive || c.out == nil {
		return nil
	}
	if err := sa.mgr.sad.Add(c.out); err != nil {
		return err
	}
	c.outActive = true
	if f := sa.mgr.opts.Flush; f != nil {
		f(c.policy.ID)
	}
	return nil
}

func sameSelectors(a, b []spd.Selector) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Prefix.Masked() != b[i].Prefix.Masked() || a[i].Proto != b[i].Proto || a[i].PortLow != b[i].PortLow || a[i].PortHigh != b[i].PortHigh {
			return false
		}
	}
	return true
}

// childLifetime applies swanctl's rekey/life/rand settings: the soft limit
// is rekey minus a random part of rand (so that both ends do not rekey at
// once), the hard limit is life. The Child SA's two SAs share the result.
func childLifetime(cfg *config.Child) *sad.Lifetime {
	jitter := func(v, r uint64) uint64 {
		if v == 0 || r == 0 {
			return v
		}
		d := rand.Uint64N(r + 1)
		if d >= v {
			return v
		}
		return v - d
	}
	lt := &sad.Lifetime{
		SoftTime:    time.Duration(jitter(uint64(cfg.RekeyTime), uint64(cfg.RandTime))),
		HardTime:    cfg.LifeTime,
		SoftBytes:   jitter(cfg.RekeyBytes, cfg.RandBytes),
		HardBytes:   cfg.LifeBytes,
		SoftPackets: jitter(cfg.RekeyPackets, cfg.RandPackets),
		HardPackets: cfg.LifePackets,
	}
	// An ESP SA without ESN must be rekeyed before its 2^32 sequence
	// numbers run out (RFC 4303 3.3.3); the SAD raises that event itself.
	return lt
}

// uninstall removes the child's SAs, and its policy if it owns it.
func (c *childSA) uninstall() {
	m := c.ike.mgr
	if c.out != nil {
		m.sad.Delete(c.out)
	}
	if in := c.in; in != nil {
		// The inbound SA lingers a moment: the peer may have switched to
		// the new SA only just before it answered our DELETE, and packets
		// it sent on the old one are still on their way.
		time.AfterFunc(inboundLinger, func() { m.sad.Delete(in) })
	}
	if c.ownsPolicy && c.policy != nil {
		m.spd.Remove(c.policy.ID)
		c.ownsPolicy = false
	}
}
