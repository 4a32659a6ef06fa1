package tunnel

import (
	"fmt"
	"log/slog"
	"net/netip"
	"regexp"

	"github.com/esptun/esptun/internal/sysnet"
)

// macOS and Windows configure the TUN device with commands (package
// sysnet); planSys decides which, configureSys runs them. Both are free of
// build tags so that the decisions are tested everywhere.

const (
	goosDarwin  = "darwin"
	goosWindows = "windows"
)

var utunName = regexp.MustCompile(`^utun[0-9]*$`)

// darwinTUNName is the name to ask macOS for: utun devices are the only
// TUN devices there, and "utun" lets the kernel pick the number (the name
// the device gets is logged and used from then on).
func darwinTUNName(name string) string {
	if utunName.MatchString(name) {
		return name
	}
	return "utun"
}

// sysPlan is what configures the device: do in order, and undo for what
// outlives the device (the host routes to peers), last first. Addresses
// and routes on the device go with it.
type sysPlan struct {
	do []sysnet.Cmd
	// peer[i] is the host route that do[i] adds, if it adds one: its
	// failure is a warning, not an error.
	peer []bool
	undo []sysnet.Cmd
}

// planSys returns the commands that put addrs on the device name of goos,
// set its MTU (Windows; macOS sets it when it creates the device), route
// routes into it with a default route split into two /1 routes, and before
// those a host route through its present route to each peer that the
// routes cover, so that the ESP packets themselves stay outside the tunnel.
// hop looks up a peer's present route; a peer it fails for is logged and
// left to the tunnel routes.
func planSys(goos, name string, mtu int, addrs, routes []netip.Prefix, peers []netip.Addr,
	hop func(netip.Addr) (sysnet.NextHop, error), log *slog.Logger) sysPlan {
	var p sysPlan
	add := func(c sysnet.Cmd, peer bool) {
		p.do = append(p.do, c)
		p.peer = append(p.peer, peer)
	}
	mac := goos == goosDarwin
	if mac {
		add(sysnet.Cmd{Path: "/sbin/ifconfig", Args: []string{name, "up"}}, false)
	} else if mtu > 0 {
		add(sysnet.WinSetMTU(name, mtu, true), false)
		if mtu >= 1280 {
			add(sysnet.WinSetMTU(name, mtu, false), false)
		}
	}
	for _, a := range addrs {
		if mac {
			add(sysnet.MacAddAddress(name, a), false)
		} else {
			add(sysnet.WinAddAddress(name, a), false)
		}
	}
	routes = sysnet.SplitDefault(routes)
	for _, peer := range peers {
		if !covers(routes, peer) {
			continue
		}
		h, err := hop(peer)
		if err != nil {
			log.Warn("could not pin the route to a peer outside the tunnel", "peer", peer, "err", err)
			continue
		}
		if h.Interface == name {
			log.Warn("the route to a peer goes into the tunnel already", "peer", peer, "tun", name)
			continue
		}
		if h.Host {
			continue // a host route keeps it outside already
		}
		if mac {
			add(sysnet.MacAddHostRoute(peer, h), true)
			p.undo = append(p.undo, sysnet.MacDelHostRoute(peer, h))
		} else {
			add(sysnet.WinAddHostRoute(peer, h), true)
			p.undo = append(p.undo, sysnet.WinDelHostRoute(peer, h))
		}
	}
	for _, r := range routes {
		if mac {
			add(sysnet.MacAddRoute(name, r), false)
		} else {
			add(sysnet.WinAddRoute(name, r), false)
		}
	}
	return p
}

func covers(routes []netip.Prefix, a netip.Addr) bool {
	for _, r := range routes {
		if r.Contains(a) {
			return true
		}
	}
	return false
}

// sysConfig is what configureSys changed that outlives the device.
type sysConfig struct {
	run      func(sysnet.Cmd) ([]byte, error)
	removals []sysnet.Cmd
}

// configureSys runs the plan. A host route to a peer that fails is logged;
// anything else that fails undoes what was done and is the error.
func configureSys(goos, name string, mtu int, addrs, routes []netip.Prefix, peers []netip.Addr,
	run func(sysnet.Cmd) ([]byte, error), hop func(netip.Addr) (sysnet.NextHop, error), log *slog.Logger) (*sysConfig, error) {
	p := planSys(goos, name, mtu, addrs, routes, peers, hop, log)
	st := &sysConfig{run: run}
	u := 0
	for i, c := range p.do {
		_, err := run(c)
		if p.peer[i] {
			if err != nil {
				log.Warn("could not pin the route to a peer outside the tunnel", "err", err)
			} else {
				st.removals = append(st.removals, p.undo[u])
			}
			u++
			continue
		}
		if err != nil {
			st.undo(log)
			return nil, fmt.Errorf("configure %s: %w", name, err)
		}
	}
	return st, nil
}

// keepOutside is done by configureSys for the peers it is given.
func (st *sysConfig) keepOutside(peer netip.Addr) error { return nil }

// undo removes the host routes to peers, last first.
func (st *sysConfig) undo(log *slog.Logger) {
	for i := len(st.removals) - 1; i >= 0; i-- {
		if out, err := st.run(st.removals[i]); err != nil && !sysnet.Gone(out) {
			log.Warn("could not remove peer route", "err", err)
		}
	}
	st.removals = nil
}
