package netcfg

import "net/netip"

// systemd-resolved's D-Bus API, org.freedesktop.resolve1(5).
const (
	resolvedBusName = "org.freedesktop.resolve1"
	resolvedPath    = "/org/freedesktop/resolve1"
	resolvedManager = "org.freedesktop.resolve1.Manager"
)

// Address families as resolved expects them in SetLinkDNS (Linux's values).
const (
	afInet  = 2
	afInet6 = 10
)

// resolvedDNS is one SetLinkDNS server, D-Bus signature (iay).
type resolvedDNS struct {
	Family  int32
	Address []byte
}

// resolvedDomain is one SetLinkDomains entry, D-Bus signature (sb).
type resolvedDomain struct {
	Domain      string
	RoutingOnly bool
}

// resolvedArgs builds the arguments of SetLinkDNS, SetLinkDomains and
// SetLinkDefaultRoute. The domains are normalized (see normalizeDomain).
// RFC 8598 INTERNAL_DNS_DOMAIN names are where the servers resolve, not a
// search list, so every domain is routing-only ("~corp.example" in
// resolvectl's notation). Without domains, or with ".", the link gets "~."
// and is the default route for DNS: every name goes to the tunnel's servers.
// With split DNS the link is not a default route, so other names keep going
// to the host's other servers.
func resolvedArgs(servers []netip.Addr, domains []string) (dns []resolvedDNS, doms []resolvedDomain, defaultRoute bool) {
	dns = make([]resolvedDNS, 0, len(servers))
	for _, s := range servers {
		s = s.Unmap()
		fam := int32(afInet6)
		if s.Is4() {
			fam = afInet
		}
		dns = append(dns, resolvedDNS{Family: fam, Address: s.AsSlice()})
	}
	if !splitDNS(domains) {
		return dns, []resolvedDomain{{Domain: ".", RoutingOnly: true}}, true
	}
	doms = make([]resolvedDomain, 0, len(domains))
	for _, d := range domains {
		doms = append(doms, resolvedDomain{Domain: d, RoutingOnly: true})
	}
	return dns, doms, false
}
