package netcfg

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/esptun/esptun/internal/sysnet"
)

// fakeSys is a macOS or Windows host that records the commands it is given.
type fakeSys struct {
	goos    string
	ifaces  map[string]int
	present []netip.Prefix
	hops    map[netip.Addr]sysnet.NextHop
	ran     []string
	// fail makes a command that contains it fail with out.
	fail string
	out  string
}

func (f *fakeSys) host() *sysHost {
	return &sysHost{
		goos: f.goos,
		run: func(c sysnet.Cmd) ([]byte, error) {
			s := c.String()
			if c.Stdin != "" {
				s += " <<" + strings.ReplaceAll(c.Stdin, "\n", ";")
			}
			if f.fail != "" && strings.Contains(s, f.fail) {
				return []byte(f.out), fmt.Errorf("%s: exit status 1: %s", s, f.out)
			}
			f.ran = append(f.ran, s)
			return nil, nil
		},
		peerRoute: func(a netip.Addr) (sysnet.NextHop, error) {
			hop, ok := f.hops[a]
			if !ok {
				return sysnet.NextHop{}, errors.New("no route")
			}
			return hop, nil
		},
		iface: func(name string) (int, []netip.Prefix, error) {
			i, ok := f.ifaces[name]
			if !ok {
				return 0, nil, errors.New("no such interface")
			}
			return i, f.present, nil
		},
	}
}

var (
	peer4 = netip.MustParseAddr("203.0.113.7")
	gw4   = netip.MustParseAddr("192.168.1.1")
)

func fullTunnelConfig(iface, stateFile string) Config {
	return Config{
		Interface: iface,
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.99.0.2/32"), netip.MustParsePrefix("fd00:99::2/128")},
		Routes:    []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")},
		Exclude:   []netip.Addr{peer4},
		DNS:       []netip.Addr{netip.MustParseAddr("10.99.0.53")},
		StateFile: stateFile,
	}
}

func macHost() *fakeSys {
	return &fakeSys{goos: osDarwin, ifaces: map[string]int{"utun4": 12},
		hops: map[netip.Addr]sysnet.NextHop{peer4: {Gateway: gw4, Interface: "en0"}}}
}

func winHost() *fakeSys {
	return &fakeSys{goos: osWindows, ifaces: map[string]int{"esptun0": 31},
		hops: map[netip.Addr]sysnet.NextHop{peer4: {Gateway: gw4, Index: 7}}}
}

var macFullTunnelDo = []string{
	"/sbin/ifconfig utun4 inet 10.99.0.2/32 10.99.0.2 alias",
	"/sbin/ifconfig utun4 inet6 fd00:99::2/128 alias",
	"/sbin/route -q -n add -inet 203.0.113.7/32 -gateway 192.168.1.1",
	"/sbin/route -q -n add -inet 0.0.0.0/1 -interface utun4",
	"/sbin/route -q -n add -inet 128.0.0.0/1 -interface utun4",
	"/sbin/route -q -n add -inet6 ::/1 -interface utun4",
	"/sbin/route -q -n add -inet6 8000::/1 -interface utun4",
	"/usr/sbin/scutil <<d.init;d.add ServerAddresses * 10.99.0.53;set State:/Network/Service/esptun.utun4.221/DNS;" +
		"d.init;d.add InterfaceName utun4;d.add Addresses * 10.99.0.2;d.add SubnetMasks * 255.255.255.255;" +
		"d.add OverridePrimary # 1;set State:/Network/Service/esptun.utun4.221/IPv4;quit;",
}

