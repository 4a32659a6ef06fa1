//go:build interop && linux

package interop

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// Scenarios shared by the strongSwan <-> strongSwan smoke test and the
// esptun matrix. Each fails t with what it saw.

const (
	upTimeout   = 30 * time.Second
	goneTimeout = 20 * time.Second
)

// bringUp has initiator initiate (unless it does so by itself at start:
// selfStart) and waits until both peers report the connection up with
// matching SPIs and identities.
func bringUp(t *testing.T, initiator, responder peer, selfStart bool) {
	t.Helper()
	if !selfStart {
		if err := initiator.initiate(); err != nil {
			fatalf(t, "%v initiating: %v", initiator, err)
		}
	}
	waitUp(t, initiator, upTimeout)
	waitUp(t, responder, upTimeout)
	checkPaired(t, initiator, responder)
}

func inSPIs(st peerState) []string {
	var out []string
	for _, c := range st.installed("in") {
		out = append(out, c.SPI)
	}
	return out
}

// rekeyUnderLoad has actor rekey its Child SA (ike false) or IKE SA (ike
// true) while a paced TCP transfer from moon to sun runs, and checks that
// the transfer arrives intact, that both peers end up with new SPIs, and
// that the tunnel still carries pings afterwards.
func rekeyUnderLoad(t *testing.T, l *lab, actor, other peer, ike bool) {
	t.Helper()
	before, err := actor.state()
	if err != nil {
		fatalf(t, "%v", err)
	}
	oldIKE, ok := before.established()
	if !ok {
		fatalf(t, "%v has no established IKE SA before the rekey: %v", actor, before)
	}
	oldIn := inSPIs(before)
	otherBefore, err := other.state()
	if err != nil {
		fatalf(t, "%v", err)
	}
	otherOldIn := inSPIs(otherBefore)

	rekeyed := func(oldIn []string) func(peerState) bool { return rekeyedCond(ike, oldIKE, oldIn) }

	what := "Child SA"
	if ike {
		what = "IKE SA"
	}
	var duringErr error
	const size, rate = 24 << 20, 4 << 20 // about six seconds of traffic
	err = tcpTransfer(l.moon, l.sun, size, rate, func() {
		time.Sleep(1500 * time.Millisecond)
		var err error
		if ike {
			err = actor.rekeyIKE()
		} else {
			err = actor.rekeyChild()
		}
		if err != nil {
			duringErr = err
			return
		}
		if _, err := waitState(actor, 20*time.Second, rekeyed(oldIn)); err != nil {
			duringErr = err
			return
		}
		if _, err := waitState(other, 20*time.Second, rekeyed(otherOldIn)); err != nil {
			duringErr = err
		}
	})
	if duringErr != nil {
		fatalf(t, "rekeying the %s from %v: %v", what, actor, duringErr)
	}
	if err != nil {
		fatalf(t, "TCP transfer across the %s rekey: %v", what, err)
	}
	checkPaired(t, actor, other)
	pingBoth(t, l, 3)
	t.Logf("%v rekeyed the %s during a %d-byte transfer; it arrived intact", actor, what, size)
}

// rekeyedCond holds once a peer lists an established IKE SA with an
// initiator SPI other than old's (ike) or only inbound Child SAs whose SPIs
// are not in oldIn (!ike), with Child SAs installed both ways.
func rekeyedCond(ike bool, old ikeSA, oldIn []string) func(peerState) bool {
	return func(st peerState) bool {
		if len(st.installed("in")) == 0 || len(st.installed("out")) == 0 {
			return false
		}
		if ike {
			for _, i := range st.IKE {
				if i.Name == connName && strings.EqualFold(i.State, "ESTABLISHED") && i.SPIi != old.SPIi {
					return true
				}
			}
			return false
		}
		for _, s := range inSPIs(st) {
			if slices.Contains(oldIn, s) {
				return false
			}
		}
		return true
	}
}

// rekeyChildIdle has actor rekey the Child SA with no traffic running and
// waits until both peers use the new one.
func rekeyChildIdle(t *testing.T, actor, other peer) {
	t.Helper()
	var olds [2][]string
	for i, p := range []peer{actor, other} {
		st, err := p.state()
		if err != nil {
			fatalf(t, "%v", err)
		}
		olds[i] = inSPIs(st)
	}
	if err := actor.rekeyChild(); err != nil {
		fatalf(t, "%v rekeying the Child SA: %v", actor, err)
	}
	for i, p := range []peer{actor, other} {
		if st, err := waitState(p, 20*time.Second, rekeyedCond(false, ikeSA{}, olds[i])); err != nil {
			fatalf(t, "after %v's Child SA rekey: %v (%v)", actor, err, st)
		}
	}
}

// terminate has actor delete the IKE SA and checks that both peers end up
// with no SA of the connection.
func terminate(t *testing.T, actor, other peer) {
	t.Helper()
	if err := actor.terminateIKE(); err != nil {
		fatalf(t, "%v terminating: %v", actor, err)
	}
	if st, err := waitState(other, goneTimeout, peerState.empty); err != nil {
		fatalf(t, "after %v's DELETE, %v still lists SAs: %v (%v)", actor, other, st, err)
	}
	if st, err := waitState(actor, goneTimeout, peerState.empty); err != nil {
		fatalf(t, "after its own DELETE, %v still lists SAs: %v (%v)", actor, st, err)
	}
	for _, p := range []peer{actor, other} {
		if !p.alive() {
			fatalf(t, "%v exited after the DELETE", p)
		}
	}
}

