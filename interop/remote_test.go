//go:build interop && linux

package interop

import (
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestRemoteAccess runs esptun as a road-warrior client against a
// strongSwan gateway (pools, EAP-MSCHAPv2 and EAP-TLS, split and full
// tunnel), strongSwan as a client against an esptun gateway, and the
// proposals of the built-in Windows and Apple IKEv2 clients against an
// esptun gateway (docs/remote-access.md). Each leaf is a cell of the
// matrix summary.
func TestRemoteAccess(t *testing.T) {
	requirePrereq(t)
	run := func(name string, fn func(t *testing.T)) {
		t.Run(name, func(t *testing.T) {
			cell(t)
			fn(t)
		})
	}
	run("esptun-client/eap-mschapv2/split", func(t *testing.T) { esptunClientCell(t, "eap-mschapv2", false) })
	run("esptun-client/eap-mschapv2/full-tunnel", func(t *testing.T) { esptunClientCell(t, "eap-mschapv2", true) })
	run("esptun-client/eap-tls/split", func(t *testing.T) { esptunClientCell(t, "eap-tls", false) })
	run("strongswan-client/eap-mschapv2", strongswanClientCell)
	for _, n := range nativeClients {
		run("native/"+n.name, func(t *testing.T) { nativeClientCell(t, n) })
	}
}

// esptunClientCell: esptun asks a strongSwan gateway for a virtual IP, DNS
// and the split-DNS domain, and routes the office (or, fullTunnel,
// everything but the gateway's outer address) into its TUN device.
func esptunClientCell(t *testing.T, auth string, fullTunnel bool) {
	requireEsptunIKE(t)
	l := newRWLab(t)
	l.gw.innerOnLoopback(t)
	ts := rwOffice.String()
	if fullTunnel {
		ts = "0.0.0.0/0"
	}
	gw := startRWCharon(t, l.gw)
	gw.loadConf(t, l.swanctlGateway(rwGatewaySpec{auth: auth, localTS: ts}))
	es := startEsptunConf(t, l.client, func(sock string) string {
		return l.esptunClient(rwClientSpec{auth: auth, remoteTS: ts}, sock)
	})

	vip := es.waitVIP(t, upTimeout)
	if !netip.MustParsePrefix(rwPool).Contains(vip) {
		errorf(t, "virtual IP %s is not from the gateway's pool %s", vip, rwPool)
	}
	// strongSwan's view: the same address, and the EAP identity.
	wantEAP := rwUser
	if auth == "eap-tls" {
		wantEAP = rwTLSID
	}
	msgs, err := viciListSAs(gw.vici())
	if err != nil {
		fatalf(t, "%v", err)
	}
	found := false
	for _, m := range msgs {
		if ike := m.sect(rwConn); ike != nil {
			found = true
			if v := ike.list("remote-vips"); len(v) != 1 || v[0] != vip.String() {
				errorf(t, "strongSwan lists the client's virtual IPs %v; esptun has %s", v, vip)
			}
			// vici lists remote-eap-id only where it differs from
			// the IKE identity.
			id := ike.str("remote-eap-id")
			if id == "" {
				id = ike.str("remote-id")
			}
			if id != wantEAP {
				errorf(t, "strongSwan lists the EAP identity %q, want %q", id, wantEAP)
			}
		}
	}
	if !found {
		fatalf(t, "strongSwan lists no IKE SA of %s", rwConn)
	}
	// DNS: the pool's server replaces the namespace's; the domain came
	// as attribute 25 (RFC 8598).
	if r := l.resolvConf(t); !strings.Contains(r, "nameserver "+rwDNS) || strings.Contains(r, "192.0.2.53") {
		errorf(t, "resolv.conf while connected:\n%s\nwant only nameserver %s", r, rwDNS)
	}
	if !strings.Contains(es.log(), "domains=["+rwDomain+"]") {
		errorf(t, "esptun's log does not show the split-DNS domain %s from strongSwan's attribute 25", rwDomain)
	}
	// Routing: the office into the tunnel, the gateway's outer address
	// not; in a full tunnel also the internet host.
	if dev := routeDev(t, l.client, l.gw.inner); dev != "esptun0" {
		errorf(t, "the office host %s is routed via %q, want esptun0", l.gw.inner, dev)
	}
	if dev := routeDev(t, l.client, l.gw.outer); dev != "ix0" {
		errorf(t, "the gateway %s is routed via %q, want ix0 (outside the tunnel)", l.gw.outer, dev)
	}
	client := at(l.client, vip)
	pingOK(t, client, l.gw, 5)
	pingOK(t, l.gw, client, 3)
	const size = 4 << 20
	if err := tcpTransfer(client, l.gw, size, 0, nil); err != nil {
		fatalf(t, "TCP %s -> office %s: %v", vip, l.gw.inner, err)
	}
	if err := tcpTransfer(l.gw, client, size, 0, nil); err != nil {
		fatalf(t, "TCP office %s -> %s: %v", l.gw.inner, vip, err)
	}
	sas, err := es.rwState()
	if err != nil || len(sas) != 1 || sas[0].BytesOut < size || sas[0].BytesIn < size || !sas[0].Established {
		errorf(t, "esptun status after %d bytes each way: %+v (%v)", size, sas, err)
	}
	if fullTunnel {
		if dev := routeDev(t, l.client, rwInetHost); dev != "esptun0" {
			errorf(t, "full tunnel: the internet host %s is routed via %q, want esptun0", rwInetHost, dev)
		}
		inet := at(l.inet, rwInetHost)
		pingOK(t, client, inet, 5)
		if err := tcpTransfer(client, inet, 1<<20, 0, nil); err != nil {
			fatalf(t, "full tunnel: TCP %s -> internet host %s: %v", vip, rwInetHost, err)
		}
		// The outer path still works with everything routed into the
		// tunnel: a Child SA rekey is IKE to the gateway's outer address.
		if err := es.verb("rekey", "--child", rwChild); err != nil {
			fatalf(t, "full tunnel: %v", err)
		}
		pingOK(t, client, inet, 3)
		t.Logf("full tunnel: %s reaches %s (in no office subnet) through the gateway; a Child SA rekey went outside", vip, rwInetHost)
	}

	// Leaving: exit 0, DNS back, the gateway's SA gone.
	if err := es.terminate(15 * time.Second); err != nil {
		fatalf(t, "esptun up after SIGTERM: %v", err)
	}
	if r := l.resolvConf(t); r != rwOrigResolv {
		errorf(t, "resolv.conf after esptun exited:\n%s\nwant the original:\n%s", r, rwOrigResolv)
	}
	if st, err := waitState(strongSwan{gw}, goneTimeout, func(st peerState) bool {
		for _, i := range st.IKE {
			if i.Name == rwConn {
				return false
			}
		}
		return true
	}); err != nil {
		errorf(t, "strongSwan still lists the client after it left: %v (%v)", st, err)
	}
	t.Logf("%s: virtual IP %s, DNS %s and domain %s applied and undone", auth, vip, rwDNS, rwDomain)
}

// strongswanClientCell: a strongSwan road warrior (vips = 0.0.0.0,
// EAP-MSCHAPv2) gets its address, DNS and domain from an esptun gateway.
func strongswanClientCell(t *testing.T) {
	requireEsptunIKE(t)
	l := newRWLab(t)
	gw := startEsptunConf(t, l.gw, func(sock string) string {
		return l.esptunGateway(rwGatewaySpec{auth: "eap-mschapv2", localTS: rwOffice.String()}, sock)
	})
	c := startRWCharon(t, l.client)
	c.loadConf(t, l.swanctlClient(rwClientSpec{remoteTS: rwOffice.String()}))
	if _, err := c.swanctl("--initiate", "--child", rwChild, "--timeout", "30"); err != nil {
		fatalf(t, "%v", err)
	}
	vip := c.charonVIP(t, upTimeout)
	if !netip.MustParsePrefix(rwPool).Contains(vip) {
		errorf(t, "strongSwan's virtual IP %s is not from esptun's pool %s", vip, rwPool)
	}
	sas, err := gw.rwState()
	if err != nil || len(sas) != 1 {
		fatalf(t, "esptun gateway: %+v (%v)", sas, err)
	}
	s := sas[0]
	if len(s.VIPs) != 1 || s.VIPs[0] != vip.String() || s.EAPID != rwUser || !strings.HasPrefix(s.RemoteAddr, l.client.outer.String()+":") || !s.Established {
		errorf(t, "esptun gateway lists %+v; want vips [%s], eap_id %s, remote_addr %s:port, established", s, vip, rwUser, l.client.outer)
	}
	// strongSwan's resolve plugin writes what it got to its own file.
	resolv, _ := os.ReadFile(filepath.Join(l.client.dir, "resolv.conf"))
	if !strings.Contains(string(resolv), rwDNS) {
		errorf(t, "strongSwan did not get the DNS server %s: its resolv.conf is %q", rwDNS, resolv)
	}
	if !strings.Contains(c.log(), rwDomain) {
		t.Logf("strongSwan's log does not mention the split-DNS domain %s (charon 5.9 logs unknown attributes only at higher levels)", rwDomain)
	}
	l.trafficThenDelete(t, gw, c, vip, 4<<20)
	t.Logf("strongSwan got %s from esptun's pool, DNS %s; traffic both ways", vip, rwDNS)
}

// nativeClient is the offer of a built-in IKEv2 client, sent by a strongSwan
// initiator, against an esptun gateway configured as docs/remote-access.md
// recommends.
type nativeClient struct {
	name       string
	ike, esp   string // the client's offer (strongSwan syntax)
	gwIKE      string // esptun gateway's proposals
	gwESP      string
	legacy     bool // allow_legacy_proposals on the gateway
	refused    bool // the gateway must answer NO_PROPOSAL_CHOSEN
	wantIKEAlg []string
}

var nativeClients = []nativeClient{
	// Windows 7 to 11 by default: MODP-1024 only (strongSwan's Windows
	// interop page). ESP is AES-GCM-256 as set with
	// Set-VpnConnectionIPsecConfiguration: esptun's ESP has no HMAC-SHA1-96.
	{name: "windows-modp1024/without-allow_legacy_proposals", ike: "3des-aes128-aes192-aes256-sha1-sha256-sha384-modp1024", esp: "aes256gcm16",
		gwIKE: "aes256-sha256-modp2048,aes128gcm16-prfsha256-x25519", gwESP: "aes256gcm16", refused: true},
	{name: "windows-modp1024/with-allow_legacy_proposals", ike: "3des-aes128-aes192-aes256-sha1-sha256-sha384-modp1024", esp: "aes256gcm16",
		gwIKE: "aes256-sha256-modp1024,aes256-sha1-modp1024,aes128gcm16-prfsha256-x25519", gwESP: "aes256gcm16", legacy: true,
		wantIKEAlg: []string{"AES_CBC-256", "HMAC_SHA2_256_128", "MODP_1024"}},
	// Windows 11 also offers AES-GCM, still with MODP-1024.
	{name: "windows11-gcm-modp1024/with-allow_legacy_proposals", ike: "aes128gcm16-aes256gcm16-prfsha1-prfsha256-prfsha384-modp1024", esp: "aes256gcm16",
		gwIKE: "aes256gcm16-prfsha256-modp1024,aes128gcm16-prfsha256-x25519", gwESP: "aes256gcm16", legacy: true,
		wantIKEAlg: []string{"AES_GCM_16-256", "PRF_HMAC_SHA2_256", "MODP_1024"}},
	// iOS 16.5 and macOS: AES-CBC-256 with SHA-256 and MODP-2048 first
	// (strongSwan's iOS and macOS interop page); no legacy opt-in needed.
	{name: "apple-ios-macos", ike: "aes256-sha256-modp2048,aes256-sha256-ecp256,aes256-sha256-modp1536,aes128-sha1-modp1024,3des-sha1-modp1024",
		esp: "aes256-sha256,aes128-sha1,3des-sha1", gwIKE: "aes256-sha256-modp2048", gwESP: "aes256-sha256",
		wantIKEAlg: []string{"AES_CBC-256", "HMAC_SHA2_256_128", "MODP_2048"}},
}

func nativeClientCell(t *testing.T, n nativeClient) {
	requireEsptunIKE(t)
	l := newRWLab(t)
	gw := startEsptunConf(t, l.gw, func(sock string) string {
		return l.esptunGateway(rwGatewaySpec{auth: "eap-mschapv2", localTS: rwOffice.String(), ike: n.gwIKE, esp: n.gwESP, legacy: n.legacy}, sock)
	})
	c := startRWCharon(t, l.client)
	c.loadConf(t, l.swanctlClient(rwClientSpec{remoteTS: rwOffice.String(), ike: n.ike, esp: n.esp}))
	_, initErr := c.swanctl("--initiate", "--child", rwChild, "--timeout", "30")
	if n.refused {
		if initErr == nil {
			fatalf(t, "the gateway accepted %s without allow_legacy_proposals", n.ike)
		}
		ss, es := strongSwan{c}, esptunPeer{gw}
		if !ss.sawNotify("NO_PROPOSAL_CHOSEN") || !es.sawNotify("NO_PROPOSAL_CHOSEN") {
			errorf(t, "NO_PROPOSAL_CHOSEN not in both logs: strongSwan %v, esptun %v", ss.sawNotify("NO_PROPOSAL_CHOSEN"), es.sawNotify("NO_PROPOSAL_CHOSEN"))
		}
		if sas, err := gw.rwState(); err != nil || len(sas) != 0 {
			errorf(t, "esptun gateway lists IKE SAs after refusing: %+v (%v)", sas, err)
		}
		t.Logf("refused as it should be: %s", firstMatchLine(gw.log(), regexp.MustCompile(`(?i)no[_ ](\w+[_ ])?proposal[_ ]chosen`)))
		return
	}
	if initErr != nil {
		fatalf(t, "%v", initErr)
	}
	vip := c.charonVIP(t, upTimeout)
	st, err := c.state()
	if err != nil {
		fatalf(t, "%v", err)
	}
	for _, i := range st.IKE {
		for _, w := range n.wantIKEAlg {
			if i.Name == rwConn && !strings.Contains(i.Proposal, w) {
				errorf(t, "negotiated IKE proposal %q lacks %s", i.Proposal, w)
			}
		}
		t.Logf("negotiated %s; virtual IP %s", i.Proposal, vip)
	}
	pingOK(t, at(l.client, vip), l.gw, 3)
}