var macFullTunnelUndo = []string{
	"/usr/sbin/scutil <<remove State:/Network/Service/esptun.utun4.221/DNS;remove State:/Network/Service/esptun.utun4.221/IPv4;quit;",
	"/sbin/route -q -n delete -inet6 8000::/1 -interface utun4",
	"/sbin/route -q -n delete -inet6 ::/1 -interface utun4",
	"/sbin/route -q -n delete -inet 128.0.0.0/1 -interface utun4",
	"/sbin/route -q -n delete -inet 0.0.0.0/1 -interface utun4",
	"/sbin/route -q -n delete -inet 203.0.113.7/32 -gateway 192.168.1.1",
	"/sbin/ifconfig utun4 inet6 fd00:99::2 -alias",
	"/sbin/ifconfig utun4 inet 10.99.0.2 -alias",
}

var winFullTunnelDo = []string{
	"netsh.exe interface ipv4 add address name=esptun0 address=10.99.0.2/32 store=active",
	"netsh.exe interface ipv6 add address interface=esptun0 address=fd00:99::2/128 store=active",
	"netsh.exe interface ipv4 add route prefix=203.0.113.7/32 interface=7 nexthop=192.168.1.1 store=active",
	"netsh.exe interface ipv4 add route prefix=0.0.0.0/1 interface=esptun0 nexthop=0.0.0.0 metric=0 store=active",
	"netsh.exe interface ipv4 add route prefix=128.0.0.0/1 interface=esptun0 nexthop=0.0.0.0 metric=0 store=active",
	"netsh.exe interface ipv6 add route prefix=::/1 interface=esptun0 nexthop=:: metric=0 store=active",
	"netsh.exe interface ipv6 add route prefix=8000::/1 interface=esptun0 nexthop=:: metric=0 store=active",
	"netsh.exe interface ipv4 set dnsservers name=esptun0 source=static address=10.99.0.53 register=none validate=no",
	"powershell.exe -NoProfile -NonInteractive -Command Add-DnsClientNrptRule -Namespace '.' -NameServers '10.99.0.53' -Comment 'esptun.esptun0.221'; Clear-DnsClientCache",
}

var winFullTunnelUndo = []string{
	"powershell.exe -NoProfile -NonInteractive -Command Get-DnsClientNrptRule | Where-Object { $_.Comment -eq 'esptun.esptun0.221' } | Remove-DnsClientNrptRule -Force; Clear-DnsClientCache",
	"netsh.exe interface ipv4 delete dnsservers name=esptun0 address=all validate=no",
	"netsh.exe interface ipv6 delete route prefix=8000::/1 interface=esptun0 nexthop=:: store=active",
	"netsh.exe interface ipv6 delete route prefix=::/1 interface=esptun0 nexthop=:: store=active",
	"netsh.exe interface ipv4 delete route prefix=128.0.0.0/1 interface=esptun0 nexthop=0.0.0.0 store=active",
	"netsh.exe interface ipv4 delete route prefix=0.0.0.0/1 interface=esptun0 nexthop=0.0.0.0 store=active",
	"netsh.exe interface ipv4 delete route prefix=203.0.113.7/32 interface=7 nexthop=192.168.1.1 store=active",
	"netsh.exe interface ipv6 delete address interface=esptun0 address=fd00:99::2 store=active",
	"netsh.exe interface ipv4 delete address name=esptun0 address=10.99.0.2 store=active",
}

func equalLines(t *testing.T, what string, got, want []string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Errorf("%s:\n got %s\nwant %s", what, strings.Join(got, "\n     "), strings.Join(want, "\n     "))
	}
}

