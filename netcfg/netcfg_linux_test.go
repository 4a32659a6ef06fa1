//go:build linux

package netcfg

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/esptun/esptun/internal/netns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
	"golang.zx2c4.com/wireguard/tun"
)

// The lab is one network namespace with a veth pair (veth0 192.0.2.1/24 and
// 2001:db8:1::1/64, default routes via 192.0.2.254 and 2001:db8:1::ff, which
// need not exist for route lookups) and a TUN device esptun0, down and
// without addresses, as the tunnel package leaves it before the IKE SA is up.
const (
	labTUN  = "esptun0"
	labVeth = "veth0"
	labGW4  = "192.0.2.254"
	labGW6  = "2001:db8:1::ff"
)

var labSeq atomic.Int32

type lab struct {
	ns  *netns.NS
	dir string
	dev tun.Device
}

func newLab(t *testing.T) *lab {
	t.Helper()
	if err := netns.Available(); err != nil {
		t.Skipf("netcfg: the namespace tests need root, /dev/net/tun and ip(8): %v", err)
	}
	name := fmt.Sprintf("esptunnc-%d-%d", os.Getpid(), labSeq.Add(1))
	ns, err := netns.New(name)
	if err != nil {
		t.Fatal(err)
	}
	l := &lab{ns: ns, dir: t.TempDir()}
	t.Cleanup(func() {
		l.closeTUN()
		if err := ns.Delete(); err != nil {
			t.Errorf("delete namespace: %v", err)
		}
	})
	for _, args := range [][]string{
		{"ip", "link", "add", labVeth, "type", "veth", "peer", "name", "veth1"},
		// No link-local addresses: their DAD ends at some moment during
		// the test and would change the snapshots.
		{"ip", "link", "set", labVeth, "addrgenmode", "none"},
		{"ip", "link", "set", "veth1", "addrgenmode", "none"},
		{"ip", "link", "set", labVeth, "up"},
		{"ip", "link", "set", "veth1", "up"},
		{"ip", "addr", "add", "192.0.2.1/24", "dev", labVeth},
		{"ip", "-6", "addr", "add", "2001:db8:1::1/64", "dev", labVeth, "nodad"},
		{"ip", "route", "add", "default", "via", labGW4},
		{"ip", "-6", "route", "add", "default", "via", labGW6},
	} {
		if _, err := ns.Run(args...); err != nil {
			t.Fatal(err)
		}
	}
	l.createTUN(t)
	return l
}

func (l *lab) createTUN(t *testing.T) {
	t.Helper()
	if err := l.ns.Do(func() (err error) {
		l.dev, err = tun.CreateTUN(labTUN, 1400)
		return err
	}); err != nil {
		t.Fatalf("create TUN: %v", err)
	}
}

// closeTUN destroys the TUN device, as the daemon's exit does.
func (l *lab) closeTUN() {
	if l.dev != nil {
		l.dev.Close()
		l.dev = nil
	}
}

func (l *lab) do(t *testing.T, fn func() error) {
	t.Helper()
	if err := l.ns.Do(fn); err != nil {
		t.Fatal(err)
	}
}

// snapshot lists the links with their up flag, every address, every route
// of every table and every rule, by interface name (not index, which a
// recreated device changes), plus the resolv.conf file.
func (l *lab) snapshot(t *testing.T, resolvConf string) []string {
	t.Helper()
	var out []string
	l.do(t, func() error {
		links, err := netlink.LinkList()
		if err != nil {
			return err
		}
		names := map[int]string{}
		for _, ln := range links {
			a := ln.Attrs()
			names[a.Index] = a.Name
			out = append(out, fmt.Sprintf("link %s up=%v", a.Name, a.Flags&1 != 0))
			addrs, err := netlink.AddrList(ln, netlink.FAMILY_ALL)
			if err != nil {
				return err
			}
			for _, ad := range addrs {
				out = append(out, fmt.Sprintf("addr %s %s", a.Name, ad.IPNet))
			}
		}
		routes, err := netlink.RouteListFiltered(netlink.FAMILY_ALL, &netlink.Route{Table: unix.RT_TABLE_UNSPEC}, netlink.RT_FILTER_TABLE)
		if err != nil {
			return err
		}
		for _, r := range routes {
			out = append(out, fmt.Sprintf("route table %d type %d dst %v dev %s gw %v src %v scope %d proto %d",
				r.Table, r.Type, r.Dst, names[r.LinkIndex], r.Gw, r.Src, r.Scope, r.Protocol))
		}
		rules, err := netlink.RuleList(netlink.FAMILY_ALL)
		if err != nil {
			return err
		}
		for _, r := range rules {
			out = append(out, fmt.Sprintf("rule family %d %v suppress %d", r.Family, r, r.SuppressPrefixlen))
		}
		return nil
	})
	out = append(out, "resolv.conf "+snapshotFile(t, resolvConf))
	slices.Sort(out)
	return out
}

