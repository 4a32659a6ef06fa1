//go:build linux

package tunnel

import (
	"log/slog"
	"net/netip"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/esptun/esptun/internal/netns"
	"github.com/esptun/esptun/internal/testlab"
)

const routeNSPrefix = "esptunrt-"

var routeNSSeq atomic.Int64

// routeHost makes a namespace whose main table routes by default through
// 10.79.0.254 and fd79::fe on veth rt0 (the other end in a second
// namespace), like a host on a LAN; both are removed when the test ends.
func routeHost(t *testing.T) *netns.NS {
	t.Helper()
	if err := netns.Available(); err != nil {
		t.Skipf("needs network namespaces: %v", err)
	}
	testlab.RemoveStale(routeNSPrefix)
	prefix := testlab.Prefix(routeNSPrefix, routeNSSeq.Add(1))
	host, err := testlab.NS(t, prefix+"h", t.Errorf)
	if err != nil {
		t.Fatal(err)
	}
	gw, err := testlab.NS(t, prefix+"g", t.Errorf)
	if err != nil {
		t.Fatal(err)
	}
	if err := testlab.Link(host, "rt0", []string{"10.79.0.1/24", "fd79::1/64"}, gw, "rt1", []string{"10.79.0.254/24", "fd79::fe/64"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range [][]string{
		{"ip", "route", "add", "default", "via", "10.79.0.254"},
		{"ip", "-6", "route", "add", "default", "via", "fd79::fe"},
	} {
		if _, err := host.Run(c...); err != nil {
			t.Fatal(err)
		}
	}
	return host
}

// routes lists ns's main-table routes of both families, one per line.
func routes(t *testing.T, ns *netns.NS) string {
	t.Helper()
	r, err := listRoutes(ns)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func listRoutes(ns *netns.NS) (string, error) {
	v4, err := ns.Run("ip", "-o", "route", "show", "table", "main")
	if err != nil {
		return "", err
	}
	v6, err := ns.Run("ip", "-o", "-6", "route", "show", "table", "main")
	return v4 + v6, err
}

func hasRoute(list, prefix, want string) bool {
	for _, l := range strings.Split(list, "\n") {
		if strings.HasPrefix(l, prefix+" ") && strings.Contains(l, want) {
			return true
		}
	}
	return false
}

// TestConfigureOSDefaultRoute routes 0.0.0.0/0 and ::/0 into the TUN
// device of a host with default routes through a gateway: they must become
// /1 routes into the device, with the defaults left as they were and a
// host route keeping the peer outside the tunnel, and when the device
// closes and the state is undone, the host has its routes as before.
func TestConfigureOSDefaultRoute(t *testing.T) {
	host := routeHost(t)
	before := routes(t, host)
	peer4, peer6 := netip.MustParseAddr("192.0.2.7"), netip.MustParseAddr("2001:db8::7")
	var during string
	err := host.Do(func() error {
		dev, err := createTUN("esptunrt0", 1400, false)
		if err != nil {
			return err
		}
		st, err := configureOS("esptunrt0", 1400, []netip.Prefix{netip.MustParsePrefix("10.78.9.1/32")},
			[]netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")},
			[]netip.Addr{peer4, peer6}, slog.Default())
		if err != nil {
			dev.Close()
			return err
		}
		during, err = listRoutes(host)
		dev.Close()
		st.undo(slog.Default())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []struct{ prefix, what string }{
		{"default", "via 10.79.0.254 dev rt0"},
		{"default", "via fd79::fe dev rt0"},
		{"0.0.0.0/1", "dev esptunrt0"},
		{"128.0.0.0/1", "dev esptunrt0"},
		{"::/1", "dev esptunrt0"},
		{"8000::/1", "dev esptunrt0"},
		{peer4.String(), "via 10.79.0.254 dev rt0"},
		{peer6.String(), "via fd79::fe dev rt0"},
	} {
		if !hasRoute(during, want.prefix, want.what) {
			t.Errorf("while up: no route %s %s; routes:\n%s", want.prefix, want.what, during)
		}
	}
	if after := routes(t, host); after != before {
		t.Errorf("routes after undo differ from before:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

// TestConfigureOSRouteTaken asks for a route the host has already through
// another device: configureOS must refuse it, saying what holds it and
// what to do, and leave the host's route alone.
func TestConfigureOSRouteTaken(t *testing.T) {
	host := routeHost(t)
	if _, err := host.Run("ip", "route", "add", "10.90.0.0/24", "via", "10.79.0.254"); err != nil {
		t.Fatal(err)
	}
	before := routes(t, host)
	err := host.Do(func() error {
		dev, err := createTUN("esptunrt0", 1400, false)
		if err != nil {
			return err
		}
		defer dev.Close()
		st, err := configureOS("esptunrt0", 1400, nil, []netip.Prefix{netip.MustParsePrefix("10.90.0.0/24")}, nil, slog.Default())
		if err == nil {
			st.undo(slog.Default())
		}
		return err
	})
	if err == nil || !strings.Contains(err.Error(), "via 10.79.0.254 dev rt0") || !strings.Contains(err.Error(), "install_routes") {
		t.Errorf("configureOS: %v, want a refusal naming the route via 10.79.0.254 dev rt0 and install_routes", err)
	}
	if !hasRoute(routes(t, host), "10.90.0.0/24", "via 10.79.0.254 dev rt0") {
		t.Errorf("the host's route 10.90.0.0/24 is gone; before:\n%s\nafter:\n%s", before, routes(t, host))
	}
}