func TestSysApplyUndoFullTunnel(t *testing.T) {
	for _, tc := range []struct {
		name       string
		f          *fakeSys
		iface      string
		do, undo   []string
		wantKinds  []string
		wantOS     string
		wantIfIdex int
	}{
		{"darwin", macHost(), "utun4", macFullTunnelDo, macFullTunnelUndo,
			[]string{"address", "address", "peer_route", "route", "route", "route", "route", "dns"}, osDarwin, 12},
		{"windows", winHost(), "esptun0", winFullTunnelDo, winFullTunnelUndo,
			[]string{"address", "address", "peer_route", "route", "route", "route", "route", "dns", "nrpt"}, osWindows, 31},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sf := filepath.Join(t.TempDir(), "state.json")
			a, err := sysApply(tc.f.host(), fullTunnelConfig(tc.iface, sf), nil)
			if err != nil {
				t.Fatal(err)
			}
			equalLines(t, "apply", tc.f.ran, tc.do)
			b, err := os.ReadFile(sf)
			if err != nil {
				t.Fatal(err)
			}
			st, err := decodeState(b)
			if err != nil {
				t.Fatalf("state file: %v\n%s", err, b)
			}
			var kinds []string
			for _, ch := range st.Changes {
				kinds = append(kinds, ch.Kind)
			}
			if st.OS != tc.wantOS || st.Interface != tc.iface || st.Index != tc.wantIfIdex || !slices.Equal(kinds, tc.wantKinds) {
				t.Errorf("state: os %q interface %q index %d kinds %v", st.OS, st.Interface, st.Index, kinds)
			}
			if pr := st.Changes[2]; pr.Dst != sysnet.HostPrefix(peer4) || pr.Gateway != gw4 {
				t.Errorf("peer route recorded as %+v", pr)
			}
			tc.f.ran = nil
			if err := a.Undo(); err != nil {
				t.Fatal(err)
			}
			equalLines(t, "undo", tc.f.ran, tc.undo)
			if _, err := os.Stat(sf); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("state file after Undo: %v", err)
			}
			tc.f.ran = nil
			if err := a.Undo(); err != nil || len(tc.f.ran) > 0 {
				t.Errorf("second Undo: %v, ran %v", err, tc.f.ran)
			}
		})
	}
}

func TestSysRecoverAfterCrash(t *testing.T) {
	for _, tc := range []struct {
		name  string
		f     *fakeSys
		iface string
		undo  []string
	}{
		{"darwin", macHost(), "utun4", macFullTunnelUndo},
		{"windows", winHost(), "esptun0", winFullTunnelUndo},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sf := filepath.Join(t.TempDir(), "state.json")
			c := fullTunnelConfig(tc.iface, sf)
			if _, err := sysApply(tc.f.host(), c, nil); err != nil {
				t.Fatal(err)
			}
			// The daemon dies here without Undo.
			if _, err := sysApply(tc.f.host(), c, nil); !errors.Is(err, ErrStateExists) {
				t.Fatalf("Apply over a state file: %v, want ErrStateExists", err)
			}
			tc.f.ran = nil
			if err := recoverWith(sf, nil, tc.f.host()); err != nil {
				t.Fatal(err)
			}
			equalLines(t, "recover", tc.f.ran, tc.undo)
			if _, err := os.Stat(sf); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("state file after Recover: %v", err)
			}
			if _, err := sysApply(tc.f.host(), c, nil); err != nil {
				t.Errorf("Apply after Recover: %v", err)
			}
		})
	}
}

// A crash before the TUN device went: the device is gone now, and with it
// the addresses and routes; only the peer route and DNS need undoing.
func TestSysRecoverDeviceGone(t *testing.T) {
	f := macHost()
	sf := filepath.Join(t.TempDir(), "state.json")
	if _, err := sysApply(f.host(), fullTunnelConfig("utun4", sf), nil); err != nil {
		t.Fatal(err)
	}
	delete(f.ifaces, "utun4")
	f.ran = nil
	// route(8) says the peer route is gone too (the interface it used went
	// down meanwhile): that counts as undone.
	f.fail, f.out = "203.0.113.7", "route: writing to routing socket: not in table\n"
	if err := recoverWith(sf, nil, f.host()); err != nil {
		t.Fatal(err)
	}
	equalLines(t, "recover", f.ran, macFullTunnelUndo[:1])
	if _, err := os.Stat(sf); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file after Recover: %v", err)
	}
}

