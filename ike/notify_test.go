package ike

import (
	"strings"
	"testing"
	"time"
)

// TestRefusals: proposals, selectors and credentials that do not fit end
// with the error notify of RFC 7296 3.10.1 and leave consistent state.
func TestRefusals(t *testing.T) {
	tests := []struct {
		name    string
		o       pairOpts
		wantErr string
		ikeUp   bool // the IKE SA stays; only the Child SA failed (RFC 7296 1.2)
		authErr bool // auth_failed counters move on both sides
	}{
		{
			name:    "ike-no-proposal",
			o:       pairOpts{proposals: [2]string{`"aes128gcm16-prfsha256-x25519"`, `"aes256-sha256-modp2048"`}},
			wantErr: "NO_PROPOSAL_CHOSEN",
		},
		{
			name:    "esp-no-proposal",
			o:       pairOpts{esp: [2]string{`"aes128gcm16"`, `"chacha20poly1305"`}},
			wantErr: "NO_PROPOSAL_CHOSEN",
			ikeUp:   true,
		},
		{
			name:    "ts-unacceptable",
			o:       pairOpts{remoteTS: [2]string{`"10.9.0.0/24"`, ""}},
			wantErr: "TS_UNACCEPTABLE",
			ikeUp:   true,
		},
		{
			name:    "wrong-psk",
			o:       pairOpts{psk: [2]string{"", "not the same secret"}},
			wantErr: "AUTHENTICATION_FAILED",
			authErr: true,
		},
		{
			// The responder accepts the initiator, whose CA does not
			// vouch for the responder: the initiator tells the
			// responder with an INFORMATIONAL (RFC 7296 2.21.2).
			name:    "initiator-rejects-certificate",
			o:       pairOpts{auth: [2]string{"ecdsa", "ecdsa"}, foreignCA: [2]bool{true, false}},
			wantErr: "AUTHENTICATION_FAILED",
			authErr: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, moon, sun := newPair(t, tc.o)
			err := moon.m.Initiate(ctxT(t, 10*time.Second), "net")
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("Initiate: %v, want an error mentioning %s", err, tc.wantErr)
			}
			if tc.ikeUp {
				waitSettled(t, moon, sun, 0)
			} else {
				waitFor(t, 3*time.Second, "both sides without IKE SAs", func() bool {
					return len(moon.ikeSAs("")) == 0 && len(sun.ikeSAs("")) == 0
				})
			}
			// A responder that had installed the Child SA before the
			// initiator refused it keeps the inbound SA a moment.
			waitSADExact(t, 0, moon, sun)
			for _, p := range []*peer{moon, sun} {
				if p.hasPolicyFor(p.sideTSHost(), p.otherTSHost()) {
					t.Errorf("%s has a protect policy", p.name)
				}
				if c := p.counters(); c.HalfOpen != 0 {
					t.Errorf("%s has %d half-open IKE SAs", p.name, c.HalfOpen)
				}
			}
			if tc.authErr {
				if c := moon.counters(); c.AuthFailed == 0 {
					t.Errorf("moon's auth_failed counter did not move")
				}
				if c := sun.counters(); c.AuthFailed == 0 {
					t.Errorf("sun's auth_failed counter did not move")
				}
			}
		})
	}
}

func (p *peer) sideTSHost() string {
	if p.addr == addrMoon {
		return "10.1.0.5"
	}
	return "10.2.0.7"
}

func (p *peer) otherTSHost() string {
	if p.addr == addrMoon {
		return "10.2.0.7"
	}
	return "10.1.0.5"
}

// TestNarrowing: the responder narrows the initiator's 10.0.0.0/16 to the
// 10.0.1.0/24 it has configured (RFC 7296 2.9); both install the narrowed
// selectors.
func TestNarrowing(t *testing.T) {
	_, moon, sun := newPair(t, pairOpts{
		remoteTS: [2]string{`"10.0.0.0/16"`, ""},
		localTS:  [2]string{"", `"10.0.1.0/24"`},
	})
	ike := establish(t, moon, sun)
	c := ike.Children[0]
	if got := strings.Join(c.RemoteTS, ","); got != "10.0.1.0/24" {
		t.Errorf("moon's remote_ts = %s, want 10.0.1.0/24", got)
	}
	if got := strings.Join(c.LocalTS, ","); got != "10.1.0.0/24" {
		t.Errorf("moon's local_ts = %s, want 10.1.0.0/24", got)
	}
	if !moon.hasPolicyFor("10.1.0.5", "10.0.1.7") {
		t.Errorf("moon does not protect traffic to 10.0.1.7")
	}
	if moon.hasPolicyFor("10.1.0.5", "10.0.2.7") {
		t.Errorf("moon protects traffic to 10.0.2.7, outside the narrowed selector")
	}
	sc := sun.ikeSAs("")[0].Children[0]
	if got := strings.Join(sc.LocalTS, ","); got != "10.0.1.0/24" {
		t.Errorf("sun's local_ts = %s, want 10.0.1.0/24", got)
	}
	checkTraffic(t, moon, sun)
}
