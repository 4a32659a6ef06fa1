//go:build interop && linux

package interop

import (
	"fmt"
	"regexp"
	"testing"
	"time"
)

// The esptun <-> strongSwan matrix. esptun always runs on moon, charon on
// sun; direction says who initiates. Each leaf subtest is one cell of the
// summary. Cells skip while esptun refuses [connections] (a version
// without IKE) and fail on anything else.

type direction struct {
	name            string
	esptunInitiates bool
}

var directions = []direction{
	{"esptun-initiates", true},
	{"strongswan-initiates", false},
}

var auths = []authKind{authPSK, authECDSA, authRSAPSS}

// pair is esptun and strongSwan set up on a fresh lab.
type pair struct {
	l          *lab
	es         esptunPeer
	ss         strongSwan
	init, resp peer
	esInit     bool
}

// newPair builds a lab, loads ssSpec into a charon on sun and runs esptun
// with esSpec on moon; the initiator starts the exchange in up (esptun
// initiates by itself, start_action = "start").
func newPair(t *testing.T, d direction, esSpec, ssSpec connSpec) *pair {
	t.Helper()
	requireEsptunIKE(t)
	l := newLab(t)
	l.sun.innerOnLoopback(t)
	cs := startCharon(t, l.sun)
	ssSpec.start = false
	cs.load(t, l.moon, ssSpec)
	esSpec.start = d.esptunInitiates
	p := &pair{l: l, ss: strongSwan{cs}, esInit: d.esptunInitiates}
	p.es = esptunPeer{startEsptun(t, l.moon, l.sun, esSpec)}
	if d.esptunInitiates {
		p.init, p.resp = p.es, p.ss
	} else {
		p.init, p.resp = p.ss, p.es
	}
	return p
}

func (p *pair) up(t *testing.T) {
	t.Helper()
	bringUp(t, p.init, p.resp, p.esInit)
}