// An undo that really fails keeps its change in the state file, and a later
// Recover retries just that.
func TestSysUndoFailureKept(t *testing.T) {
	f := winHost()
	sf := filepath.Join(t.TempDir(), "state.json")
	a, err := sysApply(f.host(), fullTunnelConfig("esptun0", sf), nil)
	if err != nil {
		t.Fatal(err)
	}
	f.fail, f.out = "delete route prefix=203.0.113.7/32", "Access is denied.\n"
	if err := a.Undo(); err == nil || !strings.Contains(err.Error(), "Access is denied") {
		t.Fatalf("Undo: %v, want the netsh failure", err)
	}
	b, err := os.ReadFile(sf)
	if err != nil {
		t.Fatal(err)
	}
	st, err := decodeState(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Changes) != 1 || st.Changes[0].Kind != changePeerRoute {
		t.Fatalf("state after a failed Undo: %+v", st.Changes)
	}
	f.fail, f.ran = "", nil
	if err := recoverWith(sf, nil, f.host()); err != nil {
		t.Fatal(err)
	}
	equalLines(t, "recover", f.ran, []string{winFullTunnelUndo[6]})
}

func TestSysApplyRollsBack(t *testing.T) {
	f := macHost()
	sf := filepath.Join(t.TempDir(), "state.json")
	f.fail, f.out = "add -inet 128.0.0.0/1", "route: writing to routing socket: File exists\n"
	if _, err := sysApply(f.host(), fullTunnelConfig("utun4", sf), nil); err == nil {
		t.Fatal("Apply succeeded")
	}
	// The failed route is recorded before it is tried, so its removal
	// runs too (and finds nothing, which counts as done).
	want := append(slices.Clone(macFullTunnelDo[:4]),
		"/sbin/route -q -n delete -inet 128.0.0.0/1 -interface utun4",
		macFullTunnelUndo[4], macFullTunnelUndo[5], macFullTunnelUndo[6], macFullTunnelUndo[7])
	equalLines(t, "apply and rollback", f.ran, want)
	if _, err := os.Stat(sf); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file after a rolled back Apply: %v", err)
	}
}