func sameSnapshot(t *testing.T, what string, before, after []string) {
	t.Helper()
	if slices.Equal(before, after) {
		return
	}
	for _, s := range before {
		if !slices.Contains(after, s) {
			t.Errorf("%s: gone: %s", what, s)
		}
	}
	for _, s := range after {
		if !slices.Contains(before, s) {
			t.Errorf("%s: left behind: %s", what, s)
		}
	}
}

// routeVia returns the interface and gateway the namespace routes dst
// through, with the policy rules applied (RTM_GETROUTE, as "ip route get").
func (l *lab) routeVia(t *testing.T, dst string) (dev string, gw, src netip.Addr) {
	t.Helper()
	l.do(t, func() error {
		rs, err := netlink.RouteGet(netip.MustParseAddr(dst).AsSlice())
		if err != nil {
			return fmt.Errorf("route get %s: %w", dst, err)
		}
		ln, err := netlink.LinkByIndex(rs[0].LinkIndex)
		if err != nil {
			return err
		}
		dev = ln.Attrs().Name
		gw, _ = netip.AddrFromSlice(rs[0].Gw)
		src, _ = netip.AddrFromSlice(rs[0].Src)
		gw, src = gw.Unmap(), src.Unmap()
		return nil
	})
	return dev, gw, src
}

func (l *lab) wantRoute(t *testing.T, dst, dev, gw string) {
	t.Helper()
	gotDev, gotGW, _ := l.routeVia(t, dst)
	wantGW := netip.Addr{}
	if gw != "" {
		wantGW = netip.MustParseAddr(gw)
	}
	if gotDev != dev || gotGW != wantGW {
		t.Errorf("route to %s: dev %s gw %v, want dev %s gw %v", dst, gotDev, gotGW, dev, wantGW)
	}
}

// randomInternet4 and randomInternet6 return global unicast addresses
// outside every range the lab uses.
func randomInternet4() string {
	return netip.AddrFrom4([4]byte{byte(1 + rand.IntN(100)), byte(rand.IntN(256)), byte(rand.IntN(256)), byte(1 + rand.IntN(254))}).String()
}