func TestEsptunInterop(t *testing.T) {
	requirePrereq(t)
	run := func(t *testing.T, name string, fn func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			cell(t)
			fn(t)
		})
	}
	for _, d := range directions {
		t.Run(d.name, func(t *testing.T) {
			// Proposals x authentication: up, traffic both ways, and for
			// PFS suites a Child SA rekey that must use the group.
			for _, s := range suites {
				for _, a := range auths {
					run(t, s.name+"/"+string(a), func(t *testing.T) {
						spec := defaultSpec()
						spec.ike, spec.esp, spec.auth = s.ike, s.esp, a
						p := newPair(t, d, spec, spec)
						p.up(t)
						checkNegotiated(t, p.ss, s, false)
						checkAuthLogged(t, p.ss, a)
						checkPeerAuthLogged(t, p.ss, p.l.moon.id, a)
						pingBoth(t, p.l, 3)
						transferBoth(t, p.l, 4<<20)
						checkCounted(t, p.es, "out", 4<<20)
						checkCounted(t, p.es, "in", 4<<20)
						if s.pfs != "" {
							rekeyChildIdle(t, p.init, p.resp)
							checkNegotiated(t, p.ss, s, true)
							pingBoth(t, p.l, 3)
						}
					})
				}
			}

			// Rekeys from either side while a TCP transfer runs.
			for _, r := range []struct {
				name     string
				byEsptun bool
				ike      bool
			}{
				{"rekey/child-by-esptun", true, false},
				{"rekey/child-by-strongswan", false, false},
				{"rekey/ike-by-esptun", true, true},
				{"rekey/ike-by-strongswan", false, true},
			} {
				run(t, r.name, func(t *testing.T) {
					p := newPair(t, d, defaultSpec(), defaultSpec())
					p.up(t)
					var actor, other peer = p.ss, p.es
					if r.byEsptun {
						actor, other = p.es, p.ss
					}
					rekeyUnderLoad(t, p.l, actor, other, r.ike)
				})
			}

			// Teardown: a DELETE from either side clears both.
			run(t, "terminate/by-esptun", func(t *testing.T) {
				p := newPair(t, d, defaultSpec(), defaultSpec())
				p.up(t)
				pingBoth(t, p.l, 2)
				terminate(t, p.es, p.ss)
			})
			run(t, "terminate/by-strongswan", func(t *testing.T) {
				p := newPair(t, d, defaultSpec(), defaultSpec())
				p.up(t)
				pingBoth(t, p.l, 2)
				terminate(t, p.ss, p.es)
			})
			run(t, "terminate/esptun-sigterm", func(t *testing.T) {
				p := newPair(t, d, defaultSpec(), defaultSpec())
				p.up(t)
				pingBoth(t, p.l, 2)
				if err := p.es.p.terminate(15 * time.Second); err != nil {
					fatalf(t, "esptun up after SIGTERM: %v (want exit 0)", err)
				}
				if st, err := waitState(p.ss, goneTimeout, peerState.empty); err != nil {
					fatalf(t, "esptun stopped but strongSwan still lists SAs (no DELETE?): %v (%v)", st, err)
				}
				if out, err := p.l.moon.ns.Run("ip", "-o", "link", "show"); err == nil && regexp.MustCompile(`\besptun0\b`).MatchString(out) {
					errorf(t, "esptun0 is still there after esptun exited:\n%s", out)
				}
			})

			// Dead peer detection after a SIGKILL of either daemon.
			run(t, "dpd/esptun-killed", func(t *testing.T) {
				spec := defaultSpec()
				spec.dpd = 2 * time.Second
				p := newPair(t, d, spec, spec)
				p.up(t)
				dpdNotices(t, p.es, p.ss, 30*time.Second)
			})
			run(t, "dpd/strongswan-killed", func(t *testing.T) {
				spec := defaultSpec()
				spec.dpd = 2 * time.Second
				p := newPair(t, d, spec, spec)
				p.up(t)
				dpdNotices(t, p.ss, p.es, 45*time.Second)
			})

			// Refusals end cleanly, with the right notify on both sides.
			for _, r := range []struct {
				name   string
				notify string
				ikeToo bool
				edit   func(es, ss *connSpec)
			}{
				{"refused/ike-proposal-mismatch", "NO_PROPOSAL_CHOSEN", true,
					func(es, ss *connSpec) { ss.ike = "aes256-sha256-modp2048" }},
				{"refused/esp-proposal-mismatch", "NO_PROPOSAL_CHOSEN", false,
					func(es, ss *connSpec) { ss.esp = "aes256-sha256" }},
				{"refused/wrong-psk", "AUTHENTICATION_FAILED", true,
					func(es, ss *connSpec) { es.psk = "not-the-right-psk-0123456789" }},
			} {
				run(t, r.name, func(t *testing.T) {
					es, ss := defaultSpec(), defaultSpec()
					r.edit(&es, &ss)
					p := newPair(t, d, es, ss)
					expectRefused(t, p.init, p.resp, p.esInit, r.notify, r.ikeToo)
				})
			}
		})
	}
}

// checkPeerAuthLogged checks in charon's log that it verified the peer id
// with the method of the cell (RFC 7427 signature schemes for
// certificates; ECDSA may also come as RFC 4754 auth method 9).
func checkPeerAuthLogged(t *testing.T, c strongSwan, id string, auth authKind) {
	t.Helper()
	scheme := map[authKind]string{
		authPSK:    "pre-shared key",
		authECDSA:  "ECDSA[^ ]*",
		authRSAPSS: "RSA_EMSA_PSS[^ ]*",
	}[auth]
	re := regexp.MustCompile(fmt.Sprintf(`authentication of '%s' with %s successful`, regexp.QuoteMeta(id), scheme))
	if !re.MatchString(c.log()) {
		errorf(t, "%v's log does not show %q", c, re)
	}
}
