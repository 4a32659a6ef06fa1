package ike

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/esptun/esptun/ike/wire"
)

// TestEstablish brings up an IKE SA and its Child SA with each proposal
// pair and authentication method, and checks that both SADs hold matching
// SAs whose keys work.
func TestEstablish(t *testing.T) {
	tests := []struct {
		name      string
		ike, esp  string
		auth      string
		wantESP   string
		wantPFS   uint16
		viaCreate bool // bring the child up with CREATE_CHILD_SA (PFS applies)
	}{
		{name: "aes128gcm16-x25519", ike: `"aes128gcm16-prfsha256-x25519"`, esp: `"aes128gcm16"`, wantESP: "aes128gcm16"},
		{name: "aes256gcm16-ecp384-pfs", ike: `"aes256gcm16-prfsha384-ecp384"`, esp: `"aes256gcm16-ecp384"`, wantESP: "aes256gcm16", wantPFS: 20, viaCreate: true},
		{name: "chacha20poly1305", ike: `"chacha20poly1305-prfsha256-x25519"`, esp: `"chacha20poly1305"`, wantESP: "chacha20poly1305"},
		{name: "aes256-sha256-modp2048", ike: `"aes256-sha256-modp2048"`, esp: `"aes256-sha256"`, wantESP: "aes256-sha256"},
		{name: "cert-ecdsa-p256", ike: `"aes128gcm16-prfsha256-x25519"`, esp: `"aes128gcm16"`, auth: "ecdsa", wantESP: "aes128gcm16"},
		{name: "cert-rsa-pss", ike: `"aes128gcm16-prfsha256-x25519"`, esp: `"aes128gcm16"`, auth: "rsa", wantESP: "aes128gcm16"},
		{name: "cert-ed25519", ike: `"aes128gcm16-prfsha256-x25519"`, esp: `"aes128gcm16"`, auth: "ed25519", wantESP: "aes128gcm16"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			o := pairOpts{proposals: [2]string{tc.ike, tc.ike}, esp: [2]string{tc.esp, tc.esp}, auth: [2]string{tc.auth, tc.auth}}
			if tc.viaCreate {
				// A second child that only CREATE_CHILD_SA brings up.
				for i := range 2 {
					o.extraConns[i] = "[connections.c.children.pfs]\nlocal_ts = [" + sideTSAlt[i] + "]\nremote_ts = [" + sideTSAlt[1-i] +
						"]\nesp_proposals = [" + tc.esp + "]\nrekey_time = 0\n"
				}
			}
			_, moon, sun := newPair(t, o)
			ike := establish(t, moon, sun)
			if !ike.Initiator {
				t.Errorf("moon is not the initiator")
			}
			if ike.LocalID != "moon.example" || ike.RemoteID != "sun.example" {
				t.Errorf("identities %q / %q", ike.LocalID, ike.RemoteID)
			}
			if got := ike.Children[0].ESP; got != tc.wantESP {
				t.Errorf("ESP suite %q, want %q", got, tc.wantESP)
			}
			if ike.Children[0].DH != 0 {
				t.Errorf("IKE_AUTH child has DH group %d; IKE_AUTH never does PFS", ike.Children[0].DH)
			}
			checkTraffic(t, moon, sun)
			if !moon.hasPolicyFor("10.1.0.5", "10.2.0.7") || !sun.hasPolicyFor("10.2.0.7", "10.1.0.5") {
				t.Errorf("protect policies missing")
			}
			if tc.viaCreate {
				if err := moon.m.Initiate(ctxT(t, 10*time.Second), "pfs"); err != nil {
					t.Fatalf("initiate pfs: %v", err)
				}
				ike = waitSettled(t, moon, sun, 2)
				for _, c := range ike.Children {
					if c.Name == "pfs" && c.DH != tc.wantPFS {
						t.Errorf("CREATE_CHILD_SA child has DH group %d, want %d", c.DH, tc.wantPFS)
					}
				}
				checkTraffic(t, moon, sun)
			}
		})
	}
}

var sideTSAlt = [2]string{`"10.11.0.0/24"`, `"10.12.0.0/24"`}

// TestInvalidKEPayload: the initiator guesses x25519 first, the responder
// takes only ecp256 and answers INVALID_KE_PAYLOAD; the retry with the
// group the responder named succeeds (RFC 7296 1.3, 2.7).
func TestInvalidKEPayload(t *testing.T) {
	_, moon, sun := newPair(t, pairOpts{proposals: [2]string{
		`"aes128gcm16-prfsha256-x25519", "aes128gcm16-prfsha256-ecp256"`,
		`"aes128gcm16-prfsha256-ecp256"`,
	}})
	inits := countExchanges(moon.tr, dirOut, wire.ExchangeIKESAInit, false)
	ike := establish(t, moon, sun)
	if !strings.Contains(ike.Proposal, "ECP_256") {
		t.Errorf("proposal %q does not use ecp256", ike.Proposal)
	}
	if n := inits.Load(); n != 2 {
		t.Errorf("moon sent %d IKE_SA_INIT requests, want 2 (the guess and the retry)", n)
	}
	checkTraffic(t, moon, sun)
}

// TestCookie: a responder with cookie_threshold = 0 demands a COOKIE
// (RFC 7296 2.6) before it keeps state; the initiator repeats its request
// with the cookie and gets through.
func TestCookie(t *testing.T) {
	_, moon, sun := newPair(t, pairOpts{ike: [2]string{"", defaultIKE + "cookie_threshold = 0\n"}})
	inits := countExchanges(moon.tr, dirOut, wire.ExchangeIKESAInit, false)
	establish(t, moon, sun)
	if c := sun.counters(); c.CookiesSent != 1 {
		t.Errorf("cookies_sent = %d on the responder, want 1", c.CookiesSent)
	}
	if n := inits.Load(); n != 2 {
		t.Errorf("moon sent %d IKE_SA_INIT requests, want 2 (without and with the cookie)", n)
	}
	checkTraffic(t, moon, sun)
}

// countExchanges counts the datagrams of one exchange type that pass tr in
// dir, requests or responses.
func countExchanges(tr *testTransport, dir direction, exch wire.ExchangeType, response bool) *atomic.Int64 {
	var n atomic.Int64
	tr.setCapture(func(d *datagramInfo) {
		if d.dir == dir && d.valid && d.header.Exchange == exch && d.header.IsResponse() == response {
			n.Add(1)
		}
	})
	return &n
}
