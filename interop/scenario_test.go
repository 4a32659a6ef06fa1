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

	rekeyed := func(oldIn []string) func(peerState) bool {
		return func(st peerState) bool {
			if ike {
				for _, i := range st.IKE {
					if i.Name == connName && strings.EqualFold(i.State, "ESTABLISHED") && i.SPIi != oldIKE.SPIi {
						return len(st.installed("in")) > 0 && len(st.installed("out")) > 0
					}
				}
				return false
			}
			in := inSPIs(st)
			if len(in) == 0 || len(st.installed("out")) == 0 {
				return false
			}
			for _, s := range in {
				if slices.Contains(oldIn, s) {
					return false
				}
			}
			return true
		}
	}

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
