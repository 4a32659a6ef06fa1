//go:build linux

package main

import (
	"context"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/esptun/esptun/internal/netns"
	"github.com/esptun/esptun/internal/testlab"
)

// The NAT road-warrior lab: the gateway of the road-warrior lab (see
// rw_lab_linux_test.go) and several esptun clients on one private LAN
// behind one masquerading router, so that the gateway sees every client
// from the same outer address (RFC 7296 2.23):
//
//	client i: rw0 192.168.77.(10+i)/24 ──┐
//	                                     lan0 192.168.77.1/24  router R
//	                                     wan0 10.77.1.250/16 ── br0 10.77.0.1/16  gateway
//
// R masquerades the LAN behind 10.77.1.250 (nftables, as soak's natted
// topology does). Namespaces are named esptunnat-PID-N...; every client
// namespace gets an /etc/netns/NAME/resolv.conf before its daemon starts.
const natNSPrefix = "esptunnat-"

var (
	natRouterWAN = netip.MustParseAddr("10.77.1.250")
	natRouterLAN = netip.MustParseAddr("192.168.77.1")
)

type natLab struct {
	*rwLab
	r *gateway // the router; no daemon runs there
}

// newNATLab makes the road-warrior gateway (as newRWLab does, in namespaces
// of natNSPrefix) and the masquerading router in front of the client LAN.
func newNATLab(t *testing.T, users int) *natLab {
	t.Helper()
	skipUnlessNetwork(t)
	if _, err := exec.LookPath("nft"); err != nil {
		t.Skip("nft(8) not installed")
	}
	testlab.RemoveStale(natNSPrefix)
	dir, err := os.MkdirTemp("", natNSPrefix)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	l := &rwLab{t: t, cfg: rwLabConfig{Pool: "10.3.0.0/24", Users: users}, dir: dir, users: map[string]string{},
		prefix: testlab.Prefix(natNSPrefix, int64(rwLabSeq.Add(1)))}
	writeIKECerts(t, dir, "ecdsa")
	l.writeUsers(t)
	l.gw = l.newGateway(t)

	r := &gateway{name: "r", ns: l.newNS(t, "r"), veth: "wan0"}
	if err := netns.Veth(r.ns, "wan0", l.gw.ns, "rwr"); err != nil {
		t.Fatal(err)
	}
	l.gw.mustRun(t, "ip", "link", "set", "rwr", "master", "br0")
	r.mustRun(t, "ip", "addr", "add", natRouterWAN.String()+"/16", "dev", "wan0")
	r.mustRun(t, "ip", "link", "add", "lan0", "type", "bridge")
	r.mustRun(t, "ip", "link", "set", "lan0", "up")
	r.mustRun(t, "ip", "addr", "add", natRouterLAN.String()+"/24", "dev", "lan0")
	r.mustRun(t, "sh", "-c", "echo 1 > /proc/sys/net/ipv4/ip_forward")
	script := `table ip esptunnat {
	chain post {
		type nat hook postrouting priority srcnat; policy accept;
		oifname "wan0" ip saddr 192.168.77.0/24 masquerade
	}
}
`
	cmd := r.ns.Command(context.Background(), "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(script)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft in %s: %v\n%s", r.ns.Name, err, out)
	}

	l.gw.conf = filepath.Join(dir, "gw.toml")
	l.gw.sock = filepath.Join(dir, "gw.sock")
	l.writeConf(t, l.gw.conf, l.gwConfig())
	l.gw.start(t)
	l.gw.waitReady(t)
	return &natLab{rwLab: l, r: r}
}

// addNATClient makes client i's namespace on R's LAN, with its own
// resolv.conf (removed with the namespace), and writes its configuration.
// It does not start the daemon.
func (l *natLab) addNATClient(t *testing.T, i int, user string) *rwClient {
	t.Helper()
	name := fmt.Sprintf("c%d", i)
	ns := l.newNS(t, name)
	c := &rwClient{gateway: &gateway{name: name, ns: ns, veth: "rw0"}, user: user, password: l.users[user],
		outer: netip.AddrFrom4([4]byte{192, 168, 77, byte(10 + i)})}
	lan := "lanc" + strconv.Itoa(i)
	if err := netns.Veth(ns, "rw0", l.r.ns, lan); err != nil {
		t.Fatal(err)
	}
	l.r.mustRun(t, "ip", "link", "set", lan, "master", "lan0")
	c.mustRun(t, "ip", "addr", "add", c.outer.String()+"/24", "dev", "rw0")
	c.mustRun(t, "ip", "route", "add", "default", "via", natRouterLAN.String())
	var err error
	if c.resolv, err = testlab.ResolvConf(ns, rwOrigResolv); err != nil {
		t.Fatal(err)
	}
	l.configure(t, c)
	return c
}

