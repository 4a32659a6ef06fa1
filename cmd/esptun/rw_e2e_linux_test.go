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
	for i := range clients {
		clients[i] = l.addClient(t, rwClientOpts{User: fmt.Sprintf("u%d", i+1)})
	}
	t.Logf("%d clients started in %v", n, time.Since(start).Round(time.Millisecond))

	vips := make([]netip.Addr, n)
	owner := map[netip.Addr]string{}
	pool := netip.MustParsePrefix(l.cfg.Pool)
	for i, c := range clients {
		vips[i] = c.waitVIP(t, 60*time.Second)
		if !pool.Contains(vips[i]) {
			t.Errorf("%s: virtual IP %s is not in the pool %s", c.name, vips[i], pool)
		}
		if o, dup := owner[vips[i]]; dup {
			t.Errorf("%s and %s both got %s", o, c.user, vips[i])
		}
		owner[vips[i]] = c.user
	}
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
		t.Logf("drops %s:\n%s", when, strings.Join(lines, "\n"))
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
