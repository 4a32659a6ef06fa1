package tunnel

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"testing"

	"github.com/esptun/esptun/internal/sysnet"
)

func TestDarwinTUNName(t *testing.T) {
	for in, want := range map[string]string{"utun": "utun", "utun7": "utun7", "esptun0": "utun", "utunx": "utun", "": "utun"} {
		if got := darwinTUNName(in); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
}

// fakeRun records commands and fails those that contain fail.
type fakeRun struct {
	ran  []string
	fail string
	out  string
}

func (f *fakeRun) run(c sysnet.Cmd) ([]byte, error) {
	s := c.String()
	if f.fail != "" && strings.Contains(s, f.fail) {
		return []byte(f.out), fmt.Errorf("%s: exit status 1", s)
	}
	f.ran = append(f.ran, s)
	return nil, nil
}

var (
	testPeer  = netip.MustParseAddr("203.0.113.7")
	testPeer2 = netip.MustParseAddr("198.51.100.9") // not covered by the routes below
	testGW    = netip.MustParseAddr("192.168.1.1")
)

func testHop(a netip.Addr) (sysnet.NextHop, error) {
	if a == testPeer {
		return sysnet.NextHop{Gateway: testGW, Interface: "en0", Index: 7}, nil
	}
	return sysnet.NextHop{}, errors.New("no route")
}

func TestConfigureSys(t *testing.T) {
	addrs := []netip.Prefix{netip.MustParsePrefix("10.78.1.1/32"), netip.MustParsePrefix("fd00:78::1/128")}
	routes := []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("fd00:79::/64")}
	peers := []netip.Addr{testPeer, testPeer2}
	log := slog.New(slog.DiscardHandler)
	for _, tc := range []struct {
		goos, name string
		do, undo   []string
	}{
		{goosDarwin, "utun3", []string{
			"/sbin/ifconfig utun3 up",
			"/sbin/ifconfig utun3 inet 10.78.1.1/32 10.78.1.1 alias",
			"/sbin/ifconfig utun3 inet6 fd00:78::1/128 alias",
			"/sbin/route -q -n add -inet 203.0.113.7/32 -gateway 192.168.1.1",
			"/sbin/route -q -n add -inet 0.0.0.0/1 -interface utun3",
			"/sbin/route -q -n add -inet 128.0.0.0/1 -interface utun3",
			"/sbin/route -q -n add -inet6 fd00:79::/64 -interface utun3",
		}, []string{"/sbin/route -q -n delete -inet 203.0.113.7/32 -gateway 192.168.1.1"}},
		{goosWindows, "esptun0", []string{
			"netsh.exe interface ipv4 set subinterface interface=esptun0 mtu=1400 store=active",
			"netsh.exe interface ipv6 set subinterface interface=esptun0 mtu=1400 store=active",
			"netsh.exe interface ipv4 add address name=esptun0 address=10.78.1.1/32 store=active",
			"netsh.exe interface ipv6 add address interface=esptun0 address=fd00:78::1/128 store=active",
			"netsh.exe interface ipv4 add route prefix=203.0.113.7/32 interface=7 nexthop=192.168.1.1 store=active",
			"netsh.exe interface ipv4 add route prefix=0.0.0.0/1 interface=esptun0 nexthop=0.0.0.0 metric=0 store=active",
			"netsh.exe interface ipv4 add route prefix=128.0.0.0/1 interface=esptun0 nexthop=0.0.0.0 metric=0 store=active",
			"netsh.exe interface ipv6 add route prefix=fd00:79::/64 interface=esptun0 nexthop=:: metric=0 store=active",
		}, []string{"netsh.exe interface ipv4 delete route prefix=203.0.113.7/32 interface=7 nexthop=192.168.1.1 store=active"}},
	} {
		t.Run(tc.goos, func(t *testing.T) {
			f := &fakeRun{}
			st, err := configureSys(tc.goos, tc.name, 1400, addrs, routes, peers, f.run, testHop, log)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(f.ran, tc.do) {
				t.Errorf("configure:\n%s\nwant\n%s", strings.Join(f.ran, "\n"), strings.Join(tc.do, "\n"))
			}
			f.ran = nil
			st.undo(log)
			if !slices.Equal(f.ran, tc.undo) {
				t.Errorf("undo: %v, want %v", f.ran, tc.undo)
			}
			f.ran = nil
			st.undo(log)
			if len(f.ran) > 0 {
				t.Errorf("second undo ran %v", f.ran)
			}
		})
	}
}

// A failed peer route is a warning and nothing to undo; a failed route is
// the error, after the peer route is removed again.
func TestConfigureSysFailures(t *testing.T) {
	log := slog.New(slog.DiscardHandler)
	routes := []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0")}
	f := &fakeRun{fail: "203.0.113.7/32"}
	st, err := configureSys(goosDarwin, "utun3", 1400, nil, routes, []netip.Addr{testPeer}, f.run, testHop, log)
	if err != nil {
		t.Fatal(err)
	}
	if len(st.removals) != 0 {
		t.Errorf("removals after a failed peer route: %v", st.removals)
	}
	f = &fakeRun{fail: "128.0.0.0/1"}
	if _, err := configureSys(goosDarwin, "utun3", 1400, nil, routes, []netip.Addr{testPeer}, f.run, testHop, log); err == nil {
		t.Fatal("a failed route was not an error")
	}
	if last := f.ran[len(f.ran)-1]; last != "/sbin/route -q -n delete -inet 203.0.113.7/32 -gateway 192.168.1.1" {
		t.Errorf("the peer route was not removed after the failure; ran %v", f.ran)
	}
	// A peer with a host route of its own already gets no second one.
	f = &fakeRun{}
	pinned := func(netip.Addr) (sysnet.NextHop, error) {
		return sysnet.NextHop{Gateway: testGW, Interface: "en0", Host: true}, nil
	}
	if _, err := configureSys(goosDarwin, "utun3", 1400, nil, routes, []netip.Addr{testPeer}, f.run, pinned, log); err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(f.ran, func(s string) bool { return strings.Contains(s, "203.0.113.7") }) {
		t.Errorf("ran %v", f.ran)
	}
	// Windows below the IPv6 minimum MTU: IPv4 only.
	f = &fakeRun{}
	if _, err := configureSys(goosWindows, "esptun0", 1200, nil, nil, nil, f.run, testHop, log); err != nil {
		t.Fatal(err)
	}
	if len(f.ran) != 1 || !strings.Contains(f.ran[0], "ipv4 set subinterface interface=esptun0 mtu=1200") {
		t.Errorf("ran %v", f.ran)
	}
}
