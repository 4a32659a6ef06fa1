package sysnet

import (
	"encoding/binary"
	"net/netip"
	"slices"
	"strings"
	"testing"
)

func prefixes(ss ...string) []netip.Prefix {
	var ps []netip.Prefix
	for _, s := range ss {
		ps = append(ps, netip.MustParsePrefix(s))
	}
	return ps
}

func TestSplitDefault(t *testing.T) {
	got := SplitDefault(prefixes("10.1.2.3/16", "0.0.0.0/0", "::/0", "10.1.0.0/16", "0.0.0.0/1"))
	want := prefixes("10.1.0.0/16", "0.0.0.0/1", "128.0.0.0/1", "::/1", "8000::/1")
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
	if got := SplitDefault(nil); len(got) != 0 {
		t.Errorf("nil: %v", got)
	}
}

func TestParseMacRouteGet(t *testing.T) {
	for _, tc := range []struct {
		name, out string
		want      NextHop
		ok        bool
	}{
		{"gateway", "   route to: 203.0.113.7\ndestination: default\n       mask: default\n    gateway: 192.168.1.1\n" +
			"  interface: en0\n      flags: <UP,GATEWAY,DONE,STATIC,PRCLONING>\n recvpipe  sendpipe\n       0         0\n",
			NextHop{Gateway: netip.MustParseAddr("192.168.1.1"), Interface: "en0"}, true},
		{"ipv6 link-local gateway", "   route to: 2001:db8::7\ndestination: default\n    gateway: fe80::1%en0\n  interface: en0\n",
			NextHop{Gateway: netip.MustParseAddr("fe80::1%en0"), Interface: "en0"}, true},
		{"on link", "   route to: 192.168.1.20\ndestination: 192.168.1.0\n       mask: 255.255.255.0\n    gateway: link#6\n  interface: en0\n",
			NextHop{Interface: "en0"}, true},
		{"host route", "   route to: 203.0.113.7\ndestination: 203.0.113.7\n    gateway: 192.168.1.1\n  interface: en0\n      flags: <UP,GATEWAY,HOST,DONE,STATIC>\n",
			NextHop{Gateway: netip.MustParseAddr("192.168.1.1"), Interface: "en0", Host: true}, true},
		{"network route to the peer's own address", "   route to: 203.0.113.0\ndestination: 203.0.113.0\n       mask: 255.255.255.0\n    gateway: 192.168.1.1\n  interface: en0\n",
			NextHop{Gateway: netip.MustParseAddr("192.168.1.1"), Interface: "en0"}, true},
		{"no route", "route: writing to routing socket: not in table\n", NextHop{}, false},
		{"interface as an option", "    gateway: 10.0.0.1\n  interface: -flush\n", NextHop{}, false},
		{"garbage", "\x00:::\n:\ninterface:\n", NextHop{}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMacRouteGet([]byte(tc.out))
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("got %+v, %v; want %+v, ok %v", got, err, tc.want, tc.ok)
			}
		})
	}
}

func FuzzParseMacRouteGet(f *testing.F) {
	f.Add([]byte("    gateway: 192.168.1.1\n  interface: en0\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		hop, err := ParseMacRouteGet(b)
		if err == nil && !ValidIfName(hop.Interface) {
			t.Fatalf("accepted interface %q", hop.Interface)
		}
	})
}

