package ike

import (
	"log/slog"
	"net/netip"
	"testing"

	"github.com/esptun/esptun/config"
)

// TestUpdatePeerNAT checks RFC 7296 2.23 address updates from authenticated
// IKE messages: a responder follows the initiator's switch to the NAT-T
// port; an end that is not behind a NAT follows a peer behind one to a new
// address; an end behind a NAT, and an initiator whose peer is not behind
// one, keep the address they have, and encap = true alone does not count
// as being behind a NAT.
func TestUpdatePeerNAT(t *testing.T) {
	cfg := &config.Config{}
	cfg.IKE.Port, cfg.IKE.NATTPort = 500, 4500
	m := &Manager{cfg: cfg, log: slog.New(slog.DiscardHandler)}
	ap := netip.MustParseAddrPort
	cases := []struct {
		name                         string
		initiator                    bool
		natLocal, natFake, natRemote bool
		from, to                     string
		want                         string
	}{
		{"responder follows the switch to 4500", false, false, false, true, "192.0.2.1:500", "192.0.2.1:4500", "192.0.2.1:4500"},
		{"responder behind a NAT follows the switch too", false, true, false, false, "192.0.2.1:500", "192.0.2.1:4500", "192.0.2.1:4500"},
		{"gateway follows a NAT rebinding", false, false, false, true, "192.0.2.1:4500", "192.0.2.1:31000", "192.0.2.1:31000"},
		{"gateway with encap = true still follows", false, true, true, true, "192.0.2.1:4500", "192.0.2.9:4500", "192.0.2.9:4500"},
		{"client behind a NAT keeps the gateway's address", true, true, false, false, "198.51.100.1:4500", "198.51.100.1:500", "198.51.100.1:4500"},
		{"client with encap = true keeps the gateway's NAT-T port", true, true, true, false, "198.51.100.1:4500", "198.51.100.1:500", "198.51.100.1:4500"},
		{"both behind NATs: no update", false, true, false, true, "192.0.2.1:4500", "192.0.2.7:4500", "192.0.2.1:4500"},
	}
	for _, c := range cases {
		sa := &ikeSA{mgr: m, initiator: c.initiator, natt: true,
			natLocal: c.natLocal, natFake: c.natFake, natRemote: c.natRemote, remote: ap(c.from)}
		sa.log = saLog{sa}
		sa.updatePeerLocked(datagram{remote: ap(c.to)})
		if got := sa.remote.String(); got != c.want {
			t.Errorf("%s: peer %s after a message from %s, want %s", c.name, got, c.to, c.want)
		}
	}
}
