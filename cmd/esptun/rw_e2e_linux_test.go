//go:build linux

package main

import (
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestRemoteAccessMany runs one esptun gateway (certificate, EAP-MSCHAPv2,
// a pool with DNS and a split-DNS domain) and 50 esptun clients, each in a
// namespace of its own. Every client must get a distinct virtual IP from
// the pool, on its TUN device, with the office network routed into the TUN
// and resolv.conf pointing at the pool's DNS server; all clients must pass
// traffic at the same time; the gateway's status must list each one with its
// virtual IP, EAP identity and outer address. A client that leaves restores
// its resolv.conf, and when it comes back it gets its address again, while a
// client new to the pool gets another. No password appears in any log.
func TestRemoteAccessMany(t *testing.T) {
	n := 50
	if testing.Short() {
		n = 3
	}
	if v, err := strconv.Atoi(os.Getenv("ESPTUN_RW_CLIENTS")); err == nil && v > 0 {
		n = v
	}
	l := newRWLab(t, rwLabConfig{Users: n + 1})
	start := time.Now()
	clients := make([]*rwClient, n)
	// Namespaces and configurations first, then every daemon at once.
	for i := range clients {
		clients[i] = l.addClient(t, rwClientOpts{User: fmt.Sprintf("u%d", i+1), NoStart: true})
	}
	vips := l.startAll(t, clients, 60*time.Second)
	t.Logf("%d clients up with distinct virtual IPs %v after the first start", n, time.Since(start).Round(time.Millisecond))

	// The gateway's view: one established IKE SA per client, with the
	// client's virtual IP, EAP identity and outer address.
	st := l.gw.rwStatus(t)
	byUser := map[string]rwIKESA{}
	for _, sa := range st.IKESAs {
		if sa.State == "ESTABLISHED" {
			byUser[sa.EAPID] = sa
		}
	}
	if len(byUser) != n {
		t.Errorf("gateway: %d established IKE SAs with distinct EAP identities, want %d", len(byUser), n)
	}
	for i, c := range clients {
		sa, ok := byUser[c.user]
		switch {
		case !ok:
			t.Errorf("gateway: no IKE SA with eap_id %q", c.user)
		case len(sa.VIPs) != 1 || sa.VIPs[0] != vips[i].String():
			t.Errorf("gateway: %s has vips %v, the client has %s", c.user, sa.VIPs, vips[i])
		case !strings.HasPrefix(sa.RemoteAddr, c.outer.String()+":"):
			t.Errorf("gateway: %s's remote_addr %s, want %s:port", c.user, sa.RemoteAddr, c.outer)
		case sa.Established == nil || sa.Established.After(time.Now()):
			t.Errorf("gateway: %s's established time %v", c.user, sa.Established)
		case len(sa.Children) != 1 || strings.Join(sa.Children[0].RemoteTS, ",") != vips[i].String()+"/32":
			t.Errorf("gateway: %s's Child SAs %+v, want one with remote_ts %s/32", c.user, sa.Children, vips[i])
		}
	}

	// Each client's host: VIP on the TUN (waitVIP), the office routed into
	// the TUN, the gateway itself not, DNS from the pool.
	for _, c := range clients {
		if dev := c.routeDev(t, rwOfficeHost); dev != tunDev {
			t.Errorf("%s: %s is routed via %q, want %s", c.name, rwOfficeHost, dev, tunDev)
		}
		if dev := c.routeDev(t, rwGwAddr); dev != "rw0" {
			t.Errorf("%s: the gateway %s is routed via %q, want rw0", c.name, rwGwAddr, dev)
		}
		if r := c.resolvConf(t); !strings.Contains(r, "nameserver "+rwDNS) || strings.Contains(r, "192.0.2.53") {
			t.Errorf("%s: resolv.conf while connected:\n%s\nwant only nameserver %s", c.name, r, rwDNS)
		}
	}

	// Everyone at once: pings from each virtual IP to the office host
	// behind the gateway, then a TCP transfer from each.
	const size = 256 << 10
	errs := make([]error, n)
	all := func(fn func(i int, c *rwClient) error) {
		var wg sync.WaitGroup
		for i, c := range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = fn(i, c)
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Errorf("%s: %v", clients[i].name, err)
			}
		}
	}
	start = time.Now()
	all(func(i int, c *rwClient) error {
		if got, err := c.ns.Ping(vips[i], rwOfficeHost, 3, 56, 100*time.Millisecond, 5*time.Second); got != 3 {
			return fmt.Errorf("ping %s -> %s: %d of 3 answered (%v)", vips[i], rwOfficeHost, got, err)
		}
		return nil
	})
	dropReport := func(when string) {
		var lines []string
		for _, g := range append([]*gateway{l.gw}, func() (gs []*gateway) {
			for _, c := range clients {
				gs = append(gs, c.gateway)
			}
			return gs
		}()...) {
			raw := g.statusRaw(t)
			var st struct {
				Drops map[string]uint64 `json:"drops"`
				SAs   []struct {
					Name, Direction, SPI string
					Packets              uint64
					Drops                map[string]uint64
				} `json:"sas"`
			}
			json.Unmarshal(raw, &st)
			for k, v := range st.Drops {
				if v > 0 {
					lines = append(lines, fmt.Sprintf("%s: global drop %s=%d", g.name, k, v))
				}
			}
			for _, sa := range st.SAs {
				for k, v := range sa.Drops {
					if v > 0 {
						lines = append(lines, fmt.Sprintf("%s: SA %s %s %s packets %d drop %s=%d", g.name, sa.Name, sa.Direction, sa.SPI, sa.Packets, k, v))
					}
				}
			}
		}
		if len(lines) == 0 {
			lines = []string{"none"}
		}
		t.Logf("ESP drops %s, on the gateway and all clients: %s", when, strings.Join(lines, "\n"))
	}
	dropReport("after the pings")
	all(func(i int, c *rwClient) error {
		if _, _, err := ikeTransfer(c.gateway, l.gw, vips[i], rwOfficeHost, size, nil); err != nil {
			return fmt.Errorf("TCP %s -> %s: %v", vips[i], rwOfficeHost, err)
		}
		return nil
	})
	t.Logf("%d clients: 3 pings and %d KiB of TCP each, all at once, in %v", n, size>>10, time.Since(start).Round(time.Millisecond))
	st = l.gw.rwStatus(t)
	for _, sa := range st.IKESAs {
		if len(sa.Children) == 1 && sa.Children[0].BytesIn < size {
			t.Errorf("gateway: %s's Child SA counted %d bytes in, want at least %d", sa.EAPID, sa.Children[0].BytesIn, size)
		}
	}

	if c := st.IKE; c != nil {
		t.Logf("gateway IKE counters: received %d dropped %d invalid %d auth_failed %d cookies_sent %d inbox_full %d half_open %d",
			c.Received, c.Dropped, c.Invalid, c.AuthFailed, c.CookiesSent, c.InboxFull, c.HalfOpen)
	}
	// A client leaves: its SAs go on both sides, its resolv.conf is back.
	leaver, li := clients[1], 1
	leaver.stop(t)
	if r := leaver.resolvConf(t); r != rwOrigResolv {
		t.Errorf("%s: resolv.conf after exit:\n%s\nwant the original:\n%s", leaver.name, r, rwOrigResolv)
	}
	if !waitFor(10*time.Second, func() bool {
		for _, sa := range l.gw.rwStatus(t).IKESAs {
			if sa.EAPID == leaver.user {
				return false
			}
		}
		return true
	}) {
		t.Errorf("gateway: %s's IKE SA is still listed 10s after the client left", leaver.user)
	}
	// A newcomer does not get the address the leaver held.
	newcomer := l.addClient(t, rwClientOpts{User: fmt.Sprintf("u%d", n+1)})
	if v := newcomer.waitVIP(t, 30*time.Second); v == vips[li] {
		t.Errorf("%s got %s, the address reserved for %s who left", newcomer.user, v, leaver.user)
	}
	// The leaver comes back and gets its address again.
	leaver.restart(t)
	if v := leaver.waitVIP(t, 30*time.Second); v != vips[li] {
		t.Errorf("%s reconnected and got %s, want its earlier %s", leaver.user, v, vips[li])
	} else {
		t.Logf("%s reconnected and got its address %s back", leaver.user, v)
	}
	leaver.pingEventually(t, vips[li], rwOfficeHost, 10*time.Second)

	for _, c := range clients {
		c.stop(t)
		if r := c.resolvConf(t); r != rwOrigResolv {
			t.Errorf("%s: resolv.conf after exit:\n%s", c.name, r)
		}
	}
	l.checkSecretsNotLogged(t)
}