// dpdNotices kills victim with SIGKILL and checks that survivor's dead peer
// detection removes the SAs within limit.
func dpdNotices(t *testing.T, victim, survivor peer, limit time.Duration) {
	t.Helper()
	victim.kill()
	start := time.Now()
	if st, err := waitState(survivor, limit, peerState.empty); err != nil {
		fatalf(t, "%v did not notice %v's death within %v: %v (%v)", survivor, victim, limit, st, err)
	}
	t.Logf("%v cleared the SAs %v after %v was killed", survivor, time.Since(start).Round(100*time.Millisecond), victim)
	if !survivor.alive() {
		fatalf(t, "%v exited after its peer died", survivor)
	}
}

// checkAuthLogged checks in charon's log that it authenticated itself with
// the signature scheme the cell is about (RFC 7427 digital signatures).
func checkAuthLogged(t *testing.T, c strongSwan, auth authKind) {
	t.Helper()
	want := map[authKind]string{
		authPSK:    "with pre-shared key successful",
		authECDSA:  "(myself) with ECDSA",
		authRSAPSS: "(myself) with RSA_EMSA_PSS",
	}[auth]
	if !strings.Contains(c.log(), want) {
		errorf(t, "%v's log does not say it authenticated %q", c, want)
	}
}

// expectRefused has initiator try to set up the connection (unless it does
// so by itself at start: selfStart) where the peers disagree, and checks
// that both logs show the error notify, that no Child SA exists on either
// side (and, with ikeToo, no established IKE SA either), and that neither
// daemon died.
func expectRefused(t *testing.T, initiator, responder peer, selfStart bool, notify string, ikeToo bool) {
	t.Helper()
	if !selfStart {
		if err := initiator.initiate(); err == nil {
			t.Logf("%v: initiate reported success", initiator)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for !initiator.sawNotify(notify) || !responder.sawNotify(notify) {
		if time.Now().After(deadline) {
			fatalf(t, "%s not logged within 30s: %v %v, %v %v", notify,
				initiator, initiator.sawNotify(notify), responder, responder.sawNotify(notify))
		}
		time.Sleep(200 * time.Millisecond)
	}
	time.Sleep(time.Second) // let any DELETE that follows land
	for _, p := range []peer{initiator, responder} {
		if !p.alive() {
			fatalf(t, "%v died after %s", p, notify)
		}
		st, err := p.state()
		if err != nil {
			fatalf(t, "%v", err)
		}
		if len(st.installed("in")) > 0 || len(st.installed("out")) > 0 {
			errorf(t, "%v installed a Child SA despite %s: %v", p, notify, st)
		}
		if _, ok := st.established(); ok && ikeToo {
			errorf(t, "%v has an established IKE SA despite %s: %v", p, notify, st)
		}
	}
}

// suite is one cell of the proposal matrix, with the algorithm names
// strongSwan reports over vici once it is negotiated.
type suite struct {
	name     string
	ike, esp string
	wantIKE  []string // substrings of the IKE SA's proposal
	wantESP  []string // substrings of the Child SA's algorithms
	pfs      string   // the group a rekeyed Child SA uses (RFC 7296 1.3.1), "" without PFS
}

var suites = []suite{
	{"aes128gcm16-x25519", "aes128gcm16-prfsha256-x25519", "aes128gcm16",
		[]string{"AES_GCM_16-128", "PRF_HMAC_SHA2_256", "CURVE_25519"}, []string{"AES_GCM_16-128"}, ""},
	{"aes256gcm16-ecp384-pfs", "aes256gcm16-prfsha384-ecp384", "aes256gcm16-ecp384",
		[]string{"AES_GCM_16-256", "PRF_HMAC_SHA2_384", "ECP_384"}, []string{"AES_GCM_16-256"}, "ECP_384"},
	{"chacha20poly1305-x25519", "chacha20poly1305-prfsha256-x25519", "chacha20poly1305",
		[]string{"CHACHA20_POLY1305", "PRF_HMAC_SHA2_256", "CURVE_25519"}, []string{"CHACHA20_POLY1305"}, ""},
	{"aes256-sha256-modp2048", "aes256-sha256-modp2048", "aes256-sha256",
		[]string{"AES_CBC-256", "HMAC_SHA2_256_128", "PRF_HMAC_SHA2_256", "MODP_2048"}, []string{"AES_CBC-256", "HMAC_SHA2_256_128"}, ""},
}

// checkNegotiated checks on strongSwan's side that the SAs use s's
// algorithms. The Child SA made with the IKE SA has no key exchange of its
// own (RFC 7296 1.2); a rekeyed one (rekeyed) uses the PFS group.
func checkNegotiated(t *testing.T, p strongSwan, s suite, rekeyed bool) {
	t.Helper()
	st, err := p.state()
	if err != nil {
		fatalf(t, "%v", err)
	}
	ike, _ := st.established()
	for _, w := range s.wantIKE {
		if !strings.Contains(ike.Proposal, w) {
			errorf(t, "IKE SA proposal %q lacks %s", ike.Proposal, w)
		}
	}
	for _, c := range st.installed("in") {
		want := s.wantESP
		if rekeyed && s.pfs != "" {
			want = append(slices.Clone(want), s.pfs)
		}
		for _, w := range want {
			if !strings.Contains(c.ESP, w) {
				errorf(t, "Child SA algorithms %q lack %s", c.ESP, w)
			}
		}
		if !rekeyed && s.pfs != "" && strings.Contains(c.ESP, s.pfs) {
			errorf(t, "the first Child SA %q claims a key exchange of its own", c.ESP)
		}
	}
}