func randomInternet6() string {
	var b [16]byte
	b[0], b[1] = 0x26, byte(rand.IntN(256))
	for i := 2; i < 16; i++ {
		b[i] = byte(rand.IntN(256))
	}
	return netip.AddrFrom16(b).String()
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func (l *lab) fullTunnel() Config {
	return Config{
		Interface: labTUN,
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.99.0.2/32"), netip.MustParsePrefix("fd00:99::2/128")},
		Routes: []netip.Prefix{
			netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0"),
			netip.MustParsePrefix("192.0.2.128/25"), // a traffic selector inside the LAN
		},
		Exclude:    []netip.Addr{netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("2001:db8:ffff::7")},
		DNS:        []netip.Addr{netip.MustParseAddr("10.99.0.53"), netip.MustParseAddr("fd00:99::53")},
		StateFile:  filepath.Join(l.dir, "run", "netcfg.json"),
		DNSMethod:  DNSResolvConf,
		ResolvConf: filepath.Join(l.dir, "resolv.conf"),
	}
}

func (l *lab) writeResolvConf(t *testing.T, c Config) {
	t.Helper()
	if err := os.WriteFile(c.ResolvConf, []byte("# from DHCP\nsearch lan\nnameserver 192.0.2.254\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// checkFullTunnelUp asserts what Apply of lab.fullTunnel must have done.
func (l *lab) checkFullTunnelUp(t *testing.T, c Config) {
	t.Helper()
	for _, dst := range []string{randomInternet4(), randomInternet4(), randomInternet6(), "192.0.2.200"} {
		l.wantRoute(t, dst, labTUN, "")
	}
	if _, _, src := l.routeVia(t, randomInternet4()); src != netip.MustParseAddr("10.99.0.2") {
		t.Errorf("source address into the tunnel %v, want the virtual IP", src)
	}
	if _, _, src := l.routeVia(t, randomInternet6()); src != netip.MustParseAddr("fd00:99::2") {
		t.Errorf("IPv6 source address into the tunnel %v, want the virtual IP", src)
	}
	// The outer peer addresses still leave through the veth and its
	// gateway, a neighbour of them in the tunnel's routes does not, and
	// the LAN stays on the LAN.
	l.wantRoute(t, "203.0.113.7", labVeth, labGW4)
	l.wantRoute(t, "2001:db8:ffff::7", labVeth, labGW6)
	l.wantRoute(t, "203.0.113.8", labTUN, "")
	l.wantRoute(t, "192.0.2.77", labVeth, "")
	l.wantRoute(t, "2001:db8:1::77", labVeth, "")

	snap := strings.Join(l.snapshot(t, c.ResolvConf), "\n")
	for _, want := range []string{
		"addr esptun0 10.99.0.2/32", "addr esptun0 fd00:99::2/128", "link esptun0 up=true",
		"rule family 2 ip rule 221: from all to all table 221  suppress 0",
		"rule family 2 ip rule 222: from all to all table 254  suppress 0",
		"rule family 2 ip rule 223: from all to all table 221  suppress -1",
		"rule family 10 ip rule 221: from all to all table 221  suppress 0",
		"rule family 10 ip rule 222: from all to all table 254  suppress 0",
		"rule family 10 ip rule 223: from all to all table 221  suppress -1",
		"nameserver 10.99.0.53\nnameserver fd00:99::53\nsearch lan\n",
	} {
		if c.DNSMethod == DNSNone && strings.HasPrefix(want, "nameserver") {
			continue
		}
		if !strings.Contains(snap, want) {
			t.Errorf("missing %q in\n%s", want, snap)
		}
	}
	if strings.Contains(snap, "192.0.2.254\n") {
		t.Errorf("the old nameserver is still in resolv.conf:\n%s", snap)
	}
	b, err := os.ReadFile(c.StateFile)
	if err != nil {
		t.Fatalf("state file: %v", err)
	}
	if _, err := decodeState(b); err != nil {
		t.Errorf("state file: %v\n%s", err, b)
	}
}

func TestApplyUndoFullTunnel(t *testing.T) {
	l := newLab(t)
	c := l.fullTunnel()
	l.writeResolvConf(t, c)
	before := l.snapshot(t, c.ResolvConf)
	l.wantRoute(t, randomInternet4(), labVeth, labGW4)

	var a *Applied
	l.do(t, func() (err error) {
		a, err = Apply(c, testLogger(t))
		return err
	})
	l.checkFullTunnelUp(t, c)

	l.do(t, a.Undo)
	sameSnapshot(t, "after Undo", before, l.snapshot(t, c.ResolvConf))
	if _, err := os.Stat(c.StateFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("state file after Undo: %v", err)
	}
	l.do(t, a.Undo) // a second Undo does nothing
	l.wantRoute(t, randomInternet4(), labVeth, labGW4)
}

func TestApplyUndoSplitTunnel(t *testing.T) {
	l := newLab(t)
	c := Config{
		Interface: labTUN,
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.200.9.2/32")},
		Routes: []netip.Prefix{
			netip.MustParsePrefix("10.200.0.0/16"),
			netip.MustParsePrefix("203.0.113.0/24"), // holds the peer
			netip.MustParsePrefix("fd00:200::/48"),  // no IPv6 virtual IP: no source
		},
		Exclude:    []netip.Addr{netip.MustParseAddr("203.0.113.7"), netip.MustParseAddr("198.51.100.1")},
		DNS:        []netip.Addr{netip.MustParseAddr("10.200.0.53")},
		Domains:    []string{"Corp.Example.", "bad domain"},
		StateFile:  filepath.Join(l.dir, "netcfg.json"),
		DNSMethod:  DNSResolvConf,
		ResolvConf: filepath.Join(l.dir, "resolv.conf"), // absent before
		Table:      100,
		Priority:   1000,
	}
	before := l.snapshot(t, c.ResolvConf)
	var a *Applied
	l.do(t, func() (err error) {
		a, err = Apply(c, testLogger(t))
		return err
	})
	l.wantRoute(t, "10.200.1.1", labTUN, "")
	l.wantRoute(t, "203.0.113.9", labTUN, "")
	l.wantRoute(t, "fd00:200::1", labTUN, "")
	l.wantRoute(t, "203.0.113.7", labVeth, labGW4)
	l.wantRoute(t, randomInternet4(), labVeth, labGW4)
	l.wantRoute(t, randomInternet6(), labVeth, labGW6)
	if _, _, src := l.routeVia(t, "10.200.1.1"); src != netip.MustParseAddr("10.200.9.2") {
		t.Errorf("source into the tunnel %v", src)
	}
	snap := l.snapshot(t, c.ResolvConf)
	var rules, throws []string
	for _, s := range snap {
		if strings.HasPrefix(s, "rule") && strings.Contains(s, "table 100") {
			rules = append(rules, s)
		}
		if strings.Contains(s, "type 9 ") { // RTN_THROW
			throws = append(throws, s)
		}
	}
	// One rule per family, no main-table rule: no full tunnel. One throw
	// route: 198.51.100.1 is outside every tunnel route.
	if len(rules) != 2 || len(throws) != 1 || !strings.Contains(throws[0], "203.0.113.7/32") {
		t.Errorf("rules %q, throw routes %q", rules, throws)
	}
	if rc := snap[slices.IndexFunc(snap, func(s string) bool { return strings.HasPrefix(s, "resolv.conf") })]; !strings.Contains(rc, "nameserver 10.200.0.53\n") {
		t.Errorf("%s", rc)
	}
	l.do(t, a.Undo)
	sameSnapshot(t, "after Undo", before, l.snapshot(t, c.ResolvConf))
}

// TestRecoverAfterCrash applies, then drops the *Applied without Undo as a
// crash would, and checks that Recover leaves the namespace as it was,
// whether the TUN device survived (a persistent device) or died with the
// process and the restarted daemon made a new one of the same name.
func TestRecoverAfterCrash(t *testing.T) {
	for _, recreate := range []bool{false, true} {
		t.Run(fmt.Sprintf("new device %v", recreate), func(t *testing.T) {
			l := newLab(t)
			c := l.fullTunnel()
			l.writeResolvConf(t, c)
			before := l.snapshot(t, c.ResolvConf)
			l.do(t, func() error {
				_, err := Apply(c, testLogger(t))
				return err
			})
			l.checkFullTunnelUp(t, c)
			if recreate {
				l.closeTUN()
				l.createTUN(t)
			}
			// The next start: Apply refuses until Recover ran.
			l.do(t, func() error {
				if _, err := Apply(c, testLogger(t)); !errors.Is(err, ErrStateExists) {
					return fmt.Errorf("Apply with a state file left: %v, want ErrStateExists", err)
				}
				return Recover(c.StateFile, testLogger(t))
			})
			sameSnapshot(t, "after Recover", before, l.snapshot(t, c.ResolvConf))
			if _, err := os.Stat(c.StateFile); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("state file after Recover: %v", err)
			}
			// And the next Apply works again.
			l.do(t, func() error {
				a, err := Apply(c, testLogger(t))
				if err != nil {
					return err
				}
				return a.Undo()
			})
			sameSnapshot(t, "after Apply and Undo", before, l.snapshot(t, c.ResolvConf))
		})
	}
}

// TestApplyRollsBack makes the last step (DNS) fail and checks that Apply
// takes back everything before it.
func TestApplyRollsBack(t *testing.T) {
	l := newLab(t)
	c := l.fullTunnel()
	c.ResolvConf = filepath.Join(l.dir, "no-such-dir", "resolv.conf")
	before := l.snapshot(t, c.ResolvConf)
	l.do(t, func() error {
		if _, err := Apply(c, testLogger(t)); err == nil {
			return errors.New("Apply succeeded with resolv.conf in a missing directory")
		}
		return nil
	})
	sameSnapshot(t, "after a failed Apply", before, l.snapshot(t, c.ResolvConf))
	if _, err := os.Stat(c.StateFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("state file after a failed Apply: %v", err)
	}
}

// TestApplyLeavesPresentAddress: an address on the device before Apply is
// not Apply's, and Undo keeps it. The device is up already, as the tunnel
// package leaves it.
func TestApplyLeavesPresentAddress(t *testing.T) {
	l := newLab(t)
	for _, args := range [][]string{
		{"ip", "link", "set", labTUN, "up"},
		{"ip", "addr", "add", "10.99.0.2/32", "dev", labTUN},
	} {
		if _, err := l.ns.Run(args...); err != nil {
			t.Fatal(err)
		}
	}
	c := Config{
		Interface: labTUN,
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.99.0.2/32"), netip.MustParsePrefix("10.99.0.3/32")},
		Routes:    []netip.Prefix{netip.MustParsePrefix("10.99.0.0/16")},
		StateFile: filepath.Join(l.dir, "netcfg.json"),
		DNSMethod: DNSNone,
		DNS:       []netip.Addr{netip.MustParseAddr("10.99.0.53")},
	}
	before := l.snapshot(t, filepath.Join(l.dir, "resolv.conf"))
	l.do(t, func() error {
		a, err := Apply(c, testLogger(t))
		if err != nil {
			return err
		}
		if st := a.st; st.LinkUp || len(st.Addresses) != 1 || st.Addresses[0] != c.Addresses[1] || st.ResolvConf != nil || st.Resolved != nil {
			return fmt.Errorf("recorded %+v", st)
		}
		return a.Undo()
	})
	sameSnapshot(t, "after Undo", before, l.snapshot(t, filepath.Join(l.dir, "resolv.conf")))
}

// TestResolvedAbsent: where systemd-resolved does not run (the build
// machines), asking for it fails and Apply rolls back. Where it runs, the
// D-Bus calls themselves are exercised by hand: they are not run here, to
// keep the host's resolver untouched.
func TestResolvedAbsent(t *testing.T) {
	if resolvedRunning() {
		t.Skip("systemd-resolved is running; this test is for hosts without it")
	}
	l := newLab(t)
	c := l.fullTunnel()
	c.DNSMethod = DNSResolved
	before := l.snapshot(t, c.ResolvConf)
	l.do(t, func() error {
		_, err := Apply(c, testLogger(t))
		if err == nil {
			return errors.New("Apply with DNSResolved succeeded without systemd-resolved")
		}
		t.Logf("Apply: %v", err)
		return nil
	})
	sameSnapshot(t, "after a failed Apply", before, l.snapshot(t, c.ResolvConf))
	if _, err := os.Stat(c.StateFile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("state file after a failed Apply: %v", err)
	}
}

// TestApplyTwice: a second Apply of the same Config (another state file)
// succeeds, taking over the rules that exist already; undoing both in any
// order restores the namespace.
func TestApplyTwice(t *testing.T) {
	l := newLab(t)
	c := l.fullTunnel()
	c.DNSMethod = DNSNone
	before := l.snapshot(t, c.ResolvConf)
	var first, second *Applied
	l.do(t, func() (err error) {
		if first, err = Apply(c, testLogger(t)); err != nil {
			return err
		}
		c.StateFile += ".2"
		second, err = Apply(c, testLogger(t))
		return err
	})
	if len(second.st.Addresses) != 0 || len(second.st.Rules) != 6 || second.st.LinkUp {
		t.Errorf("second Apply recorded %+v", second.st)
	}
	l.checkFullTunnelUp(t, c)
	l.do(t, second.Undo)
	l.do(t, first.Undo)
	sameSnapshot(t, "after both Undo", before, l.snapshot(t, c.ResolvConf))
}
