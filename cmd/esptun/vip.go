package main

import (
	"fmt"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync"

	"github.com/esptun/esptun/config"
	"github.com/esptun/esptun/ike"
	"github.com/esptun/esptun/netcfg"
)

// vipHost applies what road-warrior IKE SAs got from their gateways to the
// host: virtual IPs on the TUN device, routes, DNS (package netcfg). One
// netcfg state per connection, in a state file next to the control socket
// so that the next start undoes what a crash left behind.
type vipHost struct {
	tun string
	// name is the configured TUN name, which names the state files: on
	// macOS the device's own name (utunN) may differ from run to run.
	name string
	dir  string
	log  *slog.Logger

	mu      sync.Mutex
	applied map[string]*netcfg.Applied
	index   map[string]int // connection -> table/priority slot
}

func newVIPHost(cfg *config.Config, tun string, log *slog.Logger) *vipHost {
	h := &vipHost{tun: tun, name: cfg.Tun.Name, dir: filepath.Dir(cfg.Daemon.ControlSocket), log: log,
		applied: map[string]*netcfg.Applied{}, index: map[string]int{}}
	for i, c := range cfg.Connections {
		if len(c.VIPs) > 0 {
			h.index[c.Name] = i
		}
	}
	return h
}

func (h *vipHost) stateFile(conn string) string {
	name := h.name
	if name == "" {
		name = h.tun
	}
	return filepath.Join(h.dir, fmt.Sprintf("%s.%s.netcfg.json", name, conn))
}

// recover undoes what an earlier run that crashed left on the host.
func (h *vipHost) recover() {
	for conn := range h.index {
		if err := netcfg.Recover(h.stateFile(conn), h.log); err != nil {
			h.log.Warn("could not undo what an earlier run configured", "conn", conn, "err", err)
		}
	}
}

// handle is ike.Options.OnVirtualIP.
func (h *vipHost) handle(ev ike.VirtualIPEvent) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if old := h.applied[ev.Name]; old != nil {
		if err := old.Undo(); err != nil {
			h.log.Warn("undoing the host configuration", "conn", ev.Name, "err", err)
		}
		delete(h.applied, ev.Name)
	}
	if !ev.Up {
		h.log.Info("virtual IPs and DNS removed", "conn", ev.Name)
		return
	}
	var addrs []netip.Prefix
	for _, a := range ev.VIPs {
		addrs = append(addrs, netip.PrefixFrom(a, a.BitLen()))
	}
	slot := h.index[ev.Name]
	c := netcfg.Config{
		Interface: h.tun,
		Addresses: addrs,
		Routes:    ev.Routes,
		Exclude:   []netip.Addr{ev.Gateway},
		DNS:       ev.DNS,
		Domains:   ev.Domains,
		StateFile: h.stateFile(ev.Name),
		Table:     netcfg.DefaultTable + slot,
		Priority:  netcfg.DefaultPriority + 3*slot,
	}
	a, err := netcfg.Apply(c, h.log)
	if err != nil {
		h.log.Error("cannot apply the virtual IPs and DNS from the gateway", "conn", ev.Name, "err", err)
		return
	}
	h.applied[ev.Name] = a
	h.log.Info("virtual IPs and DNS applied", "conn", ev.Name, "vips", ev.VIPs, "routes", ev.Routes, "dns", ev.DNS, "domains", ev.Domains)
}

// close undoes everything still applied.
func (h *vipHost) close() {
	h.mu.Lock()
	defer h.mu.Unlock()
	for name, a := range h.applied {
		if err := a.Undo(); err != nil {
			h.log.Warn("undoing the host configuration", "conn", name, "err", err)
		}
	}
	h.applied = map[string]*netcfg.Applied{}
}