func TestSysPlan(t *testing.T) {
	hops := map[netip.Addr]sysnet.NextHop{peer4: {Gateway: gw4, Interface: "en0"}}
	base := Config{Interface: "utun4", Table: 222,
		Addresses: []netip.Prefix{netip.MustParsePrefix("10.99.0.2/32")},
		Routes:    []netip.Prefix{netip.MustParsePrefix("10.1.0.0/16")},
		Exclude:   []netip.Addr{peer4},
		DNS:       []netip.Addr{netip.MustParseAddr("10.1.0.53"), netip.MustParseAddr("fd00::53")},
		Domains:   []string{"corp.example", "lab.example"},
	}
	t.Run("split tunnel, split DNS, address present", func(t *testing.T) {
		for _, goos := range []string{osDarwin, osWindows} {
			chs, err := sysPlan(goos, base, base.Addresses, hops)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, ch := range chs {
				for _, c := range sysDo(goos, "utun4", ch) {
					got = append(got, c.String()+" "+strings.ReplaceAll(c.Stdin, "\n", ";"))
				}
			}
			// The peer is outside 10.1.0.0/16: no peer route.
			want := map[string][]string{
				osDarwin: {
					"/sbin/route -q -n add -inet 10.1.0.0/16 -interface utun4 ",
					"/usr/sbin/scutil d.init;d.add ServerAddresses * 10.1.0.53 fd00::53;" +
						"d.add SupplementalMatchDomains * corp.example lab.example;d.add SupplementalMatchDomainsNoSearch # 1;" +
						"set State:/Network/Service/esptun.utun4.222/DNS;quit;",
				},
				osWindows: {
					"netsh.exe interface ipv4 add route prefix=10.1.0.0/16 interface=utun4 nexthop=0.0.0.0 metric=0 store=active ",
					"powershell.exe -NoProfile -NonInteractive -Command Add-DnsClientNrptRule " +
						"-Namespace 'corp.example','.corp.example','lab.example','.lab.example' -NameServers '10.1.0.53','fd00::53' " +
						"-Comment 'esptun.utun4.222'; Clear-DnsClientCache ",
				},
			}[goos]
			equalLines(t, goos, got, want)
		}
	})
	t.Run("peer inside a selector", func(t *testing.T) {
		c := base
		c.Routes = []netip.Prefix{netip.MustParsePrefix("203.0.113.0/24")}
		chs, err := sysPlan(osDarwin, c, nil, hops)
		if err != nil {
			t.Fatal(err)
		}
		if chs[1].Kind != changePeerRoute || chs[2].Kind != changeRoute {
			t.Errorf("plan %+v", chs)
		}
		if _, err := sysPlan(osDarwin, c, nil, nil); err == nil {
			t.Error("no error without the peer's route")
		}
		pinned := map[netip.Addr]sysnet.NextHop{peer4: {Gateway: gw4, Interface: "en0", Host: true}}
		chs, err = sysPlan(osDarwin, c, nil, pinned)
		if err != nil || slices.ContainsFunc(chs, func(ch sysChange) bool { return ch.Kind == changePeerRoute }) {
			t.Errorf("a peer with a host route already got another: %v %+v", err, chs)
		}
	})
	t.Run("windows several servers", func(t *testing.T) {
		c := base
		c.Domains = nil
		c.DNS = []netip.Addr{netip.MustParseAddr("10.1.0.53"), netip.MustParseAddr("fd00::53"), netip.MustParseAddr("10.1.0.54")}
		chs, err := sysPlan(osWindows, c, nil, hops)
		if err != nil {
			t.Fatal(err)
		}
		var dns sysChange
		for _, ch := range chs {
			if ch.Kind == changeDNS {
				dns = ch
			}
		}
		var got []string
		for _, cmd := range append(sysDo(osWindows, "esptun0", dns), sysUndo(osWindows, "esptun0", dns)...) {
			got = append(got, cmd.String())
		}
		equalLines(t, "dns", got, []string{
			"netsh.exe interface ipv4 set dnsservers name=esptun0 source=static address=10.1.0.53 register=none validate=no",
			"netsh.exe interface ipv4 add dnsservers name=esptun0 address=10.1.0.54 index=2 validate=no",
			"netsh.exe interface ipv6 set dnsservers name=esptun0 source=static address=fd00::53 register=none validate=no",
			"netsh.exe interface ipv4 delete dnsservers name=esptun0 address=all validate=no",
			"netsh.exe interface ipv6 delete dnsservers name=esptun0 address=all validate=no",
		})
	})
	t.Run("linux DNS methods", func(t *testing.T) {
		c := base
		c.DNSMethod = DNSResolvConf
		if _, err := sysPlan(osDarwin, c, nil, hops); err == nil {
			t.Error("resolv.conf accepted on macOS")
		}
		c.DNSMethod = DNSNone
		chs, err := sysPlan(osDarwin, c, nil, hops)
		if err != nil || slices.ContainsFunc(chs, func(ch sysChange) bool { return ch.Kind == changeDNS }) {
			t.Errorf("DNSNone: %v %+v", err, chs)
		}
	})
}

func TestSysApplyPeerInTunnel(t *testing.T) {
	f := macHost()
	f.hops[peer4] = sysnet.NextHop{Interface: "utun4"}
	sf := filepath.Join(t.TempDir(), "state.json")
	if _, err := sysApply(f.host(), fullTunnelConfig("utun4", sf), nil); err == nil {
		t.Fatal("Apply accepted a peer routed into the tunnel")
	}
	if len(f.ran) > 0 {
		t.Errorf("ran %v", f.ran)
	}
	if _, err := sysApply(f.host(), fullTunnelConfig("utun9", sf), nil); err == nil {
		t.Fatal("Apply accepted a missing interface")
	}
}