func TestMacCommands(t *testing.T) {
	hop := NextHop{Interface: "en0"}
	got := []string{
		MacAddAddress("utun3", netip.MustParsePrefix("10.0.0.2/32")).String(),
		MacDelAddress("utun3", netip.MustParsePrefix("fd00::2/128")).String(),
		MacAddRoute("utun3", netip.MustParsePrefix("10.1.2.3/16")).String(),
		MacAddHostRoute(netip.MustParseAddr("192.168.1.20"), hop).String(),
		MacDelHostRoute(netip.MustParseAddr("2001:db8::7"), NextHop{Gateway: netip.MustParseAddr("fe80::1%en0")}).String(),
		MacRouteGet(netip.MustParseAddr("2001:db8::7")).String(),
		MacSetMTU("utun3", 1400).String(),
	}
	want := []string{
		"/sbin/ifconfig utun3 inet 10.0.0.2/32 10.0.0.2 alias",
		"/sbin/ifconfig utun3 inet6 fd00::2 -alias",
		"/sbin/route -q -n add -inet 10.1.0.0/16 -interface utun3",
		"/sbin/route -q -n add -inet 192.168.1.20/32 -interface en0",
		"/sbin/route -q -n delete -inet6 2001:db8::7/128 -gateway fe80::1%en0",
		"/sbin/route -n get -inet6 2001:db8::7",
		"/sbin/ifconfig utun3 mtu 1400",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	rm := ScutilRemove("esptun.utun3.221")
	if rm.Stdin != "remove State:/Network/Service/esptun.utun3.221/DNS\nremove State:/Network/Service/esptun.utun3.221/IPv4\nquit\n" {
		t.Errorf("scutil remove: %q", rm.Stdin)
	}
}

func TestWinCommands(t *testing.T) {
	got := []string{
		WinSetMTU("esptun0", 1400, true).String(),
		WinSetMTU("esptun0", 1400, false).String(),
		WinAddHostRoute(netip.MustParseAddr("2001:db8::7"), NextHop{Gateway: netip.MustParseAddr("fe80::1%5"), Index: 5}).String(),
		WinAddHostRoute(netip.MustParseAddr("192.168.1.20"), NextHop{Index: 5}).String(),
		NRPTAdd("a'b", []string{"."}, []netip.Addr{netip.MustParseAddr("10.0.0.53")}).Args[3],
	}
	want := []string{
		"netsh.exe interface ipv4 set subinterface interface=esptun0 mtu=1400 store=active",
		"netsh.exe interface ipv6 set subinterface interface=esptun0 mtu=1400 store=active",
		"netsh.exe interface ipv6 add route prefix=2001:db8::7/128 interface=5 nexthop=fe80::1 store=active",
		"netsh.exe interface ipv4 add route prefix=192.168.1.20/32 interface=5 nexthop=0.0.0.0 store=active",
		"Add-DnsClientNrptRule -Namespace '.' -NameServers '10.0.0.53' -Comment 'a''b'; Clear-DnsClientCache",
	}
	if !slices.Equal(got, want) {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if ns := NRPTNamespaces([]string{"corp.example", "."}); !slices.Equal(ns, []string{"corp.example", ".corp.example", "."}) {
		t.Errorf("namespaces %v", ns)
	}
}

func TestBestWinRoute(t *testing.T) {
	routes := []WinRoute{
		{Dst: netip.MustParsePrefix("0.0.0.0/0"), NextHop: netip.MustParseAddr("192.168.1.1"), Index: 5, Metric: 25},
		{Dst: netip.MustParsePrefix("0.0.0.0/0"), NextHop: netip.MustParseAddr("192.168.1.254"), Index: 5, Metric: 10},
		{Dst: netip.MustParsePrefix("0.0.0.0/0"), NextHop: netip.MustParseAddr("10.9.9.1"), Index: 9, Metric: 1},
		{Dst: netip.MustParsePrefix("192.168.1.0/24"), NextHop: netip.IPv4Unspecified(), Index: 5, Metric: 256},
		{Dst: netip.MustParsePrefix("203.0.113.0/24"), NextHop: netip.MustParseAddr("10.9.9.1"), Index: 9, Metric: 1},
		{Dst: netip.MustParsePrefix("198.51.100.9/32"), NextHop: netip.MustParseAddr("192.168.1.1"), Index: 5, Metric: 1},
	}
	for _, tc := range []struct {
		peer  string
		index int
		want  NextHop
		ok    bool
	}{
		{"203.0.113.7", 5, NextHop{Gateway: netip.MustParseAddr("192.168.1.254"), Index: 5}, true},
		{"203.0.113.7", 9, NextHop{Gateway: netip.MustParseAddr("10.9.9.1"), Index: 9}, true},
		{"192.168.1.20", 5, NextHop{Index: 5}, true},
		{"192.168.1.20", 7, NextHop{}, false},
		{"198.51.100.9", 5, NextHop{Gateway: netip.MustParseAddr("192.168.1.1"), Index: 5, Host: true}, true},
	} {
		got, ok := BestWinRoute(routes, netip.MustParseAddr(tc.peer), tc.index)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s on %d: got %+v %v, want %+v %v", tc.peer, tc.index, got, ok, tc.want, tc.ok)
		}
	}
}

func TestSockaddrInetAddr(t *testing.T) {
	var b [28]byte
	binary.LittleEndian.PutUint16(b[0:], winAFInet)
	copy(b[4:], []byte{192, 0, 2, 9})
	if a := SockaddrInetAddr(b); a != netip.MustParseAddr("192.0.2.9") {
		t.Errorf("inet: %v", a)
	}
	b = [28]byte{}
	binary.LittleEndian.PutUint16(b[0:], winAFInet6)
	want := netip.MustParseAddr("2001:db8::1")
	a16 := want.As16()
	copy(b[8:], a16[:])
	binary.LittleEndian.PutUint32(b[24:], 3) // scope ID, not part of the address
	if a := SockaddrInetAddr(b); a != want {
		t.Errorf("inet6: %v", a)
	}
	if a := SockaddrInetAddr([28]byte{}); a.IsValid() {
		t.Errorf("AF_UNSPEC: %v", a)
	}
}

func TestGone(t *testing.T) {
	for out, want := range map[string]bool{
		"route: writing to routing socket: not in table\ndelete net 0.0.0.0: not in table\n": true,
		"ifconfig: interface utun7 does not exist\n":                                         true,
		"ifconfig: ioctl (SIOCDIFADDR): Can't assign requested address\n":                    true,
		"Element not found.\r\n":                                      true,
		"The system cannot find the file specified.\r\n":              true,
		"Access is denied.\r\n":                                       false,
		"route: writing to routing socket: Operation not permitted\n": false,
		"": false,
	} {
		if Gone([]byte(out)) != want {
			t.Errorf("Gone(%q) = %v", out, !want)
		}
	}
}
