package ike

import (
	"net/netip"
	"strings"

	"github.com/esptun/esptun/config"
	"github.com/esptun/esptun/ike/wire"
	"github.com/esptun/esptun/spd"
)

// VirtualIPEvent tells the daemon that a road-warrior IKE SA got (Up) or
// lost its configuration from the gateway (RFC 7296 3.15, RFC 8598), so that
// it can put the addresses on the TUN device, route the remote traffic
// selectors into it and apply DNS.
type VirtualIPEvent struct {
	Name    string // connection
	Up      bool
	VIPs    []netip.Addr
	DNS     []netip.Addr
	Domains []string
	Routes  []netip.Prefix // the children's remote traffic selectors
	Gateway netip.Addr     // the peer's outer address: never route it into the tunnel
}

// wantsVIPs reports whether the connection asks the gateway for addresses.
func wantsVIPs(conn *config.Connection) bool { return conn != nil && len(connVIPs(conn)) > 0 }

// cpRequest is the client's CFG_REQUEST: the addresses it asks for (empty
// values ask for any) and the DNS attributes (RFC 7296 3.15.1, RFC 8598).
func cpRequest(conn *config.Connection) *wire.CP {
	cp := &wire.CP{CfgType: wire.CfgRequest}
	v4, v6 := false, false
	for _, a := range connVIPs(conn) {
		if a.Is4() {
			v4 = true
			var val []byte
			if !a.IsUnspecified() {
				val = a.AsSlice()
			}
			cp.Attributes = append(cp.Attributes, wire.CPAttribute{Type: wire.CPInternalIP4Address, Value: val})
		} else {
			v6 = true
			var val []byte
			if !a.IsUnspecified() {
				val = append(a.AsSlice(), 128)
			}
			cp.Attributes = append(cp.Attributes, wire.CPAttribute{Type: wire.CPInternalIP6Address, Value: val})
		}
	}
	if v4 {
		cp.Attributes = append(cp.Attributes, wire.CPAttribute{Type: wire.CPInternalIP4DNS})
	}
	if v6 {
		cp.Attributes = append(cp.Attributes, wire.CPAttribute{Type: wire.CPInternalIP6DNS})
	}
	cp.Attributes = append(cp.Attributes, wire.CPAttribute{Type: wire.CPInternalDNSDomain})
	return cp
}

// parseCPReply reads the gateway's CFG_REPLY.
func parseCPReply(cp *wire.CP) (vips, dns []netip.Addr, domains []string) {
	for _, a := range cp.Attributes {
		switch a.Type {
		case wire.CPInternalIP4Address:
			if ip, ok := netip.AddrFromSlice(a.Value); ok && len(a.Value) == 4 && !ip.IsUnspecified() {
				vips = append(vips, ip)
			}
		case wire.CPInternalIP6Address:
			if len(a.Value) == 17 {
				if ip, ok := netip.AddrFromSlice(a.Value[:16]); ok && !ip.IsUnspecified() {
					vips = append(vips, ip)
				}
			}
		case wire.CPInternalIP4DNS, wire.CPInternalIP6DNS:
			if ip, ok := netip.AddrFromSlice(a.Value); ok && (len(a.Value) == 4 || len(a.Value) == 16) {
				dns = append(dns, ip)
			}
		case wire.CPInternalDNSDomain:
			d := strings.TrimSuffix(string(a.Value), ".")
			if validDomain(d) {
				domains = append(domains, d)
			}
		}
	}
	return vips, dns, domains
}

// validDomain accepts an RFC 1035 name (letters, digits, '-', '.'), which
// is all a resolver needs, and nothing that could smuggle in syntax.
func validDomain(d string) bool {
	if d == "" || len(d) > 253 {
		return false
	}
	for i := 0; i < len(d); i++ {
		c := d[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.') {
			return false
		}
	}
	return true
}

// cpReplyLocked answers a client's CFG_REQUEST from the connection's pools:
// one address per requested family, the pools' DNS servers and domains.
// The leases are recorded on sa and released when it goes.
func (sa *ikeSA) cpReplyLocked(req *wire.CP, identity string) (*wire.CP, error) {
	return sa.cpReplyLockedFor(req, identity, connPools(sa.conn))
}