// TestRemoteAccessFailures drives one gateway with a pool of six addresses
// (10.3.1.0/29) through the ways a road-warrior client fails: a wrong
// password (AUTHENTICATION_FAILED, no IKE SA and no lease left behind), an
// EAP exchange abandoned after the first IKE_AUTH (the half-open IKE SA is
// dropped after half_open_timeout, and holds no lease), and more clients
// than addresses (the seventh gets INTERNAL_ADDRESS_FAILURE while the six
// others keep passing traffic). Six clients then fill the whole pool, which
// proves that neither failure kept an address. No password appears in any
// log.
func TestRemoteAccessFailures(t *testing.T) {
	l := newRWLab(t, rwLabConfig{Pool: "10.3.1.0/29", HalfOpenTimeout: "3s", Users: 8})
	pool := netip.MustParsePrefix(l.cfg.Pool)

	// A wrong password: the gateway refuses with AUTHENTICATION_FAILED.
	bad := l.addClient(t, rwClientOpts{User: "u1", Password: fmt.Sprintf("pw-wrong-%x", randomKey(t, 12))})
	// The client names the notify; the gateway, which sent EAP-Failure
	// (RFC 3748 4.2) rather than a notify, says what failed.
	if !waitFor(20*time.Second, func() bool {
		return strings.Contains(bad.out.String(), "AUTHENTICATION_FAILED") &&
			strings.Contains(l.gw.out.String(), "EAP authentication failed") && strings.Contains(l.gw.out.String(), "remote_id=u1")
	}) {
		t.Fatalf("wrong password: AUTHENTICATION_FAILED in the client's log and the failed EAP authentication in the gateway's not within 20s\nclient:\n%s\ngateway:\n%s",
			tailLines(bad.out.String(), 20), tailLines(l.gw.out.String(), 20))
	}
	if !waitFor(10*time.Second, func() bool {
		st := l.gw.rwStatus(t)
		return len(st.IKESAs) == 0 && st.IKE != nil && st.IKE.HalfOpen == 0
	}) {
		t.Errorf("wrong password: the gateway still lists IKE SAs or half-open ones: %+v", l.gw.rwStatus(t))
	}
	if st := l.gw.rwStatus(t); st.IKE == nil || st.IKE.AuthFailed == 0 {
		t.Errorf("wrong password: the gateway's ike.auth_failed is %+v, want > 0", st.IKE)
	}
	if _, up := bad.established(t); up {
		t.Errorf("wrong password: the client reports an established IKE SA")
	}
	if r := bad.resolvConf(t); r != rwOrigResolv {
		t.Errorf("wrong password: the client changed resolv.conf:\n%s", r)
	}
	t.Logf("wrong password: the client says %q; the gateway %q; no IKE SA left",
		firstLineWith(bad.out.String(), "AUTHENTICATION_FAILED"), firstLineWith(l.gw.out.String(), "EAP authentication failed"))
	bad.stop(t)

	// An EAP exchange abandoned halfway: the client's IKE_AUTH requests go
	// out (over the NAT-T port, encap = true), the gateway's answers never
	// come back, and the client is killed. The gateway holds a half-open
	// IKE SA until half_open_timeout.
	gone := l.addClient(t, rwClientOpts{User: "u2", NoStart: true})
	gone.mustRun(t, "nft", "add", "table", "inet", "esptunrw")
	gone.mustRun(t, "nft", "add", "chain", "inet", "esptunrw", "in", "{ type filter hook input priority 0; }")
	gone.mustRun(t, "nft", "add", "rule", "inet", "esptunrw", "in", "udp", "sport", "4500", "drop")
	gone.start(t)
	gone.waitReady(t)
	peer := "peer=" + gone.outer.String()
	if !waitFor(15*time.Second, func() bool {
		st := l.gw.rwStatus(t)
		return st.IKE != nil && st.IKE.HalfOpen == 1 && strings.Contains(l.gw.out.String(), "NAT-T port") &&
			strings.Contains(gone.out.String(), "exchange=IKE_AUTH")
	}) {
		t.Fatalf("abandoned EAP: no half-open IKE SA on the gateway after the client's IKE_AUTH within 15s: %+v\ngateway:\n%s\nclient:\n%s",
			l.gw.rwStatus(t).IKE, tailLines(l.gw.out.String(), 20), tailLines(gone.out.String(), 20))
	}
	gone.cmd.Process.Kill()
	<-gone.done
	killed := time.Now()
	if !waitFor(15*time.Second, func() bool {
		st := l.gw.rwStatus(t)
		return len(st.IKESAs) == 0 && st.IKE != nil && st.IKE.HalfOpen == 0
	}) {
		t.Errorf("abandoned EAP: 15s after the client died the gateway still holds it: %+v", l.gw.rwStatus(t))
	} else {
		t.Logf("abandoned EAP: the gateway dropped the half-open IKE SA %v after the client died (half_open_timeout 3s)", time.Since(killed).Round(100*time.Millisecond))
	}
	if !strings.Contains(l.gw.out.String(), "half-open timeout") {
		t.Errorf("abandoned EAP: the gateway's log does not say why it dropped the IKE SA of %s", peer)
	}

	// Six clients fill the pool: every address, each once.
	var six []*rwClient
	owner := map[netip.Addr]string{}
	vips := map[*rwClient]netip.Addr{}
	for i := 3; i <= 8; i++ {
		six = append(six, l.addClient(t, rwClientOpts{User: fmt.Sprintf("u%d", i)}))
	}
	for _, c := range six {
		v := c.waitVIP(t, 30*time.Second)
		if !pool.Contains(v) || v == pool.Addr() || v == netip.MustParseAddr("10.3.1.7") {
			t.Errorf("%s got %s, not one of the pool's 10.3.1.1-10.3.1.6", c.user, v)
		}
		if o, dup := owner[v]; dup {
			t.Errorf("%s and %s both got %s", o, c.user, v)
		}
		owner[v], vips[c] = c.user, v
	}
	t.Logf("six clients fill the pool: %v", owner)

	// The seventh: INTERNAL_ADDRESS_FAILURE, nothing configured. The
	// gateway answers the last IKE_AUTH with the notify and at once deletes
	// the IKE SA (INFORMATIONAL). The IKE manager's workers take datagrams
	// from one queue, so the client may handle the DELETE before the
	// IKE_AUTH response, and then fails with "deleted by peer" instead:
	// that is logged, not failed, until the order is kept per IKE SA.
	seventh := l.addClient(t, rwClientOpts{User: "u1"})
	if !waitFor(20*time.Second, func() bool {
		return strings.Contains(l.gw.out.String(), "address pool exhausted") &&
			strings.Contains(seventh.out.String(), "initiate failed")
	}) {
		t.Fatalf("exhausted pool: the gateway's log does not say so, or the client did not fail, within 20s\nclient:\n%s\ngateway:\n%s",
			tailLines(seventh.out.String(), 20), tailLines(l.gw.out.String(), 20))
	}
	switch why := firstLineWith(seventh.out.String(), "initiate failed"); {
	case strings.Contains(seventh.out.String(), "INTERNAL_ADDRESS_FAILURE"):
		t.Logf("exhausted pool: the client says %q; the gateway %q", firstLineWith(seventh.out.String(), "INTERNAL_ADDRESS_FAILURE"),
			firstLineWith(l.gw.out.String(), "address pool exhausted"))
	case strings.Contains(why, "deleted by peer"):
		t.Logf("exhausted pool: the client handled the gateway's DELETE before its IKE_AUTH response and says %q, not INTERNAL_ADDRESS_FAILURE", why)
	default:
		t.Errorf("exhausted pool: the client's failure does not name INTERNAL_ADDRESS_FAILURE: %q", why)
	}
	time.Sleep(time.Second)
	if _, up := seventh.established(t); up {
		t.Errorf("exhausted pool: the seventh client reports an established IKE SA with a virtual IP")
	}
	if r := seventh.resolvConf(t); r != rwOrigResolv {
		t.Errorf("exhausted pool: the seventh client changed resolv.conf:\n%s", r)
	}
	// The gateway deletes the refused client's IKE SA; that client has
	// already dropped it, so the DELETE goes unanswered until the
	// retransmissions (1s, 3 tries) run out.
	if !waitFor(20*time.Second, func() bool {
		st := l.gw.rwStatus(t)
		n := 0
		for _, sa := range st.IKESAs {
			if sa.State == "ESTABLISHED" && len(sa.VIPs) == 1 {
				n++
			}
		}
		return n == 6 && len(st.IKESAs) == 6
	}) {
		t.Errorf("exhausted pool: the gateway does not list exactly the six clients: %+v", l.gw.rwStatus(t).IKESAs)
	}

	// The six keep working, all at once.
	var wg sync.WaitGroup
	for _, c := range six {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if n, err := c.ns.Ping(vips[c], rwOfficeHost, 3, 56, 100*time.Millisecond, 5*time.Second); n != 3 {
				t.Errorf("%s: ping %s -> %s after the pool ran out: %d of 3 answered (%v)", c.name, vips[c], rwOfficeHost, n, err)
			}
		}()
	}
	wg.Wait()

	// Once one of the six leaves, the seventh gets in.
	six[0].stop(t)
	seventh.stop(t)
	seventh.restart(t)
	if v := seventh.waitVIP(t, 30*time.Second); v != vips[six[0]] {
		t.Errorf("after %s left, %s got %s, want the only free address %s", six[0].user, seventh.user, v, vips[six[0]])
	}
	l.checkSecretsNotLogged(t)
}

func firstLineWith(s, sub string) string {
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			return strings.TrimSpace(l)
		}
	}
	return ""
}