// TestRemoteAccessBehindNAT: several esptun clients on one LAN behind one
// masquerading router connect to one esptun gateway at the same time. Each
// must get an IKE SA of its own and a distinct virtual IP, and all must
// pass traffic at once; the gateway must list every client at the router's
// outer address, each from a port of its own (RFC 7296 2.23: the gateway
// answers the address and port a request came from). A client that
// reconnects gets its address back.
func TestRemoteAccessBehindNAT(t *testing.T) {
	n := 4
	if v, err := strconv.Atoi(os.Getenv("ESPTUN_NAT_CLIENTS")); err == nil && v > 0 && v < 200 {
		n = v
	}
	l := newNATLab(t, n)
	start := time.Now()
	clients := make([]*rwClient, n)
	for i := range clients {
		clients[i] = l.addNATClient(t, i+1, fmt.Sprintf("u%d", i+1))
	}
	vips := l.startAll(t, clients, 30*time.Second)
	t.Logf("%d clients behind one NAT up with distinct virtual IPs in %v", n, time.Since(start).Round(time.Millisecond))

	// The gateway's view: one IKE SA per client, all at R's outer
	// address, each from another port.
	st := l.gw.rwStatus(t)
	byUser := map[string]rwIKESA{}
	ports := map[uint16]string{}
	for _, sa := range st.IKESAs {
		if sa.State != "ESTABLISHED" {
			continue
		}
		if _, dup := byUser[sa.EAPID]; dup {
			t.Errorf("gateway: two established IKE SAs for %s", sa.EAPID)
		}
		byUser[sa.EAPID] = sa
		ap, err := netip.ParseAddrPort(sa.RemoteAddr)
		if err != nil {
			t.Errorf("gateway: %s's remote_addr %q: %v", sa.EAPID, sa.RemoteAddr, err)
			continue
		}
		if ap.Addr() != natRouterWAN {
			t.Errorf("gateway: %s's remote_addr %s, want the router's %s", sa.EAPID, ap, natRouterWAN)
		}
		if o, dup := ports[ap.Port()]; dup {
			t.Errorf("gateway: %s and %s both at %s", o, sa.EAPID, ap)
		}
		ports[ap.Port()] = sa.EAPID
	}
	if len(byUser) != n {
		t.Fatalf("gateway: %d established IKE SAs, want %d: %+v", len(byUser), n, st.IKESAs)
	}
	for i, c := range clients {
		sa := byUser[c.user]
		if len(sa.VIPs) != 1 || sa.VIPs[0] != vips[i].String() {
			t.Errorf("gateway: %s has vips %v, the client has %s", c.user, sa.VIPs, vips[i])
		}
		t.Logf("gateway: %s at %s with %v", c.user, sa.RemoteAddr, sa.VIPs)
	}

	// Everyone at once: pings, then a TCP transfer from each.
	const size = 128 << 10
	all := func(fn func(i int, c *rwClient) error) {
		errs := make([]error, n)
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
	for i, c := range clients {
		c.pingEventually(t, vips[i], rwOfficeHost, 10*time.Second)
	}
	all(func(i int, c *rwClient) error {
		if got, err := c.ns.Ping(vips[i], rwOfficeHost, 3, 56, 100*time.Millisecond, 5*time.Second); got != 3 {
			return fmt.Errorf("ping %s -> %s: %d of 3 answered (%v)", vips[i], rwOfficeHost, got, err)
		}
		return nil
	})
	all(func(i int, c *rwClient) error {
		if _, _, err := ikeTransfer(c.gateway, l.gw, vips[i], rwOfficeHost, size, nil); err != nil {
			return fmt.Errorf("TCP %s -> %s: %v", vips[i], rwOfficeHost, err)
		}
		return nil
	})
	for _, sa := range l.gw.rwStatus(t).IKESAs {
		if len(sa.Children) != 1 || sa.Children[0].BytesIn < size {
			t.Errorf("gateway: %s's Child SAs %+v, want one with at least %d bytes in", sa.EAPID, sa.Children, size)
		}
	}
	t.Logf("%d clients behind one NAT: 3 pings and %d KiB of TCP each, all at once", n, size>>10)

	// One client leaves and comes back: the same address again.
	leaver := clients[0]
	leaver.stop(t)
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
	leaver.restart(t)
	if v := leaver.waitVIP(t, 30*time.Second); v != vips[0] {
		t.Errorf("%s reconnected from behind the NAT and got %s, want its earlier %s", leaver.user, v, vips[0])
	} else {
		t.Logf("%s reconnected from behind the NAT and got %s back", leaver.user, v)
	}
	leaver.pingEventually(t, vips[0], rwOfficeHost, 10*time.Second)
	// The others were not disturbed.
	all(func(i int, c *rwClient) error {
		if got, err := c.ns.Ping(vips[i], rwOfficeHost, 2, 56, 100*time.Millisecond, 5*time.Second); got != 2 {
			return fmt.Errorf("ping %s -> %s after the reconnect: %d of 2 answered (%v)", vips[i], rwOfficeHost, got, err)
		}
		return nil
	})

	for _, c := range clients {
		c.stop(t)
		if r := c.resolvConf(t); r != rwOrigResolv {
			t.Errorf("%s: resolv.conf after exit:\n%s", c.name, r)
		}
	}
	l.checkSecretsNotLogged(t)
	t.Logf("behind one NAT: %d clients in %v", n, time.Since(start).Round(time.Millisecond))
}