func sampleSysState() *state {
	return &state{Version: stateVersion, OS: osDarwin, Interface: "utun4", Index: 12, Changes: []sysChange{
		{Kind: changeAddress, Dst: netip.MustParsePrefix("10.99.0.2/32")},
		{Kind: changePeerRoute, Dst: netip.MustParsePrefix("203.0.113.7/32"), Via: "en0"},
		{Kind: changeRoute, Dst: netip.MustParsePrefix("0.0.0.0/1")},
		{Kind: changeDNS, Service: "esptun.utun4.221", Servers: []netip.Addr{netip.MustParseAddr("10.99.0.53")},
			Domains: []string{"corp.example"}},
	}}
}

func TestSysStateRejects(t *testing.T) {
	if err := sampleSysState().check(); err != nil {
		t.Fatalf("sample: %v", err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*state)
	}{
		{"os", func(s *state) { s.OS = "plan9" }},
		{"interface as an option", func(s *state) { s.Interface = "-flush" }},
		{"changes without os", func(s *state) { s.OS = "" }},
		{"linux fields", func(s *state) { s.LinkUp = true }},
		{"kind", func(s *state) { s.Changes[0].Kind = "exec" }},
		{"address", func(s *state) { s.Changes[0].Dst = netip.Prefix{} }},
		{"peer route not a host", func(s *state) { s.Changes[1].Dst = netip.MustParsePrefix("203.0.113.0/24") }},
		{"peer route without a way", func(s *state) { s.Changes[1].Via = "" }},
		{"peer route interface", func(s *state) { s.Changes[1].Via = "-flush" }},
		{"gateway family", func(s *state) { s.Changes[1].Gateway = netip.MustParseAddr("fe80::1") }},
		{"service quote", func(s *state) { s.Changes[3].Service = "x' ; Remove-Item" }},
		{"service newline", func(s *state) { s.Changes[3].Service = "x\nremove State:/Network/Global/DNS" }},
		{"domain", func(s *state) { s.Changes[3].Domains = []string{"corp example"} }},
		{"no servers", func(s *state) { s.Changes[3].Servers = nil }},
		{"nrpt on macOS", func(s *state) { s.Changes[3].Kind = changeNRPT }},
		{"windows peer route without index", func(s *state) { s.OS = osWindows; s.Changes = s.Changes[1:2] }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := sampleSysState()
			tc.mod(st)
			if err := st.check(); err == nil {
				t.Errorf("accepted %+v", st)
			}
		})
	}
}

func TestSysStateRoundTrip(t *testing.T) {
	a := &Applied{stateFile: filepath.Join(t.TempDir(), "state.json"), st: sampleSysState()}
	if err := a.create(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(a.stateFile)
	if err != nil {
		t.Fatal(err)
	}
	got, err := decodeState(b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, sampleSysState()) {
		t.Errorf("round trip:\n got %+v\nwant %+v", got, sampleSysState())
	}
}

// A state of another system is not acted on and stays for a later try.
func TestSysRecoverOtherOS(t *testing.T) {
	a := &Applied{stateFile: filepath.Join(t.TempDir(), "state.json"), st: sampleSysState()}
	if err := a.create(); err != nil {
		t.Fatal(err)
	}
	f := winHost()
	if err := recoverWith(a.stateFile, nil, f.host()); err == nil {
		t.Fatal("a macOS state was undone on Windows")
	}
	if err := recoverWith(a.stateFile, nil, nil); err == nil {
		t.Fatal("a macOS state was undone on Linux")
	}
	if len(f.ran) > 0 {
		t.Errorf("ran %v", f.ran)
	}
	if _, err := os.Stat(a.stateFile); err != nil {
		t.Errorf("state file: %v", err)
	}
}
