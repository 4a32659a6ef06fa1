//go:build linux

package soak

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/esptun/esptun/control"
)

// TestPeerKilled kills one daemon with SIGKILL, so that no DELETE leaves it.
// The survivor must find out through dead peer detection (RFC 7296 2.4)
// within the bound its settings give, and remove the IKE SA and its ESP
// SAs. Then the dead daemon is started again with the same configuration
// and the tunnel must come back without anyone's help:
//
//   - kill-responder: B dies; A, the initiator, has dpd_action = "restart"
//     and keyingtries = 0, so it keeps initiating until B answers again.
//   - kill-initiator (full run only): A dies; B clears its state
//     (dpd_action = "clear"), and A's start_action = "start" sets the
//     tunnel up again when A comes back.
//
// With dpd_delay d, retransmit_timeout r, base x and n retransmissions,
// the survivor sends its liveness check at most 2d after it last heard
// from the peer and gives up r(1+x+...+x^n) after sending it.
func TestPeerKilled(t *testing.T) {
	const (
		dpd     = time.Second
		timeout = 500 * time.Millisecond
		base    = 1.5
		tries   = 2
		slack   = 1500 * time.Millisecond // timer lag, status polling, the lingering inbound SAs
	)
	var giveUp time.Duration
	for i, w := 0, float64(timeout); i <= tries; i, w = i+1, w*base {
		giveUp += time.Duration(w)
	}
	bound := 2*dpd + giveUp + slack
	comeBack := 2*giveUp + 5*time.Second

	cases := []string{"kill-responder"}
	if full {
		cases = append(cases, "kill-initiator")
	}
	for _, name := range cases {
		t.Run(name, func(t *testing.T) {
			common := gwConfig{dpdDelay: dpd.String(), retransmitTimeout: timeout.String(), retransmitBase: base, retransmitTries: ptr(tries)}
			a, b := common, common
			a.startAction, a.dpdAction, a.keyingTries = "start", "restart", ptr(0)
			l := newLab(t, labConfig{topo: direct, a: a, b: b})
			sa, _ := l.established(t, 20*time.Second, true)
			victim, survivor := l.b, l.a
			if name == "kill-initiator" {
				victim, survivor = l.a, l.b
			}
			survivor.pingEventually(t, victim, 10*time.Second)
			// Traffic right up to the kill: the survivor has just heard
			// from its peer.
			survivor.ns.Ping(survivor.inner, victim.inner, 2, 56, 50*time.Millisecond, time.Second)
			old := sa.Children[0]
			victim.kill(t)
			killed := time.Now()

			// Cleaned up: no IKE SA with the old SPIs, no established IKE
			// SA at all, and none of the old ESP SAs.
			var gone time.Duration
			var last *control.Status
			if !waitFor(bound+5*time.Second, func() bool {
				st := survivor.status(t)
				last = st
				for _, ike := range st.IKESAs {
					if ike.SPIi == sa.SPIi || ike.State == "ESTABLISHED" {
						return false
					}
				}
				for _, esp := range st.SAs {
					for _, spi := range []string{old.SPIIn, old.SPIOut} {
						if strings.EqualFold(trimHex(esp.SPI), trimHex(spi)) {
							return false
						}
					}
				}
				gone = time.Since(killed)
				return true
			}) {
				j, _ := json.MarshalIndent(last, "", "  ")
				t.Fatalf("gateway %s still holds the old SAs %v after its peer was killed: %s", survivor.name, bound+5*time.Second, j)
			}
			t.Logf("DPD: %s removed the dead IKE SA and its ESP SAs %v after %s was killed (bound %v)", survivor.name, gone.Round(time.Millisecond), victim.name, bound)
			if gone > bound {
				t.Errorf("DPD took %v, more than the %v the settings allow", gone.Round(time.Millisecond), bound)
			}
			if !survivor.running() {
				t.Fatalf("gateway %s exited (%v) after its peer died", survivor.name, survivor.err)
			}

			// Start the victim again, as it was.
			time.Sleep(500 * time.Millisecond)
			restarted := time.Now()
			victim.start(t)
			victim.waitReady(t)
			na, _ := l.established(t, comeBack, false)
			up := time.Since(restarted)
			l.a.pingEventually(t, l.b, 5*time.Second)
			back := time.Since(restarted)
			if na.SPIi == sa.SPIi {
				t.Errorf("the tunnel came back on the old IKE SA %s", sa.SPIi)
			}
			t.Logf("after the restart of %s: IKE SA and Child SA up in %v, first ping answered after %v", victim.name, up.Round(time.Millisecond), back.Round(time.Millisecond))
			if back > comeBack {
				t.Errorf("the tunnel took %v to come back, more than %v", back.Round(time.Millisecond), comeBack)
			}
			how := "A keeps initiating (dpd_action restart, keyingtries 0)"
			if name == "kill-initiator" {
				how = "A initiates on start (start_action start)"
			}
			record(t, "peer killed: "+name,
				fmt.Sprintf("DPD clears the dead peer's SAs within %v (dpd_delay %v, retransmit %v x%v, %d tries); the tunnel comes back by itself after the restart: %s", bound, dpd, timeout, base, tries, how),
				fmt.Sprintf("cleared after %v; after the restart, SAs up in %v, traffic in %v", gone.Round(time.Millisecond), up.Round(time.Millisecond), back.Round(time.Millisecond)))
		})
	}
}