func (sa *ikeSA) cpReplyLockedFor(req *wire.CP, identity string, pools []string) (*wire.CP, error) {
	want4, want6 := false, false
	for _, a := range req.Attributes {
		switch a.Type {
		case wire.CPInternalIP4Address:
			want4 = true
		case wire.CPInternalIP6Address:
			want6 = true
		}
	}
	reply := &wire.CP{CfgType: wire.CfgReply}
	var dnsSeen = map[netip.Addr]bool{}
	var domSeen = map[string]bool{}
	for _, name := range pools {
		p := sa.mgr.pool(name)
		if p == nil {
			continue
		}
		if p.is6() && want6 {
			a, err := p.acquire(identity)
			if err != nil {
				return nil, err
			}
			want6 = false
			r := sa.rareLocked()
			r.leases = append(r.leases, leaseRef{p, a})
			sa.vips = append(sa.vips, a)
			reply.Attributes = append(reply.Attributes, wire.CPAttribute{Type: wire.CPInternalIP6Address, Value: append(a.AsSlice(), 128)})
		} else if !p.is6() && want4 {
			a, err := p.acquire(identity)
			if err != nil {
				return nil, err
			}
			want4 = false
			r := sa.rareLocked()
			r.leases = append(r.leases, leaseRef{p, a})
			sa.vips = append(sa.vips, a)
			reply.Attributes = append(reply.Attributes, wire.CPAttribute{Type: wire.CPInternalIP4Address, Value: a.AsSlice()})
		}
		cfg := sa.mgr.poolConfig(name)
		for _, d := range cfg.DNS {
			if dnsSeen[d] {
				continue
			}
			dnsSeen[d] = true
			t := wire.CPInternalIP4DNS
			if d.Is6() {
				t = wire.CPInternalIP6DNS
			}
			reply.Attributes = append(reply.Attributes, wire.CPAttribute{Type: t, Value: d.AsSlice()})
		}
		for _, d := range cfg.Domains {
			if !domSeen[d] {
				domSeen[d] = true
				reply.Attributes = append(reply.Attributes, wire.CPAttribute{Type: wire.CPInternalDNSDomain, Value: []byte(d)})
			}
		}
	}
	if len(sa.vips) == 0 {
		return nil, errPoolExhausted
	}
	return reply, nil
}

type leaseRef struct {
	pool *addrPool
	addr netip.Addr
}

// releaseLeasesLocked puts the SA's virtual IPs back (offline) into their
// pools.
func (sa *ikeSA) releaseLeasesLocked() {
	r := sa.rare
	if r == nil {
		return
	}
	for _, l := range r.leases {
		l.pool.release(l.addr)
	}
	r.leases = nil
}

// vipSelectors are host selectors for the virtual IPs, which stand in for
// "dynamic" traffic selectors once they are known.
func vipSelectors(vips []netip.Addr) []spd.Selector {
	var out []spd.Selector
	for _, a := range vips {
		out = append(out, spd.Selector{Prefix: netip.PrefixFrom(a, a.BitLen()), PortHigh: 65535})
	}
	return out
}

// anySelectors are what a client proposes as its own side before it has a
// virtual IP: everything of the families it asks for, which the gateway
// narrows to the address it assigns (RFC 7296 2.9).
func anySelectors(vips []netip.Addr) []spd.Selector {
	var out []spd.Selector
	v4, v6 := false, false
	for _, a := range vips {
		if a.Is4() && !v4 {
			v4 = true
			out = append(out, spd.Selector{Prefix: netip.MustParsePrefix("0.0.0.0/0"), PortHigh: 65535})
		}
		if a.Is6() && !v6 {
			v6 = true
			out = append(out, spd.Selector{Prefix: netip.MustParsePrefix("::/0"), PortHigh: 65535})
		}
	}
	return out
}

// vipEventLocked builds the event for the daemon.
func (sa *ikeSA) vipEventLocked(up bool) VirtualIPEvent {
	ev := VirtualIPEvent{Name: sa.name(), Up: up, VIPs: sa.vips, Gateway: sa.remote.Addr()}
	if r := sa.rare; r != nil {
		ev.DNS, ev.Domains = r.dns, r.domains
	}
	for _, c := range sa.children {
		for _, s := range c.in.Remote {
			ev.Routes = append(ev.Routes, s.Prefix)
		}
	}
	if len(ev.Routes) == 0 && sa.conn != nil {
		for _, ch := range sa.conn.Children {
			for _, s := range ch.RemoteTS.Selectors {
				ev.Routes = append(ev.Routes, s.Prefix.Masked())
			}
		}
	}
	return ev
}
