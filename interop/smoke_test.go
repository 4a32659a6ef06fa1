//go:build interop && linux

package interop

import (
	"testing"
	"time"
)

// TestStrongSwanSmoke proves the harness with strongSwan on both hosts:
// two charon instances with kernel-libipsec, ESP-in-UDP forced. If this
// fails, the esptun cells cannot be trusted either.
func TestStrongSwanSmoke(t *testing.T) {
	requirePrereq(t)
	for _, auth := range []authKind{authPSK, authECDSA, authRSAPSS} {
		t.Run(string(auth), func(t *testing.T) {
			l := newLab(t)
			l.moon.innerOnLoopback(t)
			l.sun.innerOnLoopback(t)
			cm, cs := startCharon(t, l.moon), startCharon(t, l.sun)
			spec := defaultSpec()
			spec.auth = auth
			spec.dpd = 2 * time.Second
			cm.load(t, l.sun, spec)
			cs.load(t, l.moon, spec)
			moon, sun := strongSwan{cm}, strongSwan{cs}

			step := func(name string, fn func(t *testing.T)) {
				t.Run(name, func(t *testing.T) {
					cell(t)
					fn(t)
				})
			}
			ok := step
			ok("up", func(t *testing.T) {
				bringUp(t, moon, sun, false)
				checkAuthLogged(t, moon, auth)
				checkPeerAuthLogged(t, moon, l.sun.id, auth)
			})
			ok("ping", func(t *testing.T) { pingBoth(t, l, 5) })
			ok("tcp", func(t *testing.T) {
				transferBoth(t, l, 8<<20)
				checkCounted(t, moon, "out", 8<<20)
				checkCounted(t, sun, "in", 8<<20)
			})
			if auth != authPSK {
				// One pass through the rest is enough to prove them.
				return
			}
			ok("rekey-child-by-responder", func(t *testing.T) { rekeyUnderLoad(t, l, sun, moon, false) })
			ok("rekey-ike-by-initiator", func(t *testing.T) { rekeyUnderLoad(t, l, moon, sun, true) })
			ok("terminate-by-responder", func(t *testing.T) { terminate(t, sun, moon) })
			ok("dpd", func(t *testing.T) {
				bringUp(t, moon, sun, false)
				dpdNotices(t, sun, moon, 30*time.Second)
			})
		})
	}
	for _, s := range suites {
		t.Run("suite/"+s.name, func(t *testing.T) {
			cell(t)
			l := newLab(t)
			l.moon.innerOnLoopback(t)
			l.sun.innerOnLoopback(t)
			cm, cs := startCharon(t, l.moon), startCharon(t, l.sun)
			spec := defaultSpec()
			spec.ike, spec.esp = s.ike, s.esp
			cm.load(t, l.sun, spec)
			cs.load(t, l.moon, spec)
			moon, sun := strongSwan{cm}, strongSwan{cs}
			bringUp(t, moon, sun, false)
			checkNegotiated(t, sun, s, false)
			pingBoth(t, l, 3)
			rekeyChildIdle(t, moon, sun)
			checkNegotiated(t, sun, s, true)
			pingBoth(t, l, 3)
		})
	}
	refused := []struct {
		name   string
		notify string
		ikeToo bool
		sun    func(*connSpec)
	}{
		{"ike-proposal-mismatch", "NO_PROPOSAL_CHOSEN", true, func(s *connSpec) { s.ike = "aes256-sha256-modp2048" }},
		{"esp-proposal-mismatch", "NO_PROPOSAL_CHOSEN", false, func(s *connSpec) { s.esp = "aes256-sha256" }},
		{"wrong-psk", "AUTHENTICATION_FAILED", true, func(s *connSpec) { s.psk = "not-the-right-psk-0123456789" }},
	}
	for _, r := range refused {
		t.Run(r.name, func(t *testing.T) {
			cell(t)
			l := newLab(t)
			l.moon.innerOnLoopback(t)
			l.sun.innerOnLoopback(t)
			cm, cs := startCharon(t, l.moon), startCharon(t, l.sun)
			spec := defaultSpec()
			cm.load(t, l.sun, spec)
			r.sun(&spec)
			cs.load(t, l.moon, spec)
			expectRefused(t, strongSwan{cm}, strongSwan{cs}, false, r.notify, r.ikeToo)
		})
	}
}
